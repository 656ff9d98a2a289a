package apiauth_test

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/apiauth/apiauth"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// clock is a fake time source for RateLimit.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func principalLayer(p *apiauth.Principal) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r.WithContext(apiauth.WithPrincipal(r.Context(), p)))
		})
	}
}

var tiny = apiauth.Tier{Name: "tiny", Limits: []apiauth.Limit{{Name: "minute", Requests: 5, Window: time.Minute}}}

func TestRateLimitHeadersOverASequence(t *testing.T) {
	clk := &clock{now: time.Unix(1_800_000_000, 0)}
	p := &apiauth.Principal{KeyID: "k1", Tier: "tiny"}
	h := principalLayer(p)(apiauth.RateLimit(apiauth.NewMemoryStore(),
		apiauth.Tiers{"tiny": tiny}, apiauth.WithClock(clk.Now))(echo))
	do := func() *httptest.ResponseRecorder {
		rr := httptest.NewRecorder()
		h.ServeHTTP(rr, httptest.NewRequest("GET", "/v1/orders", nil))
		return rr
	}
	start := clk.Now().Unix()
	// 5 per minute: one request every 12 s on average, 5 at once.
	for i := 1; i <= 5; i++ {
		rr := do()
		require.Equal(t, 200, rr.Code, "request %d", i)
		assert.Equal(t, "5", rr.Header().Get("X-RateLimit-Limit"))
		assert.Equal(t, strconv.Itoa(5-i), rr.Header().Get("X-RateLimit-Remaining"))
		assert.Equal(t, strconv.FormatInt(start+int64(12*i), 10), rr.Header().Get("X-RateLimit-Reset"),
			"back to 5 after %d × 12 s", i)
		assert.Empty(t, rr.Header().Get("Retry-After"))
	}
	rr := do()
	assertProblem(t, rr, "GET", problemBody{Type: "about:blank", Title: "Too Many Requests", Status: 429,
		Detail: "Rate limit exceeded. Try again in 12 seconds.", Instance: "/v1/orders", Code: "rate_limited"},
		http.Header{
			"Retry-After":           {"12"},
			"X-Ratelimit-Limit":     {"5"},
			"X-Ratelimit-Remaining": {"0"},
			"X-Ratelimit-Reset":     {strconv.FormatInt(start+60, 10)},
		})
	retry, _ := strconv.Atoi(rr.Header().Get("Retry-After"))
	reset, _ := strconv.ParseInt(rr.Header().Get("X-RateLimit-Reset"), 10, 64)
	assert.LessOrEqual(t, int64(retry), reset-clk.Now().Unix(), "Retry-After is no later than the full reset")

	// A refusal consumed nothing: 11.9 s later still refused, 12 s later one passes.
	clk.Advance(11900 * time.Millisecond)
	rr = do()
	assert.Equal(t, 429, rr.Code)
	assert.Equal(t, "1", rr.Header().Get("Retry-After"), "rounded up, at least 1")
	clk.Advance(100 * time.Millisecond)
	rr = do()
	assert.Equal(t, 200, rr.Code)
	assert.Equal(t, "0", rr.Header().Get("X-RateLimit-Remaining"))
	// After a full window everything is back.
	clk.Advance(time.Minute)
	rr = do()
	assert.Equal(t, 200, rr.Code)
	assert.Equal(t, "4", rr.Header().Get("X-RateLimit-Remaining"))
}

func TestRateLimitAllOrNothing(t *testing.T) {
	store := apiauth.NewMemoryStore()
	now := time.Unix(1_800_000_000, 0)
	limits := []apiauth.Limit{{Name: "hour", Requests: 10, Window: time.Hour}, {Name: "burst", Requests: 2, Window: time.Second}}
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		d, err := store.Take(ctx, "k", limits, now)
		require.NoError(t, err)
		require.True(t, d.Allowed)
	}
	for i := 0; i < 3; i++ {
		d, err := store.Take(ctx, "k", limits, now)
		require.NoError(t, err)
		assert.False(t, d.Allowed)
		assert.Equal(t, int64(8), d.Limits[0].Remaining, "the burst's refusal spent nothing of the hour")
		assert.Equal(t, time.Duration(0), d.Limits[0].RetryAfter)
		assert.Equal(t, 500*time.Millisecond, d.Limits[1].RetryAfter)
		assert.Equal(t, 500*time.Millisecond, d.RetryAfter)
	}
	d, err := store.Take(ctx, "k", limits, now.Add(500*time.Millisecond))
	require.NoError(t, err)
	assert.True(t, d.Allowed)
	assert.Equal(t, int64(7), d.Limits[0].Remaining)
	// Another key and another tier for the same key are separate buckets.
	d, _ = store.Take(ctx, "other", limits, now)
	assert.True(t, d.Allowed)
	d, _ = store.Take(ctx, "k", []apiauth.Limit{{Requests: 3, Window: time.Second}}, now)
	assert.True(t, d.Allowed)
}

