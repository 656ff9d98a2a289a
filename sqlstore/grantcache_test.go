package sqlstore_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apiauth/apiauth"
	"github.com/apiauth/apiauth/oauth"
	"github.com/apiauth/apiauth/sqlstore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The cache of GetGrant: what the JWT verifier reads on every request with
// an access token of the authorization-code flow.

// grantByIDQuery is a text of GetGrant's query alone among the store's.
const grantByIDQuery = "updated_at FROM apiauth_oauth_grants WHERE grant_id ="

// grantSeq makes grant IDs unique across the tests of one run.
var grantSeq atomic.Int64

// newTestGrant creates a code through s and redeems it, with a refresh
// token, and returns the grant's ID and its refresh token's digest. The
// grant is live for an hour, idle or not.
func newTestGrant(t testing.TB, s oauth.GrantStore) (string, apiauth.KeyDigest) {
	t.Helper()
	c := newTestCode(t, s)
	refresh := randDigest(t)
	if _, err := s.RedeemCode(context.Background(), c.Digest, refresh, time.Now(), time.Hour); err != nil {
		t.Fatal(err)
	}
	return c.GrantID, refresh
}

// newTestCode creates a code through s and returns it.
func newTestCode(t testing.TB, s oauth.GrantStore) *oauth.Code {
	t.Helper()
	now := time.Now()
	c := &oauth.Code{Digest: randDigest(t), GrantID: fmt.Sprintf("gr_test_%d_%d", now.UnixNano(), grantSeq.Add(1)), ClientID: "c",
		Scopes: []apiauth.Scope{apiauth.Read}, CreatedAt: now, ExpiresAt: now.Add(time.Minute), GrantExpiresAt: now.Add(time.Hour)}
	if err := s.CreateCode(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	return c
}

// openCountedSQLite opens a SQLite database in dir that counts the queries
// holding match.
func openCountedSQLite(t testing.TB, dir, match string) (*sql.DB, *atomic.Int64) {
	t.Helper()
	n := new(atomic.Int64)
	db := openHookedSQLite(t, dir, hooks{query: func(q string, rows driver.Rows, err error) (driver.Rows, error) {
		if strings.Contains(q, match) {
			n.Add(1)
		}
		return rows, err
	}})
	return db, n
}

// TestGetGrantCacheHit: a grant read once is answered from the cache, the
// same record, without a query and without an allocation; with the cache
// off (either option), every GetGrant is a query. A grant not found is
// never cached.
func TestGetGrantCacheHit(t *testing.T) {
	ctx := context.Background()
	t.Run("On", func(t *testing.T) {
		db, queries := openCountedSQLite(t, t.TempDir(), grantByIDQuery)
		s := newStore(t, db, sqlstore.WithDialect(sqlstore.SQLite), sqlstore.WithPollInterval(0))
		id, _ := newTestGrant(t, s)
		first, err := s.GetGrant(ctx, id)
		require.NoError(t, err)
		require.Equal(t, int64(1), queries.Load(), "the first GetGrant reads the database")
		for range 100 {
			got, err := s.GetGrant(ctx, id)
			require.NoError(t, err)
			require.Same(t, first, got, "a repeated GetGrant did not come from the cache")
		}
		assert.Equal(t, int64(1), queries.Load(), "GetGrant queried the database on a cache hit")
		assert.Zero(t, testing.AllocsPerRun(1000, func() { _, _ = s.GetGrant(ctx, id) }), "allocations of a cache hit")

		for i := range 3 {
			_, err := s.GetGrant(ctx, "gr_no_such_grant")
			require.ErrorIs(t, err, oauth.ErrGrantNotFound)
			assert.Equal(t, int64(2+i), queries.Load(), "a grant not found was cached")
		}
	})
	for name, opt := range map[string]sqlstore.Option{
		"OffBySize": sqlstore.WithCacheSize(0),
		"OffByTTL":  sqlstore.WithCacheTTL(0),
	} {
		t.Run(name, func(t *testing.T) {
			db, queries := openCountedSQLite(t, t.TempDir(), grantByIDQuery)
			s := newStore(t, db, sqlstore.WithDialect(sqlstore.SQLite), opt)
			id, _ := newTestGrant(t, s)
			for i := range 5 {
				_, err := s.GetGrant(ctx, id)
				require.NoError(t, err)
				require.Equal(t, int64(i+1), queries.Load(), "GetGrant with the cache off did not query")
			}
		})
	}
}

// TestGetGrantCacheIsBounded: the grants cached stay within the cache
// size, as keys do.
func TestGetGrantCacheIsBounded(t *testing.T) {
	ctx := context.Background()
	db, _ := openSQLite(t)
	s := newStore(t, db, sqlstore.WithCacheSize(64), sqlstore.WithPollInterval(0))
	for range 200 {
		id, _ := newTestGrant(t, s)
		_, err := s.GetGrant(ctx, id)
		require.NoError(t, err)
	}
	// 32 shards of ceil(64/32) entries each, for grants as for keys.
	if n := sqlstore.GrantCacheLen(s); n == 0 || n > 64 {
		t.Fatalf("%d cached grants, want some and at most 64", n)
	}
}

// TestGetGrantSeesOwnChanges: each change to a grant through a store is
// seen by that store's next GetGrant, at once, with no poll and a TTL of
// an hour: only the store's own invalidation can do that.
func TestGetGrantSeesOwnChanges(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name   string
		change func(t *testing.T, s *sqlstore.Store, id string, refresh apiauth.KeyDigest)
		seen   func(g *oauth.Grant, err error) bool
	}{
		{
			name: "RevokeGrant",
			change: func(t *testing.T, s *sqlstore.Store, id string, _ apiauth.KeyDigest) {
				require.NoError(t, s.RevokeGrant(ctx, id, time.Now()))
			},
			seen: func(g *oauth.Grant, err error) bool { return err == nil && !g.RevokedAt.IsZero() },
		},
		{
			name: "RotateRefresh",
			change: func(t *testing.T, s *sqlstore.Store, _ string, refresh apiauth.KeyDigest) {
				_, err := s.RotateRefresh(ctx, refresh, rotatedTo, time.Now(), 2*time.Hour)
				require.NoError(t, err)
			},
			seen: func(g *oauth.Grant, err error) bool { return err == nil && g.Refresh == rotatedTo },
		},
		{
			name: "RotateRefreshReuse",
			change: func(t *testing.T, s *sqlstore.Store, _ string, refresh apiauth.KeyDigest) {
				_, err := s.RotateRefresh(ctx, refresh, randDigest(t), time.Now(), time.Hour)
				require.NoError(t, err)
				// The grant is cached again, rotated, then the replaced
				// token comes back.
				g, err := s.GetGrant(ctx, grantOfRefresh(t, s, refresh))
				require.NoError(t, err)
				require.True(t, g.RevokedAt.IsZero())
				_, err = s.RotateRefresh(ctx, refresh, randDigest(t), time.Now(), time.Hour)
				require.ErrorIs(t, err, oauth.ErrRefreshReused)
			},
			seen: func(g *oauth.Grant, err error) bool { return err == nil && !g.RevokedAt.IsZero() },
		},
		{
			name: "Sweep",
			change: func(t *testing.T, s *sqlstore.Store, _ string, _ apiauth.KeyDigest) {
				// Two days on, the grant expired more than an hour ago
				// by the time given (the system clock bounds how far a
				// sweep goes: the grant is made to be expired by it).
				require.NoError(t, sqlstore.SweepGrants(ctx, s, time.Now().Add(48*time.Hour)))
			},
			seen: func(g *oauth.Grant, err error) bool { return errors.Is(err, oauth.ErrGrantNotFound) },
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			db, _ := openSQLite(t)
			s := newStore(t, db, sqlstore.WithPollInterval(0), sqlstore.WithCacheTTL(time.Hour))
			var id string
			var refresh apiauth.KeyDigest
			if tc.name == "Sweep" {
				id = newExpiredGrant(t, s)
			} else {
				id, refresh = newTestGrant(t, s)
			}
			before, err := s.GetGrant(ctx, id)
			require.NoError(t, err)
			again, err := s.GetGrant(ctx, id)
			require.NoError(t, err)
			require.Same(t, before, again, "cached")

			tc.change(t, s, id, refresh)

			got, err := s.GetGrant(ctx, id)
			assert.True(t, tc.seen(got, err), "GetGrant after %s through the same store: %s", tc.name, describeGrant(got, err))
			assert.False(t, tc.seen(before, nil), "the record returned before the change changed")
		})
	}
}

