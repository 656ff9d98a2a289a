package oauth_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/apiauth/apiauth"
	"github.com/apiauth/apiauth/oauth"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
)

// codeServer is an authorization server with the authorization-code flow
// and a protected API, on one loopback server, and a browser for it.
type codeServer struct {
	*httptest.Server
	mux     *http.ServeMux // the server's routes, for a test to add its own
	issuer  *oauth.Issuer
	clients *oauth.MemoryClientStore
	grants  *oauth.MemoryGrantStore
	secret  string // the confidential client's
	browser *http.Client
}

// signIn is the host application's sign-in of the tests: the session
// cookie names the user's session (bob's, who may read, if it starts with
// "bob"; carol's, of tenant globex, if it starts with "globex"; dave's,
// who may read and write and whose tokens are of the tier "pro", if it
// starts with "pro"; else alice's, who may do anything, in the default
// tier); without it, the user is sent to log in.
var signIn = oauth.UsersFunc(func(w http.ResponseWriter, r *http.Request) (oauth.User, bool) {
	c, err := r.Cookie("sid")
	if err != nil {
		http.Redirect(w, r, "/login?return="+url.QueryEscape(r.URL.String()), http.StatusFound)
		return oauth.User{}, false
	}
	if strings.HasPrefix(c.Value, "pro") {
		return oauth.User{Subject: "dave", Tenant: "acme", Tier: "pro", Scopes: []apiauth.Scope{apiauth.Write}, Session: c.Value}, true
	}
	if strings.HasPrefix(c.Value, "globex") {
		return oauth.User{Subject: "carol", Tenant: "globex", Scopes: []apiauth.Scope{apiauth.Read}, Session: c.Value}, true
	}
	if strings.HasPrefix(c.Value, "bob") {
		return oauth.User{Subject: "bob", Tenant: "acme", Scopes: []apiauth.Scope{apiauth.Read}, Session: c.Value}, true
	}
	return oauth.User{Subject: "alice", Tenant: "acme", Scopes: []apiauth.Scope{apiauth.Admin, "billing"}, Session: c.Value}, true
})

// newCodeServer starts the server; change, if any, changes its issuer's
// Config before the issuer is made.
func newCodeServer(t *testing.T, change ...func(*oauth.Config)) *codeServer {
	t.Helper()
	ctx := context.Background()
	clients := oauth.NewMemoryClientStore()
	_, err := oauth.RegisterClient(ctx, clients, oauth.ClientSpec{ID: "app", Name: "Orders App", Public: true, Tenant: "acme",
		Scopes: []apiauth.Scope{apiauth.Read, apiauth.Write}, RedirectURIs: []string{"http://127.0.0.1/callback"}}, "")
	require.NoError(t, err)
	cs := &codeServer{clients: clients, grants: oauth.NewMemoryGrantStore(), secret: oauth.GenerateClientSecret()}
	_, err = oauth.RegisterClient(ctx, clients, oauth.ClientSpec{ID: "web", Tenant: "acme",
		Scopes: []apiauth.Scope{apiauth.Read}, RedirectURIs: []string{"https://web.example/cb", "https://web.example/other"}}, cs.secret)
	require.NoError(t, err)

	mux := http.NewServeMux()
	cs.mux = mux
	cs.Server = httptest.NewServer(mux)
	t.Cleanup(cs.Close)
	cfg := oauth.Config{Issuer: cs.URL, Audience: "orders-api", Clients: clients, Grants: cs.grants, Users: signIn}
	for _, c := range change {
		c(&cfg)
	}
	cs.issuer, err = oauth.NewIssuer(cfg)
	require.NoError(t, err)
	verifier, err := apiauth.NewJWTVerifier(apiauth.JWTOptions{}, cs.issuer.JWTIssuer())
	require.NoError(t, err)
	mux.Handle("/oauth/authorize", cs.issuer.AuthorizeHandler())
	mux.Handle("/oauth/token", cs.issuer.TokenHandler())
	mux.Handle("/oauth/revoke", cs.issuer.RevocationHandler())
	mux.Handle("/oauth/introspect", cs.issuer.IntrospectionHandler())
	mux.Handle("/.well-known/oauth-authorization-server", cs.issuer.MetadataHandler(codeEndpoints))
	mux.Handle("/v1/", apiauth.Authenticate(verifier)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := apiauth.PrincipalFrom(r.Context())
		_ = json.NewEncoder(w).Encode(p)
	})))

	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	u, _ := url.Parse(cs.URL)
	jar.SetCookies(u, []*http.Cookie{{Name: "sid", Value: "session-1"}})
	cs.browser = &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return cs
}

