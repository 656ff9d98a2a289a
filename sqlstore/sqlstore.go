// Package sqlstore keeps API keys and OAuth clients in the SQL database an
// application already runs, PostgreSQL or SQLite, through database/sql: an
// apiauth.KeyStore and an oauth.ClientStore shared by every instance of a
// service.
//
// The user opens the *sql.DB with the driver of their choice (tested with
// github.com/jackc/pgx/v5/stdlib and modernc.org/sqlite) and passes it to
// New; the store never opens connections of its own. Migrate creates or
// upgrades the schema (Schema returns the same SQL for users who run their
// own migrations). Only the SHA-256 digest of a key is stored, under a
// unique index; a key itself never reaches the database.
//
//	db, err := sql.Open("pgx", os.Getenv("DATABASE_URL"))
//	store, err := sqlstore.New(db, sqlstore.WithListener(pgnotify.New(db)))
//	err = store.Migrate(ctx)
//	defer store.Close()
//	keys := apiauth.NewKeys(store)
//	handler = apiauth.Authenticate(keys)(handler)
//
// # Guarantees
//
// Lookups by digest, on the path of every request, go through a bounded
// in-process cache of found and not-found keys (DefaultCacheSize entries,
// DefaultCacheTTL, give or take the 10 ms tick of the cache's clock). A
// cache hit does not touch the database, does not read the system clock
// and allocates nothing.
//
//   - Revocation through this store (RevokeKey, ExpireKey, CreateKey) is
//     seen by this store's next lookup: it drops its own cache entry at
//     once, and no lookup that starts after the change returned is
//     answered by a database read that started before it.
//   - Revocation through another instance, or by SQL run by hand, is seen
//     as soon as this store learns of it: at once on PostgreSQL with a
//     Listener (LISTEN/NOTIFY, see package pgnotify), else by the catch-up
//     poll every DefaultPollInterval. Either way, the worst case, when
//     notifications are lost and polls fail, is the cache TTL: no entry is
//     trusted longer than that. A key deleted by hand is only seen by
//     notification or when its entry expires; revoke keys rather than
//     delete them.
//   - When the database is unreachable, keys in the cache keep working until
//     their entry expires; any other lookup fails within the query budget
//     (DefaultQueryTimeout) with an error that is not ErrKeyNotFound, which
//     Authenticate answers with 503 and Retry-After, never 401.
//   - The time a key was last used (KeyRecord.LastUsedAt) is recorded in
//     memory on each lookup and written in batches by a background
//     goroutine, at most once per DefaultLastUsedInterval per key, never on
//     the request path. Close writes what is pending.
//
// GetGrant, which the JWT verifier calls on every request with an access
// token of the authorization-code flow, goes through a cache of its own
// with the same guarantees, on the same options (WithCacheSize and
// WithCacheTTL, which also turn it off; WithPollInterval; WithListener).
// It holds grants found, not "not found": an unknown grant ID is a read
// each time. A cache hit does not touch the database and allocates
// nothing.
//
//   - A change to a grant through this store (RevokeGrant, RotateRefresh,
//     a refresh token's reuse revoking its grant, RedeemCode starting it,
//     the sweep deleting it) is seen by this store's next GetGrant: no
//     GetGrant that starts after the change returned is answered by a
//     database read that started before it.
//   - A change through another instance, or by SQL run by hand, is seen at
//     once on PostgreSQL with a Listener, else at the next poll, and in
//     the worst case when the cache entry expires (the cache TTL). Until
//     then that instance answers with the grant as it last read it: a
//     grant revoked elsewhere may let an access token through for that
//     long. A grant deleted by hand is only seen by notification or when
//     its entry expires.
//   - The caller checks expiry (oauth.Grant.Check): a cached grant may be
//     past it, and is then refused as it would be when read afresh.
//   - When the database is unreachable, grants in the cache keep working
//     until their entry expires; any other GetGrant fails within the query
//     budget with an error that is not oauth.ErrGrantNotFound.
//
// # OAuth clients
//
// The same Store is the oauth.ClientStore of an Issuer's
// client_credentials grant: GetClient, CreateClient (through
// oauth.RegisterClient) and DisableClient, on the table
// apiauth_oauth_clients (schema version 2; a client's name, public flag
// and redirect URIs since version 4). As for keys, only the SHA-256
// digest of a client secret is stored.
//
//	issuer, err := oauth.NewIssuer(oauth.Config{
//		Issuer: "https://auth.example.com", Audience: "https://api.example.com",
//		Clients: store, Keys: apiauth.NewKeys(store),
//	})
//	_, err = oauth.RegisterClient(ctx, store, oauth.ClientSpec{ID: "billing", Tenant: "acme"}, secret)
//
// Clients are not cached. The Issuer reads a client once per token
// request, a request that also signs a token, and a client asks for a
// token once per token lifetime; one read by primary key (within the
// query budget) costs little beside that, and buys what a cache could not:
// DisableClient, or SQL run by hand, is seen by every instance at its next
// token request, with no invalidation to get wrong. The price: while the
// database is unreachable, the token endpoint answers 503
// temporarily_unavailable (never invalid_client); tokens already issued
// keep working, since verifying them does not read the database.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apiauth/apiauth"
	"github.com/apiauth/apiauth/oauth"
)

