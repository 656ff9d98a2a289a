package sqlstore_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apiauth/apiauth/sqlstore"
	"github.com/apiauth/apiauth/sqlstore/pgnotify"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"
)

// sqliteDSN is a SQLite file in dir, in WAL mode, whose writers wait for
// each other.
func sqliteDSN(dir string) string {
	return "file:" + filepath.Join(dir, "keys.db") + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(wal)&_pragma=synchronous(normal)"
}

// openSQLite opens a new SQLite database in a temporary directory.
func openSQLite(t testing.TB) (*sql.DB, string) {
	t.Helper()
	dir := t.TempDir()
	return openSQLiteIn(t, dir), dir
}

func openSQLiteIn(t testing.TB, dir string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", sqliteDSN(dir))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// postgresURL returns APIAUTH_POSTGRES_URL, or skips the test.
func postgresURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("APIAUTH_POSTGRES_URL")
	if u == "" {
		t.Skip("sqlstore: no PostgreSQL: set APIAUTH_POSTGRES_URL")
	}
	return u
}

// openPostgres opens the database named by APIAUTH_POSTGRES_URL (the test
// skips without it and fails if it is set but unreachable) and migrates it.
func openPostgres(t testing.TB) *sql.DB {
	t.Helper()
	return openPostgresURL(t, postgresURL(t))
}

func openPostgresURL(t testing.TB, u string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", u)
	if err != nil {
		t.Fatal(err)
	}
	// Keep connections open between bursts: opening one (SCRAM) is slow.
	db.SetMaxIdleConns(32)
	t.Cleanup(func() { db.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		t.Fatalf("sqlstore: APIAUTH_POSTGRES_URL is set but PostgreSQL does not answer: %v", err)
	}
	return db
}

// newStore returns a migrated store on db, closed at the end of the test.
// Its budgets are generous, so that the race detector's slowness (about
// 10x on modernc.org/sqlite) does not fail tests of the contract; tests of
// the budget set it.
func newStore(t testing.TB, db *sql.DB, opts ...sqlstore.Option) *sqlstore.Store {
	t.Helper()
	opts = append([]sqlstore.Option{sqlstore.WithQueryTimeout(5 * time.Second), sqlstore.WithWriteTimeout(10 * time.Second)}, opts...)
	s, err := sqlstore.New(db, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return s
}

// newPostgresStore returns a store on PostgreSQL that listens for
// notifications.
func newPostgresStore(t testing.TB, db *sql.DB, opts ...sqlstore.Option) *sqlstore.Store {
	t.Helper()
	return newStore(t, db, append([]sqlstore.Option{sqlstore.WithListener(pgnotify.New(db))}, opts...)...)
}

// A flaky database: a driver wrapper that can refuse every call or hang
// until the caller's deadline, as a database that is down or unreachable.
const (
	up int32 = iota
	refuse
	hang
)

var errRefused = errors.New("flaky: connection refused")

// hooks change what a wrapped SQLite driver does: before runs ahead of
// every connection and statement, and fails them with its error; query
// sees the text and the answer of every query, and may replace the
// answer. A nil hook changes nothing.
type hooks struct {
	before func(ctx context.Context) error
	query  func(q string, rows driver.Rows, err error) (driver.Rows, error)
}

// hookedConnector opens connections of drv to dsn, wrapped with hooks.
type hookedConnector struct {
	dsn string
	drv driver.Driver
	h   hooks
}

func (c *hookedConnector) Connect(ctx context.Context) (driver.Conn, error) {
	if err := c.h.run(ctx); err != nil {
		return nil, err
	}
	conn, err := c.drv.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	return &hookedConn{Conn: conn, h: c.h}, nil
}

func (c *hookedConnector) Driver() driver.Driver { return c.drv }

func (h hooks) run(ctx context.Context) error {
	if h.before == nil {
		return nil
	}
	return h.before(ctx)
}

type hookedConn struct {
	driver.Conn
	h hooks
}

func (c *hookedConn) PrepareContext(ctx context.Context, q string) (driver.Stmt, error) {
	if err := c.h.run(ctx); err != nil {
		return nil, err
	}
	return c.Conn.(driver.ConnPrepareContext).PrepareContext(ctx, q)
}

func (c *hookedConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if err := c.h.run(ctx); err != nil {
		return nil, err
	}
	return c.Conn.(driver.ConnBeginTx).BeginTx(ctx, opts)
}

func (c *hookedConn) QueryContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	if err := c.h.run(ctx); err != nil {
		return nil, err
	}
	rows, err := c.Conn.(driver.QueryerContext).QueryContext(ctx, q, args)
	if c.h.query != nil {
		return c.h.query(q, rows, err)
	}
	return rows, err
}

func (c *hookedConn) ExecContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	if err := c.h.run(ctx); err != nil {
		return nil, err
	}
	return c.Conn.(driver.ExecerContext).ExecContext(ctx, q, args)
}

