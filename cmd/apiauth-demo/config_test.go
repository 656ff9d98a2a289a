package main

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/apiauth/apiauth"
	"github.com/apiauth/apiauth/oauth"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Client secrets in the config files of the tests.
const (
	cfgClientSecret = "cfg-client-secret-0123456789-abcdefghij"
	cfgShortSecret  = "cfg-short-secret-0123456789"
)

func TestConfigKeys(t *testing.T) {
	// A key in the library's format works as well as an imported one.
	libKey, err := apiauth.GenerateKey("sk_test")
	require.NoError(t, err)
	cfg := `{
		"realm": "orders-api",
		"keys": [
			{"id": "k-reader", "name": "reader", "key": "` + cfgReaderKey + `", "subject": "user-1",
			 "tenant": "acme", "scopes": ["read"], "tier": "pro", "expires_at": "2999-01-01T00:00:00Z"},
			{"id": "k-expired", "key": "` + cfgExpiredKey + `", "tenant": "acme", "scopes": ["read"],
			 "expires_at": "2001-01-01T00:00:00Z"},
			{"id": "k-lib", "key": "` + libKey + `", "tenant": "globex", "scopes": ["admin", "orders:export"], "tier": "enterprise"}
		],
		"clients": [], "tiers": {}, "issuer": null
	}`
	d := startDemo(t, "-config", writeConfig(t, cfg))
	assert.NotContains(t, d.stdout.String(), "Generated API keys", "configured keys: none generated")
	assert.NotContains(t, d.stdout.String(), cfgReaderKey, "configured keys are not printed")
	assert.Empty(t, d.keys)

	tests := []struct {
		name   string
		key    string
		status int
		want   map[string]any
		code   string
		desc   string // error_description of the challenge
	}{
		{"imported key", cfgReaderKey, 200, map[string]any{
			"subject": "user-1", "tenant": "acme", "scopes": []any{"read"}, "tier": "pro", "key_id": "k-reader"}, "", ""},
		{"library-format key, subject defaults to the ID", libKey, 200, map[string]any{
			"subject": "k-lib", "tenant": "globex", "scopes": []any{"admin", "orders:export"}, "tier": "enterprise", "key_id": "k-lib"}, "", ""},
		{"expired key", cfgExpiredKey, 401, nil, "token_expired", "The access token or API key has expired."},
		{"unknown key", "cfg-unknown-key-0123456789", 401, nil, "invalid_token", "The access token or API key is invalid."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := d.do(http.MethodGet, "/v1/me", tt.key, nil)
			if tt.code != "" {
				requireProblem(t, res, tt.status, tt.code)
				assert.Equal(t, `Bearer realm="orders-api", error="invalid_token", error_description="`+tt.desc+`"`,
					res.header.Get("WWW-Authenticate"))
				return
			}
			require.Equal(t, tt.status, res.status, "body: %s", res.body)
			assert.Equal(t, tt.want, res.json(t))
		})
	}
}

func TestConfigWithoutKeysGeneratesThem(t *testing.T) {
	d := startDemo(t, "-config", writeConfig(t, `{"realm": "orders-api", "keys": []}`))
	res := d.do(http.MethodGet, "/v1/me", d.key("acme", "reader"), nil)
	assert.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
	res = d.do(http.MethodGet, "/v1/me", "", nil)
	assert.Equal(t, `Bearer realm="orders-api"`, res.header.Get("WWW-Authenticate"))
}

