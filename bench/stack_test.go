package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"sync/atomic"
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
	auth := apiauth.Authenticate(k.keys, apiauth.WithJWT(v))
	limit := apiauth.RateLimit(apiauth.NewMemoryStore(), apiauth.Tiers{"free": bigTier})
	return apiauth.RequestID()(auth(limit(apiauth.RequireScope(apiauth.Read)(next))))
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

// BenchmarkLoopback serves real HTTP/1.1 on 127.0.0.1 through keep-alive
// clients, 8 concurrent requests per core. The bare row is net/http with a
// handler that does nothing; same-headers has that handler write the
// header fields the chain adds; the others put the whole chain in front of
// the bare handler.
//
// A chain row's ratio to bare is measured in pairs of rounds: a round of
// requests to the chain and as many to the bare server, each first in
// every other pair (so that neither always pays for the garbage the other
// left), so that both see the same machine (a loaded VM drifts by more than
// the difference measured). The control row is a second bare server
// measured the same way: its x-bare shows the method's own error. The requests are the same, credential included:
// what a client sends costs the same whatever the server does with it. Its ns/op, req/s, B/op and allocs/op count only
// the chain's rounds; x-bare is its requests per second over the bare
// server's in the same run (higher is better).
func BenchmarkLoopback(b *testing.B) {
	k := newAPIKeys(b)
	bare := httptest.NewServer(ok200) // listens on 127.0.0.1 only
	defer bare.Close()
	rows := []struct {
		name string
		h    http.Handler
		tok  string
	}{
		{"bare-net-http", nil, k.key},
		{"bare-net-http-control", ok200, k.key},
		{"bare-net-http-same-headers", sameHeaders, k.key},
		{"apiauth-api-key", apiauthStack(b, k, ok200), k.key},
		{"apiauth-jwt-HS256", apiauthStack(b, k, ok200), algs[0].good},
	}
	for _, row := range rows {
		b.Run(row.name, func(b *testing.B) {
			url := bare.URL
			if row.h != nil {
				srv := httptest.NewServer(row.h)
				defer srv.Close()
				url = srv.URL
			}
			c := newLoadClient(b, 8*runtime.GOMAXPROCS(0))
			defer c.close()
			c.round(b, url, row.tok, 1) // dial, warm up
			c.round(b, bare.URL, row.tok, 1)
			b.ReportAllocs()
			b.ResetTimer()
			var rowTime, bareTime time.Duration
			rowRound := func(n int) {
				start := time.Now()
				c.round(b, url, row.tok, n)
				rowTime += time.Since(start)
			}
			bareRound := func(n int) {
				b.StopTimer()
				start := time.Now()
				c.round(b, bare.URL, row.tok, n)
				bareTime += time.Since(start)
				b.StartTimer()
			}
			for pair, done := 0, 0; done < b.N; pair++ {
				n := min(b.N-done, loopbackRound)
				done += n
				switch {
				case row.h == nil:
					rowRound(n)
				case pair%2 == 0: // row first, then bare first: ABBA
					rowRound(n)
					bareRound(n)
				default:
					bareRound(n)
					rowRound(n)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/rowTime.Seconds(), "req/s")
			if row.h != nil {
				b.ReportMetric(bareTime.Seconds()/rowTime.Seconds(), "x-bare")
			}
		})
	}
}

// sameHeaders is the bare handler writing the four header fields the
// chain adds (a request ID and three X-RateLimit fields, with values of the
// same lengths): the row shows what net/http's handling of them costs the
// server and the client, whoever computes them.
var sameHeaders = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h["X-Request-Id"] = []string{"0d9e2c4a-5b1f-4c3e-8a7d-6f0e1b2c3d4e"}
	h["X-Ratelimit-Limit"] = []string{"1000000000"}
	h["X-Ratelimit-Remaining"] = []string{"999999999"}
	h["X-Ratelimit-Reset"] = []string{"1796398319"}
	ok200.ServeHTTP(w, r)
})

// loopbackRound is how many requests a round sends: some tens of
// milliseconds' worth, short enough that a pair of rounds sees the same
// machine, long enough that the round's ramp and tail, when fewer workers
// are busy, are a small part of it.
const loopbackRound = 1024

// loadClient is a pool of workers that send rounds of GET requests.
type loadClient struct {
	client  *http.Client
	tr      *http.Transport
	workers int
}

func newLoadClient(b *testing.B, workers int) *loadClient {
	tr := &http.Transport{MaxIdleConns: 2 * workers, MaxIdleConnsPerHost: workers, IdleConnTimeout: 10 * time.Second}
	return &loadClient{client: &http.Client{Transport: tr, Timeout: 5 * time.Second}, tr: tr, workers: workers}
}

func (c *loadClient) close() { c.tr.CloseIdleConnections() }

// round sends n requests to url/v1/orders, with tok as a bearer token if
// it is not empty, from all the workers at once, and returns when every
// one has been answered 200.
func (c *loadClient) round(b *testing.B, url, tok string, n int) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(c.workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				req, _ := http.NewRequest(http.MethodGet, url+"/v1/orders", nil)
				if tok != "" {
					req.Header.Set("Authorization", "Bearer "+tok)
				}
				resp, err := c.client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Errorf("status %d", resp.StatusCode)
					return
				}
			}
		}()
	}
	wg.Wait()
}
