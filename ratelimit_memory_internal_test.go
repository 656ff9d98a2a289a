package apiauth

import (
	"context"
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// memNow is the time of the tests below, in Unix nanoseconds.
var memNow = time.Unix(1_800_000_000, 0)

// checkTable fails unless every entry of sh is where a probe finds it, the
// count is right, and the table is at most 4/5 full.
func checkTable(t *testing.T, sh *memShard) {
	t.Helper()
	n := 0
	for i, e := range sh.slots {
		if e.h == 0 {
			continue
		}
		n++
		p, ok := probe(sh.slots, e.h)
		require.True(t, ok, "slot %d (hash %#x) is not found", i, e.h)
		require.Equal(t, i, p, "hash %#x is found at another slot", e.h)
	}
	require.Equal(t, n, sh.n, "entries counted")
	require.LessOrEqual(t, n*fillDen, len(sh.slots)*fillNum, "%d entries in %d slots", n, len(sh.slots))
}

// shardIndex returns the index of the shard key goes to.
func shardIndex(m *MemoryStore, key string) int {
	return int(maphash.String(m.seed, key) >> 58)
}

// shardOf returns the shard key goes to.
func shardOf(m *MemoryStore, key string) *memShard { return &m.shards[shardIndex(m, key)] }

// unxorshift inverts y = x ^ x>>s.
func unxorshift(y uint64, s uint) uint64 {
	x := y
	for range 64/s + 1 {
		x = y ^ x>>s
	}
	return x
}

// unmix returns the key hash h with mix(h, l) == want, to make a slot hash
// at will.
func unmix(want uint64, l Limit) uint64 {
	const c = 0xbf58476d1ce4e5b9
	inv := uint64(c) // c*inv == 1 mod 2^64, by Newton's iteration
	for range 6 {
		inv *= 2 - c*inv
	}
	h := unxorshift(want, 29)
	h ^= uint64(l.Window) * 0x94d049bb133111eb
	h *= inv
	h = unxorshift(h, 31)
	return h ^ uint64(l.Requests)*0x9e3779b97f4a7c15
}

func TestUnmix(t *testing.T) {
	l := Limit{Requests: 7, Window: time.Minute}
	for _, want := range []uint64{0, 1, 42, 1 << 63, ^uint64(0)} {
		assert.Equal(t, want, mix(unmix(want, l), l))
	}
}

func TestMemoryStoreGrowthKeepsEveryEntry(t *testing.T) {
	m := NewMemoryStore()
	ctx := context.Background()
	limits := []Limit{{Requests: 100, Window: time.Hour}}
	var sizes [memShards]map[int]bool
	for i := range sizes {
		sizes[i] = map[int]bool{}
	}
	const n = 20_000
	for i := range n {
		key := "k" + strconv.Itoa(i)
		d, err := m.Take(ctx, key, limits, memNow)
		require.NoError(t, err)
		require.Equal(t, int64(99), d.Limits[0].Remaining, key)
		j := shardIndex(m, key)
		sizes[j][len(m.shards[j].slots)] = true
		if i%2000 == 1999 {
			for j := range m.shards {
				checkTable(t, &m.shards[j])
			}
			// Every key taken so far is found, whatever grew since.
			for j := 0; j <= i; j++ {
				d, _ := m.Peek(ctx, "k"+strconv.Itoa(j), limits, memNow)
				require.Equal(t, int64(99), d.Limits[0].Remaining, "key %d lost after %d keys", j, i+1)
			}
		}
	}
	assert.Equal(t, n, m.Len())
	for i := range sizes {
		assert.GreaterOrEqual(t, len(sizes[i]), 6, "shard %d grew through %d sizes", i, len(sizes[i]))
	}
}

// TestMemoryStoreBytesPerEntry checks the memory figure of the doc
// comments: the tables of a store hold about 45 bytes a key at most under
// a two-limit tier, at every size, right after a growth included (a table
// is then 8/15 full; the allocator's rounding, which shards do not all
// meet at once, leaves some slack to the 48 bytes the store must stay
// under).
func TestMemoryStoreBytesPerEntry(t *testing.T) {
	m := NewMemoryStore()
	ctx := context.Background()
	held := func() int {
		b := 0
		for i := range m.shards {
			b += cap(m.shards[i].slots) * 24
		}
		return b
	}
	worst, at := 0.0, 0
	for i := 1; i <= 300_000; i++ {
		_, _ = m.Take(ctx, "k:"+strconv.Itoa(i), presetTiers()["free"].Limits, memNow)
		if i >= 2000 && i%61 == 0 {
			if b := float64(held()) / float64(i); b > worst {
				worst, at = b, i
			}
		}
	}
	require.Equal(t, 300_000, m.Len())
	assert.LessOrEqual(t, worst, 47.0, "%.1f bytes a key at %d keys", worst, at)
	assert.Greater(t, worst, 40.0, "right after a growth, tables are 8/15 full")
}

// fillShard makes shard 0 of m a table of size slots holding entries.
func fillShard(m *MemoryStore, size int, entries []slot) *memShard {
	sh := &m.shards[0]
	sh.slots = make([]slot, size)
	for _, e := range entries {
		place(sh.slots, e)
	}
	sh.n = len(entries)
	return sh
}

// randomHashes returns n distinct random hashes, the last few at the very
// top of the range so that their probes wrap around.
func randomHashes(r *rand.Rand, n int) []uint64 {
	seen := map[uint64]bool{0: true}
	out := make([]uint64, n)
	for i := range out {
		h := ^uint64(i - (n - 8))
		for i < n-8 || seen[h] {
			h = r.Uint64()
			if !seen[h] {
				break
			}
		}
		seen[h] = true
		out[i] = h
	}
	return out
}

func TestMemoryStoreSweep(t *testing.T) {
	now := memNow.UnixNano()
	// TATs of a recovered entry (at or before now) and of a live one, in
	// every combination of the two limits.
	recovered := [][2]int64{{now, 0}, {0, now}, {now - 1, now - 5}, {0, 0}}
	live := [][2]int64{{now + 1, 0}, {0, now + 1}, {now + 9, now - 9}, {now + 1, now + 1}}
	for _, tc := range []struct {
		name      string
		size      int // slots
		recovered int
		live      int
		inserts   int // since the last sweep
		need      int
		want      string // "same" table, "in place", "shrunk" or "grown"
	}{
		{name: "nothing to drop", size: 1000, live: 700, inserts: 2000, want: "same"},
		{name: "a few recovered", size: 1000, recovered: 100, live: 650, inserts: 2000, want: "in place"},
		{name: "most recovered", size: 1000, recovered: 700, live: 100, want: "shrunk"},
		{name: "most recovered, many recent inserts", size: 1000, recovered: 700, live: 100, inserts: 300, want: "in place"},
		{name: "growth", size: 1000, live: 800, need: 1, want: "grown"},
		{name: "growth of a full table", size: 1000, live: 798, need: 4, want: "grown"},
		{name: "growth avoided by the sweep", size: 1000, recovered: 400, live: 400, need: 1, inserts: 400, want: "in place"},
		{name: "growth, too few recovered", size: 1000, recovered: 100, live: 700, need: 1, want: "grown"},
		{name: "all recovered", size: 1000, recovered: 800, want: "shrunk"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, uint64(tc.size+tc.live)))
			m := NewMemoryStore()
			// The first entries are recovered, the others (those whose
			// probes wrap around among them) live.
			var entries, keep, drop []slot
			for i, h := range randomHashes(r, tc.recovered+tc.live) {
				e := slot{h: h, tat: live[i%len(live)]}
				if i < tc.recovered {
					e.tat = recovered[i%len(recovered)]
					drop = append(drop, e)
				} else {
					keep = append(keep, e)
				}
				entries = append(entries, e)
			}
			sh := fillShard(m, tc.size, entries)
			checkTable(t, sh)
			before := &sh.slots[0]
			sh.inserts = tc.inserts

			m.sweep(sh, now, tc.need)

			checkTable(t, sh)
			assert.Zero(t, sh.inserts, "a sweep starts the count anew")
			assert.Equal(t, tc.live, sh.n)
			for _, e := range keep {
				p, ok := probe(sh.slots, e.h)
				require.True(t, ok, "a live entry is dropped")
				assert.Equal(t, e.tat, sh.slots[p].tat)
			}
			for _, e := range drop {
				_, ok := probe(sh.slots, e.h)
				require.False(t, ok, "a recovered entry is kept")
			}
			if tc.need > 0 {
				assert.LessOrEqual(t, (sh.n+tc.need)*3, len(sh.slots)*2, "room for what is about to be inserted")
			}
			switch tc.want {
			case "same", "in place":
				assert.Same(t, before, &sh.slots[0], "no new table")
				assert.Len(t, sh.slots, tc.size)
			case "shrunk":
				assert.LessOrEqual(t, 2*len(sh.slots), tc.size)
			case "grown":
				assert.Greater(t, len(sh.slots), tc.size*5/4)
				assert.LessOrEqual(t, len(sh.slots), tc.size*2)
			}
		})
	}
}

