package sqlstore_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apiauth/apiauth"
	"github.com/apiauth/apiauth/apiauthtest"
	"github.com/apiauth/apiauth/sqlstore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSQLiteConformance(t *testing.T) {
	apiauthtest.TestKeyStore(t, func(t *testing.T) apiauth.KeyStore {
		db, _ := openSQLite(t)
		return newStore(t, db)
	})
}

func TestSQLiteConformanceSharedUncached(t *testing.T) {
	// One database for every subtest, and no cache: the queries alone.
	db, _ := openSQLite(t)
	s := newStore(t, db, sqlstore.WithCacheSize(0))
	apiauthtest.TestKeyStore(t, func(*testing.T) apiauth.KeyStore { return s })
}

func TestPostgresConformance(t *testing.T) {
	db := openPostgres(t)
	apiauthtest.TestKeyStore(t, func(t *testing.T) apiauth.KeyStore {
		return newPostgresStore(t, db)
	})
}

func TestPostgresConformanceUncached(t *testing.T) {
	db := openPostgres(t)
	s := newStore(t, db, sqlstore.WithCacheSize(0))
	apiauthtest.TestKeyStore(t, func(*testing.T) apiauth.KeyStore { return s })
}

func TestMigrateIsIdempotent(t *testing.T) {
	ctx := context.Background()
	check := func(t *testing.T, db *sql.DB) {
		s := newStore(t, db)
		for i := 0; i < 3; i++ {
			if err := s.Migrate(ctx); err != nil {
				t.Fatalf("Migrate #%d: %v", i+2, err)
			}
		}
		var n int
		if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM apiauth_schema_migrations").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != sqlstore.SchemaVersion() {
			t.Fatalf("%d versions recorded, want %d", n, sqlstore.SchemaVersion())
		}
	}
	t.Run("SQLite", func(t *testing.T) {
		db, _ := openSQLite(t)
		check(t, db)
		if got := newStore(t, db).Dialect(); got != sqlstore.SQLite {
			t.Fatalf("detected %v, want sqlite", got)
		}
	})
	t.Run("Postgres", func(t *testing.T) {
		db := openPostgres(t)
		check(t, db)
		if got := newStore(t, db).Dialect(); got != sqlstore.Postgres {
			t.Fatalf("detected %v, want postgres", got)
		}
	})
	for _, d := range []sqlstore.Dialect{sqlstore.Postgres, sqlstore.SQLite} {
		if s := sqlstore.Schema(d); !strings.Contains(s, "UNIQUE INDEX IF NOT EXISTS apiauth_keys_digest") {
			t.Errorf("Schema(%v) lacks the unique digest index:\n%s", d, s)
		}
	}
}

// newKey creates a key through keys and returns it with its record.
func newKey(t testing.TB, keys *apiauth.Keys, tenant string) (string, *apiauth.KeyRecord) {
	t.Helper()
	key, rec, err := keys.Create(context.Background(), apiauth.KeySpec{Tenant: tenant, Subject: "svc", Scopes: []apiauth.Scope{apiauth.Read}})
	if err != nil {
		t.Fatal(err)
	}
	return key, rec
}

func TestCacheHitDoesNotAllocate(t *testing.T) {
	db, _ := openSQLite(t)
	s := newStore(t, db)
	keys := apiauth.NewKeys(s)
	key, rec := newKey(t, keys, "acme")
	ctx := context.Background()
	if _, err := s.LookupKey(ctx, rec.Digest); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(1000, func() { _, _ = s.LookupKey(ctx, rec.Digest) }); n != 0 {
		t.Errorf("LookupKey from the cache: %v allocations, want 0", n)
	}
	mem := apiauth.NewMemoryKeys()
	memKey, _ := newKey(t, mem, "acme")
	want := testing.AllocsPerRun(1000, func() { _, _ = mem.Verify(ctx, memKey) })
	if n := testing.AllocsPerRun(1000, func() { _, _ = keys.Verify(ctx, key) }); n != want {
		t.Errorf("Verify through the cache: %v allocations, through MemoryKeyStore %v", n, want)
	}
	// A cached "not found" allocates nothing either.
	unknown := apiauth.DigestKey("sk_live_unknown_key_for_the_cache")
	_, _ = s.LookupKey(ctx, unknown)
	if n := testing.AllocsPerRun(1000, func() { _, _ = s.LookupKey(ctx, unknown) }); n != 0 {
		t.Errorf("cached not-found: %v allocations, want 0", n)
	}
}

