package sqlstore

import "context"

// CacheLen returns the number of cached lookups, for tests.
func CacheLen(s *Store) int {
	if s.cache == nil {
		return 0
	}
	return s.cache.len()
}

// MigrateTo brings the schema to version v (not beyond), as an earlier
// release of the package did, for tests of upgrades.
func MigrateTo(ctx context.Context, s *Store, v int) error { return s.migrate(ctx, v) }
