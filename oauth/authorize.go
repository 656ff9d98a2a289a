package oauth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/apiauth/apiauth"
)

// User is a signed-in user of the host application, as the authorization
// endpoint needs them.
type User struct {
	// Subject is the "sub" of the user's tokens.
	Subject string
	// Tenant is the tenant the user acts for.
	Tenant string
	// Scopes are the scopes the user holds in that tenant. A grant never
	// exceeds them: the scopes asked are narrowed to those the user holds
	// (Admin implies Write implies Read, as in apiauth.Principal.HasScope),
	// and a user who holds none of them is refused (access_denied). A user
	// without scopes can approve nothing.
	Scopes []apiauth.Scope
	// Tier is the rate-limit tier of the tokens the user approves
	// (apiauth.Principal.Tier): the code, its grant and every access token
	// issued from them, refreshed ones included, carry it. Empty for the
	// default tier.
	Tier string
	// Session identifies the user's sign-in session. The consent form's
	// CSRF token is bound to it (RFC 6749 §10.12), so that a form from
	// another session is refused. It is never shown.
	Session string
}

// Users is the host application's sign-in, which the authorization
// endpoint asks who the user is. User returns the user signed in on r; when
// nobody is, it writes a response that sends them to sign in (a redirect
// to the login page that comes back to r's URL) and reports false.
type Users interface {
	User(w http.ResponseWriter, r *http.Request) (User, bool)
}

// UsersFunc adapts a function to Users, as http.HandlerFunc does to
// http.Handler.
type UsersFunc func(w http.ResponseWriter, r *http.Request) (User, bool)

// User calls f(w, r).
func (f UsersFunc) User(w http.ResponseWriter, r *http.Request) (User, bool) { return f(w, r) }

// authzRequest is an authorization request (RFC 6749 §4.1.1, RFC 7636
// §4.3) once its client and redirect URI are known to be good.
type authzRequest struct {
	client      *ClientRecord
	redirectURI string // where the response goes
	// asked is the request's redirect_uri, "" if it had none (the
	// client's one registered URI is then redirectURI): the token request
	// must repeat it only if it was there (RFC 6749 §4.1.3).
	asked     string
	scopes    []apiauth.Scope
	state     string
	challenge string
}

// authzError is a refusal of an authorization request: shown to the user
// when the client or redirect URI is bad (RFC 6749 §4.1.2.1), else sent
// back to the client's redirect URI.
type authzError struct {
	code, desc string
	show       bool // shown to the user, never redirected
}

func (e *authzError) Error() string { return e.code + ": " + e.desc }

// authzParams are the parameters of an authorization request; none may
// be repeated (RFC 6749 §3.1).
var authzParams = [...]string{"response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge", "code_challenge_method"}

// AuthorizeHandler returns the authorization endpoint (RFC 6749 §3.1,
// §4.1) of the authorization-code flow, with PKCE required of every client
// (RFC 7636, S256 only, as RFC 9700 §2.1.1 recommends). It needs
// Config.Grants and Config.Users.
//
// GET checks the request: client_id and redirect_uri first, the latter
// equal to a registered one string for string (RFC 9700 §2.1) but for the
// port of a loopback one (RFC 8252 §7.3); when either is bad, the error is
// shown to the user and never redirected. Any other error (a response_type
// other than code, a missing or plain PKCE challenge, a scope beyond the
// client's) redirects back with error, state and iss (RFC 9207). It then
// asks Config.Users who the user is and shows the consent page: the
// client's name and the scopes in words, to approve or deny, with a CSRF
// token bound to the user's session. With Config.RememberConsent, a
// consent already given for the client and scopes skips the page. POST is
// the page's form: approve redirects with code, state and iss; deny with
// error=access_denied. Every response carries Cache-Control: no-store,
// Referrer-Policy: no-referrer and a Content-Security-Policy with
// frame-ancestors 'none'. The consent page's policy lets its form go to
// the page itself and to the redirect URI's origin (form-action), since
// browsers check the redirect that answers the form too.
func (is *Issuer) AuthorizeHandler() http.Handler {
	return apiauth.RequestID()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Security-Policy", authorizePolicy)
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		if is.cfg.Grants == nil || is.cfg.Users == nil || is.cfg.Clients == nil {
			is.showError(w, r, http.StatusNotFound, "The authorization endpoint is not enabled.")
			return
		}
		switch r.Method {
		case http.MethodGet:
			is.authorize(w, r, r.URL.Query(), false)
		case http.MethodPost:
			r.Body = http.MaxBytesReader(w, r.Body, maxTokenRequest)
			if err := r.ParseForm(); err != nil {
				is.showError(w, r, http.StatusBadRequest, "The form could not be read.")
				return
			}
			is.authorize(w, r, r.PostForm, true)
		default:
			h.Set("Allow", "GET, POST")
			is.showError(w, r, http.StatusMethodNotAllowed, "Use GET, or POST the consent form.")
		}
	}))
}

