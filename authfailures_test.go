package apiauth_test

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/apiauth/apiauth"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFailureLimit(t *testing.T) {
	f := newFixture(t)
	three := apiauth.Tier{Name: "failures", Limits: []apiauth.Limit{{Requests: 3, Window: time.Hour}}}
	h := apiauth.Authenticate(f.keys, apiauth.WithProblemTypeBase(typeBase),
		apiauth.WithFailureLimit(apiauth.NewMemoryStore(), three, nil))(echo)
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
	h := apiauth.Authenticate(f.keys, apiauth.WithFailureLimit(apiauth.NewMemoryStore(), one,
		&apiauth.ClientIP{TrustedProxies: trusted}))(echo)
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
	h := apiauth.Authenticate(f.keys, apiauth.WithFailureLimit(failingRateStore{}, apiauth.Tier{}, nil))(echo)
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
		apiauth.WithFailureLimit(apiauth.NewMemoryStore(), apiauth.Tier{Limits: []apiauth.Limit{{Requests: -5}}}, nil)
	})
}