// codeEndpoints are where newCodeServer mounts the issuer's handlers.
var codeEndpoints = oauth.Endpoints{Authorization: "/oauth/authorize", Token: "/oauth/token",
	Revocation: "/oauth/revoke", Introspection: "/oauth/introspect"}

// visit GETs target in the browser.
func (cs *codeServer) visit(t *testing.T, target string) (*http.Response, string) {
	t.Helper()
	resp, err := cs.browser.Get(target)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

var hiddenField = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// consent submits the consent page's form, as a browser would, with the
// decision, and returns the answer.
func (cs *codeServer) consent(t *testing.T, page, decision string, change func(url.Values)) *http.Response {
	t.Helper()
	form := url.Values{}
	for _, m := range hiddenField.FindAllStringSubmatch(page, -1) {
		form.Add(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	require.NotEmpty(t, form.Get("csrf"), "the page has a CSRF token:\n%s", page)
	form.Set("decision", decision)
	if change != nil {
		change(form)
	}
	resp, err := cs.browser.PostForm(cs.URL+"/oauth/authorize", form)
	require.NoError(t, err)
	resp.Body.Close()
	return resp
}

// me calls the API with token and returns the status and the principal.
func (cs *codeServer) me(t *testing.T, token string) (int, map[string]any) {
	t.Helper()
	return getMe(t, cs.URL, token)
}

// TestAuthorizationCodeWithOAuth2Client runs the whole flow with
// golang.org/x/oauth2, unmodified: AuthCodeURL with a PKCE S256 challenge,
// the consent page approved in a browser, Exchange with the verifier, and
// a TokenSource that refreshes through rotation; then a reused refresh
// token ends the family, and with it every access token of the grant.
func TestAuthorizationCodeWithOAuth2Client(t *testing.T) {
	cs := newCodeServer(t)
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, http.DefaultClient)
	cfg := oauth2.Config{ClientID: "app", Scopes: []string{"read"}, RedirectURL: "http://127.0.0.1:53682/callback",
		Endpoint: oauth2.Endpoint{AuthURL: cs.URL + "/oauth/authorize", TokenURL: cs.URL + "/oauth/token", AuthStyle: oauth2.AuthStyleInParams}}
	verifier := oauth2.GenerateVerifier()

	resp, page := cs.visit(t, cfg.AuthCodeURL("xyz", oauth2.S256ChallengeOption(verifier)))
	require.Equal(t, http.StatusOK, resp.StatusCode, page)
	assert.Contains(t, page, "Orders App")
	assert.Contains(t, page, "Read your data")
	assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
	assert.Equal(t, "no-referrer", resp.Header.Get("Referrer-Policy"))
	assert.Contains(t, resp.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'")
	assert.Contains(t, resp.Header.Get("Content-Security-Policy"), "form-action 'self' http://127.0.0.1:53682;",
		"browsers check the redirect that answers the form against form-action")

	resp = cs.consent(t, page, "approve", nil)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	back, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:53682", back.Host, "a loopback redirect keeps the port asked (RFC 8252 §7.3)")
	assert.Equal(t, "xyz", back.Query().Get("state"))
	assert.Equal(t, cs.URL, back.Query().Get("iss"), "RFC 9207")
	code := back.Query().Get("code")
	require.NotEmpty(t, code)

	tok, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	require.NoError(t, err)
	require.NotEmpty(t, tok.RefreshToken)
	status, me := cs.me(t, tok.AccessToken)
	require.Equal(t, http.StatusOK, status, me)
	assert.Equal(t, "alice", me["subject"])
	assert.Equal(t, "acme", me["tenant"])
	assert.Equal(t, []any{"read"}, me["scopes"])

	// A second redemption of the code fails, and revokes what the first
	// one issued (RFC 6749 §4.1.2).
	_, err = cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	assert.ErrorContains(t, err, "invalid_grant")
	status, _ = cs.me(t, tok.AccessToken)
	assert.Equal(t, http.StatusUnauthorized, status, "tokens of a replayed code are revoked")
}

// TestRefreshRotation: every refresh rotates the refresh token; a reused
// one ends the family, its access tokens included (RFC 9700 §4.14.2).
func TestRefreshRotation(t *testing.T) {
	cs := newCodeServer(t)
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, http.DefaultClient)
	cfg := oauth2.Config{ClientID: "app", Scopes: []string{"read", "write"}, RedirectURL: "http://127.0.0.1/callback",
		Endpoint: oauth2.Endpoint{AuthURL: cs.URL + "/oauth/authorize", TokenURL: cs.URL + "/oauth/token", AuthStyle: oauth2.AuthStyleInParams}}
	verifier := oauth2.GenerateVerifier()
	_, page := cs.visit(t, cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)))
	back, _ := url.Parse(cs.consent(t, page, "approve", nil).Header.Get("Location"))
	first, err := cfg.Exchange(ctx, back.Query().Get("code"), oauth2.VerifierOption(verifier))
	require.NoError(t, err)

	expired := *first
	expired.Expiry = time.Now().Add(-time.Minute)
	second, err := cfg.TokenSource(ctx, &expired).Token()
	require.NoError(t, err)
	assert.NotEqual(t, first.RefreshToken, second.RefreshToken, "rotated")
	assert.NotEqual(t, first.AccessToken, second.AccessToken)
	status, _ := cs.me(t, second.AccessToken)
	require.Equal(t, http.StatusOK, status)

	// A narrower scope is allowed, a wider one never.
	refresh := func(token, scope string) (int, map[string]any) {
		form := url.Values{"grant_type": {"refresh_token"}, "client_id": {"app"}, "refresh_token": {token}}
		if scope != "" {
			form.Set("scope", scope)
		}
		resp, body := post(t, cs.URL+"/oauth/token", "application/x-www-form-urlencoded", form.Encode(), nil)
		return resp.StatusCode, body
	}
	status, body := refresh(second.RefreshToken, "read admin")
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, "invalid_scope", body["error"])

	// The first refresh token again: reuse. The family ends.
	status, body = refresh(first.RefreshToken, "")
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, "invalid_grant", body["error"])
	status, _ = cs.me(t, second.AccessToken)
	assert.Equal(t, http.StatusUnauthorized, status, "the family's access tokens are revoked")
	_, body = refresh(second.RefreshToken, "")
	assert.Equal(t, "invalid_grant", body["error"], "and its current refresh token")
}

