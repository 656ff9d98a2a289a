package sqlstore_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apiauth/apiauth"
	"github.com/apiauth/apiauth/apiauthtest"
	"github.com/apiauth/apiauth/oauth"
	"github.com/apiauth/apiauth/sqlstore"
)

func TestSQLiteGrantConformance(t *testing.T) {
	apiauthtest.TestGrantStore(t, func(t *testing.T) oauth.GrantStore {
		db, _ := openSQLite(t)
		return newStore(t, db)
	})
}

func TestSQLiteGrantConformanceShared(t *testing.T) {
	// One database and one store for every subtest.
	db, _ := openSQLite(t)
	s := newStore(t, db)
	apiauthtest.TestGrantStore(t, func(*testing.T) oauth.GrantStore { return s })
}

// grantInstances is how many stores, each on a *sql.DB of its own (a pool of
// connections, as a process has), share one database in the tests of
// atomicity across instances.
const grantInstances = 4

// TestSQLiteGrantConformanceInstances runs the suite with every call sent
// to the next of 4 stores, each on its own *sql.DB, on one SQLite file: 50
// redemptions of one code, or rotations of one token, race through all of
// them, and exactly one wins.
//
// The stores cache nothing: the suite reads a grant through one instance
// right after changing it through another, which a cache per instance sees
// only at its next poll or notification, as the package documentation
// says (TestGrantRevokedElsewhere checks that). What is checked here,
// atomicity across instances, is in the writes, which no cache touches;
// the single-store runs above check the suite with the cache on.
func TestSQLiteGrantConformanceInstances(t *testing.T) {
	apiauthtest.TestGrantStore(t, func(t *testing.T) oauth.GrantStore {
		_, dir := openSQLite(t)
		var rr roundRobin
		for range grantInstances {
			rr.stores = append(rr.stores, newStore(t, openSQLiteIn(t, dir), sqlstore.WithCacheSize(0)))
		}
		return &rr
	})
}

func TestPostgresGrantConformance(t *testing.T) {
	db := openPostgres(t)
	apiauthtest.TestGrantStore(t, func(t *testing.T) oauth.GrantStore { return newStore(t, db) })
}

// TestPostgresGrantConformanceInstances is TestSQLiteGrantConformanceInstances
// on PostgreSQL, uncached for the same reason.
func TestPostgresGrantConformanceInstances(t *testing.T) {
	u := postgresURL(t)
	var rr roundRobin
	for range grantInstances {
		rr.stores = append(rr.stores, newStore(t, openPostgresURL(t, u), sqlstore.WithCacheSize(0)))
	}
	apiauthtest.TestGrantStore(t, func(*testing.T) oauth.GrantStore { return &rr })
}

// roundRobin sends each call to the next of its stores, as a load balancer
// sends requests to instances.
type roundRobin struct {
	stores []oauth.GrantStore
	n      atomic.Uint64
}

func (r *roundRobin) next() oauth.GrantStore {
	return r.stores[r.n.Add(1)%uint64(len(r.stores))]
}

func (r *roundRobin) CreateCode(ctx context.Context, c *oauth.Code) error {
	return r.next().CreateCode(ctx, c)
}

func (r *roundRobin) RedeemCode(ctx context.Context, code, refresh apiauth.KeyDigest, now time.Time, idle time.Duration) (*oauth.Code, error) {
	return r.next().RedeemCode(ctx, code, refresh, now, idle)
}

func (r *roundRobin) RotateRefresh(ctx context.Context, old, new apiauth.KeyDigest, now time.Time, idle time.Duration) (*oauth.Grant, error) {
	return r.next().RotateRefresh(ctx, old, new, now, idle)
}

func (r *roundRobin) LookupRefresh(ctx context.Context, d apiauth.KeyDigest) (*oauth.Grant, error) {
	return r.next().LookupRefresh(ctx, d)
}

func (r *roundRobin) GetGrant(ctx context.Context, id string) (*oauth.Grant, error) {
	return r.next().GetGrant(ctx, id)
}

func (r *roundRobin) RevokeGrant(ctx context.Context, id string, at time.Time) error {
	return r.next().RevokeGrant(ctx, id, at)
}

func (r *roundRobin) SaveConsent(ctx context.Context, tenant, subject, clientID string, scopes []apiauth.Scope, now time.Time) error {
	return r.next().SaveConsent(ctx, tenant, subject, clientID, scopes, now)
}

func (r *roundRobin) Consent(ctx context.Context, tenant, subject, clientID string) ([]apiauth.Scope, error) {
	return r.next().Consent(ctx, tenant, subject, clientID)
}

func (r *roundRobin) RevokeConsent(ctx context.Context, tenant, subject, clientID string) error {
	return r.next().RevokeConsent(ctx, tenant, subject, clientID)
}

func randDigest(t testing.TB) apiauth.KeyDigest {
	var d apiauth.KeyDigest
	if _, err := rand.Read(d[:]); err != nil {
		t.Fatal(err)
	}
	return d
}

