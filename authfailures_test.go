package apiauth_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/apiauth/apiauth"
	"github.com/apiauth/apiauth/apiauthtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFailureLimit(t *testing.T) {
	f := newFixture(t)
	three := apiauth.Tier{Name: "failures", Limits: []apiauth.Limit{{Requests: 3, Window: time.Hour}}}
	h := apiauth.Authenticate(f.keys, apiauth.WithProblemTypeBase(typeBase),
		apiauth.WithFailureLimit(apiauth.NewMemoryStore(), three))(echo)
	do := func(remote, auth string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", "/v1/me", nil)
		req.RemoteAddr = remote
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		rr := httptest.NewRecorder()
		h.ServeHTTP(rr, req)
		return rr
	}
	const attacker, victim = "198.51.100.66:4000", "203.0.113.5:4000"

	// Valid credentials and missing ones never count.
	for i := 0; i < 10; i++ {
		require.Equal(t, 200, do(attacker, "Bearer "+readerKey).Code)
		require.Equal(t, 401, do(attacker, "").Code)
	}
	// Three guesses are answered as usual, malformed headers included.
	assert.Equal(t, 401, do(attacker, "Bearer guess-0000000000000000000001").Code)
	assert.Equal(t, 400, do(attacker, "Bearer").Code)
	assert.Equal(t, 401, do(attacker, "Bearer "+revokedKey).Code)
	// Then every credential from that address is refused unseen, the
	// right one too, so the answer says nothing about the guess.
	for _, auth := range []string{"Bearer guess-0000000000000000000002", "Bearer " + readerKey} {
		rr := do(attacker, auth)
		retry := rr.Header().Get("Retry-After")
		n, err := strconv.Atoi(retry)
		require.NoError(t, err)
		assert.InDelta(t, 1200, n, 2, "one failure recovers every 20 minutes")
		assertProblem(t, rr, "GET", problemBody{Type: typeBase + "rate_limited", Title: "Rate limit exceeded", Status: 429,
			Detail: "Too many failed authentication attempts. Try again in " + retry + " seconds.", Instance: "/v1/me",
			Code: "rate_limited"}, http.Header{"Retry-After": {retry}})
	}
	// No credentials is still the plain 401 challenge.
	assert.Equal(t, 401, do(attacker, "").Code)
	// Another client, and its key, are unaffected.
	assert.Equal(t, 200, do(victim, "Bearer "+readerKey).Code)
	assert.Equal(t, 401, do(victim, "Bearer guess-0000000000000000000003").Code)
	assert.Equal(t, 200, do(victim, "Bearer "+readerKey).Code)
}

func TestFailureLimitBehindProxy(t *testing.T) {
	f := newFixture(t)
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	one := apiauth.Tier{Name: "failures", Limits: []apiauth.Limit{{Requests: 1, Window: time.Hour}}}
	h := apiauth.Authenticate(f.keys, apiauth.WithFailureLimit(apiauth.NewMemoryStore(), one),
		apiauth.WithClientIP(&apiauth.ClientIP{TrustedProxies: trusted}))(echo)
	do := func(client, auth string) int {
		req := httptest.NewRequest("GET", "/", nil)
		req.RemoteAddr = "10.0.0.1:80"
		req.Header.Set("X-Forwarded-For", client)
		req.Header.Set("Authorization", auth)
		rr := httptest.NewRecorder()
		h.ServeHTTP(rr, req)
		return rr.Code
	}
	assert.Equal(t, 401, do("198.51.100.1", "Bearer guess-0000000000000000000001"))
	assert.Equal(t, 429, do("198.51.100.1", "Bearer "+readerKey))
	assert.Equal(t, 200, do("198.51.100.2", "Bearer "+readerKey), "clients behind the same proxy are told apart")
}

func TestFailureLimitStoreDown(t *testing.T) {
	f := newFixture(t)
	h := apiauth.Authenticate(f.keys, apiauth.WithFailureLimit(failingRateStore{}, apiauth.Tier{}))(echo)
	for _, tc := range []struct {
		auth   string
		status int
	}{{"Bearer " + readerKey, 200}, {"Bearer guess-0000000000000000000001", 401}} {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("Authorization", tc.auth)
		rr := httptest.NewRecorder()
		h.ServeHTTP(rr, req)
		assert.Equal(t, tc.status, rr.Code, "verified as if there were no limit")
	}
	assert.Panics(t, func() {
		apiauth.WithFailureLimit(apiauth.NewMemoryStore(), apiauth.Tier{Limits: []apiauth.Limit{{Requests: -5}}})
	})
}