func TestMemoryStoreEvictsAtTheCap(t *testing.T) {
	const share = 1000
	m := NewMemoryStoreSize(share * memShards)
	mark := share * 7 / 8
	ctx := context.Background()
	limits := []Limit{{Requests: 10, Window: time.Hour}} // nothing recovers
	var reached [memShards]bool
	evictions := 0
	for i := range 200_000 {
		key := "k" + strconv.Itoa(i)
		j := shardIndex(m, key)
		sh := &m.shards[j]
		before := sh.n
		_, err := m.Take(ctx, key, limits, memNow)
		require.NoError(t, err)
		require.LessOrEqual(t, sh.n, share, "shard %d over its share", j)
		if sh.n < before {
			evictions++
		}
		if sh.n >= mark {
			reached[j] = true
		}
		if reached[j] {
			require.GreaterOrEqual(t, sh.n, mark, "shard %d evicted below the mark", j)
		}
	}
	assert.Greater(t, evictions, 500)
	assert.LessOrEqual(t, m.Len(), share*memShards)
	low := 0
	for i := range m.shards {
		sh := &m.shards[i]
		checkTable(t, sh)
		for _, e := range sh.slots {
			if e.h != 0 && e.h < 1<<63 {
				low++
			}
		}
	}
	// Evictions start at random: the survivors' hashes are not skewed to
	// one end of the range.
	frac := float64(low) / float64(m.Len())
	assert.InDelta(t, 0.5, frac, 0.15, "%.2f of the survivors in the lower half of the hashes", frac)
}

