package oauth_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/apiauth/apiauth"
	"github.com/apiauth/apiauth/oauth"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// Client IDs and secrets are any VSCHAR string (RFC 6749 appendix A): an
// ID with a colon and a percent sign and a secret with a space work, with
// HTTP Basic (where both are form-urlencoded first, §2.3.1) and in the
// body alike.
func TestClientCredentialsVSCHAR(t *testing.T) {
	const id, secret = "svc:a%b", "a secret with spaces: 0123456789 !#$%&'()*+,/"
	clients := oauth.NewMemoryClientStore()
	_, err := oauth.RegisterClient(context.Background(), clients, oauth.ClientSpec{ID: id, Tenant: "acme", Scopes: []apiauth.Scope{apiauth.Read}}, secret)
	require.NoError(t, err)
	is, err := oauth.NewIssuer(oauth.Config{Issuer: "https://a.test", Audience: "api", Clients: clients})
	require.NoError(t, err)
	srv := httptest.NewServer(is.TokenHandler())
	defer srv.Close()
	for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInHeader, oauth2.AuthStyleInParams} {
		cfg := clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: srv.URL, AuthStyle: style}
		tok, err := cfg.Token(context.Background())
		require.NoError(t, err, "style %v", style)
		assert.Equal(t, "read", tok.Extra("scope"))
	}
}

// RegisterClient refuses what RFC 6749 appendix A does not allow in a
// client ID or secret: empty IDs, control and non-ASCII characters.
func TestRegisterClientRefuses(t *testing.T) {
	good := oauth.GenerateClientSecret()
	for _, tc := range []struct{ name, id, secret string }{
		{"empty ID", "", good},
		{"ID with a newline", "svc\n1", good},
		{"ID with non-ASCII", "svcé", good},
		{"secret with a tab", "svc-1", good + "\t"},
		{"short secret", "svc-1", "short"},
	} {
		_, err := oauth.RegisterClient(context.Background(), oauth.NewMemoryClientStore(), oauth.ClientSpec{ID: tc.id, Tenant: "acme"}, tc.secret)
		assert.Error(t, err, tc.name)
	}
	_, err := oauth.RegisterClient(context.Background(), oauth.NewMemoryClientStore(), oauth.ClientSpec{ID: "svc-1"}, good)
	assert.ErrorContains(t, err, "no tenant", "every client acts for a tenant")
}

// Issue signs nothing for a principal without a tenant: the API's own
// verifier would refuse it.
func TestIssueNeedsATenant(t *testing.T) {
	is, err := oauth.NewIssuer(oauth.Config{Issuer: "https://a.test", Audience: "api"})
	require.NoError(t, err)
	_, _, err = is.Issue(&apiauth.Principal{Subject: "u"})
	assert.Error(t, err)
	tok, _, err := is.Issue(&apiauth.Principal{Subject: "u", Tenant: "acme"})
	require.NoError(t, err)
	v, err := apiauth.NewJWTVerifier(apiauth.JWTOptions{}, is.JWTIssuer())
	require.NoError(t, err)
	p, err := v.Verify(context.Background(), tok)
	require.NoError(t, err)
	assert.Equal(t, "acme", p.Tenant)
	assert.Equal(t, "https://a.test", p.Issuer)
}

