package oauth

import (
	"bytes"
	"html/template"
	"net/http"
	"net/url"
	"strings"

	"github.com/apiauth/apiauth"
)

// ConsentData is what a consent page shows and posts back: the
// Config.ConsentPage template is executed with it. The form must POST to
// the authorization endpoint every field of Hidden, and a "decision" of
// "approve" or "deny".
type ConsentData struct {
	// Client is the client's name (its ID when it has none).
	Client string
	// User is the signed-in user's subject, and Tenant their tenant.
	User, Tenant string
	// Scopes are the scopes asked, each with words for people.
	Scopes []ConsentScope
	// Hidden are the form's hidden fields: the request and its CSRF
	// token.
	Hidden url.Values
}

// ConsentScope is a scope on the consent page.
type ConsentScope struct {
	Scope       apiauth.Scope
	Description string
}

// scopeWords are the built-in scopes in words.
var scopeWords = map[apiauth.Scope]string{
	apiauth.Read:  "Read your data",
	apiauth.Write: "Read and change your data",
	apiauth.Admin: "Administer your account, its data and its keys",
}

// defaultConsentPage is the library's consent page: plain HTML, no script,
// approve and deny as one POST form.
var defaultConsentPage = template.Must(template.New("consent").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Allow {{.Client}}?</title>
<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}button{font-size:1rem;padding:.5rem 1rem;margin-right:.5rem}</style>
</head><body>
<h1>Allow {{.Client}} to act for you?</h1>
<p>Signed in as <strong>{{.User}}</strong> ({{.Tenant}}). {{.Client}} asks to:</p>
<ul>{{range .Scopes}}<li>{{.Description}} <code>{{.Scope}}</code></li>{{end}}</ul>
<form method="post">
{{range $name, $values := .Hidden}}{{range $values}}<input type="hidden" name="{{$name}}" value="{{.}}">
{{end}}{{end}}<button type="submit" name="decision" value="approve">Allow</button>
<button type="submit" name="decision" value="deny">Deny</button>
</form>
</body></html>
`))

// errorPage shows an authorization error to the user, for requests that
// must not be redirected.
var errorPage = template.Must(template.New("error").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Authorization error</title></head><body>
<h1>This authorization request cannot be completed</h1>
<p>{{.Detail}}</p>
<p>Request ID: <code>{{.RequestID}}</code></p>
</body></html>
`))

// showConsent renders the consent page for req.
func (is *Issuer) showConsent(w http.ResponseWriter, r *http.Request, u User, req *authzRequest) {
	d := ConsentData{Client: req.client.Name, User: u.Subject, Tenant: u.Tenant}
	if d.Client == "" {
		d.Client = req.client.ID
	}
	for _, s := range req.scopes {
		words, ok := scopeWords[s]
		if !ok {
			words = "Use " + string(s)
		}
		d.Scopes = append(d.Scopes, ConsentScope{Scope: s, Description: words})
	}
	d.Hidden = url.Values{
		"response_type": {"code"}, "client_id": {req.client.ID},
		"scope": {scopeString(req.scopes)}, "code_challenge": {req.challenge}, "code_challenge_method": {"S256"},
		"csrf": {is.csrf(u, req)},
	}
	if req.asked != "" {
		d.Hidden.Set("redirect_uri", req.asked)
	}
	if req.state != "" {
		d.Hidden.Set("state", req.state)
	}
	page := is.cfg.ConsentPage
	if page == nil {
		page = defaultConsentPage
	}
	var b bytes.Buffer
	if err := page.Execute(&b, d); err != nil {
		is.showError(w, r, http.StatusInternalServerError, "The consent page could not be shown.")
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", consentPolicy(req.redirectURI))
	_, _ = w.Write(b.Bytes())
}

// authorizePolicy is the Content-Security-Policy of the authorization
// endpoint's responses: no script, no framing (against clickjacking of the
// consent page), and forms only to the endpoint itself.
const authorizePolicy = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"

// consentPolicy is the Content-Security-Policy of the consent page for
// redirectURI. Approve and deny both answer the form with a redirect to
// the client, and browsers check every redirect that follows a form's
// submission against form-action (Chromium refuses it, with only a console
// message, when the redirect URI's origin is not listed); so form-action
// lists that origin besides 'self'. A redirect URI whose host no source
// expression names safely (an IPv6 literal, or characters such as ';'
// that url.Parse lets into a host) is allowed by its scheme alone, rather
// than blocking the user's decision or letting the URI write directives of
// its own; one without even a safe scheme gets no form-action.
func consentPolicy(redirectURI string) string {
	src := cspSource(redirectURI)
	if src == "" {
		return "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"
	}
	return "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' " + src + "; frame-ancestors 'none'"
}

// cspSource returns the CSP source expression of uri's origin: scheme,
// host and port when the host is letters, digits, dots and hyphens and the
// port digits; else the scheme alone (a private-use scheme such as
// com.example.app:/callback has no host); "" when not even the scheme is
// safe to write.
func cspSource(uri string) string {
	u, err := url.Parse(uri)
	if err != nil || !cspToken(u.Scheme, "+.-") {
		return ""
	}
	scheme := strings.ToLower(u.Scheme)
	host, port := u.Hostname(), u.Port()
	if !cspToken(host, ".-") || strings.Trim(port, "0123456789") != "" {
		return scheme + ":"
	}
	if port != "" {
		return scheme + "://" + host + ":" + port
	}
	return scheme + "://" + host
}

// cspToken reports whether s is non-empty and only ASCII letters, digits
// and the bytes of extra.
func cspToken(s, extra string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte(extra, c) >= 0) {
			return false
		}
	}
	return true
}

// showError shows an error page to the user.
func (is *Issuer) showError(w http.ResponseWriter, r *http.Request, status int, detail string) {
	var b bytes.Buffer
	_ = errorPage.Execute(&b, struct{ Detail, RequestID string }{detail, apiauth.RequestIDFrom(r.Context())})
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// approve issues an authorization code for req and sends it back to the
// client with state and iss (RFC 6749 §4.1.2, RFC 9207). The code is
// random, stored only as a digest, one-time and short-lived, bound to the
// client, redirect URI, PKCE challenge, user, tenant and scopes, and
// carries the user's tier. fromPage is true when the user approved on the
// consent page, which is then remembered (Config.RememberConsent).
func (is *Issuer) approve(w http.ResponseWriter, r *http.Request, u User, req *authzRequest, fromPage bool) {
	code, err := apiauth.GenerateKey(codePrefix)
	if err != nil {
		is.showError(w, r, http.StatusInternalServerError, "No code could be issued.")
		return
	}
	now := is.cfg.Now()
	c := &Code{
		Digest: apiauth.DigestKey(code), GrantID: "gr_" + randomBase62(22),
		ClientID: req.client.ID, RedirectURI: req.asked, Challenge: req.challenge,
		Subject: u.Subject, Tenant: u.Tenant, Tier: u.Tier, Scopes: req.scopes,
		CreatedAt: now, ExpiresAt: now.Add(is.cfg.CodeTTL), GrantExpiresAt: now.Add(is.cfg.RefreshTTL),
	}
	if err := is.cfg.Grants.CreateCode(r.Context(), c); err != nil {
		is.showError(w, r, http.StatusServiceUnavailable, "The authorization server cannot answer right now; try again later.")
		return
	}
	if fromPage {
		is.remember(r, u, req, now)
	}
	is.redirect(w, r, req, url.Values{"code": {code}})
}
