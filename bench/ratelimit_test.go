package bench

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/apiauth/apiauth"
	"github.com/go-chi/httprate"
	"github.com/sethvargo/go-limiter/memorystore"
	"github.com/ulule/limiter/v3"
	ulmemory "github.com/ulule/limiter/v3/drivers/store/memory"
	"golang.org/x/time/rate"
)

// limits are the two limits every memory limiter enforces, an hour and a
// second as in apiauth.Free, high enough never to refuse in a benchmark.
// (Not higher: sethvargo/go-limiter refills nothing once a limit has more
// requests than its interval has nanoseconds.)
var limits = []apiauth.Limit{
	{Name: "hour", Requests: 1e9, Window: time.Hour},
	{Name: "burst", Requests: 1e8, Window: time.Second},
}

// memLimiter is one memory limiter as a request would use it: allow
// reports whether key may make one more request under both limits.
type memLimiter struct {
	allow func(key string) bool
	close func()
}

// memLimiters are the limiters compared, apiauth first, each built for ls
// (two limits: the first per hour, the second per second).
func memLimiters(b *testing.B, ls []apiauth.Limit) []struct {
	name string
	new  func() memLimiter
} {
	ctx := context.Background()
	return []struct {
		name string
		new  func() memLimiter
	}{
		// GCRA, both limits checked and taken together or not at all, one
		// lock, one clock read.
		{"apiauth", func() memLimiter {
			s := apiauth.NewMemoryStore()
			return memLimiter{allow: func(key string) bool {
				d, _ := s.Take(ctx, key, ls, time.Now())
				return d.Allowed
			}}
		}},
		// go-chi/httprate: a sliding-window counter per limit, one
		// RateLimiter per limit as its README makes them, called with
		// OnLimit as its Handler does, response headers turned off
		// (WithResponseHeaders) so that it is compared as a store. It is
		// not all-or-nothing: the first limit counts a request the second
		// refuses.
		{"httprate", func() memLimiter {
			off := httprate.WithResponseHeaders(httprate.ResponseHeaders{})
			l1 := httprate.NewRateLimiter(int(ls[0].Requests), ls[0].Window, off)
			l2 := httprate.NewRateLimiter(int(ls[1].Requests), ls[1].Window, off)
			w := &discardWriter{h: make(http.Header)}
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			var mu sync.Mutex // OnLimit writes to w, which is shared here
			return memLimiter{allow: func(key string) bool {
				mu.Lock()
				limited := l1.OnLimit(w, r, key) || l2.OnLimit(w, r, key)
				mu.Unlock()
				return !limited
			}}
		}},
		// ulule/limiter v3 memory store: a fixed-window counter per limit,
		// one Limiter (and store) per limit. A refused request is counted
		// too, and not all-or-nothing.
		{"ulule-limiter", func() memLimiter {
			l1 := limiter.New(ulmemory.NewStore(), limiter.Rate{Period: ls[0].Window, Limit: ls[0].Requests})
			l2 := limiter.New(ulmemory.NewStore(), limiter.Rate{Period: ls[1].Window, Limit: ls[1].Requests})
			return memLimiter{allow: func(key string) bool {
				c1, _ := l1.Get(ctx, key)
				c2, _ := l2.Get(ctx, key)
				return !c1.Reached && !c2.Reached
			}}
		}},
		// sethvargo/go-limiter memorystore: a token bucket refilled at
		// each whole interval, one store per limit; not all-or-nothing.
		{"sethvargo-limiter", func() memLimiter {
			s1, err1 := memorystore.New(&memorystore.Config{Tokens: uint64(ls[0].Requests), Interval: ls[0].Window})
			s2, err2 := memorystore.New(&memorystore.Config{Tokens: uint64(ls[1].Requests), Interval: ls[1].Window})
			if err1 != nil || err2 != nil {
				b.Fatal(err1, err2)
			}
			return memLimiter{
				allow: func(key string) bool {
					_, _, _, ok1, _ := s1.Take(ctx, key)
					_, _, _, ok2, _ := s2.Take(ctx, key)
					return ok1 && ok2
				},
				close: func() { _ = s1.Close(ctx); _ = s2.Close(ctx) },
			}
		}},
		// A map of x/time/rate token buckets behind one mutex, as the
		// package's users commonly write it; all-or-nothing (both buckets
		// are read before either is taken from, under the map's lock).
		{"x-time-rate-map", func() memLimiter {
			type pair struct{ a, b *rate.Limiter }
			every := func(l apiauth.Limit) rate.Limit { return rate.Every(l.Window / time.Duration(l.Requests)) }
			var mu sync.Mutex
			m := make(map[string]pair)
			return memLimiter{allow: func(key string) bool {
				mu.Lock()
				defer mu.Unlock()
				p, ok := m[key]
				if !ok {
					p = pair{rate.NewLimiter(every(ls[0]), int(ls[0].Requests)), rate.NewLimiter(every(ls[1]), int(ls[1].Requests))}
					m[key] = p
				}
				now := time.Now()
				if p.a.TokensAt(now) < 1 || p.b.TokensAt(now) < 1 {
					return false
				}
				p.a.AllowN(now, 1)
				p.b.AllowN(now, 1)
				return true
			}}
		}},
	}
}

