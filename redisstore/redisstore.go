// Package redisstore is an apiauth.Store on Redis, for rate limits shared by
// every instance of a service behind a load balancer.
//
// # How a request is decided
//
// Each Take is one round trip: a Lua script, run with EVALSHA, that reads
// the Redis server's clock (TIME), checks every limit of the tier with GCRA
// (the generic cell rate algorithm of ITU-T I.371, the "virtual scheduling"
// form), and consumes one request from each limit only if all of them allow
// it. A script runs atomically in Redis, so the counts are exact however many
// instances share the server. The arithmetic is that of apiauth.MemoryStore,
// in integer microseconds: a limit of N requests per window W has the
// emission interval T = W/N and the capacity span N·T; a request is allowed
// when max(TAT, now)+T−now ≤ N·T, where TAT is the limit's theoretical
// arrival time, the one value stored per key and limit.
//
// The script is sent once per Redis server: go-redis's Script.Run tries
// EVALSHA and, only if the server answers NOSCRIPT (the first call, or after
// a restart or failover), sends the script with EVAL, which caches it. See
// https://redis.io/docs/latest/develop/interact/programmability/eval-intro/.
//
// # Clock
//
// The decision uses the Redis server's clock, so instances whose clocks
// disagree still share one timeline; the now passed to Take plays no part in
// it. Decision times are the server's, moved onto the caller's clock: a
// LimitStatus.Reset is now plus how far past the server's time the limit
// resets, so the X-RateLimit-Reset and Retry-After fields that
// apiauth.RateLimit derives agree with each other even when the machines'
// clocks differ. (A zero now gives the server's times unchanged.)
//
// Reading TIME before writing needs script effects replication, the default
// since Redis 5; the script asks for it on Redis 3.2 and 4.
//
// # Keys
//
// A limit's state is one string key,
//
//	<prefix>{<hash>}:<requests>:<window in ns>
//
// where prefix is "apiauth:rl:" unless WithPrefix says otherwise and hash is
// the first 128 bits of the SHA-256 of the rate-limit key, in hex. The raw key
// (an API key's ID, a client IP) never appears in Redis; the hash is not
// keyed, so it hides a key from a casual reader, not from someone who can
// guess it. The braces are a Redis Cluster hash tag: all limits of one key
// map to one slot, as a multi-key script requires
// (https://redis.io/docs/latest/operate/oss_and_stack/reference/cluster-spec/#hash-tags).
// Every write sets an expiry at the moment the limit has fully recovered
// (TAT − now): recovered state is the same as no state, so it is left to
// expire, and Redis holds only keys that are actually limited.
//
// # Time budget and failures
//
// Each Take gets a budget, 50 ms unless WithBudget says otherwise, enforced
// with a context deadline. When Redis cannot answer within it (down,
// unreachable, hung, or an error reply), the store either fails closed,
// returning an error that wraps apiauth.ErrStoreUnavailable (apiauth.RateLimit
// then answers 503 Service Unavailable with Retry-After, RFC 9110 §15.6.4,
// or lets the request through with apiauth.WithFailOpen), or, with
// WithFallback, lets a local store such as apiauth.NewMemoryStore decide.
// After a failure the store does not ask Redis again for a retry interval
// (one second unless WithRetryInterval says otherwise): meanwhile Take fails
// or falls back at once, so an outage costs at most the budget once per
// interval, not once per request.
//
// Give the client ContextTimeoutEnabled: true (redis.Options,
// redis.ClusterOptions, redis.RingOptions): go-redis then puts the budget's
// deadline on the socket itself. Without it go-redis bounds socket reads
// only by its ReadTimeout (seconds), so the store runs each call on a
// goroutine of its own and stops waiting for it when the budget is spent;
// the abandoned call holds a pooled connection until go-redis gives up.
package redisstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/apiauth/apiauth"
	"github.com/redis/go-redis/v9"
)

