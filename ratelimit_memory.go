package apiauth

import (
	"context"
	"hash/maphash"
	"math/bits"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
	"unsafe"
)

const (
	memShards = 64
	// defaultMaxEntries caps a MemoryStore: one entry per key and pair of
	// limits. An entry takes a 24-byte slot, and a shard's table never
	// grows past 5 slots for 4 entries of its share of the cap, so the
	// default cap holds the store under about 130 MB.
	defaultMaxEntries = 4 << 20
	// minMaxEntries is the smallest cap of a MemoryStore: eight entries a
	// shard, so that eviction, down to 7/8 of a shard's share, keeps some.
	minMaxEntries = memShards * 8
)

// A shard's table grows when an insert would fill more than 4/5 of its
// slots, to 15/8 slots an entry, 8/15 full: growth is by half, and a
// growing table stays between 8/15 and 4/5 full, 30 to 45 bytes an entry.
// (The allocator's rounding, which newSlots puts to use, moves this a
// little.) A sweep shrinks a table to 15/8 slots an entry too.
const (
	minSlots   = 8 // the first table of a shard
	fillNum    = 4 // grow past fillNum/fillDen full
	fillDen    = 5
	rebuildNum = 15 // rebuild with rebuildNum/rebuildDen slots an entry
	rebuildDen = 8
)

// MemoryStore is an in-process Store: GCRA state in 64 shards chosen by a
// hash of the key, each an open-addressing table (linear probing) from a
// hash of (key, limits) to the theoretical arrival times of two limits. A
// shard's lock is held only for one probe per pair of limits and the
// arithmetic. A key already seen costs no allocation, and a key under a
// two-limit tier costs at most about 45 bytes, 33 at a million keys
// (BenchmarkMemoryStoreBytesPerKey).
//
// Memory stays bounded: a limit that has fully recovered is the same as no
// state, and such entries are swept out as a shard grows or takes in new
// keys; a table left half empty or less shrinks. A sweep that leaves a
// shard over 7/8 of its share of the cap also evicts entries at random
// down to that mark, so a shard never holds more than its share: the
// evicted keys start over with full limits, a small leniency that only a
// flood of distinct keys can cause.
type MemoryStore struct {
	seed   maphash.Seed
	max    int
	shards [memShards]memShard
}

// slot is one entry of a shard's table: the hash of (key, limits), 0 for
// an empty slot, and the theoretical arrival times, in Unix nanoseconds, of
// two consecutive limits of a tier, 0 for no state.
type slot struct {
	h   uint64
	tat [2]int64
}

type memShard struct {
	mu sync.Mutex
	// slots is the table, nil until the first insert; its length need not
	// be a power of two (see home). It always has an empty slot, which
	// ends every probe.
	slots []slot
	// n counts the entries in slots.
	n int
	// inserts counts new entries since the last sweep.
	inserts int
	_       [16]byte // keep shards on separate cache lines
}

// NewMemoryStore returns a MemoryStore holding at most 4 Mi (4,194,304)
// entries, which keeps it under about 130 MB.
func NewMemoryStore() *MemoryStore { return NewMemoryStoreSize(defaultMaxEntries) }

