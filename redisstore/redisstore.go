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
// Peek runs a second script, the same check without the writes, and Refund
// a third, which gives back one request that Take took: it moves each
// limit's TAT back by one emission interval, never before the server's
// time, and deletes the key of a limit that has thereby recovered. Each
// script is sent once per Redis server: the store runs it by its SHA-1 with
// EVALSHA and, only if the server answers NOSCRIPT (the first call, or after
// a restart or failover), sends the script with EVAL, which caches it, as
// go-redis's Script.Run does. See
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
// returning an error that wraps ErrUnavailable (apiauth.RateLimit
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

// The scripts: takeSource checks every limit in KEYS and, only if all
// allow, takes one request from each; peekSource only checks;
// refundSource gives one request back to each. ARGV holds,
// for each key i, the emission interval T (ARGV[2i-1]) and the tolerance
// span−T (ARGV[2i]), where span is the capacity span N·T, in microseconds. A
// limit allows the request when its TAT is at most span−T past now. All
// return the server's time, 1 if the request is allowed (0 if not), then for
// each limit how far its TAT was past that time before the request (0 when
// it had recovered or had no state): decide derives each limit's remaining
// count, reset time and retry delay from these, as apiauth.MemoryStore
// computes them. All values are integers below 2^53, exact in Lua's
// doubles.
//
// The scripts do only what must happen on the server, where they hold up
// every other client: read the clock, GET and compare each limit's TAT, SET
// the new ones; the arithmetic on counts and times is the caller's. They
// also spare what costs there: Redis turns every argument into a Lua string
// (so Take and Peek are two scripts rather than one with a flag), each
// string-to-number conversion of an argument happens once, and the reply
// table is built with room for one limit's value.
const (
	gcraCheck = `local t = redis.call('TIME')
local now = t[1] * 1000000 + t[2]
local n = #KEYS
local out = {now, 1, 0}
for i = 1, n do
  local w = (tonumber(redis.call('GET', KEYS[i])) or now) - now
  if w < 0 then w = 0 end
  out[i+2] = w
  if w > ARGV[2*i] + 0 then out[2] = 0 end
end
`
	takeSource = `-- apiauth/redisstore GCRA take v3
if redis.replicate_commands then redis.replicate_commands() end
` + gcraCheck + `if out[2] == 1 then
  for i = 1, n do
    local w = out[i+2] + ARGV[2*i-1]
    redis.call('SET', KEYS[i], string.format('%d', now + w), 'PX', string.format('%d', math.ceil(w / 1000)))
  end
end
return out
`
	peekSource = `-- apiauth/redisstore GCRA peek v3
` + gcraCheck + `return out
`
	// A limit with state moves back by T; one that has recovered (TAT at
	// or before now) is left to expire.
	refundSource = `-- apiauth/redisstore GCRA refund v1
if redis.replicate_commands then redis.replicate_commands() end
` + gcraCheck + `for i = 1, n do
  if out[i+2] > 0 then
    local w = out[i+2] - ARGV[2*i-1]
    if w > 0 then
      redis.call('SET', KEYS[i], string.format('%d', now + w), 'PX', string.format('%d', math.ceil(w / 1000)))
    else
      redis.call('DEL', KEYS[i])
    end
  end
end
return out
`
)

// op is what a call asks of Redis: one of the three scripts.
type op int

const (
	opPeek op = iota
	opTake
	opRefund
)

// The scripts by op, and their SHA-1s in hex, the names EVALSHA runs them
// by, each put in an any once: converting a string on every call would
// allocate.
var (
	scriptSource = [...]string{opPeek: peekSource, opTake: takeSource, opRefund: refundSource}
	scriptSHA    = [...]any{
		opPeek:   redis.NewScript(peekSource).Hash(),
		opTake:   redis.NewScript(takeSource).Hash(),
		opRefund: redis.NewScript(refundSource).Hash(),
	}
)

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

// ErrUnavailable matches the errors of a Store that fails closed when
// Redis cannot answer within the budget.
var ErrUnavailable = errors.New("redisstore: Redis unavailable")

// unavailableError is a Redis failure as Take reports it: it wraps both
// ErrUnavailable and the cause.
type unavailableError struct{ err error }

func (e *unavailableError) Error() string { return ErrUnavailable.Error() + ": " + e.err.Error() }

func (e *unavailableError) Unwrap() []error { return []error{ErrUnavailable, e.err} }