// Defaults.
const (
	// DefaultPrefix starts every key name the store writes.
	DefaultPrefix = "apiauth:rl:"
	// DefaultBudget is the most one Take waits for Redis.
	DefaultBudget = 50 * time.Millisecond
	// DefaultRetryInterval is how long after a failure the store leaves
	// Redis alone.
	DefaultRetryInterval = time.Second
)

// maxSpan bounds a limit's capacity span, in microseconds, so that the
// script's arithmetic on the server's time (about 2^50.6 µs since 1970)
// stays exact in Lua's doubles (2^53) for a century.
const maxSpan = 1 << 51

// gcraScript checks and takes from every limit in KEYS at once. ARGV holds,
// for each key i, the emission interval T (ARGV[2i-1]) and the capacity span
// N·T (ARGV[2i]), in microseconds, then "1" to take or "0" only to look
// (Peek). It returns the server's time, 1 if the
// request was allowed (0 if not), then for each limit its remaining count,
// its reset time and its retry delay, as the apiauth.MemoryStore would
// compute them: all integers below 2^53, exact in Lua's doubles.
var gcraScript = redis.NewScript(`-- apiauth/redisstore GCRA v2
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local n = #KEYS
local take = ARGV[2*n+1] == '1'
local cur, ok = {}, true
for i = 1, n do
  local c = math.max(tonumber(redis.call('GET', KEYS[i])) or 0, now)
  cur[i] = c
  if c + tonumber(ARGV[2*i-1]) - now > tonumber(ARGV[2*i]) then ok = false end
end
local out = {now, ok and 1 or 0}
for i = 1, n do
  local T, span, c = tonumber(ARGV[2*i-1]), tonumber(ARGV[2*i]), cur[i]
  local rem, reset, retry = math.floor((span - (c - now)) / T), c, 0
  if ok and take then
    reset = c + T
    rem = rem - 1
    redis.call('SET', KEYS[i], string.format('%d', reset), 'PX', string.format('%d', math.ceil((reset - now) / 1000)))
  elseif ok then
  elseif c + T - now > span then
    rem = 0
    retry = c - now - (span - T)
  end
  out[#out+1] = rem
  out[#out+1] = reset
  out[#out+1] = retry
end
return out
`)

// Store is an apiauth.Store on Redis. It is safe for concurrent use.
type Store struct {
	client   redis.UniversalClient
	prefix   string
	budget   time.Duration
	retry    time.Duration
	fallback apiauth.Store
	// guard runs each call on its own goroutine, for clients that do not
	// put context deadlines on their sockets.
	guard bool

	// epoch anchors downUntil on the monotonic clock.
	epoch time.Time
	// downUntil is when, in nanoseconds since epoch, Redis may be tried
	// again after a failure; 0 when it is up.
	downUntil atomic.Int64
	// lastErr is the failure that set downUntil, wrapped for callers.
	lastErr atomic.Pointer[unavailableError]
}

var _ apiauth.Store = (*Store)(nil)

// Option configures a Store.
type Option func(*Store)

// WithPrefix sets the start of every key name (default DefaultPrefix), so
// that several services or environments can share one Redis. It must not
// hold braces: Redis Cluster would take them for the hash tag and put every
// key on one slot.
func WithPrefix(prefix string) Option {
	return func(s *Store) { s.prefix = prefix }
}

// WithBudget sets the most one Take waits for Redis (default
// DefaultBudget), the connection, a retry and a reload of the script
// included. A budget of zero or less keeps the default.
func WithBudget(d time.Duration) Option {
	return func(s *Store) {
		if d > 0 {
			s.budget = d
		}
	}
}

// WithFallback lets fallback, usually apiauth.NewMemoryStore(), decide while
// Redis is failing, instead of Take returning an error. Its counts are this
// instance's alone, so during an outage a client may get up to one limit
// per instance; when Redis answers again the shared counts resume where
// they were.
func WithFallback(fallback apiauth.Store) Option {
	return func(s *Store) { s.fallback = fallback }
}

