package sqlstore_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apiauth/apiauth"
	"github.com/apiauth/apiauth/apiauthtest"
	"github.com/apiauth/apiauth/oauth"
	"github.com/apiauth/apiauth/sqlstore"
)

func TestSQLiteClientConformance(t *testing.T) {
	apiauthtest.TestClientStore(t, func(t *testing.T) oauth.ClientStore {
		db, _ := openSQLite(t)
		return newStore(t, db)
	})
}

func TestSQLiteClientConformanceShared(t *testing.T) {
	// One database and one store for every subtest.
	db, _ := openSQLite(t)
	s := newStore(t, db)
	apiauthtest.TestClientStore(t, func(*testing.T) oauth.ClientStore { return s })
}

func TestPostgresClientConformance(t *testing.T) {
	db := openPostgres(t)
	apiauthtest.TestClientStore(t, func(t *testing.T) oauth.ClientStore {
		return newPostgresStore(t, db)
	})
}

// newIssuer returns an issuer of client_credentials tokens on clients,
// with a cheap signing key.
func newIssuer(t testing.TB, clients oauth.ClientStore) *oauth.Issuer {
	t.Helper()
	k, err := oauth.GenerateSigningKey("ES256")
	if err != nil {
		t.Fatal(err)
	}
	is, err := oauth.NewIssuer(oauth.Config{Issuer: "https://auth.example.test", Audience: "https://api.example.test", Clients: clients, SigningKey: &k})
	if err != nil {
		t.Fatal(err)
	}
	return is
}

