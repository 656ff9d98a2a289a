package main

import (
	"strings"
	"testing"

	"github.com/apiauth/apiauth"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func init() {
	// Under the race detector one hash at the real count takes a second,
	// and every start of the demo without config users hashes one:
	// TestPasswordHash checks the real count, the other tests run cheap.
	passwordIterations = 1_000
}

// A user's password in the config files of the tests.
const cfgUserPassword = "cfg-user-password-Zq7"

func TestPasswordHash(t *testing.T) {
	assert.GreaterOrEqual(t, defaultPasswordIterations, 600_000, "OWASP's count for PBKDF2-HMAC-SHA256")
	defer func(n int) { passwordIterations = n }(passwordIterations)
	passwordIterations = defaultPasswordIterations

	h, err := hashPassword("correct horse")
	require.NoError(t, err)
	assert.Equal(t, defaultPasswordIterations, h.iterations)
	assert.Len(t, h.salt, passwordSaltBytes)
	assert.Len(t, h.key, passwordKeyBytes)
	assert.NotContains(t, string(h.key), "correct horse")
	assert.True(t, h.matches("correct horse"))

	passwordIterations = 1_000
	other, err := hashPassword("correct horse")
	require.NoError(t, err)
	assert.NotEqual(t, other.salt, h.salt, "a random salt per hash")
	assert.False(t, other.matches("correct horsE"))
	assert.False(t, other.matches(""))
}

func TestUserDirectory(t *testing.T) {
	h, err := hashPassword("right-password")
	require.NoError(t, err)
	dir := newUserDirectory([]demoUser{{Username: "alice", Subject: "user-alice", Tenant: "acme", password: h}})
	u, ok := dir.authenticate("alice", "right-password")
	require.True(t, ok)
	assert.Equal(t, "user-alice", u.Subject)
	for name, tc := range map[string][2]string{
		"wrong password": {"alice", "wrong-password"},
		"unknown user":   {"bob", "right-password"},
		"empty":          {"", ""},
	} {
		u, ok := dir.authenticate(tc[0], tc[1])
		assert.False(t, ok, name)
		assert.Nil(t, u, name)
	}
	assert.False(t, dir.dummy.matches(""), "the dummy hash matches nothing")
}

func TestConfigUsers(t *testing.T) {
	cfg, err := parseConfig([]byte(`{"users": [
		{"username": "bob", "password": "` + cfgUserPassword + `", "subject": "user-bob", "tenant": "globex", "scopes": ["read"]},
		{"username": "carol@acme", "password": "pässwörd", "subject": "Carol", "tenant": "acme", "scopes": ["read", "orders:export"], "tier": "pro"},
		{"username": "dan", "password": "` + cfgUserPassword + `", "subject": "user-dan", "tenant": "acme", "scopes": ["read"], "tier": "tiny"}
	], "tiers": {"tiny": [{"requests": 5, "window": "1m"}]}}`))
	require.NoError(t, err)
	defer cfg.Close()
	require.Len(t, cfg.Users, 3)
	bob := cfg.Users[0]
	assert.Equal(t, "bob", bob.Username)
	assert.Equal(t, "user-bob", bob.Subject)
	assert.Equal(t, "globex", bob.Tenant)
	assert.Equal(t, []apiauth.Scope{"read"}, bob.Scopes)
	assert.Equal(t, "", bob.Tier, "no tier: the default")
	assert.Equal(t, "pro", cfg.Users[1].Tier, "a preset tier")
	assert.Equal(t, "tiny", cfg.Users[2].Tier, "a tier of the config")
	assert.True(t, bob.password.matches(cfgUserPassword))
	assert.True(t, cfg.Users[1].password.matches("pässwörd"), "8 characters, not bytes")
	assert.NotEqual(t, bob.password.salt, cfg.Users[1].password.salt)
}

func TestBadUsersConfig(t *testing.T) {
	good := `"password": "` + cfgUserPassword + `", "subject": "user-a", "tenant": "acme", "scopes": ["read"]`
	tests := []struct{ name, config, want string }{
		{"empty username", `{"users": [{"username": "", ` + good + `}]}`, `config: users[0].username "": want 1 to 64 letters, digits`},
		{"missing username", `{"users": [{` + good + `}]}`, `config: users[0].username "": want 1 to 64 letters`},
		{"username with a space", `{"users": [{"username": "a b", ` + good + `}]}`, `config: users[0].username "a b": want 1 to 64 letters`},
		{"duplicate username", `{"users": [{"username": "alice", ` + good + `}, {"username": "alice", ` + good + `}]}`,
			`config: users[1].username "alice": duplicate username (also users[0])`},
		{"missing password", `{"users": [{"username": "alice", "subject": "user-a", "tenant": "acme", "scopes": ["read"]}]}`,
			`config: users[0].password (username "alice"): missing`},
		{"short password", `{"users": [{"username": "alice", "password": "short-7", "subject": "user-a", "tenant": "acme", "scopes": ["read"]}]}`,
			`config: users[0].password (username "alice"): shorter than 8 characters`},
		{"long password", `{"users": [{"username": "alice", "password": "` + strings.Repeat("p", 1025) + `", "subject": "user-a", "tenant": "acme", "scopes": ["read"]}]}`,
			`config: users[0].password (username "alice"): longer than 1024 bytes`},
		{"missing subject", `{"users": [{"username": "alice", "password": "` + cfgUserPassword + `", "tenant": "acme", "scopes": ["read"]}]}`,
			`config: users[0].subject (username "alice"): missing`},
		{"bad subject", `{"users": [{"username": "alice", "password": "` + cfgUserPassword + `", "subject": "a\tb", "tenant": "acme", "scopes": ["read"]}]}`,
			`config: users[0].subject: holds a control character`},
		{"missing tenant", `{"users": [{"username": "alice", "password": "` + cfgUserPassword + `", "subject": "user-a", "scopes": ["read"]}]}`,
			`config: users[0].tenant (username "alice"): missing (every user belongs to a tenant)`},
		{"bad tenant", `{"users": [{"username": "alice", "password": "` + cfgUserPassword + `", "subject": "user-a", "tenant": "a/b", "scopes": ["read"]}]}`,
			`config: users[0].tenant "a/b": want only letters`},
		{"no scopes", `{"users": [{"username": "alice", "password": "` + cfgUserPassword + `", "subject": "user-a", "tenant": "acme"}]}`,
			`config: users[0].scopes: want at least one scope`},
		{"bad scope", `{"users": [{"username": "alice", ` + good + `, "scopes": ["read", "bad scope"]}]}`,
			`config: users[0].scopes[1] "bad scope": not a valid scope`},
		{"unknown tier", `{"users": [{"username": "alice", ` + good + `, "tier": "gold"}]}`,
			`config: users[0].tier "gold": unknown tier (known: enterprise, free, pro)`},
		{"tier not a string", `{"users": [{"username": "alice", ` + good + `, "tier": 1}]}`, `config: users[0].tier: want a string, got JSON number`},
		{"unknown field", `{"users": [{"username": "alice", ` + good + `, "pasword": "x"}]}`, `config: users[0]: unknown field "pasword"`},
		{"password not a string", `{"users": [{"username": "alice", "password": 12345678}]}`, `config: users[0].password: want a string, got JSON number`},
		{"users not an array", `{"users": {"username": "alice"}}`, `config: users: want an array, got JSON object`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runToExit(t, "-addr", "127.0.0.1:0", "-config", writeConfig(t, tt.config))
			assert.Equal(t, 2, code)
			assert.Empty(t, stdout)
			assert.Equal(t, 1, strings.Count(stderr, "\n"), "one line on stderr: %q", stderr)
			assert.True(t, strings.HasPrefix(stderr, tt.want), "stderr %q does not start with %q", stderr, tt.want)
			assert.NotContains(t, stderr, cfgUserPassword, "a password is never printed")
			assert.NotContains(t, stderr, "short-7", "a password is never printed")
		})
	}
}
