package redisstore

import (
	"math"
	"math/rand/v2"
	"testing"
)

// refStatus is the arithmetic the server did before the scripts left it to
// the caller, transcribed from that Lua (script v2): doubles, math.floor, c
// the TAT or now, whichever is later.
func refStatus(now, c, t, span float64, allowed, take bool) (rem, reset, retry float64) {
	rem, reset = math.Floor((span-(c-now))/t), c
	switch {
	case allowed && take:
		reset = c + t
		rem--
	case allowed:
	case c+t-now > span:
		rem = 0
		retry = c - now - (span - t)
	}
	return rem, reset, retry
}

// TestLimitStatus checks the remaining count, reset and retry delay that
// decide derives from the script's reply against the arithmetic the script
// used to do itself, on random limits and states: a limit far from its
// capacity, at it, just past it and far past it (as after a failover to a
// server whose clock is behind), for Take and Peek, when every limit allowed
// and when another refused.
func TestLimitStatus(t *testing.T) {
	const now = 1_796_393_321_217_928 // µs, a server time
	r := rand.New(rand.NewPCG(1, 2))
	check := func(w, tt, span int64) {
		t.Helper()
		for _, allowed := range []bool{true, false} {
			if allowed && w > span-tt {
				continue // the script never says so: this limit refuses
			}
			for _, take := range []bool{true, false} {
				rem, reset, retry := limitStatus(w, tt, span, allowed, take)
				wr, wreset, wretry := refStatus(now, float64(now+w), float64(tt), float64(span), allowed, take)
				if float64(rem) != wr || float64(now+reset) != wreset || float64(retry) != wretry {
					t.Fatalf("w %d, T %d, span %d, allowed %v, take %v: remaining %d, reset now+%d, retry %d; want %v, now+%v, %v",
						w, tt, span, allowed, take, rem, reset, retry, wr, wreset-now, wretry)
				}
				if rem < 0 || retry < 0 || reset < 0 {
					t.Fatalf("w %d, T %d, span %d, allowed %v, take %v: remaining %d, reset %d, retry %d: negative", w, tt, span, allowed, take, rem, reset, retry)
				}
			}
		}
	}
	for i := 0; i < 20000; i++ {
		n := r.Int64N(1000) + 1
		tt := r.Int64N(maxSpan/n) + 1
		if i%4 == 0 {
			tt = r.Int64N(1000) + 1
		}
		span := tt * n
		for _, w := range []int64{0, 1, r.Int64N(span + 1), span - tt, span - tt + 1, span, span + r.Int64N(span+1)} {
			if w >= 0 {
				check(w, tt, span)
			}
		}
	}
	// One request per window: the refusal's delay is the whole wait.
	if rem, reset, retry := limitStatus(5, 10, 10, false, true); rem != 0 || reset != 5 || retry != 5 {
		t.Errorf("limit of 1, 5 µs into 10: remaining %d, reset %d, retry %d; want 0, 5, 5", rem, reset, retry)
	}
	// Four of five taken; this one takes the last.
	if rem, reset, retry := limitStatus(40, 10, 50, true, true); rem != 0 || reset != 50 || retry != 0 {
		t.Errorf("last of five: remaining %d, reset %d, retry %d; want 0, 50, 0", rem, reset, retry)
	}
}
