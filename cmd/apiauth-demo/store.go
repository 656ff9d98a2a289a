package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"time"

	"github.com/apiauth/apiauth"
	"github.com/apiauth/apiauth/internal/dbflag"
	"github.com/apiauth/apiauth/oauth"
	"github.com/apiauth/apiauth/redisstore"
	"github.com/apiauth/apiauth/sqlstore"
	"github.com/apiauth/apiauth/sqlstore/pgnotify"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
	"github.com/redis/go-redis/v9"
	_ "modernc.org/sqlite" // the "sqlite" database/sql driver, pure Go
)

// redisPingTimeout bounds the start-up check of the Redis server.
const redisPingTimeout = 2 * time.Second

// newRateLimitStore returns the store that keeps the rate-limit and
// failed-authentication counts, and a function that releases it.
//
// Without a Redis address the counts live in this process's memory. With
// one they live in Redis, shared by every instance pointed at it; each
// request waits for Redis at most redisstore.DefaultBudget (50 ms), and
// while Redis fails the instance falls back to counting in its own memory
// (fail over to local limits, neither open nor closed), resuming the
// shared counts when Redis answers again. Redis must answer a PING at
// start-up: a typo in the address is an error, not a silent fallback.
func newRateLimitStore(ctx context.Context, redisAddr string) (apiauth.Store, func(), error) {
	if redisAddr == "" {
		return apiauth.NewMemoryStore(), func() {}, nil
	}
	client := redis.NewClient(&redis.Options{
		Addr: redisAddr,
		// Let the store's per-request budget cut socket reads short.
		ContextTimeoutEnabled: true,
		DialTimeout:           time.Second,
		// The store's budget already bounds each call; a retry inside it
		// only delays the fallback.
		MaxRetries: -1,
	})
	pctx, cancel := context.WithTimeout(ctx, redisPingTimeout)
	defer cancel()
	// A plain connection first: when nothing listens, that is the whole
	// error, without go-redis's own log line about its dial attempts.
	conn, err := (&net.Dialer{}).DialContext(pctx, "tcp", redisAddr)
	if err == nil {
		_ = conn.Close()
		err = client.Ping(pctx).Err()
	}
	if err != nil {
		_ = client.Close()
		return nil, nil, fmt.Errorf("redis: no answer to PING from %s within %v: %v", redisAddr, redisPingTimeout, err)
	}
	store := redisstore.New(client, redisstore.WithFallback(apiauth.NewMemoryStore()))
	return store, func() { _ = client.Close() }, nil
}

// redisLogger passes go-redis's own log lines, such as a failed dial while
// Redis is down, to slog as warnings, so that stderr keeps one format.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, fmt.Sprintf(format, v...))
}

// dbTimeout bounds the start-up connection to the database and its
// migration: an unreachable database is an error within seconds, not a
// hang.
const dbTimeout = 3 * time.Second

// The database pool's bounds. Every API key or client that sqlstore's cache
// does not hold is a query, and a guessed credential is never cached, so a
// burst of guesses would otherwise open a connection per concurrent guess
// (database/sql has no cap by default) until the database refuses
// connections: to this instance's real callers, to the other instances and
// to whatever else shares the database. Capped, a burst queues for the
// pool, each look-up within its query timeout, while the failure limits
// keep any one address from reaching the database more often than they
// allow. 16 connections serve far more look-ups a second than the limits
// let guesses make; the PostgreSQL listener holds one of them. Half stay
// idle between bursts, and idle ones are closed after a while.
const (
	dbMaxOpen     = 16
	dbMaxIdle     = 8
	dbMaxIdleTime = 5 * time.Minute
)

// dbKind is the kind of database -db names.
type dbKind int

const (
	dbMemory   dbKind = iota // no -db: this process's memory
	dbSQLite                 // sqlite:PATH
	dbPostgres               // postgres:// or postgresql://
)

// dbSpec is the parsed -db flag.
type dbSpec struct {
	kind dbKind
	// path is the SQLite file, made absolute.
	path string
	// url is the PostgreSQL URL, password and all.
	url string
	// display names the database for the logs, without a password.
	display string
}

// parseDBFlag parses the -db flag: "" (memory), sqlite:PATH, or a
// postgres:// or postgresql:// URL. Its errors are one line, and never
// show a password.
func parseDBFlag(s string) (dbSpec, error) {
	if s == "" {
		return dbSpec{kind: dbMemory, display: "memory"}, nil
	}
	d, err := dbflag.Parse(s, "sqlite:demo.db")
	if err != nil {
		return dbSpec{}, fmt.Errorf("flags: %w", err)
	}
	kind := dbSQLite
	if d.Kind == dbflag.Postgres {
		kind = dbPostgres
	}
	return dbSpec{kind: kind, path: d.Path, url: d.URL, display: d.Display}, nil
}

