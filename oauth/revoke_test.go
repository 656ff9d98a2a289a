package oauth_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apiauth/apiauth"
	"github.com/apiauth/apiauth/oauth"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
)

// code runs the authorization request of client for scope, approves it in
// the browser and returns the code, for the verifier.
func (cs *codeServer) code(t *testing.T, client, redirect, scope, verifier string) string {
	t.Helper()
	q := url.Values{"response_type": {"code"}, "client_id": {client}, "redirect_uri": {redirect}, "state": {"st"},
		"scope": {scope}, "code_challenge": {s256(verifier)}, "code_challenge_method": {"S256"}}
	resp, page := cs.visit(t, cs.URL+"/oauth/authorize?"+q.Encode())
	if resp.StatusCode == http.StatusOK {
		resp = cs.consent(t, page, "approve", nil)
	}
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, page)
	back, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(t, err)
	require.NotEmpty(t, back.Query().Get("code"), back)
	return back.Query().Get("code")
}

// appTokens are tokens of the public client "app", through x/oauth2.
func (cs *codeServer) appTokens(t *testing.T) *oauth2.Token {
	t.Helper()
	verifier := oauth2.GenerateVerifier()
	code := cs.code(t, "app", "http://127.0.0.1/callback", "read write", verifier)
	tok, err := cs.appConfig().Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
	require.NoError(t, err)
	return tok
}

func (cs *codeServer) appConfig() *oauth2.Config {
	return &oauth2.Config{ClientID: "app", RedirectURL: "http://127.0.0.1/callback",
		Endpoint: oauth2.Endpoint{AuthURL: cs.URL + "/oauth/authorize", TokenURL: cs.URL + "/oauth/token", AuthStyle: oauth2.AuthStyleInParams}}
}

// webTokens are tokens of the confidential client "web", through x/oauth2.
func (cs *codeServer) webTokens(t *testing.T) *oauth2.Token {
	t.Helper()
	verifier := oauth2.GenerateVerifier()
	code := cs.code(t, "web", "https://web.example/cb", "read", verifier)
	cfg := oauth2.Config{ClientID: "web", ClientSecret: cs.secret, RedirectURL: "https://web.example/cb",
		Endpoint: oauth2.Endpoint{TokenURL: cs.URL + "/oauth/token", AuthStyle: oauth2.AuthStyleInHeader}}
	tok, err := cfg.Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
	require.NoError(t, err)
	return tok
}