// Take implements apiauth.Store: it checks every limit for key and, only if
// all allow, takes one request from each, in one round trip to Redis. The
// decision is made on the Redis server's clock; now only places the
// decision's times on the caller's clock (see the package documentation).
// Unlimited limits are skipped, and limits past apiauth.MaxLimits are
// ignored, as apiauth.MemoryStore does.
//
// When Redis fails or does not answer within the budget, Take asks the
// fallback store if there is one, else returns an error wrapping
// ErrUnavailable. If ctx ends first, Take returns ctx's error.
func (s *Store) Take(ctx context.Context, key string, limits []apiauth.Limit, now time.Time) (apiauth.Decision, error) {
	return s.decide(ctx, key, limits, now, opTake)
}

// Peek implements apiauth.Store: Take's decision, without taking.
func (s *Store) Peek(ctx context.Context, key string, limits []apiauth.Limit, now time.Time) (apiauth.Decision, error) {
	return s.decide(ctx, key, limits, now, opPeek)
}

// Refund implements apiauth.Store: it gives back one request that Take
// took, in one round trip, on the Redis server's clock (now plays no part).
// When Redis fails, the fallback store, if any, is given the request back:
// the one that took it if Redis was failing then too.
func (s *Store) Refund(ctx context.Context, key string, limits []apiauth.Limit, now time.Time) error {
	_, err := s.decide(ctx, key, limits, now, opRefund)
	return err
}

func (s *Store) decide(ctx context.Context, key string, limits []apiauth.Limit, now time.Time, o op) (apiauth.Decision, error) {
	d := apiauth.Decision{Allowed: true}
	if len(limits) > apiauth.MaxLimits {
		limits = limits[:apiauth.MaxLimits]
	}
	b, err := bindLimits(limits)
	if err != nil || b.n == 0 {
		return d, err
	}
	if until := s.downUntil.Load(); until != 0 {
		t := int64(time.Since(s.epoch))
		// Within the interval, or another call is already probing.
		if t < until || !s.downUntil.CompareAndSwap(until, t+int64(s.retry)) {
			return s.unavailable(ctx, key, limits, now, o, s.lastErr.Load())
		}
	}
	out, err := s.eval(ctx, s.command(key, limits, &b, o), o)
	if err == nil && len(out) != 2+b.n {
		err = fmt.Errorf("script returned %d values, want %d", len(out), 2+b.n)
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
		return s.unavailable(ctx, key, limits, now, o, e)
	}
	if s.downUntil.Load() != 0 {
		s.downUntil.Store(0)
	}
	if o == opRefund {
		return d, nil
	}
	b.statuses(&d, out, now, o == opTake)
	return d, nil
}

// bound is the limits of a decision that bind (not Unlimited), with each
// one's GCRA emission interval and capacity in µs.
type bound struct {
	n         int
	idx       [apiauth.MaxLimits]int // positions in limits
	ts, spans [apiauth.MaxLimits]int64
}

// bindLimits finds the limits that bind and their intervals.
func bindLimits(limits []apiauth.Limit) (bound, error) {
	var b bound
	for i, l := range limits {
		if l.Requests == apiauth.Unlimited {
			continue
		}
		if l.Requests <= 0 || l.Window <= 0 {
			return b, fmt.Errorf("redisstore: limit %q: requests and window must be positive", l.Name)
		}
		t := max(l.Window.Microseconds()/l.Requests, 1)
		span := t * l.Requests
		if span > maxSpan {
			return b, fmt.Errorf("redisstore: limit %q: window too long", l.Name)
		}
		b.idx[b.n], b.ts[b.n], b.spans[b.n] = i, t, span
		b.n++
	}
	return b, nil
}

// command is the script call: EVALSHA, the script's SHA-1, the number of
// keys, the key names (all cut from one string), then T and span−T for
// each limit. Small ints go into an any without allocating.
func (s *Store) command(key string, limits []apiauth.Limit, b *bound, o op) []any {
	sum := sha256.Sum256([]byte(key))
	var tag [2 * 16]byte
	hex.Encode(tag[:], sum[:16])
	var buf [512]byte
	names := buf[:0]
	var ends [apiauth.MaxLimits]int
	n := b.n
	args := make([]any, 3+3*n)
	args[0], args[1], args[2] = "evalsha", scriptSHA[o], n
	for j := 0; j < n; j++ {
		l := limits[b.idx[j]]
		names = append(names, s.prefix...)
		names = append(names, '{')
		names = append(names, tag[:]...)
		names = append(names, "}:"...)
		names = strconv.AppendInt(names, l.Requests, 10)
		names = append(names, ':')
		names = strconv.AppendInt(names, int64(l.Window), 10)
		ends[j] = len(names)
		args[3+n+2*j], args[3+n+2*j+1] = b.ts[j], b.spans[j]-b.ts[j]
	}
	all := string(names)
	for j, start := 0, 0; j < n; j++ {
		args[3+j], start = all[start:ends[j]], ends[j]
	}
	return args
}

