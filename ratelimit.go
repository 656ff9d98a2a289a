package apiauth

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"time"
	"unsafe"
)

// Limit is one rate limit: at most Requests requests per Window, enforced
// with GCRA (the generic cell rate algorithm): requests are spaced by
// Window/Requests on average and up to Requests may arrive at once. There is
// no window edge at which a client could spend two windows' worth. A limit
// whose Requests is Unlimited never binds.
type Limit struct {
	// Name labels the limit in the RateLimit-Policy field, such as "hour"
	// or "burst": up to 64 characters of [A-Za-z0-9_.-], "default" when
	// empty.
	Name     string
	Requests int64
	Window   time.Duration
}

// Unlimited as Limit.Requests makes a limit that never binds.
const Unlimited int64 = -1

// maxWindow bounds Limit.Window: GCRA keeps arrival times in Unix
// nanoseconds, and now plus a window must fit in an int64.
const maxWindow = 100 * 365 * 24 * time.Hour

// unlimited reports whether l never binds.
func (l Limit) unlimited() bool { return l.Requests == Unlimited }

// interval returns the GCRA emission interval T = Window/Requests.
func (l Limit) interval() int64 {
	return max(int64(l.Window)/l.Requests, 1)
}

// validate reports a configuration error in l.
func (l Limit) validate() error {
	if l.unlimited() {
		if !validLimitName(l.Name) {
			return fmt.Errorf("limit %q: a name must be at most 64 characters of [A-Za-z0-9_.-]", l.Name)
		}
		return nil
	}
	if !validLimitName(l.Name) {
		return fmt.Errorf("limit %q: a name must be at most 64 characters of [A-Za-z0-9_.-]", l.Name)
	}
	if l.Requests <= 0 {
		return fmt.Errorf("limit %q: requests must be positive or Unlimited", l.Name)
	}
	if l.Window <= 0 || l.Window > maxWindow {
		return fmt.Errorf("limit %q: window must be positive and at most %v", l.Name, maxWindow)
	}
	return nil
}

// validLimitName reports whether a limit's name can be listed in a
// RateLimit-Policy field as a quoted string: empty (listed as "default")
// or up to 64 characters of [A-Za-z0-9_.-].
func validLimitName(s string) bool {
	if len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; charClass[c]&classBase62 == 0 && c != '_' && c != '.' && c != '-' {
			return false
		}
	}
	return true
}

// MaxLimits is the most limits one tier may have.
const MaxLimits = 8

// Tier is a named set of limits, all checked for every request. The first
// limit is the primary one: X-RateLimit-* headers describe it.
type Tier struct {
	Name   string
	Limits []Limit
}

// Validate reports whether t can be enforced: one to MaxLimits valid limits.
func (t Tier) Validate() error {
	if len(t.Limits) == 0 || len(t.Limits) > MaxLimits {
		return fmt.Errorf("apiauth: tier %q: needs 1 to %d limits, has %d", t.Name, MaxLimits, len(t.Limits))
	}
	for _, l := range t.Limits {
		if err := l.validate(); err != nil {
			return fmt.Errorf("apiauth: tier %q: %w", t.Name, err)
		}
	}
	return nil
}

// The preset tiers. A burst is a limit over one second: "Free, 1,000
// requests per hour with a burst of 50" is 1,000 per hour and 50 per
// second, both enforced.
func presetTiers() Tiers {
	return Tiers{
		"free": {Name: "free", Limits: []Limit{
			{Name: "hour", Requests: 1000, Window: time.Hour},
			{Name: "burst", Requests: 50, Window: time.Second},
		}},
		"pro": {Name: "pro", Limits: []Limit{
			{Name: "hour", Requests: 10000, Window: time.Hour},
			{Name: "burst", Requests: 200, Window: time.Second},
		}},
		"enterprise": {Name: "enterprise", Limits: []Limit{
			{Name: "hour", Requests: Unlimited, Window: time.Hour},
			{Name: "burst", Requests: 1000, Window: time.Second},
		}},
	}
}

// Tiers maps tier names, as carried by Principal.Tier, to tiers. The tier
// named "free" is the default: anonymous callers and principals whose tier
// is not in the map get it.
type Tiers map[string]Tier

// Presets returns a new Tiers with the three preset tiers, each a limit
// per hour and a burst limit per second:
//
//	free        1,000 an hour, burst 50 a second
//	pro        10,000 an hour, burst 200 a second
//	enterprise  unlimited an hour, burst 1,000 a second
//
// The map is the caller's: add to it or override entries before use.
func Presets() Tiers { return presetTiers() }

