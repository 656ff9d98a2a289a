package oauth_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apiauth/apiauth"
	"github.com/apiauth/apiauth/apiauthtest"
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

// gatedClients is a ClientStore whose look-ups go through a gate.
type gatedClients struct {
	oauth.ClientStore
	gate *apiauthtest.Gate
	err  error // returned by every look-up when set
}

func (s *gatedClients) GetClient(ctx context.Context, id string) (*oauth.ClientRecord, error) {
	s.gate.Hold(ctx)
	if s.err != nil {
		return nil, s.err
	}
	return s.ClientStore.GetClient(ctx, id)
}

// gatedKeys is a KeyStore whose look-ups go through a gate.
type gatedKeys struct {
	apiauth.KeyStore
	gate *apiauthtest.Gate
	err  error // returned by every look-up when set
}

func (s *gatedKeys) LookupKey(ctx context.Context, d apiauth.KeyDigest) (*apiauth.KeyRecord, error) {
	s.gate.Hold(ctx)
	if s.err != nil {
		return nil, s.err
	}
	return s.KeyStore.LookupKey(ctx, d)
}

// badKey is the i-th API key that is not one.
func badKey(i int) string { return "guess-key-" + strconv.Itoa(1_000_000+i) + "-abcdefghij" }

// TestTokenEndpointReservesBeforeLookup: a burst of bad client secrets or
// API keys from one address reaches the store exactly as often as the
// failure limit allows, however slow the store, while a valid credential
// from elsewhere goes through; valid credentials give back what they
// reserved; and a look-up that ends in a store failure counts.
func TestTokenEndpointReservesBeforeLookup(t *testing.T) {
	const busy = "192.0.2.44:8000"
	bg := context.Background()
	form := func(key string) string {
		return "grant_type=" + url.QueryEscape(oauth.GrantTokenExchange) + "&subject_token=" + url.QueryEscape(key) +
			"&subject_token_type=" + url.QueryEscape(oauth.TokenTypeAPIKey)
	}
	for _, tc := range []struct {
		name string
		// send presents a valid or a bad credential (the i-th) from addr.
		send func(f *limitFixture, ctx context.Context, addr string, valid bool, i int) tokenResult
		bad  int // the status of a bad credential
	}{
		{"ClientSecret", func(f *limitFixture, ctx context.Context, addr string, valid bool, i int) tokenResult {
			if valid {
				return f.clientCredentials(ctx, addr, "svc-1", clientSecret)
			}
			return f.clientCredentials(ctx, addr, "svc-1", wrongSecret(i))
		}, 401},
		{"APIKeyExchange", func(f *limitFixture, ctx context.Context, addr string, valid bool, i int) tokenResult {
			if valid {
				return serve(ctx, f.token, addr, "application/x-www-form-urlencoded", form(readerKey))
			}
			return serve(ctx, f.token, addr, "application/x-www-form-urlencoded", form(badKey(i)))
		}, 400},
		{"APIKeyJSON", func(f *limitFixture, ctx context.Context, addr string, valid bool, i int) tokenResult {
			key := badKey(i)
			if valid {
				key = readerKey
			}
			return serve(ctx, f.json, addr, "application/json", `{"apiKey":"`+key+`"}`)
		}, 400},
	} {
		// setup returns the fixture and the gate its stores' look-ups
		// go through, the client store's or the key store's.
		setup := func(t *testing.T, lookupErr error) (*limitFixture, *apiauthtest.Gate) {
			g := apiauthtest.NewGate()
			if tc.name == "ClientSecret" {
				return newLimitFixture(t, &gatedClients{ClientStore: oauth.NewMemoryClientStore(), gate: g, err: lookupErr}, nil), g
			}
			return newLimitFixture(t, nil, &gatedKeys{KeyStore: apiauth.NewMemoryKeyStore(), gate: g, err: lookupErr}), g
		}
		t.Run(tc.name+"/ConcurrentGuesses", func(t *testing.T) {
			f, g := setup(t, nil)
			counts := g.Burst(t, 500, func(ctx context.Context, i int) int {
				return tc.send(f, ctx, attackerAddr, false, i).status
			}, func() {
				// The attacker's look-ups are held at the store: a valid
				// credential from another address is served meanwhile.
				for range 5 {
					r := tc.send(f, bg, clientAddr, true, 0)
					require.Equal(t, 200, r.status, r.body)
					assert.NotEmpty(t, r.body["access_token"])
				}
			})
			assert.EqualValues(t, 20, g.Lookups(), "store look-ups for 500 concurrent guesses against 20 a minute")
			assert.Equal(t, map[int]int{tc.bad: 20, 429: 480}, counts)
			r := tc.send(f, bg, attackerAddr, true, 0)
			assert.Equal(t, 429, r.status, "the address stays throttled")
			assert.Equal(t, "3", r.retry)
			assert.Equal(t, 200, tc.send(f, bg, clientAddr, true, 0).status)
		})
		t.Run(tc.name+"/ValidGiveBack", func(t *testing.T) {
			f, _ := setup(t, nil)
			for i := range 1000 {
				r := tc.send(f, bg, busy, true, 0)
				require.Equal(t, 200, r.status, "valid request %d: %v", i, r.body)
			}
			assert.Equal(t, tc.bad, tc.send(f, bg, busy, false, 0).status, "1000 valid credentials spent none of the 20 failures")
		})
		t.Run(tc.name+"/StoreFailuresCount", func(t *testing.T) {
			f, _ := setup(t, errors.New("db: connection refused"))
			for i := range 20 {
				r := tc.send(f, bg, attackerAddr, false, i)
				require.Equal(t, 503, r.status, "look-up %d: %v", i, r.body)
			}
			assert.Equal(t, 429, tc.send(f, bg, attackerAddr, false, 20).status)
			assert.Equal(t, 429, tc.send(f, bg, attackerAddr, true, 0).status)
		})
	}
}