// rotatedTo is the refresh token TestGetGrantSeesOwnChanges rotates to.
var rotatedTo = apiauth.DigestKey("rt_rotated_to")

// grantOfRefresh returns the ID of the grant of refresh token d.
func grantOfRefresh(t *testing.T, s oauth.GrantStore, d apiauth.KeyDigest) string {
	t.Helper()
	g, err := s.LookupRefresh(context.Background(), d)
	require.NoError(t, err)
	return g.ID
}

// newExpiredGrant creates a grant through s that expired two hours ago.
func newExpiredGrant(t *testing.T, s oauth.GrantStore) string {
	t.Helper()
	at := time.Now().Add(-3 * time.Hour)
	c := &oauth.Code{Digest: randDigest(t), GrantID: fmt.Sprintf("gr_expired_%d_%d", at.UnixNano(), grantSeq.Add(1)), ClientID: "c",
		CreatedAt: at, ExpiresAt: at.Add(time.Minute), GrantExpiresAt: at.Add(time.Hour)}
	require.NoError(t, s.CreateCode(context.Background(), c))
	_, err := s.RedeemCode(context.Background(), c.Digest, randDigest(t), at, time.Hour)
	require.NoError(t, err)
	return c.GrantID
}

// describeGrant summarizes a GetGrant answer for a failure message.
func describeGrant(g *oauth.Grant, err error) string {
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("grant %s, revoked at %v, refresh %x…, idle expiry %v", g.ID, g.RevokedAt, g.Refresh[:4], g.IdleExpiresAt)
}

