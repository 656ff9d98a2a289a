package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The schema, one file per version and dialect: NNNN_name.sql.
//
//go:embed migrations
var migrations embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

func loadMigrations(d Dialect) []migration {
	dir := path.Join("migrations", d.String())
	files, err := fs.ReadDir(migrations, dir)
	if err != nil {
		panic(err) // the embedded files are part of the build
	}
	var out []migration
	for _, f := range files {
		n, _, ok := strings.Cut(f.Name(), "_")
		v, err := strconv.Atoi(n)
		if !ok || err != nil || !strings.HasSuffix(f.Name(), ".sql") {
			panic("sqlstore: bad migration file name " + f.Name())
		}
		b, err := migrations.ReadFile(path.Join(dir, f.Name()))
		if err != nil {
			panic(err)
		}
		out = append(out, migration{version: v, name: f.Name(), sql: string(b)})
	}
	slices.SortFunc(out, func(a, b migration) int { return a.version - b.version })
	return out
}

// Schema returns the SQL that Migrate runs for dialect d (Postgres or
// SQLite), every version in order, for users who run their own migration
// tool. Tables and indexes are created IF NOT EXISTS; the table
// apiauth_schema_migrations records the versions applied.
func Schema(d Dialect) string {
	var b strings.Builder
	for _, m := range loadMigrations(d) {
		fmt.Fprintf(&b, "-- %s\n%s\n", m.name, m.sql)
	}
	return b.String()
}

// SchemaVersion is the latest schema version this package knows.
func SchemaVersion() int {
	ms := loadMigrations(SQLite)
	return ms[len(ms)-1].version
}

const createMigrationsTable = `CREATE TABLE IF NOT EXISTS apiauth_schema_migrations (
    version    INTEGER PRIMARY KEY,
    applied_at TEXT NOT NULL
)`

// migrateLockID is the PostgreSQL advisory lock that serializes Migrate
// across instances starting together ("apiauth" in ASCII).
const migrateLockID = 0x61706961757468

// migrateBusyWait bounds how long Migrate on SQLite keeps trying while
// another connection holds the database's write lock (SQLITE_BUSY), as
// when every instance of a service migrates at once.
const migrateBusyWait = time.Minute

// Migrate brings the schema to the latest version, in one transaction:
// versions already applied (recorded in apiauth_schema_migrations) are
// skipped, so it is safe to call on every start, from every instance at
// once. On PostgreSQL an advisory lock serializes them (in a read
// committed transaction, whatever the server's default); on SQLite each
// takes the write lock before it reads anything (BEGIN IMMEDIATE), and
// waits for it, with the connection's busy timeout if it has one and
// retrying with backoff for up to a minute otherwise. It is not bound by
// the query budget, only by ctx.
func (s *Store) Migrate(ctx context.Context) error { return s.migrate(ctx, 0) }

// migrate applies the versions up to upTo (0: all) that are not applied
// yet; tests use it to build a database of an earlier version.
func (s *Store) migrate(ctx context.Context, upTo int) error {
	if s.dialect == SQLite {
		return s.migrateSQLite(ctx, upTo)
	}
	// Read committed whatever the server's default: each statement sees
	// what was committed before it began, so the versions read after the
	// lock is granted include those another instance applied while this
	// one waited. Under repeatable read or serializable the snapshot is
	// that of the lock statement, taken before the wait, and recording a
	// version again fails the transaction (40001).
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != nil {
		return fmt.Errorf("sqlstore: migrate: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it does nothing
	if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock("+strconv.Itoa(migrateLockID)+")"); err != nil {
		return fmt.Errorf("sqlstore: migrate: lock: %w", err)
	}
	if err := s.applyMigrations(ctx, tx, upTo); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlstore: migrate: %w", err)
	}
	return nil
}

// migrateSQLite is migrate on SQLite: migrateSQLiteOnce, again while the
// database is locked by another writer, for up to migrateBusyWait.
func (s *Store) migrateSQLite(ctx context.Context, upTo int) error {
	giveUp := time.Now().Add(migrateBusyWait)
	backoff := 10 * time.Millisecond
	for {
		err := s.migrateSQLiteOnce(ctx, upTo)
		if err == nil || !sqliteBusy(err) || ctx.Err() != nil || time.Now().After(giveUp) {
			return err
		}
		// Jitter, so that instances that collided do not again.
		t := time.NewTimer(backoff/2 + rand.N(backoff/2+1))
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		backoff = min(2*backoff, time.Second)
	}
}

// migrateSQLiteOnce applies the migrations in a transaction that holds the
// write lock from its start: a deferred transaction (database/sql's
// BeginTx) reads the versions applied before it writes, and a connection
// that read cannot wait for the lock, since a writer that went first would
// invalidate what it read: it fails with SQLITE_BUSY at once, busy
// timeout or not.
func (s *Store) migrateSQLiteOnce(ctx context.Context, upTo int) error {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("sqlstore: migrate: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("sqlstore: migrate: lock: %w", err)
	}
	committed := false
	defer func() {
		if committed {
			return
		}
		if _, rerr := conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK"); rerr != nil {
			// SQLite rolls back by itself on some errors; if not, the
			// connection may still be in the transaction: have the pool
			// close it rather than hand it out.
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}()
	if err := s.applyMigrations(ctx, conn, upTo); err != nil {
		return err
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		return fmt.Errorf("sqlstore: migrate: %w", err)
	}
	committed = true
	return nil
}

