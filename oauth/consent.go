package oauth

import (
	"bytes"
	"html/template"
	"net/http"
	"net/url"

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
		"response_type": {"code"}, "client_id": {req.client.ID}, "redirect_uri": {req.redirectURI},
		"scope": {scopeString(req.scopes)}, "code_challenge": {req.challenge}, "code_challenge_method": {"S256"},
		"csrf": {is.csrf(u, req)},
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
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", consentCSP(req.redirectURI))
	_, _ = w.Write(b.Bytes())
}

// consentCSP is the Content-Security-Policy of the consent page. Its
// form-action allows the page's own origin and that of the redirect URI:
// browsers apply form-action to the redirects that follow a form's
// submission (CSP Level 3), and approve and deny answer with a 303 to the
// client.
func consentCSP(redirectURI string) string {
	return "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' " + formSource(redirectURI) + "; frame-ancestors 'none'"
}

// formSource is the CSP source expression of a redirect URI's origin: its
// scheme, host and port, or its scheme alone when the host cannot be
// written as a CSP host-source (an IPv6 literal, or none, as in a native
// app's private-use scheme, RFC 8252 §7.1).
func formSource(redirectURI string) string {
	u, err := url.Parse(redirectURI)
	if err != nil || u.Scheme == "" {
		return ""
	}
	host := u.Host
	ok := host != ""
	for i := 0; i < len(host); i++ {
		c := host[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == ':') {
			ok = false
		}
	}
	if !ok {
		return u.Scheme + ":"
	}
	return u.Scheme + "://" + host
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
// client, redirect URI, PKCE challenge, user, tenant and scopes. fromPage
// is true when the user approved on the consent page, which is then
// remembered (Config.RememberConsent).
func (is *Issuer) approve(w http.ResponseWriter, r *http.Request, u User, req *authzRequest, fromPage bool) {
	code, err := apiauth.GenerateKey(codePrefix)
	if err != nil {
		is.showError(w, r, http.StatusInternalServerError, "No code could be issued.")
		return
	}
	now := is.cfg.Now()
	c := &Code{
		Digest: apiauth.DigestKey(code), GrantID: "gr_" + randomBase62(22),
		ClientID: req.client.ID, RedirectURI: req.redirectURI, Challenge: req.challenge,
		Subject: u.Subject, Tenant: u.Tenant, Scopes: req.scopes,
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
