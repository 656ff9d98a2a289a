package apiauth

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestTokenCacheTimes: an entry serves from its put until the time it was
// given, counted from the put on the cache's own scale, so a wall clock
// stepped since the cache was made does not stretch or cut it short.
func TestTokenCacheTimes(t *testing.T) {
	for _, step := range []time.Duration{0, 365 * 24 * time.Hour, -365 * 24 * time.Hour} {
		c := newTokenCache(100)
		p := &Principal{Subject: "s"}
		now := c.base.Round(0).Add(step) // wall clock only, stepped
		c.put("tok", p, now, now.Add(time.Minute))
		at := c.since(now)
		assert.Same(t, p, c.get("tok", at), "step %v", step)
		assert.Same(t, p, c.get("tok", at+time.Minute-1), "step %v", step)
		assert.Nil(t, c.get("tok", at+time.Minute), "step %v: expired", step)
		assert.Nil(t, c.get("tok2", at), "step %v: another token", step)
	}
}