// testGrantChangedElsewhere caches a grant in b, changes it through a (or
// change), and checks that b's GetGrant sees the change within a second.
func testGrantChangedElsewhere(t *testing.T, a, b *sqlstore.Store, change func(id string)) {
	t.Helper()
	ctx := context.Background()
	id, _ := newTestGrant(t, a)
	// A poll may report the new grant while b reads it, and keep b from
	// caching that read (it cannot tell a creation from a change): read
	// until b answers from its cache.
	eventually(t, 5*time.Second, "b caches the grant", func() bool {
		before, err := b.GetGrant(ctx, id)
		require.NoError(t, err)
		again, err := b.GetGrant(ctx, id)
		require.NoError(t, err)
		return before == again
	})
	if change == nil {
		change = func(id string) { require.NoError(t, a.RevokeGrant(ctx, id, time.Now())) }
	}
	change(id)
	took := eventually(t, time.Second, "the other instance sees the revocation", func() bool {
		g, err := b.GetGrant(ctx, id)
		require.NoError(t, err)
		return !g.RevokedAt.IsZero()
	})
	t.Logf("revocation seen by the other instance after %v", took)
}

// TestGrantRevokedElsewhere: a grant cached by one instance and revoked
// through another, or by SQL run by hand, is seen revoked by the first
// at its next poll; the TTL (a minute) cannot do it.
func TestGrantRevokedElsewhere(t *testing.T) {
	_, dir := openSQLite(t)
	a := newStore(t, openSQLiteIn(t, dir))
	b := newStore(t, openSQLiteIn(t, dir), sqlstore.WithPollInterval(20*time.Millisecond), sqlstore.WithCacheTTL(time.Minute))
	t.Run("RevokeGrant", func(t *testing.T) { testGrantChangedElsewhere(t, a, b, nil) })
	t.Run("RotateRefreshReuse", func(t *testing.T) {
		testGrantChangedElsewhere(t, a, b, func(id string) {
			ctx := context.Background()
			g, err := a.GetGrant(ctx, id)
			require.NoError(t, err)
			_, err = a.RotateRefresh(ctx, g.Refresh, randDigest(t), time.Now(), time.Hour)
			require.NoError(t, err)
			_, err = a.RotateRefresh(ctx, g.Refresh, randDigest(t), time.Now(), time.Hour)
			require.ErrorIs(t, err, oauth.ErrRefreshReused)
		})
	})
	t.Run("ByHandSQL", func(t *testing.T) {
		db := openSQLiteIn(t, dir)
		testGrantChangedElsewhere(t, a, b, func(id string) {
			_, err := db.Exec("UPDATE apiauth_oauth_grants SET revoked_at = ? WHERE grant_id = ?", time.Now().UnixMicro(), id)
			require.NoError(t, err)
		})
	})
}

