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

// WithFailureLimit throttles guessing. Every request that carries a
// credential reserves one unit of tier for the client's IP address (found
// with WithClientIP; RemoteAddr by default) before the credential is looked at,
// and gives it back (Store.Refund) when the credential is valid. A
// credential Authenticate rejects (400 or 401) keeps its unit, and so does
// one whose verifier fails (503): its look-up was made all the same. A
// missing credential reserves nothing. While an address's bucket is spent,
// every request from it that carries a credential is refused with 429
// rate_limited and Retry-After before the credential is even looked at, so
// that the refusal reveals nothing about the guess.
//
// Reserving first makes the limit exact however many guesses arrive at
// once: no more of them reach the verifier than the bucket holds, where
// checking first and counting after would let through every guess that
// arrived before the first failure was counted. The price is that a client
// with more credentials in flight at once than the bucket holds gets 429
// for the excess, valid ones included, until some are answered.
//
// Valid credentials give back what they reserved, so they never spend the
// budget, and a stranger's failures never spend a real key's quota: the
// failure buckets are separate from RateLimit's. An empty tier means 20
// failures per client IP per minute: 20 at once, then one every 3 seconds.
// A valid credential costs two store calls (Take, then Refund), a rejected
// one a single Take.
//
// When the store fails, credentials are verified as if there were no
// limit; a refund that fails leaves the unit counted. It panics if tier is
// invalid.
func WithFailureLimit(store Store, tier Tier) Option {
	if len(tier.Limits) == 0 {
		tier = defaultFailureLimit
	}
	if err := tier.Validate(); err != nil {
		panic(err)
	}
	return Option{name: "WithFailureLimit", auth: func(c *authConfig) {
		c.failures = &failureLimit{store: store, tier: tier}
	}}
}

// key is the failure bucket of r's client; the "f:" prefix keeps it apart
// from RateLimit's buckets in a shared store.
func (f *failureLimit) key(r *http.Request) string { return "f:" + f.clientIP.Key(r) }

// reserve takes one unit of the failure bucket key, before a credential is
// looked at. It reports whether a unit is now held, to be given back with
// release if the credential is valid, or else how long the client must
// wait (0 when the store failed: then nothing is held and nothing blocked).
func (f *failureLimit) reserve(ctx context.Context, key string) (held bool, wait time.Duration) {
	d, err := f.store.Take(ctx, key, f.tier.Limits, f.now())
	switch {
	case err != nil:
		return false, 0
	case !d.Allowed:
		return false, max(d.RetryAfter, time.Nanosecond)
	}
	return true, 0
}

// release gives back the unit that reserve took in key, for a valid
// credential.
func (f *failureLimit) release(ctx context.Context, key string) {
	_ = f.store.Refund(ctx, key, f.tier.Limits, f.now())
}

// refuse answers a request from a client over its failure limit.
func (c *authConfig) refuseThrottled(w http.ResponseWriter, r *http.Request, st *state, wait time.Duration) {
	secs := strconv.FormatInt(ceilSeconds(wait), 10)
	if c.observe != nil {
		c.observe(r, Event{Layer: "authenticate", RequestID: st.requestIDOrNew(), Code: CodeRateLimited, Status: http.StatusTooManyRequests})
	}
	c.reject(w, r, st, CodeRateLimited, "Too many failed authentication attempts. Try again in "+inSeconds(secs)+".", "Retry-After", secs)
}
