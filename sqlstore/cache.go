package sqlstore

import (
	"sync"
	"sync/atomic"

	"github.com/apiauth/apiauth"
	"github.com/apiauth/apiauth/oauth"
)

// The cache of lookups by key digest (keyCache) and of grants by ID
// (grantCache): one implementation, with one invalidation rule.
type (
	keyCache   = cache[apiauth.KeyDigest, apiauth.KeyRecord]
	keyEntry   = entry[apiauth.KeyRecord]
	grantCache = cache[string, oauth.Grant]
	grantEntry = entry[oauth.Grant]
)

// entry is one cached lookup of a record of type R. Entries are immutable
// but for usedEpoch; a change replaces or drops them.
type entry[R any] struct {
	rec      *R    // nil: not found
	updated  int64 // the row's updated_at, Unix µs; 0 when not found
	deadline int64 // Store.mono() after which the entry is not trusted
	// usedEpoch is the last-used period in which a use of this entry was
	// recorded, so that a hot key costs one record per period.
	usedEpoch atomic.Uint32
}

// call is a lookup under way, shared by concurrent callers of one key.
type call[R any] struct {
	done  chan struct{}
	rec   *R
	err   error
	entry *entry[R]
}

const (
	shardBits  = 5
	shardCount = 1 << shardBits
)

// cacheKey is what a cache is keyed by: a key's digest, or a grant's ID.
type cacheKey interface {
	comparable
	~[32]byte | ~string
}

// shardOf spreads keys over the shards: a digest by its first byte (a
// digest is uniformly random), a string, which its issuer chooses (grant
// IDs may be sequential), by a hash of all its bytes. K is known when the
// code is compiled, so the test is too.
func shardOf[K cacheKey](k K) int {
	var zero K
	if len(zero) != 0 { // a digest
		return int(k[0] % shardCount)
	}
	h := uint32(2166136261) // FNV-1a, then the high bits of a multiplicative hash
	for i := 0; i < len(k); i++ {
		h ^= uint32(k[i])
		h *= 16777619
	}
	return int((h * 0x9e3779b1) >> (32 - shardBits))
}

type shard[K cacheKey, R any] struct {
	mu sync.RWMutex
	m  map[K]*entry[R]
	// calls holds the lookup under way of each key that a new lookup may
	// join: one started since the key's last invalidation.
	calls map[K]*call[R]
	// gen counts invalidations: a lookup that started before one does not
	// cache what it read.
	gen uint64
	cap int
}

// cache maps keys to lookups, in shards (shardOf), each capped at its
// share of the size.
type cache[K cacheKey, R any] struct {
	shards [shardCount]shard[K, R]
}

func newCache[K cacheKey, R any](size int) *cache[K, R] {
	c := &cache[K, R]{}
	per := (size + shardCount - 1) / shardCount
	for i := range c.shards {
		c.shards[i].m = make(map[K]*entry[R])
		c.shards[i].calls = make(map[K]*call[R])
		c.shards[i].cap = per
	}
	return c
}

func (c *cache[K, R]) shard(k K) *shard[K, R] { return &c.shards[shardOf(k)] }

// get returns the entry of k, possibly past its deadline, or nil.
func (c *cache[K, R]) get(k K) *entry[R] {
	sh := c.shard(k)
	sh.mu.RLock()
	e := sh.m[k]
	sh.mu.RUnlock()
	return e
}

// join returns the lookup of k under way, or starts one: leader reports
// whether the caller must run it, gen is the shard's generation at start.
// A lookup under way is joined only if it started after k's last
// invalidation (invalidate detaches the others), so that what it returns
// was read after the change that caused the invalidation.
func (c *cache[K, R]) join(k K) (cl *call[R], leader bool, gen uint64) {
	sh := c.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if cl := sh.calls[k]; cl != nil {
		return cl, false, 0
	}
	cl = &call[R]{done: make(chan struct{})}
	sh.calls[k] = cl
	return cl, true, sh.gen
}

// finish ends the lookup cl of k at now, caching e (nil: nothing to cache)
// unless the shard was invalidated since gen, and wakes the waiting
// callers.
func (c *cache[K, R]) finish(k K, cl *call[R], gen uint64, e *entry[R], rec *R, err error, now int64) {
	sh := c.shard(k)
	sh.mu.Lock()
	if sh.calls[k] == cl { // not detached, and no other call started since
		delete(sh.calls, k)
	}
	if e != nil && sh.gen == gen {
		if _, ok := sh.m[k]; !ok && len(sh.m) >= sh.cap {
			sh.evict(now)
		}
		sh.m[k] = e
	}
	sh.mu.Unlock()
	cl.rec, cl.err, cl.entry = rec, err, e
	close(cl.done)
}

// evict drops an entry to make room: one expired at now among a few
// looked at, else the first looked at. Map iteration starts at a random
// place, so this approximates random eviction in constant time. Called
// with mu held.
func (sh *shard[K, R]) evict(now int64) {
	const look = 8
	var first K
	n := 0
	for k, e := range sh.m {
		if n == 0 {
			first = k
		}
		if e.deadline <= now {
			delete(sh.m, k)
			return
		}
		if n++; n == look {
			break
		}
	}
	delete(sh.m, first)
}

// invalidate drops k unless its entry reflects the row as of updated (µs;
// -1: drop regardless) or later. When it drops, or when no entry is there,
// a lookup of k under way may have read the old row: it bumps the shard's
// generation, so that such a lookup does not cache what it read, and
// detaches it, so that a lookup starting from now on does not join it but
// reads again (its own callers still get its answer: they started before
// the invalidation). When the entry is kept, a lookup under way started
// after the entry was read, so it saw the change too, and stays joinable.
func (c *cache[K, R]) invalidate(k K, updated int64) {
	sh := c.shard(k)
	sh.mu.Lock()
	e, ok := sh.m[k]
	if ok && updated >= 0 && e.rec != nil && e.updated >= updated {
		sh.mu.Unlock()
		return
	}
	delete(sh.m, k)
	delete(sh.calls, k)
	sh.gen++
	sh.mu.Unlock()
}

// invalidateAll is invalidate(k, -1) of every key.
func (c *cache[K, R]) invalidateAll() {
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		clear(sh.m)
		clear(sh.calls)
		sh.gen++
		sh.mu.Unlock()
	}
}

// len returns the number of entries, for tests.
func (c *cache[K, R]) len() int {
	n := 0
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.RLock()
		n += len(sh.m)
		sh.mu.RUnlock()
	}
	return n
}