func TestMemoryStoreHashZero(t *testing.T) {
	m := NewMemoryStore()
	limits := []Limit{{Requests: 3, Window: time.Hour}}
	t0 := memNow.UnixNano()
	h := unmix(0, limits[0])
	require.Zero(t, mix(h, limits[0]))
	sh := &m.shards[h>>58]
	for i := range 3 {
		var d Decision
		m.decide(&d, h, limits, t0, true)
		require.True(t, d.Allowed, "request %d", i)
		assert.Equal(t, int64(2-i), d.Limits[0].Remaining)
		assert.Equal(t, 1, m.Len(), "one entry for hash 0")
	}
	p, ok := probe(sh.slots, 1)
	require.True(t, ok, "hash 0 is kept as 1")
	assert.Equal(t, t0+3*int64(20*time.Minute), sh.slots[p].tat[0])
	// Other keys of the shard grow its table: hash 0's entry moves along.
	for i := 0; len(sh.slots) < 64; i++ {
		key := "k" + strconv.Itoa(i)
		if shardOf(m, key) == sh {
			_, _ = m.Take(context.Background(), key, limits, memNow)
		}
	}
	checkTable(t, sh)
	var d Decision
	m.decide(&d, h, limits, t0, true)
	assert.False(t, d.Allowed, "the fourth request within the hour")
	assert.Equal(t, 20*time.Minute, d.RetryAfter)
}