// call POSTs form to the endpoint at path, as client (HTTP Basic when
// secret is set, else client_id in the body; nobody when client is ""),
// and returns the status, the JSON body and the raw body.
func (cs *codeServer) call(t *testing.T, path, client, secret string, form url.Values) (int, map[string]any, string) {
	t.Helper()
	f := url.Values{}
	for k, v := range form {
		f[k] = v
	}
	req, err := http.NewRequest("POST", cs.URL+path, strings.NewReader(""))
	require.NoError(t, err)
	switch {
	case secret != "":
		req.SetBasicAuth(url.QueryEscape(client), url.QueryEscape(secret))
	case client != "":
		f.Set("client_id", client)
	}
	req.Body = io.NopCloser(strings.NewReader(f.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"), path)
	var body map[string]any
	_ = json.Unmarshal(raw, &body)
	return resp.StatusCode, body, string(raw)
}

// refresh redeems a refresh token of "app" and returns the status and the
// error code, if any.
func (cs *codeServer) refresh(t *testing.T, token string) (int, any) {
	t.Helper()
	status, body, _ := cs.call(t, "/oauth/token", "app", "", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {token}})
	return status, body["error"]
}

// TestRevocation is RFC 7009: a client revokes its own refresh or access
// token, which ends the grant (its refresh family and its access tokens);
// another client's token is refused and stays live; anything unknown is a
// silent 200.
func TestRevocation(t *testing.T) {
	cs := newCodeServer(t)
	revoke := func(client, secret string, form url.Values) (int, map[string]any, string) {
		return cs.call(t, "/oauth/revoke", client, secret, form)
	}

	t.Run("refresh token ends its family and its access tokens", func(t *testing.T) {
		tok := cs.appTokens(t)
		status, _, raw := revoke("app", "", url.Values{"token": {tok.RefreshToken}, "token_type_hint": {"refresh_token"}})
		assert.Equal(t, http.StatusOK, status)
		assert.Empty(t, raw)
		code, _ := cs.me(t, tok.AccessToken)
		assert.Equal(t, http.StatusUnauthorized, code)
		_, e := cs.refresh(t, tok.RefreshToken)
		assert.Equal(t, "invalid_grant", e)
	})
	t.Run("access token ends its grant", func(t *testing.T) {
		tok := cs.appTokens(t)
		status, _, _ := revoke("app", "", url.Values{"token": {tok.AccessToken}, "token_type_hint": {"access_token"}})
		assert.Equal(t, http.StatusOK, status)
		code, _ := cs.me(t, tok.AccessToken)
		assert.Equal(t, http.StatusUnauthorized, code)
		_, e := cs.refresh(t, tok.RefreshToken)
		assert.Equal(t, "invalid_grant", e, "the refresh token of the grant")
	})
	t.Run("the hint is only a hint", func(t *testing.T) {
		tok := cs.appTokens(t)
		status, _, _ := revoke("app", "", url.Values{"token": {tok.RefreshToken}, "token_type_hint": {"access_token"}})
		assert.Equal(t, http.StatusOK, status)
		_, e := cs.refresh(t, tok.RefreshToken)
		assert.Equal(t, "invalid_grant", e)
	})
	t.Run("confidential client", func(t *testing.T) {
		tok := cs.webTokens(t)
		status, _, _ := revoke("web", cs.secret, url.Values{"token": {tok.RefreshToken}})
		assert.Equal(t, http.StatusOK, status)
		code, _ := cs.me(t, tok.AccessToken)
		assert.Equal(t, http.StatusUnauthorized, code)
	})
	t.Run("another client's token is refused and stays live", func(t *testing.T) {
		tok := cs.appTokens(t)
		for _, token := range []string{tok.RefreshToken, tok.AccessToken} {
			status, body, _ := revoke("web", cs.secret, url.Values{"token": {token}})
			assert.Equal(t, http.StatusBadRequest, status)
			assert.Equal(t, "unauthorized_client", body["error"])
		}
		code, _ := cs.me(t, tok.AccessToken)
		assert.Equal(t, http.StatusOK, code)
		status, _ := cs.refresh(t, tok.RefreshToken)
		assert.Equal(t, http.StatusOK, status)
	})
	t.Run("a public client cannot pass for a confidential one", func(t *testing.T) {
		tok := cs.webTokens(t)
		status, body, _ := revoke("web", "", url.Values{"token": {tok.RefreshToken}})
		assert.Equal(t, http.StatusUnauthorized, status)
		assert.Equal(t, "invalid_client", body["error"])
		code, _ := cs.me(t, tok.AccessToken)
		assert.Equal(t, http.StatusOK, code)
	})
	t.Run("client credentials token is not revocable", func(t *testing.T) {
		status, body, _ := cs.call(t, "/oauth/token", "web", cs.secret, url.Values{"grant_type": {"client_credentials"}})
		require.Equal(t, http.StatusOK, status, body)
		status, body, _ = revoke("web", cs.secret, url.Values{"token": {body["access_token"].(string)}})
		assert.Equal(t, http.StatusBadRequest, status)
		assert.Equal(t, "unsupported_token_type", body["error"])
	})

	unknown := []struct {
		name, token string
	}{
		{"garbage", "not-a-token"},
		{"unknown refresh token", "rt_" + strings.Repeat("A", 40)},
		{"JWT of another issuer", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"},
	}
	for _, tc := range unknown {
		status, _, raw := revoke("app", "", url.Values{"token": {tc.token}})
		assert.Equal(t, http.StatusOK, status, tc.name)
		assert.Empty(t, raw, tc.name)
	}
	tok := cs.appTokens(t)
	revoke("app", "", url.Values{"token": {tok.RefreshToken}})
	status, _, _ := revoke("app", "", url.Values{"token": {tok.RefreshToken}})
	assert.Equal(t, http.StatusOK, status, "revoked twice")

	refused := []struct {
		name, client, secret string
		form                 url.Values
		status               int
		code                 string
	}{
		{"no token", "app", "", url.Values{}, 400, "invalid_request"},
		{"no client", "", "", url.Values{"token": {"x"}}, 401, "invalid_client"},
		{"unknown client", "nobody", "", url.Values{"token": {"x"}}, 401, "invalid_client"},
		{"wrong secret", "web", "wrong-" + cs.secret, url.Values{"token": {"x"}}, 401, "invalid_client"},
		{"repeated token", "app", "", url.Values{"token": {"x", "y"}}, 400, "invalid_request"},
	}
	for _, tc := range refused {
		status, body, _ := revoke(tc.client, tc.secret, tc.form)
		assert.Equal(t, tc.status, status, tc.name)
		assert.Equal(t, tc.code, body["error"], tc.name)
	}
	resp, err := http.Get(cs.URL + "/oauth/revoke?token=x")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	assert.Equal(t, "POST", resp.Header.Get("Allow"))
}

// TestRevocationRacesRefresh: a revocation racing many refreshes of the
// same family leaves no live token behind, whichever rotation won; no
// request fails with anything but invalid_grant.
func TestRevocationRacesRefresh(t *testing.T) {
	cs := newCodeServer(t)
	for round := 0; round < 5; round++ {
		tok := cs.appTokens(t)
		var (
			wg     sync.WaitGroup
			mu     sync.Mutex
			issued []string
		)
		for i := 0; i < 16; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				status, body, _ := cs.call(t, "/oauth/token", "app", "", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}})
				mu.Lock()
				defer mu.Unlock()
				if status == http.StatusOK {
					issued = append(issued, body["access_token"].(string), body["refresh_token"].(string))
					return
				}
				assert.Equal(t, "invalid_grant", body["error"])
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, _, _ := cs.call(t, "/oauth/revoke", "app", "", url.Values{"token": {tok.AccessToken}})
			assert.Equal(t, http.StatusOK, status)
		}()
		wg.Wait()
		assert.LessOrEqual(t, len(issued), 2, "one rotation at most")
		for i, token := range append(issued, tok.AccessToken) {
			if i%2 == 1 && i < len(issued) {
				status, _ := cs.refresh(t, token)
				assert.Equal(t, http.StatusBadRequest, status, "no refresh token survives")
				continue
			}
			status, _ := cs.me(t, token)
			assert.Equal(t, http.StatusUnauthorized, status, "no access token survives")
		}
	}
}

