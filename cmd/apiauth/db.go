package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/apiauth/apiauth/sqlstore"
	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
	_ "modernc.org/sqlite"             // the "sqlite" database/sql driver, pure Go
)

// The database's time limits. A command is one operator waiting: a
// database that does not answer is an error within seconds, not a hang.
// Migrate gets longer, since it waits for other instances migrating at
// the same time (PostgreSQL's advisory lock, SQLite's write lock).
const (
	dbTimeout      = 5 * time.Second
	migrateTimeout = 30 * time.Second
)

// dbEnv is the environment variable read when -db is not given.
const dbEnv = "APIAUTH_DB"

// dbKind is the kind of database -db names.
type dbKind int

const (
	dbSQLite   dbKind = iota + 1 // sqlite:PATH
	dbPostgres                   // postgres:// or postgresql://
)

// dbSpec is the parsed -db flag.
type dbSpec struct {
	kind dbKind
	// path is the SQLite file, made absolute.
	path string
	// url is the PostgreSQL URL, password and all.
	url string
	// display names the database in messages, without a password.
	display string
}

// parseDB parses a -db value, the syntax of apiauth-demo's -db without its
// in-memory default: sqlite:PATH, or a postgres:// or postgresql:// URL.
// Its errors are one line, name the flag, and never show a password.
func parseDB(s string) (dbSpec, error) {
	const want = "want sqlite:PATH (such as sqlite:keys.db) or a postgres:// URL"
	switch {
	case s == "":
		return dbSpec{}, fmt.Errorf("no database: set -db or %s; %s", dbEnv, want)
	case strings.HasPrefix(s, "sqlite:"):
		path := strings.TrimPrefix(s, "sqlite:")
		// sqlite:///abs/path is the URL spelling of sqlite:/abs/path;
		// sqlite://host/... names no file.
		if strings.HasPrefix(path, "//") {
			if !strings.HasPrefix(path, "///") {
				return dbSpec{}, fmt.Errorf("-db %q: %s", s, want)
			}
			path = path[2:]
		}
		if path == "" {
			return dbSpec{}, fmt.Errorf("-db %q: empty path; %s", s, want)
		}
		if strings.ContainsRune(path, 0) {
			return dbSpec{}, fmt.Errorf("-db: the path holds a NUL byte; %s", want)
		}
		abs, err := filepath.Abs(path)
		if err != nil {
			return dbSpec{}, fmt.Errorf("-db %q: %v", s, err)
		}
		return dbSpec{kind: dbSQLite, path: abs, display: "sqlite:" + abs}, nil
	case strings.HasPrefix(s, "postgres://"), strings.HasPrefix(s, "postgresql://"):
		display := redactURL(s)
		u, err := url.Parse(s)
		if err != nil || u.Host == "" {
			return dbSpec{}, fmt.Errorf("-db %q: not a valid URL; %s", display, want)
		}
		// pgx has the last word on what it can connect with. Its errors
		// mask the password too.
		if _, err := pgx.ParseConfig(s); err != nil {
			return dbSpec{}, fmt.Errorf("-db %q: %s", display, oneLine(err.Error()))
		}
		return dbSpec{kind: dbPostgres, url: s, display: display}, nil
	}
	return dbSpec{}, fmt.Errorf("-db %q: %s", redactURL(s), want)
}

// redactURL returns s with the password of a URL masked. A value that does
// not parse as a URL but may hold credentials is not shown at all.
func redactURL(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Redacted()
	}
	if strings.Contains(s, "@") {
		return "(value not shown: it may hold a password)"
	}
	return s
}

// oneLine joins the lines of a multi-line error message.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// database is an open, migrated store and the pool under it.
type database struct {
	store   *sqlstore.Store
	db      *sql.DB
	display string
}

// openDB opens the database spec names and creates or upgrades its schema
// (sqlstore's Migrate, safe from many instances at once). A SQLite file
// that does not exist is created when create is set, and is an error
// otherwise, so that a mistyped path is not taken for an empty database.
//
// The store it returns has no cache and no background work: every read
// asks the database, and nothing is written but what a command asks for.
// Running servers learn of a change as of any other instance's: at once
// on PostgreSQL, within their poll interval on SQLite.
func openDB(ctx context.Context, spec dbSpec, create bool) (*database, error) {
	var (
		db      *sql.DB
		err     error
		dialect sqlstore.Dialect
	)
	switch spec.kind {
	case dbSQLite:
		// SQLite creates the file, not its directory, and says only
		// "unable to open database file" when that is missing.
		if dir := filepath.Dir(spec.path); !isDir(dir) {
			return nil, fmt.Errorf("db %s: no directory %s", spec.display, dir)
		}
		if _, err := os.Stat(spec.path); !create && errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("db %s: no such file (keys create, clients register and migrate create one)", spec.display)
		}
		// As apiauth-demo opens it: WAL, so that lookups do not wait for
		// writers; a busy timeout, so that writers wait for each other.
		dsn := "file:" + (&url.URL{Path: spec.path}).EscapedPath() +
			"?_pragma=busy_timeout(5000)&_pragma=journal_mode(wal)&_pragma=synchronous(normal)"
		db, err = sql.Open("sqlite", dsn)
		dialect = sqlstore.SQLite
	case dbPostgres:
		db, err = sql.Open("pgx", spec.url)
		dialect = sqlstore.Postgres
	default:
		return nil, errors.New("db: no database")
	}
	if err != nil {
		return nil, fmt.Errorf("db %s: %s", spec.display, oneLine(err.Error()))
	}
	// A command runs one statement at a time; Migrate holds one
	// connection while it runs.
	db.SetMaxOpenConns(2)
	fail := func(what string, timeout time.Duration, err error) (*database, error) {
		_ = db.Close()
		if errors.Is(err, context.DeadlineExceeded) {
			what += fmt.Sprintf(" (no answer within %v)", timeout)
		}
		return nil, fmt.Errorf("db %s: %s: %s", spec.display, what, oneLine(err.Error()))
	}
	pctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		return fail("cannot connect", dbTimeout, err)
	}
	store, err := sqlstore.New(db,
		sqlstore.WithDialect(dialect),
		sqlstore.WithCacheTTL(0),
		sqlstore.WithLastUsedInterval(0),
		sqlstore.WithQueryTimeout(dbTimeout),
		sqlstore.WithWriteTimeout(dbTimeout))
	if err != nil {
		return fail("cannot set up the store", dbTimeout, err)
	}
	mctx, cancel := context.WithTimeout(ctx, migrateTimeout)
	defer cancel()
	if err := store.Migrate(mctx); err != nil {
		_ = store.Close()
		return fail("cannot create or upgrade the schema", migrateTimeout, err)
	}
	return &database{store: store, db: db, display: spec.display}, nil
}

// Close releases the store and closes the pool.
func (d *database) Close() error {
	return errors.Join(d.store.Close(), d.db.Close())
}

// isDir reports whether path is a directory.
func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}
