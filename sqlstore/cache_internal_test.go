package sqlstore

import (
	"fmt"
	"testing"

	"github.com/apiauth/apiauth"
	"github.com/stretchr/testify/require"
)

// TestInvalidateDetachesCall: a lookup that starts after an invalidation
// of its digest never joins a call that started before it, and calls that
// start after it are still shared. The call from before ends without
// caching what it read, and without ending the one from after.
func TestInvalidateDetachesCall(t *testing.T) {
	d := apiauth.DigestKey("sk_test_detach")
	other := apiauth.DigestKey("sk_test_other")
	other[0] = d[0] // the same shard
	cases := []struct {
		name string
		// cached: the entry present during the call, its updated_at.
		cached     *keyEntry
		invalidate func(c *keyCache)
		detaches   bool
	}{
		{name: "DropRegardless", invalidate: func(c *keyCache) { c.invalidate(d, -1) }, detaches: true},
		{name: "ChangedNoEntry", invalidate: func(c *keyCache) { c.invalidate(d, 100) }, detaches: true},
		{name: "ChangedAfterEntry", cached: &keyEntry{rec: &apiauth.KeyRecord{}, updated: 50}, invalidate: func(c *keyCache) { c.invalidate(d, 100) }, detaches: true},
		{name: "CachedNotFound", cached: &keyEntry{}, invalidate: func(c *keyCache) { c.invalidate(d, 100) }, detaches: true},
		// The entry already reflects the change, so a read begun after
		// it (the entry was cached before the call started) does too.
		{name: "EntryIsNewer", cached: &keyEntry{rec: &apiauth.KeyRecord{}, updated: 200}, invalidate: func(c *keyCache) { c.invalidate(d, 100) }},
		{name: "OtherDigest", invalidate: func(c *keyCache) { c.invalidate(other, -1) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newCache[apiauth.KeyDigest, apiauth.KeyRecord](shardCount)
			if tc.cached != nil {
				c.shard(d).m[d] = tc.cached
			}
			before, leader, beforeGen := c.join(d)
			require.True(t, leader)
			joined, leader, _ := c.join(d)
			require.False(t, leader, "single-flight before the invalidation")
			require.Same(t, before, joined)

			tc.invalidate(c)

			after, leader, afterGen := c.join(d)
			if !tc.detaches {
				require.False(t, leader)
				require.Same(t, before, after)
				return
			}
			require.True(t, leader, "a lookup that started after the invalidation joined a call that started before it")
			require.NotSame(t, before, after)
			joined, leader, _ = c.join(d)
			require.False(t, leader, "single-flight after the invalidation")
			require.Same(t, after, joined)

			// The call from before ends first: it caches nothing and
			// leaves the call from after in place.
			stale := &keyEntry{rec: &apiauth.KeyRecord{Name: "stale"}, deadline: 1 << 62}
			c.finish(d, before, beforeGen, stale, stale.rec, nil, 0)
			<-before.done
			require.Same(t, stale.rec, before.rec, "the callers of the call from before get its answer")
			require.NotSame(t, stale, c.get(d), "the call from before cached what it read")
			joined, leader, _ = c.join(d)
			require.False(t, leader, "the call from before ended the call from after")
			require.Same(t, after, joined)

			fresh := &keyEntry{rec: &apiauth.KeyRecord{Name: "fresh"}, deadline: 1 << 62}
			c.finish(d, after, afterGen, fresh, fresh.rec, nil, 0)
			<-after.done
			require.Same(t, fresh, c.get(d))
			next, leader, _ := c.join(d)
			require.True(t, leader, "the finished call is still joinable")
			require.NotSame(t, after, next)
		})
	}
}

// TestShardOf: a digest goes to the shard of its first byte, as before the
// cache was generic; strings, even sequential ones, spread over every
// shard.
func TestShardOf(t *testing.T) {
	for i := range 256 {
		var d apiauth.KeyDigest
		d[0], d[31] = byte(i), 0xff
		require.Equal(t, i%shardCount, shardOf(d))
	}
	const n = 100 * shardCount
	var counts [shardCount]int
	for i := range n {
		counts[shardOf(fmt.Sprint("grant-", i))]++
	}
	for sh, c := range counts {
		if c < n/shardCount/2 || c > 2*n/shardCount {
			t.Errorf("shard %d holds %d of %d sequential IDs; counts %v", sh, c, n, counts)
		}
	}
}