// TestIntrospection is RFC 7662: a confidential client of the tenant
// learns a live token's claims; everything else is {"active":false},
// exactly as an unknown token.
func TestIntrospection(t *testing.T) {
	cs := newCodeServer(t)
	other := oauth.GenerateClientSecret()
	_, err := oauth.RegisterClient(context.Background(), cs.clients, oauth.ClientSpec{ID: "globex-rs", Tenant: "globex", Scopes: []apiauth.Scope{apiauth.Read}}, other)
	require.NoError(t, err)
	introspect := func(client, secret, token string) (int, map[string]any, string) {
		return cs.call(t, "/oauth/introspect", client, secret, url.Values{"token": {token}})
	}
	const inactive = "{\"active\":false}\n"

	app := cs.appTokens(t)
	status, body, _ := introspect("web", cs.secret, app.AccessToken)
	require.Equal(t, http.StatusOK, status)
	now := float64(time.Now().Unix())
	assert.InDelta(t, now+3600, body["exp"], 5)
	assert.InDelta(t, now, body["iat"], 5)
	assert.NotEmpty(t, body["jti"])
	delete(body, "exp")
	delete(body, "iat")
	delete(body, "jti")
	assert.Equal(t, map[string]any{"active": true, "scope": "read write", "client_id": "app", "token_type": "Bearer",
		"sub": "alice", "aud": "orders-api", "iss": cs.URL, "tenant": "acme"}, body)

	web := cs.webTokens(t)
	status, body, _ = introspect("web", cs.secret, web.RefreshToken)
	require.Equal(t, http.StatusOK, status)
	assert.InDelta(t, float64(time.Now().Add(30*24*time.Hour).Unix()), body["exp"], 5, "the idle expiry")
	delete(body, "exp")
	assert.Equal(t, map[string]any{"active": true, "scope": "read", "client_id": "web", "token_type": "refresh_token",
		"sub": "alice", "iss": cs.URL, "tenant": "acme"}, body)

	for name, tc := range map[string]struct{ client, secret, token string }{
		"another tenant's client":        {"globex-rs", other, app.AccessToken},
		"another client's refresh token": {"web", cs.secret, app.RefreshToken},
		"unknown refresh token":          {"web", cs.secret, "rt_" + strings.Repeat("B", 40)},
		"garbage":                        {"web", cs.secret, "x"},
		"JWT of another issuer":          {"web", cs.secret, "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"},
	} {
		status, _, raw := introspect(tc.client, tc.secret, tc.token)
		assert.Equal(t, http.StatusOK, status, name)
		assert.Equal(t, inactive, raw, name)
	}

	// A rotated refresh token is inactive; the new one is active. Then
	// revocation makes both the access and refresh tokens inactive.
	rotated, err := (&oauth2.Config{ClientID: "web", ClientSecret: cs.secret, Endpoint: oauth2.Endpoint{TokenURL: cs.URL + "/oauth/token", AuthStyle: oauth2.AuthStyleInHeader}}).
		TokenSource(context.Background(), &oauth2.Token{RefreshToken: web.RefreshToken}).Token()
	require.NoError(t, err)
	_, _, raw := introspect("web", cs.secret, web.RefreshToken)
	assert.Equal(t, inactive, raw, "replaced refresh token")
	_, body, _ = introspect("web", cs.secret, rotated.RefreshToken)
	assert.Equal(t, true, body["active"])
	cs.call(t, "/oauth/revoke", "web", cs.secret, url.Values{"token": {rotated.RefreshToken}})
	for _, token := range []string{rotated.RefreshToken, rotated.AccessToken} {
		_, _, raw = introspect("web", cs.secret, token)
		assert.Equal(t, inactive, raw, "revoked")
	}

	for name, tc := range map[string]struct {
		client, secret string
		form           url.Values
		status         int
		code           string
	}{
		"public client":  {"app", "", url.Values{"token": {app.AccessToken}}, 401, "invalid_client"},
		"no client":      {"", "", url.Values{"token": {app.AccessToken}}, 401, "invalid_client"},
		"wrong secret":   {"web", "wrong-" + cs.secret, url.Values{"token": {app.AccessToken}}, 401, "invalid_client"},
		"no token":       {"web", cs.secret, url.Values{}, 400, "invalid_request"},
		"repeated token": {"web", cs.secret, url.Values{"token": {"a", "b"}}, 400, "invalid_request"},
	} {
		status, body, _ := cs.call(t, "/oauth/introspect", tc.client, tc.secret, tc.form)
		assert.Equal(t, tc.status, status, name)
		assert.Equal(t, tc.code, body["error"], name)
	}
}