// NewMemoryStoreSize returns a MemoryStore holding at most maxEntries
// entries (4 Mi if maxEntries <= 0). An entry is a key under
// up to two limits. A cap below 512 is raised to it: each of the
// 64 shards needs room for a few entries, or eviction would forget every
// key as soon as it had been counted.
func NewMemoryStoreSize(maxEntries int) *MemoryStore {
	if maxEntries <= 0 {
		maxEntries = defaultMaxEntries
	}
	maxEntries = max(maxEntries, minMaxEntries)
	return &MemoryStore{seed: maphash.MakeSeed(), max: maxEntries}
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

// home returns the slot where a probe for h starts in a table of n slots:
// h scaled to [0, n) by its high bits, which needs no division and no
// power-of-two size, and keeps the table in hash order.
func home(h uint64, n int) int {
	hi, _ := bits.Mul64(h, uint64(n))
	return int(hi)
}

// probe returns the index of h's slot in s and true, or the empty slot
// where h would go and false; -1 and false if s has no slots.
func probe(s []slot, h uint64) (int, bool) {
	if len(s) == 0 {
		return -1, false
	}
	i := home(h, len(s))
	for {
		switch s[i].h {
		case h:
			return i, true
		case 0:
			return i, false
		}
		if i++; i == len(s) {
			i = 0
		}
	}
}

// place puts e, whose hash is not in s, in its slot.
func place(s []slot, e slot) {
	i := home(e.h, len(s))
	for s[i].h != 0 {
		if i++; i == len(s) {
			i = 0
		}
	}
	s[i] = e
}

// newSlots returns an empty table of about n slots, at least lo: n rounded
// down to whole pages if that keeps lo, as the allocator rounds a large
// table up to pages, then stretched to the size it rounds up to anyway.
func newSlots(n, lo int) []slot {
	const page, large = 8 << 10, 32 << 10 // the runtime's
	if b := n * int(unsafe.Sizeof(slot{})); b > large {
		if m := b / page * page / int(unsafe.Sizeof(slot{})); m >= lo {
			n = m
		}
	}
	s := slices.Grow([]slot(nil), n)
	return s[:cap(s)]
}

// Take implements Store.
func (m *MemoryStore) Take(_ context.Context, key string, limits []Limit, now time.Time) (d Decision, _ error) {
	m.decide(&d, maphash.String(m.seed, key), limits, now.UnixNano(), true)
	return d, nil
}

// Peek implements Store: Take's decision, without consuming.
func (m *MemoryStore) Peek(_ context.Context, key string, limits []Limit, now time.Time) (d Decision, _ error) {
	m.decide(&d, maphash.String(m.seed, key), limits, now.UnixNano(), false)
	return d, nil
}

// Refund implements Store: each bound limit's TAT moves back one emission
// interval, to now at the earliest. An entry left with no state stays
// until a sweep drops it, as a recovered one does.
func (m *MemoryStore) Refund(_ context.Context, key string, limits []Limit, now time.Time) error {
	if len(limits) > MaxLimits {
		limits = limits[:MaxLimits]
	}
	h := maphash.String(m.seed, key)
	t := now.UnixNano()
	sh := &m.shards[h>>58]
	groups := (len(limits) + 1) / 2
	var (
		hashes [MaxLimits / 2]uint64
		bound  [MaxLimits / 2]bool
		ivl    [MaxLimits]int64 // emission intervals, 0 for unlimited
	)
	for i, l := range limits {
		if !l.unlimited() {
			ivl[i] = l.interval()
			bound[i/2] = true
		}
	}
	for g := range groups {
		hashes[g] = groupHash(h, limits, g)
	}
	sh.mu.Lock()
	for g := range groups {
		if !bound[g] {
			continue
		}
		p, ok := probe(sh.slots, hashes[g])
		if !ok {
			continue // no state: nothing was taken, or it has been swept
		}
		e := &sh.slots[p]
		for j := 0; j < 2 && 2*g+j < len(limits); j++ {
			if iv := ivl[2*g+j]; iv != 0 && e.tat[j] > t {
				e.tat[j] = max(e.tat[j]-iv, t)
			}
		}
	}
	sh.mu.Unlock()
	return nil
}

// groupHash is the hash of the entry of limits' group g (limits 2g and
// 2g+1) for the key of hash h; never 0, which marks an empty slot.
func groupHash(h uint64, limits []Limit, g int) uint64 {
	hk := mix(h, limits[2*g])
	if 2*g+1 < len(limits) {
		hk = mix(hk, limits[2*g+1])
	}
	if hk == 0 {
		hk = 1
	}
	return hk
}

// decide fills d, which must be zero, for the key of hash h at t (Unix
// nanoseconds). Limits go by pairs, groups, each the entry of one hash; a
// group of unlimited limits keeps no entry.
//
// It is one function, over the library's 80-line limit, because it is the
// measured hot loop of every rate-limited request: BenchmarkMemoryStore*
// here and bench/'s side-by-side rows (0 allocations, faster than the
// peers) are what any split must keep.
func (m *MemoryStore) decide(d *Decision, h uint64, limits []Limit, t int64, consume bool) {
	if len(limits) > MaxLimits {
		limits = limits[:MaxLimits]
	}
	sh := &m.shards[h>>58]
	groups := (len(limits) + 1) / 2
	var (
		hashes [MaxLimits / 2]uint64
		pos    [MaxLimits / 2]int // the group's slot, or where it would go
		found  [MaxLimits / 2]bool
		bound  [MaxLimits / 2]bool
		ivl    [MaxLimits]int64 // emission intervals, 0 for unlimited
		cur    [MaxLimits]int64
	)
	// Hashes and intervals (divisions) before the lock, to keep it short.
	for i, l := range limits {
		if !l.unlimited() {
			ivl[i] = l.interval()
			bound[i/2] = true
		}
	}
	for g := range groups {
		hashes[g] = groupHash(h, limits, g)
	}
	d.Allowed = true

	sh.mu.Lock()
	s := sh.slots
	need := 0 // new entries, if the request is taken
	for g := range groups {
		if !bound[g] {
			continue
		}
		var tat [2]int64
		p, ok := probe(s, hashes[g])
		if ok {
			tat = s[p].tat
		} else {
			need++
		}
		pos[g], found[g] = p, ok
		for j := 0; j < 2 && 2*g+j < len(limits); j++ {
			i := 2*g + j
			if ivl[i] == 0 {
				continue
			}
			c, ok := gcra(limits[i], ivl[i], tat[j], t, &d.Limits[i])
			cur[i] = c
			if !ok {
				d.Allowed = false
				d.RetryAfter = max(d.RetryAfter, d.Limits[i].RetryAfter)
			}
		}
	}
	if d.Allowed && consume {
		if need > 0 && (sh.n+need)*fillDen > len(s)*fillNum {
			// Grow, sweeping on the way. The slots found have moved, and
			// the sweep may have dropped some (recovered, or evicted): it
			// leaves room for every group.
			m.sweep(sh, t, groups)
			s = sh.slots
			for g := range groups {
				if bound[g] {
					pos[g], found[g] = probe(s, hashes[g])
				}
			}
		}
		// Found slots are updated where they are; new entries take the
		// empty slot their probe ended at, unless an earlier group of this
		// request took it (or has the same hash, for a tier that repeats
		// a pair of limits): then they probe again.
		for g := range groups {
			if !bound[g] {
				continue
			}
			var next [2]int64
			for j := 0; j < 2 && 2*g+j < len(limits); j++ {
				if i := 2*g + j; ivl[i] != 0 {
					next[j] = take(ivl[i], cur[i], &d.Limits[i])
				}
			}
			p := pos[g]
			if !found[g] {
				ok := false
				if s[p].h != 0 {
					p, ok = probe(s, hashes[g])
				}
				if !ok {
					s[p].h = hashes[g]
					sh.n++
					sh.inserts++
				}
			}
			s[p].tat = next
		}
		if sh.n > m.max/memShards || sh.inserts > 1024 && sh.inserts > sh.n/4 {
			m.sweep(sh, t, 0)
		}
	}
	sh.mu.Unlock()
}

// sweep drops recovered entries (both TATs at or before now) and, if the
// shard is still over 7/8 of its share of the cap, others down to that
// mark: a run of the table from a random slot, so that no range of hashes
// is always the victim. It leaves room for need more entries, at most 2/3
// full, else it grows the table to 8/15 full.
//
// A sweep runs when a table would grow, and when a quarter of the shard's
// size (at least 1024) has been inserted since the last one, or it is over
// its share. Either way at least an eighth of the shard's share, or 2/15
// of its table, or a quarter of its size, is inserted before the next
// sweep, so sweeping costs O(1) per insert, amortized, and recovered
// entries are gone by the time a shard has taken in a third of its size in
// new keys.
//
// Unless it grows the table, a sweep works in place, with no allocation:
// keys that recover between their requests, as most do under a per-second
// burst, are dropped and come back, and a table that shrank with them
// would soon grow again. It makes a smaller table only when one of half
// the size or less still holds, 8/15 full, the entries kept and as many
// new ones as came in since the last sweep.
//
// Like decide, it stays one function: it runs under the shard's lock, and
// BenchmarkMemoryStoreNewKeys measures it.
func (m *MemoryStore) sweep(sh *memShard, now int64, need int) {
	inserts := sh.inserts
	sh.inserts = 0
	old := sh.slots
	live := 0
	for i := range old {
		if e := &old[i]; e.h != 0 && (e.tat[0] > now || e.tat[1] > now) {
			live++
		}
	}
	share := m.max / memShards
	evict := max(live-share*7/8, 0)
	keep := live - evict
	// Room for share+MaxLimits/2 entries, the most a shard holds (between
	// an insert and the sweep it triggers), keeps a full shard at its size
	// and never grows it.
	capLen := max((share+MaxLimits/2)*fillDen/fillNum+1, minSlots)
	size := 0 // the new table's, or 0 to sweep in place
	switch {
	case need > 0 && (keep+need)*3 > len(old)*2:
		size = min(max((keep+need)*rebuildNum/rebuildDen+1, minSlots), capLen)
	case keep == sh.n:
		return // nothing to drop
	default:
		if n := max((keep+need+inserts)*rebuildNum/rebuildDen+1, minSlots); 2*n <= len(old) {
			size = n
		}
	}
	start := 0
	if evict > 0 {
		start = rand.IntN(len(old))
	}
	var s []slot
	empty := 0 // an empty slot of old, for a sweep in place
	if size > 0 {
		s = newSlots(size, (keep+need)*3/2+1)
	} else {
		for old[empty].h != 0 {
			empty++
		}
	}
	for k := range old {
		i := start + k
		if i >= len(old) {
			i -= len(old)
		}
		e := &old[i]
		if e.h == 0 {
			continue
		}
		if e.tat[0] > now || e.tat[1] > now {
			if evict == 0 {
				if s != nil {
					place(s, *e)
				}
				continue
			}
			evict--
		}
		e.h = 0
	}
	sh.n = keep
	if s != nil {
		sh.slots = s
		return
	}
	// In place, every entry left moves back to the first empty slot of its
	// probe, if it is now before it. In probe order from a slot that was
	// empty before the sweep, no probe crosses, so an entry moved never
	// opens a gap in the probe of one already placed.
	for k := 1; k < len(old); k++ {
		i := empty + k
		if i >= len(old) {
			i -= len(old)
		}
		if e := old[i]; e.h != 0 {
			old[i].h = 0
			place(old, e)
		}
	}
}

// Len returns the number of entries held, for tests and metrics.
func (m *MemoryStore) Len() int {
	n := 0
	for i := range m.shards {
		sh := &m.shards[i]
		sh.mu.Lock()
		n += sh.n
		sh.mu.Unlock()
	}
	return n
}
