package apiauth

import (
	"context"
	"net/http"
	"strconv"
	"time"
)

// defaultFailureLimit is the failure limit WithFailureLimit applies when
// given an empty tier.
var defaultFailureLimit = Tier{Name: "auth-failures", Limits: []Limit{
	{Name: "failures", Requests: 20, Window: time.Minute},
}}

type failureLimit struct {
	store    Store
	tier     Tier
	clientIP *ClientIP
	now      func() time.Time
}

// WithFailureLimit throttles guessing: every credential Authenticate
// rejects (400 or 401; a missing one does not count) consumes one unit of
// tier for the client's IP address (found with clientIP; RemoteAddr when
// nil), and while that IP's failures are over the limit, every request from
// it that carries a credential is refused with 429 rate_limited and
// Retry-After before the credential is even looked at, so that the refusal
// reveals nothing about the guess. Valid credentials never consume, and a
// stranger's failures never spend a real key's quota: the failure buckets
// are separate from RateLimit's. An empty tier means 20
// failures per client IP per minute: 20 at once, then one every 3 seconds.
//
// When the store fails, credentials are verified as if there were no
// limit. It panics if tier is invalid.
func WithFailureLimit(store Store, tier Tier, clientIP *ClientIP) Option {
	if len(tier.Limits) == 0 {
		tier = defaultFailureLimit
	}
	if err := tier.Validate(); err != nil {
		panic(err)
	}
	if clientIP == nil {
		clientIP = &ClientIP{}
	}
	return func(c *authConfig) {
		c.failures = &failureLimit{store: store, tier: tier, clientIP: clientIP, now: time.Now}
	}
}

// key is the failure bucket of r's client; the "f:" prefix keeps it apart
// from RateLimit's buckets in a shared store.
func (f *failureLimit) key(r *http.Request) string { return "f:" + f.clientIP.Key(r) }

// blocked reports how long r's client must wait, or 0.
func (f *failureLimit) blocked(r *http.Request) time.Duration {
	return f.waitFor(r.Context(), f.key(r))
}

// record counts one failure of r's client.
func (f *failureLimit) record(r *http.Request) { f.fail(r.Context(), f.key(r)) }

// waitFor reports how long the failure bucket key must wait, or 0; a store
// that fails blocks nothing.
func (f *failureLimit) waitFor(ctx context.Context, key string) time.Duration {
	d, err := f.store.Peek(ctx, key, f.tier.Limits, f.now())
	if err != nil || d.Allowed {
		return 0
	}
	return d.RetryAfter
}

// fail counts one failure in the bucket key.
func (f *failureLimit) fail(ctx context.Context, key string) {
	_, _ = f.store.Take(ctx, key, f.tier.Limits, f.now())
}

// refuse answers a request from a client over its failure limit.
func (c *authConfig) refuseThrottled(w http.ResponseWriter, r *http.Request, st *state, wait time.Duration) {
	secs := strconv.FormatInt(ceilSeconds(wait), 10)
	if c.observe != nil {
		c.observe(r, Event{RequestID: st.requestIDOrNew(), Code: CodeRateLimited, Status: http.StatusTooManyRequests})
	}
	c.reject(w, r, st, CodeRateLimited, "Too many failed authentication attempts. Try again in "+secs+" seconds.", "Retry-After", secs)
}