// credentialStore holds the API keys, the OAuth clients and the grants of
// the authorization-code flow (codes, refresh tokens and consents).
type credentialStore struct {
	keys    apiauth.KeyStore
	clients oauth.ClientStore
	grants  oauth.GrantStore
	// lastUsed reports whether the store records when each key was last
	// used (KeyRecord.LastUsedAt).
	lastUsed bool
	// close releases the store: with a database, it writes the pending
	// last-used times and closes the connections.
	close func()
	// db is the database, its pool capped (dbMaxOpen); nil in memory.
	db *sql.DB
}

// newCredentialStore returns the store of the API keys, OAuth clients and
// grants, the one place the -db flag is acted on.
//
// Without a database, all live in this process's memory and are lost at
// exit. With one, all live in it through sqlstore, whose schema is
// created or upgraded here (Migrate is idempotent and safe for instances
// starting together): keys are looked up through sqlstore's cache, a
// revocation made through any instance is refused by every instance
// sharing the database (by the instance that made it at once; by the
// others at once on PostgreSQL, by LISTEN/NOTIFY, and within a poll,
// 0.5 s, on SQLite; within the cache TTL, 5 s, at worst), and last-used
// times are written at most once a minute per key and at shutdown.
// Authorization codes, refresh tokens and consents are read and written
// through to the database, never cached, so that a code is redeemed once
// across every instance. The database must answer within dbTimeout, else the error is returned.
func newCredentialStore(ctx context.Context, spec dbSpec, log *slog.Logger) (*credentialStore, error) {
	if spec.kind == dbMemory {
		return &credentialStore{
			keys:    apiauth.NewMemoryKeyStore(),
			clients: oauth.NewMemoryClientStore(),
			grants:  oauth.NewMemoryGrantStore(),
			close:   func() {},
		}, nil
	}

	var (
		db   *sql.DB
		err  error
		opts = []sqlstore.Option{sqlstore.WithLogger(log)}
	)
	switch spec.kind {
	case dbSQLite:
		// SQLite creates the file, not its directory, and says only
		// "unable to open database file" when that is missing.
		if dir := filepath.Dir(spec.path); !dbflag.IsDir(dir) {
			return nil, fmt.Errorf("db: %s: cannot create the file: no directory %s", spec.display, dir)
		}
		db, err = sql.Open("sqlite", dbflag.SQLiteDSN(spec.path))
		opts = append(opts, sqlstore.WithDialect(sqlstore.SQLite))
	case dbPostgres:
		db, err = sql.Open("pgx", spec.url)
		// Notifications drop other instances' revocations from the cache
		// at once; the listener holds one connection of the pool.
		opts = append(opts, sqlstore.WithDialect(sqlstore.Postgres), sqlstore.WithListener(pgnotify.New(db)))
	}
	if err != nil {
		return nil, fmt.Errorf("db: %s: %s", spec.display, dbflag.OneLine(err.Error()))
	}
	db.SetMaxOpenConns(dbMaxOpen)
	db.SetMaxIdleConns(dbMaxIdle)
	db.SetConnMaxIdleTime(dbMaxIdleTime)
	fail := func(what string, err error) (*credentialStore, error) {
		_ = db.Close()
		if errors.Is(err, context.DeadlineExceeded) {
			what += fmt.Sprintf(" (no answer within %v)", dbTimeout)
		}
		return nil, fmt.Errorf("db: %s: %s: %s", spec.display, what, dbflag.OneLine(err.Error()))
	}
	sctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	if err := dbflag.Ping(sctx, db); err != nil {
		return fail("cannot connect", err)
	}
	store, err := sqlstore.New(db, opts...)
	if err != nil {
		return fail("cannot set up the store", err)
	}
	if err := store.Migrate(sctx); err != nil {
		_ = store.Close()
		return fail("cannot create or upgrade the schema", err)
	}
	log.Info("keys and clients", "store", spec.display, "schema_version", sqlstore.SchemaVersion())
	return &credentialStore{
		keys:     store,
		clients:  store,
		grants:   store,
		lastUsed: true,
		db:       db,
		close: func() {
			if err := store.Close(); err != nil {
				log.Error("cannot write the last-used times", "store", spec.display, "error", err)
			}
			if err := db.Close(); err != nil {
				log.Error("cannot close the database", "store", spec.display, "error", err)
			}
		},
	}, nil
}