// Defaults of the options.
const (
	// DefaultCacheTTL is how long a lookup is trusted without asking the
	// database again: the worst-case delay before a revocation made
	// elsewhere is seen when notifications and polls fail.
	DefaultCacheTTL = 5 * time.Second
	// DefaultCacheSize is the most lookups of keys (found or not) the
	// cache holds, about 0.5 KB each, and the most grants the cache of
	// GetGrant holds, about as much each.
	DefaultCacheSize = 10000
	// DefaultPollInterval is how often the store asks the database which
	// keys (and, once it has read one, grants) changed, to drop stale
	// cache entries.
	DefaultPollInterval = 500 * time.Millisecond
	// DefaultQueryTimeout is the budget of one read: a lookup on the
	// request path, GetKey, ListKeys.
	DefaultQueryTimeout = 100 * time.Millisecond
	// DefaultWriteTimeout is the budget of one write (CreateKey,
	// RevokeKey, ExpireKey): longer than a read's, since writers of one
	// SQLite file wait for each other, and writes are not on the request
	// path.
	DefaultWriteTimeout = time.Second
	// DefaultLastUsedInterval is how often last-used times are written.
	DefaultLastUsedInterval = time.Minute
)

// Channel is the PostgreSQL notification channel on which the schema's
// triggers announce changed keys (the payload is the digest in hex) and,
// since schema version 5, changed or deleted grants (the payload is
// "grant:" and the grant's ID, or "grants" for all of them when the ID is
// too long for a payload).
const Channel = "apiauth_keys"

// Dialect is the SQL dialect of the database.
type Dialect int

const (
	// Detect finds the dialect from the driver's package, or by asking the
	// database.
	Detect Dialect = iota
	// Postgres is PostgreSQL 11 or later.
	Postgres
	// SQLite is SQLite 3.35 or later.
	SQLite
)

func (d Dialect) String() string {
	switch d {
	case Postgres:
		return "postgres"
	case SQLite:
		return "sqlite"
	}
	return "detect"
}

// A Listener delivers PostgreSQL notifications to the store, so that a
// change made through another instance drops this store's cache entry at
// once. Package pgnotify has one for the pgx driver.
type Listener interface {
	// Listen LISTENs on channel and calls notify with the payload of each
	// notification until ctx is done or the connection fails, and returns
	// the reason. The store calls it again after a failure, and polls in
	// the meantime.
	Listen(ctx context.Context, channel string, notify func(payload string)) error
}

// A ReadyListener is a Listener that also says when it listens, so that
// the store can report (WithLogger) that a listener that was failing
// recovered as soon as it listens again. The store calls ListenReady
// rather than Listen. Package pgnotify's listener is one. Of a plain
// Listener, the store takes the first notification after a failure as
// the sign of its recovery.
type ReadyListener interface {
	Listener
	// ListenReady is Listen, and calls ready once the LISTEN has taken
	// effect, before any notification.
	ListenReady(ctx context.Context, channel string, ready func(), notify func(payload string)) error
}

// ListenerFunc adapts a function to Listener.
type ListenerFunc func(ctx context.Context, channel string, notify func(payload string)) error