// TestPostgresGrantRevokedElsewhere is TestGrantRevokedElsewhere on
// PostgreSQL: by poll, and by notification alone (no poll, a TTL of a
// minute), through a store or by SQL run by hand.
func TestPostgresGrantRevokedElsewhere(t *testing.T) {
	u := postgresURL(t)
	a := newPostgresStore(t, openPostgresURL(t, u))
	t.Run("PollOnly", func(t *testing.T) {
		b := newStore(t, openPostgresURL(t, u), sqlstore.WithPollInterval(20*time.Millisecond), sqlstore.WithCacheTTL(time.Minute))
		testGrantChangedElsewhere(t, a, b, nil)
	})
	t.Run("NotifyOnly", func(t *testing.T) {
		b := newPostgresStore(t, openPostgresURL(t, u), sqlstore.WithPollInterval(0), sqlstore.WithCacheTTL(time.Minute))
		waitListening(t, a, b)
		testGrantChangedElsewhere(t, a, b, nil)
	})
	t.Run("NotifyOnlyByHandSQL", func(t *testing.T) {
		db := openPostgresURL(t, u)
		b := newPostgresStore(t, openPostgresURL(t, u), sqlstore.WithPollInterval(0), sqlstore.WithCacheTTL(time.Minute))
		waitListening(t, a, b)
		testGrantChangedElsewhere(t, a, b, func(id string) {
			_, err := db.Exec("UPDATE apiauth_oauth_grants SET revoked_at = now() - interval '1 second' WHERE grant_id = $1", id)
			require.NoError(t, err)
		})
	})
	t.Run("NotifyOnlyLongID", func(t *testing.T) {
		// An ID too long for a notification's payload: the change is
		// announced as "some grant", and b drops every grant.
		b := newPostgresStore(t, openPostgresURL(t, u), sqlstore.WithPollInterval(0), sqlstore.WithCacheTTL(time.Minute))
		waitListening(t, a, b)
		ctx := context.Background()
		now := time.Now()
		c := &oauth.Code{Digest: randDigest(t), GrantID: strings.Repeat("g", 9000) + fmt.Sprint(now.UnixNano()), ClientID: "c",
			CreatedAt: now, ExpiresAt: now.Add(time.Minute), GrantExpiresAt: now.Add(time.Hour)}
		require.NoError(t, a.CreateCode(ctx, c))
		_, err := a.RedeemCode(ctx, c.Digest, randDigest(t), now, time.Hour)
		require.NoError(t, err)
		other, _ := newTestGrant(t, a)
		for _, id := range []string{c.GrantID, other} {
			_, err := b.GetGrant(ctx, id)
			require.NoError(t, err)
		}
		require.NoError(t, a.RevokeGrant(ctx, c.GrantID, time.Now()))
		eventually(t, time.Second, "the other instance sees the revocation", func() bool {
			g, err := b.GetGrant(ctx, c.GrantID)
			require.NoError(t, err)
			return !g.RevokedAt.IsZero()
		})
	})
}

