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
// authentications and invalid API keys, counted per bucket in a store of
// their own.
type failures struct {
	store    apiauth.Store
	tier     apiauth.Tier
	clientIP *apiauth.ClientIP
	now      func() time.Time
}

// addr is the failure bucket of r's client address.
func (f *failures) addr(r *http.Request) string { return "f:" + f.clientIP.Key(r) }

// clientAt is the failure bucket of client ID id at the address whose
// bucket is addr. The address comes first and never holds a NUL, so no
// two pairs share a bucket whatever the ID holds.
func (f *failures) clientAt(addr, id string) string { return "c:" + addr + "\x00" + id }

// waitFor reports how long the bucket key must wait, or 0; a store that
// fails blocks nothing.
func (f *failures) waitFor(ctx context.Context, key string) time.Duration {
	d, err := f.store.Peek(ctx, key, f.tier.Limits, f.now())
	if err != nil || d.Allowed {
		return 0
	}
	return d.RetryAfter
}

// fail counts one failure in the bucket key.
func (f *failures) fail(ctx context.Context, key string) {
	_, _ = f.store.Take(ctx, key, f.tier.Limits, f.now())
}

// ceilSeconds rounds d up to whole seconds, at least 1.
func ceilSeconds(d time.Duration) int64 {
	s := int64((d + time.Second - 1) / time.Second)
	return max(s, 1)
}
