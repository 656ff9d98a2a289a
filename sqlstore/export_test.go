package sqlstore

// CacheLen returns the number of cached lookups, for tests.
func CacheLen(s *Store) int {
	if s.cache == nil {
		return 0
	}
	return s.cache.len()
}