// TestGrantChangeDetachesReadInFlight is TestChangeDetachesReadInFlight for
// GetGrant: a GetGrant that starts after a change returned (or after its
// notification arrived) is never answered by a database read that started
// before it, and that read does not cache what it read.
func TestGrantChangeDetachesReadInFlight(t *testing.T) {
	ctx := context.Background()
	type env struct {
		s, other *sqlstore.Store // other: another instance on the same file
		notify   func(payload string)
	}
	cases := []struct {
		name string
		// exists: the grant is started before the read in flight;
		// otherwise only its code is created, and that read finds
		// nothing.
		exists bool
		change func(t *testing.T, e env, c *oauth.Code, refresh apiauth.KeyDigest)
		// seen reports whether an answer reflects the change.
		seen func(g *oauth.Grant) bool
	}{
		{
			name:   "RevokeGrant",
			exists: true,
			change: func(t *testing.T, e env, c *oauth.Code, _ apiauth.KeyDigest) {
				require.NoError(t, e.s.RevokeGrant(ctx, c.GrantID, time.Now()))
			},
			seen: func(g *oauth.Grant) bool { return g != nil && !g.RevokedAt.IsZero() },
		},
		{
			name:   "RotateRefresh",
			exists: true,
			change: func(t *testing.T, e env, _ *oauth.Code, refresh apiauth.KeyDigest) {
				_, err := e.s.RotateRefresh(ctx, refresh, rotatedTo, time.Now(), time.Hour)
				require.NoError(t, err)
			},
			seen: func(g *oauth.Grant) bool { return g != nil && g.Refresh == rotatedTo },
		},
		{
			name:   "RotateRefreshReuse",
			exists: true,
			change: func(t *testing.T, e env, _ *oauth.Code, refresh apiauth.KeyDigest) {
				// Rotated elsewhere, unnoticed; then the replaced token
				// comes back here.
				_, err := e.other.RotateRefresh(ctx, refresh, randDigest(t), time.Now(), time.Hour)
				require.NoError(t, err)
				_, err = e.s.RotateRefresh(ctx, refresh, randDigest(t), time.Now(), time.Hour)
				require.ErrorIs(t, err, oauth.ErrRefreshReused)
			},
			seen: func(g *oauth.Grant) bool { return g != nil && !g.RevokedAt.IsZero() },
		},
		{
			name:   "NotifiedRevocationElsewhere",
			exists: true,
			change: func(t *testing.T, e env, c *oauth.Code, _ apiauth.KeyDigest) {
				require.NoError(t, e.other.RevokeGrant(ctx, c.GrantID, time.Now()))
				e.notify("grant:" + c.GrantID)
			},
			seen: func(g *oauth.Grant) bool { return g != nil && !g.RevokedAt.IsZero() },
		},
		{
			name:   "NotifiedAllGrants",
			exists: true,
			change: func(t *testing.T, e env, c *oauth.Code, _ apiauth.KeyDigest) {
				require.NoError(t, e.other.RevokeGrant(ctx, c.GrantID, time.Now()))
				e.notify("grants")
			},
			seen: func(g *oauth.Grant) bool { return g != nil && !g.RevokedAt.IsZero() },
		},
		{
			name:   "RedeemCode",
			exists: false,
			change: func(t *testing.T, e env, c *oauth.Code, _ apiauth.KeyDigest) {
				_, err := e.s.RedeemCode(ctx, c.Digest, randDigest(t), time.Now(), time.Hour)
				require.NoError(t, err)
			},
			seen: func(g *oauth.Grant) bool { return g != nil },
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			h := newHold(grantByIDQuery)
			notified := make(chan func(string), 1)
			listener := sqlstore.ListenerFunc(func(ctx context.Context, _ string, notify func(string)) error {
				notified <- notify
				<-ctx.Done()
				return ctx.Err()
			})
			e := env{
				s: newStore(t, openHeldSQLite(t, dir, h), sqlstore.WithDialect(sqlstore.SQLite),
					sqlstore.WithPollInterval(0), sqlstore.WithListener(listener),
					sqlstore.WithQueryTimeout(time.Minute)),
				other:  newStore(t, openSQLiteIn(t, dir), sqlstore.WithPollInterval(0)),
				notify: <-notified,
			}
			c := newTestCode(t, e.other)
			refresh := randDigest(t)
			if tc.exists {
				_, err := e.other.RedeemCode(ctx, c.Digest, refresh, time.Now(), time.Hour)
				require.NoError(t, err)
			}

			// A GetGrant reads the row as it was, and is held in flight.
			h.armed.Store(true)
			type result struct {
				g   *oauth.Grant
				err error
			}
			get := func() <-chan result {
				ch := make(chan result, 1)
				go func() {
					g, err := e.s.GetGrant(ctx, c.GrantID)
					ch <- result{g, err}
				}()
				return ch
			}
			inFlight := get()
			<-h.held

			tc.change(t, e, c, refresh)

			// A GetGrant that starts now must not wait for the held
			// read, nor be answered by it. Should it wait anyway (the
			// defect), the held read is let go after a while, so that
			// the test fails on the answer rather than hangs.
			after := get()
			var got result
			select {
			case got = <-after:
			case <-time.After(5 * time.Second):
				h.Release()
				got = <-after
			}
			h.Release()
			old := <-inFlight
			if got.err != nil && !errors.Is(got.err, oauth.ErrGrantNotFound) {
				t.Fatalf("GetGrant after the change: %v", got.err)
			}
			assert.True(t, tc.seen(got.g), "a GetGrant that started after the change was answered by a read that started before it: %s", describeGrant(got.g, got.err))
			// The read in flight started before the change: it may
			// answer its own caller with the old row, but must not
			// cache it.
			assert.False(t, tc.seen(old.g), "the held read should have seen the row as it was")
			g, err := e.s.GetGrant(ctx, c.GrantID)
			if err != nil && !errors.Is(err, oauth.ErrGrantNotFound) {
				t.Fatal(err)
			}
			assert.True(t, tc.seen(g), "the read that started before the change cached the row as it was: %s", describeGrant(g, err))
		})
	}
}