// countRows returns the number of rows of each grant table.
func countRows(t *testing.T, db *sql.DB) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, table := range []string{"apiauth_oauth_codes", "apiauth_oauth_grants", "apiauth_oauth_refresh_tokens"} {
		var n int
		if err := db.QueryRow("SELECT COUNT(*) FROM " + table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		out[table] = n
	}
	return out
}

// testGrantSweep: expired codes and grants, with their refresh tokens, are
// deleted an hour after they expired, by the system clock, and nothing
// live is.
func testGrantSweep(t *testing.T, db *sql.DB) {
	ctx := context.Background()
	s := newStore(t, db)
	now := time.Now()
	// Issued two days ago: codes expired a minute later, grants (each
	// rotated once) an hour later; every tenth code never redeemed.
	old := now.Add(-48 * time.Hour)
	const n = 40
	for i := range n {
		at := old.Add(time.Duration(i) * time.Second)
		c := &oauth.Code{Digest: randDigest(t), GrantID: fmt.Sprint("old-", i, "-", now.UnixNano()), ClientID: "c",
			CreatedAt: at, ExpiresAt: at.Add(time.Minute), GrantExpiresAt: at.Add(time.Hour)}
		if err := s.CreateCode(ctx, c); err != nil {
			t.Fatal(err)
		}
		if i%10 == 0 {
			continue
		}
		r := randDigest(t)
		if _, err := s.RedeemCode(ctx, c.Digest, r, at.Add(time.Second), 10*time.Minute); err != nil {
			t.Fatal(err)
		}
		if _, err := s.RotateRefresh(ctx, r, randDigest(t), at.Add(2*time.Second), 10*time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	// Live: a code, and a grant expired by the time a caller running a
	// day ahead gives, but not by the system clock.
	live := &oauth.Code{Digest: randDigest(t), GrantID: fmt.Sprint("live-", now.UnixNano()), ClientID: "c",
		CreatedAt: now, ExpiresAt: now.Add(time.Minute), GrantExpiresAt: now.Add(2 * time.Hour)}
	if err := s.CreateCode(ctx, live); err != nil {
		t.Fatal(err)
	}
	liveRefresh := randDigest(t)
	if _, err := s.RedeemCode(ctx, live.Digest, liveRefresh, now, time.Hour); err != nil {
		t.Fatal(err)
	}
	before := countRows(t, db)
	if err := sqlstore.SweepGrants(ctx, s, now.Add(24*time.Hour)); err != nil {
		t.Fatalf("sweep: %v", err)
	}
	after := countRows(t, db)
	for table, n := range before {
		t.Logf("%s: %d rows, %d after the sweep", table, n, after[table])
	}
	want := map[string]int{"apiauth_oauth_codes": 1, "apiauth_oauth_grants": 1, "apiauth_oauth_refresh_tokens": 1}
	for table, n := range want {
		if after[table] != n {
			t.Errorf("%s: %d rows after the sweep, want %d (the live one)", table, after[table], n)
		}
	}
	if g, err := s.LookupRefresh(ctx, liveRefresh); err != nil || g.ID != live.GrantID {
		t.Fatalf("the live grant after a sweep: %v, %v", g, err)
	}
}

func TestSQLiteGrantSweep(t *testing.T) {
	db, _ := openSQLite(t)
	testGrantSweep(t, db)
}

func TestPostgresGrantSweep(t *testing.T) {
	// A schema of its own: the sweep counts every row.
	testGrantSweep(t, openPostgresSchema(t, "apiauth_sweep"))
}

// openPostgresSchema opens the database of APIAUTH_POSTGRES_URL in a new
// schema, dropped when the test ends.
func openPostgresSchema(t *testing.T, prefix string) *sql.DB {
	t.Helper()
	u := postgresURL(t)
	admin := openPostgresURL(t, u)
	schema := fmt.Sprintf("%s_%d", prefix, time.Now().UnixNano())
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			t.Errorf("drop schema: %v", err)
		}
	})
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	q := pu.Query()
	q.Set("search_path", schema)
	pu.RawQuery = q.Encode()
	db := openPostgresURL(t, pu.String())
	return db
}