// PerWindow returns Tiers of one tier, the default, that allows n requests
// per window to every caller: the one-line limit, without declaring tiers.
// Behind Authenticate it limits each principal; on routes without it,
// each client IP:
//
//	r.Use(apiauth.RateLimit(apiauth.NewMemoryStore(), apiauth.PerWindow(100, time.Minute)))
//
// RateLimit validates it: n must be positive and window at most 100 years.
func PerWindow(n int64, window time.Duration) Tiers {
	return Tiers{defaultTier: {Name: "default", Limits: []Limit{{Name: "default", Requests: n, Window: window}}}}
}

// defaultTier is the name of the tier of anonymous callers and of
// principals whose tier is unknown.
const defaultTier = "free"

// tierSet is Tiers validated, and copied so that the caller's map and
// slices can change without effect, for RateLimit.
type tierSet map[string]*Tier

// compile validates every tier, and fills in the default tier from the
// presets when ts has none.
func (ts Tiers) compile() (tierSet, error) {
	out := make(tierSet, len(ts)+1)
	for name, t := range ts {
		if err := t.Validate(); err != nil {
			return nil, err
		}
		t.Limits = slices.Clone(t.Limits)
		out[name] = &t
	}
	if _, ok := out[defaultTier]; !ok {
		t := presetTiers()[defaultTier]
		out[defaultTier] = &t
	}
	return out, nil
}

// of returns the tier of p: the tier named by p.Tier, or the default. It
// never consults the request: a client cannot pick its tier.
func (ts tierSet) of(p *Principal) *Tier {
	if p != nil {
		if t, ok := ts[p.Tier]; ok {
			return t
		}
	}
	return ts[defaultTier]
}

// LimitStatus is the state of one limit after a decision.
type LimitStatus struct {
	// Remaining is how many more requests the limit allows right now.
	Remaining int64
	// Reset is when the limit is back to its full count.
	Reset time.Time
	// RetryAfter is, for a limit that refused, how long until it allows a
	// request; zero otherwise.
	RetryAfter time.Duration
}

// Decision is a Store's answer for one request.
type Decision struct {
	// Allowed is true when every limit allowed the request, which then
	// consumed one unit of each. When any limit refuses, none is consumed.
	Allowed bool
	// RetryAfter is how long until every limit allows a request: zero when
	// Allowed.
	RetryAfter time.Duration
	// Limits holds the status of each limit, in the tier's order; only the
	// first len(tier.Limits) entries are meaningful.
	Limits [MaxLimits]LimitStatus
}

// Store keeps rate-limit state. Implementations are safe for concurrent
// use; an error means the store could not decide (see WithFailOpen).
// apiauthtest.TestStore checks an implementation against this contract.
type Store interface {
	// Take checks every limit for key at now and, only if all allow,
	// consumes one request from each (all-or-nothing). Unlimited limits
	// are skipped.
	Take(ctx context.Context, key string, limits []Limit, now time.Time) (Decision, error)
	// Peek returns the decision Take would make, without consuming.
	Peek(ctx context.Context, key string, limits []Limit, now time.Time) (Decision, error)
	// Refund gives back one request that Take consumed for key under
	// limits, so that a caller can reserve a request before it knows
	// whether it counts (WithFailureLimit reserves one for every
	// credential and gives it back when the credential is valid). Under
	// GCRA it moves each bound limit's theoretical arrival time back by one
	// emission interval, but never before now: a limit is never given more
	// than its full count, and a key without state is left alone.
	// Unlimited limits are skipped. An error means the request stays
	// counted.
	Refund(ctx context.Context, key string, limits []Limit, now time.Time) error
}

// gcra applies one limit, of emission interval t (l.interval(), which the
// caller computes once per decision: it is a division), to a theoretical
// arrival time (Unix nanoseconds; 0 for no state) at now. It returns the
// TAT brought up to now and whether one more request fits, and sets st to
// the limit's status before that request is taken (see take). A limit of N
// per W allows a request when, after it, the TAT is at most N emission
// intervals ahead of now.
func gcra(l Limit, t, tat, now int64, st *LimitStatus) (cur int64, ok bool) {
	span := t * l.Requests // the whole capacity, in time
	cur = max(tat, now)
	if cur+t-now > span {
		// Refused: allowed again once cur-now <= span-t.
		*st = LimitStatus{Reset: time.Unix(0, cur), RetryAfter: time.Duration(cur - now - (span - t))}
		return cur, false
	}
	// Allowed, so span-(cur-now) >= t > 0. With no backlog (a new or a
	// recovered key) it is exactly span, Requests intervals: no division.
	remaining := l.Requests
	if cur != now {
		remaining = int64(uint64(span-(cur-now)) / uint64(t))
	}
	*st = LimitStatus{Remaining: remaining, Reset: time.Unix(0, cur)}
	return cur, true
}