// TestIntrospectionExpiry: a token is inactive from its exp on, by the
// issuer's clock and without the verifier's leeway.
func TestIntrospectionExpiry(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	cs := newCodeServer(t, func(c *oauth.Config) { c.Now = clock; c.TTL = time.Minute })
	token, exp, err := cs.issuer.Issue(&apiauth.Principal{Subject: "svc", Tenant: "acme", Scopes: []apiauth.Scope{apiauth.Read}})
	require.NoError(t, err)
	_, body, _ := cs.call(t, "/oauth/introspect", "web", cs.secret, url.Values{"token": {token}})
	assert.Equal(t, true, body["active"])
	assert.Equal(t, float64(exp.Unix()), body["exp"])
	mu.Lock()
	now = exp.Add(time.Second) // within the verifier's 30 s leeway
	mu.Unlock()
	_, _, raw := cs.call(t, "/oauth/introspect", "web", cs.secret, url.Values{"token": {token}})
	assert.Equal(t, "{\"active\":false}\n", raw)
}

// failingGrants is a grant store that cannot answer once down is set.
type failingGrants struct {
	*oauth.MemoryGrantStore
	mu   sync.Mutex
	down bool
}

var errDown = errors.New("grant store down")

func (f *failingGrants) isDown() bool { f.mu.Lock(); defer f.mu.Unlock(); return f.down }