// A scope parameter that breaks RFC 6749 §3.3 (leading, trailing or double
// spaces, a quote, a backslash) is 400 invalid_scope, never narrowed.
func TestTokenRequestScopeSyntax(t *testing.T) {
	secret := oauth.GenerateClientSecret()
	clients := oauth.NewMemoryClientStore()
	_, err := oauth.RegisterClient(context.Background(), clients, oauth.ClientSpec{ID: "svc-1", Tenant: "acme", Scopes: []apiauth.Scope{apiauth.Read, apiauth.Write}}, secret)
	require.NoError(t, err)
	is, err := oauth.NewIssuer(oauth.Config{Issuer: "https://a.test", Audience: "api", Clients: clients})
	require.NoError(t, err)
	for _, scope := range []string{" read", "read ", "read  write", `read "write"`, `read wr\ite`, "read\twrite"} {
		form := url.Values{"grant_type": {"client_credentials"}, "scope": {scope}}
		req := httptest.NewRequest("POST", "/oauth/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("svc-1", secret)
		rec := httptest.NewRecorder()
		is.TokenHandler().ServeHTTP(rec, req)
		assert.Equal(t, 400, rec.Code, "%q", scope)
		assert.Contains(t, rec.Body.String(), `"error":"invalid_scope"`, "%q", scope)
	}
}

// Config.OnEvent sees every token request: issued, or refused with its
// RFC 6749 code; never the secret.
func TestTokenEvents(t *testing.T) {
	secret := oauth.GenerateClientSecret()
	clients := oauth.NewMemoryClientStore()
	_, err := oauth.RegisterClient(context.Background(), clients, oauth.ClientSpec{ID: "svc-1", Tenant: "acme", Scopes: []apiauth.Scope{apiauth.Read}}, secret)
	require.NoError(t, err)
	var events []apiauth.Event
	is, err := oauth.NewIssuer(oauth.Config{Issuer: "https://a.test", Audience: "api", Clients: clients,
		OnEvent: func(_ *http.Request, e apiauth.Event) { events = append(events, e) }})
	require.NoError(t, err)
	for _, s := range []string{secret, "wrong-" + secret} {
		req := httptest.NewRequest("POST", "/oauth/token", strings.NewReader("grant_type=client_credentials"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("svc-1", s)
		is.TokenHandler().ServeHTTP(httptest.NewRecorder(), req)
	}
	require.Len(t, events, 2)
	assert.Equal(t, "token", events[0].Layer)
	assert.Empty(t, events[0].Code)
	assert.Equal(t, apiauth.Code("invalid_client"), events[1].Code)
	assert.Equal(t, http.StatusUnauthorized, events[1].Status)
	assert.NotEmpty(t, events[1].RequestID)
	assert.NotContains(t, events[1].Err.Error(), secret)
}

// RegisterClient checks redirect URIs as RFC 6749 §3.1.2 and RFC 8252 §7
// say, and that a public client has no secret and a confidential one has.
func TestRegisterClientRedirectsAndPublic(t *testing.T) {
	good := oauth.GenerateClientSecret()
	register := func(spec oauth.ClientSpec, secret string) error {
		spec.ID, spec.Tenant = "app-1", "acme"
		_, err := oauth.RegisterClient(context.Background(), oauth.NewMemoryClientStore(), spec, secret)
		return err
	}
	for _, u := range []string{"https://app.example/cb", "https://app.example:8443/cb?x=1", "http://127.0.0.1/cb", "http://[::1]:8080/cb", "com.example.app:/oauth2redirect"} {
		assert.NoError(t, register(oauth.ClientSpec{RedirectURIs: []string{u}}, good), u)
	}
	for _, u := range []string{"/cb", "https://app.example/cb#frag", "https://app.example/cb#", "https://user@app.example/cb",
		"http://app.example/cb", "http://localhost/cb", "javascript:alert(1)", "data:text/html,x", "https:///cb", "app:/cb"} {
		assert.Error(t, register(oauth.ClientSpec{RedirectURIs: []string{u}}, good), u)
	}
	assert.NoError(t, register(oauth.ClientSpec{Public: true}, ""))
	assert.Error(t, register(oauth.ClientSpec{Public: true}, good), "a public client has no secret")
	assert.Error(t, register(oauth.ClientSpec{}, ""), "a confidential client has one")

	store := oauth.NewMemoryClientStore()
	uris := []string{"https://app.example/cb"}
	_, err := oauth.RegisterClient(context.Background(), store, oauth.ClientSpec{ID: "app", Tenant: "acme", Name: "App", Public: true, RedirectURIs: uris}, "")
	require.NoError(t, err)
	uris[0] = "https://evil.example/cb"
	c, err := store.GetClient(context.Background(), "app")
	require.NoError(t, err)
	assert.Equal(t, []string{"https://app.example/cb"}, c.RedirectURIs, "the store keeps its own copy")
	assert.True(t, c.Public)
	assert.Equal(t, "App", c.Name)
}