// take consumes one request from a limit of emission interval t that gcra
// allowed: it returns the TAT to store and updates st to describe the
// limit after the request. (Reset is made anew, the same time as
// st.Reset.Add(t) and cheaper.)
func take(t, cur int64, st *LimitStatus) int64 {
	st.Remaining--
	st.Reset = time.Unix(0, cur+t)
	return cur + t
}

type rateLimitConfig struct {
	now      func() time.Time
	failOpen bool
	ietf     bool
	clientIP *ClientIP
	observe  observer
	store    Store
	tiers    tierSet
}

// WithFailOpen lets requests through, without rate-limit headers, when the
// store fails. The default is fail-closed: 503 with Retry-After.
func WithFailOpen() Option {
	return Option{name: "WithFailOpen", rate: func(c *rateLimitConfig) { c.failOpen = true }}
}

// WithIETFHeaders adds the RateLimit-Policy and RateLimit fields of
// draft-ietf-httpapi-ratelimit-headers-10, listing every limit of the tier,
// to the X-RateLimit-* fields.
func WithIETFHeaders() Option {
	return Option{name: "WithIETFHeaders", rate: func(c *rateLimitConfig) { c.ietf = true }}
}

// RateLimit returns a layer that enforces, with store, the tier of tiers
// that the request's principal (from Authenticate) names in its Tier; the
// tier "free" is the default, for anonymous callers and unknown names
// (the preset free tier when tiers has none; nil tiers means Presets()).
// The bucket is the principal's KeyID, or its Issuer, Tenant and Subject
// when it has no key ID; anonymous requests (Authenticate with Optional, or no
// Authenticate) are limited per client IP.
//
// Every response of a limited route carries X-RateLimit-Limit,
// X-RateLimit-Remaining and X-RateLimit-Reset (Unix seconds when the
// remaining count is back to the limit) for the tier's first limit that
// binds; a refusal describes the limit that refused. A refused request
// gets 429 rate_limited with Retry-After (whole seconds, at least 1) and a
// detail saying when to retry.
//
// The tiers are validated once, here: RateLimit panics if one fails
// Tier.Validate, as a misconfigured server should fail at start-up rather
// than on a request.
func RateLimit(store Store, tiers Tiers, opts ...Option) func(http.Handler) http.Handler {
	cfg := &rateLimitConfig{now: time.Now, clientIP: &ClientIP{}}
	apply("RateLimit", opts, cfg, func(o Option) func(*rateLimitConfig) { return o.rate })
	if tiers == nil {
		tiers = presetTiers()
	}
	set, err := tiers.compile()
	if err != nil {
		panic(err)
	}
	cfg.store, cfg.tiers = store, set
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			cfg.serve(w, r, next)
		})
	}
}

// serve decides one request and passes it on, or refuses it.
func (c *rateLimitConfig) serve(w http.ResponseWriter, r *http.Request, next http.Handler) {
	st := stateFrom(r.Context())
	p := st.principalOrNil()
	tier := c.tiers.of(p)
	var key string
	switch {
	case p != nil && p.KeyID != "":
		key = "k:" + p.KeyID
	case p != nil:
		// Without a key ID, the subject within its tenant and issuer: the
		// same sub of two tenants, or of two issuers, is two callers.
		key = "s:" + p.Issuer + "\x00" + p.Tenant + "\x00" + p.Subject
	default:
		key = "ip:" + c.clientIP.Key(r)
	}
	now := c.now()
	d, err := c.store.Take(r.Context(), key, tier.Limits, now)
	if c.observe != nil {
		c.report(r, st, p, tier, &d, err, now)
	}
	if err != nil {
		if c.failOpen {
			next.ServeHTTP(w, r)
			return
		}
		if st == nil {
			st, r = ensureState(r)
		}
		st.settingsOrDefault().reject(w, r, st, CodeUnavailable, "Rate limits cannot be checked right now; try again later.",
			"Retry-After", "1")
		return
	}
	setRateLimitHeaders(w.Header(), tier.Limits, &d, now, c.ietf)
	if d.Allowed {
		next.ServeHTTP(w, r)
		return
	}
	secs := strconv.FormatInt(ceilSeconds(d.RetryAfter), 10)
	if st == nil {
		st, r = ensureState(r)
	}
	st.settingsOrDefault().reject(w, r, st, CodeRateLimited,
		"Rate limit exceeded. Try again in "+inSeconds(secs)+".", "Retry-After", secs)
}