func (f *failingGrants) LookupRefresh(ctx context.Context, d apiauth.KeyDigest) (*oauth.Grant, error) {
	if f.isDown() {
		return nil, errDown
	}
	return f.MemoryGrantStore.LookupRefresh(ctx, d)
}

func (f *failingGrants) GetGrant(ctx context.Context, id string) (*oauth.Grant, error) {
	if f.isDown() {
		return nil, errDown
	}
	return f.MemoryGrantStore.GetGrant(ctx, id)
}

// TestRevocationStoreDown: a store that cannot answer is a 503, never a
// silent 200 that leaves the token live, nor "active": false.
func TestRevocationStoreDown(t *testing.T) {
	grants := &failingGrants{MemoryGrantStore: oauth.NewMemoryGrantStore()}
	cs := newCodeServer(t, func(c *oauth.Config) { c.Grants = grants })
	tok := cs.appTokens(t)
	grants.mu.Lock()
	grants.down = true
	grants.mu.Unlock()
	for _, call := range []struct{ path, client, secret, token string }{
		{"/oauth/revoke", "app", "", tok.RefreshToken},
		{"/oauth/revoke", "app", "", tok.AccessToken},
		{"/oauth/introspect", "web", cs.secret, tok.RefreshToken},
		{"/oauth/introspect", "web", cs.secret, tok.AccessToken},
	} {
		status, body, _ := cs.call(t, call.path, call.client, call.secret, url.Values{"token": {call.token}})
		assert.Equal(t, http.StatusServiceUnavailable, status, call.path)
		assert.Equal(t, "temporarily_unavailable", body["error"], call.path)
	}
}

// TestRememberConsent: with Config.RememberConsent, a confidential
// client the user approved is not asked again for the scopes approved
// (approvals add up), but is for a wider scope, by another user, and
// after the consent is revoked; a public client is always asked (RFC 8252
// §8.6).
func TestRememberConsent(t *testing.T) {
	cs := newCodeServer(t, func(c *oauth.Config) { c.RememberConsent = true })
	ctx := context.Background()
	_, err := oauth.RegisterClient(ctx, cs.clients, oauth.ClientSpec{ID: "crm", Name: "CRM", Tenant: "acme",
		Scopes: []apiauth.Scope{apiauth.Read, "billing"}, RedirectURIs: []string{"https://crm.example/cb"}}, cs.secret)
	require.NoError(t, err)
	ask := func(client, redirect, scope string) *http.Response {
		q := url.Values{"response_type": {"code"}, "client_id": {client}, "redirect_uri": {redirect}, "state": {"st"},
			"scope": {scope}, "code_challenge": {s256(strings.Repeat("v", 43))}, "code_challenge_method": {"S256"}}
		resp, _ := cs.visit(t, cs.URL+"/oauth/authorize?"+q.Encode())
		return resp
	}
	skipped := func(resp *http.Response) bool {
		if resp.StatusCode != http.StatusSeeOther {
			return false
		}
		back, err := url.Parse(resp.Header.Get("Location"))
		require.NoError(t, err)
		assert.NotEmpty(t, back.Query().Get("code"))
		assert.Equal(t, "st", back.Query().Get("state"))
		assert.Equal(t, cs.URL, back.Query().Get("iss"))
		return true
	}
	crm := func(scope string) *http.Response { return ask("crm", "https://crm.example/cb", scope) }

	assert.False(t, skipped(crm("read")), "asked the first time")
	cs.code(t, "crm", "https://crm.example/cb", "read", "v")
	assert.True(t, skipped(crm("read")), "remembered")
	assert.False(t, skipped(crm("read billing")), "a wider scope is asked")
	cs.code(t, "crm", "https://crm.example/cb", "billing", "v")
	assert.True(t, skipped(crm("read billing")), "approvals add up")
	assert.True(t, skipped(crm("read")), "and a narrower scope does not shrink them")
	assert.True(t, skipped(crm("read billing")))

	u, _ := url.Parse(cs.URL)
	cs.browser.Jar.SetCookies(u, []*http.Cookie{{Name: "sid", Value: "bob-session"}})
	assert.False(t, skipped(crm("read")), "another user is asked")
	cs.browser.Jar.SetCookies(u, []*http.Cookie{{Name: "sid", Value: "session-1"}})

	require.NoError(t, cs.grants.RevokeConsent(ctx, "acme", "alice", "crm"))
	assert.False(t, skipped(crm("read")), "asked again after revocation")

	cs.code(t, "app", "http://127.0.0.1/callback", "read", "v")
	assert.False(t, skipped(ask("app", "http://127.0.0.1/callback", "read")), "a public client is always asked")
}