func TestCacheIsBounded(t *testing.T) {
	db, _ := openSQLite(t)
	s := newStore(t, db, sqlstore.WithCacheSize(64))
	ctx := context.Background()
	for i := 0; i < 400; i++ {
		_, _ = s.LookupKey(ctx, apiauth.DigestKey(fmt.Sprint("key-", i)))
	}
	// 32 shards of ceil(64/32) entries.
	if n := sqlstore.CacheLen(s); n > 64 {
		t.Fatalf("%d cached lookups, cap 64", n)
	}
}

func TestCachedNotFoundExpires(t *testing.T) {
	// A key created elsewhere, without notification or poll, is found once
	// the cached miss expires.
	db, _ := openSQLite(t)
	a := newStore(t, db)
	b := newStore(t, db, sqlstore.WithCacheTTL(200*time.Millisecond), sqlstore.WithPollInterval(0))
	ctx := context.Background()
	key, _ := apiauth.GenerateKey("")
	if _, err := apiauth.NewKeys(b).Verify(ctx, key); !errors.Is(err, apiauth.ErrUnknownToken) {
		t.Fatalf("before create: %v", err)
	}
	if _, err := apiauth.NewKeys(a).Import(ctx, key, apiauth.KeySpec{Tenant: "acme"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Second, "the cached miss expires", func() bool {
		_, err := apiauth.NewKeys(b).Verify(ctx, key)
		return err == nil
	})
}

// testRevocationSeenByOther revokes a key through a and measures how long
// b takes to refuse it; it must within a second.
func testRevocationSeenByOther(t *testing.T, a, b *sqlstore.Store, revoke func(id string)) {
	ctx := context.Background()
	ka, kb := apiauth.NewKeys(a), apiauth.NewKeys(b)
	key, rec := newKey(t, ka, "acme")
	if _, err := kb.Verify(ctx, key); err != nil { // cached in b
		t.Fatal(err)
	}
	if revoke == nil {
		revoke = func(id string) {
			if err := ka.Revoke(ctx, id); err != nil {
				t.Fatal(err)
			}
		}
	}
	revoke(rec.KeyID)
	took := eventually(t, time.Second, "the other instance refuses the revoked key", func() bool {
		_, err := kb.Verify(ctx, key)
		return errors.Is(err, apiauth.ErrTokenRevoked)
	})
	t.Logf("revocation seen by the other instance after %v", took)
}

func TestSQLiteTwoInstances(t *testing.T) {
	_, dir := openSQLite(t)
	a := newStore(t, openSQLiteIn(t, dir))
	b := newStore(t, openSQLiteIn(t, dir)) // another pool: another process
	testRevocationSeenByOther(t, a, b, nil)
}

func TestPostgresTwoInstances(t *testing.T) {
	u := postgresURL(t)
	a := newPostgresStore(t, openPostgresURL(t, u))
	t.Run("ListenAndPoll", func(t *testing.T) {
		b := newPostgresStore(t, openPostgresURL(t, u))
		testRevocationSeenByOther(t, a, b, nil)
	})
	t.Run("PollOnly", func(t *testing.T) {
		b := newStore(t, openPostgresURL(t, u))
		testRevocationSeenByOther(t, a, b, nil)
	})
	t.Run("NotifyOnly", func(t *testing.T) {
		// A long TTL and no poll: only a notification can tell b.
		dbB := openPostgresURL(t, u)
		b := newPostgresStore(t, dbB, sqlstore.WithPollInterval(0), sqlstore.WithCacheTTL(time.Minute))
		waitListening(t, a, b)
		testRevocationSeenByOther(t, a, b, nil)
	})
	t.Run("RevokedByHandSQL", func(t *testing.T) {
		db := openPostgresURL(t, u)
		b := newPostgresStore(t, openPostgresURL(t, u), sqlstore.WithPollInterval(0), sqlstore.WithCacheTTL(time.Minute))
		waitListening(t, a, b)
		testRevocationSeenByOther(t, a, b, func(id string) {
			if _, err := db.Exec("UPDATE apiauth_keys SET revoked_at = now() - interval '1 second' WHERE id = $1", id); err != nil {
				t.Fatal(err)
			}
		})
	})
}

// waitListening waits until b receives notifications: b caches a miss for
// a key that a then creates, until b finds it. A notification sent before
// b listens is lost, so each attempt uses a new key.
func waitListening(t *testing.T, a, b *sqlstore.Store) {
	ctx := context.Background()
	kb := apiauth.NewKeys(b)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		key, _ := apiauth.GenerateKey("")
		if _, err := kb.Verify(ctx, key); !errors.Is(err, apiauth.ErrUnknownToken) {
			t.Fatal(err)
		}
		if _, err := apiauth.NewKeys(a).Import(ctx, key, apiauth.KeySpec{Tenant: "acme"}); err != nil {
			t.Fatal(err)
		}
		for end := time.Now().Add(200 * time.Millisecond); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
			if _, err := kb.Verify(ctx, key); err == nil {
				return
			}
		}
	}
	t.Fatal("the listener delivers no notification within 10s")
}