// TestGetGrantConcurrentRevoke: goroutines call GetGrant without pause
// while another revokes the grant; no GetGrant that starts after
// RevokeGrant returned gets the grant unrevoked. With the default TTL
// nearly every read is a cache hit; with a TTL shorter than the cache's
// clock tick, entries expire all the time, so that reads from the
// database are under way when the revocation lands. Run it with -race.
func TestGetGrantConcurrentRevoke(t *testing.T) {
	for _, ttl := range []time.Duration{sqlstore.DefaultCacheTTL, time.Millisecond} {
		t.Run(fmt.Sprint("TTL", ttl), func(t *testing.T) {
			db, _ := openSQLite(t)
			s := newStore(t, db, sqlstore.WithCacheTTL(ttl))
			const readers, rounds = 8, 25
			ctx := context.Background()
			for round := range rounds {
				id, _ := newTestGrant(t, s)
				var revoked atomic.Bool
				stop := make(chan struct{})
				var wg sync.WaitGroup
				var reads, stale, after atomic.Int64
				for range readers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for {
							select {
							case <-stop:
								return
							default:
							}
							startedAfter := revoked.Load()
							g, err := s.GetGrant(ctx, id)
							if err != nil {
								t.Errorf("GetGrant: %v", err)
								return
							}
							reads.Add(1)
							if startedAfter {
								after.Add(1)
								if g.RevokedAt.IsZero() {
									stale.Add(1)
								}
							}
						}
					}()
				}
				// Let the readers read, then revoke while they do.
				eventually(t, 5*time.Second, "the readers start", func() bool { return reads.Load() > readers })
				require.NoError(t, s.RevokeGrant(ctx, id, time.Now()))
				revoked.Store(true)
				eventually(t, 5*time.Second, "reads after the revocation", func() bool { return after.Load() > 4*readers })
				close(stop)
				wg.Wait()
				if n := stale.Load(); n > 0 {
					t.Fatalf("round %d: %d of %d GetGrant that started after RevokeGrant returned got the grant unrevoked", round, n, after.Load())
				}
			}
		})
	}
}

