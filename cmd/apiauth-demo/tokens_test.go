package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apiauth/apiauth"
	"github.com/apiauth/apiauth/oauth"
	"github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// oauthContext makes golang.org/x/oauth2 use the demo's HTTP client, so
// that the harness can close its connections before shutdown.
func (d *demo) oauthContext() context.Context {
	return context.WithValue(context.Background(), oauth2.HTTPClient, d.client)
}

// postForm sends a form to path, with HTTP Basic client authentication
// when id is not "".
func (d *demo) postForm(path, id, secret string, form url.Values) *response {
	d.t.Helper()
	req, err := http.NewRequest(http.MethodPost, d.base+path, strings.NewReader(form.Encode()))
	require.NoError(d.t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if id != "" {
		req.SetBasicAuth(id, secret)
	}
	res, err := d.client.Do(req)
	require.NoError(d.t, err)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	require.NoError(d.t, err)
	return &response{status: res.StatusCode, header: res.Header, body: body}
}

// exchangeKey exchanges an API key for an access token on the JSON
// route, POST /v1/auth/token, without any Authorization header.
func (d *demo) exchangeKey(key string) *response {
	d.t.Helper()
	return d.do(http.MethodPost, "/v1/auth/token", "", map[string]string{"apiKey": key})
}

// requireToken asserts that res is a successful token response and
// returns its access token.
func requireToken(t *testing.T, res *response) (string, map[string]any) {
	t.Helper()
	require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
	assert.Equal(t, "no-store", res.header.Get("Cache-Control"))
	assert.Equal(t, "no-cache", res.header.Get("Pragma"))
	body := res.json(t)
	assert.Equal(t, "Bearer", body["token_type"])
	tok, _ := body["access_token"].(string)
	require.NotEmpty(t, tok, "body: %s", res.body)
	return tok, body
}

func TestOAuthClientCredentials(t *testing.T) {
	cfg := `{"clients": [
		{"client_id": "svc-1", "client_secret": "` + cfgClientSecret + `", "subject": "svc-one",
		 "tenant": "globex", "scopes": ["read", "orders:export"], "tier": "pro"}
	]}`
	d := startDemo(t, "-config", writeConfig(t, cfg))
	assert.Empty(t, d.clientID, "configured clients: no demo client is generated")
	assert.NotContains(t, d.stdout.String(), cfgClientSecret)
	ctx := d.oauthContext()

	t.Run("a real OAuth client gets a token and calls the API", func(t *testing.T) {
		cc := clientcredentials.Config{ClientID: "svc-1", ClientSecret: cfgClientSecret, TokenURL: d.base + "/oauth/token"}
		tok, err := cc.Token(ctx)
		require.NoError(t, err)
		assert.Equal(t, "Bearer", tok.TokenType)
		assert.WithinDuration(t, time.Now().Add(time.Hour), tok.Expiry, time.Minute)

		res, err := cc.Client(ctx).Get(d.base + "/v1/me")
		require.NoError(t, err)
		defer res.Body.Close()
		require.Equal(t, http.StatusOK, res.StatusCode)
		var me map[string]any
		require.NoError(t, json.NewDecoder(res.Body).Decode(&me))
		assert.Equal(t, map[string]any{"subject": "svc-one", "tenant": "globex",
			"scopes": []any{"read", "orders:export"}, "tier": "pro", "key_id": ""}, me)
		assert.Equal(t, "10000", res.Header.Get("X-RateLimit-Limit"), "the client's tier")
	})

	t.Run("a narrower scope", func(t *testing.T) {
		cc := clientcredentials.Config{ClientID: "svc-1", ClientSecret: cfgClientSecret, TokenURL: d.base + "/oauth/token",
			Scopes: []string{"read"}, AuthStyle: oauth2.AuthStyleInParams}
		tok, err := cc.Token(ctx)
		require.NoError(t, err)
		res := d.do(http.MethodGet, "/v1/me", tok.AccessToken, nil)
		require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
		assert.Equal(t, []any{"read"}, res.json(t)["scopes"])
		requireProblem(t, d.do(http.MethodGet, "/v1/admin/keys", tok.AccessToken, nil), 403, "insufficient_scope")
	})

	t.Run("refusals", func(t *testing.T) {
		tests := []struct {
			name, secret string
			scopes       []string
			status       int
			code         string
		}{
			{"wrong secret", cfgClientSecret + "x", nil, 401, "invalid_client"},
			{"scope beyond the client's", cfgClientSecret, []string{"admin"}, 400, "invalid_scope"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				cc := clientcredentials.Config{ClientID: "svc-1", ClientSecret: tt.secret, TokenURL: d.base + "/oauth/token", Scopes: tt.scopes}
				_, err := cc.Token(ctx)
				var re *oauth2.RetrieveError
				require.True(t, errors.As(err, &re), "error %v", err)
				assert.Equal(t, tt.status, re.Response.StatusCode)
				assert.Equal(t, tt.code, re.ErrorCode)
			})
		}
	})
}