func TestConfigPublicClient(t *testing.T) {
	cfg := `{"clients": [
		{"client_id": "app-1", "name": "Orders app", "public": true, "tenant": "acme", "scopes": ["read"],
		 "redirect_uris": ["com.example.orders:/cb", "http://127.0.0.1/cb", "https://app.example/cb"]},
		{"client_id": "svc-1", "name": "Billing", "client_secret": "` + cfgClientSecret + `", "tenant": "acme", "scopes": ["read"],
		 "redirect_uris": ["https://billing.example/cb"]},
		{"client_id": "svc-2", "public": false, "client_secret": "` + cfgClientSecret + `", "tenant": "acme", "scopes": ["read"]}
	]}`
	parsed, err := parseConfig([]byte(cfg))
	require.NoError(t, err)
	defer parsed.Close()
	require.Len(t, parsed.Clients, 3)
	assert.Equal(t, oauth.ClientSpec{ID: "app-1", Name: "Orders app", Public: true, Tenant: "acme", Scopes: []apiauth.Scope{"read"},
		RedirectURIs: []string{"com.example.orders:/cb", "http://127.0.0.1/cb", "https://app.example/cb"}}, parsed.Clients[0].Spec())
	assert.Equal(t, oauth.ClientSpec{ID: "svc-1", Name: "Billing", Tenant: "acme", Scopes: []apiauth.Scope{"read"},
		RedirectURIs: []string{"https://billing.example/cb"}}, parsed.Clients[1].Spec())
	assert.Equal(t, oauth.ClientSpec{ID: "svc-2", Tenant: "acme", Scopes: []apiauth.Scope{"read"}}, parsed.Clients[2].Spec())

	// The demo registers them all; the public client has no secret, so
	// the client_credentials grant, which needs one, refuses it.
	d := startDemo(t, "-config", writeConfig(t, cfg))
	assert.Empty(t, d.clientID, "configured clients: no demo client is generated")
	res := d.postForm("/oauth/token", "app-1", "", url.Values{"grant_type": {"client_credentials"}})
	assert.Equal(t, http.StatusUnauthorized, res.status, "body: %s", res.body)
	assert.Equal(t, "invalid_client", res.json(t)["error"])
	res = d.postForm("/oauth/token", "svc-1", cfgClientSecret, url.Values{"grant_type": {"client_credentials"}})
	assert.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
}