// authorize handles a request whose parameters are params: from the query
// of a GET, or from the consent form of a POST (decided).
func (is *Issuer) authorize(w http.ResponseWriter, r *http.Request, params url.Values, decided bool) {
	req, err := is.parseAuthz(r, params)
	var ae *authzError
	if errors.As(err, &ae) && ae.show {
		is.showError(w, r, http.StatusBadRequest, ae.desc)
		return
	}
	if err != nil && ae == nil {
		is.showError(w, r, http.StatusServiceUnavailable, "The authorization server cannot answer right now; try again later.")
		return
	}
	if ae != nil {
		is.redirectError(w, r, req, ae)
		return
	}
	user, ok := is.cfg.Users.User(w, r)
	if !ok {
		return
	}
	if user.Subject == "" || user.Tenant == "" || user.Session == "" {
		is.showError(w, r, http.StatusServiceUnavailable, "The sign-in did not name the user, their tenant and session.")
		return
	}
	if !is.cfg.CrossTenant && user.Tenant != req.client.Tenant {
		is.redirectError(w, r, req, &authzError{code: "access_denied", desc: "The application is not registered for the user's tenant."})
		return
	}
	if req.scopes = heldScopes(user, req.scopes); len(req.scopes) == 0 {
		is.redirectError(w, r, req, &authzError{code: "access_denied", desc: "The user holds none of the scopes asked."})
		return
	}
	if !decided {
		if is.cfg.RememberConsent && !req.client.Public && is.consented(r, user, req) {
			is.approve(w, r, user, req, false)
			return
		}
		is.showConsent(w, r, user, req)
		return
	}
	if !hmac.Equal([]byte(params.Get("csrf")), []byte(is.csrf(user, req))) {
		is.showError(w, r, http.StatusForbidden, "The consent form is not this session's; start again from the application.")
		return
	}
	switch params.Get("decision") {
	case "approve":
		is.approve(w, r, user, req, true)
	case "deny":
		is.redirectError(w, r, req, &authzError{code: "access_denied", desc: "The user denied the request."})
	default:
		is.showError(w, r, http.StatusBadRequest, "The consent form has no decision.")
	}
}

// parseAuthz checks an authorization request. It returns req, with the
// client and redirect URI, whenever those are good, also alongside an
// error to redirect.
func (is *Issuer) parseAuthz(r *http.Request, params url.Values) (*authzRequest, error) {
	for _, name := range [...]string{"client_id", "redirect_uri"} {
		if len(params[name]) > 1 {
			return nil, &authzError{code: "invalid_request", desc: "The " + name + " parameter is repeated.", show: true}
		}
	}
	id := params.Get("client_id")
	if id == "" {
		return nil, &authzError{code: "invalid_request", desc: "The request names no client.", show: true}
	}
	c, err := is.cfg.Clients.GetClient(r.Context(), id)
	if errors.Is(err, ErrClientNotFound) || (err == nil && c.disabled(is.cfg.Now())) {
		return nil, &authzError{code: "invalid_request", desc: "The client is unknown.", show: true}
	}
	if err != nil {
		return nil, err
	}
	redirect, ok := matchRedirect(c.RedirectURIs, params.Get("redirect_uri"))
	if !ok {
		return nil, &authzError{code: "invalid_request", desc: "The redirect URI is not one the client registered.", show: true}
	}
	req := &authzRequest{client: c, redirectURI: redirect, asked: params.Get("redirect_uri"), state: params.Get("state"), challenge: params.Get("code_challenge")}
	for _, name := range authzParams {
		if len(params[name]) > 1 {
			return req, &authzError{code: "invalid_request", desc: "A parameter is repeated: " + name + "."}
		}
	}
	if rt := params.Get("response_type"); rt != "code" {
		return req, &authzError{code: "unsupported_response_type", desc: "Only response_type=code is supported."}
	}
	if m := params.Get("code_challenge_method"); m != "S256" || !validPKCE(req.challenge) {
		return req, &authzError{code: "invalid_request", desc: "PKCE is required: a code_challenge with code_challenge_method=S256 (RFC 7636)."}
	}
	req.scopes = c.Scopes
	if s := params.Get("scope"); s != "" {
		var why string
		if req.scopes, why = grantableScopes(c, s); why != "" {
			return req, &authzError{code: "invalid_scope", desc: why}
		}
	}
	return req, nil
}

// matchRedirect returns the registered redirect URI that uri names: the
// only one when uri is empty, one equal to it string for string, or a
// loopback one that differs only in its port (RFC 8252 §7.3).
func matchRedirect(registered []string, uri string) (string, bool) {
	if uri == "" {
		if len(registered) == 1 {
			return registered[0], true
		}
		return "", false
	}
	if slices.Contains(registered, uri) {
		return uri, true
	}
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "http" || !isLoopback(u.Hostname()) {
		return "", false
	}
	for _, reg := range registered {
		ru, err := url.Parse(reg)
		if err != nil || ru.Scheme != "http" || ru.Hostname() != u.Hostname() {
			continue
		}
		ru.Host = u.Host // any port
		if ru.String() == uri {
			return uri, true
		}
	}
	return "", false
}