func TestPrintedTokenCurlLines(t *testing.T) {
	d := startDemo(t)
	out := d.stdout.String()
	require.Equal(t, "svc-acme", d.clientID, "stdout:\n%s", out)

	// The client_credentials line, as curl would send it.
	m := regexp.MustCompile(`curl -u (\S+):(\S+) -d grant_type=client_credentials (\S+)\n`).FindStringSubmatch(out)
	require.NotNil(t, m, "no client_credentials curl line in:\n%s", out)
	assert.Equal(t, []string{d.clientID, d.clientSecret, d.base + "/oauth/token"}, m[1:])
	tok, body := requireToken(t, d.postForm("/oauth/token", m[1], m[2], url.Values{"grant_type": {"client_credentials"}}))
	assert.Equal(t, "read write", body["scope"])
	assert.EqualValues(t, 3600, body["expires_in"])
	res := d.do(http.MethodGet, "/v1/me", tok, nil)
	require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
	assert.Equal(t, map[string]any{"subject": "svc-acme", "tenant": "acme", "scopes": []any{"read", "write"},
		"tier": "pro", "key_id": ""}, res.json(t))

	// The API-key exchange line, with the reader's key.
	m = regexp.MustCompile(`curl -H 'Content-Type: application/json' -d '(\{.*\})' (\S+)\n`).FindStringSubmatch(out)
	require.NotNil(t, m, "no exchange curl line in:\n%s", out)
	assert.Equal(t, `{"apiKey":"`+d.key("acme", "reader")+`"}`, m[1])
	assert.Equal(t, d.base+"/v1/auth/token", m[2])
	tok, _ = requireToken(t, d.do(http.MethodPost, strings.TrimPrefix(m[2], d.base), "", m[1]))
	readerID := d.do(http.MethodGet, "/v1/me", d.key("acme", "reader"), nil).json(t)["key_id"]
	res = d.do(http.MethodGet, "/v1/me", tok, nil)
	require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
	assert.Equal(t, readerID, res.json(t)["key_id"])

	// The JWKS line.
	assert.Contains(t, out, "curl "+d.base+"/.well-known/jwks.json\n")
}

