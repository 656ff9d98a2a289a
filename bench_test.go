package apiauth_test

import (
	"context"
	"crypto/sha256"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/apiauth/apiauth"
)

// discardWriter is a ResponseWriter that keeps nothing but a reusable
// header map, so that benchmarks measure the layers, not the recorder.
type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(s int)           { w.status = s }

func (w *discardWriter) reset() {
	clear(w.h)
	w.status = 0
}

var ok200 = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})

func benchServe(b *testing.B, h http.Handler, req *http.Request, wantStatus int) {
	b.Helper()
	w := &discardWriter{h: make(http.Header)}
	h.ServeHTTP(w, req)
	if w.status == 0 {
		w.status = 200
	}
	if w.status != wantStatus {
		b.Fatalf("status %d, want %d", w.status, wantStatus)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w.reset()
		h.ServeHTTP(w, req)
	}
}

func benchKeys(b *testing.B) (*apiauth.Keys, string) {
	b.Helper()
	keys := apiauth.NewMemoryKeys()
	key, _, err := keys.Create(context.Background(), apiauth.KeySpec{Subject: "u", Tenant: "acme", Scopes: []apiauth.Scope{apiauth.Write}})
	if err != nil {
		b.Fatal(err)
	}
	// Other keys in the store, as in a real deployment.
	for i := 0; i < 1000; i++ {
		if _, _, err := keys.Create(context.Background(), apiauth.KeySpec{Tenant: "acme"}); err != nil {
			b.Fatal(err)
		}
	}
	return keys, key
}

func authRequest(key string) *http.Request {
	req := httptest.NewRequest("GET", "/v1/orders", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	return req
}

// BenchmarkAPIKey is the API-key path: Authenticate + RequireScope.
func BenchmarkAPIKey(b *testing.B) {
	keys, key := benchKeys(b)
	h := apiauth.Authenticate(keys)(apiauth.RequireScope(apiauth.Read)(ok200))
	benchServe(b, h, authRequest(key), 200)
}

// BenchmarkMinimalMiddleware is the practical limit BenchmarkAPIKey is
// measured against: a hand-written middleware that parses the header, hashes
// the key, looks it up in a map and stores the principal in the context.
func BenchmarkMinimalMiddleware(b *testing.B) {
	_, key := benchKeys(b)
	type ctxKey struct{}
	m := map[[32]byte]*apiauth.Principal{sha256.Sum256([]byte(key)): {Subject: "u", Scopes: []apiauth.Scope{apiauth.Write}}}
	mw := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			auth := r.Header.Get("Authorization")
			if len(auth) < 7 || auth[:7] != "Bearer " {
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
			p := m[sha256.Sum256([]byte(auth[7:]))]
			if p == nil {
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, p)))
		})
	}
	benchServe(b, mw(ok200), authRequest(key), 200)
}

// BenchmarkReject401 is the rejection path: an unknown key, answered with a
// problem body and a challenge.
func BenchmarkReject401(b *testing.B) {
	keys, _ := benchKeys(b)
	h := apiauth.Authenticate(keys)(ok200)
	benchServe(b, h, authRequest("unknown-key-0123456789abcdef"), 401)
}

// BenchmarkRejectBadChecksum is a mistyped generated key: refused before
// the store is asked.
func BenchmarkRejectBadChecksum(b *testing.B) {
	keys, key := benchKeys(b)
	bad := []byte(key)
	bad[len(bad)-1] ^= 1
	h := apiauth.Authenticate(keys)(ok200)
	benchServe(b, h, authRequest(string(bad)), 401)
}

// BenchmarkRequestIDGenerated is the request-ID layer minting an ID.
func BenchmarkRequestIDGenerated(b *testing.B) {
	h := apiauth.RequestID()(ok200)
	benchServe(b, h, httptest.NewRequest("GET", "/", nil), 200)
}

// BenchmarkRequestIDInbound is the request-ID layer keeping a client's ID.
func BenchmarkRequestIDInbound(b *testing.B) {
	h := apiauth.RequestID()(ok200)
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("X-Request-Id", "0123456789abcdefghij-ABCDEF")
	benchServe(b, h, req, 200)
}

// BenchmarkStack is RequestID → Authenticate → RequireScope →
// RequireTenant, the whole foundation chain.
func BenchmarkStack(b *testing.B) {
	keys, key := benchKeys(b)
	h := apiauth.RequestID()(apiauth.Authenticate(keys)(apiauth.RequireScope(apiauth.Read)(
		apiauth.RequireTenant(func(*http.Request) string { return "acme" })(ok200))))
	req := authRequest(key)
	req.Header.Set("X-Request-Id", "0123456789abcdefghij-ABCDEF")
	benchServe(b, h, req, 200)
}

// BenchmarkMemoryStoreOneKey is one key, serial, checking the Free tier's
// two limits.
func BenchmarkMemoryStoreOneKey(b *testing.B) {
	store := apiauth.NewMemoryStore()
	limits := []apiauth.Limit{{Requests: 1 << 40, Window: time.Hour}, {Requests: 1 << 40, Window: time.Second}}
	now := time.Now()
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := store.Take(ctx, "key_0123456789abcdef", limits, now); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMemoryStoreParallel is 10,000 keys from all cores, with the
// clock read per call as the layer does.
func BenchmarkMemoryStoreParallel(b *testing.B) {
	store := apiauth.NewMemoryStore()
	limits := []apiauth.Limit{{Requests: 1 << 40, Window: time.Hour}, {Requests: 1 << 40, Window: time.Second}}
	keys := make([]string, 10000)
	for i := range keys {
		keys[i] = "key_" + strconv.Itoa(i)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := store.Take(ctx, keys[i%len(keys)], limits, time.Now()); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

// BenchmarkMemoryStoreNewKeys is a stream of keys that each recover
// before they come back, as under a per-second burst: every request
// inserts, and sweeps drop as many. It should allocate nothing once the
// tables are grown: sweeps work in place.
func BenchmarkMemoryStoreNewKeys(b *testing.B) {
	store := apiauth.NewMemoryStore()
	limits := []apiauth.Limit{{Requests: 100, Window: time.Millisecond}}
	keys := make([]string, 1<<20)
	for i := range keys {
		keys[i] = "key_" + strconv.Itoa(i)
	}
	now := time.Unix(1_800_000_000, 0)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		now = now.Add(time.Microsecond)
		if _, err := store.Take(ctx, keys[i&(len(keys)-1)], limits, now); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMemoryStoreBytesPerKey reports the heap held per key after a
// million keys have each made one request under the Free tier.
func BenchmarkMemoryStoreBytesPerKey(b *testing.B) {
	const n = 1_000_000
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "key_" + strconv.Itoa(i)
	}
	now := time.Now()
	ctx := context.Background()
	freeLimits := apiauth.Presets()["free"].Limits
	for i := 0; i < b.N; i++ {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		store := apiauth.NewMemoryStore()
		for _, k := range keys {
			_, _ = store.Take(ctx, k, freeLimits, now)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "B/key")
		runtime.KeepAlive(store)
	}
}