func TestRateLimitNoDoubleBurstAtWindowEdge(t *testing.T) {
	store := apiauth.NewMemoryStore()
	limits := []apiauth.Limit{{Requests: 10, Window: time.Minute}}
	start := time.Unix(1_800_000_059, 0) // one second before a minute boundary
	allowed := 0
	for i := 0; i < 40; i++ {
		at := start.Add(time.Duration(i) * 50 * time.Millisecond) // spans the boundary
		if d, _ := store.Take(context.Background(), "k", limits, at); d.Allowed {
			allowed++
		}
	}
	assert.Equal(t, 10, allowed, "10 at once, then one per 6 s: none in the next 2 s")
}

func TestRateLimitUnlimitedNeverBinds(t *testing.T) {
	store := apiauth.NewMemoryStore()
	now := time.Unix(1_800_000_000, 0)
	onlyUnlimited := []apiauth.Limit{{Requests: apiauth.Unlimited, Window: time.Hour}}
	for i := 0; i < 10000; i++ {
		d, err := store.Take(context.Background(), "k", onlyUnlimited, now)
		require.NoError(t, err)
		require.True(t, d.Allowed)
	}
	assert.Zero(t, store.Len(), "an unlimited limit keeps no state")

	// Enterprise: the hour never binds, the burst of 1,000 per second does,
	// and the headers describe the burst.
	h := principalLayer(&apiauth.Principal{KeyID: "e", Tier: "enterprise"})(
		apiauth.RateLimit(store, nil, apiauth.WithClock(func() time.Time { return now }))(echo))
	var last *httptest.ResponseRecorder
	for i := 0; i < 1001; i++ {
		last = httptest.NewRecorder()
		h.ServeHTTP(last, httptest.NewRequest("GET", "/", nil))
	}
	assert.Equal(t, 429, last.Code)
	assert.Equal(t, "1000", last.Header().Get("X-RateLimit-Limit"))
}

func TestRateLimitIETFHeaders(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	h := principalLayer(&apiauth.Principal{KeyID: "k"})(apiauth.RateLimit(apiauth.NewMemoryStore(), nil,
		apiauth.WithClock(func() time.Time { return now }), apiauth.WithIETFHeaders())(echo))
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, httptest.NewRequest("GET", "/", nil))
	assert.Equal(t, `"hour";q=1000;w=3600, "burst";q=50;w=1`, rr.Header().Get("RateLimit-Policy"))
	// One request used: the hour is full again 3.6 s later, the burst 20 ms later.
	assert.Equal(t, `"hour";r=999;t=4, "burst";r=49;t=1`, rr.Header().Get("RateLimit"))
	assert.Equal(t, "1000", rr.Header().Get("X-RateLimit-Limit"))
	assert.Equal(t, "999", rr.Header().Get("X-RateLimit-Remaining"))
}

