package apiauth

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestTokenCacheTimes: an entry serves until the wall-clock time it was
// given and not a nanosecond longer, as a token's exp is wall-clock time:
// a cache timed by the monotonic clock, which stops while the machine
// sleeps, would serve a token past its exp after a suspend.
func TestTokenCacheTimes(t *testing.T) {
	c := newTokenCache(100)
	p := &Principal{Subject: "s"}
	now := time.Unix(1_800_000_000, 0)
	c.put("tok", p, now, now.Add(time.Minute))
	assert.Same(t, p, c.get("tok", now))
	assert.Same(t, p, c.get("tok", now.Add(time.Minute-1)))
	assert.Nil(t, c.get("tok", now.Add(time.Minute)), "expired")
	assert.Nil(t, c.get("tok", now.Add(time.Hour)), "expired")
	assert.Nil(t, c.get("tok2", now), "another token")
}
