package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/apiauth/apiauth"
	"golang.org/x/time/rate"
)

// bigTier has apiauth.Free's shape with limits that never refuse.
var bigTier = apiauth.Tier{Name: "bench", Limits: limits}

// apiauthStack is the whole chain, RequestID → Authenticate (API keys,
// and JWTs with WithJWT) → RateLimit (MemoryStore) → RequireScope.
func apiauthStack(b *testing.B, k *apiKeys, next http.Handler) http.Handler {
	v := apiauthJWT(b, algs[0], 0) // HS256, cached: the common case
	return apiauth.Chain(
		apiauth.RequestID(),
		apiauth.Authenticate(k.keys, apiauth.WithJWT(v)),
		apiauth.RateLimit(apiauth.NewMemoryStore(), func(*apiauth.Principal) apiauth.Tier { return bigTier }),
		apiauth.RequireScope(apiauth.Read),
	)(next)
}

type requestIDKey struct{}

// handWrittenStack is the practical limit of the same chain: a random
// request ID in the context and the response, the minimal API-key
// middleware, and a map of x/time/rate buckets per principal (one limit,
// where the library checks two).
func handWrittenStack(k *apiKeys, next http.Handler) http.Handler {
	var mu sync.Mutex
	buckets := make(map[*apiauth.Principal]*rate.Limiter)
	limit := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, _ := r.Context().Value(principalKey{}).(*apiauth.Principal)
			mu.Lock()
			l := buckets[p]
			if l == nil {
				l = rate.NewLimiter(rate.Inf, 1)
				buckets[p] = l
			}
			ok := l.Allow()
			mu.Unlock()
			if !ok {
				w.WriteHeader(http.StatusTooManyRequests)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	auth := minimalAPIKey(k.m, apiauth.Read)(limit(next))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var raw [16]byte
		_, _ = rand.Read(raw[:])
		id := hex.EncodeToString(raw[:])
		w.Header().Set("X-Request-Id", id)
		auth.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id)))
	})
}

// BenchmarkStack is the whole chain in process, against the hand-written
// one (a bare handler costs next to nothing in process, so it is no
// useful reference there), with an API key and with a cached HS256 JWT.
func BenchmarkStack(b *testing.B) {
	k := newAPIKeys(b)
	stack := apiauthStack(b, k, ok200)
	b.Run("in-process/hand-written", func(b *testing.B) { serve(b, handWrittenStack(k, ok200), bearerRequest(k.key), 200) })
	b.Run("in-process/apiauth-api-key", func(b *testing.B) { serve(b, stack, bearerRequest(k.key), 200) })
	b.Run("in-process/apiauth-jwt-HS256", func(b *testing.B) { serve(b, stack, bearerRequest(algs[0].good), 200) })
}

// bareRPS is the last requests per second of the bare server, for the
// ratio of the rows after it.
var bareRPS float64

// BenchmarkLoopback serves real HTTP/1.1 on 127.0.0.1 through a
// keep-alive client, 8 concurrent requests per core, bounded by
// -benchtime. The bare row is net/http with a handler that does nothing;
// the others put the whole chain in front of that handler. Each reports
// req/s and, as x-bare, its requests per second over the bare row's of
// the same run.
func BenchmarkLoopback(b *testing.B) {
	k := newAPIKeys(b)
	rows := []struct {
		name string
		h    http.Handler
		tok  string
	}{
		{"bare-net-http", ok200, ""},
		{"apiauth-api-key", apiauthStack(b, k, ok200), k.key},
		{"apiauth-jwt-HS256", apiauthStack(b, k, ok200), algs[0].good},
	}
	for _, row := range rows {
		b.Run(row.name, func(b *testing.B) {
			srv := httptest.NewServer(row.h) // listens on 127.0.0.1 only
			defer srv.Close()
			tr := &http.Transport{MaxIdleConns: 64, MaxIdleConnsPerHost: 64, IdleConnTimeout: 10 * time.Second}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
			get := func() error {
				req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v1/orders", nil)
				if row.tok != "" {
					req.Header.Set("Authorization", "Bearer "+row.tok)
				}
				resp, err := client.Do(req)
				if err != nil {
					return err
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Errorf("status %d", resp.StatusCode)
				}
				return nil
			}
			if err := get(); err != nil {
				b.Fatal(err)
			}
			b.SetParallelism(8)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := get(); err != nil {
						b.Error(err)
						return
					}
				}
			})
			rps := float64(b.N) / b.Elapsed().Seconds()
			b.ReportMetric(rps, "req/s")
			if row.name == "bare-net-http" {
				bareRPS = rps
			} else if bareRPS > 0 {
				b.ReportMetric(rps/bareRPS, "x-bare")
			}
		})
	}
}