// TestRefreshForAnotherClient: a refresh token works only for the client
// it was issued to (RFC 6749 §6), confidential or public; a refusal
// leaves it working for its own client.
func TestRefreshForAnotherClient(t *testing.T) {
	cs := newCodeServer(t)
	app, web := cs.appTokens(t), cs.webTokens(t)
	for name, tc := range map[string]struct {
		client, secret, token string
		status                int
		code                  string
	}{
		"app's token by web":             {"web", cs.secret, app.RefreshToken, 400, "invalid_grant"},
		"web's token by app":             {"app", "", web.RefreshToken, 400, "invalid_grant"},
		"web's token without its secret": {"web", "", web.RefreshToken, 401, "invalid_client"},
	} {
		status, body, _ := cs.call(t, "/oauth/token", tc.client, tc.secret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tc.token}})
		assert.Equal(t, tc.status, status, name)
		assert.Equal(t, tc.code, body["error"], name)
	}
	status, _ := cs.refresh(t, app.RefreshToken)
	assert.Equal(t, http.StatusOK, status, "app's token still works for app")
	status, body, _ := cs.call(t, "/oauth/token", "web", cs.secret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {web.RefreshToken}})
	assert.Equal(t, http.StatusOK, status, body)
}

// TestConsentFormAction: the consent page's form-action allows the
// redirect URI's origin, since browsers check it on the 303 that follows
// the form (CSP Level 3); a host CSP cannot name (an IPv6 literal, a
// native app's private-use scheme) is allowed by its scheme.
func TestConsentFormAction(t *testing.T) {
	cs := newCodeServer(t)
	_, err := oauth.RegisterClient(context.Background(), cs.clients, oauth.ClientSpec{ID: "native", Public: true, Tenant: "acme",
		Scopes: []apiauth.Scope{apiauth.Read}, RedirectURIs: []string{"com.example.app:/cb", "http://[::1]/cb"}}, "")
	require.NoError(t, err)
	for _, tc := range []struct{ client, redirect, source string }{
		{"web", "https://web.example/cb", "https://web.example"},
		{"app", "http://127.0.0.1:53682/callback", "http://127.0.0.1:53682"},
		{"native", "com.example.app:/cb", "com.example.app:"},
		{"native", "http://[::1]:8080/cb", "http:"},
	} {
		q := url.Values{"response_type": {"code"}, "client_id": {tc.client}, "redirect_uri": {tc.redirect},
			"code_challenge": {s256(strings.Repeat("v", 43))}, "code_challenge_method": {"S256"}}
		resp, page := cs.visit(t, cs.URL+"/oauth/authorize?"+q.Encode())
		require.Equal(t, http.StatusOK, resp.StatusCode, page)
		assert.Equal(t, "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' "+tc.source+"; frame-ancestors 'none'",
			resp.Header.Get("Content-Security-Policy"), tc.redirect)
	}
}

