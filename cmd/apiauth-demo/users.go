package main

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/apiauth/apiauth"
)

// The rules of demo passwords, and how they are kept: PBKDF2-HMAC-SHA256
// (crypto/pbkdf2) with a random salt per user and OWASP's iteration count
// for it. Only the derived key is kept; the plaintext is dropped once it
// is hashed at load.
const (
	minPasswordLength = 8
	maxPasswordLength = 1024
	// defaultPasswordIterations is OWASP's count for PBKDF2-HMAC-SHA256
	// (2023): about 0.1 s of one core a hash.
	defaultPasswordIterations = 600_000
	passwordSaltBytes         = 16
	passwordKeyBytes          = 32
)

// passwordIterations is the PBKDF2 iteration count of new hashes: always
// defaultPasswordIterations, but in this package's tests, where the race
// detector makes each hash take a second.
var passwordIterations = defaultPasswordIterations

// passwordHash is a hashed password: the derived key, its salt and the
// iteration count it was derived with.
type passwordHash struct {
	salt, key  []byte
	iterations int
}

// hashPassword derives password's hash with a fresh random salt.
func hashPassword(password string) (passwordHash, error) {
	h := passwordHash{salt: make([]byte, passwordSaltBytes), iterations: passwordIterations}
	_, _ = rand.Read(h.salt) // crypto/rand.Read never fails (Go 1.24).
	var err error
	h.key, err = pbkdf2.Key(sha256.New, password, h.salt, h.iterations, passwordKeyBytes)
	return h, err
}

// matches reports whether password is the one h was derived from,
// comparing in constant time.
func (h passwordHash) matches(password string) bool {
	key, err := pbkdf2.Key(sha256.New, password, h.salt, h.iterations, len(h.key))
	return err == nil && subtle.ConstantTimeCompare(key, h.key) == 1
}

// demoUser is a user of the demo's sign-in page (/demo/login): who they
// are to the authorization endpoint, and their password's hash.
type demoUser struct {
	Username string
	Subject  string
	Tenant   string
	// Scopes are those the user may approve for an application.
	Scopes []apiauth.Scope
	// Tier is the rate-limit tier of the tokens the user approves; empty
	// for the default tier.
	Tier     string
	password passwordHash
}

// userConfig is one entry of the "users" section, as written.
type userConfig struct {
	Username string   `json:"username"`
	Password string   `json:"password"`
	Subject  string   `json:"subject"`
	Tenant   string   `json:"tenant"`
	Scopes   []string `json:"scopes"`
	Tier     string   `json:"tier"`
}

// parseUsers decodes and validates the "users" section, then hashes the
// passwords: every entry is checked before the first (slow) hash, so that
// a bad config fails at once.
func parseUsers(raws []json.RawMessage, cfg *Config) error {
	entries := make([]userConfig, 0, len(raws))
	names := make(map[string]int)
	for i, raw := range raws {
		field := fmt.Sprintf("users[%d]", i)
		var u userConfig
		if err := decodeStrict(raw, &u); err != nil {
			return jsonError(raw, field, err)
		}
		if err := checkUserConfig(&u, cfg.Tiers); err != nil {
			return fmt.Errorf("%s.%w", field, err)
		}
		if j, dup := names[u.Username]; dup {
			return fmt.Errorf("%s.username %q: duplicate username (also users[%d])", field, u.Username, j)
		}
		names[u.Username] = i
		entries = append(entries, u)
	}
	for i := range entries {
		u, err := entries[i].user()
		if err != nil {
			return fmt.Errorf("users[%d].password: cannot hash: %w", i, err)
		}
		cfg.Users = append(cfg.Users, u)
	}
	return nil
}

