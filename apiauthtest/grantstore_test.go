package apiauthtest_test

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/apiauth/apiauth"
	"github.com/apiauth/apiauth/apiauthtest"
	"github.com/apiauth/apiauth/oauth"
)

func TestMemoryGrantStore(t *testing.T) {
	apiauthtest.TestGrantStore(t, func(*testing.T) oauth.GrantStore { return oauth.NewMemoryGrantStore() })
}

func TestMemoryGrantStoreShared(t *testing.T) {
	// The suite never depends on an empty store: one store for all subtests.
	s := oauth.NewMemoryGrantStore()
	apiauthtest.TestGrantStore(t, func(*testing.T) oauth.GrantStore { return s })
}

func TestMemoryGrantStoreZeroValue(t *testing.T) {
	// The zero value is ready to use.
	apiauthtest.TestGrantStore(t, func(*testing.T) oauth.GrantStore { return new(oauth.MemoryGrantStore) })
}

// Stores broken on purpose: see brokenCase in keystore_test.go.
var brokenGrantStores = map[string]brokenCase[oauth.GrantStore]{
	"RacyRedeem": {
		wrap:     func(s oauth.GrantStore) oauth.GrantStore { return &racyRedeem{GrantStore: s} },
		mustFail: []string{"ConcurrentRedeemOneWinner"},
		mustPass: []string{"RedeemCode", "CodeReplay", "ConcurrentRotateOneWinner"},
	},
	"ReuseNotRevoked": {
		wrap:     func(s oauth.GrantStore) oauth.GrantStore { return &reuseNotRevoked{GrantStore: s} },
		mustFail: []string{"ReuseRevokesFamily", "ConcurrentRotateOneWinner"},
		mustPass: []string{"RedeemCode", "RotateRefresh", "IdleExpiry"},
	},
	"IdleIgnored": {
		wrap:     func(s oauth.GrantStore) oauth.GrantStore { return idleIgnored{s} },
		mustFail: []string{"IdleExpiry", "AbsoluteExpiry"},
		mustPass: []string{"ReuseRevokesFamily", "RevokeIsMonotonic", "NotFound"},
	},
	"DropsGrantTier": {
		wrap:     func(s oauth.GrantStore) oauth.GrantStore { return dropsGrantTier{s} },
		mustFail: []string{"RedeemCode"},
		mustPass: []string{"ZeroValuesRoundTrip", "CodeExpiry", "NotFound"},
	},
	"ReplayForgetsGrant": {
		wrap:     func(s oauth.GrantStore) oauth.GrantStore { return replayForgetsGrant{s} },
		mustFail: []string{"CodeReplay", "ConcurrentRedeemOneWinner"},
		mustPass: []string{"RedeemCode", "CodeExpiry"},
	},
}

func TestGrantStoreFailsBrokenStores(t *testing.T) {
	for name, b := range brokenGrantStores {
		t.Run(name, func(t *testing.T) { checkBroken(t, "TestGrantStoreOnBrokenStore", name, b.mustFail, b.mustPass) })
	}
}

// TestGrantStoreOnBrokenStore runs the suite, in the child process that
// TestGrantStoreFailsBrokenStores starts, on the broken store brokenEnv
// names.
func TestGrantStoreOnBrokenStore(t *testing.T) {
	b, ok := brokenGrantStores[os.Getenv(brokenEnv)]
	if !ok {
		t.Skip("run by TestGrantStoreFailsBrokenStores in a child process")
	}
	apiauthtest.TestGrantStore(t, func(*testing.T) oauth.GrantStore { return b.wrap(oauth.NewMemoryGrantStore()) })
}

// racyRedeem redeems a code in two steps, check then act, as a store that
// reads the code, then marks it used with an unconditional write would:
// a redemption that found the code unused succeeds, even if another
// redeemed it in between. One at a time, it refuses replays.
type racyRedeem struct {
	oauth.GrantStore
	mu   sync.Mutex
	used map[apiauth.KeyDigest]bool
}

func (s *racyRedeem) RedeemCode(ctx context.Context, code, refresh apiauth.KeyDigest, now time.Time, idle time.Duration) (*oauth.Code, error) {
	s.mu.Lock()
	used := s.used[code] // check
	s.mu.Unlock()
	time.Sleep(time.Millisecond) // the time a read takes
	c, err := s.GrantStore.RedeemCode(ctx, code, refresh, now, idle)
	if errors.Is(err, oauth.ErrCodeUsed) && !used {
		err = nil // act on what was checked
	}
	if err == nil {
		s.mu.Lock()
		if s.used == nil {
			s.used = map[apiauth.KeyDigest]bool{}
		}
		s.used[code] = true
		s.mu.Unlock()
	}
	return c, err
}

// reuseNotRevoked reports the reuse of a replaced refresh token, but does
// not revoke the grant: a store that checks whether a token is current
// and stops there.
type reuseNotRevoked struct {
	oauth.GrantStore
	mu sync.Mutex
}

func (s *reuseNotRevoked) RotateRefresh(ctx context.Context, old, new apiauth.KeyDigest, now time.Time, idle time.Duration) (*oauth.Grant, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g, err := s.GrantStore.LookupRefresh(ctx, old); err == nil && g.Refresh != old {
		return nil, oauth.ErrRefreshReused
	}
	return s.GrantStore.RotateRefresh(ctx, old, new, now, idle)
}

// idleIgnored drops the idle time: grants expire only at their absolute
// expiry.
type idleIgnored struct{ oauth.GrantStore }

func (s idleIgnored) RedeemCode(ctx context.Context, code, refresh apiauth.KeyDigest, now time.Time, _ time.Duration) (*oauth.Code, error) {
	return s.GrantStore.RedeemCode(ctx, code, refresh, now, 0)
}

func (s idleIgnored) RotateRefresh(ctx context.Context, old, new apiauth.KeyDigest, now time.Time, _ time.Duration) (*oauth.Grant, error) {
	return s.GrantStore.RotateRefresh(ctx, old, new, now, 0)
}

// replayForgetsGrant refuses a replayed code without saying which grant
// it started, so the caller cannot revoke it.
type replayForgetsGrant struct{ oauth.GrantStore }

func (s replayForgetsGrant) RedeemCode(ctx context.Context, code, refresh apiauth.KeyDigest, now time.Time, idle time.Duration) (*oauth.Code, error) {
	c, err := s.GrantStore.RedeemCode(ctx, code, refresh, now, idle)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// dropsGrantTier starts grants without the code's tier, as a store that
// does not copy it from the code, or a SQL store on a schema before
// version 6, would: the code comes back whole, its grant of the default
// tier.
type dropsGrantTier struct{ oauth.GrantStore }

func withoutTier(g *oauth.Grant, err error) (*oauth.Grant, error) {
	if g == nil {
		return g, err
	}
	cp := *g
	cp.Tier = ""
	return &cp, err
}

func (s dropsGrantTier) GetGrant(ctx context.Context, id string) (*oauth.Grant, error) {
	return withoutTier(s.GrantStore.GetGrant(ctx, id))
}

func (s dropsGrantTier) LookupRefresh(ctx context.Context, d apiauth.KeyDigest) (*oauth.Grant, error) {
	return withoutTier(s.GrantStore.LookupRefresh(ctx, d))
}

func (s dropsGrantTier) RotateRefresh(ctx context.Context, old, new apiauth.KeyDigest, now time.Time, idle time.Duration) (*oauth.Grant, error) {
	return withoutTier(s.GrantStore.RotateRefresh(ctx, old, new, now, idle))
}
