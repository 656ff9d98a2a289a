package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/apiauth/apiauth"
	"github.com/apiauth/apiauth/oauth"
	"github.com/apiauth/apiauth/sqlstore"
)

// benchVerify verifies key through keys b.N times.
func benchVerify(b *testing.B, keys *apiauth.Keys, key string) {
	ctx := context.Background()
	if _, err := keys.Verify(ctx, key); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := keys.Verify(ctx, key); err != nil {
			b.Fatal(err)
		}
	}
}

func benchVerifyParallel(b *testing.B, keys *apiauth.Keys, key string) {
	ctx := context.Background()
	if _, err := keys.Verify(ctx, key); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := keys.Verify(ctx, key); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkMemoryLookup is the baseline: Keys.Verify on MemoryKeyStore.
func BenchmarkMemoryLookup(b *testing.B) {
	keys := apiauth.NewMemoryKeys()
	key, _ := newKey(b, keys, "acme")
	b.Run("serial", func(b *testing.B) { benchVerify(b, keys, key) })
	b.Run("parallel", func(b *testing.B) { benchVerifyParallel(b, keys, key) })
}

// BenchmarkSQLCachedLookup is Keys.Verify on a Store whose cache holds the
// key (default TTL: one database query per key every 5 s).
func BenchmarkSQLCachedLookup(b *testing.B) {
	db, _ := openSQLite(b)
	s := newStore(b, db, sqlstore.WithQueryTimeout(sqlstore.DefaultQueryTimeout))
	keys := apiauth.NewKeys(s)
	key, _ := newKey(b, keys, "acme")
	b.Run("serial", func(b *testing.B) { benchVerify(b, keys, key) })
	b.Run("parallel", func(b *testing.B) { benchVerifyParallel(b, keys, key) })
}

// BenchmarkSQLiteMiss is Keys.Verify with the cache off: one indexed query
// by digest per verification.
func BenchmarkSQLiteMiss(b *testing.B) {
	db, _ := openSQLite(b)
	s := newStore(b, db, sqlstore.WithCacheSize(0))
	keys := apiauth.NewKeys(s)
	key, _ := newKey(b, keys, "acme")
	b.Run("serial", func(b *testing.B) { benchVerify(b, keys, key) })
	b.Run("parallel", func(b *testing.B) { benchVerifyParallel(b, keys, key) })
}

// BenchmarkPostgresMiss is BenchmarkSQLiteMiss on PostgreSQL over loopback.
func BenchmarkPostgresMiss(b *testing.B) {
	db := openPostgres(b)
	s := newStore(b, db, sqlstore.WithCacheSize(0))
	keys := apiauth.NewKeys(s)
	key, _ := newKey(b, keys, "acme")
	b.Run("serial", func(b *testing.B) { benchVerify(b, keys, key) })
	b.Run("parallel", func(b *testing.B) { benchVerifyParallel(b, keys, key) })
}

// keys100k is a SQLite database holding 100,000 keys, made once.
var keys100k struct {
	once sync.Once
	dir  string
	keys []string
	err  error
}

func setup100k(b *testing.B) (string, []string) {
	keys100k.once.Do(func() {
		dir, err := mkdirTemp()
		if err != nil {
			keys100k.err = err
			return
		}
		keys100k.dir = dir
		db, err := sql.Open("sqlite", sqliteDSN(dir))
		if err != nil {
			keys100k.err = err
			return
		}
		defer db.Close()
		s, err := sqlstore.New(db, sqlstore.WithCacheSize(0))
		if err != nil {
			keys100k.err = err
			return
		}
		defer s.Close()
		ctx := context.Background()
		if keys100k.err = s.Migrate(ctx); keys100k.err != nil {
			return
		}
		tx, err := db.Begin()
		if err != nil {
			keys100k.err = err
			return
		}
		defer tx.Rollback() //nolint:errcheck
		for i := 0; i < 100000; i++ {
			key, err := apiauth.GenerateKey("")
			if err != nil {
				keys100k.err = err
				return
			}
			d := apiauth.DigestKey(key)
			if _, err := tx.Exec(`INSERT INTO apiauth_keys (id, digest, tenant, scopes, created_at) VALUES (?, ?, ?, 'read', ?)`,
				fmt.Sprint("key_", i), d[:], fmt.Sprint("tenant_", i%1000), int64(i)); err != nil {
				keys100k.err = err
				return
			}
			keys100k.keys = append(keys100k.keys, key)
		}
		keys100k.err = tx.Commit()
	})
	if keys100k.err != nil {
		b.Fatal(keys100k.err)
	}
	return keys100k.dir, keys100k.keys
}

// Benchmark100kKeys verifies keys picked at random across 100,000 in the
// table, in parallel: with the default cache (10,000 entries, so most
// lookups miss), with a warm cache that holds them all (a one-minute TTL,
// so that every lookup hits), and with no cache (every lookup a query).
func Benchmark100kKeys(b *testing.B) {
	dir, all := setup100k(b)
	for _, c := range []struct {
		name string
		opts []sqlstore.Option
	}{
		{"defaultCache", nil},
		{"warmCacheAll", []sqlstore.Option{sqlstore.WithCacheSize(len(all)), sqlstore.WithCacheTTL(time.Minute)}},
		{"noCache", []sqlstore.Option{sqlstore.WithCacheSize(0)}},
	} {
		b.Run(c.name, func(b *testing.B) {
			db := openSQLiteIn(b, dir)
			s := newStore(b, db, c.opts...)
			keys := apiauth.NewKeys(s)
			ctx := context.Background()
			if c.name == "warmCacheAll" {
				for _, k := range all {
					if _, err := keys.Verify(ctx, k); err != nil {
						b.Fatal(err)
					}
				}
			}
			var n sync.Mutex
			seed := 0
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				n.Lock()
				seed++
				i := seed * 7919
				n.Unlock()
				for pb.Next() {
					i = (i*1103515245 + 12345) & 0x7fffffff
					if _, err := keys.Verify(ctx, all[i%len(all)]); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkStoreLookup is LookupKey alone, without Keys.Verify's checksum
// and SHA-256: MemoryKeyStore against a cache hit.
func BenchmarkStoreLookup(b *testing.B) {
	ctx := context.Background()
	mem := apiauth.NewMemoryKeyStore()
	mk := apiauth.NewKeys(mem)
	_, mrec := newKey(b, mk, "acme")
	db, _ := openSQLite(b)
	s := newStore(b, db)
	_, srec := newKey(b, apiauth.NewKeys(s), "acme")
	b.Run("memory", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			_, _ = mem.LookupKey(ctx, mrec.Digest)
		}
	})
	b.Run("sql", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			_, _ = s.LookupKey(ctx, srec.Digest)
		}
	})
}

// newBenchGrant creates and redeems a code through s, and returns the
// grant's ID.
func newBenchGrant(b *testing.B, s *sqlstore.Store) string {
	ctx := context.Background()
	now := time.Now()
	c := &oauth.Code{Digest: randDigest(b), GrantID: fmt.Sprint("gr_bench_", now.UnixNano()), ClientID: "c",
		CreatedAt: now, ExpiresAt: now.Add(time.Minute), GrantExpiresAt: now.Add(time.Hour)}
	if err := s.CreateCode(ctx, c); err != nil {
		b.Fatal(err)
	}
	if _, err := s.RedeemCode(ctx, c.Digest, randDigest(b), now, time.Hour); err != nil {
		b.Fatal(err)
	}
	return c.GrantID
}

// benchGetGrant runs GetGrant of a live grant on s, serially and in
// parallel: what the JWT verifier does for every request with an access
// token of the authorization-code flow.
func benchGetGrant(b *testing.B, s *sqlstore.Store) {
	id := newBenchGrant(b, s)
	ctx := context.Background()
	if _, err := s.GetGrant(ctx, id); err != nil {
		b.Fatal(err)
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := s.GetGrant(ctx, id); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.GetGrant(ctx, id); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkGetGrantCached is GetGrant on a SQLite Store with the default
// cache, which holds the grant.
func BenchmarkGetGrantCached(b *testing.B) {
	db, _ := openSQLite(b)
	benchGetGrant(b, newStore(b, db))
}

// BenchmarkGetGrantUncached is GetGrant with the cache off: one read by
// primary key per call.
func BenchmarkGetGrantUncached(b *testing.B) {
	db, _ := openSQLite(b)
	benchGetGrant(b, newStore(b, db, sqlstore.WithCacheSize(0)))
}