// TestAPIKeyExchange is the JSON route's flow: an API key exchanged for a
// one-hour access token, which stops working when the key is revoked.
func TestAPIKeyExchange(t *testing.T) {
	d := startDemo(t)
	admin := d.key("acme", "admin")
	key, id := d.createKey(admin, map[string]any{"name": "exchanged", "scopes": []string{"read"}})

	res := d.exchangeKey(key)
	tok, body := requireToken(t, res)
	assert.EqualValues(t, 3600, body["expires_in"])
	assert.Equal(t, "read", body["scope"])
	assert.Equal(t, "1000", res.header.Get("X-RateLimit-Limit"), "the route is rate limited per client IP")

	res = d.do(http.MethodGet, "/v1/me", tok, nil)
	require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
	assert.Equal(t, map[string]any{"subject": "admin@acme", "tenant": "acme", "scopes": []any{"read"},
		"tier": "free", "key_id": id}, res.json(t))

	t.Run("the key and its tokens share one rate-limit bucket", func(t *testing.T) {
		_, before, _ := rateHeaders(t, d.do(http.MethodGet, "/v1/me", key, nil))
		_, after, _ := rateHeaders(t, d.do(http.MethodGet, "/v1/me", tok, nil))
		assert.Equal(t, before-1, after)
	})

	t.Run("RFC 8693 token exchange on the token endpoint", func(t *testing.T) {
		tok2, body := requireToken(t, d.postForm("/oauth/token", "", "", url.Values{
			"grant_type":         {oauth.GrantTokenExchange},
			"subject_token":      {key},
			"subject_token_type": {oauth.TokenTypeAPIKey},
		}))
		assert.Equal(t, oauth.TokenTypeAccessToken, body["issued_token_type"])
		res := d.do(http.MethodGet, "/v1/me", tok2, nil)
		require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
		assert.Equal(t, id, res.json(t)["key_id"])
	})

	t.Run("refusals", func(t *testing.T) {
		res := d.exchangeKey(tok)
		require.Equal(t, http.StatusBadRequest, res.status, "body: %s", res.body)
		assert.Equal(t, "invalid_grant", res.json(t)["error"], "an access token is not exchanged for another")

		res = d.do(http.MethodGet, "/v1/auth/token", "", nil)
		require.Equal(t, http.StatusMethodNotAllowed, res.status, "no bearer token needed, only POST: %s", res.body)
		assert.Equal(t, "POST", res.header.Get("Allow"))
		assert.NotEmpty(t, res.json(t)["request_id"])
		assert.Equal(t, res.header.Get("X-Request-Id"), res.json(t)["request_id"], "behind RequestID")
	})

	t.Run("revoking the key revokes its tokens at once", func(t *testing.T) {
		require.Equal(t, http.StatusNoContent, d.do(http.MethodDelete, "/v1/admin/keys/"+id, admin, nil).status)
		res := d.do(http.MethodGet, "/v1/me", tok, nil)
		requireProblem(t, res, http.StatusUnauthorized, "token_revoked")
		assert.Contains(t, res.header.Get("WWW-Authenticate"), `error="invalid_token"`)

		res = d.exchangeKey(key)
		require.Equal(t, http.StatusBadRequest, res.status, "body: %s", res.body)
		assert.Equal(t, "invalid_grant", res.json(t)["error"])
	})
}