// frozenStore is a MemoryStore on a clock that never moves, so that no
// failure recovers during a test and every count is exact.
type frozenStore struct{ *apiauth.MemoryStore }

func (s frozenStore) Take(ctx context.Context, key string, limits []apiauth.Limit, _ time.Time) (apiauth.Decision, error) {
	return s.MemoryStore.Take(ctx, key, limits, t0)
}

func (s frozenStore) Peek(ctx context.Context, key string, limits []apiauth.Limit, _ time.Time) (apiauth.Decision, error) {
	return s.MemoryStore.Peek(ctx, key, limits, t0)
}

func (s frozenStore) Refund(ctx context.Context, key string, limits []apiauth.Limit, _ time.Time) error {
	return s.MemoryStore.Refund(ctx, key, limits, t0)
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

// TestFailureLimitReservesBeforeLookup: a burst of bad keys from one
// address reaches the key store exactly as often as the limit allows,
// however slow the store, while a valid key from elsewhere goes through;
// valid keys give back what they reserved; and a look-up that ends in a
// store failure counts.
func TestFailureLimitReservesBeforeLookup(t *testing.T) {
	const attacker, victim, busy = "203.0.113.9:41000", "198.51.100.7:52000", "192.0.2.44:8000"
	twenty := apiauth.Tier{Name: "failures", Limits: []apiauth.Limit{{Requests: 20, Window: time.Minute}}}
	setup := func(t *testing.T, lookupErr error) (*apiauthtest.Gate, func(ctx context.Context, remote, auth string) int) {
		g := apiauthtest.NewGate()
		keys := &apiauth.Keys{Store: &gatedKeys{KeyStore: apiauth.NewMemoryKeyStore(), gate: g, err: lookupErr}}
		_, err := keys.Import(context.Background(), readerKey, apiauth.KeySpec{ID: "k-reader", Subject: "user-1", Tenant: "acme", Scopes: []apiauth.Scope{apiauth.Read}})
		require.NoError(t, err)
		h := apiauth.Authenticate(keys, apiauth.WithFailureLimit(frozenStore{apiauth.NewMemoryStore()}, twenty))(echo)
		return g, func(ctx context.Context, remote, auth string) int {
			req := httptest.NewRequestWithContext(ctx, "GET", "/v1/me", nil)
			req.RemoteAddr = remote
			req.Header.Set("Authorization", auth)
			rr := httptest.NewRecorder()
			h.ServeHTTP(rr, req)
			return rr.Code
		}
	}
	guess := func(i int) string { return fmt.Sprintf("Bearer guess-%024d", i) }
	bg := context.Background()

	t.Run("ConcurrentGuesses", func(t *testing.T) {
		g, do := setup(t, nil)
		counts := g.Burst(t, 500, func(ctx context.Context, i int) int { return do(ctx, attacker, guess(i)) }, func() {
			// The attacker's look-ups are held at the store: a valid key
			// from another address is served meanwhile.
			for range 5 {
				require.Equal(t, 200, do(bg, victim, "Bearer "+readerKey))
			}
		})
		assert.EqualValues(t, 20, g.Lookups(), "key-store look-ups for 500 concurrent guesses against 20 a minute")
		assert.Equal(t, map[int]int{401: 20, 429: 480}, counts)
		assert.Equal(t, 429, do(bg, attacker, "Bearer "+readerKey), "the address stays throttled")
		assert.Equal(t, 200, do(bg, victim, "Bearer "+readerKey))
	})

	t.Run("ValidKeysGiveBack", func(t *testing.T) {
		_, do := setup(t, nil)
		for i := range 1000 {
			require.Equal(t, 200, do(bg, busy, "Bearer "+readerKey), "valid request %d", i)
		}
		assert.Equal(t, 401, do(bg, busy, guess(0)), "1000 valid keys spent none of the 20 failures")
	})

	t.Run("StoreFailuresCount", func(t *testing.T) {
		_, do := setup(t, errors.New("db: connection refused"))
		for i := range 20 {
			require.Equal(t, 503, do(bg, attacker, guess(i)), "look-up %d", i)
		}
		assert.Equal(t, 429, do(bg, attacker, guess(20)))
		assert.Equal(t, 429, do(bg, attacker, "Bearer "+readerKey))
	})
}