func TestRateLimitKeys(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	oneReq := apiauth.Tiers{"free": {Name: "one", Limits: []apiauth.Limit{{Requests: 1, Window: time.Hour}}}}
	store := apiauth.NewMemoryStore()
	rl := apiauth.RateLimit(store, oneReq, apiauth.WithClock(func() time.Time { return now }))
	status := func(p *apiauth.Principal, remote string) int {
		h := rl(echo)
		if p != nil {
			h = principalLayer(p)(h)
		}
		req := httptest.NewRequest("GET", "/", nil)
		req.RemoteAddr = remote
		rr := httptest.NewRecorder()
		h.ServeHTTP(rr, req)
		return rr.Code
	}
	// Key ID buckets: a key and the tokens exchanged from it share one.
	assert.Equal(t, 200, status(&apiauth.Principal{KeyID: "k1", Subject: "a"}, "192.0.2.1:1"))
	assert.Equal(t, 429, status(&apiauth.Principal{KeyID: "k1", Subject: "b"}, "192.0.2.2:1"))
	assert.Equal(t, 200, status(&apiauth.Principal{KeyID: "k2"}, "192.0.2.1:1"))
	// Without a key ID, the subject within its tenant.
	assert.Equal(t, 200, status(&apiauth.Principal{Subject: "svc", Tenant: "acme"}, "192.0.2.1:1"))
	assert.Equal(t, 429, status(&apiauth.Principal{Subject: "svc", Tenant: "acme"}, "192.0.2.9:1"))
	assert.Equal(t, 200, status(&apiauth.Principal{Subject: "svc", Tenant: "globex"}, "192.0.2.9:1"))
	// Anonymous: the client IP; IPv6 by /64.
	assert.Equal(t, 200, status(nil, "192.0.2.1:1"))
	assert.Equal(t, 429, status(nil, "192.0.2.1:2"))
	assert.Equal(t, 200, status(nil, "192.0.2.3:1"))
	assert.Equal(t, 200, status(nil, "[2001:db8:1:2::1]:1"))
	assert.Equal(t, 429, status(nil, "[2001:db8:1:2:ffff::9]:1"))
	assert.Equal(t, 200, status(nil, "[2001:db8:1:3::1]:1"))
	// A principal's key ID can never collide with an address.
	assert.Equal(t, 200, status(&apiauth.Principal{KeyID: "192.0.2.3"}, "192.0.2.3:1"))
}

// failingRateStore is a rate-limit store whose backend is down.
type failingRateStore struct{}

func (failingRateStore) Take(context.Context, string, []apiauth.Limit, time.Time) (apiauth.Decision, error) {
	return apiauth.Decision{}, errors.New("redis: connection refused")
}

func (failingRateStore) Peek(context.Context, string, []apiauth.Limit, time.Time) (apiauth.Decision, error) {
	return apiauth.Decision{}, errors.New("redis: connection refused")
}

func (failingRateStore) Refund(context.Context, string, []apiauth.Limit, time.Time) error {
	return errors.New("redis: connection refused")
}

func TestRateLimitStoreFailure(t *testing.T) {
	p := principalLayer(&apiauth.Principal{KeyID: "k"})
	closed := p(apiauth.RateLimit(failingRateStore{}, nil)(echo))
	rr := httptest.NewRecorder()
	closed.ServeHTTP(rr, httptest.NewRequest("GET", "/x", nil))
	assertProblem(t, rr, "GET", problemBody{Type: "about:blank", Title: "Service Unavailable", Status: 503,
		Detail: "Rate limits cannot be checked right now; try again later.", Instance: "/x", Code: "temporarily_unavailable"},
		http.Header{"Retry-After": {"1"}})

	open := p(apiauth.RateLimit(failingRateStore{}, nil, apiauth.WithFailOpen())(echo))
	rr = httptest.NewRecorder()
	open.ServeHTTP(rr, httptest.NewRequest("GET", "/x", nil))
	assert.Equal(t, 200, rr.Code)
	assert.Empty(t, rr.Header().Get("X-RateLimit-Limit"))
}

func TestRateLimitUsesAuthenticateSettings(t *testing.T) {
	f := newFixture(t)
	now := time.Unix(1_800_000_000, 0)
	h := apiauth.Authenticate(f.keys, apiauth.WithProblemTypeBase(typeBase))(
		apiauth.RateLimit(apiauth.NewMemoryStore(), apiauth.Tiers{"free": tiny},
			apiauth.WithClock(func() time.Time { return now }))(echo))
	var rr *httptest.ResponseRecorder
	for i := 0; i < 6; i++ {
		req := httptest.NewRequest("GET", "/v1/orders", nil)
		req.Header.Set("Authorization", "Bearer "+readerKey)
		rr = httptest.NewRecorder()
		h.ServeHTTP(rr, req)
	}
	assert.Equal(t, 429, rr.Code)
	assert.Contains(t, rr.Body.String(), `"type":"`+typeBase+`rate_limited"`)
	assert.Contains(t, rr.Body.String(), `"title":"Rate limit exceeded"`)
}