// TestJWKSVerifiesIssuedToken checks an issued token with another JWT
// implementation, go-jose, from the published JWK Set alone.
func TestJWKSVerifiesIssuedToken(t *testing.T) {
	d := startDemo(t)
	cc := clientcredentials.Config{ClientID: d.clientID, ClientSecret: d.clientSecret, TokenURL: d.base + "/oauth/token"}
	tok, err := cc.Token(d.oauthContext())
	require.NoError(t, err)

	res := d.do(http.MethodGet, "/.well-known/jwks.json", "", nil)
	require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
	assert.Equal(t, "application/jwk-set+json", res.header.Get("Content-Type"))
	var set jose.JSONWebKeySet
	require.NoError(t, json.Unmarshal(res.body, &set))
	require.Len(t, set.Keys, 1)
	assert.True(t, set.Keys[0].IsPublic())

	parsed, err := josejwt.ParseSigned(tok.AccessToken, []jose.SignatureAlgorithm{jose.RS256})
	require.NoError(t, err)
	require.Len(t, parsed.Headers, 1)
	h := parsed.Headers[0]
	assert.Equal(t, "at+jwt", h.ExtraHeaders[jose.HeaderType])
	keys := set.Key(h.KeyID)
	require.Len(t, keys, 1, "the token's kid is in the set")

	var claims josejwt.Claims
	var extra struct {
		Scope    string `json:"scope"`
		Tenant   string `json:"tenant"`
		Tier     string `json:"tier"`
		ClientID string `json:"client_id"`
	}
	require.NoError(t, parsed.Claims(keys[0].Key, &claims, &extra))
	require.NoError(t, claims.ValidateWithLeeway(josejwt.Expected{
		Issuer: d.base, AnyAudience: josejwt.Audience{"demo-api"}, Subject: "svc-acme", Time: time.Now(),
	}, 0))
	assert.Equal(t, "read write", extra.Scope)
	assert.Equal(t, "acme", extra.Tenant)
	assert.Equal(t, "pro", extra.Tier)
	assert.Equal(t, "svc-acme", extra.ClientID)

	// A token altered after signing fails go-jose's verification too.
	parts := strings.Split(tok.AccessToken, ".")
	forged := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"`+d.base+`","sub":"admin","aud":"demo-api","exp":9999999999}`)) + "." + parts[2]
	parsed, err = josejwt.ParseSigned(forged, []jose.SignatureAlgorithm{jose.RS256})
	require.NoError(t, err)
	assert.Error(t, parsed.Claims(keys[0].Key, &claims))
	requireProblem(t, d.do(http.MethodGet, "/v1/me", forged, nil), http.StatusUnauthorized, "invalid_token")
}

// idp is an identity provider for the tests: an ES256 key published as a
// JWK Set on a loopback HTTP server.
type idp struct {
	srv *httptest.Server
	key oauth.SigningKey
}

func newIdP(t *testing.T) *idp {
	t.Helper()
	key, err := oauth.GenerateSigningKey("ES256")
	require.NoError(t, err)
	set, err := oauth.MarshalJWKS(apiauth.JWTKey{ID: key.ID, Algorithm: key.Algorithm, Key: key.Key})
	require.NoError(t, err)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_, _ = w.Write(set)
	}))
	t.Cleanup(srv.Close)
	return &idp{srv: srv, key: key}
}

// sign returns an ES256 token with the given kid and claims, by
// golang-jwt, as an identity provider would issue it.
func (p *idp) sign(t *testing.T, typ, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	tok.Header["typ"] = typ
	tok.Header["kid"] = kid
	s, err := tok.SignedString(p.key.Key)
	require.NoError(t, err)
	return s
}

func TestTrustedIssuer(t *testing.T) {
	up := newIdP(t)
	// An identity provider that cannot be reached: its server is closed
	// before the demo ever asks it for keys.
	down := newIdP(t)
	down.srv.Close()

	cfg := `{"trusted_issuers": [
		{"issuer": "https://idp.test", "audience": "demo-api", "jwks_url": "` + up.srv.URL + `/jwks.json",
		 "tenant_claim": "org", "tier_claim": "plan"},
		{"issuer": "https://down.test", "audience": "demo-api", "jwks_url": "` + down.srv.URL + `/jwks.json"}
	]}`
	d := startDemo(t, "-config", writeConfig(t, cfg))

	now := time.Now()
	claims := func(change func(jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{
			"iss": "https://idp.test", "aud": "demo-api", "sub": "user-42",
			"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
			"scope": "read write", "org": "initech", "plan": "pro",
		}
		if change != nil {
			change(c)
		}
		return c
	}

	res := d.do(http.MethodGet, "/v1/me", up.sign(t, "at+jwt", up.key.ID, claims(nil)), nil)
	require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
	assert.Equal(t, map[string]any{"subject": "user-42", "tenant": "initech", "scopes": []any{"read", "write"},
		"tier": "pro", "key_id": ""}, res.json(t))
	assert.Equal(t, "10000", res.header.Get("X-RateLimit-Limit"), "limited by the mapped tier")

	tests := []struct {
		name   string
		token  string
		status int
		code   string
	}{
		{"wrong audience", up.sign(t, "at+jwt", up.key.ID, claims(func(c jwt.MapClaims) { c["aud"] = "other-api" })), 401, "invalid_token"},
		{"unknown issuer", up.sign(t, "at+jwt", up.key.ID, claims(func(c jwt.MapClaims) { c["iss"] = "https://evil.test" })), 401, "invalid_token"},
		{"typ JWT", up.sign(t, "JWT", up.key.ID, claims(nil)), 401, "invalid_token"},
		{"expired", up.sign(t, "at+jwt", up.key.ID, claims(func(c jwt.MapClaims) {
			c["iat"], c["exp"] = now.Add(-time.Hour).Unix(), now.Add(-10*time.Minute).Unix()
		})), 401, "token_expired"},
		{"signed by another issuer's key", down.sign(t, "at+jwt", up.key.ID, claims(nil)), 401, "invalid_token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			requireProblem(t, d.do(http.MethodGet, "/v1/me", tt.token, nil), tt.status, tt.code)
		})
	}

	t.Run("identity provider unreachable and the kid unknown: 503", func(t *testing.T) {
		tok := down.sign(t, "at+jwt", down.key.ID, claims(func(c jwt.MapClaims) { c["iss"], c["tenant"] = "https://down.test", "initech" }))
		res := d.do(http.MethodGet, "/v1/me", tok, nil)
		require.Equal(t, http.StatusServiceUnavailable, res.status, "body: %s", res.body)
		assert.Equal(t, "application/problem+json", res.header.Get("Content-Type"))
		retry, err := strconv.Atoi(res.header.Get("Retry-After"))
		require.NoError(t, err, "Retry-After %q", res.header.Get("Retry-After"))
		assert.Positive(t, retry)
	})

	t.Run("known keys keep working while the provider is down", func(t *testing.T) {
		up.srv.Close()
		tok := up.sign(t, "at+jwt", up.key.ID, claims(func(c jwt.MapClaims) { c["sub"] = "user-43" }))
		res := d.do(http.MethodGet, "/v1/me", tok, nil)
		require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
		assert.Equal(t, "user-43", res.json(t)["subject"])
	})
}

// TestTrustedIssuerIsOwnDefaultIssuer: the demo's issuer defaults to its
// own URL, known only once it listens; a trusted issuer cannot take it.
func TestTrustedIssuerIsOwnDefaultIssuer(t *testing.T) {
	addr := freeAddr(t)
	cfg := `{"trusted_issuers": [{"issuer": "http://` + addr + `", "audience": "demo-api", "jwks_url": "http://127.0.0.1:1/jwks.json"}]}`
	code, stdout, stderr := runToExit(t, "-addr", addr, "-config", writeConfig(t, cfg))
	assert.Equal(t, 2, code)
	assert.Empty(t, stdout)
	assert.Equal(t, 1, strings.Count(stderr, "\n"), "one line on stderr: %q", stderr)
	assert.Contains(t, stderr, `config: trusted_issuers[0].issuer "http://`+addr+`": the demo's own issuer`)
}