// serve answers one request through Authenticate on keys.
func serve(keys *apiauth.Keys, key string) *httptest.ResponseRecorder {
	h := apiauth.Authenticate(keys)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	req := httptest.NewRequest("GET", "/orders", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// testDatabaseDown takes the database away (down, then back up) under a
// store with a short TTL and checks: cached keys keep working until their
// entry expires; uncached ones get 503, never 401, within the budget;
// everything resumes afterwards, and uses recorded meanwhile are written.
func testDatabaseDown(t *testing.T, s *sqlstore.Store, ttl time.Duration, takeDown func(hang bool), bringUp func()) {
	ctx := context.Background()
	keys := apiauth.NewKeys(s)
	cached, cachedRec := newKey(t, keys, "acme")
	uncached, _ := newKey(t, keys, "acme")
	unknown, _ := apiauth.GenerateKey("")
	if rec := serve(keys, cached); rec.Code != 200 {
		t.Fatalf("before the outage: %d", rec.Code)
	}
	loaded := time.Now()

	for _, hang := range []bool{false, true} {
		takeDown(hang)
		if rec := serve(keys, cached); rec.Code != 200 {
			t.Fatalf("hang=%v: a cached key during the outage: %d, want 200", hang, rec.Code)
		}
		for _, key := range []string{uncached, unknown} {
			start := time.Now()
			rec := serve(keys, key)
			took := time.Since(start)
			if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
				t.Fatalf("hang=%v: an uncached key during the outage: %d (Retry-After %q), want 503 with Retry-After", hang, rec.Code, rec.Header().Get("Retry-After"))
			}
			if took > sqlstore.DefaultQueryTimeout+150*time.Millisecond {
				t.Errorf("hang=%v: refusal took %v, budget %v", hang, took, sqlstore.DefaultQueryTimeout)
			}
			t.Logf("hang=%v: 503 after %v", hang, took)
			_, err := keys.Verify(ctx, key)
			if err == nil || errors.Is(err, apiauth.ErrInvalidToken) || errors.Is(err, apiauth.ErrKeyNotFound) {
				t.Fatalf("hang=%v: Verify during the outage: %v; want a store failure", hang, err)
			}
		}
		if hang {
			break
		}
		bringUp()
	}
	// The cached entry expires: then the cached key gets 503 too.
	time.Sleep(time.Until(loaded.Add(ttl + 50*time.Millisecond)))
	if rec := serve(keys, cached); rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("a cached key after its entry expired during the outage: %d, want 503", rec.Code)
	}
	bringUp()
	eventually(t, 5*time.Second, "service resumes", func() bool {
		return serve(keys, cached).Code == 200 && serve(keys, uncached).Code == 200
	})
	if rec := serve(keys, unknown); rec.Code != 401 {
		t.Fatalf("an unknown key after the outage: %d, want 401", rec.Code)
	}
	// Nothing lost: the uses recorded during the outage are written.
	eventually(t, 5*time.Second, "last use written after the outage", func() bool {
		rec, err := s.GetKey(ctx, cachedRec.KeyID)
		return err == nil && !rec.LastUsedAt.IsZero()
	})
}

