package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apiauth/apiauth"
	"github.com/apiauth/apiauth/sqlstore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// result is what one run of the CLI printed and returned.
type result struct {
	code           int
	stdout, stderr string
}

// runCLI runs the CLI with args and returns what it printed.
func runCLI(t *testing.T, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), args, &stdout, &stderr)
	return result{code, stdout.String(), stderr.String()}
}

// keyLine is stdout of a command that prints a new key: the key alone.
var keyLine = regexp.MustCompile(`^(sk_live_[0-9A-Za-z]{33})\n$`)

// secretLine is stdout of clients register: the secret alone.
var secretLine = regexp.MustCompile(`^([0-9A-Za-z]{43})\n$`)

// session runs the CLI on one database, and checks after every run that
// no key or secret printed so far, nor the database's password, reached
// stderr.
type session struct {
	t  *testing.T
	db string
	// tenant is a tenant of the session's own, on a database other tests
	// and runs share.
	tenant string

	mu      sync.Mutex
	secrets []string
}

// newSession returns a session on db.
func newSession(t *testing.T, db, tenant string) *session {
	return &session{t: t, db: db, tenant: tenant}
}

// run runs "apiauth -db DB args…".
func (s *session) run(args ...string) result {
	s.t.Helper()
	r := runCLI(s.t, append([]string{"-db", s.db}, args...)...)
	s.checkStderr(r.stderr)
	return r
}

// checkStderr fails the test when stderr holds a secret or the password.
func (s *session) checkStderr(stderr string) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, secret := range s.secrets {
		assert.NotContains(s.t, stderr, secret, "a key or secret on stderr")
	}
	// The password as a URL holds it: a test database's may be a word
	// that messages hold anyway, such as "apiauth".
	if u, err := url.Parse(s.db); err == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok {
			assert.NotContains(s.t, stderr, ":"+pw+"@", "the database password on stderr")
		}
	}
}

// remember adds secret to those stderr must never show.
func (s *session) remember(secret string) {
	s.mu.Lock()
	s.secrets = append(s.secrets, secret)
	s.mu.Unlock()
}

// create runs keys create in the session's tenant with args and returns
// the key it printed and the key's ID.
func (s *session) create(args ...string) (key, id string) {
	s.t.Helper()
	r := s.run(append([]string{"keys", "create", "-tenant", s.tenant}, args...)...)
	require.Equal(s.t, exitOK, r.code, "stderr: %s", r.stderr)
	m := keyLine.FindStringSubmatch(r.stdout)
	require.NotNil(s.t, m, "stdout is not one key alone on its line: %q", r.stdout)
	key = m[1]
	s.remember(key)
	s.checkStderr(r.stderr)
	id = createdID(s.t, r.stderr)
	return key, id
}

// createdLine is stderr of a successful keys create.
var createdLine = regexp.MustCompile(`^created key (key_[0-9A-Za-z]{16}) in tenant \S+ \(fingerprint [0-9a-f]{8}, scopes \S+, tier \S+, expires \S+\); it is printed once, on stdout\n$`)

// createdID returns the key ID stderr of keys create names.
func createdID(t *testing.T, stderr string) string {
	t.Helper()
	m := createdLine.FindStringSubmatch(stderr)
	require.NotNil(t, m, "stderr: %q", stderr)
	return m[1]
}

// list returns the session tenant's keys, by ID, from keys list -json.
func (s *session) list() map[string]keyView {
	s.t.Helper()
	r := s.run("keys", "list", "-tenant", s.tenant, "-json")
	require.Equal(s.t, exitOK, r.code, "stderr: %s", r.stderr)
	out := make(map[string]keyView)
	for line := range strings.Lines(r.stdout) {
		var v keyView
		require.NoError(s.t, json.Unmarshal([]byte(line), &v), "line %q", line)
		out[v.ID] = v
	}
	return out
}

// sqliteDB returns -db for a SQLite file, not created yet, in a new
// temporary directory.
func sqliteDB(t *testing.T) (db, path string) {
	path = filepath.Join(t.TempDir(), "keys.db")
	return "sqlite:" + path, path
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

// suffix returns a random suffix for names on a shared database.
func suffix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// backends are the databases the command tests run on: SQLite always,
// PostgreSQL when APIAUTH_POSTGRES_URL names one.
func backends(t *testing.T, test func(t *testing.T, db, tenant string)) {
	t.Run("sqlite", func(t *testing.T) {
		db, _ := sqliteDB(t)
		test(t, db, "acme")
	})
	t.Run("postgres", func(t *testing.T) {
		test(t, postgresURL(t), "cli-"+suffix())
	})
}

// openStore opens the database db names as a server would, to check what
// the CLI stored.
func openStore(t *testing.T, db string) *sqlstore.Store {
	t.Helper()
	spec, err := parseDB(db)
	require.NoError(t, err)
	var sdb *sql.DB
	if spec.kind == dbSQLite {
		sdb, err = sql.Open("sqlite", "file:"+spec.path+"?_pragma=busy_timeout(5000)")
	} else {
		sdb, err = sql.Open("pgx", spec.url)
	}
	require.NoError(t, err)
	t.Cleanup(func() { sdb.Close() })
	store, err := sqlstore.New(sdb, sqlstore.WithCacheTTL(0), sqlstore.WithLastUsedInterval(0), sqlstore.WithQueryTimeout(5*time.Second))
	require.NoError(t, err)
	t.Cleanup(func() { store.Close() })
	return store
}

// verify reports how the database db answers key, as a server would.
func verify(t *testing.T, db, key string) (*apiauth.Principal, error) {
	t.Helper()
	keys := apiauth.NewKeys(openStore(t, db))
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	return keys.Verify(ctx, key)
}

// oneLineOf fails the test unless s is exactly one line.
func oneLineOf(t *testing.T, s string) {
	t.Helper()
	assert.Equal(t, 1, strings.Count(s, "\n"), "want one line: %q", s)
	assert.True(t, strings.HasSuffix(s, "\n"), "want one line: %q", s)
}