// TestUserScopesCapTheGrant: a user never lets a client do more than they
// may: the scopes asked are narrowed to the user's, on the consent page
// and in the token; a user who holds none of them is refused.
func TestUserScopesCapTheGrant(t *testing.T) {
	cs := newCodeServer(t)
	u, _ := url.Parse(cs.URL)
	cs.browser.Jar.SetCookies(u, []*http.Cookie{{Name: "sid", Value: "bob-session"}}) // bob may read
	verifier := strings.Repeat("v", 43)
	q := url.Values{"response_type": {"code"}, "client_id": {"app"}, "redirect_uri": {"http://127.0.0.1/callback"}, "state": {"st"},
		"scope": {"read write"}, "code_challenge": {s256(verifier)}, "code_challenge_method": {"S256"}}
	resp, page := cs.visit(t, cs.URL+"/oauth/authorize?"+q.Encode())
	require.Equal(t, http.StatusOK, resp.StatusCode, page)
	assert.Contains(t, page, "Read your data")
	assert.NotContains(t, page, "Read and change your data", "write is not bob's to give")

	// The form changed back to read write is narrowed again: read.
	back, err := url.Parse(cs.consent(t, page, "approve", func(f url.Values) { f.Set("scope", "read write") }).Header.Get("Location"))
	require.NoError(t, err)
	status, body, _ := cs.call(t, "/oauth/token", "app", "", url.Values{"grant_type": {"authorization_code"}, "code": {back.Query().Get("code")},
		"redirect_uri": {"http://127.0.0.1/callback"}, "code_verifier": {verifier}})
	require.Equal(t, http.StatusOK, status, body)
	assert.Equal(t, "read", body["scope"])
	code, me := cs.me(t, body["access_token"].(string))
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, []any{"read"}, me["scopes"])

	// Only write, which bob does not hold: access_denied, back to the client.
	q.Set("scope", "write")
	resp, _ = cs.visit(t, cs.URL+"/oauth/authorize?"+q.Encode())
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	back, err = url.Parse(resp.Header.Get("Location"))
	require.NoError(t, err)
	assert.Equal(t, "access_denied", back.Query().Get("error"))
	assert.Equal(t, "st", back.Query().Get("state"))
}

// TestCrossTenantApproval: a client serves the users of its own tenant
// only, unless Config.CrossTenant says otherwise; then the token is for
// the user's tenant.
func TestCrossTenantApproval(t *testing.T) {
	for _, cross := range []bool{false, true} {
		cs := newCodeServer(t, func(c *oauth.Config) { c.CrossTenant = cross })
		u, _ := url.Parse(cs.URL)
		cs.browser.Jar.SetCookies(u, []*http.Cookie{{Name: "sid", Value: "globex-session"}}) // carol, of globex
		verifier := strings.Repeat("v", 43)
		q := url.Values{"response_type": {"code"}, "client_id": {"app"}, "redirect_uri": {"http://127.0.0.1/callback"}, "state": {"st"},
			"code_challenge": {s256(verifier)}, "code_challenge_method": {"S256"}}
		resp, page := cs.visit(t, cs.URL+"/oauth/authorize?"+q.Encode())
		if !cross {
			require.Equal(t, http.StatusSeeOther, resp.StatusCode, page)
			back, err := url.Parse(resp.Header.Get("Location"))
			require.NoError(t, err)
			assert.Equal(t, "access_denied", back.Query().Get("error"), "acme's app, globex's user")
			assert.Equal(t, "st", back.Query().Get("state"))
			continue
		}
		require.Equal(t, http.StatusOK, resp.StatusCode, page)
		back, err := url.Parse(cs.consent(t, page, "approve", nil).Header.Get("Location"))
		require.NoError(t, err)
		status, body, _ := cs.call(t, "/oauth/token", "app", "", url.Values{"grant_type": {"authorization_code"}, "code": {back.Query().Get("code")},
			"redirect_uri": {"http://127.0.0.1/callback"}, "code_verifier": {verifier}})
		require.Equal(t, http.StatusOK, status, body)
		code, me := cs.me(t, body["access_token"].(string))
		require.Equal(t, http.StatusOK, code)
		assert.Equal(t, "globex", me["tenant"], "the user's tenant, not the client's")
	}
}

// TestConsentAcrossInstances: instances configured with the same signing
// key (as they must be, to verify each other's tokens) accept each other's
// consent forms, so that a load balancer may send the page and its POST to
// two of them; an instance with another key refuses the form.
func TestConsentAcrossInstances(t *testing.T) {
	key, err := oauth.GenerateSigningKey("ES256")
	require.NoError(t, err)
	shared := func(c *oauth.Config) { c.SigningKey = &key }
	a, b, other := newCodeServer(t, shared), newCodeServer(t, shared), newCodeServer(t)
	q := url.Values{"response_type": {"code"}, "client_id": {"app"}, "redirect_uri": {"http://127.0.0.1/callback"},
		"code_challenge": {s256(strings.Repeat("v", 43))}, "code_challenge_method": {"S256"}}
	resp, page := a.visit(t, a.URL+"/oauth/authorize?"+q.Encode())
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, http.StatusSeeOther, b.consent(t, page, "approve", nil).StatusCode, "same signing key")
	assert.Equal(t, http.StatusForbidden, other.consent(t, page, "approve", nil).StatusCode, "another key")
}

