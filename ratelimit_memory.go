package apiauth

import (
	"context"
	"hash/maphash"
	"sync"
	"time"
)

const (
	memShards = 64
	// DefaultMaxEntries caps a MemoryStore: one entry per key and binding
	// limit. At 48 bytes or less an entry, the default cap holds the
	// store under about 200 MB.
	DefaultMaxEntries = 4 << 20
)

// MemoryStore is an in-process Store: GCRA state in 64 shards chosen by a
// hash of the key, each a map from a hash of (key, limit) to the limit's
// theoretical arrival time. A shard's lock is held only for the
// arithmetic. A key already seen costs no allocation.
//
// Memory stays bounded: a limit that has fully recovered is the same as no
// state, and such entries are swept out as a shard grows. A shard that
// still reaches its share of MaxEntries evicts entries at random: the
// evicted keys start over with full limits, a small leniency that only a
// flood of distinct keys (which itself is limited per client IP) can
// cause.
type MemoryStore struct {
	seed   maphash.Seed
	max    int
	shards [memShards]memShard
}

type memShard struct {
	mu sync.Mutex
	// tats maps hash(key, limit) to the limit's theoretical arrival time in
	// Unix nanoseconds.
	tats map[uint64]int64
	// inserts counts new entries since the last sweep.
	inserts int
	_       [24]byte // keep shards on separate cache lines
}

// NewMemoryStore returns a MemoryStore holding at most DefaultMaxEntries
// entries.
func NewMemoryStore() *MemoryStore { return NewMemoryStoreSize(DefaultMaxEntries) }

// NewMemoryStoreSize returns a MemoryStore holding at most maxEntries
// entries (DefaultMaxEntries if maxEntries <= 0).
func NewMemoryStoreSize(maxEntries int) *MemoryStore {
	if maxEntries <= 0 {
		maxEntries = DefaultMaxEntries
	}
	m := &MemoryStore{seed: maphash.MakeSeed(), max: maxEntries}
	for i := range m.shards {
		m.shards[i].tats = make(map[uint64]int64)
	}
	return m
}

var _ Store = (*MemoryStore)(nil)

// limitHash mixes a key's hash with a limit's parameters, so that the same
// key under two tiers or two limits never shares state.
func limitHash(h uint64, l Limit) uint64 {
	h ^= uint64(l.Requests) * 0x9e3779b97f4a7c15
	h = (h ^ h>>31) * 0xbf58476d1ce4e5b9
	h ^= uint64(l.Window) * 0x94d049bb133111eb
	return h ^ h>>29
}

// Take implements Store.
func (m *MemoryStore) Take(_ context.Context, key string, limits []Limit, now time.Time) (Decision, error) {
	var d Decision
	if len(limits) > MaxLimits {
		limits = limits[:MaxLimits]
	}
	t := now.UnixNano()
	h := maphash.String(m.seed, key)
	sh := &m.shards[h>>58]
	var hashes [MaxLimits]uint64
	var next [MaxLimits]int64
	d.Allowed = true

	sh.mu.Lock()
	for i, l := range limits {
		if l.unlimited() {
			continue
		}
		hashes[i] = limitHash(h, l)
		cur, ok, st := gcra(l, sh.tats[hashes[i]], t)
		next[i], d.Limits[i] = cur, st
		if !ok {
			d.Allowed = false
			d.RetryAfter = max(d.RetryAfter, st.RetryAfter)
		}
	}
	if d.Allowed {
		for i, l := range limits {
			if l.unlimited() {
				continue
			}
			if _, seen := sh.tats[hashes[i]]; !seen {
				sh.inserts++
			}
			sh.tats[hashes[i]] = take(l, next[i], &d.Limits[i])
		}
		if n := len(sh.tats); n > m.max/memShards || sh.inserts > 1024 && sh.inserts > n/4 {
			m.sweep(sh, t)
		}
	}
	sh.mu.Unlock()
	return d, nil
}

// sweep drops recovered entries (TAT at or before now) and, if the shard
// is still over 7/8 of its share of the cap, arbitrary others down to that
// mark. Either way at least an eighth of the shard's share, or a quarter
// of its size, is inserted before the next sweep, so sweeping costs O(1)
// per insert, amortized, and recovered entries are gone by the time a
// shard has taken in a third of its size in new keys.
func (m *MemoryStore) sweep(sh *memShard, now int64) {
	sh.inserts = 0
	for k, tat := range sh.tats {
		if tat <= now {
			delete(sh.tats, k)
		}
	}
	mark := m.max / memShards * 7 / 8
	for k := range sh.tats {
		if len(sh.tats) <= mark {
			break
		}
		delete(sh.tats, k) // map iteration order is random
	}
}

// Len returns the number of entries held, for tests and metrics.
func (m *MemoryStore) Len() int {
	n := 0
	for i := range m.shards {
		sh := &m.shards[i]
		sh.mu.Lock()
		n += len(sh.tats)
		sh.mu.Unlock()
	}
	return n
}
