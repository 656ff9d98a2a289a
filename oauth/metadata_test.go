package oauth_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/apiauth/apiauth"
	"github.com/apiauth/apiauth/oauth"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// getMetadata fetches and decodes the metadata document at base.
func getMetadata(t *testing.T, base string) map[string]any {
	t.Helper()
	resp, err := http.Get(base + "/.well-known/oauth-authorization-server")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	assert.Equal(t, "public, max-age=300", resp.Header.Get("Cache-Control"))
	var m map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&m))
	return m
}

// TestMetadata is RFC 8414 for an issuer with every flow: the endpoints as
// mounted, and what the issuer supports.
func TestMetadata(t *testing.T) {
	cs := newCodeServer(t)
	m := getMetadata(t, cs.URL)
	assert.Equal(t, map[string]any{
		"issuer":                                         cs.URL,
		"authorization_endpoint":                         cs.URL + "/oauth/authorize",
		"token_endpoint":                                 cs.URL + "/oauth/token",
		"revocation_endpoint":                            cs.URL + "/oauth/revoke",
		"introspection_endpoint":                         cs.URL + "/oauth/introspect",
		"response_types_supported":                       []any{"code"},
		"response_modes_supported":                       []any{"query"},
		"grant_types_supported":                          []any{"client_credentials", "authorization_code", "refresh_token"},
		"token_endpoint_auth_methods_supported":          []any{"client_secret_basic", "client_secret_post", "none"},
		"revocation_endpoint_auth_methods_supported":     []any{"client_secret_basic", "client_secret_post", "none"},
		"introspection_endpoint_auth_methods_supported":  []any{"client_secret_basic", "client_secret_post"},
		"code_challenge_methods_supported":               []any{"S256"},
		"authorization_response_iss_parameter_supported": true,
	}, m)

	resp, err := http.Head(cs.URL + "/.well-known/oauth-authorization-server")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Empty(t, body)
	resp, err = http.Post(cs.URL+"/.well-known/oauth-authorization-server", "text/plain", nil)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	assert.Equal(t, "GET, HEAD", resp.Header.Get("Allow"))
}

// TestMetadataMatchesTokenEndpoint: every grant type the metadata names
// is one the token endpoint takes, and every other is
// unsupported_grant_type, for issuers with and without the code flow and
// API key exchange.
func TestMetadataMatchesTokenEndpoint(t *testing.T) {
	keys := apiauth.NewKeys(apiauth.NewMemoryKeyStore())
	for name, cfg := range map[string]oauth.Config{
		"client credentials only": {Clients: oauth.NewMemoryClientStore()},
		"API keys only":           {Keys: keys},
		"everything": {Clients: oauth.NewMemoryClientStore(), Keys: keys, Grants: oauth.NewMemoryGrantStore(),
			Users: signIn},
	} {
		mux := http.NewServeMux()
		srv := httptest.NewServer(mux)
		cfg.Issuer, cfg.Audience = srv.URL, "api"
		is, err := oauth.NewIssuer(cfg)
		require.NoError(t, err)
		mux.Handle("/token", is.TokenHandler())
		endpoints := oauth.Endpoints{Token: "/token"}
		if cfg.Grants != nil {
			endpoints.Authorization = "/authorize"
		}
		mux.Handle("/.well-known/oauth-authorization-server", is.MetadataHandler(endpoints))
		m := getMetadata(t, srv.URL)
		assert.Equal(t, srv.URL+"/token", m["token_endpoint"], name)

		listed := map[string]bool{}
		for _, g := range m["grant_types_supported"].([]any) {
			listed[g.(string)] = true
		}
		for _, grant := range []string{"client_credentials", "authorization_code", "refresh_token", oauth.GrantTokenExchange, "password", "implicit"} {
			form := url.Values{"grant_type": {grant}, "subject_token_type": {oauth.TokenTypeAPIKey}}
			_, body := post(t, srv.URL+"/token", "application/x-www-form-urlencoded", form.Encode(), nil)
			if listed[grant] {
				assert.NotEqual(t, "unsupported_grant_type", body["error"], "%s: %s is listed", name, grant)
			} else {
				assert.Equal(t, "unsupported_grant_type", body["error"], "%s: %s is not listed", name, grant)
			}
		}
		srv.Close()
	}
}

// TestMetadataRefuses: endpoints that are not URLs, or that name a flow
// the issuer does not run, are a mistake caught at start-up.
func TestMetadataRefuses(t *testing.T) {
	plain, err := oauth.NewIssuer(oauth.Config{Issuer: "https://as.example", Audience: "api", Clients: oauth.NewMemoryClientStore()})
	require.NoError(t, err)
	assert.PanicsWithError(t, "oauth: metadata: the authorization endpoint is given, but the issuer's Config does not enable it", func() {
		plain.MetadataHandler(oauth.Endpoints{Authorization: "/authorize"})
	})
	assert.Panics(t, func() { plain.MetadataHandler(oauth.Endpoints{Token: "http://[::1"}) })
	keysOnly, err := oauth.NewIssuer(oauth.Config{Issuer: "https://as.example", Audience: "api", Keys: apiauth.NewKeys(apiauth.NewMemoryKeyStore())})
	require.NoError(t, err)
	assert.PanicsWithError(t, "oauth: metadata: the revocation endpoint is given, but the issuer's Config does not enable it", func() {
		keysOnly.MetadataHandler(oauth.Endpoints{Revocation: "/revoke"})
	})

	// The code flow without its authorization endpoint in the document:
	// its grants are not advertised (RFC 8414 §2).
	code, err := oauth.NewIssuer(oauth.Config{Issuer: "https://as.example", Audience: "api", Clients: oauth.NewMemoryClientStore(),
		Grants: oauth.NewMemoryGrantStore(), Users: signIn})
	require.NoError(t, err)
	rec := httptest.NewRecorder()
	code.MetadataHandler(oauth.Endpoints{Token: "/token"}).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	assert.Contains(t, rec.Body.String(), `"grant_types_supported":["client_credentials"]`)
	relative, err := oauth.NewIssuer(oauth.Config{Issuer: "as.example", Audience: "api"})
	require.NoError(t, err)
	assert.Panics(t, func() { relative.MetadataHandler(oauth.Endpoints{}) })

	// A full URL is kept as given; a reference resolves against the issuer.
	is, err := oauth.NewIssuer(oauth.Config{Issuer: "https://as.example/t1", Audience: "api"})
	require.NoError(t, err)
	rec = httptest.NewRecorder()
	is.MetadataHandler(oauth.Endpoints{Token: "https://token.example/t", JWKS: "jwks.json"}).
		ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	var m map[string]any
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &m))
	assert.Equal(t, "https://token.example/t", m["token_endpoint"])
	assert.Equal(t, "https://as.example/jwks.json", m["jwks_uri"])
	assert.Equal(t, []any{}, m["grant_types_supported"])
	assert.Equal(t, []any{}, m["response_types_supported"])
}
