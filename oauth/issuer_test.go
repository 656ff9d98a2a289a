package oauth_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/apiauth/apiauth"
	"github.com/apiauth/apiauth/oauth"
	"github.com/go-jose/go-jose/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

const (
	clientSecret = "s3cret-0123456789-abcdefghijklmnopqrstuvwxyz"
	readerKey    = "reader-key-0123456789abcdef"
)

// tokenServer is a token endpoint and a protected API on one loopback
// server, wired as a user would.
type tokenServer struct {
	*httptest.Server
	issuer *oauth.Issuer
	keys   *apiauth.Keys
	now    *time.Time
}

func newTokenServer(t *testing.T) *tokenServer {
	t.Helper()
	now := time.Now()
	ts := &tokenServer{now: &now}
	clock := func() time.Time { return *ts.now }
	ts.keys = apiauth.NewMemoryKeys()
	ts.keys.Now = clock
	_, err := ts.keys.Import(context.Background(), readerKey, apiauth.KeySpec{ID: "k-reader", Subject: "user-1", Tenant: "acme", Scopes: []apiauth.Scope{apiauth.Read}, Tier: "pro"})
	require.NoError(t, err)
	clients := oauth.NewMemoryClientStore()
	_, err = oauth.RegisterClient(context.Background(), clients, oauth.ClientSpec{ID: "svc-1", Tenant: "acme", Scopes: []apiauth.Scope{apiauth.Read, apiauth.Write}, Tier: "pro"}, clientSecret)
	require.NoError(t, err)

	mux := http.NewServeMux()
	ts.Server = httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	ts.issuer, err = oauth.NewIssuer(oauth.Config{
		Issuer: ts.URL, Audience: "orders-api", Clients: clients, Keys: ts.keys, Now: clock,
		FailureLimit: apiauth.Tier{Limits: []apiauth.Limit{{Requests: 5, Window: time.Hour}}},
	})
	require.NoError(t, err)
	verifier, err := apiauth.NewJWTVerifier(apiauth.JWTOptions{Keys: ts.keys, Now: clock},
		ts.issuer.JWTIssuer())
	require.NoError(t, err)
	mux.Handle("/oauth/token", ts.issuer.TokenHandler())
	mux.Handle("/v1/auth/token", ts.issuer.APIKeyExchangeHandler())
	mux.Handle("/.well-known/jwks.json", ts.issuer.JWKSHandler())
	mux.Handle("/v1/", apiauth.Authenticate(ts.keys, apiauth.WithJWT(verifier))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := apiauth.PrincipalFrom(r.Context())
		_ = json.NewEncoder(w).Encode(p)
	})))
	return ts
}

// me calls the protected API with a bearer token.
func (ts *tokenServer) me(t *testing.T, token string) (int, map[string]any) {
	t.Helper()
	return getMe(t, ts.URL, token)
}

// getMe calls GET base/v1/me with a bearer token and returns the status
// and the principal the test API echoes.
func getMe(t *testing.T, base, token string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/v1/me", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}

func TestClientCredentialsWithOAuth2Client(t *testing.T) {
	ts := newTokenServer(t)
	for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInHeader, oauth2.AuthStyleInParams} {
		cfg := clientcredentials.Config{ClientID: "svc-1", ClientSecret: clientSecret, TokenURL: ts.URL + "/oauth/token", AuthStyle: style}
		tok, err := cfg.Token(context.Background())
		require.NoError(t, err)
		assert.Equal(t, "Bearer", tok.TokenType)
		assert.WithinDuration(t, time.Now().Add(time.Hour), tok.Expiry, 5*time.Second)
		assert.Equal(t, "read write", tok.Extra("scope"))

		status, me := ts.me(t, tok.AccessToken)
		require.Equal(t, 200, status)
		assert.Equal(t, "svc-1", me["subject"])
		assert.Equal(t, "acme", me["tenant"])
		assert.Equal(t, "pro", me["tier"])
		assert.Equal(t, []any{"read", "write"}, me["scopes"])
	}
	// A narrower scope is granted as asked.
	cfg := clientcredentials.Config{ClientID: "svc-1", ClientSecret: clientSecret, TokenURL: ts.URL + "/oauth/token", Scopes: []string{"read"}}
	tok, err := cfg.Token(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "read", tok.Extra("scope"))
	// The client library sees a wrong secret as an error.
	cfg.ClientSecret = "wrong-" + clientSecret
	_, err = cfg.Token(context.Background())
	assert.ErrorContains(t, err, "invalid_client")
}

