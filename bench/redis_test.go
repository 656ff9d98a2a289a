package bench

import (
	"context"
	"fmt"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/apiauth/apiauth"
	"github.com/apiauth/apiauth/redisstore"
	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
)

// redisClient connects to APIAUTH_REDIS_ADDR, else 127.0.0.1:6379, or
// skips the benchmark with the reason.
func redisClient(b *testing.B) *redis.Client {
	b.Helper()
	addr := os.Getenv("APIAUTH_REDIS_ADDR")
	if addr == "" {
		addr = "127.0.0.1:6379"
	}
	// A plain dial first: go-redis would log every failed attempt.
	conn, err := net.DialTimeout("tcp", addr, 300*time.Millisecond)
	if err != nil {
		skipRedis(b, addr, err)
	}
	_ = conn.Close()
	c := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: 300 * time.Millisecond, ContextTimeoutEnabled: true})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		_ = c.Close()
		skipRedis(b, addr, err)
	}
	return c
}

// skipRedis skips with a message that shows without -v too.
func skipRedis(b *testing.B, addr string, err error) {
	msg := fmt.Sprintf("BenchmarkRedis skipped: no Redis at %s (set APIAUTH_REDIS_ADDR to a Redis this benchmark may write to): %v", addr, err)
	fmt.Fprintln(os.Stderr, msg)
	b.Skip(msg)
}

// BenchmarkRedis compares redisstore, which checks every limit of a tier in
// one script call, with go-redis/redis_rate v10 (GCRA as well, one limit
// per call, so a two-limit tier is two round trips). Limits are high
// enough never to refuse. Serial is one key from one goroutine; parallel
// is 10,000 keys from 8 goroutines per core, so that round trips overlap.
func BenchmarkRedis(b *testing.B) {
	c := redisClient(b)
	defer c.Close()
	ctx := context.Background()
	two := []apiauth.Limit{{Name: "hour", Requests: 1e9, Window: time.Hour}, {Name: "burst", Requests: 1e7, Window: time.Second}}
	store := redisstore.New(c, redisstore.WithPrefix("apiauth-bench:"))
	rr := redis_rate.NewLimiter(c)
	rrLimits := []redis_rate.Limit{redis_rate.PerHour(1e9), redis_rate.PerSecond(1e7)}
	rows := []struct {
		name  string
		allow func(key string) bool
	}{
		{"2-limits/redis_rate", func(key string) bool {
			for _, l := range rrLimits {
				res, err := rr.Allow(ctx, key, l)
				if err != nil || res.Allowed == 0 {
					return false
				}
			}
			return true
		}},
		{"2-limits/apiauth", func(key string) bool {
			d, err := store.Take(ctx, key, two, time.Now())
			return err == nil && d.Allowed
		}},
		{"1-limit/redis_rate", func(key string) bool {
			res, err := rr.Allow(ctx, key, rrLimits[0])
			return err == nil && res.Allowed > 0
		}},
		{"1-limit/apiauth", func(key string) bool {
			d, err := store.Take(ctx, key, two[:1], time.Now())
			return err == nil && d.Allowed
		}},
	}
	for _, row := range rows {
		b.Run("serial-"+row.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if !row.allow("bench:serial") {
					b.Fatal("refused or failed")
				}
			}
		})
	}
	keys := rateKeys(10000)
	for _, row := range rows {
		b.Run("parallel-"+row.name, func(b *testing.B) {
			var seq sync.Mutex
			start := 0
			b.SetParallelism(8)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				seq.Lock()
				i := start
				start += 1237
				seq.Unlock()
				for pb.Next() {
					if !row.allow(keys[i%len(keys)]) {
						b.Error("refused or failed")
						return
					}
					i++
				}
			})
		})
	}
}