// TestUserTier: the tier of the user who approves (oauth.User.Tier) is the
// tier of the access tokens issued from the code, and of those a refresh
// issues, narrowed or not, so that the API rate-limits a third-party app
// acting for a user of a paid tier as that tier. A user without a tier
// gets tokens of the default tier, without a "tier" claim.
func TestUserTier(t *testing.T) {
	cs := newCodeServer(t)
	u, _ := url.Parse(cs.URL)
	cs.browser.Jar.SetCookies(u, []*http.Cookie{{Name: "sid", Value: "pro-session"}})
	tok := cs.appTokens(t)
	status, me := cs.me(t, tok.AccessToken)
	require.Equal(t, http.StatusOK, status, me)
	assert.Equal(t, "dave", me["subject"])
	assert.Equal(t, "pro", me["tier"], "the access token of the code")
	assert.Equal(t, "pro", tokenClaims(t, tok.AccessToken)["tier"])
	g, err := cs.grants.GetGrant(context.Background(), me["grant_id"].(string))
	require.NoError(t, err)
	assert.Equal(t, "pro", g.Tier, "the grant")

	refresh := tok.RefreshToken
	for _, scope := range []string{"", "read"} {
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}
		if scope != "" {
			form.Set("scope", scope)
		}
		status, body, raw := cs.call(t, "/oauth/token", "app", "", form)
		require.Equal(t, http.StatusOK, status, raw)
		refresh = body["refresh_token"].(string)
		status, me = cs.me(t, body["access_token"].(string))
		require.Equal(t, http.StatusOK, status, me)
		assert.Equal(t, "pro", me["tier"], "an access token of a refresh, scope %q", scope)
	}

	cs.browser.Jar.SetCookies(u, []*http.Cookie{{Name: "sid", Value: "session-1"}}) // alice, no tier
	tok = cs.appTokens(t)
	status, me = cs.me(t, tok.AccessToken)
	require.Equal(t, http.StatusOK, status, me)
	assert.Equal(t, "alice", me["subject"])
	assert.Equal(t, "", me["tier"], "a user without a tier: the default tier")
	assert.NotContains(t, tokenClaims(t, tok.AccessToken), "tier")
}