// TestAuthFailureThrottling: a client IP whose credentials keep failing is
// refused with 429 before its credentials are looked at, a good key
// included; behind trusted proxies, clients are told apart by
// X-Forwarded-For.
func TestAuthFailureThrottling(t *testing.T) {
	const bad = "throttle-bad-key-0123456789"
	config := func(proxies string) string {
		return `{"auth_failures": {"requests": 3, "window": "1m"}, "trusted_proxies": [` + proxies + `],
			"keys": [{"id": "k-good", "key": "` + cfgReaderKey + `", "tenant": "acme", "scopes": ["read"]}]}`
	}
	from := func(ip string) http.Header {
		if ip == "" {
			return nil
		}
		return http.Header{"X-Forwarded-For": {ip}}
	}
	// fail sends n bad keys from ip, each refused with 401.
	fail := func(t *testing.T, d *demo, ip string, n int) {
		t.Helper()
		for range n {
			requireProblem(t, d.doWith(http.MethodGet, "/v1/me", bad, nil, from(ip)), http.StatusUnauthorized, "invalid_token")
		}
	}
	requireThrottled := func(t *testing.T, res *response) {
		t.Helper()
		p := requireProblem(t, res, http.StatusTooManyRequests, "rate_limited")
		retry, err := strconv.Atoi(res.header.Get("Retry-After"))
		require.NoError(t, err, "Retry-After %q", res.header.Get("Retry-After"))
		// 3 per minute: one more failure is allowed every 20 s.
		assert.GreaterOrEqual(t, retry, 1)
		assert.LessOrEqual(t, retry, 20)
		assert.Equal(t, "Too many failed authentication attempts. Try again in "+strconv.Itoa(retry)+" seconds.", p["detail"])
	}

	t.Run("one client", func(t *testing.T) {
		d := startDemo(t, "-config", writeConfig(t, config("")))
		fail(t, d, "", 3)
		requireThrottled(t, d.do(http.MethodGet, "/v1/me", bad, nil))
		requireThrottled(t, d.do(http.MethodGet, "/v1/me", cfgReaderKey, nil)) // even a good key
		requireProblem(t, d.do(http.MethodGet, "/v1/me", "", nil), http.StatusUnauthorized, "missing_token")
		assert.Equal(t, http.StatusOK, d.do(http.MethodGet, "/healthz", "", nil).status)
	})

	t.Run("behind a trusted proxy, clients are told apart", func(t *testing.T) {
		d := startDemo(t, "-config", writeConfig(t, config(`"127.0.0.1/32"`)))
		fail(t, d, "203.0.113.7", 3)
		requireThrottled(t, d.doWith(http.MethodGet, "/v1/me", cfgReaderKey, nil, from("203.0.113.7")))
		// Another client behind the same proxy is not affected.
		res := d.doWith(http.MethodGet, "/v1/me", cfgReaderKey, nil, from("203.0.113.8"))
		require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
		fail(t, d, "203.0.113.8", 1)
		// A client cannot escape by writing its own X-Forwarded-For: the
		// proxy appends the address it saw, and that one counts.
		requireThrottled(t, d.doWith(http.MethodGet, "/v1/me", cfgReaderKey, nil, from("198.51.100.1, 203.0.113.7")))
	})

	t.Run("without trusted proxies, X-Forwarded-For is ignored", func(t *testing.T) {
		d := startDemo(t, "-config", writeConfig(t, config("")))
		fail(t, d, "203.0.113.7", 3)
		requireThrottled(t, d.doWith(http.MethodGet, "/v1/me", cfgReaderKey, nil, from("203.0.113.8")))
	})
}