// openHookedSQLite opens a SQLite database in dir through a driver
// wrapped with h, closed when the test ends.
func openHookedSQLite(t testing.TB, dir string, h hooks) *sql.DB {
	t.Helper()
	plain, err := sql.Open("sqlite", "")
	if err != nil {
		t.Fatal(err)
	}
	drv := plain.Driver()
	plain.Close()
	db := sql.OpenDB(&hookedConnector{dsn: sqliteDSN(dir), drv: drv, h: h})
	t.Cleanup(func() { db.Close() })
	return db
}

func flakyWait(ctx context.Context, state *atomic.Int32) error {
	switch state.Load() {
	case refuse:
		return errRefused
	case hang:
		<-ctx.Done()
		return ctx.Err()
	}
	return nil
}

// openFlakySQLite opens a SQLite database in dir through the flaky wrapper.
func openFlakySQLite(t testing.TB, dir string) (*sql.DB, *atomic.Int32) {
	t.Helper()
	state := new(atomic.Int32)
	db := openHookedSQLite(t, dir, hooks{before: func(ctx context.Context) error { return flakyWait(ctx, state) }})
	return db, state
}

// A held read: a driver wrapper that, once armed, lets the next query
// containing a given text read its first row and then holds it, as a read
// in flight that has seen the row as it was, until released.
type hold struct {
	match   string
	armed   atomic.Bool
	held    chan struct{} // closed when the read is held
	release chan struct{}
	once    sync.Once
}

func newHold(match string) *hold {
	return &hold{match: match, held: make(chan struct{}), release: make(chan struct{})}
}

// Release lets the held read, if any, go on; later reads are not held.
func (h *hold) Release() { h.once.Do(func() { close(h.release) }) }

type heldRows struct {
	driver.Rows
	h    *hold
	done bool
}

func (r *heldRows) Next(dest []driver.Value) error {
	err := r.Rows.Next(dest)
	if !r.done {
		r.done = true
		close(r.h.held)
		<-r.h.release
	}
	return err
}

// openHeldSQLite opens a SQLite database in dir through the hold wrapper;
// the read is released when the test ends, at the latest.
func openHeldSQLite(t testing.TB, dir string, h *hold) *sql.DB {
	t.Helper()
	db := openHookedSQLite(t, dir, hooks{query: func(q string, rows driver.Rows, err error) (driver.Rows, error) {
		if err != nil || !strings.Contains(q, h.match) || !h.armed.CompareAndSwap(true, false) {
			return rows, err
		}
		return &heldRows{Rows: rows, h: h}, nil
	}})
	t.Cleanup(h.Release)
	return db
}

// tcpProxy forwards connections to a PostgreSQL server and can cut them:
// in refuse mode it closes every connection; in hang mode it closes the
// open ones and leaves new ones unanswered, as a network that drops
// packets.
type tcpProxy struct {
	ln     net.Listener
	target string
	mode   atomic.Int32
	mu     sync.Mutex
	conns  map[net.Conn]bool
	wg     sync.WaitGroup
}

func newTCPProxy(t testing.TB, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(func() { ln.Close(); p.set(refuse); p.wg.Wait() })
	return p
}

func (p *tcpProxy) track(c net.Conn) {
	p.mu.Lock()
	p.conns[c] = true
	p.mu.Unlock()
}

func (p *tcpProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.track(c)
		switch p.mode.Load() {
		case refuse:
			c.Close()
			continue
		case hang:
			continue // held open, never answered, closed by set
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.track(s)
		p.wg.Add(2)
		go func() { defer p.wg.Done(); io.Copy(s, c); s.Close() }()
		go func() { defer p.wg.Done(); io.Copy(c, s); c.Close() }()
	}
}

// set changes the mode; leaving "up" closes every open connection.
func (p *tcpProxy) set(mode int32) {
	p.mode.Store(mode)
	if mode == up {
		return
	}
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
	p.mu.Unlock()
}

// proxiedURL returns u with its host replaced by the proxy's.
func (p *tcpProxy) proxiedURL(t testing.TB, u string) string {
	t.Helper()
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	pu.Host = p.ln.Addr().String()
	return pu.String()
}

// postgresHostPort returns the host:port of a PostgreSQL URL.
func postgresHostPort(t testing.TB, u string) string {
	t.Helper()
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	if pu.Port() == "" {
		return net.JoinHostPort(pu.Hostname(), "5432")
	}
	return pu.Host
}

// eventually calls f until it reports true or within passes, and returns
// how long it took.
func eventually(t testing.TB, within time.Duration, what string, f func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		if f() {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// mkdirTemp makes a directory removed when the process ends (benchmarks
// share it across runs of one benchmark).
func mkdirTemp() (string, error) {
	return os.MkdirTemp("", "sqlstore-bench-")
}
