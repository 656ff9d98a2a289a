package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/apiauth/apiauth"
	"github.com/apiauth/apiauth/apiauthtest"
	"github.com/apiauth/apiauth/redisstore"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testBudget is the budget of tests that are not about the budget: generous,
// so that a slow or loaded machine (-race) never fails them.
const testBudget = 5 * time.Second

// redisAddr returns the address of a Redis server for t: APIAUTH_REDIS_ADDR
// if set, else one started for t from the redis-server binary on PATH. It
// skips t when there is neither.
// TestMain quiets go-redis, which logs each failed dial through a global
// logger, and the outage tests cause many. It is set once, before any
// client runs: setting it while an earlier test's client still dials is a
// data race.
func TestMain(m *testing.M) {
	redis.SetLogger(quiet{})
	os.Exit(m.Run())
}

func redisAddr(t testing.TB) string {
	t.Helper()
	if addr := os.Getenv("APIAUTH_REDIS_ADDR"); addr != "" {
		return addr
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redisstore: no Redis server: set APIAUTH_REDIS_ADDR or install redis-server")
	}
	return startRedis(t, freePort(t), t.TempDir()).addr
}

// server is a redis-server process started by a test.
type server struct {
	addr string
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has exited
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startRedis starts redis-server on port, without persistence, with dir as
// its working directory, waits until it answers PING and kills it when t
// ends.
func startRedis(t testing.TB, port int, dir string) *server {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redisstore: no redis-server on PATH: this test starts a server of its own, which APIAUTH_REDIS_ADDR cannot stand in for; install redis-server to run it")
	}
	logPath := filepath.Join(dir, "redis.log")
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{addr: "127.0.0.1:" + strconv.Itoa(port), cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(s.done) }()
	t.Cleanup(s.kill)

	c := redis.NewClient(&redis.Options{Addr: s.addr, MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	defer c.Close()
	for deadline := time.Now().Add(10 * time.Second); ; {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return s
		}
		select {
		case <-s.done:
			out, _ := os.ReadFile(logPath)
			t.Fatalf("redis-server exited: %s", out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server on %s: no answer to PING: %v", s.addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill ends the server at once and waits until it has exited.
func (s *server) kill() {
	_ = s.cmd.Process.Kill()
	<-s.done
}

// client returns a client of addr, closed when t ends.
func client(t testing.TB, addr string, contextTimeouts bool) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: contextTimeouts})
	t.Cleanup(func() { c.Close() })
	return c
}

var prefixes atomic.Int64

// prefix returns a key prefix no other test uses, on a shared server too.
func prefix(t testing.TB) string {
	return fmt.Sprintf("apiauthtest:%d:%d:%s:", os.Getpid(), prefixes.Add(1), strings.ReplaceAll(t.Name(), "/", "."))
}

func TestStoreConformance(t *testing.T) {
	addr := redisAddr(t)
	c := client(t, addr, true)
	apiauthtest.TestStore(t, func(t *testing.T) apiauth.Store {
		return redisstore.New(c, redisstore.WithPrefix(prefix(t)), redisstore.WithBudget(testBudget))
	}, true)
}

// TestStoreGuardedConformance runs the suite on a client that does not put
// context deadlines on its sockets, so that every call goes through the
// store's own guard.
func TestStoreGuardedConformance(t *testing.T) {
	addr := redisAddr(t)
	c := client(t, addr, false)
	apiauthtest.TestStore(t, func(t *testing.T) apiauth.Store {
		return redisstore.New(c, redisstore.WithPrefix(prefix(t)), redisstore.WithBudget(testBudget))
	}, true)
}

// TestExactAcrossInstances is four service instances, each with its own
// client and store, sharing one Redis: 50 concurrent requests against a
// limit of 20 get exactly 20 through.
func TestExactAcrossInstances(t *testing.T) {
	addr := redisAddr(t)
	p := prefix(t)
	var stores [4]*redisstore.Store
	for i := range stores {
		stores[i] = redisstore.New(client(t, addr, true), redisstore.WithPrefix(p), redisstore.WithBudget(testBudget))
	}
	limits := []apiauth.Limit{{Name: "hour", Requests: 20, Window: time.Hour}, {Name: "burst", Requests: 1000, Window: time.Second}}
	var allowed, refused atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func(s *redisstore.Store) {
			defer wg.Done()
			<-start
			d, err := s.Take(context.Background(), "k:shared", limits, time.Now())
			if err != nil {
				t.Error(err)
				return
			}
			if d.Allowed {
				allowed.Add(1)
			} else {
				refused.Add(1)
			}
		}(stores[i%len(stores)])
	}
	close(start)
	wg.Wait()
	if a, r := allowed.Load(), refused.Load(); a != 20 || r != 30 {
		t.Fatalf("50 concurrent requests through 4 instances against a limit of 20: %d allowed, %d refused; want 20, 30", a, r)
	}
}

// TestArithmetic checks the numbers against GCRA: a fresh key's first
// request resets after exactly one emission interval (times are moved onto
// the caller's clock), refusals say when to retry, and unlimited limits
// report nothing.
func TestArithmetic(t *testing.T) {
	s := redisstore.New(client(t, redisAddr(t), true), redisstore.WithPrefix(prefix(t)), redisstore.WithBudget(testBudget))
	ctx := context.Background()
	limits := []apiauth.Limit{
		{Name: "hour", Requests: apiauth.Unlimited, Window: time.Hour},
		{Name: "minute", Requests: 5, Window: time.Minute},
		{Name: "burst", Requests: 3, Window: time.Second},
	}
	now := time.Now()
	d, err := s.Take(ctx, "k:1", limits, now)
	if err != nil {
		t.Fatal(err)
	}
	if !d.Allowed || d.RetryAfter != 0 {
		t.Fatalf("first request: allowed %v, retry after %v", d.Allowed, d.RetryAfter)
	}
	if d.Limits[0] != (apiauth.LimitStatus{}) {
		t.Errorf("unlimited limit has a status: %+v", d.Limits[0])
	}
	if got, want := d.Limits[1], (apiauth.LimitStatus{Remaining: 4, Reset: now.Add(12 * time.Second)}); got != want {
		t.Errorf("minute limit: %+v, want %+v", got, want)
	}
	// 1s/3 is 333333 µs.
	if got, want := d.Limits[2], (apiauth.LimitStatus{Remaining: 2, Reset: now.Add(333333 * time.Microsecond)}); got != want {
		t.Errorf("burst limit: %+v, want %+v", got, want)
	}

	for i := 0; i < 2; i++ {
		if d, err = s.Take(ctx, "k:1", limits, time.Now()); err != nil || !d.Allowed {
			t.Fatalf("request %d: allowed %v, %v", i+2, d.Allowed, err)
		}
	}
	now = time.Now()
	if d, err = s.Take(ctx, "k:1", limits, now); err != nil {
		t.Fatal(err)
	}
	if d.Allowed {
		t.Fatal("fourth request within a second allowed by a burst of 3")
	}
	// The minute limit allowed but took nothing; the burst limit refused.
	if st := d.Limits[1]; st.Remaining != 2 || st.RetryAfter != 0 {
		t.Errorf("minute limit on refusal: %+v, want 2 remaining, no retry", st)
	}
	st := d.Limits[2]
	if st.Remaining != 0 || st.RetryAfter <= 0 || st.RetryAfter > 333333*time.Microsecond {
		t.Errorf("burst limit on refusal: %+v, want 0 remaining, retry in (0, 333ms]", st)
	}
	if d.RetryAfter != st.RetryAfter {
		t.Errorf("decision retry after %v, burst limit's %v", d.RetryAfter, st.RetryAfter)
	}
	// Retry-After and Reset agree: allowed again once the burst's TAT is
	// within span-T of now, that is one interval before its reset.
	if got, want := st.Reset.Sub(now)-st.RetryAfter, 2*333333*time.Microsecond; got != want {
		t.Errorf("reset - retry after = %v, want span - T = %v", got, want)
	}
	time.Sleep(st.RetryAfter + 10*time.Millisecond)
	if d, err = s.Take(ctx, "k:1", limits, time.Now()); err != nil || !d.Allowed {
		t.Fatalf("after waiting the retry delay: allowed %v, %v", d.Allowed, err)
	}

	// All unlimited: no state, no round trip.
	none := []apiauth.Limit{{Requests: apiauth.Unlimited, Window: time.Second}}
	if d, err = s.Take(ctx, "k:1", none, now); err != nil || !d.Allowed {
		t.Fatalf("unlimited tier: allowed %v, %v", d.Allowed, err)
	}
	if _, err := s.Take(ctx, "k:1", []apiauth.Limit{{Requests: 1, Window: 200 * 365 * 24 * time.Hour}}, now); err == nil {
		t.Error("a window of 200 years: no error")
	}
	if _, err := s.Take(ctx, "k:1", []apiauth.Limit{{Requests: 0, Window: time.Second}}, now); err == nil {
		t.Error("a limit of 0 requests: no error")
	}
}

// TestKeys checks what the store leaves in Redis: one key per limit, named
// by a hash of the rate-limit key, never the key itself, under one hash tag
// (one Redis Cluster slot), each with an expiry at full recovery, after
// which nothing is left.
func TestKeys(t *testing.T) {
	addr := redisAddr(t)
	c := client(t, addr, true)
	p := prefix(t)
	s := redisstore.New(c, redisstore.WithPrefix(p), redisstore.WithBudget(testBudget))
	ctx := context.Background()
	const raw = "k:key_live_4f9a2c81secret"
	limits := []apiauth.Limit{
		{Name: "minute", Requests: 60, Window: time.Minute},
		{Name: "burst", Requests: 2, Window: 400 * time.Millisecond},
	}
	for i := 0; i < 3; i++ { // the third is refused by the burst
		if _, err := s.Take(ctx, raw, limits, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	keys := scanKeys(t, c, p)
	if len(keys) != 2 {
		t.Fatalf("keys %q, want one per limit", keys)
	}
	var tags []string
	for _, k := range keys {
		if strings.Contains(k, "key_live") || strings.Contains(k, raw) {
			t.Errorf("key name %q holds the raw key", k)
		}
		rest := strings.TrimPrefix(k, p)
		open, end := strings.IndexByte(rest, '{'), strings.IndexByte(rest, '}')
		if open != 0 || end != 33 {
			t.Errorf("key name %q: want %s{<32 hex digits>}:…", k, p)
			continue
		}
		tags = append(tags, rest[1:end])
		ttl, err := c.PTTL(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		max := time.Minute
		if strings.HasSuffix(k, ":400000000") {
			max = 400 * time.Millisecond
		}
		if ttl <= 0 || ttl > max {
			t.Errorf("key %q: PTTL %v, want (0, %v]", k, ttl, max)
		}
	}
	if len(tags) == 2 && tags[0] != tags[1] {
		t.Errorf("one key's limits under two hash tags: %q", keys)
	}

	// The burst limit recovers fully within 400 ms; its state is gone.
	time.Sleep(500 * time.Millisecond)
	keys = scanKeys(t, c, p)
	if len(keys) != 1 || strings.HasSuffix(keys[0], ":400000000") {
		t.Errorf("after the burst recovered: keys %q, want the minute limit's only", keys)
	}
}

// TestRefundState checks what Refund writes: the TAT one emission interval
// earlier, with the expiry moved with it, and no key at all once the limit
// has recovered; a key with no state is not created.
func TestRefundState(t *testing.T) {
	c := client(t, redisAddr(t), true)
	p := prefix(t)
	s := redisstore.New(c, redisstore.WithPrefix(p), redisstore.WithBudget(testBudget))
	ctx := context.Background()
	limits := []apiauth.Limit{{Name: "hour", Requests: 10, Window: time.Hour}}
	const T = 6 * time.Minute
	if err := s.Refund(ctx, "k:1", limits, time.Now()); err != nil {
		t.Fatal(err)
	}
	if keys := scanKeys(t, c, p); len(keys) != 0 {
		t.Fatalf("a refund to a key with no state wrote %q", keys)
	}
	for i := 0; i < 2; i++ {
		if _, err := s.Take(ctx, "k:1", limits, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	keys := scanKeys(t, c, p)
	if len(keys) != 1 {
		t.Fatalf("keys %q, want one", keys)
	}
	tatOf := func() int64 {
		v, err := c.Get(ctx, keys[0]).Int64()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	before := tatOf()
	if err := s.Refund(ctx, "k:1", limits, time.Now()); err != nil {
		t.Fatal(err)
	}
	if got := tatOf(); got != before-T.Microseconds() {
		t.Errorf("TAT after a refund %d, want %d, one interval earlier", got, before-T.Microseconds())
	}
	if ttl, err := c.PTTL(ctx, keys[0]).Result(); err != nil || ttl <= T-time.Second || ttl > T {
		t.Errorf("PTTL after a refund %v (%v), want about one interval, %v", ttl, err, T)
	}
	if err := s.Refund(ctx, "k:1", limits, time.Now()); err != nil {
		t.Fatal(err)
	}
	if keys := scanKeys(t, c, p); len(keys) != 0 {
		t.Errorf("after every request was refunded: keys %q, want none", keys)
	}
}

// TestRefundFallback: while Redis is down, a refund goes to the fallback,
// which took the request; without one it is an error.
func TestRefundFallback(t *testing.T) {
	c := client(t, fmt.Sprint("127.0.0.1:", freePort(t)), true) // nothing listens
	fb := apiauth.NewMemoryStore()
	limits := []apiauth.Limit{{Requests: 1, Window: time.Hour}}
	ctx := context.Background()
	s := redisstore.New(c, redisstore.WithFallback(fb), redisstore.WithBudget(100*time.Millisecond))
	if d, err := s.Take(ctx, "k:1", limits, time.Now()); err != nil || !d.Allowed {
		t.Fatalf("take: allowed %v, %v; want the fallback to allow", d.Allowed, err)
	}
	if err := s.Refund(ctx, "k:1", limits, time.Now()); err != nil {
		t.Fatal(err)
	}
	if d, _ := fb.Peek(ctx, "k:1", limits, time.Now()); d.Limits[0].Remaining != 1 {
		t.Errorf("fallback after the refund: remaining %d, want 1", d.Limits[0].Remaining)
	}
	closed := redisstore.New(c, redisstore.WithBudget(100*time.Millisecond))
	if err := closed.Refund(ctx, "k:1", limits, time.Now()); !errors.Is(err, redisstore.ErrUnavailable) {
		t.Errorf("refund without a fallback: %v, want ErrUnavailable", err)
	}
}

// scanKeys returns the names of the keys that start with prefix.
func scanKeys(t *testing.T, c *redis.Client, prefix string) []string {
	t.Helper()
	var keys []string
	iter := c.Scan(context.Background(), 0, prefix+"*", 100).Iterator()
	for iter.Next(context.Background()) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	return keys
}

// TestOutage runs a Redis server of its own and, while requests keep
// coming, hangs it (SIGSTOP), kills it and starts it again on the same port.
// A fail-closed store returns errors that are redisstore.ErrUnavailable, a
// store with a fallback lets the fallback decide, every Take returns within
// the budget (with slack for scheduling), and once Redis is back both stores
// use it again. It is a bound check, not a benchmark.
func TestOutage(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redisstore: no redis-server on PATH: the outage test hangs, kills and restarts a server of its own, which APIAUTH_REDIS_ADDR cannot stand in for; install redis-server to run it")
	}
	const budget = 50 * time.Millisecond
	// The slack absorbs scheduling on a loaded machine under -race; the
	// point is "the budget, never seconds".
	const bound = budget + 250*time.Millisecond
	port, dir := freePort(t), t.TempDir()
	srv := startRedis(t, port, dir)

	limits := []apiauth.Limit{{Name: "minute", Requests: 1000, Window: time.Minute}}
	type instance struct {
		name     string
		store    *redisstore.Store
		fallback *countingStore
	}
	var instances []instance
	for _, ctxTimeouts := range []bool{true, false} {
		// A store that tries Redis on every call, and one that leaves it
		// alone for a while after a failure.
		for _, retry := range []time.Duration{0, 200 * time.Millisecond} {
			name := fmt.Sprintf("ContextTimeoutEnabled=%v/retry=%v", ctxTimeouts, retry)
			c := client(t, srv.addr, ctxTimeouts)
			opts := []redisstore.Option{redisstore.WithPrefix(prefix(t)), redisstore.WithBudget(budget), redisstore.WithRetryInterval(retry)}
			instances = append(instances, instance{name: name + "/fail-closed", store: redisstore.New(c, opts...)})
			fb := &countingStore{Store: apiauth.NewMemoryStore()}
			opts = append(opts, redisstore.WithFallback(fb))
			instances = append(instances, instance{name: name + "/fallback", store: redisstore.New(c, opts...), fallback: fb})
		}
	}

	// Connect every instance, and load the script, before the clock starts:
	// on a slow machine the first dial may not fit in the budget.
	for _, in := range instances {
		for n, deadline := 0, time.Now().Add(5*time.Second); ; n++ {
			var before int64
			if in.fallback != nil {
				before = in.fallback.calls.Load()
			}
			_, err := in.store.Take(context.Background(), fmt.Sprint("k:warm-up:", n), limits, time.Now())
			if err == nil && (in.fallback == nil || in.fallback.calls.Load() == before) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: Redis never answered within the budget: %v", in.name, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	// Each instance's outcomes, by phase.
	type tally struct {
		ok, unavailable, other, fallback int
		slowest                          time.Duration
		slowErr                          error
	}
	const (
		up = iota
		hung
		dead
		restarted
		phases
	)
	names := [phases]string{"up", "hung", "dead", "restarted"}
	var phase atomic.Int32
	var mu sync.Mutex
	tallies := make([][phases]tally, len(instances))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i, in := range instances {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				p := phase.Load()
				key := fmt.Sprintf("k:%d", n)
				var before int64
				if in.fallback != nil {
					before = in.fallback.calls.Load()
				}
				start := time.Now()
				d, err := in.store.Take(context.Background(), key, limits, start)
				took := time.Since(start)
				if p != phase.Load() {
					continue // straddled a change: count it in neither phase
				}
				mu.Lock()
				tl := &tallies[i][p]
				if took > tl.slowest {
					tl.slowest, tl.slowErr = took, err
				}
				switch {
				case err == nil && in.fallback != nil && in.fallback.calls.Load() > before:
					tl.fallback++
					if !d.Allowed || d.Limits[0].Remaining != 999 {
						t.Errorf("%s: fallback decision %+v, want allowed, 999 remaining", in.name, d)
					}
				case err == nil:
					tl.ok++
				case errors.Is(err, redisstore.ErrUnavailable):
					tl.unavailable++
				default:
					tl.other++
					t.Errorf("%s: %s: error not ErrUnavailable: %v", in.name, names[p], err)
				}
				mu.Unlock()
				time.Sleep(time.Millisecond)
			}
		}()
	}
	settle := func(next int32, wait time.Duration) {
		time.Sleep(wait)
		phase.Store(next)
	}

	settle(up, 300*time.Millisecond)
	// Hung: the process accepts connections (the kernel does) but never
	// answers, the case that costs the most.
	if err := srv.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	phase.Store(hung)
	time.Sleep(600 * time.Millisecond)
	srv.kill()
	phase.Store(dead)
	time.Sleep(600 * time.Millisecond)
	phase.Store(restarted)
	startRedis(t, port, dir) // killed when t ends
	// Give every client time to notice: go-redis re-dials a pool whose
	// dials all failed about once a second.
	deadline := time.Now().Add(10 * time.Second)
	for {
		phase.Store(restarted)
		time.Sleep(300 * time.Millisecond)
		mu.Lock()
		allOK := true
		for i := range instances {
			tl := &tallies[i][restarted]
			allOK = allOK && tl.ok > 0
			// Count afresh, but keep the slowest call.
			*tl = tally{slowest: tl.slowest, slowErr: tl.slowErr}
		}
		mu.Unlock()
		if allOK || time.Now().After(deadline) {
			break
		}
	}
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()

	for i, in := range instances {
		for p := range phases {
			tl := tallies[i][p]
			t.Logf("%-45s %-9s ok %4d  unavailable %4d  fallback %4d  slowest %v (%v)",
				in.name, names[p], tl.ok, tl.unavailable, tl.fallback, tl.slowest.Round(time.Microsecond), tl.slowErr)
			if tl.slowest > bound {
				t.Errorf("%s: %s: a Take took %v, over the budget %v plus slack", in.name, names[p], tl.slowest, budget)
			}
			switch p {
			case up, restarted:
				// With Redis up every call should use it; one call in ten
				// may still miss the budget on a loaded machine.
				if failed := tl.unavailable + tl.fallback + tl.other; tl.ok == 0 || failed*10 > tl.ok {
					t.Errorf("%s: Redis %s: %d ok, %d unavailable, %d fallback; want (nearly) all ok", in.name, names[p], tl.ok, tl.unavailable, tl.fallback)
				}
			case hung, dead:
				if in.fallback == nil && (tl.unavailable == 0 || tl.ok > 0) {
					t.Errorf("%s: Redis %s: %d ok, %d unavailable; want all unavailable", in.name, names[p], tl.ok, tl.unavailable)
				}
				if in.fallback != nil && (tl.fallback == 0 || tl.ok+tl.unavailable > 0) {
					t.Errorf("%s: Redis %s: %d ok, %d unavailable, %d fallback; want all decided by the fallback", in.name, names[p], tl.ok, tl.unavailable, tl.fallback)
				}
			}
		}
	}
}

// countingStore counts the decisions it is asked for: a fallback's,
// whose MemoryStore.Len would not tell, since it drops the entries of keys
// that have recovered.
type countingStore struct {
	apiauth.Store
	calls atomic.Int64
}

func (c *countingStore) Take(ctx context.Context, key string, limits []apiauth.Limit, now time.Time) (apiauth.Decision, error) {
	c.calls.Add(1)
	return c.Store.Take(ctx, key, limits, now)
}

func (c *countingStore) Peek(ctx context.Context, key string, limits []apiauth.Limit, now time.Time) (apiauth.Decision, error) {
	c.calls.Add(1)
	return c.Store.Peek(ctx, key, limits, now)
}

type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

// TestCanceledContext: a caller that gave up is not an outage.
func TestCanceledContext(t *testing.T) {
	fb := &countingStore{Store: apiauth.NewMemoryStore()}
	s := redisstore.New(client(t, redisAddr(t), true), redisstore.WithPrefix(prefix(t)), redisstore.WithFallback(fb))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.Take(ctx, "k:1", apiauth.Presets()["free"].Limits, time.Now())
	if !errors.Is(err, context.Canceled) || errors.Is(err, redisstore.ErrUnavailable) {
		t.Fatalf("canceled context: %v, want context.Canceled only", err)
	}
	if fb.calls.Load() != 0 {
		t.Error("the fallback decided for a canceled request")
	}
	if d, err := s.Take(context.Background(), "k:1", apiauth.Presets()["free"].Limits, time.Now()); err != nil || !d.Allowed || fb.calls.Load() != 0 {
		t.Fatalf("next request: allowed %v, %v, fallback decisions %d; want Redis to decide", d.Allowed, err, fb.calls.Load())
	}
}

// BenchmarkRedisTake is one request, two limits (apiauth.Presets()["free"]), one round
// trip to the Redis server.
func BenchmarkRedisTake(b *testing.B) {
	c := client(b, redisAddr(b), true)
	s := redisstore.New(c, redisstore.WithPrefix(prefix(b)))
	ctx := context.Background()
	limits := []apiauth.Limit{{Name: "hour", Requests: 1 << 40, Window: time.Hour}, {Name: "burst", Requests: 1 << 40, Window: time.Second}}
	if _, err := s.Take(ctx, "k:bench", limits, time.Now()); err != nil {
		b.Fatal(err)
	}
	b.Run("Serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Take(ctx, "k:bench", limits, time.Now()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Parallel", func(b *testing.B) {
		b.ReportAllocs()
		var n atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			key := "k:bench" + strconv.FormatInt(n.Add(1), 10)
			for pb.Next() {
				if _, err := s.Take(ctx, key, limits, time.Now()); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// Ping is the store's readiness check: Redis answers, and a server that
// does not is an error within the budget.
func TestPing(t *testing.T) {
	if addr := os.Getenv("APIAUTH_REDIS_ADDR"); addr != "" {
		s := redisstore.New(client(t, addr, true), redisstore.WithBudget(testBudget))
		require.NoError(t, s.Ping(context.Background()))
	}
	dead := redisstore.New(client(t, fmt.Sprint("127.0.0.1:", freePort(t)), true), redisstore.WithBudget(testBudget))
	assert.Error(t, dead.Ping(context.Background()))
}