// TestFailureStoreShared: instances given one FailureStore count the same
// guesses: an address that spent its failures on one instance is refused
// by the other; without a shared store each instance counts its own.
func TestFailureStoreShared(t *testing.T) {
	ctx := context.Background()
	clients := oauth.NewMemoryClientStore()
	_, err := oauth.RegisterClient(ctx, clients, oauth.ClientSpec{ID: "svc-1", Tenant: "acme", Scopes: []apiauth.Scope{apiauth.Read}}, clientSecret)
	require.NoError(t, err)
	frozen := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	instance := func(store apiauth.Store) http.Handler {
		is, err := oauth.NewIssuer(oauth.Config{Issuer: "https://auth.test", Audience: "api", Clients: clients, FailureStore: store,
			Now: func() time.Time { return frozen }, FailureLimit: apiauth.Tier{Limits: []apiauth.Limit{{Requests: 5, Window: time.Minute}}}})
		require.NoError(t, err)
		return is.TokenHandler()
	}
	guess := func(h http.Handler, i int) int {
		return serve(ctx, h, attackerAddr, "application/x-www-form-urlencoded",
			"grant_type=client_credentials&client_id=svc-1&client_secret="+url.QueryEscape(wrongSecret(i))).status
	}
	for _, shared := range []bool{true, false} {
		var a, b http.Handler
		if shared {
			store := apiauth.NewMemoryStore()
			a, b = instance(store), instance(store)
		} else {
			a, b = instance(nil), instance(nil)
		}
		for i := range 5 {
			require.Equal(t, http.StatusUnauthorized, guess(a, i))
		}
		require.Equal(t, http.StatusTooManyRequests, guess(a, 5))
		want := http.StatusUnauthorized
		if shared {
			want = http.StatusTooManyRequests
		}
		assert.Equal(t, want, guess(b, 6), "shared store: %v", shared)
	}
}

// downStore is a shared store that cannot answer, as Redis when it is
// down.
type downStore struct{}

func (downStore) Take(context.Context, string, []apiauth.Limit, time.Time) (apiauth.Decision, error) {
	return apiauth.Decision{}, errors.New("store down")
}

func (downStore) Peek(context.Context, string, []apiauth.Limit, time.Time) (apiauth.Decision, error) {
	return apiauth.Decision{}, errors.New("store down")
}

func (downStore) Refund(context.Context, string, []apiauth.Limit, time.Time) error {
	return errors.New("store down")
}

// TestFailureStoreDown: while the shared failure store is down, guesses
// are counted in process: throttled per instance, never unlimited.
func TestFailureStoreDown(t *testing.T) {
	ctx := context.Background()
	clients := oauth.NewMemoryClientStore()
	_, err := oauth.RegisterClient(ctx, clients, oauth.ClientSpec{ID: "svc-1", Tenant: "acme", Scopes: []apiauth.Scope{apiauth.Read}}, clientSecret)
	require.NoError(t, err)
	frozen := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	is, err := oauth.NewIssuer(oauth.Config{Issuer: "https://auth.test", Audience: "api", Clients: clients, FailureStore: downStore{},
		Now: func() time.Time { return frozen }, FailureLimit: apiauth.Tier{Limits: []apiauth.Limit{{Requests: 5, Window: time.Minute}}}})
	require.NoError(t, err)
	h := is.TokenHandler()
	send := func(addr, secret string) int {
		return serve(ctx, h, addr, "application/x-www-form-urlencoded",
			"grant_type=client_credentials&client_id=svc-1&client_secret="+url.QueryEscape(secret)).status
	}
	for range 3 {
		require.Equal(t, http.StatusOK, send(clientAddr, clientSecret), "valid credentials give their unit back")
	}
	for i := range 5 {
		require.Equal(t, http.StatusUnauthorized, send(attackerAddr, wrongSecret(i)))
	}
	assert.Equal(t, http.StatusTooManyRequests, send(attackerAddr, wrongSecret(5)))
	assert.Equal(t, http.StatusOK, send(clientAddr, clientSecret), "another address is not refused")
}
