package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apiauth/apiauth"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// dbTestConfig is a config with an admin key A and a reader key B in
// tenant, on a tier that does not limit the polls of the tests.
func dbTestConfig(t *testing.T, tenant, idA, keyA, idB, keyB string) string {
	t.Helper()
	return writeConfig(t, `{
		"tiers": {"test": [{"requests": "unlimited", "window": "1s"}]},
		"keys": [
			{"id": "`+idA+`", "key": "`+keyA+`", "tenant": "`+tenant+`", "scopes": ["admin"], "tier": "test"},
			{"id": "`+idB+`", "key": "`+keyB+`", "tenant": "`+tenant+`", "scopes": ["read"], "tier": "test"}
		]
	}`)
}

// listKeys returns the admin listing of the caller's tenant by key ID.
func (d *demo) listKeys(admin string) map[string]map[string]any {
	d.t.Helper()
	res := d.do(http.MethodGet, "/v1/admin/keys", admin, nil)
	require.Equal(d.t, http.StatusOK, res.status, "body: %s", res.body)
	out := make(map[string]map[string]any)
	for _, k := range res.json(d.t)["keys"].([]any) {
		m := k.(map[string]any)
		out[m["id"].(string)] = m
	}
	return out
}

// TestRestartKeepsKeys is restart persistence: a key created
// and a key revoked through the admin routes stay so across a restart on
// the same SQLite file, config keys included, and no key is ever written
// to the file.
func TestRestartKeepsKeys(t *testing.T) {
	const (
		keyA = "db-admin-key-A-0123456789abcdef"
		keyB = "db-reader-key-B-0123456789abcdef"
	)
	dir := t.TempDir()
	args := []string{"-config", dbTestConfig(t, "acme", "k-a", keyA, "k-b", keyB), "-db", "sqlite:" + filepath.Join(dir, "demo.db")}

	d := startDemo(t, args...)
	for _, k := range []string{keyA, keyB} {
		status, code := d.me(k)
		require.Equal(t, http.StatusOK, status, code)
	}
	keyC, idC := d.createKey(keyA, map[string]any{"name": "C", "scopes": []string{"read"}})
	require.Equal(t, http.StatusNoContent, d.do(http.MethodDelete, "/v1/admin/keys/k-b", keyA, nil).status)
	status, code := d.me(keyB)
	require.Equal(t, http.StatusUnauthorized, status)
	require.Equal(t, "token_revoked", code)
	require.Equal(t, 0, d.stop(), "stderr:\n%s", d.stderr)

	d = startDemo(t, args...)
	status, code = d.me(keyB)
	assert.Equal(t, http.StatusUnauthorized, status, "the revoked key works again after a restart")
	assert.Equal(t, "token_revoked", code)
	for _, k := range []string{keyA, keyC} {
		status, code := d.me(k)
		assert.Equal(t, http.StatusOK, status, code)
	}
	keys := d.listKeys(keyA)
	require.Len(t, keys, 3)
	assert.Equal(t, "active", keys["k-a"]["status"])
	assert.Equal(t, "revoked", keys["k-b"]["status"])
	assert.NotNil(t, keys["k-b"]["revoked_at"])
	assert.Equal(t, "active", keys[idC]["status"])
	assert.Equal(t, "C", keys[idC]["name"])
	// Last-used times are written at most once a minute, and at shutdown:
	// A and B were used in the first run; C, only in this one, so far.
	require.Contains(t, keys[idC], "last_used_at")
	assert.Nil(t, keys[idC]["last_used_at"])
	for _, id := range []string{"k-a", "k-b"} {
		require.Contains(t, keys[id], "last_used_at")
		lu, _ := keys[id]["last_used_at"].(string)
		used, err := time.Parse(time.RFC3339Nano, lu)
		if assert.NoError(t, err, "key %s: last_used_at %v", id, keys[id]["last_used_at"]) {
			assert.WithinDuration(t, time.Now(), used, time.Minute)
		}
	}
	logs := d.stderr.String()
	assert.Contains(t, logs, `msg="key already stored; keeping the stored record" key_id=k-b`)
	assert.Contains(t, logs, "status=revoked")
	// The config is unchanged: no warning that it differs from the store.
	assert.NotContains(t, logs, "differs from its config entry")
	assert.NotContains(t, logs, "under another ID")
	require.Equal(t, 0, d.stop(), "stderr:\n%s", d.stderr)

	// No key, in any file SQLite left (the database, and its WAL while
	// one exists).
	files, err := filepath.Glob(filepath.Join(dir, "demo.db*"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, k := range []string{keyA, keyB, keyC} {
			assert.False(t, bytes.Contains(data, []byte(k)), "a plaintext key in %s", f)
		}
		// The digests are there: the scan reads what the store wrote.
		if filepath.Base(f) == "demo.db" {
			digest := apiauth.DigestKey(keyA)
			assert.True(t, bytes.Contains(data, digest[:]), "key A's digest is not in %s", f)
		}
	}
}

// TestRestartGeneratedCredentials: without config keys, the demo
// generates its keys and client only into an empty database. A restart on
// the same database prints none, mints no more (two of them admin), and
// the first start's credentials keep working.
func TestRestartGeneratedCredentials(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "demo.db")
	first := startDemo(t, "-db", db)
	reader, admin := first.key("acme", "reader"), first.key("acme", "admin")
	require.Equal(t, "svc-acme", first.clientID, "stdout:\n%s", first.stdout)
	clientID, secret := first.clientID, first.clientSecret
	require.Equal(t, 0, first.stop())

	second := startDemo(t, "-db", db)
	defer second.stop()
	assert.NotContains(t, second.stdout.String(), "Generated API keys")
	assert.NotContains(t, second.stdout.String(), "Generated OAuth client")
	status, code := second.me(reader)
	assert.Equal(t, http.StatusOK, status, code)
	requireToken(t, second.postForm("/oauth/token", clientID, secret, url.Values{"grant_type": {"client_credentials"}}))
	assert.Len(t, second.listKeys(admin), 3, "acme's reader, writer and admin keys, once")
}