// post sends a raw token request.
func post(t *testing.T, target, contentType, body string, hdr http.Header) (*http.Response, map[string]any) {
	t.Helper()
	req, err := http.NewRequest("POST", target, strings.NewReader(body))
	require.NoError(t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var m map[string]any
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &m)
	return resp, m
}

func TestTokenEndpointErrors(t *testing.T) {
	ts := newTokenServer(t)
	const form = "application/x-www-form-urlencoded"
	basic := func(id, secret string) http.Header {
		req, _ := http.NewRequest("POST", "/", nil)
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
		return http.Header{"Authorization": req.Header["Authorization"]}
	}
	good := "grant_type=client_credentials&client_id=svc-1&client_secret=" + url.QueryEscape(clientSecret)
	for _, tc := range []struct {
		name        string
		method      string
		path        string
		ct, body    string
		hdr         http.Header
		status      int
		code        string
		wantBasic   bool
		wantAllow   string
		descContain string
	}{
		{"GET", "GET", "/oauth/token", "", "", nil, 405, "invalid_request", false, "POST", "POST only"},
		{"text body", "POST", "/oauth/token", "text/plain", "grant_type=client_credentials", nil, 400, "invalid_request", false, "", "x-www-form-urlencoded"},
		{"JSON, no client", "POST", "/oauth/token", "application/json", `{"grant_type":"client_credentials"}`, nil, 401, "invalid_client", true, "", ""},
		{"JSON, repeated", "POST", "/oauth/token", "application/json", `{"grant_type":"client_credentials","grant_type":"password"}`, nil, 400, "invalid_request", false, "", "repeated"},
		{"JSON, escaped repeat", "POST", "/oauth/token", "application/json", `{"grant_type":"x","grant\u005ftype":"client_credentials"}`, nil, 400, "invalid_request", false, "", "repeated"},
		{"JSON, number", "POST", "/oauth/token", "application/json", `{"grant_type":"client_credentials","client_id":1}`, nil, 400, "invalid_request", false, "", "strings"},
		{"JSON, nested", "POST", "/oauth/token", "application/json", `{"grant_type":{"a":"b"}}`, nil, 400, "invalid_request", false, "", "strings"},
		{"JSON, array", "POST", "/oauth/token", "application/json", `["grant_type"]`, nil, 400, "invalid_request", false, "", "strings"},
		{"JSON, trailing", "POST", "/oauth/token", "application/json", `{"grant_type":"client_credentials"} {}`, nil, 400, "invalid_request", false, "", "strings"},
		{"JSON, broken", "POST", "/oauth/token", "application/json", `{"grant_type":`, nil, 400, "invalid_request", false, "", "strings"},
		{"JSON, two auth methods", "POST", "/oauth/token", "application/json", `{"grant_type":"client_credentials","client_id":"svc-1","client_secret":"x"}`, basic("svc-1", clientSecret), 400, "invalid_request", false, "", "one client authentication"},
		{"no grant", "POST", "/oauth/token", form, "client_id=svc-1", nil, 400, "invalid_request", false, "", "grant_type"},
		{"unsupported grant", "POST", "/oauth/token", form, "grant_type=password&username=a&password=b", nil, 400, "unsupported_grant_type", false, "", ""},
		{"repeated parameter", "POST", "/oauth/token", form, good + "&grant_type=client_credentials", nil, 400, "invalid_request", false, "", "repeated"},
		{"secret in the URL", "POST", "/oauth/token?client_secret=" + url.QueryEscape(clientSecret), form, "grant_type=client_credentials&client_id=svc-1", nil, 400, "invalid_request", false, "", "URL"},
		{"two auth methods", "POST", "/oauth/token", form, good, basic("svc-1", clientSecret), 400, "invalid_request", false, "", "one client authentication"},
		{"wrong secret", "POST", "/oauth/token", form, "grant_type=client_credentials&client_id=svc-1&client_secret=wrong-secret-0123456789abcdefghijkl", nil, 401, "invalid_client", true, "", "Client authentication failed."},
		{"unknown client", "POST", "/oauth/token", form, "grant_type=client_credentials&client_id=nobody&client_secret=wrong-secret-0123456789abcdefghijkl", nil, 401, "invalid_client", true, "", "Client authentication failed."},
		{"basic wrong secret", "POST", "/oauth/token", form, "grant_type=client_credentials", basic("svc-1", "nope"), 401, "invalid_client", true, "", ""},
		{"no client", "POST", "/oauth/token", form, "grant_type=client_credentials", nil, 401, "invalid_client", true, "", ""},
		{"scope outside the client's", "POST", "/oauth/token", form, good + "&scope=admin", nil, 400, "invalid_scope", false, "", "admin"},
		{"malformed scope", "POST", "/oauth/token", form, good + "&scope=" + url.QueryEscape(`a"b`), nil, 400, "invalid_scope", false, "", ""},
		{"exchange: wrong type", "POST", "/oauth/token", form, "grant_type=" + url.QueryEscape(oauth.GrantTokenExchange) + "&subject_token=" + readerKey + "&subject_token_type=urn:ietf:params:oauth:token-type:jwt", nil, 400, "invalid_request", false, "", "subject_token_type"},
		{"exchange: unknown key", "POST", "/oauth/token", form, "grant_type=" + url.QueryEscape(oauth.GrantTokenExchange) + "&subject_token=unknown-key-0123456789abcdef&subject_token_type=" + url.QueryEscape(oauth.TokenTypeAPIKey), nil, 400, "invalid_request", false, "", "invalid"},
		{"json route: not JSON", "POST", "/v1/auth/token", form, "apiKey=" + readerKey, nil, 400, "invalid_request", false, "", "application/json"},
		{"json route: no key", "POST", "/v1/auth/token", "application/json", `{"key":"x"}`, nil, 400, "invalid_request", false, "", "apiKey"},
		{"json route: GET", "GET", "/v1/auth/token", "", "", nil, 405, "invalid_request", false, "POST", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, ts.URL+tc.path, strings.NewReader(tc.body))
			require.NoError(t, err)
			if tc.ct != "" {
				req.Header.Set("Content-Type", tc.ct)
			}
			for k, v := range tc.hdr {
				req.Header[k] = v
			}
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			var body map[string]string
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
			assert.Equal(t, tc.status, resp.StatusCode)
			assert.Equal(t, tc.code, body["error"])
			assert.NotEmpty(t, body["request_id"])
			assert.Len(t, body, 3, "error, error_description, request_id: %v", body)
			assert.Contains(t, body["error_description"], tc.descContain)
			assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
			assert.Equal(t, "no-cache", resp.Header.Get("Pragma"))
			assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
			assert.Equal(t, tc.wantAllow, resp.Header.Get("Allow"))
			if tc.wantBasic {
				assert.Equal(t, `Basic realm="token"`, resp.Header.Get("WWW-Authenticate"))
			} else {
				assert.Empty(t, resp.Header.Get("WWW-Authenticate"))
			}
			assert.NotContains(t, body["error_description"], clientSecret)
		})
	}
}