// isLoopback reports whether host is a loopback IP literal.
func isLoopback(host string) bool {
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// validPKCE reports whether s is a code_verifier or code_challenge: 43 to
// 128 unreserved characters (RFC 7636 §4.1, §4.2).
func validPKCE(s string) bool {
	if len(s) < 43 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}

// s256 is the S256 code_challenge of verifier (RFC 7636 §4.2).
func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// grantableScopes parses scope (RFC 6749 §3.3) and checks that the client
// may have every scope in it; else it says why, for error_description.
func grantableScopes(c *ClientRecord, scope string) ([]apiauth.Scope, string) {
	want, err := apiauth.ParseScopes(scope)
	if err != nil {
		return nil, "The scope is malformed."
	}
	p := apiauth.Principal{Scopes: c.Scopes}
	for _, sc := range want {
		if !p.HasScope(sc) {
			return nil, "The client may not request the scope " + sanitizeDesc(string(sc)) + "."
		}
	}
	return want, ""
}

// heldScopes narrows the scopes asked to those the user holds (RFC 6749
// §3.3 lets the server grant fewer than asked; the token response says
// which): a user never lets a client do what they cannot do themselves.
func heldScopes(u User, asked []apiauth.Scope) []apiauth.Scope {
	p := apiauth.Principal{Scopes: u.Scopes}
	held := make([]apiauth.Scope, 0, len(asked))
	for _, s := range asked {
		if p.HasScope(s) {
			held = append(held, s)
		}
	}
	return held
}

// csrf is the consent form's CSRF token: an HMAC, under the issuer's own
// key, of the user's session and the request the form approves, so that a
// form from another session, or for another request, is refused.
func (is *Issuer) csrf(u User, req *authzRequest) string {
	m := hmac.New(sha256.New, is.csrfKey[:])
	for _, s := range []string{u.Session, u.Subject, u.Tenant, req.client.ID, req.redirectURI, scopeString(req.scopes), req.state, req.challenge} {
		m.Write([]byte(s))
		m.Write([]byte{0})
	}
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// consented reports whether the user already approved the client for
// every scope asked (Config.RememberConsent).
func (is *Issuer) consented(r *http.Request, u User, req *authzRequest) bool {
	scopes, err := is.cfg.Grants.Consent(r.Context(), u.Tenant, u.Subject, req.client.ID)
	if err != nil {
		return false
	}
	p := apiauth.Principal{Scopes: scopes}
	for _, s := range req.scopes {
		if !p.HasScope(s) {
			return false
		}
	}
	return true
}

// remember saves the consent the user just gave on the page, added to
// what they approved before, when Config.RememberConsent asks for it.
// A consent that cannot be saved is asked again next time.
func (is *Issuer) remember(r *http.Request, u User, req *authzRequest, now time.Time) {
	if !is.cfg.RememberConsent || req.client.Public {
		return
	}
	ctx := r.Context()
	scopes, err := is.cfg.Grants.Consent(ctx, u.Tenant, u.Subject, req.client.ID)
	if err != nil && !errors.Is(err, ErrConsentNotFound) {
		return
	}
	for _, s := range req.scopes {
		if !slices.Contains(scopes, s) {
			scopes = append(scopes, s)
		}
	}
	_ = is.cfg.Grants.SaveConsent(ctx, u.Tenant, u.Subject, req.client.ID, scopes, now)
}

// redirectError sends an error back to the client (RFC 6749 §4.1.2.1),
// with the issuer (RFC 9207).
func (is *Issuer) redirectError(w http.ResponseWriter, r *http.Request, req *authzRequest, ae *authzError) {
	q := url.Values{"error": {ae.code}, "error_description": {ae.desc}}
	is.redirect(w, r, req, q)
}

// redirect sends the user agent back to req's redirect URI with q, state
// and iss added to its query.
func (is *Issuer) redirect(w http.ResponseWriter, r *http.Request, req *authzRequest, q url.Values) {
	u, err := url.Parse(req.redirectURI)
	if err != nil {
		is.showError(w, r, http.StatusBadRequest, "The redirect URI is not one the client registered.")
		return
	}
	all := u.Query()
	for k, v := range q {
		all[k] = v
	}
	if req.state != "" {
		all.Set("state", req.state)
	}
	all.Set("iss", is.cfg.Issuer)
	u.RawQuery = all.Encode()
	http.Redirect(w, r, u.String(), http.StatusSeeOther)
}

// scopeString joins scopes with single spaces (RFC 6749 §3.3).
func scopeString(scopes []apiauth.Scope) string {
	names := make([]string, len(scopes))
	for i, s := range scopes {
		names[i] = string(s)
	}
	return strings.Join(names, " ")
}