// report tells the observers of one decision: allowed, refused, or the
// store failing (let through with WithFailOpen, else refused).
func (c *rateLimitConfig) report(r *http.Request, st *state, p *Principal, tier *Tier, d *Decision, err error, start time.Time) {
	e := Event{Layer: "rate_limit", Principal: p, Tier: tier.Name, Duration: c.now().Sub(start), Err: err}
	if st != nil {
		e.RequestID = st.requestID[0]
	}
	switch {
	case err != nil && !c.failOpen:
		e.Code, e.Status = CodeUnavailable, http.StatusServiceUnavailable
	case err == nil && !d.Allowed:
		e.Code, e.Status = CodeRateLimited, http.StatusTooManyRequests
	}
	c.observe(r, e)
}

// inSeconds is secs, a count of seconds, in words: "1 second", "7 seconds".
func inSeconds(secs string) string {
	if secs == "1" {
		return "1 second"
	}
	return secs + " seconds"
}

// ceilSeconds rounds d up to whole seconds, at least 1.
func ceilSeconds(d time.Duration) int64 {
	s := int64((d + time.Second - 1) / time.Second)
	return max(s, 1)
}

// rateValues backs the values of the three X-RateLimit-* fields of one
// response.
type rateValues struct {
	fields [3][1]string
	digits [3 * 20]byte // three int64s in decimal
}

// setRateLimitHeaders writes the X-RateLimit-* fields for the primary limit
// (the first that binds) and, with ietf, the draft fields for all.
func setRateLimitHeaders(h http.Header, limits []Limit, d *Decision, now time.Time, ietf bool) {
	primary := -1
	for i, l := range limits {
		if !l.unlimited() {
			primary = i
			break
		}
	}
	if primary < 0 {
		return
	}
	if !d.Allowed {
		// A refusal describes the limit that refused longest, so that
		// Remaining is 0 and Reset agrees with Retry-After.
		for i, l := range limits {
			if !l.unlimited() && d.Limits[i].RetryAfter > d.Limits[primary].RetryAfter {
				primary = i
			}
		}
	}
	l, s := limits[primary], d.Limits[primary]
	// One allocation holds the three values' digits and the []string of
	// each field.
	v := new(rateValues)
	b := strconv.AppendInt(v.digits[:0], l.Requests, 10)
	i := len(b)
	b = strconv.AppendInt(b, s.Remaining, 10)
	j := len(b)
	b = strconv.AppendInt(b, unixCeil(s.Reset, now), 10)
	// The digits are never written again: the string may share them.
	all := unsafe.String(&v.digits[0], len(b))
	v.fields = [3][1]string{{all[:i]}, {all[i:j]}, {all[j:]}}
	h["X-Ratelimit-Limit"] = v.fields[0][:]
	h["X-Ratelimit-Remaining"] = v.fields[1][:]
	h["X-Ratelimit-Reset"] = v.fields[2][:]
	if !ietf {
		return
	}
	var policy, current []byte
	for i, l := range limits {
		if l.unlimited() {
			continue
		}
		if len(policy) > 0 {
			policy = append(policy, ", "...)
			current = append(current, ", "...)
		}
		name := l.Name
		if name == "" {
			name = "default"
		}
		s := d.Limits[i]
		policy = strconv.AppendQuote(policy, name)
		policy = append(policy, ";q="...)
		policy = strconv.AppendInt(policy, l.Requests, 10)
		policy = append(policy, ";w="...)
		policy = strconv.AppendInt(policy, ceilSeconds(l.Window), 10)
		current = strconv.AppendQuote(current, name)
		current = append(current, ";r="...)
		current = strconv.AppendInt(current, s.Remaining, 10)
		current = append(current, ";t="...)
		t := s.Reset.Sub(now)
		current = strconv.AppendInt(current, max(int64(math.Ceil(t.Seconds())), 0), 10)
	}
	h.Set("Ratelimit-Policy", string(policy))
	h.Set("Ratelimit", string(current))
}

// unixCeil returns t in Unix seconds, rounded up, and never before now.
func unixCeil(t, now time.Time) int64 {
	if t.Before(now) {
		t = now
	}
	s := t.Unix()
	if t.Nanosecond() > 0 {
		s++
	}
	return s
}