// Listen calls f.
func (f ListenerFunc) Listen(ctx context.Context, channel string, notify func(payload string)) error {
	return f(ctx, channel, notify)
}

// Option configures New.
type Option func(*config)

type config struct {
	dialect      Dialect
	cacheTTL     time.Duration
	cacheSize    int
	pollInterval time.Duration
	queryTimeout time.Duration
	writeTimeout time.Duration
	usedInterval time.Duration
	listener     Listener
	logger       *slog.Logger
}

// WithDialect sets the dialect instead of detecting it.
func WithDialect(d Dialect) Option { return func(c *config) { c.dialect = d } }

// WithCacheTTL sets how long a lookup of a key or a grant stays cached
// (DefaultCacheTTL). It is the worst-case delay before this store sees a
// revocation made elsewhere. Zero or less turns the cache off: every
// lookup, and every GetGrant, asks the database.
func WithCacheTTL(d time.Duration) Option { return func(c *config) { c.cacheTTL = d } }

// WithCacheSize caps the number of cached lookups of keys, found and not
// found, and, separately, of grants found (DefaultCacheSize each). Zero or
// less turns the cache off, for keys and grants.
func WithCacheSize(n int) Option { return func(c *config) { c.cacheSize = n } }

// WithPollInterval sets how often the store polls for keys, and grants,
// changed elsewhere (DefaultPollInterval). Zero or less turns polling off:
// then only a Listener or the cache TTL bounds how long a change made
// elsewhere goes unseen.
func WithPollInterval(d time.Duration) Option { return func(c *config) { c.pollInterval = d } }

// WithQueryTimeout sets the budget of each read (DefaultQueryTimeout),
// within the caller's own deadline: a lookup never holds a request longer.
func WithQueryTimeout(d time.Duration) Option { return func(c *config) { c.queryTimeout = d } }

// WithWriteTimeout sets the budget of each write (DefaultWriteTimeout),
// within the caller's own deadline.
func WithWriteTimeout(d time.Duration) Option { return func(c *config) { c.writeTimeout = d } }

// WithLastUsedInterval sets how often last-used times are written
// (DefaultLastUsedInterval). Zero or less turns last-used tracking off.
func WithLastUsedInterval(d time.Duration) Option { return func(c *config) { c.usedInterval = d } }

// WithListener has the store receive change notifications through l (on
// PostgreSQL; see package pgnotify), so that other instances' revocations
// of keys and grants are seen at once rather than at the next poll.
func WithListener(l Listener) Option { return func(c *config) { c.listener = l } }

// WithLogger logs failures of the background work (polls, notifications,
// last-used writes) to l; they are not logged by default. Each task is
// logged once when it starts failing (at level Warn) and once when it
// recovers (Info), not at every attempt. Keys are never logged.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// Store is an apiauth.KeyStore, an oauth.ClientStore and an
// oauth.GrantStore on a SQL database. It is safe for concurrent use. Close
// it to stop its background work.
type Store struct {
	db      *sql.DB
	dialect Dialect
	cfg     config
	q       queries
	cache   *keyCache   // nil when off
	grants  *grantCache // nil when off, with cache
	used    *usage      // nil when off

	start time.Time // origin of monotonic cache deadlines
	// clock is mono() as of at most clockTick ago: a cache hit reads it
	// rather than the system clock, which costs as much as the rest of
	// the hit on some virtual machines.
	clock atomic.Int64
	// digests remembers the digest of each key ID seen by GetKey (a key's
	// digest never changes), so that GetKey is answered through the
	// digest cache and its invalidation. Cleared when it outgrows the
	// cache size.
	digestsMu sync.RWMutex
	digests   map[string]apiauth.KeyDigest
	// grantsRead is set by the first GetGrant through the cache: from
	// then on the poll asks which grants changed too (until then there is
	// nothing of them to drop, and the schema may not even have them).
	grantsRead atomic.Bool

	stop   context.CancelFunc
	wg     sync.WaitGroup
	closed sync.Once
	errMu  sync.Mutex
	failed map[string]bool // background tasks failing, for logging changes only
}

var _ apiauth.KeyStore = (*Store)(nil)