// An invalid tier is refused when the layer is built, never on a request.
func TestRateLimitInvalidTierPanicsAtConstruction(t *testing.T) {
	bad := apiauth.Tiers{"zero": {Name: "zero", Limits: []apiauth.Limit{{Requests: 0, Window: time.Second}}}}
	assert.PanicsWithError(t, `apiauth: tier "zero": limit "": requests must be positive or Unlimited`, func() {
		apiauth.RateLimit(apiauth.NewMemoryStore(), bad)
	})
}

// The tiers are the layer's own once it is built: changing the caller's
// map or its slices afterwards changes nothing.
func TestRateLimitCopiesTiers(t *testing.T) {
	tiers := apiauth.Tiers{"free": {Name: "free", Limits: []apiauth.Limit{{Requests: 1, Window: time.Hour}}}}
	h := principalLayer(&apiauth.Principal{KeyID: "k"})(apiauth.RateLimit(apiauth.NewMemoryStore(), tiers)(echo))
	tiers["free"].Limits[0].Requests = 1000
	tiers["free"] = apiauth.Tier{Name: "free", Limits: []apiauth.Limit{{Requests: 1000, Window: time.Hour}}}
	for _, want := range []int{200, 429} {
		rr := httptest.NewRecorder()
		h.ServeHTTP(rr, httptest.NewRequest("GET", "/", nil))
		assert.Equal(t, want, rr.Code)
		assert.Equal(t, "1", rr.Header().Get("X-RateLimit-Limit"))
	}
}

func TestTiers(t *testing.T) {
	ts := apiauth.Presets()
	ts["tiny"] = tiny
	limitOf := func(tiers apiauth.Tiers, p *apiauth.Principal) string {
		h := apiauth.RateLimit(apiauth.NewMemoryStore(), tiers)(echo)
		if p != nil {
			h = principalLayer(p)(h)
		}
		rr := httptest.NewRecorder()
		h.ServeHTTP(rr, httptest.NewRequest("GET", "/", nil))
		return rr.Header().Get("X-RateLimit-Limit")
	}
	assert.Equal(t, "5", limitOf(ts, &apiauth.Principal{KeyID: "k", Tier: "tiny"}))
	assert.Equal(t, "10000", limitOf(ts, &apiauth.Principal{KeyID: "k", Tier: "pro"}))
	assert.Equal(t, "1000", limitOf(ts, &apiauth.Principal{KeyID: "k", Tier: "platinum"}), "unknown names get free")
	assert.Equal(t, "1000", limitOf(ts, nil), "anonymous callers get free")
	assert.Equal(t, "1000", limitOf(apiauth.Tiers{"tiny": tiny}, nil), "without a free tier, the preset one")
	assert.Equal(t, "5", limitOf(apiauth.Tiers{"free": tiny}, &apiauth.Principal{KeyID: "k", Tier: "pro"}))
	assert.Equal(t, []string{"enterprise", "free", "pro"}, slices.Sorted(maps.Keys(apiauth.Presets())))
	for _, tier := range apiauth.Presets() {
		assert.NoError(t, tier.Validate())
	}
	p1 := apiauth.Presets()
	p1["free"].Limits[0].Requests = 1
	assert.Equal(t, int64(1000), apiauth.Presets()["free"].Limits[0].Requests, "each call is a new copy")
	for _, bad := range []apiauth.Tier{
		{Name: "empty"},
		{Name: "zero", Limits: []apiauth.Limit{{Requests: 0, Window: time.Second}}},
		{Name: "nowindow", Limits: []apiauth.Limit{{Requests: 1}}},
		{Name: "many", Limits: make([]apiauth.Limit, apiauth.MaxLimits+1)},
		{Name: "forever", Limits: []apiauth.Limit{{Requests: 1, Window: 100*365*24*time.Hour + 1}}},
		{Name: "badname", Limits: []apiauth.Limit{{Name: "hour\"", Requests: 1, Window: time.Hour}}},
		{Name: "unicode", Limits: []apiauth.Limit{{Name: "stündlich", Requests: 1, Window: time.Hour}}},
	} {
		assert.Error(t, bad.Validate(), bad.Name)
	}
}