func TestBadConfig(t *testing.T) {
	const (
		good       = `"key": "` + cfgReaderKey + `", "tenant": "acme"`
		goodClient = `"client_secret": "` + cfgClientSecret + `", "tenant": "acme", "scopes": ["read"]`
		goodIdP    = `{"issuer": "https://idp.example", "audience": "demo-api", "jwks_url": "https://idp.example/jwks.json"}`
	)
	tests := []struct {
		name   string
		config string
		want   string // the one stderr line, or a part of it
	}{
		{"bad JSON", `{"realm": "demo",}`, `config: invalid JSON at line 1, column 18`},
		{"bad JSON, line 3", "{\n  \"realm\": \"demo\",\n}", `config: invalid JSON at line 3, column 1`},
		{"truncated JSON", `{"keys": [`, `config: invalid JSON: unexpected end of input`},
		{"empty file", ``, `config: empty document`},
		{"unknown field", `{"realms": "demo"}`, `config: unknown field "realms"`},
		{"unknown key field", `{"keys": [{"id": "a", ` + good + `, "scope": ["read"]}]}`, `config: keys[0]: unknown field "scope"`},
		{"wrong type", `{"keys": [{"id": "a", ` + good + `, "scopes": "read"}]}`, `config: keys[0].scopes: want an array, got JSON string`},
		{"duplicate id", `{"keys": [{"id": "k-reader", ` + good + `}, {"id": "k-reader", "key": "another-key-0123456789", "tenant": "acme"}]}`,
			`config: keys[1].id "k-reader": duplicate key ID (also keys[0])`},
		{"duplicate key", `{"keys": [{"id": "a", ` + good + `}, {"id": "b", ` + good + `}]}`,
			`config: keys[1].key (id "b"): duplicate key: the same key as keys[0]`},
		{"missing key", `{"keys": [{"id": "a"}]}`, `config: keys[0].key (id "a"): missing`},
		{"short key", `{"keys": [{"id": "a", "key": "too-short"}]}`, `config: keys[0].key (id "a"): not a usable API key`},
		{"key not a b64token", `{"keys": [{"id": "a", "key": "has spaces in it, 0123456789"}]}`, `config: keys[0].key (id "a"): not a usable API key`},
		{"bad checksum", `{"keys": [{"id": "a", "key": "sk_live_` + strings.Repeat("A", 33) + `"}]}`, `config: keys[0].key (id "a"): not a usable API key`},
		{"bad scope", `{"keys": [{"id": "a", ` + good + `, "scopes": ["read", "bad scope"]}]}`, `config: keys[0].scopes[1] "bad scope": not a valid scope`},
		{"unknown tier", `{"keys": [{"id": "a", ` + good + `, "tier": "gold"}]}`, `config: keys[0].tier "gold": unknown tier (known: enterprise, free, pro)`},
		{"bad expiry", `{"keys": [{"id": "a", ` + good + `, "expires_at": "2027-01-01"}]}`, `config: keys[0].expires_at "2027-01-01": want an RFC 3339 time`},
		{"bad id", `{"keys": [{"id": "a b", ` + good + `}]}`, `config: keys[0].id "a b": want only letters, digits`},
		{"bad name", `{"keys": [{"id": "a", ` + good + `, "name": "tab\there"}]}`, `config: keys[0].name: holds a control character`},
		{"bad realm", `{"realm": "say \"hi\""}`, `config: realm "say \"hi\"": want 1 or more printable ASCII characters`},
		{"empty realm", `{"realm": ""}`, `config: realm "": want 1 or more printable ASCII characters`},
		{"bad problem_type_base", `{"problem_type_base": "problems/"}`, `config: problem_type_base "problems/": want an absolute URI`},

		// The "clients" section.
		{"client without secret", `{"clients": [{"client_id": "svc-1", "scopes": ["read"]}]}`, `config: clients[0].client_secret (client_id "svc-1"): missing`},
		{"short client secret", `{"clients": [{"client_id": "svc-1", "client_secret": "` + cfgShortSecret + `", "scopes": ["read"]}]}`,
			`config: clients[0].client_secret (client_id "svc-1"): shorter than 32 characters`},
		{"client secret with a tab", `{"clients": [{"client_id": "svc-1", "client_secret": "` + cfgShortSecret + `\t` + cfgShortSecret + `", "scopes": ["read"]}]}`,
			`config: clients[0].client_secret (client_id "svc-1"): want printable ASCII (RFC 6749 VSCHAR)`},
		{"duplicate client", `{"clients": [{"client_id": "svc-1", ` + goodClient + `}, {"client_id": "svc-1", ` + goodClient + `}]}`,
			`config: clients[1].client_id "svc-1": duplicate client ID (also clients[0])`},
		{"missing client_id", `{"clients": [{` + goodClient + `}]}`, `config: clients[0].client_id "": want 1 to 64 printable ASCII characters (RFC 6749 VSCHAR)`},
		{"bad client_id", `{"clients": [{"client_id": "svc\u00e91", ` + goodClient + `}]}`, `config: clients[0].client_id "svcé1": want 1 to 64 printable ASCII characters`},
		{"client without tenant", `{"clients": [{"client_id": "svc-1", "client_secret": "` + cfgClientSecret + `", "scopes": ["read"]}]}`,
			`config: clients[0].tenant (client_id "svc-1"): missing (every client acts for a tenant)`},
		{"key without tenant", `{"keys": [{"id": "k-1", "key": "` + cfgReaderKey + `"}]}`,
			`config: keys[0].tenant (id "k-1"): missing (every key belongs to a tenant)`},
		{"client without scopes", `{"clients": [{"client_id": "svc-1", "client_secret": "` + cfgClientSecret + `"}]}`, `config: clients[0].scopes: want at least one scope`},
		{"bad client scope", `{"clients": [{"client_id": "svc-1", ` + goodClient + `, "scopes": ["read", "a\"b"]}]}`, `config: clients[0].scopes[1] "a\"b": not a valid scope`},
		{"unknown client tier", `{"clients": [{"client_id": "svc-1", ` + goodClient + `, "tier": "gold"}]}`,
			`config: clients[0].tier "gold": unknown tier (known: enterprise, free, pro)`},
		{"bad client tenant", `{"clients": [{"client_id": "svc-1", ` + goodClient + `, "tenant": "a/b"}]}`, `config: clients[0].tenant "a/b": want only letters`},
		{"unknown client field", `{"clients": [{"client_id": "svc-1", ` + goodClient + `, "secret": "x"}]}`, `config: clients[0]: unknown field "secret"`},
		{"clients not an array", `{"clients": {"client_id": "svc-1"}}`, `config: clients: want an array, got JSON object`},
		{"public client with a secret", `{"clients": [{"client_id": "app-1", "public": true, ` + goodClient + `}]}`,
			`config: clients[0].client_secret (client_id "app-1"): a public client ("public": true) has no secret: remove one or the other`},
		{"public not a boolean", `{"clients": [{"client_id": "app-1", "public": "yes", "tenant": "acme", "scopes": ["read"]}]}`,
			`config: clients[0].public: want true or false, got JSON string`},
		{"bad client name", `{"clients": [{"client_id": "svc-1", ` + goodClient + `, "name": "Orders\tapp"}]}`, `config: clients[0].name: holds a control character`},
		{"plain http redirect URI", `{"clients": [{"client_id": "svc-1", ` + goodClient + `, "redirect_uris": ["https://app.example/cb", "http://x"]}]}`,
			`config: clients[0].redirect_uris[1] "http://x": plain http only to a loopback IP address (RFC 8252 §7.3)`},
		{"relative redirect URI", `{"clients": [{"client_id": "app-1", "public": true, "tenant": "acme", "scopes": ["read"], "redirect_uris": ["/cb"]}]}`,
			`config: clients[0].redirect_uris[0] "/cb": not an absolute URI`},
		{"redirect URI with a fragment", `{"clients": [{"client_id": "svc-1", ` + goodClient + `, "redirect_uris": ["https://app.example/cb#top"]}]}`,
			`config: clients[0].redirect_uris[0] "https://app.example/cb#top": a redirection URI has no fragment (RFC 6749 §3.1.2)`},
		{"redirect URI with user information", `{"clients": [{"client_id": "svc-1", ` + goodClient + `, "redirect_uris": ["https://me@app.example/cb"]}]}`,
			`config: clients[0].redirect_uris[0] "https://me@app.example/cb": a redirection URI has no user information`},
		{"redirect URI of an unknown scheme", `{"clients": [{"client_id": "svc-1", ` + goodClient + `, "redirect_uris": ["myapp:/cb"]}]}`,
			`config: clients[0].redirect_uris[0] "myapp:/cb": want https, http to a loopback address, or a private-use scheme such as com.example.app`},
		{"redirect_uris not an array", `{"clients": [{"client_id": "svc-1", ` + goodClient + `, "redirect_uris": "https://app.example/cb"}]}`,
			`config: clients[0].redirect_uris: want an array, got JSON string`},

		// The "issuer" section.
		{"bad token_ttl", `{"issuer": {"token_ttl": "1 hour"}}`, `config: issuer.token_ttl "1 hour": want a Go duration above 0s and at most 24h`},
		{"zero token_ttl", `{"issuer": {"token_ttl": "0s"}}`, `config: issuer.token_ttl "0s": want a Go duration above 0s and at most 24h`},
		{"token_ttl too long", `{"issuer": {"token_ttl": "48h"}}`, `config: issuer.token_ttl "48h": want a Go duration above 0s and at most 24h`},
		{"token_ttl a number", `{"issuer": {"token_ttl": 3600}}`, `config: issuer.token_ttl: want a string, got JSON number`},
		{"issuer not a URL", `{"issuer": {"issuer": "demo"}}`, `config: issuer.issuer "demo": want an absolute http or https URL`},
		{"issuer with a query", `{"issuer": {"issuer": "https://auth.example/?x=1"}}`, `config: issuer.issuer "https://auth.example/?x=1": want a URL without credentials, query or fragment`},
		{"bad audience", `{"issuer": {"audience": "tab\there"}}`, `config: issuer.audience: holds a control character`},
		{"unknown issuer field", `{"issuer": {"ttl": "1h"}}`, `config: issuer: unknown field "ttl"`},

		// The "trusted_issuers" section.
		{"http jwks_url to another host", `{"trusted_issuers": [{"issuer": "https://idp.example", "audience": "demo-api", "jwks_url": "http://idp.example/jwks.json"}]}`,
			`config: trusted_issuers[0].jwks_url: JWKS URL "http://idp.example/jwks.json": plain http is allowed only to a loopback host; use https`},
		{"jwks_url not http", `{"trusted_issuers": [{"issuer": "https://idp.example", "audience": "demo-api", "jwks_url": "ftp://127.0.0.1/jwks.json"}]}`,
			`config: trusted_issuers[0].jwks_url: JWKS URL "ftp://127.0.0.1/jwks.json": want an https URL`},
		{"jwks_url relative", `{"trusted_issuers": [{"issuer": "https://idp.example", "audience": "demo-api", "jwks_url": "/jwks.json"}]}`,
			`config: trusted_issuers[0].jwks_url: JWKS URL "/jwks.json": want an absolute https URL`},
		{"missing jwks_url", `{"trusted_issuers": [{"issuer": "https://idp.example", "audience": "demo-api"}]}`, `config: trusted_issuers[0].jwks_url: missing`},
		{"missing trusted issuer", `{"trusted_issuers": [{}]}`, `config: trusted_issuers[0].issuer: missing`},
		{"missing trusted audience", `{"trusted_issuers": [{"issuer": "https://idp.example", "jwks_url": "https://idp.example/jwks.json"}]}`,
			`config: trusted_issuers[0].audience: missing`},
		{"duplicate trusted issuer", `{"trusted_issuers": [` + goodIdP + `, ` + goodIdP + `]}`,
			`config: trusted_issuers[1].issuer "https://idp.example": duplicate issuer (also trusted_issuers[0])`},
		{"trusted issuer is the demo's own", `{"issuer": {"issuer": "https://idp.example"}, "trusted_issuers": [` + goodIdP + `]}`,
			`config: trusted_issuers[0].issuer "https://idp.example": the demo's own issuer`},
		{"bad tenant_claim", `{"trusted_issuers": [{"issuer": "https://idp.example", "audience": "demo-api", "jwks_url": "https://idp.example/jwks.json", "tenant_claim": "a\nb"}]}`,
			`config: trusted_issuers[0].tenant_claim: holds a control character`},
		{"unknown trusted issuer field", `{"trusted_issuers": [{"issuer": "https://idp.example", "jwks_uri": "https://idp.example/jwks.json"}]}`,
			`config: trusted_issuers[0]: unknown field "jwks_uri"`},

		// The "auth_failures" section.
		{"bad auth_failures window", `{"auth_failures": {"requests": 20, "window": "1 minute"}}`, `config: auth_failures.window "1 minute": want a Go duration`},
		{"zero auth_failures", `{"auth_failures": {"requests": 0, "window": "1m"}}`, `config: auth_failures.requests 0: want a positive integer or "unlimited"`},
		{"auth_failures not an object", `{"auth_failures": 20}`, `config: auth_failures: want an object, got JSON number`},

		// The "tiers" section.
		{"tiers not an object", `{"tiers": [1]}`, `config: tiers: want an object, got JSON array`},
		{"tier not an array", `{"tiers": {"tiny": {"requests": 5}}}`, `config: tiers.tiny: want an array, got JSON object`},
		{"bad tier name", `{"tiers": {"a b": [{"requests": 5, "window": "1m"}]}}`, `config: tiers: tier name "a b": want only letters, digits`},
		{"tier without limits", `{"tiers": {"tiny": []}}`, `config: tiers.tiny: want 1 to 8 limits, got 0`},
		{"tier with too many limits", `{"tiers": {"tiny": [` + strings.Repeat(`{"name": "x", "requests": 5, "window": "1m"}, `, 8) +
			`{"requests": 5, "window": "1m"}]}}`, `config: tiers.tiny: want 1 to 8 limits, got 9`},
		{"unknown limit field", `{"tiers": {"tiny": [{"requests": 5, "per": "1m"}]}}`, `config: tiers.tiny[0]: unknown field "per"`},
		{"limit not an object", `{"tiers": {"tiny": [5]}}`, `config: tiers.tiny[0]: want an object, got JSON number`},
		{"bad window", `{"tiers": {"tiny": [{"name": "default", "requests": 5, "window": "x"}]}}`,
			`config: tiers.tiny[0].window "x": want a Go duration such as "1s", "1m" or "1h"`},
		{"window without unit", `{"tiers": {"tiny": [{"requests": 5, "window": "60"}]}}`, `config: tiers.tiny[0].window "60": want a Go duration`},
		{"window a number", `{"tiers": {"tiny": [{"requests": 5, "window": 60}]}}`, `config: tiers.tiny[0].window: want a string, got JSON number`},
		{"zero window", `{"tiers": {"tiny": [{"requests": 5, "window": "0s"}]}}`, `config: tiers.tiny[0].window "0s": want a duration above 0s and at most 8784h0m0s`},
		{"negative window", `{"tiers": {"tiny": [{"requests": 5, "window": "-1m"}]}}`, `config: tiers.tiny[0].window "-1m": want a duration above 0s`},
		{"window too long", `{"tiers": {"tiny": [{"requests": 5, "window": "9000h"}]}}`, `config: tiers.tiny[0].window "9000h": want a duration above 0s and at most 8784h0m0s`},
		{"missing window", `{"tiers": {"tiny": [{"requests": 5}]}}`, `config: tiers.tiny[0].window: missing`},
		{"zero requests", `{"tiers": {"tiny": [{"requests": 0, "window": "1m"}]}}`, `config: tiers.tiny[0].requests 0: want a positive integer or "unlimited"`},
		{"negative requests", `{"tiers": {"tiny": [{"requests": -1, "window": "1m"}]}}`, `config: tiers.tiny[0].requests -1: want a positive integer or "unlimited"`},
		{"fractional requests", `{"tiers": {"tiny": [{"requests": 1.5, "window": "1m"}]}}`, `config: tiers.tiny[0].requests 1.5: want a positive integer`},
		{"huge requests", `{"tiers": {"tiny": [{"requests": 1e30, "window": "1m"}]}}`, `config: tiers.tiny[0].requests 1e30: want a positive integer`},
		{"requests a word", `{"tiers": {"tiny": [{"requests": "lots", "window": "1m"}]}}`, `config: tiers.tiny[0].requests "lots": want a positive integer or "unlimited"`},
		{"requests an array", `{"tiers": {"tiny": [{"requests": [5], "window": "1m"}]}}`, `config: tiers.tiny[0].requests [5]: want a positive integer`},
		{"missing requests", `{"tiers": {"tiny": [{"window": "1m"}]}}`, `config: tiers.tiny[0].requests: missing`},
		{"null requests", `{"tiers": {"tiny": [{"requests": null, "window": "1m"}]}}`, `config: tiers.tiny[0].requests: missing`},
		{"bad limit name", `{"tiers": {"tiny": [{"name": "per minute", "requests": 5, "window": "1m"}]}}`,
			`config: tiers.tiny[0].name "per minute": want only letters, digits`},
		{"duplicate limit name", `{"tiers": {"tiny": [{"name": "m", "requests": 5, "window": "1m"}, {"name": "m", "requests": 50, "window": "1h"}]}}`,
			`config: tiers.tiny[1].name "m": duplicate limit name (also tiers.tiny[0])`},
		{"duplicate default limit name", `{"tiers": {"tiny": [{"requests": 5, "window": "1m"}, {"requests": 50, "window": "1h"}]}}`,
			`config: tiers.tiny[1].name "default": duplicate limit name (also tiers.tiny[0])`},
		{"first bad tier by name", `{"tiers": {"zz": [], "aa": []}}`, `config: tiers.aa: want 1 to 8 limits`},
		{"key on a tier of another config", `{"tiers": {"tiny": [{"requests": 5, "window": "1m"}]}, "keys": [{"id": "a", ` + good + `, "tier": "gold"}]}`,
			`config: keys[0].tier "gold": unknown tier (known: enterprise, free, pro, tiny)`},

		// The "trusted_proxies" section.
		{"trusted_proxies not an array", `{"trusted_proxies": "127.0.0.1"}`, `config: trusted_proxies: want an array, got JSON string`},
		{"trusted_proxies entry not a string", `{"trusted_proxies": [10]}`, `config: trusted_proxies: want a string, got JSON number`},
		{"bad trusted proxy", `{"trusted_proxies": ["127.0.0.1/32", "10.0.0.0/33"]}`,
			`config: trusted_proxies[1] "10.0.0.0/33": want an IP address or CIDR prefix, such as 127.0.0.1 or 10.0.0.0/8`},
		{"trusted proxy a host name", `{"trusted_proxies": ["lb.internal"]}`, `config: trusted_proxies[0] "lb.internal": want an IP address or CIDR prefix`},
		{"empty trusted proxy", `{"trusted_proxies": [""]}`, `config: trusted_proxies[0] "": want an IP address or CIDR prefix`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runToExit(t, "-addr", "127.0.0.1:0", "-config", writeConfig(t, tt.config))
			assert.Equal(t, 2, code)
			assert.Empty(t, stdout)
			assert.Equal(t, 1, strings.Count(stderr, "\n"), "one line on stderr: %q", stderr)
			assert.True(t, strings.HasPrefix(stderr, tt.want), "stderr %q does not start with %q", stderr, tt.want)
			assert.NotContains(t, stderr, cfgReaderKey, "a key is never printed")
			assert.NotContains(t, stderr, cfgClientSecret, "a client secret is never printed")
			assert.NotContains(t, stderr, cfgShortSecret, "a client secret is never printed")
		})
	}
}

func TestBadFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"unknown flag", []string{"-port", "80"}, 2, "flags: flag provided but not defined: -port"},
		{"bad addr", []string{"-addr", "localhost"}, 2, `flags: -addr "localhost": want host:port`},
		{"extra argument", []string{"serve"}, 2, `flags: unexpected argument "serve"`},
		{"missing config file", []string{"-config", "/nonexistent/demo.json"}, 2, "config: open /nonexistent/demo.json"},
		{"bad redis address", []string{"-redis", "localhost"}, 2, `flags: -redis "localhost": want host:port`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runToExit(t, tt.args...)
			assert.Equal(t, tt.code, code)
			assert.Empty(t, stdout)
			assert.Equal(t, 1, strings.Count(stderr, "\n"), "one line on stderr: %q", stderr)
			assert.True(t, strings.HasPrefix(stderr, tt.want), "stderr %q does not start with %q", stderr, tt.want)
		})
	}
	t.Run("help", func(t *testing.T) {
		code, stdout, stderr := runToExit(t, "-h")
		assert.Equal(t, 0, code)
		assert.Contains(t, stdout, "-addr")
		assert.Contains(t, stdout, "-redis host:port")
		assert.Contains(t, stdout, "falls back to counting\n")
		assert.Empty(t, stderr)
	})
}

func TestListenFailure(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	code, stdout, stderr := runToExit(t, "-addr", ln.Addr().String())
	assert.Equal(t, 1, code)
	assert.NotContains(t, stdout, "listening on")
	assert.Contains(t, stderr, "cannot listen")
}

// runToExit runs run() with args when it is expected to return by itself,
// and returns its exit code, stdout and stderr.
func runToExit(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	stdout, stderr := newLineBuffer(), newLineBuffer()
	done := make(chan int, 1)
	go func() { done <- run(ctx, args, stdout, stderr) }()
	select {
	case code := <-done:
		return code, stdout.String(), stderr.String()
	case <-time.After(startTimeout):
		cancel()
		t.Fatalf("run did not return; stdout:\n%s\nstderr:\n%s", stdout, stderr)
		return 0, "", ""
	}
}