// New returns a Store on db, which the caller opened and keeps owning
// (Close does not close it). It starts the store's background work: polls,
// the Listener if any, last-used writes. New does not touch the schema:
// call Migrate, or run Schema's SQL with your own migrations.
//
// A SQLite database must be a file (or a shared-cache memory database), not
// ":memory:", which gives each connection its own database. Set a busy
// timeout so that concurrent writers wait rather than fail, and WAL mode so
// that lookups do not wait for writers; with modernc.org/sqlite:
//
//	file:keys.db?_pragma=busy_timeout(5000)&_pragma=journal_mode(wal)&_pragma=synchronous(normal)
func New(db *sql.DB, opts ...Option) (*Store, error) {
	if db == nil {
		return nil, errors.New("sqlstore: nil *sql.DB")
	}
	cfg := config{
		cacheTTL:     DefaultCacheTTL,
		cacheSize:    DefaultCacheSize,
		pollInterval: DefaultPollInterval,
		queryTimeout: DefaultQueryTimeout,
		writeTimeout: DefaultWriteTimeout,
		usedInterval: DefaultLastUsedInterval,
	}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.queryTimeout <= 0 {
		cfg.queryTimeout = DefaultQueryTimeout
	}
	if cfg.writeTimeout <= 0 {
		cfg.writeTimeout = DefaultWriteTimeout
	}
	d := cfg.dialect
	if d == Detect {
		var err error
		if d, err = detect(db, cfg.queryTimeout); err != nil {
			return nil, err
		}
	}
	if d != Postgres && d != SQLite {
		return nil, fmt.Errorf("sqlstore: unknown dialect %d", d)
	}
	s := &Store{db: db, dialect: d, cfg: cfg, q: newQueries(d), start: time.Now(), failed: map[string]bool{}}
	if cfg.cacheTTL > 0 && cfg.cacheSize > 0 {
		s.cache = newCache[apiauth.KeyDigest, apiauth.KeyRecord](cfg.cacheSize)
		s.grants = newCache[string, oauth.Grant](cfg.cacheSize)
	}
	if cfg.usedInterval > 0 {
		s.used = newUsage()
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	if s.cache != nil {
		s.clock.Store(s.mono())
		s.wg.Add(1)
		go s.tickLoop(ctx)
	}
	if s.cache != nil && cfg.pollInterval > 0 {
		s.wg.Add(1)
		go s.pollLoop(ctx)
	}
	if s.cache != nil && cfg.listener != nil {
		s.wg.Add(1)
		go s.listenLoop(ctx)
	}
	if s.used != nil {
		s.wg.Add(1)
		go s.flushLoop(ctx)
	}
	return s, nil
}

// detect finds the dialect from the driver's package path, or by asking
// the database.
func detect(db *sql.DB, budget time.Duration) (Dialect, error) {
	t := reflect.TypeOf(db.Driver())
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch pkg := strings.ToLower(t.PkgPath()); {
	case strings.Contains(pkg, "sqlite"):
		return SQLite, nil
	case strings.Contains(pkg, "pgx"), strings.Contains(pkg, "lib/pq"), strings.Contains(pkg, "postgres"):
		return Postgres, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*budget)
	defer cancel()
	var v string
	if err := db.QueryRowContext(ctx, "SELECT sqlite_version()").Scan(&v); err == nil {
		return SQLite, nil
	}
	if err := db.QueryRowContext(ctx, "SELECT version()").Scan(&v); err == nil && strings.Contains(v, "PostgreSQL") {
		return Postgres, nil
	}
	return Detect, fmt.Errorf("sqlstore: cannot tell the dialect of driver %s; use WithDialect", t)
}

// Dialect returns the store's dialect.
func (s *Store) Dialect() Dialect { return s.dialect }

// Close stops the background work and writes pending last-used times
// (within a few seconds). It does not close the *sql.DB. The store must not
// be used after Close.
func (s *Store) Close() error {
	var err error
	s.closed.Do(func() {
		s.stop()
		s.wg.Wait()
		if s.used != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err = s.flush(ctx)
		}
	})
	return err
}

// budget returns ctx bounded by the read budget.
func (s *Store) budget(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.cfg.queryTimeout)
}

// writeBudget returns ctx bounded by the write budget.
func (s *Store) writeBudget(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.cfg.writeTimeout)
}