// freeAddr returns a loopback address where nothing listens (it did a
// moment ago).
func freeAddr(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	return strings.TrimPrefix(srv.URL, "http://")
}

func TestRedisUnreachable(t *testing.T) {
	addr := freeAddr(t)
	code, stdout, stderr := runToExit(t, "-addr", "127.0.0.1:0", "-redis", addr)
	assert.Equal(t, exitFailed, code)
	assert.Empty(t, stdout)
	assert.Equal(t, 1, strings.Count(stderr, "\n"), "one line on stderr: %q", stderr)
	assert.True(t, strings.HasPrefix(stderr, "redis: no answer to PING from "+addr+" within 2s: "), "stderr: %q", stderr)
}

// TestRedisSharedLimits runs two instances on one Redis server: they share
// a key's limit. CI sets APIAUTH_REDIS_ADDR to a running redis-server.
func TestRedisSharedLimits(t *testing.T) {
	addr := os.Getenv("APIAUTH_REDIS_ADDR")
	if addr == "" {
		t.Skip("APIAUTH_REDIS_ADDR is not set: no Redis server to share (CI sets it; locally, start redis-server and set APIAUTH_REDIS_ADDR=127.0.0.1:6379)")
	}
	// A key ID of its own, so that a run within a minute of the last one
	// starts from a full limit.
	id := "k-shared-" + randomHex(t)
	key := "shared-key-" + randomHex(t)
	cfg := writeConfig(t, `{
		"tiers": {"tiny": [{"name": "default", "requests": 5, "window": "1m"}]},
		"keys": [{"id": "`+id+`", "key": "`+key+`", "tenant": "acme", "scopes": ["read"], "tier": "tiny"}]
	}`)
	a := startDemo(t, "-config", cfg, "-redis", addr)
	b := startDemo(t, "-config", cfg, "-redis", addr)
	assert.Contains(t, a.stderr.String(), "store=\"redis "+addr+"\"")

	for i, d := range []*demo{a, a, a, b, b} {
		res := d.do(http.MethodGet, "/v1/me", key, nil)
		require.Equal(t, http.StatusOK, res.status, "request %d: %s", i+1, res.body)
		_, remaining, _ := rateHeaders(t, res)
		assert.EqualValues(t, 4-i, remaining, "request %d", i+1)
	}
	for _, d := range []*demo{b, a} {
		res := d.do(http.MethodGet, "/v1/me", key, nil)
		requireProblem(t, res, http.StatusTooManyRequests, "rate_limited")
		assert.NotEmpty(t, res.header.Get("Retry-After"))
	}
}

// randomHex returns 16 random hex digits.
func randomHex(t *testing.T) string {
	t.Helper()
	var b [8]byte
	_, err := rand.Read(b[:])
	require.NoError(t, err)
	return hex.EncodeToString(b[:])
}

// TestClientIDAnyVSCHAR: a client ID is any VSCHAR string (RFC 6749
// appendix A.1), so the config accepts one with a colon and a percent
// sign, and a real OAuth client, which form-urlencodes it in HTTP Basic
// (§2.3.1), gets a token with it.
func TestClientIDAnyVSCHAR(t *testing.T) {
	cfg := `{"clients": [{"client_id": "svc:a%b", "client_secret": "` + cfgClientSecret + `", "tenant": "acme", "scopes": ["read"]}]}`
	d := startDemo(t, "-config", writeConfig(t, cfg))
	for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInHeader, oauth2.AuthStyleInParams} {
		cc := clientcredentials.Config{ClientID: "svc:a%b", ClientSecret: cfgClientSecret, TokenURL: d.base + "/oauth/token", AuthStyle: style}
		tok, err := cc.Token(d.oauthContext())
		require.NoError(t, err, "style %v", style)
		status, _ := d.me(tok.AccessToken)
		assert.Equal(t, http.StatusOK, status)
	}
}