func TestAPIKeyExchange(t *testing.T) {
	ts := newTokenServer(t)
	// The JSON route.
	resp, body := post(t, ts.URL+"/v1/auth/token", "application/json", `{"apiKey":"`+readerKey+`"}`, nil)
	require.Equal(t, 200, resp.StatusCode, body)
	assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
	assert.Equal(t, "Bearer", body["token_type"])
	assert.Equal(t, float64(3600), body["expires_in"])
	assert.Equal(t, "read", body["scope"])
	jsonToken := body["access_token"].(string)

	// RFC 8693.
	resp, body = post(t, ts.URL+"/oauth/token", "application/x-www-form-urlencoded",
		"grant_type="+url.QueryEscape(oauth.GrantTokenExchange)+"&subject_token="+readerKey+"&subject_token_type="+url.QueryEscape(oauth.TokenTypeAPIKey), nil)
	require.Equal(t, 200, resp.StatusCode, body)
	assert.Equal(t, oauth.TokenTypeAccessToken, body["issued_token_type"])
	formToken := body["access_token"].(string)

	for _, tok := range []string{jsonToken, formToken} {
		status, me := ts.me(t, tok)
		require.Equal(t, 200, status)
		assert.Equal(t, "user-1", me["subject"])
		assert.Equal(t, "k-reader", me["key_id"], "the token shares the key's rate-limit bucket")
		assert.Equal(t, "pro", me["tier"])
	}

	// An access token cannot be exchanged for another.
	resp, body = post(t, ts.URL+"/v1/auth/token", "application/json", `{"apiKey":"`+jsonToken+`"}`, nil)
	assert.Equal(t, 400, resp.StatusCode)
	assert.Equal(t, "invalid_grant", body["error"])

	// RFC 8693 §2.2.2: a subject_token that cannot be exchanged is
	// invalid_request; the JSON route answers invalid_grant.
	for _, subject := range []string{formToken, "unknown-key-0123456789abcdef", "bad,key-0123456789abcdef"} {
		resp, body = post(t, ts.URL+"/oauth/token", "application/x-www-form-urlencoded",
			"grant_type="+url.QueryEscape(oauth.GrantTokenExchange)+"&subject_token="+url.QueryEscape(subject)+"&subject_token_type="+url.QueryEscape(oauth.TokenTypeAPIKey), nil)
		assert.Equal(t, 400, resp.StatusCode, subject)
		assert.Equal(t, "invalid_request", body["error"], subject)
	}

	// Revoking the key revokes its tokens at once.
	require.NoError(t, ts.keys.Revoke(context.Background(), "k-reader"))
	status, _ := ts.me(t, jsonToken)
	assert.Equal(t, 401, status)
	resp, body = post(t, ts.URL+"/v1/auth/token", "application/json", `{"apiKey":"`+readerKey+`"}`, nil)
	assert.Equal(t, 400, resp.StatusCode)
	assert.Equal(t, "invalid_grant", body["error"])
	assert.Equal(t, "The API key has been revoked.", body["error_description"])
}