// tokenClaims decodes the claims of a JWT, unverified.
func tokenClaims(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	require.Len(t, parts, 3, "a JWT")
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	var claims map[string]any
	require.NoError(t, json.Unmarshal(raw, &claims))
	return claims
}

// TestAuthorizeAttacks is the attack table of the authorization endpoint:
// a bad client or redirect URI is shown, never redirected; PKCE is
// required and S256 only; the consent form is bound to the session.
func TestAuthorizeAttacks(t *testing.T) {
	cs := newCodeServer(t)
	challenge := strings.Repeat("a", 43)
	authz := func(change func(url.Values)) string {
		q := url.Values{"response_type": {"code"}, "client_id": {"web"}, "redirect_uri": {"https://web.example/cb"},
			"state": {"s1"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}
		if change != nil {
			change(q)
		}
		return cs.URL + "/oauth/authorize?" + q.Encode()
	}
	shown := []struct {
		name   string
		change func(url.Values)
	}{
		{"unknown client", func(q url.Values) { q.Set("client_id", "nobody") }},
		{"no client", func(q url.Values) { q.Del("client_id") }},
		{"trailing slash", func(q url.Values) { q.Set("redirect_uri", "https://web.example/cb/") }},
		{"case", func(q url.Values) { q.Set("redirect_uri", "https://WEB.example/cb") }},
		{"extra query", func(q url.Values) { q.Set("redirect_uri", "https://web.example/cb?x=1") }},
		{"userinfo", func(q url.Values) { q.Set("redirect_uri", "https://evil@web.example/cb") }},
		{"fragment", func(q url.Values) { q.Set("redirect_uri", "https://web.example/cb#x") }},
		{"other port, not loopback", func(q url.Values) { q.Set("redirect_uri", "https://web.example:8443/cb") }},
		{"another host", func(q url.Values) { q.Set("redirect_uri", "https://evil.example/cb") }},
		{"omitted with two registered", func(q url.Values) { q.Del("redirect_uri") }},
		{"repeated redirect_uri", func(q url.Values) { q.Add("redirect_uri", "https://evil.example/cb") }},
	}
	for _, tc := range shown {
		resp, body := cs.visit(t, authz(tc.change))
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode, tc.name)
		assert.Empty(t, resp.Header.Get("Location"), "%s: never redirected", tc.name)
		assert.Contains(t, body, "cannot be completed", tc.name)
	}

	redirected := []struct {
		name, code string
		change     func(url.Values)
	}{
		{"plain PKCE", "invalid_request", func(q url.Values) { q.Set("code_challenge_method", "plain") }},
		{"no PKCE", "invalid_request", func(q url.Values) { q.Del("code_challenge"); q.Del("code_challenge_method") }},
		{"short challenge", "invalid_request", func(q url.Values) { q.Set("code_challenge", "abc") }},
		{"token response type", "unsupported_response_type", func(q url.Values) { q.Set("response_type", "token") }},
		{"scope beyond the client's", "invalid_scope", func(q url.Values) { q.Set("scope", "admin") }},
		{"malformed scope", "invalid_scope", func(q url.Values) { q.Set("scope", "read  write") }},
	}
	for _, tc := range redirected {
		resp, _ := cs.visit(t, authz(tc.change))
		require.Equal(t, http.StatusSeeOther, resp.StatusCode, tc.name)
		back, err := url.Parse(resp.Header.Get("Location"))
		require.NoError(t, err)
		assert.Equal(t, "web.example", back.Host, tc.name)
		assert.Equal(t, tc.code, back.Query().Get("error"), tc.name)
		assert.Equal(t, "s1", back.Query().Get("state"), tc.name)
		assert.Equal(t, cs.URL, back.Query().Get("iss"), tc.name)
	}

	// Signed out: the host's login, not the consent page.
	resp, err := (&http.Client{CheckRedirect: cs.browser.CheckRedirect}).Get(authz(nil))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusFound, resp.StatusCode)
	assert.True(t, strings.HasPrefix(resp.Header.Get("Location"), "/login?"))

	// The consent form: deny, a missing CSRF token, another session's,
	// another request's, GET for a decision.
	_, page := cs.visit(t, authz(nil))
	resp = cs.consent(t, page, "deny", nil)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	assert.Contains(t, resp.Header.Get("Location"), "error=access_denied")
	for name, change := range map[string]func(url.Values){
		"no CSRF":        func(f url.Values) { f.Del("csrf") },
		"forged CSRF":    func(f url.Values) { f.Set("csrf", strings.Repeat("A", 43)) },
		"other request":  func(f url.Values) { f.Set("state", "other") },
		"other redirect": func(f url.Values) { f.Set("redirect_uri", "https://web.example/other") },
		"wider scope":    func(f url.Values) { f.Set("scope", "read"); f.Set("code_challenge", strings.Repeat("b", 43)) },
	} {
		resp := cs.consent(t, page, "approve", change)
		assert.Equal(t, http.StatusForbidden, resp.StatusCode, name)
		assert.Empty(t, resp.Header.Get("Location"), name)
	}
	u, _ := url.Parse(cs.URL)
	cs.browser.Jar.SetCookies(u, []*http.Cookie{{Name: "sid", Value: "session-2"}})
	resp = cs.consent(t, page, "approve", nil)
	assert.Equal(t, http.StatusForbidden, resp.StatusCode, "a form from another session")
}