// TestMemoryListingHasNoLastUsed: the in-memory store does not track
// last use, and the listing does not pretend it does.
func TestMemoryListingHasNoLastUsed(t *testing.T) {
	d := startDemo(t)
	res := d.do(http.MethodGet, "/v1/admin/keys", d.key("acme", "admin"), nil)
	require.Equal(t, http.StatusOK, res.status)
	assert.NotContains(t, string(res.body), "last_used_at")
}

// TestDBPoolCapped: the database pool has a cap, so that a burst of
// guessed credentials, each a query, cannot open a connection apiece.
func TestDBPoolCapped(t *testing.T) {
	spec, err := parseDBFlag("sqlite:" + filepath.Join(t.TempDir(), "pool.db"))
	require.NoError(t, err)
	cs, err := newCredentialStore(context.Background(), spec, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	defer cs.close()
	assert.Equal(t, dbMaxOpen, cs.db.Stats().MaxOpenConnections)
}

// TestBadDB: a -db value that cannot be used exits 2 (a bad flag) or 1 (a
// database that does not answer) with one line on stderr, quickly.
func TestBadDB(t *testing.T) {
	// A server that accepts connections and never answers, as a
	// PostgreSQL behind a black hole.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { silent.Close() })
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	refused, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	refusedAddr := refused.Addr().String()
	refused.Close()

	tests := []struct {
		name, db string
		code     int
		want     string
	}{
		{"other scheme", "mysql://user:hunter2@db/x", exitUsage, `flags: -db "mysql://user:xxxxx@db/x": want sqlite:PATH`},
		{"empty sqlite path", "sqlite:", exitUsage, "empty path"},
		{"sqlite host", "sqlite://host/demo.db", exitUsage, "want sqlite:PATH"},
		{"bad postgres URL", "postgres://u:hunter2@h:port/db", exitUsage, "not a valid URL"},
		{"bad postgres option", "postgres://u:hunter2@h/db?sslmode=sometimes", exitUsage, "sslmode"},
		{"no such directory", "sqlite:" + filepath.Join(t.TempDir(), "nope", "demo.db"), exitFailed, "no directory"},
		{"postgres refused", "postgres://u:hunter2@" + refusedAddr + "/db?sslmode=disable", exitFailed, "cannot connect"},
		{"postgres silent", "postgres://u:hunter2@" + silent.Addr().String() + "/db?sslmode=disable", exitFailed, "no answer within"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			start := time.Now()
			code := run(context.Background(), []string{"-addr", "127.0.0.1:0", "-db", tt.db}, &stdout, &stderr)
			assert.Less(t, time.Since(start), dbTimeout+2*time.Second)
			assert.Equal(t, tt.code, code, "stderr: %s", stderr.String())
			assert.Empty(t, stdout.String())
			msg := stderr.String()
			assert.Equal(t, 1, strings.Count(msg, "\n"), "want one line: %q", msg)
			assert.Contains(t, msg, tt.want)
			assert.NotContains(t, msg, "hunter2", "the password reached stderr")
		})
	}
}

// postgresURL returns APIAUTH_POSTGRES_URL, or skips the test.
func postgresURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv("APIAUTH_POSTGRES_URL")
	if u == "" {
		t.Skip("no PostgreSQL: set APIAUTH_POSTGRES_URL (such as postgres://apiauth:apiauth@127.0.0.1:5432/apiauth?sslmode=disable) to run this test")
	}
	return u
}