// testUpgradeGrantsCache builds a database at schema version 4 (grants
// without updated_at) with a grant in it, written as that release's store
// wrote it, migrates it to the latest version, and checks that the grant
// reads back whole, and that a revocation through one instance reaches
// another that cached it, by poll and (PostgreSQL) by notification alone:
// the triggers work on rows older than them. sqliteTimes says how times
// are stored: Unix microseconds (SQLite) or timestamps (PostgreSQL).
func testUpgradeGrantsCache(t *testing.T, db *sql.DB, sqliteTimes bool, newInstance func(t *testing.T, opts ...sqlstore.Option) *sqlstore.Store) {
	ctx := context.Background()
	old := newUnmigratedStore(t, db)
	require.NoError(t, sqlstore.MigrateTo(ctx, old, 4))
	now := time.Now().Truncate(time.Microsecond)
	refresh := randDigest(t)
	var created, expires, idle any = now, now.Add(time.Hour), now.Add(30 * time.Minute)
	insert := `INSERT INTO apiauth_oauth_grants (grant_id, client_id, subject, tenant, scopes, created_at, expires_at, idle_expires_at, revoked_at, refresh_digest)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, $9)`
	insertRefresh := `INSERT INTO apiauth_oauth_refresh_tokens (digest, grant_id, seq, issued_at) VALUES ($1, $2, 1, $3)`
	if sqliteTimes {
		created, expires, idle = now.UnixMicro(), now.Add(time.Hour).UnixMicro(), now.Add(30*time.Minute).UnixMicro()
		r := strings.NewReplacer("$1", "?", "$2", "?", "$3", "?", "$4", "?", "$5", "?", "$6", "?", "$7", "?", "$8", "?", "$9", "?")
		insert, insertRefresh = r.Replace(insert), r.Replace(insertRefresh)
	}
	const id = "gr_v4"
	_, err := db.ExecContext(ctx, insert, id, "app", "alice", "acme", "read orders:write", created, expires, idle, refresh[:])
	require.NoError(t, err, "a grant as version 4 stored it")
	_, err = db.ExecContext(ctx, insertRefresh, refresh[:], id, created)
	require.NoError(t, err, "its refresh token")
	// The new store on the old schema, before Migrate: a store failure,
	// not "not found".
	if _, err := old.GetGrant(ctx, id); err == nil || errors.Is(err, oauth.ErrGrantNotFound) {
		t.Fatalf("GetGrant at version 4: %v, want a store failure (no such column)", err)
	}

	a := newInstance(t) // Migrate, as on the start of the new release
	var v int
	require.NoError(t, db.QueryRowContext(ctx, "SELECT MAX(version) FROM apiauth_schema_migrations").Scan(&v))
	if v != sqlstore.SchemaVersion() || v < 5 {
		t.Fatalf("version %d after the upgrade, want %d (5 or later)", v, sqlstore.SchemaVersion())
	}
	got, err := a.GetGrant(ctx, id)
	require.NoError(t, err, "GetGrant of a grant of version 4")
	want := &oauth.Grant{ID: id, ClientID: "app", Subject: "alice", Tenant: "acme", Scopes: []apiauth.Scope{apiauth.Read, "orders:write"},
		CreatedAt: now, ExpiresAt: now.Add(time.Hour), IdleExpiresAt: now.Add(30 * time.Minute), Refresh: refresh}
	checkUpgradedGrant(t, "a grant of version 4 after the upgrade", got, want)
	require.NoError(t, a.Migrate(ctx), "Migrate again")

	// Rotated through a, seen by b at its next poll.
	b := newInstance(t, sqlstore.WithPollInterval(20*time.Millisecond), sqlstore.WithCacheTTL(time.Minute))
	_, err = b.GetGrant(ctx, id)
	require.NoError(t, err)
	next := randDigest(t)
	_, err = a.RotateRefresh(ctx, refresh, next, time.Now(), time.Hour)
	require.NoError(t, err, "RotateRefresh of a grant of version 4")
	eventually(t, time.Second, "b sees the rotation of a grant of version 4", func() bool {
		g, err := b.GetGrant(ctx, id)
		require.NoError(t, err)
		return g.Refresh == next
	})
	// New grants work, and are revoked elsewhere as well.
	testGrantChangedElsewhere(t, a, b, nil)
}