// sqliteBusy reports whether err says that another connection holds a
// lock of the SQLite database (SQLITE_BUSY and its extended codes,
// SQLITE_LOCKED), from its message, since the store depends on no driver.
func sqliteBusy(err error) bool {
	m := err.Error()
	return strings.Contains(m, "database is locked") || strings.Contains(m, "database table is locked") ||
		strings.Contains(m, "SQLITE_BUSY") || strings.Contains(m, "SQLITE_LOCKED")
}

// execQuerier is what applyMigrations needs of a transaction: a *sql.Tx,
// or a *sql.Conn in a transaction begun by hand.
type execQuerier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// applyMigrations applies, through tx, the versions up to upTo (0: all)
// that apiauth_schema_migrations does not record yet. The caller holds
// the lock that keeps other instances from doing the same meanwhile.
func (s *Store) applyMigrations(ctx context.Context, tx execQuerier, upTo int) error {
	if _, err := tx.ExecContext(ctx, createMigrationsTable); err != nil {
		return fmt.Errorf("sqlstore: migrate: %w", err)
	}
	applied := map[int]bool{}
	rows, err := tx.QueryContext(ctx, "SELECT version FROM apiauth_schema_migrations")
	if err != nil {
		return fmt.Errorf("sqlstore: migrate: %w", err)
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return fmt.Errorf("sqlstore: migrate: %w", err)
		}
		applied[v] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlstore: migrate: %w", err)
	}
	for _, m := range loadMigrations(s.dialect) {
		if applied[m.version] || upTo > 0 && m.version > upTo {
			continue
		}
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return fmt.Errorf("sqlstore: migrate %s: %w", m.name, err)
		}
		ins := s.q.rebind("INSERT INTO apiauth_schema_migrations (version, applied_at) VALUES (?, " + s.q.nowText + ") ON CONFLICT DO NOTHING")
		if _, err := tx.ExecContext(ctx, ins, m.version); err != nil {
			return fmt.Errorf("sqlstore: migrate %s: %w", m.name, err)
		}
	}
	return nil
}

// queries are the statements of one dialect, placeholders bound.
type queries struct {
	dialect                           Dialect
	byDigest, byID, byTenant          string
	insert, revoke, expire, touchUsed string
	revoked                           string
	changedSince, now                 string
	nowText                           string
	clients                           clientQueries
}

// sqliteNowMicros is the SQLite system clock in Unix microseconds, as the
// schema's updated_at columns hold it.
const sqliteNowMicros = "CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)"

const cols = `id, digest, name, subject, tenant, scopes, tier, created_at, expires_at, revoked_at, replaced_by, last_used_at, updated_at`

func newQueries(d Dialect) queries {
	q := queries{dialect: d}
	switch d {
	case Postgres:
		q.now = "SELECT clock_timestamp()"
		q.nowText = "clock_timestamp()::text"
	default:
		q.now = "SELECT " + sqliteNowMicros
		q.nowText = "strftime('%Y-%m-%d %H:%M:%f', 'now')"
	}
	q.byDigest = q.rebind(`SELECT ` + cols + ` FROM apiauth_keys WHERE digest = ?`)
	q.byID = q.rebind(`SELECT ` + cols + ` FROM apiauth_keys WHERE id = ?`)
	q.byTenant = q.rebind(`SELECT ` + cols + ` FROM apiauth_keys WHERE tenant = ? ORDER BY created_at, id`)
	q.insert = q.rebind(`INSERT INTO apiauth_keys (id, digest, name, subject, tenant, scopes, tier, created_at, expires_at, revoked_at, replaced_by, last_used_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`)
	// One statement each, so that concurrent changes cannot interleave: a
	// revocation only moves earlier, an expiry only earlier, and a key
	// with a revocation time is never given a replacement.
	q.revoke = q.rebind(`UPDATE apiauth_keys
SET revoked_at = CASE WHEN revoked_at IS NULL OR revoked_at > ? THEN ? ELSE revoked_at END
WHERE id = ? RETURNING digest`)
	q.expire = q.rebind(`UPDATE apiauth_keys
SET expires_at = CASE WHEN expires_at IS NULL OR expires_at > ? THEN ? ELSE expires_at END, replaced_by = ?
WHERE id = ? AND revoked_at IS NULL RETURNING digest`)
	q.revoked = q.rebind(`SELECT 1 FROM apiauth_keys WHERE id = ? AND revoked_at IS NOT NULL`)
	q.touchUsed = q.rebind(`UPDATE apiauth_keys SET last_used_at = ?
WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)`)
	q.changedSince = q.rebind(`SELECT digest, updated_at FROM apiauth_keys WHERE updated_at > ?`)
	q.clients = newClientQueries(q)
	return q
}

// rebind turns ? placeholders into $1, $2, … for PostgreSQL. The
// statements above hold no ? in literals.
func (q queries) rebind(query string) string {
	if q.dialect != Postgres {
		return query
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}
