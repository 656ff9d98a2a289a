package oauth_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apiauth/apiauth"
	"github.com/apiauth/apiauth/oauth"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The addresses of the failure-limit tests (RFC 5737 documentation
// ranges).
const (
	attackerAddr = "203.0.113.9:41000"
	clientAddr   = "198.51.100.7:52000"
)

// limitFixture is a token endpoint whose failure limit is 20 a minute, on
// a clock that never moves, so that no unit of it comes back during a test
// and every count is exact.
type limitFixture struct {
	issuer *oauth.Issuer
	token  http.Handler // TokenHandler
	json   http.Handler // APIKeyExchangeHandler
}

func newLimitFixture(t *testing.T, clients oauth.ClientStore, keys apiauth.KeyStore) *limitFixture {
	t.Helper()
	frozen := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return frozen }
	ctx := context.Background()
	if clients == nil {
		clients = oauth.NewMemoryClientStore()
	}
	_, err := oauth.RegisterClient(ctx, clients, oauth.ClientSpec{ID: "svc-1", Tenant: "acme", Scopes: []apiauth.Scope{apiauth.Read}}, clientSecret)
	require.NoError(t, err)
	_, err = oauth.RegisterClient(ctx, clients, oauth.ClientSpec{ID: "svc-2", Tenant: "acme", Scopes: []apiauth.Scope{apiauth.Read}}, "other-"+clientSecret)
	require.NoError(t, err)
	if keys == nil {
		keys = apiauth.NewMemoryKeyStore()
	}
	k := &apiauth.Keys{Store: keys, Now: clock}
	_, err = k.Import(ctx, readerKey, apiauth.KeySpec{ID: "k-reader", Subject: "user-1", Tenant: "acme", Scopes: []apiauth.Scope{apiauth.Read}})
	require.NoError(t, err)
	// EdDSA: signing a thousand tokens takes milliseconds, not seconds.
	sk, err := oauth.GenerateSigningKey("EdDSA")
	require.NoError(t, err)
	is, err := oauth.NewIssuer(oauth.Config{
		Issuer: "https://auth.test", Audience: "orders-api", Clients: clients, Keys: k, SigningKey: &sk, Now: clock,
		FailureLimit: apiauth.Tier{Limits: []apiauth.Limit{{Requests: 20, Window: time.Minute}}},
	})
	require.NoError(t, err)
	return &limitFixture{issuer: is, token: is.TokenHandler(), json: is.APIKeyExchangeHandler()}
}

// tokenResult is one answer of the token endpoint.
type tokenResult struct {
	status int
	retry  string // Retry-After
	body   map[string]string
}

// serve sends a request with body to h from addr, with ctx.
func serve(ctx context.Context, h http.Handler, addr, contentType, body string) tokenResult {
	req := httptest.NewRequestWithContext(ctx, "POST", "/oauth/token", strings.NewReader(body))
	req.RemoteAddr = addr
	req.Header.Set("Content-Type", contentType)
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, req)
	var m map[string]string
	_ = json.Unmarshal(rr.Body.Bytes(), &m)
	return tokenResult{status: rr.Code, retry: rr.Header().Get("Retry-After"), body: m}
}

// clientCredentials asks for a token as client id with secret, from addr.
func (f *limitFixture) clientCredentials(ctx context.Context, addr, id, secret string) tokenResult {
	return serve(ctx, f.token, addr, "application/x-www-form-urlencoded",
		"grant_type=client_credentials&client_id="+url.QueryEscape(id)+"&client_secret="+url.QueryEscape(secret))
}

// wrongSecret is the i-th wrong secret.
func wrongSecret(i int) string {
	return "wrong-secret-" + strconv.Itoa(1_000_000+i) + "-abcdefghijklmnopq"
}

// TestClientNotLockedOutByGuesses: guesses at a client's secret from one
// address never refuse the client itself, which authenticates from
// another; the guessing address stays throttled, for every client ID.
func TestClientNotLockedOutByGuesses(t *testing.T) {
	f := newLimitFixture(t, nil, nil)
	ctx := context.Background()
	for i := 0; i < 20; i++ {
		r := f.clientCredentials(ctx, attackerAddr, "svc-1", wrongSecret(i))
		require.Equal(t, 401, r.status, "guess %d", i)
		require.Equal(t, "invalid_client", r.body["error"])
	}
	for i := 0; i < 3; i++ {
		// The real client, elsewhere, with its secret: a token, every time.
		r := f.clientCredentials(ctx, clientAddr, "svc-1", clientSecret)
		require.Equal(t, 200, r.status, r.body)
		assert.NotEmpty(t, r.body["access_token"])
		assert.Equal(t, "Bearer", r.body["token_type"])

		// The guessing address: 429 with Retry-After, the right secret too,
		// and for another client ID as well (its per-address bucket).
		for _, c := range []struct{ id, secret string }{
			{"svc-1", wrongSecret(100 + i)}, {"svc-1", clientSecret}, {"svc-2", wrongSecret(200 + i)}, {"svc-2", "other-" + clientSecret},
		} {
			r := f.clientCredentials(ctx, attackerAddr, c.id, c.secret)
			assert.Equal(t, 429, r.status, "%s from the guessing address", c.id)
			assert.Equal(t, "invalid_client", r.body["error"])
			assert.Equal(t, "3", r.retry, "20 a minute: one every 3 seconds")
		}
	}
}