// WithRetryInterval sets how long after a failure Take leaves Redis alone,
// failing or falling back at once (default DefaultRetryInterval). Zero
// makes every Take try Redis.
func WithRetryInterval(d time.Duration) Option {
	return func(s *Store) { s.retry = max(d, 0) }
}

// New returns a Store that keeps its state in Redis through client, which
// may be a *redis.Client, *redis.ClusterClient, *redis.Ring or a failover
// client. The store does not own the client: close it when done. New does
// not contact Redis.
func New(client redis.UniversalClient, opts ...Option) *Store {
	s := &Store{
		client: client,
		prefix: DefaultPrefix,
		budget: DefaultBudget,
		retry:  DefaultRetryInterval,
		epoch:  time.Now(),
	}
	for _, o := range opts {
		o(s)
	}
	s.guard = !contextTimeouts(client)
	return s
}

// contextTimeouts reports whether client puts context deadlines on its
// sockets.
func contextTimeouts(client redis.UniversalClient) bool {
	switch c := client.(type) {
	case *redis.Client:
		return c.Options().ContextTimeoutEnabled
	case *redis.ClusterClient:
		return c.Options().ContextTimeoutEnabled
	case *redis.Ring:
		return c.Options().ContextTimeoutEnabled
	}
	return false
}

// unavailableError is a Redis failure as Take reports it: it wraps both
// apiauth.ErrStoreUnavailable and the cause.
type unavailableError struct{ err error }

func (e *unavailableError) Error() string {
	return "redisstore: " + apiauth.ErrStoreUnavailable.Error() + ": " + e.err.Error()
}

func (e *unavailableError) Unwrap() []error { return []error{apiauth.ErrStoreUnavailable, e.err} }

// Take implements apiauth.Store: it checks every limit for key and, only if
// all allow, takes one request from each, in one round trip to Redis. The
// decision is made on the Redis server's clock; now only places the
// decision's times on the caller's clock (see the package documentation).
// Unlimited limits are skipped, and limits past apiauth.MaxLimits are
// ignored, as apiauth.MemoryStore does.
//
// When Redis fails or does not answer within the budget, Take asks the
// fallback store if there is one, else returns an error wrapping
// apiauth.ErrStoreUnavailable. If ctx ends first, Take returns ctx's error.
func (s *Store) Take(ctx context.Context, key string, limits []apiauth.Limit, now time.Time) (apiauth.Decision, error) {
	return s.decide(ctx, key, limits, now, true)
}

// Peek implements apiauth.Store: Take's decision, without taking.
func (s *Store) Peek(ctx context.Context, key string, limits []apiauth.Limit, now time.Time) (apiauth.Decision, error) {
	return s.decide(ctx, key, limits, now, false)
}