// LookupKey implements apiauth.KeyStore. A cached answer (found or not
// found) is returned without touching the database; otherwise it runs one
// indexed query by digest within the query budget. A failure of the
// database is returned as an error that does not match ErrKeyNotFound.
// The record returned is shared and must not be modified.
func (s *Store) LookupKey(ctx context.Context, d apiauth.KeyDigest) (*apiauth.KeyRecord, error) {
	return s.lookup(ctx, d, true)
}

// lookup is LookupKey; use says whether the read counts as a use of the
// key for LastUsedAt (a request presenting it does; an admin reading it by
// ID does not).
func (s *Store) lookup(ctx context.Context, d apiauth.KeyDigest, use bool) (*apiauth.KeyRecord, error) {
	if s.cache == nil {
		rec, _, err := s.queryDigest(ctx, d)
		if err != nil {
			return nil, err
		}
		if use {
			s.markUsed(rec, nil)
		}
		return rec, nil
	}
	if e := s.cache.get(d); e != nil && s.clock.Load() < e.deadline {
		if e.rec == nil {
			return nil, apiauth.ErrKeyNotFound
		}
		if use {
			s.markUsed(e.rec, e)
		}
		return e.rec, nil
	}
	return s.load(ctx, d, use)
}

// mono returns the time since the store started, on the monotonic clock.
func (s *Store) mono() int64 { return int64(time.Since(s.start)) }

// clockTick is how often the cache's clock advances: a cache entry may be
// trusted up to this much longer than the TTL.
const clockTick = 10 * time.Millisecond

// tickLoop advances the cache's clock.
func (s *Store) tickLoop(ctx context.Context) {
	defer s.wg.Done()
	t := time.NewTicker(clockTick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.advanceClock(s.mono())
		}
	}
}

// advanceClock moves the cache's clock forward to now.
func (s *Store) advanceClock(now int64) {
	for {
		c := s.clock.Load()
		if now <= c || s.clock.CompareAndSwap(c, now) {
			return
		}
	}
}

// load asks the database for d, once for all concurrent callers, and
// caches the answer unless the key changed meanwhile.
func (s *Store) load(ctx context.Context, d apiauth.KeyDigest, use bool) (*apiauth.KeyRecord, error) {
	c, leader, gen := s.cache.join(d)
	if !leader {
		select {
		case <-c.done:
			if use && c.err == nil && c.rec != nil {
				s.markUsed(c.rec, c.entry)
			}
			return c.rec, c.err
		case <-ctx.Done():
			return nil, fmt.Errorf("sqlstore: lookup key: %w", ctx.Err())
		}
	}
	// The query is shared: one caller going away must not fail the
	// others, so it runs on the budget alone.
	// The entry is trusted for the TTL from when the query started: the
	// row may change while it runs.
	started := s.mono()
	rec, updated, err := s.queryDigest(context.WithoutCancel(ctx), d)
	var e *keyEntry
	if err == nil || errors.Is(err, apiauth.ErrKeyNotFound) {
		e = &keyEntry{rec: rec, updated: updated, deadline: started + int64(s.cfg.cacheTTL)}
	}
	now := s.mono()
	s.advanceClock(now)
	s.cache.finish(d, c, gen, e, rec, err, now)
	if err != nil {
		return nil, err
	}
	if use {
		s.markUsed(rec, e)
	}
	return rec, nil
}

// GetKey implements apiauth.KeyStore. With the cache on, a key ID seen
// before is answered like LookupKey, through the digest cache and the same
// invalidation (the JWT verifier checks the API key of every exchanged
// token by ID, so this is on the request path); otherwise it asks the
// database. A cached record's LastUsedAt may lag by up to the cache TTL:
// ListKeys reads the table.
func (s *Store) GetKey(ctx context.Context, id string) (*apiauth.KeyRecord, error) {
	if s.cache != nil {
		s.digestsMu.RLock()
		d, ok := s.digests[id]
		s.digestsMu.RUnlock()
		if ok {
			rec, err := s.lookup(ctx, d, false)
			if err == nil && rec.KeyID != id {
				err = apiauth.ErrKeyNotFound
			}
			if errors.Is(err, apiauth.ErrKeyNotFound) {
				return nil, fmt.Errorf("%w: %s", apiauth.ErrKeyNotFound, id)
			}
			return rec, err
		}
	}
	qctx, cancel := s.budget(ctx)
	defer cancel()
	rec, _, err := scanRecord(s.db.QueryRowContext(qctx, s.q.byID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: %s", apiauth.ErrKeyNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: get key %s: %w", id, err)
	}
	if s.cache != nil {
		s.digestsMu.Lock()
		if s.digests == nil || len(s.digests) >= s.cfg.cacheSize {
			s.digests = make(map[string]apiauth.KeyDigest)
		}
		s.digests[id] = rec.Digest
		s.digestsMu.Unlock()
	}
	return rec, nil
}