func TestTokenEndpointBruteForce(t *testing.T) {
	ts := newTokenServer(t)
	bad := "grant_type=client_credentials&client_id=svc-1&client_secret=wrong-secret-0123456789abcdefghijkl"
	for i := 0; i < 5; i++ {
		resp, _ := post(t, ts.URL+"/oauth/token", "application/x-www-form-urlencoded", bad, nil)
		require.Equal(t, 401, resp.StatusCode)
	}
	// Now even the right secret is refused for a while, unseen.
	resp, body := post(t, ts.URL+"/oauth/token", "application/x-www-form-urlencoded",
		"grant_type=client_credentials&client_id=svc-1&client_secret="+url.QueryEscape(clientSecret), nil)
	assert.Equal(t, 429, resp.StatusCode)
	assert.Equal(t, "720", resp.Header.Get("Retry-After"), "5 per hour: one every 12 minutes")
	assert.Equal(t, "invalid_client", body["error"])
}

func TestIssuerRotation(t *testing.T) {
	ts := newTokenServer(t)
	cfg := clientcredentials.Config{ClientID: "svc-1", ClientSecret: clientSecret, TokenURL: ts.URL + "/oauth/token"}
	old, err := cfg.Token(context.Background())
	require.NoError(t, err)
	next, err := oauth.GenerateSigningKey("ES256")
	require.NoError(t, err)
	require.NoError(t, ts.issuer.Rotate(next))
	assert.Len(t, ts.issuer.PublicKeys(), 2)
	fresh, err := cfg.Token(context.Background())
	require.NoError(t, err)
	for _, tok := range []*oauth2.Token{old, fresh} {
		status, _ := ts.me(t, tok.AccessToken)
		assert.Equal(t, 200, status)
	}
	// Once the old key's tokens have all expired, it is no longer published.
	*ts.now = ts.now.Add(time.Hour + 6*time.Minute)
	assert.Len(t, ts.issuer.PublicKeys(), 1)
	assert.Equal(t, next.ID, ts.issuer.PublicKeys()[0].ID)
}