// askToken sends one client_credentials request (HTTP Basic) to is and
// returns the status and the RFC 6749 error code, if any.
func askToken(is *oauth.Issuer, id, secret string) (int, string) {
	req := httptest.NewRequest(http.MethodPost, "/token", strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	rec := httptest.NewRecorder()
	is.TokenHandler().ServeHTTP(rec, req)
	var body struct {
		Error       string `json:"error"`
		AccessToken string `json:"access_token"`
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &body)
	if rec.Code == http.StatusOK && body.AccessToken == "" {
		return rec.Code, "no access_token"
	}
	return rec.Code, body.Error
}

func register(t testing.TB, s oauth.ClientStore, tenant string) (*oauth.ClientRecord, string) {
	t.Helper()
	secret := oauth.GenerateClientSecret()
	id := fmt.Sprintf("client-%d-%s", time.Now().UnixNano(), secret[:6])
	c, err := oauth.RegisterClient(context.Background(), s, oauth.ClientSpec{ID: id, Tenant: tenant, Scopes: []apiauth.Scope{apiauth.Read}}, secret)
	if err != nil {
		t.Fatal(err)
	}
	return c, secret
}

// testDisableClient checks DisableClient on two stores sharing a database:
// monotonic, refused by the other instance's issuer at its next request.
func testDisableClient(t *testing.T, a, b *sqlstore.Store) {
	ctx := context.Background()
	c, secret := register(t, a, "acme")
	isB := newIssuer(t, b)
	if code, e := askToken(isB, c.ID, secret); code != 200 {
		t.Fatalf("before DisableClient: %d %s", code, e)
	}
	at := time.Now().Truncate(time.Microsecond)
	if err := a.DisableClient(ctx, c.ID, at); err != nil {
		t.Fatalf("DisableClient: %v", err)
	}
	// No cache: the other instance refuses the very next request.
	if code, e := askToken(isB, c.ID, secret); code != 401 || e != "invalid_client" {
		t.Fatalf("the other instance, right after DisableClient: %d %s, want 401 invalid_client", code, e)
	}
	check := func(want time.Time, why string) {
		t.Helper()
		got, err := b.GetClient(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !got.DisabledAt.Equal(want) {
			t.Fatalf("DisabledAt %v, want %v: %s", got.DisabledAt, want, why)
		}
		if got.SecretDigest != c.SecretDigest || got.Tenant != "acme" {
			t.Fatal("DisableClient changed another field")
		}
	}
	check(at, "set")
	if err := b.DisableClient(ctx, c.ID, at.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	check(at, "a later time never replaces an earlier one")
	if err := b.DisableClient(ctx, c.ID, at.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	check(at.Add(-time.Minute), "an earlier time replaces a later one")
	if err := a.DisableClient(ctx, "no-such-client", at); !errors.Is(err, oauth.ErrClientNotFound) {
		t.Fatalf("DisableClient of an unknown client: %v, want ErrClientNotFound", err)
	}
	if _, err := a.GetClient(ctx, "no-such-client"); !errors.Is(err, oauth.ErrClientNotFound) {
		t.Fatalf("DisableClient of an unknown client created it: %v", err)
	}
	if err := a.DisableClient(ctx, c.ID, time.Time{}); err == nil {
		t.Fatal("DisableClient with the zero time succeeded")
	}
	check(at.Add(-time.Minute), "a refused call changes nothing")
}

func TestSQLiteDisableClient(t *testing.T) {
	_, dir := openSQLite(t)
	testDisableClient(t, newStore(t, openSQLiteIn(t, dir)), newStore(t, openSQLiteIn(t, dir)))
}

func TestPostgresDisableClient(t *testing.T) {
	u := postgresURL(t)
	testDisableClient(t, newStore(t, openPostgresURL(t, u)), newStore(t, openPostgresURL(t, u)))
}

// testClientsDatabaseDown: while the database is down or hangs, GetClient
// fails within the read budget with an error that is not
// ErrClientNotFound, and the token endpoint answers 503
// temporarily_unavailable, never invalid_client; afterwards it resumes.
func testClientsDatabaseDown(t *testing.T, s *sqlstore.Store, takeDown func(hang bool), bringUp func()) {
	ctx := context.Background()
	c, secret := register(t, s, "acme")
	is := newIssuer(t, s)
	if code, e := askToken(is, c.ID, secret); code != 200 {
		t.Fatalf("before the outage: %d %s", code, e)
	}
	for _, hang := range []bool{false, true} {
		takeDown(hang)
		for _, id := range []string{c.ID, "unknown-client"} {
			start := time.Now()
			_, err := s.GetClient(ctx, id)
			took := time.Since(start)
			if err == nil || errors.Is(err, oauth.ErrClientNotFound) {
				t.Fatalf("hang=%v: GetClient(%s) during the outage: %v, want a store failure", hang, id, err)
			}
			if took > sqlstore.DefaultQueryTimeout+150*time.Millisecond {
				t.Errorf("hang=%v: GetClient took %v, budget %v", hang, took, sqlstore.DefaultQueryTimeout)
			}
			if code, e := askToken(is, id, secret); code != http.StatusServiceUnavailable || e != "temporarily_unavailable" {
				t.Fatalf("hang=%v: token request for %s during the outage: %d %s, want 503 temporarily_unavailable", hang, id, code, e)
			}
		}
		bringUp()
	}
	eventually(t, 5*time.Second, "token requests resume", func() bool {
		code, _ := askToken(is, c.ID, secret)
		return code == 200
	})
	if code, e := askToken(is, "unknown-client", secret); code != 401 || e != "invalid_client" {
		t.Fatalf("an unknown client after the outage: %d %s, want 401 invalid_client", code, e)
	}
}

func TestSQLiteClientsDatabaseDown(t *testing.T) {
	db, state := openFlakySQLite(t, t.TempDir())
	s := newStore(t, db, sqlstore.WithDialect(sqlstore.SQLite), sqlstore.WithQueryTimeout(sqlstore.DefaultQueryTimeout))
	testClientsDatabaseDown(t, s,
		func(h bool) {
			if h {
				state.Store(hang)
			} else {
				state.Store(refuse)
			}
		},
		func() { state.Store(up) })
}

func TestPostgresClientsDatabaseDown(t *testing.T) {
	u := postgresURL(t)
	openPostgresURL(t, u) // skips or fails clearly
	proxy := newTCPProxy(t, postgresHostPort(t, u))
	s := newStore(t, openPostgresURL(t, proxy.proxiedURL(t, u)), sqlstore.WithQueryTimeout(sqlstore.DefaultQueryTimeout))
	testClientsDatabaseDown(t, s,
		func(h bool) {
			if h {
				proxy.set(hang)
			} else {
				proxy.set(refuse)
			}
		},
		func() { proxy.set(up) })
}

// exerciseClients registers clients, gets tokens with their secrets and
// tries wrong ones, disables one, and returns every secret it used.
func exerciseClients(t *testing.T, s *sqlstore.Store) (secrets []string, digest apiauth.KeyDigest) {
	is := newIssuer(t, s)
	for i := 0; i < 5; i++ {
		c, secret := register(t, s, "scan")
		digest = c.SecretDigest
		if code, e := askToken(is, c.ID, secret); code != 200 {
			t.Fatalf("token request: %d %s", code, e)
		}
		wrong := oauth.GenerateClientSecret()
		if code, _ := askToken(is, c.ID, wrong); code != 401 {
			t.Fatalf("wrong secret: %d", code)
		}
		secrets = append(secrets, secret, wrong)
		if i%2 == 0 {
			if err := s.DisableClient(context.Background(), c.ID, time.Now()); err != nil {
				t.Fatal(err)
			}
		}
	}
	return secrets, digest
}

func checkNoSecret(t *testing.T, where string, data []byte, secrets []string) {
	t.Helper()
	for _, s := range secrets {
		if bytes.Contains(data, []byte(s)) || bytes.Contains(data, []byte(s[:24])) {
			t.Fatalf("%s holds a client secret", where)
		}
	}
}

func TestSQLiteNoPlaintextClientSecret(t *testing.T) {
	db, dir := openSQLite(t)
	s := newStore(t, db)
	secrets, digest := exerciseClients(t, s)
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
		checkNoSecret(t, f, b, secrets)
	}
	if !bytes.Contains(all, digest[:]) {
		t.Fatal("the scan does not even find a secret's digest")
	}
}

func TestPostgresNoPlaintextClientSecret(t *testing.T) {
	db := openPostgres(t)
	s := newStore(t, db)
	secrets, digest := exerciseClients(t, s)
	var dump bytes.Buffer
	for _, table := range []string{"apiauth_oauth_clients", "apiauth_keys", "apiauth_schema_migrations"} {
		rows, err := db.Query("SELECT t::text FROM " + table + " t")
		if err != nil {
			t.Fatal(err)
		}
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
		rows.Close()
	}
	checkNoSecret(t, "the tables", dump.Bytes(), secrets)
	if !strings.Contains(dump.String(), hexString(digest[:])) {
		t.Fatal("the scan does not even find a secret's digest")
	}
}

// testUpgrade builds a database at schema version 1 (keys only, as the
// first release left it), with keys in it, migrates it to the latest
// version, and checks that the keys are intact and clients work.
func testUpgrade(t *testing.T, db *sql.DB) {
	ctx := context.Background()
	old := newUnmigratedStore(t, db)
	if err := sqlstore.MigrateTo(ctx, old, 1); err != nil {
		t.Fatalf("migrate to version 1: %v", err)
	}
	keys := apiauth.NewKeys(old)
	live, liveRec := newKey(t, keys, "acme")
	revoked, revokedRec := newKey(t, keys, "acme")
	if err := keys.Revoke(ctx, revokedRec.KeyID); err != nil {
		t.Fatal(err)
	}
	rotated, rotatedRec := newKey(t, keys, "acme")
	successor, _, err := keys.Rotate(ctx, rotatedRec.KeyID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// Before the upgrade, clients are a store failure, not "not found".
	if _, err := old.GetClient(ctx, "c"); err == nil || errors.Is(err, oauth.ErrClientNotFound) {
		t.Fatalf("GetClient at version 1: %v, want a store failure (no table)", err)
	}
	before, err := keys.List(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}

	s := newStore(t, db) // Migrate, as on the start of the new release
	var n int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM apiauth_schema_migrations").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != sqlstore.SchemaVersion() || n < 2 {
		t.Fatalf("%d versions recorded after the upgrade, want %d", n, sqlstore.SchemaVersion())
	}
	keys = apiauth.NewKeys(s)
	after, err := keys.List(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Fatalf("%d keys after the upgrade, %d before", len(after), len(before))
	}
	for i := range before {
		b, a := before[i], after[i]
		if a.KeyID != b.KeyID || a.Digest != b.Digest || !a.CreatedAt.Equal(b.CreatedAt) || !a.RevokedAt.Equal(b.RevokedAt) ||
			!a.ExpiresAt.Equal(b.ExpiresAt) || a.ReplacedBy != b.ReplacedBy || a.Tenant != b.Tenant {
			t.Errorf("key %s changed by the upgrade: %+v, was %+v", b.KeyID, a, b)
		}
	}
	for _, k := range []string{live, rotated, successor} {
		if _, err := keys.Verify(ctx, k); err != nil {
			t.Errorf("a key made before the upgrade: %v", err)
		}
	}
	if _, err := keys.Verify(ctx, revoked); !errors.Is(err, apiauth.ErrTokenRevoked) {
		t.Errorf("a key revoked before the upgrade: %v, want ErrTokenRevoked", err)
	}
	if got, err := s.GetKey(ctx, liveRec.KeyID); err != nil || got.KeyID != liveRec.KeyID {
		t.Errorf("GetKey after the upgrade: %v", err)
	}
	c, secret := register(t, s, "acme")
	if code, e := askToken(newIssuer(t, s), c.ID, secret); code != 200 {
		t.Fatalf("a client after the upgrade: %d %s", code, e)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate again: %v", err)
	}
	if _, err := s.GetClient(ctx, c.ID); err != nil {
		t.Fatalf("a client after Migrate again: %v", err)
	}
}

// newUnmigratedStore returns a store on db, closed at the end of the test,
// without running Migrate.
func newUnmigratedStore(t testing.TB, db *sql.DB) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.New(db, sqlstore.WithQueryTimeout(5*time.Second), sqlstore.WithWriteTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestSQLiteUpgradeKeepsKeys(t *testing.T) {
	db, _ := openSQLite(t)
	testUpgrade(t, db)
}

func TestPostgresUpgradeKeepsKeys(t *testing.T) {
	// A schema of its own, so that version 1 can be built beside the
	// shared tables of the other tests.
	testUpgrade(t, openPostgresNewSchema(t))
}

// openPostgresNewSchema returns a connection to the test database whose
// search_path is a schema of its own, dropped at the end of the test, so
// that an earlier version can be built beside the shared tables of the
// other tests.
func openPostgresNewSchema(t *testing.T) *sql.DB {
	t.Helper()
	u := postgresURL(t)
	admin := openPostgresURL(t, u)
	schema := fmt.Sprintf("apiauth_upgrade_%d", time.Now().UnixNano())
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
	var got string
	if err := db.QueryRow("SELECT current_schema()").Scan(&got); err != nil || got != schema {
		t.Fatalf("current_schema() = %q, %v; want %q", got, err, schema)
	}
	return db
}

// testUpgradeClientFields builds a database at schema version 3 (before a
// client had a name, a public flag and redirect URIs) with a client in it,
// written as that release's store wrote it, migrates it to the latest
// version, and checks that the client reads back whole, unnamed,
// confidential and without redirect URIs, still gets tokens, and that new
// clients keep the new fields. sqliteTimes says how version 3 stored
// times: Unix microseconds (SQLite) or timestamps (PostgreSQL).
func testUpgradeClientFields(t *testing.T, db *sql.DB, sqliteTimes bool) {
	ctx := context.Background()
	old := newUnmigratedStore(t, db)
	if err := sqlstore.MigrateTo(ctx, old, 3); err != nil {
		t.Fatalf("migrate to version 3: %v", err)
	}
	secret := oauth.GenerateClientSecret()
	created := time.Now().Add(-time.Hour).Truncate(time.Microsecond)
	var createdArg any = created
	insert := `INSERT INTO apiauth_oauth_clients (client_id, secret_digest, subject, tenant, scopes, tier, created_at, disabled_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, NULL)`
	if sqliteTimes {
		createdArg = created.UnixMicro()
		insert = strings.NewReplacer("$1", "?", "$2", "?", "$3", "?", "$4", "?", "$5", "?", "$6", "?", "$7", "?").Replace(insert)
	}
	digest := apiauth.DigestKey(secret)
	if _, err := db.ExecContext(ctx, insert, "svc-v3", digest[:], "svc", "acme", "read orders:write", "pro", createdArg); err != nil {
		t.Fatalf("a client as version 3 stored it: %v", err)
	}
	// The new store on the old schema, before Migrate: a store failure,
	// not a client read without its new fields, nor "not found".
	if _, err := old.GetClient(ctx, "svc-v3"); err == nil || errors.Is(err, oauth.ErrClientNotFound) {
		t.Fatalf("GetClient at version 3: %v, want a store failure (no such columns)", err)
	}

	s := newStore(t, db) // Migrate, as on the start of the new release
	var v int
	if err := db.QueryRowContext(ctx, "SELECT MAX(version) FROM apiauth_schema_migrations").Scan(&v); err != nil {
		t.Fatal(err)
	}
	if v != sqlstore.SchemaVersion() || v < 4 {
		t.Fatalf("version %d after the upgrade, want %d (4 or later)", v, sqlstore.SchemaVersion())
	}
	got, err := s.GetClient(ctx, "svc-v3")
	if err != nil {
		t.Fatalf("GetClient of a client of version 3: %v", err)
	}
	want := oauth.ClientRecord{
		ID: "svc-v3", SecretDigest: digest, Subject: "svc", Tenant: "acme",
		Scopes: []apiauth.Scope{apiauth.Read, "orders:write"}, Tier: "pro", CreatedAt: created,
	}
	if got.Name != "" || got.Public || got.RedirectURIs != nil {
		t.Errorf("a client of version 3: Name %q, Public %v, RedirectURIs %#v; want \"\", false, nil", got.Name, got.Public, got.RedirectURIs)
	}
	if got.ID != want.ID || got.SecretDigest != want.SecretDigest || got.Subject != want.Subject || got.Tenant != want.Tenant ||
		!slices.Equal(got.Scopes, want.Scopes) || got.Tier != want.Tier || !got.CreatedAt.Equal(want.CreatedAt) || !got.DisabledAt.IsZero() {
		t.Errorf("a client of version 3 after the upgrade: %+v, want %+v", got, want)
	}
	if code, e := askToken(newIssuer(t, s), "svc-v3", secret); code != 200 {
		t.Fatalf("a client of version 3, after the upgrade: %d %s", code, e)
	}

	// A new client keeps the new fields.
	c, err := oauth.RegisterClient(ctx, s, oauth.ClientSpec{
		ID: "app-v4", Name: "Orders app", Public: true, Tenant: "acme",
		RedirectURIs: []string{"com.example.orders:/cb", "http://127.0.0.1/cb", "https://app.example/a b"},
	}, "")
	if err != nil {
		t.Fatalf("RegisterClient after the upgrade: %v", err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate again: %v", err)
	}
	got, err = s.GetClient(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != c.Name || !got.Public || !slices.Equal(got.RedirectURIs, c.RedirectURIs) {
		t.Errorf("a client of version 4: Name %q, Public %v, RedirectURIs %q; want %q, true, %q", got.Name, got.Public, got.RedirectURIs, c.Name, c.RedirectURIs)
	}
}

func TestSQLiteUpgradeClientFields(t *testing.T) {
	db, _ := openSQLite(t)
	testUpgradeClientFields(t, db, true)
}

func TestPostgresUpgradeClientFields(t *testing.T) {
	testUpgradeClientFields(t, openPostgresNewSchema(t), false)
}

func TestSchemaHasClients(t *testing.T) {
	for _, d := range []sqlstore.Dialect{sqlstore.Postgres, sqlstore.SQLite} {
		s := sqlstore.Schema(d)
		if !strings.Contains(s, "CREATE TABLE IF NOT EXISTS apiauth_oauth_clients") || !strings.Contains(s, "secret_digest") {
			t.Errorf("Schema(%v) lacks the clients table", d)
		}
		if i, j := strings.Index(s, "0001_keys.sql"), strings.Index(s, "0002_oauth_clients.sql"); i < 0 || j < i {
			t.Errorf("Schema(%v): versions missing or out of order", d)
		}
	}
	if v := sqlstore.SchemaVersion(); v < 4 {
		t.Errorf("SchemaVersion() = %d, want 4 or later", v)
	}
}

func TestSchemaHasClientFields(t *testing.T) {
	for _, d := range []sqlstore.Dialect{sqlstore.Postgres, sqlstore.SQLite} {
		s := sqlstore.Schema(d)
		i, j := strings.Index(s, "0003_oauth_grants.sql"), strings.Index(s, "0004_oauth_client_fields.sql")
		if i < 0 || j < i {
			t.Errorf("Schema(%v): version 4 missing or out of order", d)
			continue
		}
		for _, col := range []string{"name", "public", "redirect_uris"} {
			if !strings.Contains(s[j:], "ADD COLUMN "+col) && !strings.Contains(s[j:], "ADD COLUMN IF NOT EXISTS "+col) {
				t.Errorf("Schema(%v): version 4 does not add the column %s", d, col)
			}
		}
	}
}

// BenchmarkGetClient measures the read a token request makes, uncached,
// to compare with the rest of the request (BenchmarkTokenRequest).
func BenchmarkGetClient(b *testing.B) {
	run := func(b *testing.B, s *sqlstore.Store) {
		c, _ := register(b, s, "bench")
		ctx := context.Background()
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := s.GetClient(ctx, c.ID); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("SQLite", func(b *testing.B) {
		db, _ := openSQLite(b)
		run(b, newStore(b, db))
	})
	b.Run("Postgres", func(b *testing.B) {
		run(b, newStore(b, openPostgres(b)))
	})
}

// BenchmarkTokenRequest is a whole client_credentials request on SQLite
// (ES256, the cheapest signature; RS256 costs more).
func BenchmarkTokenRequest(b *testing.B) {
	db, _ := openSQLite(b)
	s := newStore(b, db)
	c, secret := register(b, s, "bench")
	is := newIssuer(b, s)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if code, e := askToken(is, c.ID, secret); code != 200 {
			b.Fatalf("%d %s", code, e)
		}
	}
}