// statuses fills d from the script's answer: each limit's status, from how
// far its TAT was past the server's time, moved from the server's clock
// (µs) to the caller's.
func (b *bound) statuses(d *apiauth.Decision, out []int64, now time.Time, take bool) {
	serverNow := out[0]
	d.Allowed = out[1] == 1
	for j := 0; j < b.n; j++ {
		rem, reset, retry := limitStatus(out[2+j], b.ts[j], b.spans[j], d.Allowed, take)
		st := &d.Limits[b.idx[j]]
		st.Remaining = rem
		if now.IsZero() {
			st.Reset = time.UnixMicro(serverNow + reset)
		} else {
			st.Reset = now.Add(time.Duration(reset) * time.Microsecond)
		}
		st.RetryAfter = time.Duration(retry) * time.Microsecond
		d.RetryAfter = max(d.RetryAfter, st.RetryAfter)
	}
}

// limitStatus is GCRA's answer for one limit with emission interval t and
// capacity span, given w, how far past now its TAT was before the request
// (never negative), and whether the request was allowed, by every limit,
// and taken: the remaining count, when the limit resets and, if it refused,
// how long until it allows, both in µs from now. These are the numbers of
// apiauth.MemoryStore.
func limitStatus(w, t, span int64, allowed, take bool) (remaining, reset, retry int64) {
	remaining, reset = floorDiv(span-w, t), w
	switch {
	case allowed && take:
		remaining--
		reset += t
	case allowed:
	case w+t > span: // this limit refused
		remaining, retry = 0, w-(span-t)
	}
	return remaining, reset, retry
}

// floorDiv is a/b rounded down, for b > 0.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// eval runs the script of o, with the command args, within the budget, and
// returns its reply.
func (s *Store) eval(ctx context.Context, args []any, o op) ([]int64, error) {
	ctx, cancel := context.WithTimeout(ctx, s.budget)
	defer cancel()
	if !s.guard {
		return s.run(ctx, args, o)
	}
	type result struct {
		out []int64
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, err := s.run(ctx, args, o)
		done <- result{out, err}
	}()
	select {
	case r := <-done:
		return r.out, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// run sends args, an EVALSHA command, and reads the reply as integers
// straight into a []int64, without the []any and the boxed values of a
// generic reply. If the server does not have the script (the first call, or
// after a restart, a failover or SCRIPT FLUSH), it sends the script itself
// with EVAL, which caches it: what go-redis's Script.Run does.
func (s *Store) run(ctx context.Context, args []any, o op) ([]int64, error) {
	cmd := redis.NewIntSliceCmd(ctx, args...)
	cmd.SetFirstKeyPos(3) // for Redis Cluster and Ring to route by the key
	_ = s.client.Process(ctx, cmd)
	out, err := cmd.Result()
	if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		args[0], args[1] = "eval", scriptSource[o]
		cmd = redis.NewIntSliceCmd(ctx, args...)
		cmd.SetFirstKeyPos(3)
		_ = s.client.Process(ctx, cmd)
		out, err = cmd.Result()
	}
	return out, err
}

// unavailable answers for a failing Redis: the fallback's decision, or err.
func (s *Store) unavailable(ctx context.Context, key string, limits []apiauth.Limit, now time.Time, o op, err *unavailableError) (apiauth.Decision, error) {
	if s.fallback != nil {
		switch o {
		case opPeek:
			return s.fallback.Peek(ctx, key, limits, now)
		case opRefund:
			return apiauth.Decision{}, s.fallback.Refund(ctx, key, limits, now)
		}
		return s.fallback.Take(ctx, key, limits, now)
	}
	if err == nil { // downUntil seen before lastErr was stored
		err = &unavailableError{errors.New("redis failed recently")}
	}
	return apiauth.Decision{}, err
}

// Ping reports whether Redis answers, within the store's budget: a
// readiness check (see apiauth.Ready). The fallback store does not count.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.budget)
	defer cancel()
	return s.client.Ping(ctx).Err()
}
