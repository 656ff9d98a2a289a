package apiauth_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"time"

	"github.com/apiauth/apiauth"
)

// ExampleRateLimit limits each API key by its tier: here the default tier,
// free, made 3 requests per minute. Every response carries the X-RateLimit-* fields;
// the fourth request is refused with 429 and Retry-After.
func ExampleRateLimit() {
	keys := exampleKeys()
	tiers := apiauth.Presets() // free, pro, enterprise
	tiers["free"] = apiauth.Tier{Name: "free", Limits: []apiauth.Limit{
		{Name: "minute", Requests: 3, Window: time.Minute},
	}}
	start := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return start } // a fixed clock for the example

	limit := apiauth.RateLimit(apiauth.NewMemoryStore(), tiers, apiauth.WithClock(clock))
	h := apiauth.Authenticate(keys)(limit(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})))

	for i := 1; i <= 4; i++ {
		req := httptest.NewRequest("GET", "/v1/orders", nil)
		req.Header.Set("Authorization", "Bearer "+exReaderKey)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		fmt.Println(rec.Code, "limit", rec.Header().Get("X-RateLimit-Limit"),
			"remaining", rec.Header().Get("X-RateLimit-Remaining"),
			"reset in", mustAtoi(rec.Header().Get("X-RateLimit-Reset"))-start.Unix(),
			"retry after", rec.Header().Values("Retry-After"))
	}
	// Output:
	// 200 limit 3 remaining 2 reset in 20 retry after []
	// 200 limit 3 remaining 1 reset in 40 retry after []
	// 200 limit 3 remaining 0 reset in 60 retry after []
	// 429 limit 3 remaining 0 reset in 60 retry after [20]
}

func mustAtoi(s string) int64 {
	var n int64
	if _, err := fmt.Sscan(s, &n); err != nil {
		panic(err)
	}
	return n
}

// ExampleWithFailureLimit throttles key guessing per client address: after
// two wrong keys, even the right one is refused until the limit recovers,
// so the answer tells a guesser nothing.
func ExampleWithFailureLimit() {
	keys := exampleKeys()
	two := apiauth.Tier{Name: "failures", Limits: []apiauth.Limit{{Requests: 2, Window: time.Hour}}}
	h := apiauth.Authenticate(keys, apiauth.WithFailureLimit(apiauth.NewMemoryStore(), two))(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	for _, key := range []string{exReaderKey, "guess-1-0123456789abcdef", "guess-2-0123456789abcdef", exReaderKey} {
		req := httptest.NewRequest("GET", "/v1/me", nil)
		req.RemoteAddr = "198.51.100.7:4711"
		req.Header.Set("Authorization", "Bearer "+key)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		fmt.Println(rec.Code, exProblemCode(rec))
	}
	// Output:
	// 200 ok
	// 401 invalid_token
	// 401 invalid_token
	// 429 rate_limited
}

func exProblemCode(rec *httptest.ResponseRecorder) apiauth.Code {
	if rec.Code < 400 {
		return "ok"
	}
	return exProblem(rec).Code
}

// ExampleClientIP finds the client behind trusted proxies: X-Forwarded-For
// is walked from the right through the trusted networks only, so a value a
// client wrote itself is never believed. RateLimit (for anonymous callers)
// and WithFailureLimit count by this address when given WithClientIP.
func ExampleClientIP() {
	clientIP := &apiauth.ClientIP{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}

	req := httptest.NewRequest("GET", "/v1/orders", nil)
	req.RemoteAddr = "10.0.0.2:41000" // the load balancer
	req.Header.Set("X-Forwarded-For", "192.0.2.1, 198.51.100.7, 10.0.0.9")
	fmt.Println(clientIP.Addr(req)) // the first address from the right outside 10.0.0.0/8

	req.RemoteAddr = "203.0.113.5:41000" // not a trusted proxy: its header is ignored
	fmt.Println(clientIP.Addr(req))

	req.RemoteAddr = "[2001:db8:1:2:3:4:5:6]:41000"
	fmt.Println(clientIP.Key(req)) // an IPv6 client is limited by its /64

	// Give the same ClientIP to every layer that counts by address:
	store := apiauth.NewMemoryStore()
	_ = apiauth.Authenticate(exampleKeys(),
		apiauth.WithFailureLimit(store, apiauth.Tier{}), apiauth.WithClientIP(clientIP))
	_ = apiauth.RateLimit(store, apiauth.Presets(), apiauth.WithClientIP(clientIP))

	// Output:
	// 198.51.100.7
	// 203.0.113.5
	// 2001:db8:1:2::/64
}

// ExamplePerWindow is the one-line limit: 2 requests a minute per client
// IP on a public route (without Authenticate; behind it, per principal).
func ExamplePerWindow() {
	now := time.Unix(1_800_000_000, 0)
	limit := apiauth.RateLimit(apiauth.NewMemoryStore(), apiauth.PerWindow(2, time.Minute),
		apiauth.WithClock(func() time.Time { return now }))
	h := limit(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	for _, addr := range []string{"192.0.2.1:1000", "192.0.2.1:1001", "192.0.2.1:1002", "198.51.100.9:1000"} {
		req := httptest.NewRequest("GET", "/v1/status", nil)
		req.RemoteAddr = addr
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		fmt.Println(addr, rec.Code, rec.Header().Get("X-RateLimit-Remaining"))
	}
	// Output:
	// 192.0.2.1:1000 200 1
	// 192.0.2.1:1001 200 0
	// 192.0.2.1:1002 429 0
	// 198.51.100.9:1000 200 1
}