func TestSQLiteUpgradeGrantsCache(t *testing.T) {
	_, dir := openSQLite(t)
	db := openSQLiteIn(t, dir)
	testUpgradeGrantsCache(t, db, true, func(t *testing.T, opts ...sqlstore.Option) *sqlstore.Store {
		return newStore(t, openSQLiteIn(t, dir), opts...)
	})
}

func TestPostgresUpgradeGrantsCache(t *testing.T) {
	db := openPostgresNewSchema(t)
	var notifyOnly *sqlstore.Store
	testUpgradeGrantsCache(t, db, false, func(t *testing.T, opts ...sqlstore.Option) *sqlstore.Store {
		s := newPostgresStore(t, db, opts...)
		if notifyOnly == nil {
			notifyOnly = s
		}
		return s
	})
	// A grant of version 4, revoked after the upgrade, is announced: a
	// store that does not poll sees it.
	ctx := context.Background()
	b := newPostgresStore(t, db, sqlstore.WithPollInterval(0), sqlstore.WithCacheTTL(time.Minute))
	waitListening(t, notifyOnly, b)
	_, err := b.GetGrant(ctx, "gr_v4")
	require.NoError(t, err)
	require.NoError(t, notifyOnly.RevokeGrant(ctx, "gr_v4", time.Now()))
	eventually(t, time.Second, "a notification of the revocation of a grant of version 4", func() bool {
		g, err := b.GetGrant(ctx, "gr_v4")
		require.NoError(t, err)
		return !g.RevokedAt.IsZero()
	})
}

// TestGetGrantCacheTTL: with neither poll nor notification, a grant
// revoked elsewhere is seen once its cache entry expires, and no later:
// the TTL is the worst case. While the database is down, a cached grant
// keeps being answered until its entry expires; then GetGrant fails with
// an error that is no verdict on the grant.
func TestGetGrantCacheTTL(t *testing.T) {
	ctx := context.Background()
	const ttl = time.Second
	dir := t.TempDir()
	a := newStore(t, openSQLiteIn(t, dir))
	db, state := openFlakySQLite(t, dir)
	b := newStore(t, db, sqlstore.WithDialect(sqlstore.SQLite), sqlstore.WithPollInterval(0), sqlstore.WithCacheTTL(ttl),
		sqlstore.WithQueryTimeout(sqlstore.DefaultQueryTimeout))

	id, _ := newTestGrant(t, a)
	_, err := b.GetGrant(ctx, id)
	require.NoError(t, err)
	require.NoError(t, a.RevokeGrant(ctx, id, time.Now()))
	took := eventually(t, 10*ttl, "the revocation seen when the entry expires", func() bool {
		g, err := b.GetGrant(ctx, id)
		require.NoError(t, err)
		return !g.RevokedAt.IsZero()
	})
	t.Logf("revocation seen after %v, TTL %v", took, ttl)

	id, _ = newTestGrant(t, a)
	cached, err := b.GetGrant(ctx, id)
	require.NoError(t, err)
	loaded := time.Now()
	state.Store(refuse)
	got, err := b.GetGrant(ctx, id)
	require.NoError(t, err, "a cached grant while the database is down")
	require.Same(t, cached, got)
	time.Sleep(time.Until(loaded.Add(ttl + 50*time.Millisecond)))
	_, err = b.GetGrant(ctx, id)
	if err == nil || errors.Is(err, oauth.ErrGrantNotFound) {
		t.Fatalf("GetGrant after the entry expired, the database down: %v; want a store failure", err)
	}
	state.Store(up)
	eventually(t, 5*time.Second, "GetGrant after the outage", func() bool {
		_, err := b.GetGrant(ctx, id)
		return err == nil
	})
}