// TestOmittedRedirectURI: a client with one registered redirect URI may
// omit redirect_uri; its token request then omits it too (RFC 6749
// §4.1.3), and one that adds it is refused.
func TestOmittedRedirectURI(t *testing.T) {
	cs := newCodeServer(t)
	verifier := strings.Repeat("v", 43)
	code := func() string {
		q := url.Values{"response_type": {"code"}, "client_id": {"app"}, "state": {"st"},
			"code_challenge": {s256(verifier)}, "code_challenge_method": {"S256"}}
		_, page := cs.visit(t, cs.URL+"/oauth/authorize?"+q.Encode())
		back, err := url.Parse(cs.consent(t, page, "approve", nil).Header.Get("Location"))
		require.NoError(t, err)
		assert.Equal(t, "127.0.0.1", back.Host, "the one registered URI")
		return back.Query().Get("code")
	}
	redeem := func(form url.Values) (int, map[string]any) {
		form.Set("grant_type", "authorization_code")
		form.Set("code_verifier", verifier)
		status, body, _ := cs.call(t, "/oauth/token", "app", "", form)
		return status, body
	}
	status, body := redeem(url.Values{"code": {code()}})
	require.Equal(t, http.StatusOK, status, body)
	status, body = redeem(url.Values{"code": {code()}, "redirect_uri": {"http://127.0.0.1/callback"}})
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, "invalid_grant", body["error"])
}

// TestGrantLifetimesRefused: lifetimes that would refuse every code are
// a start-up error, not a 503 at each approval.
func TestGrantLifetimesRefused(t *testing.T) {
	for _, cfg := range []oauth.Config{
		{CodeTTL: 5 * time.Minute, RefreshTTL: time.Minute},
		{CodeTTL: time.Minute, RefreshTTL: time.Minute},
		{CodeTTL: 11 * time.Minute},
	} {
		cfg.Issuer, cfg.Audience = "https://as.example", "api"
		_, err := oauth.NewIssuer(cfg)
		assert.Error(t, err, "CodeTTL %v, RefreshTTL %v", cfg.CodeTTL, cfg.RefreshTTL)
	}
}

// TestTokenRequestAsJSON: the code exchange as one API documents it, a
// JSON body with the client's secret in it, works as the form does.
func TestTokenRequestAsJSON(t *testing.T) {
	cs := newCodeServer(t)
	verifier := strings.Repeat("v", 43)
	code := cs.code(t, "web", "https://web.example/cb", "read", verifier)
	body, err := json.Marshal(map[string]string{"client_id": "web", "client_secret": cs.secret, "code": code,
		"grant_type": "authorization_code", "redirect_uri": "https://web.example/cb", "code_verifier": verifier})
	require.NoError(t, err)
	resp, tok := post(t, cs.URL+"/oauth/token", "application/json", string(body), nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, tok)
	assert.Equal(t, "Bearer", tok["token_type"])
	assert.NotEmpty(t, tok["refresh_token"])
	status, me := cs.me(t, tok["access_token"].(string))
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, "alice", me["subject"])
}

// TestTokenInURL: revocation and introspection refuse a token in the URL,
// where logs would keep it, as the token endpoint refuses its credentials
// there; the token is not revoked.
func TestTokenInURL(t *testing.T) {
	cs := newCodeServer(t)
	tok := cs.appTokens(t)
	for _, path := range []string{"/oauth/revoke", "/oauth/introspect"} {
		status, body, _ := cs.call(t, path+"?token="+url.QueryEscape(tok.RefreshToken), "web", cs.secret, url.Values{"token": {"x"}})
		assert.Equal(t, http.StatusBadRequest, status, path)
		assert.Equal(t, "invalid_request", body["error"], path)
	}
	status, _ := cs.refresh(t, tok.RefreshToken)
	assert.Equal(t, http.StatusOK, status, "not revoked")
}
