package redisstore_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/apiauth/apiauth"
	"github.com/apiauth/apiauth/redisstore"
	"github.com/redis/go-redis/v9"
)

// TestScriptCacheFlushed runs Take and Peek on a server that does not have
// their scripts (a fresh one, then after SCRIPT FLUSH, as after a restart
// or a failover): the store sends each script with EVAL and Redis decides,
// not the fallback, and Peek still takes nothing.
func TestScriptCacheFlushed(t *testing.T) {
	srv := startRedis(t, freePort(t), t.TempDir())
	ctx := context.Background()
	limits := []apiauth.Limit{{Name: "hour", Requests: 3, Window: time.Hour}}
	for _, ctxTimeouts := range []bool{true, false} {
		t.Run(fmt.Sprintf("ContextTimeoutEnabled=%v", ctxTimeouts), func(t *testing.T) {
			c := client(t, srv.addr, ctxTimeouts)
			fb := &countingStore{Store: apiauth.NewMemoryStore()}
			s := redisstore.New(c, redisstore.WithPrefix(prefix(t)), redisstore.WithBudget(testBudget), redisstore.WithFallback(fb))
			for i := int64(0); i < 3; i++ {
				if err := c.ScriptFlush(ctx).Err(); err != nil {
					t.Fatal(err)
				}
				d, err := s.Peek(ctx, "k:1", limits, time.Now())
				if err != nil || !d.Allowed || d.Limits[0].Remaining != 3-i {
					t.Fatalf("peek %d: allowed %v, remaining %d, %v; want true, %d", i+1, d.Allowed, d.Limits[0].Remaining, err, 3-i)
				}
				if err := c.ScriptFlush(ctx).Err(); err != nil {
					t.Fatal(err)
				}
				d, err = s.Take(ctx, "k:1", limits, time.Now())
				if err != nil || !d.Allowed || d.Limits[0].Remaining != 2-i {
					t.Fatalf("take %d: allowed %v, remaining %d, %v; want true, %d", i+1, d.Allowed, d.Limits[0].Remaining, err, 2-i)
				}
			}
			if d, err := s.Take(ctx, "k:1", limits, time.Now()); err != nil || d.Allowed {
				t.Fatalf("fourth take: allowed %v, %v; want refused", d.Allowed, err)
			}
			if n := fb.calls.Load(); n != 0 {
				t.Fatalf("the fallback decided %d times; want Redis to decide every time", n)
			}
		})
	}
}

// TestStoredState checks what Take writes, which instances running other
// versions of the store read as well: a limit's TAT as a decimal integer
// of microseconds on the server's clock, one emission interval past the
// server's time for a fresh key, expiring when the limit has recovered.
// With a zero now, the decision's times are the server's.
func TestStoredState(t *testing.T) {
	c := client(t, redisAddr(t), true)
	p := prefix(t)
	s := redisstore.New(c, redisstore.WithPrefix(p), redisstore.WithBudget(testBudget))
	ctx := context.Background()
	limits := []apiauth.Limit{{Name: "burst", Requests: 4, Window: 2 * time.Second}}
	const T = 500 * time.Millisecond

	before, err := c.Time(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.Take(ctx, "k:1", limits, time.Time{})
	if err != nil || !d.Allowed {
		t.Fatalf("take: allowed %v, %v", d.Allowed, err)
	}
	after, err := c.Time(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	keys := scanKeys(t, c, p)
	if len(keys) != 1 {
		t.Fatalf("keys %q, want one", keys)
	}
	v, err := c.Get(ctx, keys[0]).Result()
	if err != nil {
		t.Fatal(err)
	}
	tat, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		t.Fatalf("stored TAT %q: not a decimal integer: %v", v, err)
	}
	if lo, hi := before.Add(T).UnixMicro(), after.Add(T).UnixMicro(); tat < lo || tat > hi {
		t.Errorf("stored TAT %d, want server time + T, in [%d, %d]", tat, lo, hi)
	}
	if st := d.Limits[0]; st.Remaining != 3 || !st.Reset.Equal(time.UnixMicro(tat)) {
		t.Errorf("zero now: %+v, want 3 remaining, reset at the stored TAT %v", st, time.UnixMicro(tat))
	}
	ttl, err := c.PTTL(ctx, keys[0]).Result()
	if err != nil {
		t.Fatal(err)
	}
	// The key expires T after the take: by the PTTL, between the start of
	// the take and the answer to PTTL have gone by (and PX is whole ms).
	read, err := c.Time(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	if lo := T - read.Sub(before) - time.Millisecond; ttl < lo || ttl > T {
		t.Errorf("PTTL %v, want T less the time since the take, in [%v, %v]", ttl, lo, T)
	}
}

// TestRing runs the store on a go-redis Ring of two servers, which, as
// Redis Cluster does, sends each command to the shard of its first key:
// every limit's state is on the shard that the key's name maps to, and each
// key's counts are kept in one place.
func TestRing(t *testing.T) {
	a := startRedis(t, freePort(t), t.TempDir())
	b := startRedis(t, freePort(t), t.TempDir())
	ring := redis.NewRing(&redis.RingOptions{
		Addrs:                 map[string]string{"a": a.addr, "b": b.addr},
		ContextTimeoutEnabled: true,
	})
	t.Cleanup(func() { ring.Close() })
	p := prefix(t)
	s := redisstore.New(ring, redisstore.WithPrefix(p), redisstore.WithBudget(testBudget))
	ctx := context.Background()
	limits := []apiauth.Limit{{Name: "hour", Requests: 100, Window: time.Hour}, {Name: "burst", Requests: 2, Window: time.Hour}}
	const keys = 20
	for i := 0; i < keys; i++ {
		k := fmt.Sprint("k:", i)
		for j := 0; j < 3; j++ {
			d, err := s.Take(ctx, k, limits, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if d.Allowed != (j < 2) {
				t.Fatalf("key %s, request %d: allowed %v", k, j+1, d.Allowed)
			}
		}
	}
	found := 0
	for _, srv := range []*server{a, b} {
		for _, k := range scanKeys(t, client(t, srv.addr, true), p) {
			found++
			if n, err := ring.Exists(ctx, k).Result(); err != nil || n != 1 {
				t.Errorf("%s: on %s, not on the shard the ring routes it to (%d, %v)", k, srv.addr, n, err)
			}
		}
	}
	if found != 2*keys {
		t.Errorf("%d keys on the shards, want %d", found, 2*keys)
	}
}
