package sqlstore

import (
	"sync"
	"sync/atomic"

	"github.com/apiauth/apiauth"
)

// entry is one cached lookup. Entries are immutable but for usedEpoch;
// a change replaces or drops them.
type entry struct {
	rec      *apiauth.KeyRecord // nil: not found
	updated  int64              // the row's updated_at, Unix µs; 0 when not found
	deadline int64              // Store.mono() after which the entry is not trusted
	// usedEpoch is the last-used period in which a use of this entry was
	// recorded, so that a hot key costs one record per period.
	usedEpoch atomic.Uint32
}

// call is a lookup under way, shared by concurrent callers of one digest.
type call struct {
	done  chan struct{}
	rec   *apiauth.KeyRecord
	err   error
	entry *entry
}

const shardCount = 32

type shard struct {
	mu sync.RWMutex
	m  map[apiauth.KeyDigest]*entry
	// calls holds the lookup under way of each digest that a new lookup
	// may join: one started since the digest's last invalidation.
	calls map[apiauth.KeyDigest]*call
	// gen counts invalidations: a lookup that started before one does not
	// cache what it read.
	gen uint64
	cap int
}

// cache maps digests to lookups, in shards by the digest's first byte (the
// digest is uniformly random), each capped at its share of the size.
type cache struct {
	shards [shardCount]shard
}

func newCache(size int) *cache {
	c := &cache{}
	per := (size + shardCount - 1) / shardCount
	for i := range c.shards {
		c.shards[i].m = make(map[apiauth.KeyDigest]*entry)
		c.shards[i].calls = make(map[apiauth.KeyDigest]*call)
		c.shards[i].cap = per
	}
	return c
}

func (c *cache) shard(d apiauth.KeyDigest) *shard { return &c.shards[d[0]%shardCount] }

// get returns the entry of d, possibly past its deadline, or nil.
func (c *cache) get(d apiauth.KeyDigest) *entry {
	sh := c.shard(d)
	sh.mu.RLock()
	e := sh.m[d]
	sh.mu.RUnlock()
	return e
}

// join returns the lookup of d under way, or starts one: leader reports
// whether the caller must run it, gen is the shard's generation at start.
// A lookup under way is joined only if it started after d's last
// invalidation (invalidate detaches the others), so that what it returns
// was read after the change that caused the invalidation.
func (c *cache) join(d apiauth.KeyDigest) (cl *call, leader bool, gen uint64) {
	sh := c.shard(d)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if cl := sh.calls[d]; cl != nil {
		return cl, false, 0
	}
	cl = &call{done: make(chan struct{})}
	sh.calls[d] = cl
	return cl, true, sh.gen
}

// finish ends the lookup cl of d at now, caching e (nil: nothing to cache) unless
// the shard was invalidated since gen, and wakes the waiting callers.
func (c *cache) finish(d apiauth.KeyDigest, cl *call, gen uint64, e *entry, rec *apiauth.KeyRecord, err error, now int64) {
	sh := c.shard(d)
	sh.mu.Lock()
	if sh.calls[d] == cl { // not detached, and no other call started since
		delete(sh.calls, d)
	}
	if e != nil && sh.gen == gen {
		if _, ok := sh.m[d]; !ok && len(sh.m) >= sh.cap {
			sh.evict(now)
		}
		sh.m[d] = e
	}
	sh.mu.Unlock()
	cl.rec, cl.err, cl.entry = rec, err, e
	close(cl.done)
}

// evict drops an entry to make room: one expired at now among a few
// looked at, else the first looked at. Map iteration starts at a random place, so
// this approximates random eviction in constant time. Called with mu held.
func (sh *shard) evict(now int64) {
	const look = 8
	var first apiauth.KeyDigest
	n := 0
	for d, e := range sh.m {
		if n == 0 {
			first = d
		}
		if e.deadline <= now {
			delete(sh.m, d)
			return
		}
		if n++; n == look {
			break
		}
	}
	delete(sh.m, first)
}

// invalidate drops d unless its entry reflects the row as of updated (µs;
// -1: drop regardless) or later. When it drops, or when no entry is there,
// a lookup of d under way may have read the old row: it bumps the shard's
// generation, so that such a lookup does not cache what it read, and
// detaches it, so that a lookup starting from now on does not join it but
// reads again (its own callers still get its answer: they started before
// the invalidation). When the entry is kept, a lookup under way started
// after the entry was read, so it saw the change too, and stays joinable.
func (c *cache) invalidate(d apiauth.KeyDigest, updated int64) {
	sh := c.shard(d)
	sh.mu.Lock()
	e, ok := sh.m[d]
	if ok && updated >= 0 && e.rec != nil && e.updated >= updated {
		sh.mu.Unlock()
		return
	}
	delete(sh.m, d)
	delete(sh.calls, d)
	sh.gen++
	sh.mu.Unlock()
}

// len returns the number of entries, for tests.
func (c *cache) len() int {
	n := 0
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.RLock()
		n += len(sh.m)
		sh.mu.RUnlock()
	}
	return n
}