// reportRefused reports the share of requests refused, which should be 0.
// sethvargo/go-limiter refills a bucket with interval/tokens tokens at each
// whole interval (capped at tokens), which is the full bucket only while
// tokens² ≤ the interval in nanoseconds: at 1e8 per second it refuses from
// the second second on, and its refused path, as cheap as the allowed one,
// is what is measured from then on.
func reportRefused(b *testing.B, refused int) {
	if refused > 0 {
		b.ReportMetric(float64(refused)/float64(b.N), "refused/op")
	}
}

func rateKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("k:key_%016d", i) // the shape of RateLimit's keys
	}
	return keys
}

// BenchmarkRateLimit compares the memory limiters: one key from one
// goroutine, 10,000 keys from every core, and the heap held per key once a
// million keys have made one request each under apiauth.Free's limits.
func BenchmarkRateLimit(b *testing.B) {
	for _, l := range memLimiters(b, limits) {
		b.Run("serial-1-key/"+l.name, func(b *testing.B) {
			ml := l.new()
			if ml.close != nil {
				defer ml.close()
			}
			refused := 0
			b.ReportAllocs()
			for b.Loop() {
				if !ml.allow("k:key_0123456789abcdef") {
					refused++
				}
			}
			reportRefused(b, refused)
		})
	}
	keys := rateKeys(10000)
	for _, l := range memLimiters(b, limits) {
		b.Run("parallel-10k-keys/"+l.name, func(b *testing.B) {
			ml := l.new()
			if ml.close != nil {
				defer ml.close()
			}
			for _, k := range keys { // every key seen once: the steady state
				ml.allow(k)
			}
			var seq sync.Mutex
			start, refused := 0, 0
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				seq.Lock()
				i := start
				start += 2477
				seq.Unlock()
				n := 0
				for pb.Next() {
					if !ml.allow(keys[i%len(keys)]) {
						n++
					}
					i++
				}
				seq.Lock()
				refused += n
				seq.Unlock()
			})
			reportRefused(b, refused)
		})
	}
	million := rateKeys(1_000_000)
	for _, l := range memLimiters(b, apiauth.Presets()["free"].Limits) {
		// ns/op here is one more request from one of the million keys.
		b.Run("1M-keys/"+l.name, func(b *testing.B) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			ml := l.new()
			for _, k := range million {
				ml.allow(k)
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			perKey := float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(len(million))
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				ml.allow(million[i%len(million)])
				i += 7919
			}
			b.ReportMetric(perKey, "B/key") // after b.Loop, which resets metrics
			if ml.close != nil {
				ml.close()
			}
		})
	}
}
