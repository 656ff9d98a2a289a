package apiauth

import (
	"hash/maphash"
	"sync"
	"time"
)

// tokenCache remembers verified tokens until they expire, so that a client
// repeating its token does not pay for the signature again. It is keyed by
// two independent seeded hashes of the token: it holds no token, and a
// lookup costs two hashes and a map access, with no allocation. Its size
// is bounded; when full, arbitrary entries are evicted.
type tokenCache struct {
	seed1, seed2 maphash.Seed
	max          int
	shards       [16]tokenShard
}

type tokenShard struct {
	mu sync.RWMutex
	m  map[uint64]tokenEntry
}

type tokenEntry struct {
	check uint64
	until int64 // Unix nanoseconds
	p     *Principal
}

func newTokenCache(max int) *tokenCache {
	c := &tokenCache{seed1: maphash.MakeSeed(), seed2: maphash.MakeSeed(), max: max}
	for i := range c.shards {
		c.shards[i].m = make(map[uint64]tokenEntry)
	}
	return c
}

func (c *tokenCache) get(token string, now time.Time) *Principal {
	h := maphash.String(c.seed1, token)
	sh := &c.shards[h>>60]
	sh.mu.RLock()
	e, ok := sh.m[h]
	sh.mu.RUnlock()
	if !ok || now.UnixNano() >= e.until || e.check != maphash.String(c.seed2, token) {
		return nil
	}
	return e.p
}

// put caches p for token until the given time. A full shard first drops
// its expired entries, then arbitrary ones down to 7/8 of its share, so the
// next eviction is an eighth of a share of puts away: O(1) amortized.
func (c *tokenCache) put(token string, p *Principal, now, until time.Time) {
	h := maphash.String(c.seed1, token)
	sh := &c.shards[h>>60]
	limit := max(c.max/len(c.shards), 1)
	sh.mu.Lock()
	if len(sh.m) >= limit {
		t := now.UnixNano()
		for k, e := range sh.m {
			if e.until <= t {
				delete(sh.m, k)
			}
		}
		for k := range sh.m {
			if len(sh.m) < max(limit*7/8, 1) {
				break
			}
			delete(sh.m, k) // map iteration order is random
		}
	}
	sh.m[h] = tokenEntry{check: maphash.String(c.seed2, token), until: until.UnixNano(), p: p}
	sh.mu.Unlock()
}