// queryDigest reads the record with digest d and its updated_at.
func (s *Store) queryDigest(ctx context.Context, d apiauth.KeyDigest) (*apiauth.KeyRecord, int64, error) {
	ctx, cancel := s.budget(ctx)
	defer cancel()
	rec, updated, err := scanRecord(s.db.QueryRowContext(ctx, s.q.byDigest, d[:]))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, 0, apiauth.ErrKeyNotFound
	}
	if err != nil {
		return nil, 0, fmt.Errorf("sqlstore: lookup key: %w", err)
	}
	return rec, updated, nil
}

// ListKeys implements apiauth.KeyStore: the tenant's keys, revoked ones
// included, oldest first (ties by ID).
func (s *Store) ListKeys(ctx context.Context, tenant string) ([]*apiauth.KeyRecord, error) {
	ctx, cancel := s.budget(ctx)
	defer cancel()
	rows, err := s.db.QueryContext(ctx, s.q.byTenant, tenant)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list keys: %w", err)
	}
	defer rows.Close()
	var out []*apiauth.KeyRecord
	for rows.Next() {
		rec, _, err := scanRecord(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: list keys: %w", err)
		}
		out = append(out, rec)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: list keys: %w", err)
	}
	return out, nil
}

// CreateKey implements apiauth.KeyStore. It stores every field of rec (the
// store keeps no reference to it), times to the microsecond; ErrKeyExists
// when the ID or the digest is taken. Scopes must be valid (Scope.Valid).
func (s *Store) CreateKey(ctx context.Context, rec *apiauth.KeyRecord) error {
	if rec == nil || rec.KeyID == "" {
		return errors.New("sqlstore: create key: empty ID")
	}
	scopes, err := joinScopes(rec.Scopes)
	if err != nil {
		return fmt.Errorf("sqlstore: create key %s: %w", rec.KeyID, err)
	}
	ctx, cancel := s.writeBudget(ctx)
	defer cancel()
	res, err := s.db.ExecContext(ctx, s.q.insert,
		rec.KeyID, rec.Digest[:], rec.Name, rec.Subject, rec.Tenant, scopes, rec.Tier,
		s.timeArg(rec.CreatedAt), s.timeArg(rec.ExpiresAt), s.timeArg(rec.RevokedAt),
		rec.ReplacedBy, s.timeArg(rec.LastUsedAt))
	if err != nil {
		return fmt.Errorf("sqlstore: create key %s: %w", rec.KeyID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlstore: create key %s: %w", rec.KeyID, err)
	}
	if n == 0 {
		return fmt.Errorf("%w: ID %s or its key", apiauth.ErrKeyExists, rec.KeyID)
	}
	s.invalidate(rec.Digest) // a cached "not found"
	return nil
}

// RevokeKey implements apiauth.KeyStore, in one statement: a key revoked
// earlier keeps its earlier time. This store's cache forgets the key at
// once; other instances see it as the package documentation says.
func (s *Store) RevokeKey(ctx context.Context, id string, at time.Time) error {
	t := s.timeArg(at)
	return s.update(ctx, "revoke", id, s.q.revoke, t, t, id)
}

// ExpireKey implements apiauth.KeyStore, in one statement: the expiry only
// moves forward in time (never later), ReplacedBy is set, nothing else
// changes; a key with a revocation time is left alone, and ExpireKey then
// returns an error matching apiauth.ErrTokenRevoked.
func (s *Store) ExpireKey(ctx context.Context, id string, at time.Time, replacedBy string) error {
	t := s.timeArg(at)
	err := s.update(ctx, "expire", id, s.q.expire, t, t, replacedBy, id)
	if !errors.Is(err, apiauth.ErrKeyNotFound) {
		return err
	}
	// No row changed: the key was missing or revoked, and a revocation
	// is never undone.
	qctx, cancel := s.budget(ctx)
	defer cancel()
	var one int
	switch err := s.db.QueryRowContext(qctx, s.q.revoked, id).Scan(&one); {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("%w: %s", apiauth.ErrKeyNotFound, id)
	case err != nil:
		return fmt.Errorf("sqlstore: expire key %s: %w", id, err)
	}
	return fmt.Errorf("%w: %s", apiauth.ErrTokenRevoked, id)
}

func (s *Store) update(ctx context.Context, what, id, query string, args ...any) error {
	ctx, cancel := s.writeBudget(ctx)
	defer cancel()
	var digest []byte
	err := s.db.QueryRowContext(ctx, query, args...).Scan(&digest)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w: %s", apiauth.ErrKeyNotFound, id)
	}
	if err != nil {
		return fmt.Errorf("sqlstore: %s key %s: %w", what, id, err)
	}
	var d apiauth.KeyDigest
	if len(digest) != len(d) {
		return fmt.Errorf("sqlstore: %s key %s: digest of %d bytes in the database", what, id, len(digest))
	}
	copy(d[:], digest)
	s.invalidate(d)
	return nil
}