func (s *Store) decide(ctx context.Context, key string, limits []apiauth.Limit, now time.Time, take bool) (apiauth.Decision, error) {
	var d apiauth.Decision
	if len(limits) > apiauth.MaxLimits {
		limits = limits[:apiauth.MaxLimits]
	}
	var idx [apiauth.MaxLimits]int // positions in limits of the bound limits
	n := 0
	for i, l := range limits {
		if l.Requests == apiauth.Unlimited {
			continue
		}
		if l.Requests <= 0 || l.Window <= 0 {
			return d, fmt.Errorf("redisstore: limit %q: requests and window must be positive", l.Name)
		}
		idx[n] = i
		n++
	}
	d.Allowed = true
	if n == 0 {
		return d, nil
	}

	if until := s.downUntil.Load(); until != 0 {
		t := int64(time.Since(s.epoch))
		// Within the interval, or another call is already probing.
		if t < until || !s.downUntil.CompareAndSwap(until, t+int64(s.retry)) {
			return s.unavailable(ctx, key, limits, now, take, s.lastErr.Load())
		}
	}

	// Key names, all cut from one string, and the script's arguments.
	sum := sha256.Sum256([]byte(key))
	var tag [2 * 16]byte
	hex.Encode(tag[:], sum[:16])
	var buf [512]byte
	b := buf[:0]
	var ends [apiauth.MaxLimits]int
	args := make([]any, 2*n+1)
	args[2*n] = "0"
	if take {
		args[2*n] = "1"
	}
	for j := 0; j < n; j++ {
		l := limits[idx[j]]
		b = append(b, s.prefix...)
		b = append(b, '{')
		b = append(b, tag[:]...)
		b = append(b, "}:"...)
		b = strconv.AppendInt(b, l.Requests, 10)
		b = append(b, ':')
		b = strconv.AppendInt(b, int64(l.Window), 10)
		ends[j] = len(b)
		t := max(l.Window.Microseconds()/l.Requests, 1)
		span := t * l.Requests
		if span > maxSpan {
			return apiauth.Decision{}, fmt.Errorf("redisstore: limit %q: window too long", l.Name)
		}
		args[2*j], args[2*j+1] = t, span
	}
	names := string(b)
	keys := make([]string, n)
	for j, start := 0, 0; j < n; j++ {
		keys[j], start = names[start:ends[j]], ends[j]
	}

	out, err := s.eval(ctx, keys, args)
	if err == nil && len(out) != 2+3*n {
		err = fmt.Errorf("script returned %d values, want %d", len(out), 2+3*n)
	}
	if err != nil {
		if ctx.Err() != nil {
			// The caller gave up; Redis is not to blame.
			return apiauth.Decision{}, fmt.Errorf("redisstore: %w", ctx.Err())
		}
		e := &unavailableError{err}
		if s.retry > 0 {
			s.lastErr.Store(e)
			s.downUntil.Store(int64(time.Since(s.epoch)) + int64(s.retry))
		}
		return s.unavailable(ctx, key, limits, now, take, e)
	}
	if s.downUntil.Load() != 0 {
		s.downUntil.Store(0)
	}

	// Server times, in µs, to the caller's clock.
	serverNow := out[0]
	at := func(us int64) time.Time {
		if now.IsZero() {
			return time.UnixMicro(us)
		}
		return now.Add(time.Duration(us-serverNow) * time.Microsecond)
	}
	d.Allowed = out[1] == 1
	for j := 0; j < n; j++ {
		r := out[2+3*j:]
		st := &d.Limits[idx[j]]
		st.Remaining = r[0]
		st.Reset = at(r[1])
		st.RetryAfter = time.Duration(r[2]) * time.Microsecond
		d.RetryAfter = max(d.RetryAfter, st.RetryAfter)
	}
	return d, nil
}

// eval runs the script within the budget.
func (s *Store) eval(ctx context.Context, keys []string, args []any) ([]int64, error) {
	ctx, cancel := context.WithTimeout(ctx, s.budget)
	defer cancel()
	if !s.guard {
		return gcraScript.Run(ctx, s.client, keys, args...).Int64Slice()
	}
	type result struct {
		out []int64
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, err := gcraScript.Run(ctx, s.client, keys, args...).Int64Slice()
		done <- result{out, err}
	}()
	select {
	case r := <-done:
		return r.out, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// unavailable answers for a failing Redis: the fallback's decision, or err.
func (s *Store) unavailable(ctx context.Context, key string, limits []apiauth.Limit, now time.Time, take bool, err *unavailableError) (apiauth.Decision, error) {
	if s.fallback != nil {
		if !take {
			return s.fallback.Peek(ctx, key, limits, now)
		}
		return s.fallback.Take(ctx, key, limits, now)
	}
	if err == nil { // downUntil seen before lastErr was stored
		err = &unavailableError{errors.New("redis failed recently")}
	}
	return apiauth.Decision{}, err
}