// checkUserConfig validates one user entry against the configured tiers.
// Its errors start with the member they are about; they never quote the
// password.
func checkUserConfig(u *userConfig, tiers apiauth.Tiers) error {
	if err := checkUsername(u.Username); err != nil {
		return fmt.Errorf("username %q: %w", u.Username, err)
	}
	note := fmt.Sprintf(" (username %q)", u.Username)
	switch n := utf8.RuneCountInString(u.Password); {
	case u.Password == "":
		return fmt.Errorf("password%s: missing", note)
	case !utf8.ValidString(u.Password):
		return fmt.Errorf("password%s: not valid UTF-8", note)
	case n < minPasswordLength:
		return fmt.Errorf("password%s: shorter than %d characters", note, minPasswordLength)
	case len(u.Password) > maxPasswordLength:
		return fmt.Errorf("password%s: longer than %d bytes", note, maxPasswordLength)
	}
	if u.Subject == "" {
		return fmt.Errorf("subject%s: missing (the \"sub\" of the user's tokens)", note)
	}
	if err := checkName(u.Subject, 200, false); err != nil {
		return fmt.Errorf("subject: %w", err)
	}
	if u.Tenant == "" {
		return fmt.Errorf("tenant%s: missing (every user belongs to a tenant)", note)
	}
	if err := checkName(u.Tenant, 64, true); err != nil {
		return fmt.Errorf("tenant %q: %w", u.Tenant, err)
	}
	if len(u.Scopes) == 0 {
		return errors.New(`scopes: want at least one scope the user may approve, such as ["read"]`)
	}
	for j, s := range u.Scopes {
		if !apiauth.Scope(s).Valid() {
			return fmt.Errorf("scopes[%d] %q: not a valid scope (want printable ASCII without spaces, '\"' or '\\')", j, s)
		}
	}
	if _, known := tiers[u.Tier]; u.Tier != "" && !known {
		return fmt.Errorf("tier %q: unknown tier (known: %s)", u.Tier, strings.Join(tierNames(tiers), ", "))
	}
	return nil
}

// checkUsername applies the rules of a username: 1 to 64 letters,
// digits, '.', '_', '-' and '@'.
func checkUsername(s string) error {
	if s == "" || len(s) > 64 {
		return errors.New("want 1 to 64 letters, digits, '.', '_', '-' or '@'")
	}
	for _, c := range s {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-' || c == '@') {
			return errors.New("want 1 to 64 letters, digits, '.', '_', '-' or '@'")
		}
	}
	return nil
}

// user returns the demoUser of a validated entry, its password hashed.
func (u *userConfig) user() (demoUser, error) {
	h, err := hashPassword(u.Password)
	if err != nil {
		return demoUser{}, err
	}
	du := demoUser{Username: u.Username, Subject: u.Subject, Tenant: u.Tenant, Tier: u.Tier, password: h}
	for _, s := range u.Scopes {
		du.Scopes = append(du.Scopes, apiauth.Scope(s))
	}
	return du, nil
}

// demoUserSpec is the user generated when the config lists none: a
// person of tenant acme who may approve read and write.
var demoUserSpec = userConfig{Username: "alice", Subject: "user-alice", Tenant: "acme", Scopes: []string{"read", "write"}}

// generatedUser is the generated demo user and their password, printed
// once.
type generatedUser struct {
	user     demoUser
	password string
}

// generateDemoUser makes demoUserSpec with a random password. It lives in
// memory only: each start generates it anew.
func generateDemoUser() (*generatedUser, error) {
	spec := demoUserSpec
	// 16 base62 characters: about 95 bits.
	spec.Password = randomBase62(16)
	u, err := spec.user()
	if err != nil {
		return nil, err
	}
	return &generatedUser{user: u, password: spec.Password}, nil
}

// randomBase62 returns n random characters of [0-9A-Za-z].
func randomBase62(n int) string {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[randIntn(len(alphabet))]
	}
	return string(b)
}

// randIntn returns a uniform random int in [0, n) from crypto/rand.
func randIntn(n int) int {
	var b [1]byte
	limit := 256 - 256%n // reject the top, so that every value is as likely
	for {
		_, _ = rand.Read(b[:])
		if int(b[0]) < limit {
			return int(b[0]) % n
		}
	}
}

// userDirectory looks users up by username for the sign-in page.
type userDirectory struct {
	byName map[string]*demoUser
	// dummy is checked against for an unknown username, so that it costs
	// the same hash as a wrong password.
	dummy passwordHash
}

// newUserDirectory returns a directory of users.
func newUserDirectory(users []demoUser) *userDirectory {
	d := &userDirectory{byName: make(map[string]*demoUser, len(users))}
	for i := range users {
		d.byName[users[i].Username] = &users[i]
	}
	// A random key no password derives: the dummy never matches.
	d.dummy = passwordHash{salt: make([]byte, passwordSaltBytes), key: make([]byte, passwordKeyBytes), iterations: passwordIterations}
	_, _ = rand.Read(d.dummy.salt)
	_, _ = rand.Read(d.dummy.key)
	return d
}

// authenticate returns the user whose username and password these are.
// An unknown username and a wrong password cost the same hash and get the
// same answer, so that neither the answer nor its timing tells them apart.
func (d *userDirectory) authenticate(username, password string) (*demoUser, bool) {
	u, ok := d.byName[username]
	if !ok {
		d.dummy.matches(password)
		return nil, false
	}
	if !u.password.matches(password) {
		return nil, false
	}
	return u, true
}