// TestCodeGrantAttacks: a code works once, for its client, redirect URI
// and verifier; a failed check spends it and revokes its grant.
func TestCodeGrantAttacks(t *testing.T) {
	cs := newCodeServer(t)
	verifier := strings.Repeat("v", 43)
	code := func() string { return cs.code(t, "web", "https://web.example/cb", "", verifier) }
	exchange := func(c string, form url.Values, id, secret string) (int, map[string]any) {
		f := url.Values{"grant_type": {"authorization_code"}, "code": {c}, "redirect_uri": {"https://web.example/cb"}, "code_verifier": {verifier}}
		for k, v := range form {
			f[k] = v
		}
		hdr := http.Header{}
		if id != "" {
			req, _ := http.NewRequest("POST", "/", nil)
			req.SetBasicAuth(id, secret)
			hdr.Set("Authorization", req.Header.Get("Authorization"))
		}
		resp, body := post(t, cs.URL+"/oauth/token", "application/x-www-form-urlencoded", f.Encode(), hdr)
		return resp.StatusCode, body
	}
	status, body := exchange(code(), nil, "web", cs.secret)
	require.Equal(t, http.StatusOK, status, body)
	assert.NotEmpty(t, body["refresh_token"])

	for name, tc := range map[string]struct {
		form       url.Values
		id, secret string
		want       string
	}{
		"wrong verifier":          {url.Values{"code_verifier": {strings.Repeat("w", 43)}}, "web", cs.secret, "invalid_grant"},
		"no verifier":             {url.Values{"code_verifier": {""}}, "web", cs.secret, "invalid_request"},
		"other redirect":          {url.Values{"redirect_uri": {"https://web.example/other"}}, "web", cs.secret, "invalid_grant"},
		"another client":          {url.Values{"client_id": {"app"}}, "", "", "invalid_grant"},
		"confidential, no secret": {url.Values{"client_id": {"web"}}, "", "", "invalid_client"},
		"wrong secret":            {nil, "web", "wrong-" + cs.secret, "invalid_client"},
	} {
		status, body := exchange(code(), tc.form, tc.id, tc.secret)
		assert.Equal(t, tc.want, body["error"], name)
		assert.NotEqual(t, http.StatusOK, status, name)
	}
}

// s256 is the PKCE S256 challenge of a verifier (RFC 7636 §4.2).
func s256(verifier string) string {
	return oauth2.S256ChallengeFromVerifier(verifier)
}
