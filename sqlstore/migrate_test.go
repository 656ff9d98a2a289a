package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/apiauth/apiauth"
	"github.com/apiauth/apiauth/oauth"
	"github.com/apiauth/apiauth/sqlstore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// instances is how many instances migrate at once in the tests below, as
// a fleet of that many starting together after an upgrade.
const instances = 6

// migrateAtOnce runs Migrate on a store of each db, all released at once,
// and returns their errors.
func migrateAtOnce(t *testing.T, dbs []*sql.DB, opts ...sqlstore.Option) []error {
	t.Helper()
	opts = append([]sqlstore.Option{sqlstore.WithPollInterval(0), sqlstore.WithLastUsedInterval(0)}, opts...)
	stores := make([]*sqlstore.Store, len(dbs))
	for i, db := range dbs {
		s, err := sqlstore.New(db, opts...)
		require.NoError(t, err)
		t.Cleanup(func() { s.Close() })
		stores[i] = s
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	errs := make([]error, len(stores))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, s := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = s.Migrate(ctx)
		}()
	}
	close(start)
	wg.Wait()
	return errs
}

// checkMigratedOnce checks that every schema version is recorded once, and
// that the schema works: a key created through one store is found, and its
// revocation seen, through another.
func checkMigratedOnce(t *testing.T, a, b *sql.DB, opts ...sqlstore.Option) {
	t.Helper()
	ctx := context.Background()
	rows, err := a.QueryContext(ctx, "SELECT version, COUNT(*) FROM apiauth_schema_migrations GROUP BY version ORDER BY version")
	require.NoError(t, err)
	defer rows.Close()
	var versions []string
	for rows.Next() {
		var v, n int
		require.NoError(t, rows.Scan(&v, &n))
		versions = append(versions, fmt.Sprintf("%d×%d", v, n))
	}
	require.NoError(t, rows.Err())
	var want []string
	for v := 1; v <= sqlstore.SchemaVersion(); v++ {
		want = append(want, fmt.Sprintf("%d×1", v))
	}
	assert.Equal(t, want, versions, "versions recorded (version×times)")

	sa := newStore(t, a, opts...)
	sb := newStore(t, b, append([]sqlstore.Option{sqlstore.WithCacheSize(0)}, opts...)...)
	key, rec := newKey(t, apiauth.NewKeys(sa), "acme")
	_, err = apiauth.NewKeys(sb).Verify(ctx, key)
	require.NoError(t, err)
	require.NoError(t, sa.RevokeKey(ctx, rec.KeyID, time.Now()))
	_, err = apiauth.NewKeys(sb).Verify(ctx, key)
	require.ErrorIs(t, err, apiauth.ErrTokenRevoked)
	_, err = sb.GetClient(ctx, "no-such-client")
	require.ErrorIs(t, err, oauth.ErrClientNotFound, "version 2's table is there")
}

// TestSQLiteMigrateConcurrently: instances with a pool each (processes)
// migrate one SQLite file at once, from nothing and from an earlier
// version; every one succeeds, and the schema is there once. Before, those
// that lost the race for the write lock failed with SQLITE_BUSY, busy
// timeout or not: a transaction that read first cannot wait for the lock.
func TestSQLiteMigrateConcurrently(t *testing.T) {
	dsns := []struct {
		name string
		dsn  func(dir string) string
	}{
		{"WAL", sqliteDSN},
		{"WALNoBusyTimeout", func(dir string) string {
			return "file:" + filepath.Join(dir, "keys.db") + "?_pragma=journal_mode(wal)"
		}},
		{"RollbackJournal", func(dir string) string {
			return "file:" + filepath.Join(dir, "keys.db") + "?_pragma=busy_timeout(10000)"
		}},
	}
	const rounds = 3 // the race is lost often, not always
	for _, dsn := range dsns {
		for _, from := range []int{0, 1} {
			t.Run(fmt.Sprintf("%s/FromVersion%d", dsn.name, from), func(t *testing.T) {
				for round := 0; round < rounds; round++ {
					dir := t.TempDir()
					dbs := make([]*sql.DB, instances)
					for i := range dbs {
						db, err := sql.Open("sqlite", dsn.dsn(dir))
						require.NoError(t, err)
						t.Cleanup(func() { db.Close() })
						dbs[i] = db
					}
					if from > 0 {
						s, err := sqlstore.New(dbs[0], sqlstore.WithPollInterval(0), sqlstore.WithLastUsedInterval(0))
						require.NoError(t, err)
						require.NoError(t, sqlstore.MigrateTo(context.Background(), s, from))
						require.NoError(t, s.Close())
					}
					for i, err := range migrateAtOnce(t, dbs) {
						require.NoError(t, err, "round %d: instance %d of %d", round, i+1, instances)
					}
					checkMigratedOnce(t, dbs[0], dbs[1])
				}
			})
		}
	}
}

// TestPostgresMigrateConcurrently: instances migrate one PostgreSQL
// database at once, from nothing and from an earlier version, whatever
// the server's default isolation level; every one succeeds, and the
// schema is there once. Each case runs in a schema of its own.
func TestPostgresMigrateConcurrently(t *testing.T) {
	u := postgresURL(t)
	admin := openPostgresURL(t, u)
	isolations := []struct{ name, level string }{
		{"DefaultIsolation", ""},
		// A server whose default is stricter: a transaction's snapshot
		// is taken by its first statement, before the advisory lock is
		// granted, so a Migrate that waited for another would not see
		// what that one applied.
		{"RepeatableRead", "repeatable read"},
		{"Serializable", "serializable"},
	}
	for _, isolation := range isolations {
		for _, from := range []int{0, 1} {
			t.Run(fmt.Sprintf("%s/FromVersion%d", isolation.name, from), func(t *testing.T) {
				schema := fmt.Sprintf("apiauth_migrate_%d", time.Now().UnixNano())
				_, err := admin.Exec("CREATE SCHEMA " + schema)
				require.NoError(t, err)
				t.Cleanup(func() { admin.Exec("DROP SCHEMA " + schema + " CASCADE") })
				pu, err := url.Parse(u)
				require.NoError(t, err)
				q := pu.Query()
				q.Set("search_path", schema)
				if isolation.level != "" {
					q.Set("default_transaction_isolation", isolation.level)
				}
				pu.RawQuery = q.Encode()
				dbs := make([]*sql.DB, instances)
				for i := range dbs {
					dbs[i] = openPostgresURL(t, pu.String())
				}
				if from > 0 {
					s, err := sqlstore.New(dbs[0], sqlstore.WithPollInterval(0), sqlstore.WithLastUsedInterval(0))
					require.NoError(t, err)
					require.NoError(t, sqlstore.MigrateTo(context.Background(), s, from))
					require.NoError(t, s.Close())
				}
				for i, err := range migrateAtOnce(t, dbs) {
					require.NoError(t, err, "instance %d of %d", i+1, instances)
				}
				checkMigratedOnce(t, dbs[0], dbs[1])
			})
		}
	}
}