func TestMemoryStoreBounded(t *testing.T) {
	const max = 64 * 1024
	store := apiauth.NewMemoryStoreSize(max)
	now := time.Unix(1_800_000_000, 0)
	limits := []apiauth.Limit{{Requests: 100, Window: time.Hour}}
	for i := 0; i < 1_000_000; i++ {
		_, err := store.Take(context.Background(), "key-"+strconv.Itoa(i), limits, now)
		require.NoError(t, err)
	}
	assert.LessOrEqual(t, store.Len(), max, "a million keys stay within the cap")

}

// TestMemoryStoreTinyCap: a cap too small to split among the shards is
// raised, never turned into forgetting every key (which would limit
// nothing).
func TestMemoryStoreTinyCap(t *testing.T) {
	const minEntries = 64 * 8 // NewMemoryStoreSize's floor: 8 entries a shard
	for _, capacity := range []int{1, 10, 63, 64, 100, minEntries} {
		store := apiauth.NewMemoryStoreSize(capacity)
		now := time.Unix(1_800_000_000, 0)
		limits := []apiauth.Limit{{Requests: 2, Window: time.Hour}}
		var allowed []bool
		for range 3 {
			d, err := store.Take(context.Background(), "k", limits, now)
			require.NoError(t, err)
			allowed = append(allowed, d.Allowed)
		}
		assert.Equal(t, []bool{true, true, false}, allowed, "cap %d", capacity)
		for i := range 10 * minEntries {
			_, err := store.Take(context.Background(), "other-"+strconv.Itoa(i), limits, now)
			require.NoError(t, err)
		}
		assert.LessOrEqual(t, store.Len(), minEntries, "cap %d", capacity)
	}
}

func TestMemoryStoreDropsRecoveredState(t *testing.T) {
	store := apiauth.NewMemoryStoreSize(4 << 20) // no eviction: only recovery drops
	now := time.Unix(1_800_000_000, 0)
	limits := []apiauth.Limit{{Requests: 100, Window: time.Hour}}
	for i := 0; i < 300_000; i++ {
		_, _ = store.Take(context.Background(), "old-"+strconv.Itoa(i), limits, now)
	}
	require.Equal(t, 300_000, store.Len())
	// Two hours later every old key has fully recovered; new keys arriving
	// sweep them out.
	later := now.Add(2 * time.Hour)
	for i := 0; i < 150_000; i++ {
		_, _ = store.Take(context.Background(), "new-"+strconv.Itoa(i), limits, later)
	}
	assert.LessOrEqual(t, store.Len(), 150_000+300_000/8, "recovered keys are dropped")
	// A recovered key behaves exactly as a new one.
	d, err := store.Take(context.Background(), "old-1", limits, later)
	require.NoError(t, err)
	assert.Equal(t, int64(99), d.Limits[0].Remaining)
}

func TestClientIP(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("::1/128")}
	c := &apiauth.ClientIP{TrustedProxies: trusted}
	for _, tc := range []struct {
		name   string
		remote string
		xff    []string
		want   string
	}{
		{"direct", "203.0.113.7:5000", nil, "203.0.113.7"},
		{"untrusted peer's XFF ignored", "203.0.113.7:5000", []string{"198.51.100.1"}, "203.0.113.7"},
		{"through one proxy", "10.0.0.2:80", []string{"198.51.100.1"}, "198.51.100.1"},
		{"forged leftmost ignored", "10.0.0.2:80", []string{"1.1.1.1, 198.51.100.1"}, "198.51.100.1"},
		{"two proxies", "10.0.0.2:80", []string{"198.51.100.1, 10.0.0.3"}, "198.51.100.1"},
		{"two field lines", "10.0.0.2:80", []string{"1.1.1.1, 198.51.100.1", "10.0.0.3"}, "198.51.100.1"},
		{"all trusted", "10.0.0.2:80", []string{"10.0.0.9"}, "10.0.0.9"},
		{"garbage stops the walk", "10.0.0.2:80", []string{"1.1.1.1, not-an-ip"}, "10.0.0.2"},
		{"loopback proxy", "127.0.0.1:80", []string{"198.51.100.1"}, "198.51.100.1"},
		{"ipv6 proxy", "[::1]:80", []string{"2001:db8::1"}, "2001:db8::1"},
		{"mapped ipv4", "[::ffff:203.0.113.7]:80", nil, "203.0.113.7"},
		{"port in xff", "10.0.0.2:80", []string{"198.51.100.1:4711"}, "198.51.100.1"},
		{"unix socket", "@", nil, "invalid IP"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/", nil)
			req.RemoteAddr = tc.remote
			for _, v := range tc.xff {
				req.Header.Add("X-Forwarded-For", v)
			}
			assert.Equal(t, tc.want, c.Addr(req).String())
		})
	}
	// No trusted proxies: X-Forwarded-For is never read.
	req := httptest.NewRequest("GET", "/", nil)
	req.RemoteAddr = "10.0.0.2:80"
	req.Header.Set("X-Forwarded-For", "198.51.100.1")
	assert.Equal(t, netip.MustParseAddr("10.0.0.2"), (&apiauth.ClientIP{}).Addr(req))
}

