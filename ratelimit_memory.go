package apiauth

import (
	"context"
	"hash/maphash"
	"sync"
	"time"
)

const (
	memShards = 64
	// DefaultMaxEntries caps a MemoryStore: one entry per key and pair of
	// limits. At about 40 bytes an entry, the default cap holds the store
	// under about 200 MB.
	DefaultMaxEntries = 4 << 20
)

// MemoryStore is an in-process Store: GCRA state in 64 shards chosen by a
// hash of the key, each a map from a hash of (key, limits) to the
// theoretical arrival times of two limits. A shard's lock is held only for
// the arithmetic. A key already seen costs no allocation, and a key under
// a two-limit tier costs about 40 bytes (BenchmarkMemoryStoreBytesPerKey).
//
// Memory stays bounded: a limit that has fully recovered is the same as no
// state, and such entries are swept out as a shard grows. A shard that
// still reaches its share of the cap evicts entries at random: the evicted
// keys start over with full limits, a small leniency that only a flood of
// distinct keys can cause.
type MemoryStore struct {
	seed   maphash.Seed
	max    int
	shards [memShards]memShard
}

// pair holds the theoretical arrival times, in Unix nanoseconds, of two
// consecutive limits of a tier; 0 is no state.
type pair [2]int64

type memShard struct {
	mu   sync.Mutex
	tats map[uint64]pair
	// inserts counts new entries since the last sweep.
	inserts int
	_       [40]byte // keep shards on separate cache lines
}

// NewMemoryStore returns a MemoryStore holding at most DefaultMaxEntries
// entries.
func NewMemoryStore() *MemoryStore { return NewMemoryStoreSize(DefaultMaxEntries) }

// NewMemoryStoreSize returns a MemoryStore holding at most maxEntries
// entries (DefaultMaxEntries if maxEntries <= 0). An entry is a key under
// up to two limits.
func NewMemoryStoreSize(maxEntries int) *MemoryStore {
	if maxEntries <= 0 {
		maxEntries = DefaultMaxEntries
	}
	m := &MemoryStore{seed: maphash.MakeSeed(), max: maxEntries}
	for i := range m.shards {
		m.shards[i].tats = make(map[uint64]pair)
	}
	return m
}

var _ Store = (*MemoryStore)(nil)

// mix folds a limit's parameters into a hash, so that the same key under
// two tiers or two limits never shares state.
func mix(h uint64, l Limit) uint64 {
	h ^= uint64(l.Requests) * 0x9e3779b97f4a7c15
	h = (h ^ h>>31) * 0xbf58476d1ce4e5b9
	h ^= uint64(l.Window) * 0x94d049bb133111eb
	return h ^ h>>29
}

// Take implements Store.
func (m *MemoryStore) Take(_ context.Context, key string, limits []Limit, now time.Time) (Decision, error) {
	return m.decide(key, limits, now, true), nil
}

// Peek implements Store: Take's decision, without consuming.
func (m *MemoryStore) Peek(_ context.Context, key string, limits []Limit, now time.Time) (Decision, error) {
	return m.decide(key, limits, now, false), nil
}

func (m *MemoryStore) decide(key string, limits []Limit, now time.Time, consume bool) Decision {
	var d Decision
	if len(limits) > MaxLimits {
		limits = limits[:MaxLimits]
	}
	t := now.UnixNano()
	h := maphash.String(m.seed, key)
	sh := &m.shards[h>>58]
	var hashes [MaxLimits / 2]uint64
	var next [MaxLimits / 2]pair
	var bound, seen [MaxLimits / 2]bool
	d.Allowed = true

	sh.mu.Lock()
	for g := 0; 2*g < len(limits); g++ {
		hk := mix(h, limits[2*g])
		if 2*g+1 < len(limits) {
			hk = mix(hk, limits[2*g+1])
		}
		hashes[g] = hk
		cur, ok := sh.tats[hk]
		seen[g] = ok
		for j := 0; j < 2 && 2*g+j < len(limits); j++ {
			i := 2*g + j
			if limits[i].unlimited() {
				continue
			}
			bound[g] = true
			c, ok, st := gcra(limits[i], cur[j], t)
			next[g][j], d.Limits[i] = c, st
			if !ok {
				d.Allowed = false
				d.RetryAfter = max(d.RetryAfter, st.RetryAfter)
			}
		}
	}
	if d.Allowed && consume {
		for g := 0; 2*g < len(limits); g++ {
			if !bound[g] {
				continue
			}
			for j := 0; j < 2 && 2*g+j < len(limits); j++ {
				if i := 2*g + j; !limits[i].unlimited() {
					next[g][j] = take(limits[i], next[g][j], &d.Limits[i])
				}
			}
			if !seen[g] {
				sh.inserts++
			}
			sh.tats[hashes[g]] = next[g]
		}
		if n := len(sh.tats); n > m.max/memShards || sh.inserts > 1024 && sh.inserts > n/4 {
			m.sweep(sh, t)
		}
	}
	sh.mu.Unlock()
	return d
}

// sweep drops recovered entries (both TATs at or before now) and, if the
// shard is still over 7/8 of its share of the cap, arbitrary others down to
// that mark. Either way at least an eighth of the shard's share, or a
// quarter of its size, is inserted before the next sweep, so sweeping costs
// O(1) per insert, amortized, and recovered entries are gone by the time a
// shard has taken in a third of its size in new keys.
func (m *MemoryStore) sweep(sh *memShard, now int64) {
	sh.inserts = 0
	for k, p := range sh.tats {
		if p[0] <= now && p[1] <= now {
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