func TestSQLiteDatabaseDown(t *testing.T) {
	dir := t.TempDir()
	db, state := openFlakySQLite(t, dir)
	const ttl = 500 * time.Millisecond
	s := newStore(t, db, sqlstore.WithDialect(sqlstore.SQLite), sqlstore.WithCacheTTL(ttl), sqlstore.WithLastUsedInterval(100*time.Millisecond),
		sqlstore.WithQueryTimeout(sqlstore.DefaultQueryTimeout))
	testDatabaseDown(t, s, ttl,
		func(h bool) {
			if h {
				state.Store(hang)
			} else {
				state.Store(refuse)
			}
		},
		func() { state.Store(up) })
}

func TestPostgresDatabaseDown(t *testing.T) {
	u := postgresURL(t)
	openPostgresURL(t, u) // skips or fails clearly
	proxy := newTCPProxy(t, postgresHostPort(t, u))
	db := openPostgresURL(t, proxy.proxiedURL(t, u))
	const ttl = 500 * time.Millisecond
	s := newPostgresStore(t, db, sqlstore.WithCacheTTL(ttl), sqlstore.WithLastUsedInterval(100*time.Millisecond),
		sqlstore.WithQueryTimeout(sqlstore.DefaultQueryTimeout))
	testDatabaseDown(t, s, ttl,
		func(h bool) {
			if h {
				proxy.set(hang)
			} else {
				proxy.set(refuse)
			}
		},
		func() { proxy.set(up) })
}

func TestLastUsed(t *testing.T) {
	ctx := context.Background()
	db, _ := openSQLite(t)
	s := newStore(t, db, sqlstore.WithLastUsedInterval(50*time.Millisecond))
	keys := apiauth.NewKeys(s)
	key, rec := newKey(t, keys, "acme")
	before := time.Now().Add(-time.Millisecond)
	for i := 0; i < 100; i++ {
		if _, err := keys.Verify(ctx, key); err != nil {
			t.Fatal(err)
		}
	}
	// ListKeys reads the table (GetKey may answer from the cache, which a
	// last-used write does not invalidate).
	eventually(t, 2*time.Second, "LastUsedAt written", func() bool {
		list, err := s.ListKeys(ctx, rec.Tenant)
		if err != nil {
			t.Fatal(err)
		}
		for _, got := range list {
			if got.KeyID == rec.KeyID {
				return got.LastUsedAt.After(before) && got.LastUsedAt.Before(time.Now())
			}
		}
		return false
	})

	// Close writes what is pending, however long the interval.
	s2 := newStore(t, db, sqlstore.WithLastUsedInterval(time.Hour))
	keys2 := apiauth.NewKeys(s2)
	key2, rec2 := newKey(t, keys2, "acme")
	if _, err := keys2.Verify(ctx, key2); err != nil {
		t.Fatal(err)
	}
	if got, _ := s2.GetKey(ctx, rec2.KeyID); !got.LastUsedAt.IsZero() {
		t.Fatal("written on the request path")
	}
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetKey(ctx, rec2.KeyID); err != nil || got.LastUsedAt.IsZero() {
		t.Fatalf("after Close: LastUsedAt %v, %v; want set", got.LastUsedAt, err)
	}
}