// TestSQLiteGrantsDatabaseDown: while the database is down or hangs, every
// call fails with an error that is no verdict on the code, token or grant
// (never ErrGrantNotFound, ErrCodeUsed, ErrRefreshReused…), which an
// endpoint answers with 503, not invalid_grant; afterwards the code is
// still redeemable.
func TestSQLiteGrantsDatabaseDown(t *testing.T) {
	ctx := context.Background()
	db, state := openFlakySQLite(t, t.TempDir())
	s := newStore(t, db, sqlstore.WithDialect(sqlstore.SQLite), sqlstore.WithQueryTimeout(sqlstore.DefaultQueryTimeout), sqlstore.WithWriteTimeout(300*time.Millisecond))
	now := time.Now()
	c := &oauth.Code{Digest: randDigest(t), GrantID: "g", ClientID: "c", CreatedAt: now, ExpiresAt: now.Add(time.Minute), GrantExpiresAt: now.Add(time.Hour)}
	if err := s.CreateCode(ctx, c); err != nil {
		t.Fatal(err)
	}
	verdicts := []error{oauth.ErrGrantNotFound, oauth.ErrGrantExists, oauth.ErrGrantRevoked, oauth.ErrGrantExpired,
		oauth.ErrCodeUsed, oauth.ErrCodeExpired, oauth.ErrRefreshReused, oauth.ErrConsentNotFound}
	for _, mode := range []int32{refuse, hang} {
		state.Store(mode)
		for name, call := range map[string]func() error{
			"RedeemCode": func() error {
				_, err := s.RedeemCode(ctx, c.Digest, randDigest(t), now, time.Hour)
				return err
			},
			"RotateRefresh": func() error {
				_, err := s.RotateRefresh(ctx, randDigest(t), randDigest(t), now, time.Hour)
				return err
			},
			"GetGrant":    func() error { _, err := s.GetGrant(ctx, "g"); return err },
			"RevokeGrant": func() error { return s.RevokeGrant(ctx, "g", now) },
			"Consent":     func() error { _, err := s.Consent(ctx, "t", "s", "c"); return err },
		} {
			start := time.Now()
			err := call()
			if err == nil {
				t.Fatalf("mode %d: %s during the outage succeeded", mode, name)
			}
			for _, v := range verdicts {
				if errors.Is(err, v) {
					t.Fatalf("mode %d: %s during the outage: %v, a verdict rather than a failure", mode, name, err)
				}
			}
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("mode %d: %s took %v, past its budget", mode, name, took)
			}
		}
	}
	state.Store(up)
	eventually(t, 5*time.Second, "redemption after the outage", func() bool {
		_, err := s.RedeemCode(ctx, c.Digest, randDigest(t), now, time.Hour)
		return err == nil
	})
}

// TestSQLiteUpgradeToGrants: a database at schema version 2 (keys and
// clients, as the release before grants left it) is migrated to the
// latest, and grants work.
func TestSQLiteUpgradeToGrants(t *testing.T) {
	ctx := context.Background()
	db, _ := openSQLite(t)
	old := newUnmigratedStore(t, db)
	if err := sqlstore.MigrateTo(ctx, old, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := old.GetGrant(ctx, "g"); err == nil || errors.Is(err, oauth.ErrGrantNotFound) {
		t.Fatalf("GetGrant at version 2: %v, want a store failure (no table)", err)
	}
	s := newStore(t, db)
	now := time.Now()
	c := &oauth.Code{Digest: randDigest(t), GrantID: "g", ClientID: "c", CreatedAt: now, ExpiresAt: now.Add(time.Minute), GrantExpiresAt: now.Add(time.Hour)}
	if err := s.CreateCode(ctx, c); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RedeemCode(ctx, c.Digest, randDigest(t), now, time.Hour); err != nil {
		t.Fatal(err)
	}
}

func TestSchemaHasGrants(t *testing.T) {
	for _, d := range []sqlstore.Dialect{sqlstore.Postgres, sqlstore.SQLite} {
		s := sqlstore.Schema(d)
		for _, table := range []string{"apiauth_oauth_codes", "apiauth_oauth_grants", "apiauth_oauth_refresh_tokens", "apiauth_oauth_consents"} {
			if !strings.Contains(s, "CREATE TABLE IF NOT EXISTS "+table) {
				t.Errorf("Schema(%v) lacks %s", d, table)
			}
		}
		if i, j := strings.Index(s, "0002_oauth_clients.sql"), strings.Index(s, "0003_oauth_grants.sql"); i < 0 || j < i {
			t.Errorf("Schema(%v): version 3 missing or out of order", d)
		}
	}
	if v := sqlstore.SchemaVersion(); v < 3 {
		t.Errorf("SchemaVersion() = %d, want 3 or later", v)
	}
}

// TestSchemaHasGrantsUpdatedAt: version 5 gives grants an updated_at kept
// by a trigger, and on PostgreSQL notifies their changes.
func TestSchemaHasGrantsUpdatedAt(t *testing.T) {
	for _, d := range []sqlstore.Dialect{sqlstore.Postgres, sqlstore.SQLite} {
		s := sqlstore.Schema(d)
		i, j := strings.Index(s, "0004_oauth_client_fields.sql"), strings.Index(s, "0005_oauth_grants_cache.sql")
		if i < 0 || j < i {
			t.Errorf("Schema(%v): version 5 missing or out of order", d)
			continue
		}
		for _, want := range []string{"updated_at", "apiauth_oauth_grants_touch"} {
			if !strings.Contains(s[j:], want) {
				t.Errorf("Schema(%v): version 5 lacks %s", d, want)
			}
		}
		if d == sqlstore.Postgres && !strings.Contains(s[j:], "pg_notify") {
			t.Errorf("Schema(%v): version 5 does not notify", d)
		}
	}
	if v := sqlstore.SchemaVersion(); v < 5 {
		t.Errorf("SchemaVersion() = %d, want 5 or later", v)
	}
}