func TestMemoryStoreManyLimits(t *testing.T) {
	ctx := context.Background()
	u := Limit{Requests: Unlimited, Window: time.Hour}
	limit := func(i int) Limit { return Limit{Requests: 10, Window: time.Duration(i+1) * time.Minute} }
	for _, tc := range []struct {
		name    string
		limits  int
		binding int // the limit of 1 request, which refuses the second
		unbound int // a group of two unlimited limits, or -1
		entries int
	}{
		{name: "3 limits, the last binds", limits: 3, binding: 2, unbound: -1, entries: 2},
		{name: "4 limits, the first binds", limits: 4, binding: 0, unbound: -1, entries: 2},
		{name: "5 limits", limits: 5, binding: 3, unbound: -1, entries: 3},
		{name: "6 limits", limits: 6, binding: 5, unbound: -1, entries: 3},
		{name: "7 limits", limits: 7, binding: 1, unbound: -1, entries: 4},
		{name: "8 limits, the last binds", limits: 8, binding: 7, unbound: -1, entries: 4},
		{name: "8 limits, the first binds", limits: 8, binding: 0, unbound: -1, entries: 4},
		{name: "8 limits, one pair unlimited", limits: 8, binding: 6, unbound: 1, entries: 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := NewMemoryStore()
			limits := make([]Limit, tc.limits)
			for i := range limits {
				limits[i] = limit(i)
				if i/2 == tc.unbound {
					limits[i] = u
				}
			}
			limits[tc.binding].Requests = 1
			const key = "multi"
			sh := shardOf(m, key)
			// Fill the key's shard so that its entries, all inserted by
			// one request, cross a growth.
			one := []Limit{{Requests: 10, Window: time.Hour}}
			for i := 0; len(sh.slots) == 0 || (sh.n+tc.entries)*fillDen <= len(sh.slots)*fillNum; i++ {
				if k := "fill" + strconv.Itoa(i); shardOf(m, k) == sh {
					_, _ = m.Take(ctx, k, one, memNow)
				}
			}
			size, n := len(sh.slots), sh.n

			d, err := m.Take(ctx, key, limits, memNow)
			require.NoError(t, err)
			require.True(t, d.Allowed)
			assert.Greater(t, len(sh.slots), size, "the request grew the table")
			assert.Equal(t, n+tc.entries, sh.n)
			checkTable(t, sh)
			for i, l := range limits {
				if l.unlimited() {
					assert.Zero(t, d.Limits[i], "limit %d", i)
				} else {
					assert.Equal(t, l.Requests-1, d.Limits[i].Remaining, "limit %d", i)
				}
			}
			// The binding limit refuses; none of the others is spent.
			for range 3 {
				d, _ = m.Take(ctx, key, limits, memNow)
				assert.False(t, d.Allowed)
			}
			d, _ = m.Peek(ctx, key, limits, memNow)
			for i, l := range limits {
				if !l.unlimited() && i != tc.binding {
					assert.Equal(t, l.Requests-1, d.Limits[i].Remaining, "limit %d spent by a refusal", i)
				}
			}
			// Once the binding limit recovers, all are spent together.
			later := memNow.Add(limits[tc.binding].Window)
			before, _ := m.Peek(ctx, key, limits, later)
			d, _ = m.Take(ctx, key, limits, later)
			require.True(t, d.Allowed)
			after, _ := m.Peek(ctx, key, limits, later)
			for i, l := range limits {
				if !l.unlimited() {
					assert.Equal(t, before.Limits[i].Remaining-1, after.Limits[i].Remaining, "limit %d", i)
				}
			}
			assert.Equal(t, n+tc.entries, sh.n, "no entry added by later requests")
		})
	}
}

// TestMemoryStoreRepeatedPair is a tier that repeats a pair of limits: its
// two groups have one hash, and must share one entry.
func TestMemoryStoreRepeatedPair(t *testing.T) {
	m := NewMemoryStore()
	a, b := Limit{Requests: 2, Window: time.Hour}, Limit{Requests: 5, Window: time.Minute}
	limits := []Limit{a, b, a, b}
	for i := range 2 {
		d, err := m.Take(context.Background(), "k", limits, memNow)
		require.NoError(t, err)
		require.True(t, d.Allowed, "request %d", i)
		assert.Equal(t, 1, m.Len())
	}
	d, _ := m.Take(context.Background(), "k", limits, memNow)
	assert.False(t, d.Allowed)
	checkTable(t, shardOf(m, "k"))
}

