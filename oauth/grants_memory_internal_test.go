package oauth

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/apiauth/apiauth"
)

func digest(t testing.TB) apiauth.KeyDigest {
	var d apiauth.KeyDigest
	if _, err := rand.Read(d[:]); err != nil {
		t.Fatal(err)
	}
	return d
}

// entries is how many codes, grants and refresh tokens m holds.
func (m *MemoryGrantStore) entries() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.codes) + len(m.codeGrants) + len(m.grants) + len(m.refresh)
}

// TestMemoryGrantStoreBounded: codes and grants pass through the store, a
// code every second of a simulated month, each redeemed and its grant
// rotated once, some left unredeemed; the store holds about twice what is
// live, not what passed.
func TestMemoryGrantStoreBounded(t *testing.T) {
	ctx := context.Background()
	var m MemoryGrantStore
	start := time.Now().Add(-60 * 24 * time.Hour)
	const n = 20000
	peak := 0
	for i := range n {
		at := start.Add(time.Duration(i) * time.Second)
		c := &Code{
			Digest: digest(t), GrantID: fmt.Sprint("g", i), ClientID: "c",
			CreatedAt: at, ExpiresAt: at.Add(time.Minute), GrantExpiresAt: at.Add(5 * time.Minute),
		}
		if err := m.CreateCode(ctx, c); err != nil {
			t.Fatal(err)
		}
		if i%10 == 0 {
			continue // never redeemed
		}
		r := digest(t)
		if _, err := m.RedeemCode(ctx, c.Digest, r, at.Add(time.Second), time.Minute); err != nil {
			t.Fatal(err)
		}
		if _, err := m.RotateRefresh(ctx, r, digest(t), at.Add(30*time.Second), time.Minute); err != nil {
			t.Fatal(err)
		}
		peak = max(peak, m.entries())
	}
	// Live at any time: the codes of the last minute (60, with their grant
	// IDs) and the grants of the last 90 s, with 2 tokens each (90×3):
	// about 390 entries, twice that, and the slack of one sweep.
	if limit := 2*(2*60+3*90) + 4*minSweep; peak > limit {
		t.Fatalf("the store held %d entries at its peak, want at most %d: expired ones are not swept", peak, limit)
	}
	t.Logf("%d codes passed; at most %d entries held", n, peak)
}

// TestMemoryGrantStoreSweepKeepsLive: a sweep drops what expired by both
// the time given and the system clock, never a grant that is live by
// either: a call with a time far ahead drops nothing that lives now, and
// a revoked grant stays until it expires.
func TestMemoryGrantStoreSweepKeepsLive(t *testing.T) {
	ctx := context.Background()
	var m MemoryGrantStore
	now := time.Now()
	live := &Code{Digest: digest(t), GrantID: "live", ClientID: "c", CreatedAt: now, ExpiresAt: now.Add(time.Hour), GrantExpiresAt: now.Add(2 * time.Hour)}
	if err := m.CreateCode(ctx, live); err != nil {
		t.Fatal(err)
	}
	liveRefresh := digest(t)
	if _, err := m.RedeemCode(ctx, live.Digest, liveRefresh, now, time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := m.RevokeGrant(ctx, "live", now); err != nil {
		t.Fatal(err)
	}
	unused := &Code{Digest: digest(t), GrantID: "unused", ClientID: "c", CreatedAt: now, ExpiresAt: now.Add(time.Hour), GrantExpiresAt: now.Add(2 * time.Hour)}
	if err := m.CreateCode(ctx, unused); err != nil {
		t.Fatal(err)
	}
	// Many codes, issued a year ahead: sweeps run with that time.
	ahead := now.Add(365 * 24 * time.Hour)
	for i := range 4 * minSweep {
		c := &Code{Digest: digest(t), GrantID: fmt.Sprint("ahead", i), ClientID: "c", CreatedAt: ahead, ExpiresAt: ahead.Add(time.Minute), GrantExpiresAt: ahead.Add(time.Hour)}
		if err := m.CreateCode(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if g, err := m.LookupRefresh(ctx, liveRefresh); err != nil || g.RevokedAt.IsZero() {
		t.Fatalf("a revoked grant that has not expired: %v, %v; want it kept, revoked", g, err)
	}
	if _, err := m.RedeemCode(ctx, unused.Digest, digest(t), now.Add(time.Minute), time.Hour); err != nil {
		t.Fatalf("a code live by the system clock, after sweeps a year ahead: %v", err)
	}
	// A grant that expired by the clock too is dropped by the next sweep,
	// whatever time it is given.
	past := now.Add(-3 * time.Hour)
	old := &Code{Digest: digest(t), GrantID: "old", ClientID: "c", CreatedAt: past, ExpiresAt: past.Add(time.Minute), GrantExpiresAt: past.Add(time.Hour)}
	if err := m.CreateCode(ctx, old); err != nil {
		t.Fatal(err)
	}
	oldRefresh := digest(t)
	if _, err := m.RedeemCode(ctx, old.Digest, oldRefresh, past.Add(time.Second), time.Minute); err != nil {
		t.Fatal(err)
	}
	m.mu.Lock()
	m.sweep(ahead)
	m.mu.Unlock()
	if _, err := m.LookupRefresh(ctx, oldRefresh); !errors.Is(err, ErrGrantNotFound) {
		t.Fatalf("a grant expired by both clocks, after a sweep: LookupRefresh: %v, want ErrGrantNotFound", err)
	}
	if _, err := m.GetGrant(ctx, "live"); err != nil {
		t.Fatalf("a sweep ahead of the system clock dropped a grant live by it: %v", err)
	}
}