// TestOutsideIssuerAdministersNoKeys: an outside identity provider's
// token that names tenant acme and the admin scope is another caller than
// acme's own admin key: it lists, creates and revokes none of acme's keys.
func TestOutsideIssuerAdministersNoKeys(t *testing.T) {
	up := newIdP(t)
	cfg := `{"trusted_issuers": [{"issuer": "https://idp.test", "audience": "demo-api", "jwks_url": "` + up.srv.URL + `/jwks.json"}]}`
	d := startDemo(t, "-config", writeConfig(t, cfg))
	now := time.Now()
	tok := up.sign(t, "at+jwt", up.key.ID, jwt.MapClaims{
		"iss": "https://idp.test", "aud": "demo-api", "sub": "admin@acme", "tenant": "acme",
		"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(), "scope": "admin",
	})
	status, _ := d.me(tok)
	require.Equal(t, http.StatusOK, status, "the token itself is good")
	requireProblem(t, d.do(http.MethodGet, "/v1/admin/keys", tok, nil), http.StatusForbidden, "tenant_forbidden")
	requireProblem(t, d.do(http.MethodPost, "/v1/admin/keys", tok, map[string]any{"scopes": []string{"read"}}), http.StatusForbidden, "tenant_forbidden")
	// acme's own admin key still administers acme's keys.
	res := d.do(http.MethodGet, "/v1/admin/keys", d.key("acme", "admin"), nil)
	assert.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
}

// TestTrustedIssuerOptions: a single-tenant identity provider names its
// tenant in the config, and its tokens need no tenant claim; with rfc9068
// a token lacking client_id or jti is refused.
func TestTrustedIssuerOptions(t *testing.T) {
	up := newIdP(t)
	cfg := `{"trusted_issuers": [{"issuer": "https://idp.test", "audience": "demo-api", "jwks_url": "` + up.srv.URL + `/jwks.json",
		"tenant": "initech", "rfc9068": true}]}`
	d := startDemo(t, "-config", writeConfig(t, cfg))
	now := time.Now()
	claims := func(drop string) jwt.MapClaims {
		c := jwt.MapClaims{"iss": "https://idp.test", "aud": "demo-api", "sub": "user-42", "client_id": "app-1", "jti": "t-1",
			"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(), "scope": "read"}
		delete(c, drop)
		return c
	}
	res := d.do(http.MethodGet, "/v1/me", up.sign(t, "at+jwt", up.key.ID, claims("")), nil)
	require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
	assert.Equal(t, "initech", res.json(t)["tenant"])
	for _, drop := range []string{"client_id", "jti", "iat"} {
		requireProblem(t, d.do(http.MethodGet, "/v1/me", up.sign(t, "at+jwt", up.key.ID, claims(drop)), nil), http.StatusUnauthorized, "invalid_token")
	}
}

// TestRedisSharedFailures: with -redis, failed client authentications at
// the token endpoint count on every instance: an address that spent its
// failures on one is refused by the other.
func TestRedisSharedFailures(t *testing.T) {
	addr := os.Getenv("APIAUTH_REDIS_ADDR")
	if addr == "" {
		t.Skip("APIAUTH_REDIS_ADDR is not set: no Redis server to share (CI sets it; locally, start redis-server and set APIAUTH_REDIS_ADDR=127.0.0.1:6379)")
	}
	// An address of its own (through the trusted proxy), so that a run
	// within a minute of the last one starts from a full limit.
	var b [2]byte
	_, err := rand.Read(b[:])
	require.NoError(t, err)
	client := fmt.Sprintf("10.%d.%d.7", b[0], b[1])
	cfg := writeConfig(t, `{"trusted_proxies": ["127.0.0.1/32"], "auth_failures": {"requests": 3, "window": "1m"}}`)
	one, two := startDemo(t, "-config", cfg, "-redis", addr), startDemo(t, "-config", cfg, "-redis", addr)
	guess := func(d *demo) int {
		req, err := http.NewRequest(http.MethodPost, d.base+"/oauth/token", strings.NewReader("grant_type=client_credentials"))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Forwarded-For", client)
		req.SetBasicAuth(d.clientID, "wrong-"+d.clientSecret)
		res, err := d.client.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		return res.StatusCode
	}
	for range 3 {
		require.Equal(t, http.StatusUnauthorized, guess(one))
	}
	assert.Equal(t, http.StatusTooManyRequests, guess(one))
	assert.Equal(t, http.StatusTooManyRequests, guess(two), "the other instance counts the same failures")
}