// exercise runs every operation with real keys through keys and returns
// the plaintext keys it made.
func exercise(t *testing.T, s *sqlstore.Store) []string {
	ctx := context.Background()
	keys := apiauth.NewKeys(s)
	var plain []string
	for i := 0; i < 10; i++ {
		key, rec := newKey(t, keys, "scan")
		plain = append(plain, key)
		if _, err := keys.Verify(ctx, key); err != nil {
			t.Fatal(err)
		}
		switch i % 3 {
		case 0:
			if err := keys.Revoke(ctx, rec.KeyID); err != nil {
				t.Fatal(err)
			}
		case 1:
			k2, _, err := keys.Rotate(ctx, rec.KeyID, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			plain = append(plain, k2)
		}
	}
	imported := "imported-" + hexString([]byte(time.Now().String()))[:40]
	if _, err := keys.Import(ctx, imported, apiauth.KeySpec{Tenant: "scan"}); err != nil {
		t.Fatal(err)
	}
	return append(plain, imported)
}

// checkNoPlaintext fails if data holds any key or the secret part of one.
func checkNoPlaintext(t *testing.T, where string, data []byte, plain []string) {
	t.Helper()
	for _, k := range plain {
		secret := k[strings.LastIndexByte(k, '_')+1:]
		if bytes.Contains(data, []byte(k)) || bytes.Contains(data, []byte(secret)) {
			t.Fatalf("%s holds a plaintext key", where)
		}
	}
}

func TestSQLiteNoPlaintextKey(t *testing.T) {
	db, dir := openSQLite(t)
	s := newStore(t, db)
	plain := exercise(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil { // checkpoints the WAL into the file
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no database files: %v", err)
	}
	var all []byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
		checkNoPlaintext(t, f, b, plain)
	}
	// The scan would see a key if one were there: the digests are.
	d := apiauth.DigestKey(plain[0])
	if !bytes.Contains(all, d[:]) {
		t.Fatal("the scan does not even find the digest")
	}
}

func TestPostgresNoPlaintextKey(t *testing.T) {
	db := openPostgres(t)
	s := newPostgresStore(t, db)
	plain := exercise(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	rows, err := db.Query("SELECT t::text FROM apiauth_keys t UNION ALL SELECT m::text FROM apiauth_schema_migrations m")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var dump bytes.Buffer
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		dump.WriteString(line + "\n")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	checkNoPlaintext(t, "table apiauth_keys", dump.Bytes(), plain)
	d := apiauth.DigestKey(plain[0])
	if !strings.Contains(dump.String(), "\\\\x"+hexString(d[:])) && !strings.Contains(dump.String(), hexString(d[:])) {
		t.Fatal("the scan does not even find the digest")
	}
}

func hexString(b []byte) string {
	const hx = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, hx[c>>4], hx[c&15])
	}
	return string(out)
}

func TestNewRejectsNil(t *testing.T) {
	if _, err := sqlstore.New(nil); err == nil {
		t.Fatal("New(nil) succeeded")
	}
}

// TestGetKeyCachedAndInvalidated: GetKey, on the request path of every
// exchanged JWT, is answered from the cache after the first call and still
// sees another instance's revocation within the poll interval.
func TestGetKeyCachedAndInvalidated(t *testing.T) {
	ctx := context.Background()
	db, dir := openSQLite(t)
	s1 := newStore(t, db)
	s2 := newStore(t, openSQLiteIn(t, dir))
	_, rec := newKey(t, apiauth.NewKeys(s1), "acme")
	for i := 0; i < 3; i++ {
		got, err := s1.GetKey(ctx, rec.KeyID)
		if err != nil || got.KeyID != rec.KeyID {
			t.Fatalf("GetKey: %v, %v", got, err)
		}
	}
	first, _ := s1.GetKey(ctx, rec.KeyID)
	second, _ := s1.GetKey(ctx, rec.KeyID)
	if first != second {
		t.Error("a repeated GetKey did not come from the cache")
	}
	if err := s2.RevokeKey(ctx, rec.KeyID, time.Now()); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Second, "revocation through another instance seen by GetKey", func() bool {
		got, err := s1.GetKey(ctx, rec.KeyID)
		return err == nil && !got.RevokedAt.IsZero()
	})
	if _, err := s1.GetKey(ctx, "no-such-key"); !errors.Is(err, apiauth.ErrKeyNotFound) {
		t.Fatalf("unknown ID: %v", err)
	}
}

// TestGetKeyIsNotAUse: reading a key by ID (admin routes, rotation, the
// JWT verifier's revocation check) does not make it look used.
func TestGetKeyIsNotAUse(t *testing.T) {
	ctx := context.Background()
	db, _ := openSQLite(t)
	s := newStore(t, db, sqlstore.WithLastUsedInterval(10*time.Millisecond))
	_, rec := newKey(t, apiauth.NewKeys(s), "acme")
	for i := 0; i < 5; i++ {
		if _, err := s.GetKey(ctx, rec.KeyID); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := newStore(t, db)
	list, err := s2.ListKeys(ctx, rec.Tenant)
	if err != nil {
		t.Fatal(err)
	}
	for _, got := range list {
		if got.KeyID == rec.KeyID && !got.LastUsedAt.IsZero() {
			t.Fatalf("LastUsedAt %v after GetKey only", got.LastUsedAt)
		}
	}
}

// Ping is the store's readiness check: the database answers, until it is
// closed.
func TestPing(t *testing.T) {
	db, _ := openSQLite(t)
	s := newStore(t, db)
	require.NoError(t, s.Ping(context.Background()))
	require.NoError(t, db.Close())
	assert.Error(t, s.Ping(context.Background()))
}