func TestMemoryStorePeekNeverInserts(t *testing.T) {
	ctx := context.Background()
	limits := presetTiers()["free"].Limits
	m := NewMemoryStore()
	for i := range 5000 {
		d, err := m.Peek(ctx, "k"+strconv.Itoa(i), limits, memNow)
		require.NoError(t, err)
		require.True(t, d.Allowed)
		require.Equal(t, limits[0].Requests, d.Limits[0].Remaining)
	}
	assert.Zero(t, m.Len())
	for i := range m.shards {
		assert.Nil(t, m.shards[i].slots, "shard %d has a table", i)
	}

	// A shard one insert short of growing stays as it is.
	sh := shardOf(m, "k0")
	for i := 0; len(sh.slots) == 0 || (sh.n+1)*fillDen <= len(sh.slots)*fillNum; i++ {
		if k := "fill" + strconv.Itoa(i); shardOf(m, k) == sh {
			_, _ = m.Take(ctx, k, limits, memNow)
		}
	}
	size, n := len(sh.slots), sh.n
	for i := range 5000 {
		_, _ = m.Peek(ctx, "k"+strconv.Itoa(i), limits, memNow)
	}
	assert.Equal(t, size, len(sh.slots))
	assert.Equal(t, n, sh.n)
	// Nor does Peek spend anything of a key it finds.
	_, _ = m.Take(ctx, "fill-again", limits, memNow)
	for range 3 {
		d, _ := m.Peek(ctx, "fill-again", limits, memNow)
		assert.Equal(t, limits[0].Requests-1, d.Limits[0].Remaining)
	}
}

// TestMemoryStoreRoomForRecoveredGroups is a request that finds some of
// its entries, recovered, in a table that must grow for its new one: the
// sweep before the growth drops the recovered entries, and the request
// inserts them again, so the room left must be for all of its groups.
func TestMemoryStoreRoomForRecoveredGroups(t *testing.T) {
	m := NewMemoryStore()
	const h = 12345 // shard 0
	limits := make([]Limit, 8)
	for i := range limits {
		limits[i] = Limit{Requests: 10, Window: time.Duration(i+1) * time.Second}
	}
	now := memNow.UnixNano()
	var entries []slot
	// The first three pairs, taken long ago, as by a tier of six limits.
	for g := range 3 {
		entries = append(entries, slot{h: mix(mix(h, limits[2*g]), limits[2*g+1]), tat: [2]int64{now - 1, now - 1}})
	}
	// Four other keys, live.
	for _, x := range []uint64{1 << 60, 1 << 61, 1 << 62, 1 << 63} {
		entries = append(entries, slot{h: x, tat: [2]int64{now + int64(time.Hour), 0}})
	}
	sh := fillShard(m, 8, entries)
	require.Equal(t, 8, len(sh.slots))

	var d Decision
	m.decide(&d, h, limits, now, true)
	require.True(t, d.Allowed)
	checkTable(t, sh)
	assert.Equal(t, 8, sh.n, "four live keys and four groups")
	for i, l := range limits {
		assert.Equal(t, l.Requests-1, d.Limits[i].Remaining, "limit %d", i)
	}
}

// TestMemoryStoreSweepsAfterInserts is a shard whose table is far from
// growing: recovered entries go once more than 1024 new ones, and a
// quarter of the shard, have come in.
func TestMemoryStoreSweepsAfterInserts(t *testing.T) {
	m := NewMemoryStore()
	r := rand.New(rand.NewPCG(2, 3))
	now := memNow.UnixNano()
	var old []slot
	for _, h := range randomHashes(r, 3000) {
		old = append(old, slot{h: h, tat: [2]int64{now - 1, 0}})
	}
	sh := fillShard(m, 20_000, old)
	limits := []Limit{{Requests: 10, Window: time.Hour}}
	for i := range 1100 {
		var d Decision
		m.decide(&d, r.Uint64()>>6, limits, now, true) // shard 0
		require.True(t, d.Allowed)
		if i < 1024 {
			require.Equal(t, 3000+i+1, sh.n, "swept before 1024 inserts")
		}
	}
	checkTable(t, sh)
	assert.Equal(t, 1100, sh.n, "the recovered entries are gone")
	for _, e := range old {
		_, ok := probe(sh.slots, e.h)
		require.False(t, ok)
	}
	assert.Less(t, len(sh.slots), 10_000, "and the table shrank")
}

