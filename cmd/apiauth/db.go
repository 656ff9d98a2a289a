package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/apiauth/apiauth/internal/dbflag"
	"github.com/apiauth/apiauth/sqlstore"
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
	if s == "" {
		return dbSpec{}, fmt.Errorf("no database: set -db or %s; want sqlite:PATH (such as sqlite:keys.db) or a postgres:// URL", dbEnv)
	}
	d, err := dbflag.Parse(s, "sqlite:keys.db")
	if err != nil {
		return dbSpec{}, err
	}
	kind := dbSQLite
	if d.Kind == dbflag.Postgres {
		kind = dbPostgres
	}
	return dbSpec{kind: kind, path: d.Path, url: d.URL, display: d.Display}, nil
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
		if dir := filepath.Dir(spec.path); !dbflag.IsDir(dir) {
			return nil, fmt.Errorf("db %s: no directory %s", spec.display, dir)
		}
		if _, err := os.Stat(spec.path); !create && errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("db %s: no such file (keys create, clients register and migrate create one)", spec.display)
		}
		db, err = sql.Open("sqlite", dbflag.SQLiteDSN(spec.path))
		dialect = sqlstore.SQLite
	case dbPostgres:
		db, err = sql.Open("pgx", spec.url)
		dialect = sqlstore.Postgres
	default:
		return nil, errors.New("db: no database")
	}
	if err != nil {
		return nil, fmt.Errorf("db %s: %s", spec.display, dbflag.OneLine(err.Error()))
	}
	// A command runs one statement at a time; Migrate holds one
	// connection while it runs.
	db.SetMaxOpenConns(2)
	fail := func(what string, timeout time.Duration, err error) (*database, error) {
		_ = db.Close()
		if errors.Is(err, context.DeadlineExceeded) {
			what += fmt.Sprintf(" (no answer within %v)", timeout)
		}
		return nil, fmt.Errorf("db %s: %s: %s", spec.display, what, dbflag.OneLine(err.Error()))
	}
	pctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	if err := dbflag.Ping(pctx, db); err != nil {
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
