package oauth

import (
	"context"
	"net/http"
	"time"

	"github.com/apiauth/apiauth"
)

// defaultFailureLimit is the failure limit of an Issuer configured with
// none: 20 failed authentications per minute, 20 at once and then one
// every 3 seconds.
func defaultFailureLimit() apiauth.Tier {
	return apiauth.Tier{Name: "auth-failures", Limits: []apiauth.Limit{
		{Name: "failures", Requests: 20, Window: time.Minute},
	}}
}

// failures throttles guessing at the token endpoint: failed client
// authentications and invalid API keys, counted per bucket in
// Config.FailureStore. A credential reserves a unit of its buckets before it
// is looked up and gives it back if it is valid, so that guesses arriving at
// once cannot all be looked up before the first is counted, and valid
// credentials never spend the budget. When the store fails (a shared Redis
// that is down), the buckets are counted in an in-process store instead:
// guessing stays throttled, per instance, rather than unlimited.
type failures struct {
	store    apiauth.Store
	local    apiauth.Store // when store fails; store itself when in process
	tier     apiauth.Tier
	clientIP *apiauth.ClientIP
	now      func() time.Time
}

// unit is a reserved unit: a bucket, in the store that holds it.
type unit struct {
	store apiauth.Store
	key   string
}

// addr is the failure bucket of r's client address. The "oauth-f:" and
// "oauth-c:" prefixes keep the token endpoint's buckets apart from those
// of other layers in a shared store (apiauth.Authenticate's "f:",
// RateLimit's), whose limits may differ.
func (f *failures) addr(r *http.Request) string { return "oauth-f:" + f.clientIP.Key(r) }

// clientAt is the failure bucket of client ID id at the address whose
// bucket is addr. The address comes first and never holds a NUL, so no
// two pairs share a bucket whatever the ID holds.
func (f *failures) clientAt(addr, id string) string { return "oauth-c:" + addr + "\x00" + id }

// reserve takes one unit of each bucket in keys, all or none, before a
// credential is looked up. It returns the units it holds, to be given
// back with release if the credential is valid, or else how long the
// client must wait for the bucket that is spent. A bucket the store
// cannot answer for is counted in the in-process store; if that fails
// too, the bucket holds nothing and blocks nothing.
func (f *failures) reserve(ctx context.Context, keys ...string) (held []unit, wait time.Duration) {
	for _, k := range keys {
		now := f.now()
		u := unit{f.store, k}
		d, err := f.store.Take(ctx, k, f.tier.Limits, now)
		if err != nil && f.local != f.store {
			u.store = f.local
			d, err = f.local.Take(ctx, k, f.tier.Limits, now)
		}
		switch {
		case err != nil:
			continue
		case !d.Allowed:
			f.release(ctx, held...)
			return nil, max(d.RetryAfter, time.Nanosecond)
		}
		held = append(held, u)
	}
	return held, 0
}

// release gives back the units that reserve held, for a valid credential.
func (f *failures) release(ctx context.Context, held ...unit) {
	for _, u := range held {
		_ = u.store.Refund(ctx, u.key, f.tier.Limits, f.now())
	}
}

// ceilSeconds rounds d up to whole seconds, at least 1.
func ceilSeconds(d time.Duration) int64 {
	s := int64((d + time.Second - 1) / time.Second)
	return max(s, 1)
}