// refStore is the MemoryStore's semantics with none of its table: a map
// from (key, pair of limits, place in the pair) to a TAT, never swept,
// never evicted, and gcra and take for the arithmetic.
type refStore map[string]int64

func (r refStore) decide(key string, limits []Limit, now int64, consume bool) Decision {
	d := Decision{Allowed: true}
	var names [MaxLimits]string
	var cur [MaxLimits]int64
	for i, l := range limits {
		if l.unlimited() {
			continue
		}
		g := i / 2 * 2
		pair := fmt.Sprintf("%q|%d/%d", key, limits[g].Requests, limits[g].Window)
		if g+1 < len(limits) {
			pair += fmt.Sprintf("|%d/%d", limits[g+1].Requests, limits[g+1].Window)
		}
		names[i] = fmt.Sprintf("%s|%d", pair, i-g)
		c, ok := gcra(l, l.interval(), r[names[i]], now, &d.Limits[i])
		cur[i] = c
		if !ok {
			d.Allowed = false
			d.RetryAfter = max(d.RetryAfter, d.Limits[i].RetryAfter)
		}
	}
	if d.Allowed && consume {
		for i, l := range limits {
			if !l.unlimited() {
				r[names[i]] = take(l.interval(), cur[i], &d.Limits[i])
			}
		}
	}
	return d
}

// TestMemoryStoreAgainstReference runs random Takes and Peeks, on
// thousands of keys under tiers of one to eight limits (some unlimited,
// one repeating a pair), with time moving on by random steps, against
// refStore: every decision must be the same. Short windows make keys
// recover, so sweeps drop entries as the tables grow and the keys come
// back; the cap is never reached, so no entry is evicted and nothing may
// differ.
func TestMemoryStoreAgainstReference(t *testing.T) {
	lim := func(n int64, w time.Duration) Limit { return Limit{Name: "l", Requests: n, Window: w} }
	unl := Limit{Name: "u", Requests: Unlimited}
	tiers := [][]Limit{
		{lim(3, time.Millisecond)},
		{lim(5, time.Millisecond), lim(50, 20*time.Millisecond)},
		{unl, lim(2, 100*time.Microsecond), lim(4, time.Millisecond)},
		{lim(1, 10*time.Microsecond), unl, unl, lim(7, 3*time.Millisecond), lim(2, time.Millisecond)},
		{lim(3, time.Millisecond), lim(9, time.Millisecond), lim(3, time.Millisecond), lim(9, time.Millisecond)},
		{lim(2, time.Millisecond), lim(3, time.Millisecond), lim(4, time.Millisecond), lim(5, time.Millisecond),
			lim(6, time.Millisecond), lim(7, time.Millisecond), lim(8, time.Millisecond), lim(9, 2*time.Millisecond)},
		{unl, unl},
	}
	for _, keys := range []int{50, 5000} {
		t.Run(fmt.Sprint(keys, " keys"), func(t *testing.T) {
			r := rand.New(rand.NewPCG(4, uint64(keys)))
			m := NewMemoryStore()
			ref := refStore{}
			now := memNow.UnixNano()
			for op := range 300_000 {
				now += r.Int64N(int64(20 * time.Microsecond))
				if r.IntN(1000) == 0 {
					now += int64(50 * time.Millisecond) // a lull: everything recovers
				}
				key := "k" + strconv.Itoa(r.IntN(keys))
				tier := tiers[r.IntN(len(tiers))]
				consume := r.IntN(8) != 0
				var got Decision
				if consume {
					got, _ = m.Take(context.Background(), key, tier, time.Unix(0, now))
				} else {
					got, _ = m.Peek(context.Background(), key, tier, time.Unix(0, now))
				}
				want := ref.decide(key, tier, now, consume)
				if got != want {
					t.Fatalf("op %d: %s, tier of %d limits, take %v: got %+v, want %+v", op, key, len(tier), consume, got, want)
				}
			}
			for i := range m.shards {
				checkTable(t, &m.shards[i])
			}
		})
	}
}