// invalidate drops d from the cache, keeps a lookup already under way
// from caching what it read before the change, and detaches it, so that
// no lookup starting after the change is answered by it.
func (s *Store) invalidate(d apiauth.KeyDigest) {
	if s.cache != nil {
		s.cache.invalidate(d, -1)
	}
}

// timeArg converts t to the dialect's column value: NULL for the zero
// time, a time.Time in UTC (PostgreSQL) or Unix microseconds (SQLite),
// truncated to the microsecond.
func (s *Store) timeArg(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	t = t.UTC().Truncate(time.Microsecond)
	if s.dialect == SQLite {
		return t.UnixMicro()
	}
	return t
}

func joinScopes(scopes []apiauth.Scope) (string, error) {
	var b strings.Builder
	for i, sc := range scopes {
		if !sc.Valid() {
			return "", fmt.Errorf("invalid scope %q", sc)
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(string(sc))
	}
	return b.String(), nil
}

func splitScopes(s string) []apiauth.Scope {
	if s == "" {
		return nil
	}
	f := strings.Fields(s)
	out := make([]apiauth.Scope, len(f))
	for i, x := range f {
		out[i] = apiauth.Scope(x)
	}
	return out
}

// dbTime scans a time column: NULL, a time.Time (PostgreSQL) or Unix
// microseconds (SQLite).
type dbTime struct{ t time.Time }

func (x *dbTime) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		x.t = time.Time{}
	case time.Time:
		x.t = v
	case int64:
		x.t = time.UnixMicro(v)
	default:
		return fmt.Errorf("sqlstore: time column holds %T", v)
	}
	return nil
}

type scanner interface{ Scan(dest ...any) error }

// scanRecord reads the columns of queries.cols.
func scanRecord(row scanner) (*apiauth.KeyRecord, int64, error) {
	var (
		rec                                      apiauth.KeyRecord
		digest                                   []byte
		scopes                                   string
		created, expires, revoked, used, updated dbTime
	)
	err := row.Scan(&rec.KeyID, &digest, &rec.Name, &rec.Subject, &rec.Tenant, &scopes, &rec.Tier,
		&created, &expires, &revoked, &rec.ReplacedBy, &used, &updated)
	if err != nil {
		return nil, 0, err
	}
	if len(digest) != len(rec.Digest) {
		return nil, 0, fmt.Errorf("sqlstore: key %s: digest of %d bytes in the database", rec.KeyID, len(digest))
	}
	copy(rec.Digest[:], digest)
	rec.Scopes = splitScopes(scopes)
	rec.CreatedAt, rec.ExpiresAt, rec.RevokedAt, rec.LastUsedAt = created.t, expires.t, revoked.t, used.t
	return &rec, updated.t.UnixMicro(), nil
}

// Ping reports whether the database answers: a readiness check (see
// apiauth.Ready).
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }
