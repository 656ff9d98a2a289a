package main

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apiauth/apiauth"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestKeysLifecycle: a key created by the CLI works, is listed without
// its secret, rotates to a new key that works while the old one has its
// grace period, and is refused once revoked; each step prints exactly its
// lines.
func TestKeysLifecycle(t *testing.T) {
	backends(t, func(t *testing.T, db, tenant string) {
		s := newSession(t, db, tenant)

		// Create, in an empty database (on SQLite, not even a file yet).
		r := s.run("keys", "create", "-tenant", tenant, "-subject", "ops@"+tenant, "-scopes", "admin,orders:write",
			"-tier", "pro", "-name", "first admin", "-expires", "2100-01-01T00:00:00Z")
		require.Equal(t, exitOK, r.code, "stderr: %s", r.stderr)
		m := keyLine.FindStringSubmatch(r.stdout)
		require.NotNil(t, m, "stdout is not one key alone on its line: %q", r.stdout)
		key := m[1]
		s.remember(key)
		s.checkStderr(r.stderr)
		id := createdID(t, r.stderr)
		fp := apiauth.Fingerprint(key)
		assert.Equal(t, "created key "+id+" in tenant "+tenant+" (fingerprint "+fp+
			", scopes admin,orders:write, tier pro, expires 2100-01-01T00:00:00Z); it is printed once, on stdout\n", r.stderr)

		p, err := verify(t, db, key)
		require.NoError(t, err)
		assert.Equal(t, id, p.KeyID)
		assert.Equal(t, tenant, p.Tenant)
		assert.Equal(t, "ops@"+tenant, p.Subject)
		assert.Equal(t, []apiauth.Scope{apiauth.Admin, "orders:write"}, p.Scopes)
		assert.Equal(t, "pro", p.Tier)
		assert.True(t, p.ExpiresAt.Equal(time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)))

		// A second key with the defaults.
		key2, id2 := s.create()
		r = s.run("keys", "list", "-tenant", tenant)
		require.Equal(t, exitOK, r.code, "stderr: %s", r.stderr)
		assert.Empty(t, r.stderr)
		lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
		require.Len(t, lines, 3, "stdout: %s", r.stdout)
		assert.Regexp(t, `^ID +NAME +SUBJECT +SCOPES +TIER +STATUS +CREATED +EXPIRES +LAST USED +FINGERPRINT$`, lines[0])
		stamp := `\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ`
		assert.Regexp(t, `^`+id+` +"first admin" +ops@`+tenant+` +admin,orders:write +pro +active +`+stamp+` +2100-01-01T00:00:00Z +- +`+fp+`$`, lines[1])
		assert.Regexp(t, `^`+id2+` +- +- +read +- +active +`+stamp+` +- +- +`+apiauth.Fingerprint(key2)+`$`, lines[2])
		for _, k := range []string{key, key2} {
			assert.NotContains(t, r.stdout, k, "the listing shows a key")
			d := apiauth.DigestKey(k)
			assert.NotContains(t, r.stdout, fmt.Sprintf("%x", d[:]), "the listing shows a digest")
		}

		// Rotate: the new key is printed alone; both work for the grace.
		r = s.run("keys", "rotate", "-id", id, "-grace", "1h")
		require.Equal(t, exitOK, r.code, "stderr: %s", r.stderr)
		m = keyLine.FindStringSubmatch(r.stdout)
		require.NotNil(t, m, "stdout is not one key alone on its line: %q", r.stdout)
		newKey := m[1]
		s.remember(newKey)
		s.checkStderr(r.stderr)
		rm := regexp.MustCompile(`^rotated key ` + id + `: its replacement (key_\w{16}) \(fingerprint ` + apiauth.Fingerprint(newKey) +
			`\) is printed once, on stdout; ` + id + ` works until (` + stamp + `)\n$`).FindStringSubmatch(r.stderr)
		require.NotNil(t, rm, "stderr: %q", r.stderr)
		newID := rm[1]
		until, err := time.Parse(time.RFC3339, rm[2])
		require.NoError(t, err)
		assert.WithinDuration(t, time.Now().Add(time.Hour), until, time.Minute)
		for _, k := range []string{key, newKey} {
			_, err := verify(t, db, k)
			assert.NoError(t, err, "during the grace period")
		}
		p, err = verify(t, db, newKey)
		require.NoError(t, err)
		assert.Equal(t, newID, p.KeyID)
		assert.Equal(t, []apiauth.Scope{apiauth.Admin, "orders:write"}, p.Scopes, "the replacement has other scopes")

		// Revoke: refused at once; again: unchanged.
		r = s.run("keys", "revoke", "-id", id)
		require.Equal(t, exitOK, r.code, "stderr: %s", r.stderr)
		assert.Empty(t, r.stdout)
		assert.Equal(t, "revoked key "+id+" (tenant "+tenant+", fingerprint "+fp+")\n", r.stderr)
		_, err = verify(t, db, key)
		assert.ErrorIs(t, err, apiauth.ErrTokenRevoked)
		_, err = verify(t, db, newKey)
		assert.NoError(t, err, "revoking the old key revoked its replacement")

		r = s.run("keys", "revoke", "-id", id)
		require.Equal(t, exitOK, r.code, "stderr: %s", r.stderr)
		assert.Empty(t, r.stdout)
		assert.Regexp(t, `^key `+id+` was already revoked at `+stamp+`; unchanged\n$`, r.stderr)

		// JSON lines: every field, the statuses, no secret.
		keys := s.list()
		require.Len(t, keys, 3)
		old := keys[id]
		assert.Equal(t, "revoked", old.Status)
		assert.Equal(t, newID, old.ReplacedBy)
		assert.Equal(t, "first admin", old.Name)
		assert.Equal(t, fp, old.Fingerprint)
		assert.NotNil(t, old.RevokedAt)
		assert.Nil(t, old.LastUsedAt)
		assert.Equal(t, "active", keys[newID].Status)
		assert.Equal(t, "first admin", keys[newID].Name)
		assert.Equal(t, "active", keys[id2].Status)
		assert.Equal(t, []apiauth.Scope{apiauth.Read}, keys[id2].Scopes)
		assert.Nil(t, keys[id2].ExpiresAt)

		// What cannot be done exits 1 with one line naming the key.
		for _, tt := range []struct {
			args   []string
			stderr string
		}{
			{[]string{"keys", "rotate", "-id", id}, `apiauth keys rotate: key "` + id + `": revoked; a revoked key cannot be rotated: create a new one`},
			{[]string{"keys", "rotate", "-id", "key_nope"}, `apiauth keys rotate: key "key_nope": not found`},
			{[]string{"keys", "revoke", "-id", "key_nope"}, `apiauth keys revoke: key "key_nope": not found`},
		} {
			r := s.run(tt.args...)
			assert.Equal(t, exitFailed, r.code, "%v", tt.args)
			assert.Empty(t, r.stdout)
			assert.Equal(t, tt.stderr+"\n", r.stderr)
		}

		// A tenant without keys: nothing on stdout.
		r = s.run("keys", "list", "-tenant", tenant+"-empty")
		assert.Equal(t, exitOK, r.code)
		assert.Empty(t, r.stdout)
		assert.Equal(t, "no keys in tenant "+tenant+"-empty\n", r.stderr)
	})
}

// TestKeysCreateOptions: -expires as a duration, -prefix, and a rotation
// that keeps a key's earlier expiry and takes -prefix again.
func TestKeysCreateOptions(t *testing.T) {
	db, _ := sqliteDB(t)
	s := newSession(t, db, "acme")

	r := s.run("keys", "create", "-tenant", "acme", "-expires", "2d", "-prefix", "acme_test", "-scopes", "read, write,read")
	require.Equal(t, exitOK, r.code, "stderr: %s", r.stderr)
	m := regexp.MustCompile(`^(acme_test_[0-9A-Za-z]{33})\n$`).FindStringSubmatch(r.stdout)
	require.NotNil(t, m, "stdout: %q", r.stdout)
	s.remember(m[1])
	s.checkStderr(r.stderr)
	assert.Regexp(t, `, scopes read,write, tier default, expires `, r.stderr)
	id := createdID(t, r.stderr)
	p, err := verify(t, db, m[1])
	require.NoError(t, err)
	assert.WithinDuration(t, time.Now().Add(48*time.Hour), p.ExpiresAt, time.Minute)
	assert.Equal(t, []apiauth.Scope{apiauth.Read, apiauth.Write}, p.Scopes)

	// The grace outlasts the key: the old key still stops at its expiry.
	r = s.run("keys", "rotate", "-id", id, "-grace", "7d", "-prefix", "acme_test")
	require.Equal(t, exitOK, r.code, "stderr: %s", r.stderr)
	require.Regexp(t, `^acme_test_[0-9A-Za-z]{33}\n$`, r.stdout)
	s.remember(strings.TrimSpace(r.stdout))
	s.checkStderr(r.stderr)
	assert.True(t, strings.HasSuffix(r.stderr, " works until "+p.ExpiresAt.UTC().Format(time.RFC3339)+"\n"), "stderr: %q", r.stderr)

	// A name with a space and a subject with a no-break space are quoted
	// in the table, so that its columns stay apart.
	_, id2 := s.create("-name", "billing integration", "-subject", "svc\u00a0x")
	r = s.run("keys", "list", "-tenant", "acme")
	require.Equal(t, exitOK, r.code)
	assert.Regexp(t, `(?m)^`+id2+` +"billing integration" +`+regexp.QuoteMeta(`"svc\u00a0x"`)+` +read `, r.stdout)
}

// TestClientsRegister: the generated secret is printed alone, once; only
// its digest is stored; an ID taken exits 1.
func TestClientsRegister(t *testing.T) {
	backends(t, func(t *testing.T, db, tenant string) {
		s := newSession(t, db, tenant)
		id := "billing-" + suffix()
		r := s.run("clients", "register", "-id", id, "-tenant", tenant, "-subject", "billing@"+tenant, "-scopes", "read,write", "-tier", "pro")
		require.Equal(t, exitOK, r.code, "stderr: %s", r.stderr)
		m := secretLine.FindStringSubmatch(r.stdout)
		require.NotNil(t, m, "stdout is not one secret alone on its line: %q", r.stdout)
		secret := m[1]
		s.remember(secret)
		s.checkStderr(r.stderr)
		assert.Equal(t, "registered client "+id+" in tenant "+tenant+" (scopes read,write, tier pro); its secret is printed once, on stdout\n", r.stderr)

		c, err := openStore(t, db).GetClient(t.Context(), id)
		require.NoError(t, err)
		assert.Equal(t, apiauth.DigestKey(secret), c.SecretDigest)
		assert.Equal(t, tenant, c.Tenant)
		assert.Equal(t, "billing@"+tenant, c.Subject)
		assert.Equal(t, []apiauth.Scope{apiauth.Read, apiauth.Write}, c.Scopes)
		assert.Equal(t, "pro", c.Tier)
		assert.True(t, c.DisabledAt.IsZero())

		r = s.run("clients", "register", "-id", id, "-tenant", tenant)
		assert.Equal(t, exitFailed, r.code)
		assert.Empty(t, r.stdout, "a second secret was printed")
		assert.Equal(t, `apiauth clients register: client "`+id+`": already exists`+"\n", r.stderr)
	})
}

// TestClientsRegisterPublic: a public client, with a name and redirect
// URIs (one with a comma, which is no list), prints nothing on stdout,
// since it has no secret; a confidential one with a name and redirect
// URIs prints its secret as any other. Both are stored with the new
// fields, the URIs in the order the flags gave.
func TestClientsRegisterPublic(t *testing.T) {
	backends(t, func(t *testing.T, db, tenant string) {
		s := newSession(t, db, tenant)
		id := "orders-app-" + suffix()
		r := s.run("clients", "register", "-id", id, "-public", "-name", "Orders app", "-tenant", tenant,
			"-redirect-uri", "com.example.orders:/cb", "-redirect-uri", "http://127.0.0.1/cb", "-redirect-uri", "https://orders.example/cb,v2")
		require.Equal(t, exitOK, r.code, "stderr: %s", r.stderr)
		assert.Empty(t, r.stdout, "a public client has no secret to print")
		assert.Equal(t, "registered public client "+id+` "Orders app" in tenant `+tenant+
			` (scopes read, tier default, redirect URIs "com.example.orders:/cb" "http://127.0.0.1/cb" "https://orders.example/cb,v2"); it has no secret`+"\n", r.stderr)
		c, err := openStore(t, db).GetClient(t.Context(), id)
		require.NoError(t, err)
		assert.True(t, c.Public)
		assert.Equal(t, "Orders app", c.Name)
		assert.Equal(t, []string{"com.example.orders:/cb", "http://127.0.0.1/cb", "https://orders.example/cb,v2"}, c.RedirectURIs, "a comma in a URI that is no list is kept")
		assert.Equal(t, tenant, c.Tenant)

		// What RegisterClient stores for a public client: the digest of
		// the empty secret (the token endpoint refuses an empty secret).
		assert.Equal(t, apiauth.DigestKey(""), c.SecretDigest)

		id = "billing-" + suffix()
		r = s.run("clients", "register", "-id", id, "-name", "Billing", "-tenant", tenant, "-redirect-uri", "https://billing.example/cb")
		require.Equal(t, exitOK, r.code, "stderr: %s", r.stderr)
		m := secretLine.FindStringSubmatch(r.stdout)
		require.NotNil(t, m, "stdout is not one secret alone on its line: %q", r.stdout)
		s.remember(m[1])
		s.checkStderr(r.stderr)
		assert.Equal(t, "registered client "+id+` "Billing" in tenant `+tenant+
			` (scopes read, tier default, redirect URIs "https://billing.example/cb"); its secret is printed once, on stdout`+"\n", r.stderr)
		c, err = openStore(t, db).GetClient(t.Context(), id)
		require.NoError(t, err)
		assert.False(t, c.Public)
		assert.Equal(t, "Billing", c.Name)
		assert.Equal(t, []string{"https://billing.example/cb"}, c.RedirectURIs)
		assert.Equal(t, apiauth.DigestKey(m[1]), c.SecretDigest)
	})
}

// failingWriter is a stdout that cannot be written, as a closed pipe.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

// TestUnprintedSecretsDoNotWork: a key or client secret that could not be
// printed is never seen by anyone, so the CLI revokes the key or disables
// the client it had stored, and says so in one line, exit 1.
func TestUnprintedSecretsDoNotWork(t *testing.T) {
	db, _ := sqliteDB(t)
	s := newSession(t, db, "acme")
	runBroken := func(args ...string) string {
		t.Helper()
		var stderr strings.Builder
		code := run(t.Context(), append([]string{"-db", db}, args...), failingWriter{}, &stderr)
		assert.Equal(t, exitFailed, code)
		oneLineOf(t, stderr.String())
		return stderr.String()
	}

	msg := runBroken("keys", "create", "-tenant", "acme", "-scopes", "admin")
	m := regexp.MustCompile(`^apiauth keys create: cannot print the new key \(broken pipe\): revoked it, key (key_\w{16})\n$`).FindStringSubmatch(msg)
	require.NotNil(t, m, "stderr: %q", msg)
	keys := s.list()
	require.Len(t, keys, 1)
	assert.Equal(t, "revoked", keys[m[1]].Status)

	_, id := s.create()
	msg = runBroken("keys", "rotate", "-id", id)
	m = regexp.MustCompile(`^apiauth keys rotate: cannot print the new key \(broken pipe\): revoked it, key (key_\w{16}); key ` + id +
		` still stops working at \S+: rotate it again\n$`).FindStringSubmatch(msg)
	require.NotNil(t, m, "stderr: %q", msg)
	keys = s.list()
	assert.Equal(t, "revoked", keys[m[1]].Status)
	assert.Equal(t, "active", keys[id].Status)

	msg = runBroken("clients", "register", "-id", "billing", "-tenant", "acme")
	assert.Equal(t, "apiauth clients register: cannot print the secret (broken pipe): disabled client billing; register another ID\n", msg)
	c, err := openStore(t, db).GetClient(t.Context(), "billing")
	require.NoError(t, err)
	assert.False(t, c.DisabledAt.IsZero())
	assert.False(t, c.DisabledAt.After(time.Now()))
}

// TestConcurrentFirstRuns: many CLIs started at once on a new database,
// as a deploy's instances, each migrate it and create their key.
func TestConcurrentFirstRuns(t *testing.T) {
	backends(t, func(t *testing.T, db, tenant string) {
		s := newSession(t, db, tenant)
		const n = 6
		var wg sync.WaitGroup
		results := make([]result, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var stdout, stderr strings.Builder
				code := run(t.Context(), []string{"-db", db, "keys", "create", "-tenant", tenant, "-scopes", "admin"}, &stdout, &stderr)
				results[i] = result{code, stdout.String(), stderr.String()}
			}()
		}
		wg.Wait()
		seen := map[string]bool{}
		for _, r := range results {
			require.Equal(t, exitOK, r.code, "stderr: %s", r.stderr)
			require.Regexp(t, keyLine, r.stdout)
			seen[r.stdout] = true
			s.remember(strings.TrimSpace(r.stdout))
		}
		for _, r := range results {
			s.checkStderr(r.stderr)
		}
		assert.Len(t, seen, n)
		assert.Len(t, s.list(), n)
	})
}
