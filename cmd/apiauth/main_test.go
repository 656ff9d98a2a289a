package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apiauth/apiauth/sqlstore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestUsageErrors: every mistake on the command line exits 2 with one
// line on stderr that names the command and the flag, prints nothing on
// stdout, and leaves the database alone (the SQLite file is not even
// created).
func TestUsageErrors(t *testing.T) {
	t.Setenv(dbEnv, "")
	db, path := sqliteDB(t)
	tests := []struct {
		name   string
		args   []string
		stderr string
	}{
		{"no command", nil,
			`apiauth: missing command: keys, clients or migrate (run "apiauth -h" for usage)`},
		{"unknown command", []string{"frob"},
			`apiauth: unknown command "frob": want keys, clients or migrate (run "apiauth -h" for usage)`},
		{"unknown global flag", []string{"-x", "migrate"},
			`apiauth: flag provided but not defined: -x (run "apiauth -h" for usage)`},
		{"-db without a value", []string{"-db"},
			`apiauth: flag needs an argument: -db (run "apiauth -h" for usage)`},
		{"keys alone", []string{"keys"},
			`apiauth: keys: missing command: create, list, rotate or revoke (run "apiauth keys -h" for usage)`},
		{"keys unknown", []string{"keys", "delete"},
			`apiauth: keys: unknown command "delete": want create, list, rotate or revoke (run "apiauth keys -h" for usage)`},
		{"clients alone", []string{"clients"},
			`apiauth: clients: missing command: register (run "apiauth clients -h" for usage)`},
		{"clients unknown", []string{"clients", "create"},
			`apiauth: clients: unknown command "create": want register (run "apiauth clients -h" for usage)`},

		{"create without -tenant", []string{"-db", db, "keys", "create", "-scopes", "admin"},
			`apiauth keys create: -tenant is required (run "apiauth keys create -h" for usage)`},
		{"create with an unknown flag", []string{"-db", db, "keys", "create", "-tenant", "acme", "-scope", "admin"},
			`apiauth keys create: flag provided but not defined: -scope (run "apiauth keys create -h" for usage)`},
		{"create with -db after the command", []string{"keys", "create", "-db", db, "-tenant", "acme"},
			`apiauth keys create: -db goes before the command: apiauth -db URL keys create … (run "apiauth keys create -h" for usage)`},
		{"create with an argument", []string{"-db", db, "keys", "create", "-tenant", "acme", "admin"},
			`apiauth keys create: unexpected argument "admin" (run "apiauth keys create -h" for usage)`},
		{"create with an empty scope", []string{"-db", db, "keys", "create", "-tenant", "acme", "-scopes", "read,,write"},
			`apiauth keys create: -scopes "read,,write": an empty scope; want scopes separated by commas, such as read,write (run "apiauth keys create -h" for usage)`},
		{"create with a bad scope", []string{"-db", db, "keys", "create", "-tenant", "acme", "-scopes", `read,"x"`},
			`apiauth keys create: -scopes "read,\"x\"": "\"x\"" is not a scope (printable ASCII without spaces, quotes or backslashes) (run "apiauth keys create -h" for usage)`},
		{"create with a bad -expires", []string{"-db", db, "keys", "create", "-tenant", "acme", "-expires", "tomorrow"},
			`apiauth keys create: -expires "tomorrow": want an RFC 3339 time in the future (2030-01-01T00:00:00Z) or a duration from now (90d, 720h) (run "apiauth keys create -h" for usage)`},
		{"create expiring in the past", []string{"-db", db, "keys", "create", "-tenant", "acme", "-expires", "2020-01-01T00:00:00Z"},
			`apiauth keys create: -expires "2020-01-01T00:00:00Z": not in the future; want an RFC 3339 time in the future (2030-01-01T00:00:00Z) or a duration from now (90d, 720h) (run "apiauth keys create -h" for usage)`},
		{"create expiring now", []string{"-db", db, "keys", "create", "-tenant", "acme", "-expires", "0s"},
			`apiauth keys create: -expires "0s": not in the future; want an RFC 3339 time in the future (2030-01-01T00:00:00Z) or a duration from now (90d, 720h) (run "apiauth keys create -h" for usage)`},
		{"create with a bad prefix", []string{"-db", db, "keys", "create", "-tenant", "acme", "-prefix", "sk-live"},
			`apiauth keys create: -prefix "sk-live": want 1 to 32 characters of [A-Za-z0-9_], such as sk_live (run "apiauth keys create -h" for usage)`},
		{"create with an empty prefix", []string{"-db", db, "keys", "create", "-tenant", "acme", "-prefix", ""},
			`apiauth keys create: -prefix "": want 1 to 32 characters of [A-Za-z0-9_], such as sk_live (run "apiauth keys create -h" for usage)`},
		{"create with a control character", []string{"-db", db, "keys", "create", "-tenant", "acme", "-name", "a\nb"},
			`apiauth keys create: -name "a\nb": holds a control character (run "apiauth keys create -h" for usage)`},
		{"create with a long subject", []string{"-db", db, "keys", "create", "-tenant", "acme", "-subject", strings.Repeat("s", 201)},
			`apiauth keys create: -subject: longer than 200 bytes (run "apiauth keys create -h" for usage)`},

		{"list without -tenant", []string{"-db", db, "keys", "list", "-json"},
			`apiauth keys list: -tenant is required (run "apiauth keys list -h" for usage)`},
		{"rotate without -id", []string{"-db", db, "keys", "rotate"},
			`apiauth keys rotate: -id is required (run "apiauth keys rotate -h" for usage)`},
		{"rotate with a bad -grace", []string{"-db", db, "keys", "rotate", "-id", "key_1", "-grace", "a day"},
			`apiauth keys rotate: -grace "a day": want a duration of 0 or more, such as 24h or 7d (run "apiauth keys rotate -h" for usage)`},
		{"rotate with a negative -grace", []string{"-db", db, "keys", "rotate", "-id", "key_1", "-grace", "-1h"},
			`apiauth keys rotate: -grace "-1h": want a duration of 0 or more, such as 24h or 7d (run "apiauth keys rotate -h" for usage)`},
		{"revoke without -id", []string{"-db", db, "keys", "revoke"},
			`apiauth keys revoke: -id is required (run "apiauth keys revoke -h" for usage)`},
		{"revoke with the ID as an argument", []string{"-db", db, "keys", "revoke", "key_1"},
			`apiauth keys revoke: unexpected argument "key_1" (run "apiauth keys revoke -h" for usage)`},
		{"register without -id", []string{"-db", db, "clients", "register", "-tenant", "acme"},
			`apiauth clients register: -id is required (run "apiauth clients register -h" for usage)`},
		{"register without -tenant", []string{"-db", db, "clients", "register", "-id", "billing"},
			`apiauth clients register: -tenant is required (run "apiauth clients register -h" for usage)`},
		{"register with a non-ASCII ID", []string{"-db", db, "clients", "register", "-id", "bílling", "-tenant", "acme"},
			`apiauth clients register: -id "bílling": want printable ASCII (RFC 6749 appendix A.1) (run "apiauth clients register -h" for usage)`},
		{"register with a plain http redirect URI", []string{"-db", db, "clients", "register", "-id", "billing", "-tenant", "acme",
			"-redirect-uri", "https://billing.example/cb", "-redirect-uri", "http://billing.example/cb"},
			`apiauth clients register: -redirect-uri "http://billing.example/cb": plain http only to a loopback IP address (RFC 8252 §7.3) (run "apiauth clients register -h" for usage)`},
		{"register with comma-separated redirect URIs", []string{"-db", db, "clients", "register", "-id", "app", "-public", "-tenant", "acme",
			"-redirect-uri", "com.example.app:/cb,https://app.example/cb"},
			`apiauth clients register: -redirect-uri "com.example.app:/cb,https://app.example/cb": a list? give -redirect-uri once for each URI (run "apiauth clients register -h" for usage)`},
		{"register with a redirect URI with a fragment", []string{"-db", db, "clients", "register", "-id", "app", "-public", "-tenant", "acme",
			"-redirect-uri", "https://app.example/cb#x"},
			`apiauth clients register: -redirect-uri "https://app.example/cb#x": a redirection URI has no fragment (RFC 6749 §3.1.2) (run "apiauth clients register -h" for usage)`},
		{"register with a control character in -name", []string{"-db", db, "clients", "register", "-id", "app", "-tenant", "acme", "-name", "a\tb"},
			`apiauth clients register: -name "a\tb": holds a control character (run "apiauth clients register -h" for usage)`},
		{"migrate with an argument", []string{"-db", db, "migrate", "now"},
			`apiauth migrate: unexpected argument "now" (run "apiauth migrate -h" for usage)`},

		{"no database", []string{"migrate"},
			`apiauth migrate: no database: set -db or APIAUTH_DB; want sqlite:PATH (such as sqlite:keys.db) or a postgres:// URL (run "apiauth migrate -h" for usage)`},
		{"another kind of database", []string{"-db", "mysql://ops:hunter2@db/keys", "migrate"},
			`apiauth migrate: -db "mysql://ops:xxxxx@db/keys": want sqlite:PATH (such as sqlite:keys.db) or a postgres:// URL (run "apiauth migrate -h" for usage)`},
		{"a SQLite host", []string{"-db", "sqlite://host/keys.db", "migrate"},
			`apiauth migrate: -db "sqlite://host/keys.db": want sqlite:PATH (such as sqlite:keys.db) or a postgres:// URL (run "apiauth migrate -h" for usage)`},
		{"an empty SQLite path", []string{"-db", "sqlite:", "keys", "list", "-tenant", "acme"},
			`apiauth keys list: -db "sqlite:": empty path; want sqlite:PATH (such as sqlite:keys.db) or a postgres:// URL (run "apiauth keys list -h" for usage)`},
		{"a bad PostgreSQL URL", []string{"-db", "postgres://ops:hunter2@db:port/keys", "migrate"},
			`apiauth migrate: -db "(value not shown: it may hold a password)": not a valid URL; want sqlite:PATH (such as sqlite:keys.db) or a postgres:// URL (run "apiauth migrate -h" for usage)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, tt.args...)
			assert.Equal(t, exitUsage, r.code)
			assert.Equal(t, tt.stderr+"\n", r.stderr)
			assert.Empty(t, r.stdout)
		})
	}
	_, err := os.Stat(path)
	assert.ErrorIs(t, err, os.ErrNotExist, "a usage error touched the database")
}

// TestHelp: -h of the program, of each group and of each command prints
// its usage on stdout, nothing on stderr, and exits 0, with no database
// named.
func TestHelp(t *testing.T) {
	t.Setenv(dbEnv, "")
	tests := []struct {
		args  []string
		first string
		has   []string
	}{
		{[]string{"-h"}, "usage: apiauth [-db sqlite:PATH|postgres://…] <command> [flags]",
			[]string{"  keys create       create an API key, printed once\n", "  migrate           create or upgrade the schema\n", "  -db URL\n"}},
		{[]string{"--help"}, "usage: apiauth [-db sqlite:PATH|postgres://…] <command> [flags]", nil},
		{[]string{"keys", "-h"}, "usage: apiauth [-db URL] keys <command> [flags]",
			[]string{"  keys rotate       replace a key, printing the new one once\n"}},
		{[]string{"clients", "help"}, "usage: apiauth [-db URL] clients <command> [flags]",
			[]string{"  clients register  register an OAuth client, printing its secret once\n"}},
		{[]string{"keys", "create", "-h"},
			"usage: apiauth [-db URL] keys create -tenant T [-subject S] [-scopes read,write,admin] [-tier TIER] [-name N] [-expires RFC3339|DURATION] [-prefix sk_live]",
			[]string{"  -tenant tenant\n", "  -subject subject\n", "  -scopes scopes\n", "  -tier tier\n", "  -name label\n", "  -expires time\n", "  -prefix prefix\n", "  -db URL\n"}},
		{[]string{"keys", "list", "-h"}, "usage: apiauth [-db URL] keys list -tenant T [-json]",
			[]string{"  -tenant tenant\n", "  -json\n"}},
		{[]string{"keys", "rotate", "-h"}, "usage: apiauth [-db URL] keys rotate -id ID [-grace 24h] [-prefix sk_live]",
			[]string{"  -id ID\n", "  -grace duration\n", "(default \"24h\")"}},
		{[]string{"keys", "revoke", "-h"}, "usage: apiauth [-db URL] keys revoke -id ID", []string{"  -id ID\n"}},
		{[]string{"clients", "register", "-h"},
			"usage: apiauth [-db URL] clients register -id ID -tenant T [-name N] [-public] [-redirect-uri URI]... [-subject S] [-scopes read,write,admin] [-tier TIER]",
			[]string{"  -id ID\n", "  -tenant tenant\n", "  -name name\n", "  -public\n", "  -redirect-uri URI\n", "repeated for each",
				"  -subject subject\n", "  -scopes scopes\n", "  -tier tier\n"}},
		{[]string{"migrate", "-h"}, "usage: apiauth [-db URL] migrate", []string{"\n\nbefore the command:\n  -db URL\n"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := runCLI(t, tt.args...)
			assert.Equal(t, exitOK, r.code)
			assert.Empty(t, r.stderr)
			first, _, _ := strings.Cut(r.stdout, "\n")
			assert.Equal(t, tt.first, first)
			for _, s := range tt.has {
				assert.Contains(t, r.stdout, s)
			}
		})
	}
}

// TestDatabaseFailures: a database that cannot be used exits 1 with one
// line naming it, without its password, quickly.
func TestDatabaseFailures(t *testing.T) {
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
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.db")

	tests := []struct {
		name   string
		args   []string
		prefix string
	}{
		{"a SQLite file that does not exist", []string{"-db", "sqlite:" + missing, "keys", "list", "-tenant", "acme"},
			"apiauth keys list: db sqlite:" + missing + ": no such file (keys create, clients register and migrate create one)"},
		{"rotate in a SQLite file that does not exist", []string{"-db", "sqlite:" + missing, "keys", "rotate", "-id", "key_1"},
			"apiauth keys rotate: db sqlite:" + missing + ": no such file"},
		{"revoke in a SQLite file that does not exist", []string{"-db", "sqlite:" + missing, "keys", "revoke", "-id", "key_1"},
			"apiauth keys revoke: db sqlite:" + missing + ": no such file"},
		{"a SQLite directory that does not exist", []string{"-db", "sqlite:" + filepath.Join(dir, "nope", "keys.db"), "migrate"},
			"apiauth migrate: db sqlite:" + filepath.Join(dir, "nope", "keys.db") + ": no directory " + filepath.Join(dir, "nope")},
		{"PostgreSQL refuses", []string{"-db", "postgres://ops:hunter2@" + refusedAddr + "/keys?sslmode=disable", "keys", "create", "-tenant", "acme"},
			"apiauth keys create: db postgres://ops:xxxxx@" + refusedAddr + "/keys?sslmode=disable: cannot connect: "},
		{"PostgreSQL does not answer", []string{"-db", "postgres://ops:hunter2@" + silent.Addr().String() + "/keys?sslmode=disable", "migrate"},
			"apiauth migrate: db postgres://ops:xxxxx@" + silent.Addr().String() + "/keys?sslmode=disable: cannot connect (no answer within 5s): "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			r := runCLI(t, tt.args...)
			assert.Less(t, time.Since(start), dbTimeout+2*time.Second)
			assert.Equal(t, exitFailed, r.code, "stderr: %s", r.stderr)
			assert.Empty(t, r.stdout)
			oneLineOf(t, r.stderr)
			assert.True(t, strings.HasPrefix(r.stderr, tt.prefix), "stderr %q does not start with %q", r.stderr, tt.prefix)
			assert.NotContains(t, r.stderr, "hunter2", "the password reached stderr")
		})
	}
	t.Cleanup(func() {
		_, err := os.Stat(missing)
		assert.ErrorIs(t, err, os.ErrNotExist, "a command that only reads created the database")
	})
}

// TestEnvDB: APIAUTH_DB names the database when -db does not; -db wins
// over it.
func TestEnvDB(t *testing.T) {
	envDB, envPath := sqliteDB(t)
	flagDB, flagPath := sqliteDB(t)
	t.Setenv(dbEnv, envDB)

	r := runCLI(t, "migrate")
	require.Equal(t, exitOK, r.code, "stderr: %s", r.stderr)
	assert.Equal(t, fmt.Sprintf("schema of %s at version %d\n", envDB, sqlstore.SchemaVersion()), r.stderr)
	assert.Empty(t, r.stdout)
	assert.FileExists(t, envPath)

	r = runCLI(t, "-db", flagDB, "migrate")
	require.Equal(t, exitOK, r.code, "stderr: %s", r.stderr)
	assert.Equal(t, fmt.Sprintf("schema of %s at version %d\n", flagDB, sqlstore.SchemaVersion()), r.stderr)
	assert.FileExists(t, flagPath)
}
