package sqlstore

import (
	"context"
	"time"
)

// SweepGrants runs the sweep that CreateCode runs now and then, for tests.
func SweepGrants(ctx context.Context, s *Store, now time.Time) error { return s.sweepGrants(ctx, now) }

// GrantCacheLen returns the number of cached grants, for tests.
func GrantCacheLen(s *Store) int {
	if s.grants == nil {
		return 0
	}
	return s.grants.len()
}