// A refusal's X-RateLimit-* fields describe the limit that refused.
func TestRateLimitRefusalDescribesRefusingLimit(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	h := principalLayer(&apiauth.Principal{KeyID: "k"})(apiauth.RateLimit(apiauth.NewMemoryStore(), nil,
		apiauth.WithClock(func() time.Time { return now }))(echo))
	var rr *httptest.ResponseRecorder
	for i := 0; i < 51; i++ {
		rr = httptest.NewRecorder()
		h.ServeHTTP(rr, httptest.NewRequest("GET", "/", nil))
	}
	require.Equal(t, 429, rr.Code)
	assert.Equal(t, "50", rr.Header().Get("X-RateLimit-Limit"), "the burst refused")
	assert.Equal(t, "0", rr.Header().Get("X-RateLimit-Remaining"))
	assert.Equal(t, "1", rr.Header().Get("Retry-After"))
}

// Two issuers that name the same tenant and subject are two callers: they
// never share a rate-limit bucket.
func TestRateLimitBucketPerIssuer(t *testing.T) {
	one := apiauth.Tiers{"free": {Name: "one", Limits: []apiauth.Limit{{Requests: 1, Window: time.Hour}}}}
	rl := apiauth.RateLimit(apiauth.NewMemoryStore(), one)
	status := func(issuer string) int {
		rr := httptest.NewRecorder()
		principalLayer(&apiauth.Principal{Issuer: issuer, Tenant: "acme", Subject: "user-1"})(rl(echo)).ServeHTTP(rr, httptest.NewRequest("GET", "/", nil))
		return rr.Code
	}
	assert.Equal(t, 200, status("https://idp-a.test"))
	assert.Equal(t, 200, status("https://idp-b.test"), "another issuer's user-1 has a bucket of its own")
	assert.Equal(t, 200, status(""), "and so has an API key's")
	assert.Equal(t, 429, status("https://idp-a.test"))
}

// A refusal's detail says "1 second", not "1 seconds".
func TestRateLimitDetailOneSecond(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	one := apiauth.Tiers{"free": {Name: "one", Limits: []apiauth.Limit{{Requests: 1, Window: time.Second}}}}
	h := principalLayer(&apiauth.Principal{KeyID: "k"})(apiauth.RateLimit(apiauth.NewMemoryStore(), one,
		apiauth.WithClock(func() time.Time { return now }))(echo))
	var rr *httptest.ResponseRecorder
	for range 2 {
		rr = httptest.NewRecorder()
		h.ServeHTTP(rr, httptest.NewRequest("GET", "/", nil))
	}
	require.Equal(t, 429, rr.Code)
	assert.Contains(t, rr.Body.String(), `"detail":"Rate limit exceeded. Try again in 1 second."`)
}

// PerWindow limits each principal behind Authenticate, and is validated
// when the layer is built.
func TestPerWindow(t *testing.T) {
	f := newFixture(t)
	h := apiauth.Authenticate(f.keys)(apiauth.RateLimit(apiauth.NewMemoryStore(), apiauth.PerWindow(1, time.Hour))(echo))
	assert.Equal(t, 200, getMe(h, readerKey).Code)
	assert.Equal(t, 429, getMe(h, readerKey).Code)
	assert.Equal(t, 200, getMe(h, writerKey).Code, "another principal, another bucket")
	assert.Panics(t, func() { apiauth.RateLimit(apiauth.NewMemoryStore(), apiauth.PerWindow(0, time.Hour)) })
	assert.Panics(t, func() { apiauth.RateLimit(apiauth.NewMemoryStore(), apiauth.PerWindow(1, 0)) })
}