// TestPostgresRevocationAcrossInstances: two demo instances on one
// PostgreSQL database; a key revoked through one instance's admin route is
// refused by the other within a second, although the other had it cached.
func TestPostgresRevocationAcrossInstances(t *testing.T) {
	db := postgresURL(t)
	// The database is shared with other tests and runs: names of our own.
	var b [6]byte
	_, _ = rand.Read(b[:])
	suffix := hex.EncodeToString(b[:])
	tenant := "demo-" + suffix
	keyA, keyB := "pg-admin-key-A-"+suffix+"-0123456789", "pg-reader-key-B-"+suffix+"-0123456789"
	cfg := dbTestConfig(t, tenant, "pg-a-"+suffix, keyA, "pg-b-"+suffix, keyB)

	one := startDemo(t, "-config", cfg, "-db", db)
	two := startDemo(t, "-config", cfg, "-db", db)
	for _, d := range []*demo{one, two} {
		status, code := d.me(keyB)
		require.Equal(t, http.StatusOK, status, code) // and cached by each
	}
	// A key created through one works through the other.
	keyC, idC := one.createKey(keyA, map[string]any{"scopes": []string{"read"}})
	status, code := two.me(keyC)
	require.Equal(t, http.StatusOK, status, code)

	require.Equal(t, http.StatusNoContent, one.do(http.MethodDelete, "/v1/admin/keys/pg-b-"+suffix, keyA, nil).status)
	revoked := time.Now()
	for {
		status, code := two.me(keyB)
		if status == http.StatusUnauthorized && code == "token_revoked" {
			break
		}
		require.Equal(t, http.StatusOK, status, code)
		require.Less(t, time.Since(revoked), time.Second, "the other instance still accepts the revoked key")
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("revocation seen by the other instance after %v", time.Since(revoked))

	// The other instance's listing agrees.
	keys := two.listKeys(keyA)
	assert.Len(t, keys, 3)
	assert.Equal(t, "revoked", keys["pg-b-"+suffix]["status"])
	assert.Equal(t, "active", keys[idC]["status"])
}

// TestImportKeepsStoredKeys: a config entry whose ID or key the store
// already holds leaves the stored record as it is, revoked or not, and a
// difference is logged as a warning, without the key.
func TestImportKeepsStoredKeys(t *testing.T) {
	ctx := context.Background()
	const (
		keyA    = "import-key-A-0123456789abcdef"
		keyB    = "import-key-B-0123456789abcdef"
		keyA2   = "import-key-A2-0123456789abcdef"
		otherID = "k-stored-elsewhere"
	)
	keys := apiauth.NewMemoryKeys()
	_, err := keys.Import(ctx, keyA, apiauth.KeySpec{ID: "k-a", Tenant: "acme", Scopes: []apiauth.Scope{apiauth.Read}})
	require.NoError(t, err)
	require.NoError(t, keys.Revoke(ctx, "k-a"))
	_, err = keys.Import(ctx, keyB, apiauth.KeySpec{ID: otherID, Tenant: "acme"})
	require.NoError(t, err)

	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	cfg := []KeyConfig{
		{ID: "k-a", Key: keyA, Tenant: "acme", Scopes: []string{"read", "write"}}, // same key, changed scopes
		{ID: "k-b", Key: keyB, Tenant: "acme"},                                    // the key is stored as otherID
		{ID: "k-a2", Key: keyA2, Tenant: "acme"},                                  // new
	}
	require.NoError(t, importKeys(ctx, keys, cfg, log))

	_, err = keys.Verify(ctx, keyA)
	assert.ErrorIs(t, err, apiauth.ErrTokenRevoked, "the import undid a revocation")
	rec, err := keys.Store.GetKey(ctx, "k-a")
	require.NoError(t, err)
	assert.Equal(t, []apiauth.Scope{apiauth.Read}, rec.Scopes, "the import changed the stored record")
	p, err := keys.Verify(ctx, keyB)
	require.NoError(t, err)
	assert.Equal(t, otherID, p.KeyID)
	_, err = keys.Store.GetKey(ctx, "k-b")
	assert.ErrorIs(t, err, apiauth.ErrKeyNotFound)
	_, err = keys.Verify(ctx, keyA2)
	assert.NoError(t, err)

	out := logs.String()
	assert.Contains(t, out, "status=revoked")
	assert.Contains(t, out, "differs from its config entry")
	assert.Contains(t, out, "under another ID")
	for _, k := range []string{keyA, keyB, keyA2} {
		assert.NotContains(t, out, k)
	}

	// A different key under a stored ID: kept, and the warning says the
	// config's key is refused.
	logs.Reset()
	require.NoError(t, importKeys(ctx, keys, []KeyConfig{{ID: "k-a2", Key: "import-key-A3-0123456789abcdef", Tenant: "acme"}}, log))
	assert.Contains(t, logs.String(), "another key is stored under this ID")
}