// TestIssuedTokensVerifyWithGoJose checks issued tokens with an independent
// JOSE implementation, from nothing but the published JWK Set, across a
// key rotation.
func TestIssuedTokensVerifyWithGoJose(t *testing.T) {
	ts := newTokenServer(t)
	cfg := clientcredentials.Config{ClientID: "svc-1", ClientSecret: clientSecret, TokenURL: ts.URL + "/oauth/token"}
	old, err := cfg.Token(context.Background())
	require.NoError(t, err)
	next, err := oauth.GenerateSigningKey("ES256")
	require.NoError(t, err)
	require.NoError(t, ts.issuer.Rotate(next))
	fresh, err := cfg.Token(context.Background())
	require.NoError(t, err)

	resp, err := http.Get(ts.URL + "/.well-known/jwks.json")
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, "application/jwk-set+json", resp.Header.Get("Content-Type"))
	var set jose.JSONWebKeySet
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&set))
	require.Len(t, set.Keys, 2, "the rotated-out key stays published while its tokens live")
	for _, k := range set.Keys {
		assert.True(t, k.IsPublic(), "only public keys are published")
		assert.Equal(t, "sig", k.Use)
	}

	for _, tok := range []*oauth2.Token{old, fresh} {
		jws, err := jose.ParseSignedCompact(tok.AccessToken, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
		require.NoError(t, err)
		require.Len(t, jws.Signatures, 1)
		hdr := jws.Signatures[0].Header
		assert.Equal(t, "at+jwt", hdr.ExtraHeaders[jose.HeaderType])
		keys := set.Key(hdr.KeyID)
		require.Len(t, keys, 1, "kid %q is published", hdr.KeyID)
		payload, err := jws.Verify(keys[0].Key)
		require.NoError(t, err)
		var claims map[string]any
		require.NoError(t, json.Unmarshal(payload, &claims))
		assert.Equal(t, ts.URL, claims["iss"])
		assert.Equal(t, "orders-api", claims["aud"])
		assert.Equal(t, "svc-1", claims["sub"])
		assert.Equal(t, "svc-1", claims["client_id"])
		assert.NotEmpty(t, claims["jti"])
		assert.InDelta(t, 3600, claims["exp"].(float64)-claims["iat"].(float64), 1)
	}
}

// An ID still published for a retired key cannot be reused.
func TestIssuerRotateRefusesRetiredID(t *testing.T) {
	first, err := oauth.GenerateSigningKey("ES256")
	require.NoError(t, err)
	is, err := oauth.NewIssuer(oauth.Config{Issuer: "https://a.test", Audience: "api", SigningKey: &first})
	require.NoError(t, err)
	second, _ := oauth.GenerateSigningKey("ES256")
	require.NoError(t, is.Rotate(second))
	again, _ := oauth.GenerateSigningKey("ES256")
	again.ID = first.ID
	assert.Error(t, is.Rotate(again))
}

// A verifier of an issuer that exchanges API keys checks the key behind
// every token: built without JWTOptions.Keys (the zero JWTOptions), it is
// refused, so that an exchanged token can never outlive its key's
// revocation. An issuer that exchanges no keys mints no token bound to one.
func TestJWTIssuerBindsKeyIDs(t *testing.T) {
	keys := apiauth.NewMemoryKeys()
	is, err := oauth.NewIssuer(oauth.Config{Issuer: "https://a.test", Audience: "api", Keys: keys})
	require.NoError(t, err)
	assert.True(t, is.JWTIssuer().KeyIDs)
	_, err = apiauth.NewJWTVerifier(apiauth.JWTOptions{}, is.JWTIssuer())
	assert.ErrorContains(t, err, "JWTOptions.Keys is required")
	_, err = apiauth.NewJWTVerifier(apiauth.JWTOptions{Keys: keys}, is.JWTIssuer())
	assert.NoError(t, err)

	plain, err := oauth.NewIssuer(oauth.Config{Issuer: "https://b.test", Audience: "api"})
	require.NoError(t, err)
	assert.False(t, plain.JWTIssuer().KeyIDs)
	_, err = apiauth.NewJWTVerifier(apiauth.JWTOptions{}, plain.JWTIssuer())
	assert.NoError(t, err)
	_, _, err = plain.Issue(&apiauth.Principal{Subject: "u", KeyID: "k-1"})
	assert.Error(t, err)
}
