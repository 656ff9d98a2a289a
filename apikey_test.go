package apiauth_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apiauth/apiauth"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const akBase62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// akKeyShape is the documented shape of a generated key.
var akKeyShape = regexp.MustCompile(`^([A-Za-z0-9_]{1,32})_([0-9A-Za-z]{27})([0-9A-Za-z]{6})$`)

// akChecksum is the documented checksum, written independently of the
// library: CRC-32 (IEEE) of everything before it, as 6 base62 digits, most
// significant first.
func akChecksum(s string) string {
	c := crc32.ChecksumIEEE([]byte(s))
	var d [6]byte
	for i := 5; i >= 0; i-- {
		d[i] = akBase62[c%62]
		c /= 62
	}
	return string(d[:])
}

// akWithChecksum appends the correct checksum to prefix_random.
func akWithChecksum(s string) string { return s + akChecksum(s) }

func TestGenerateKeyShape(t *testing.T) {
	for _, prefix := range []string{"", "sk_live", "sk_test", "acme_live", "a", "_", "A9", "x_y_z", strings.Repeat("p", 32)} {
		t.Run(prefix, func(t *testing.T) {
			key, err := apiauth.GenerateKey(prefix)
			require.NoError(t, err)
			want := prefix
			if want == "" {
				want = apiauth.DefaultKeyPrefix
			}
			m := akKeyShape.FindStringSubmatch(key)
			require.NotNil(t, m, "key %q", key)
			assert.Equal(t, want, m[1])
			assert.Len(t, key, len(want)+1+27+6)
			assert.Equal(t, akChecksum(want+"_"+m[2]), m[3], "checksum is CRC-32 of prefix_random in base62")
			assert.NoError(t, apiauth.CheckKey(key))
		})
	}
	assert.Equal(t, "sk_live", apiauth.DefaultKeyPrefix)
}

func TestGenerateKeyRefusesInvalidPrefix(t *testing.T) {
	for _, prefix := range []string{
		strings.Repeat("p", 33), "sk-live", "sk live", "sk.live", "sk~live", "sk+live", "sk/live",
		"sk=", "é", "sk\x00", "sk\n", " ", "sk_live ", "\xff",
	} {
		key, err := apiauth.GenerateKey(prefix)
		assert.Error(t, err, "prefix %q", prefix)
		assert.Equal(t, "", key, "prefix %q", prefix)
	}
}

func TestGenerateKeyUnique(t *testing.T) {
	const n = 20000
	seen := make(map[string]struct{}, n)
	randoms := make(map[string]struct{}, n)
	for i := 0; i < n; i++ {
		key, err := apiauth.GenerateKey("")
		require.NoError(t, err)
		_, dup := seen[key]
		require.False(t, dup, "duplicate key after %d generations", i)
		seen[key] = struct{}{}
		randoms[key[len("sk_live_"):len("sk_live_")+27]] = struct{}{}
	}
	assert.Len(t, randoms, n)
}

// TestGenerateKeyDigitsUniform is a sanity check of the rejection sampling:
// a chi-square statistic of the random digits' frequencies against the
// uniform distribution. With 61 degrees of freedom its mean is 61 and its
// standard deviation 11; the bound of 160 is nine deviations out, so the
// test does not flake, yet a modulo bias (bytes 0-255 taken mod 62 without
// rejection: digits 0-7 a quarter more likely) scores in the thousands.
// Each position is checked too, with a bound as generous.
func TestGenerateKeyDigitsUniform(t *testing.T) {
	const keys = 6000
	var total [256]int
	var perPos [27][256]int
	for i := 0; i < keys; i++ {
		key, err := apiauth.GenerateKey("")
		require.NoError(t, err)
		random := key[len("sk_live_") : len("sk_live_")+27]
		for j := 0; j < len(random); j++ {
			total[random[j]]++
			perPos[j][random[j]]++
		}
	}
	chi := func(counts *[256]int, n int) float64 {
		exp := float64(n) / 62
		var x float64
		for i := 0; i < 256; i++ {
			if strings.IndexByte(akBase62, byte(i)) < 0 {
				require.Zero(t, counts[i], "non-base62 digit %q", byte(i))
				continue
			}
			d := float64(counts[i]) - exp
			x += d * d / exp
		}
		return x
	}
	x := chi(&total, keys*27)
	t.Logf("chi-square over all digits: %.1f (df 61)", x)
	assert.Less(t, x, 160.0, "digits are not uniform")
	for j := range perPos {
		assert.Less(t, chi(&perPos[j], keys), 200.0, "digits at position %d are not uniform", j)
	}
}

func TestCheckKey(t *testing.T) {
	generated, err := apiauth.GenerateKey("")
	require.NoError(t, err)
	tests := []struct {
		name string
		key  string
		want error // nil, ErrBadChecksum or ErrMalformedToken
	}{
		{"generated", generated, nil},
		{"constructed", akWithChecksum("sk_live_0123456789abcdefghijklmnopq"), nil},
		{"constructed own prefix", akWithChecksum("acme_test_0123456789abcdefghijklmnopq"), nil},
		{"constructed one-char prefix", akWithChecksum("x_0123456789abcdefghijklmnopq"), nil},
		{"constructed 32-char prefix", akWithChecksum(strings.Repeat("p", 32) + "_0123456789abcdefghijklmnopq"), nil},
		{"bad checksum", "sk_live_0123456789abcdefghijklmnopq000000", apiauth.ErrBadChecksum},
		{"checksum of other prefix", "sk_test_" + akWithChecksum("sk_live_0123456789abcdefghijklmnopq")[len("sk_live_"):], apiauth.ErrBadChecksum},
		{"imported 20", strings.Repeat("a", 20), nil},
		{"imported github style", "ghp_" + strings.Repeat("A1b2", 9), nil},
		{"imported b64 chars", "abc-._~+/0123456789XYZ==", nil},
		{"imported long", strings.Repeat("k", 4096), nil},
		// A 33-character body with a b64 character that is not base62 is
		// not library-shaped: it is taken as an imported key.
		{"library length with dash", "sk_live_0123456789abcdefghijklm-q000000", nil},
		// A 33-character base62 body under an invalid prefix is an
		// imported key as well.
		{"too long prefix", strings.Repeat("p", 33) + "_0123456789abcdefghijklmnopq000000", nil},
		{"imported 19", strings.Repeat("a", 19), apiauth.ErrMalformedToken},
		{"empty", "", apiauth.ErrMalformedToken},
		{"space", strings.Repeat("a", 20) + " b", apiauth.ErrMalformedToken},
		{"comma", strings.Repeat("a", 20) + ",", apiauth.ErrMalformedToken},
		{"quote", `"` + strings.Repeat("a", 20) + `"`, apiauth.ErrMalformedToken},
		{"non-ascii", strings.Repeat("a", 20) + "é", apiauth.ErrMalformedToken},
		{"equals inside", strings.Repeat("a", 10) + "=" + strings.Repeat("a", 10), apiauth.ErrMalformedToken},
		{"only equals", strings.Repeat("=", 20), apiauth.ErrMalformedToken},
		{"nul", strings.Repeat("a", 20) + "\x00", apiauth.ErrMalformedToken},
		{"newline", generated + "\n", apiauth.ErrMalformedToken},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := apiauth.CheckKey(tc.key)
			if tc.want == nil {
				assert.NoError(t, err)
				return
			}
			assert.Equal(t, tc.want, err)
			assert.ErrorIs(t, err, apiauth.ErrMalformedToken)
			assert.ErrorIs(t, err, apiauth.ErrInvalidToken)
			assert.NotErrorIs(t, err, apiauth.ErrUnknownToken)
		})
	}
	assert.Equal(t, 20, apiauth.MinImportedKeyLength)
}

// TestCheckKeyLibraryShapeNeedsBase62Body: a string with a valid prefix and
// a 33-byte body whose checksum matches is accepted only if the body is
// base62 (library format) or the whole string is a b64token (imported).
// Bytes that are neither must not slip through because the checksum is
// right: Import would store a key no Authorization header can carry, and
// CheckKey's contract ("any other key must be a b64token") would not hold.
func TestCheckKeyLibraryShapeNeedsBase62Body(t *testing.T) {
	for _, random := range []string{
		"0123456789abcdefghijklmn pq", // space
		"0123456789abcdefghijklmn\x00pq",
		"0123456789abcdefghijklmn\npq",
		"0123456789abcdefghijklmn=pq", // '=' only allowed at the end
		"0123456789abcdefghijklmn\"pq",
		"0123456789abcdefghijklm\xc3\xa9pq", // é
		"0123456789abcdefghijklmn\xffpq",
	} {
		require.Len(t, random, 27)
		key := akWithChecksum("sk_live_" + random)
		assert.Equal(t, apiauth.ErrMalformedToken, apiauth.CheckKey(key), "%q", key)
	}
	// b64 characters that are not base62 are fine: an imported key.
	assert.NoError(t, apiauth.CheckKey(akWithChecksum("sk_live_0123456789abcdefghijklmn-pq")))
}

// TestCheckKeyRejectsEverySubstitution: the checksum catches every
// single-character typo in the random part or in the checksum itself, when
// the typo is another base62 character (so the key keeps its shape).
func TestCheckKeyRejectsEverySubstitution(t *testing.T) {
	for _, prefix := range []string{"", "acme_live"} {
		key, err := apiauth.GenerateKey(prefix)
		require.NoError(t, err)
		body := strings.LastIndexByte(key, '_') + 1
		require.Equal(t, 33, len(key)-body)
		b := []byte(key)
		for i := body; i < len(b); i++ {
			orig := b[i]
			for j := 0; j < len(akBase62); j++ {
				if akBase62[j] == orig {
					continue
				}
				b[i] = akBase62[j]
				err := apiauth.CheckKey(string(b))
				if !assert.Equal(t, apiauth.ErrBadChecksum, err, "%q", b) {
					return
				}
				if !errors.Is(err, apiauth.ErrBadChecksum) || !errors.Is(err, apiauth.ErrMalformedToken) || !errors.Is(err, apiauth.ErrInvalidToken) {
					t.Fatalf("ErrBadChecksum does not match its parents: %v", err)
				}
			}
			b[i] = orig
		}
		// Transposing two neighbours (a common typo) is caught too.
		for i := body; i+1 < len(b); i++ {
			if b[i] == b[i+1] {
				continue
			}
			b[i], b[i+1] = b[i+1], b[i]
			assert.Equal(t, apiauth.ErrBadChecksum, apiauth.CheckKey(string(b)), "%q", b)
			b[i], b[i+1] = b[i+1], b[i]
		}
		assert.NoError(t, apiauth.CheckKey(string(b)))
	}
}

func TestDigestKeyIsSHA256(t *testing.T) {
	// Lengths around the library's stack buffer and SHA-256's block size.
	for _, n := range []int{0, 1, 20, 32, 40, 55, 56, 63, 64, 65, 127, 128, 129, 255, 256, 257, 1000, 5000} {
		key := strings.Repeat("k", n)
		got := apiauth.DigestKey(key)
		want := sha256.Sum256([]byte(key))
		assert.Equal(t, apiauth.KeyDigest(want), got, "length %d", n)
	}
}

func TestFingerprint(t *testing.T) {
	key := "sk_live_0123456789abcdefghijklmnopq"
	sum := sha256.Sum256([]byte(key))
	want := hex.EncodeToString(sum[:4])
	assert.Equal(t, want, apiauth.Fingerprint(key))
	assert.Len(t, want, 8)
	rec := &apiauth.KeyRecord{Digest: apiauth.DigestKey(key)}
	assert.Equal(t, want, rec.Fingerprint())
	assert.NotContains(t, key, want)

	keys, _ := akKeys()
	for i := 0; i < 20; i++ {
		k, rec, err := keys.Create(context.Background(), apiauth.KeySpec{Tenant: "acme"})
		require.NoError(t, err)
		assert.Equal(t, apiauth.Fingerprint(k), rec.Fingerprint())
		assert.Regexp(t, `^[0-9a-f]{8}$`, rec.Fingerprint())
	}
}

// akClock is a settable clock safe for concurrent use.
type akClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *akClock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *akClock) Set(t time.Time)         { c.mu.Lock(); c.now = t; c.mu.Unlock() }
func (c *akClock) Advance(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

var akStart = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

func akKeys() (*apiauth.Keys, *akClock) {
	clk := &akClock{}
	clk.Set(akStart)
	keys := apiauth.NewMemoryKeys()
	keys.Now = clk.Now
	return keys, clk
}

func TestKeysCreateVerify(t *testing.T) {
	ctx := context.Background()
	keys, _ := akKeys()
	scopes := []apiauth.Scope{apiauth.Read, "orders:write"}
	key, rec, err := keys.Create(ctx, apiauth.KeySpec{
		Name: "billing", Subject: "svc-billing", Tenant: "acme", Scopes: scopes, Tier: "pro",
	})
	require.NoError(t, err)
	assert.Regexp(t, `^sk_live_[0-9A-Za-z]{33}$`, key)
	assert.Regexp(t, `^key_[0-9A-Za-z]{16}$`, rec.KeyID)
	assert.Equal(t, rec.KeyID, rec.ID())
	assert.Equal(t, "billing", rec.Name)
	assert.Equal(t, akStart, rec.CreatedAt)
	assert.Equal(t, apiauth.DigestKey(key), rec.Digest)
	assert.True(t, rec.RevokedAt.IsZero())

	// The caller's slice and the returned record are not the store's.
	scopes[0] = apiauth.Admin
	rec.Scopes[0] = apiauth.Admin

	p, err := keys.Verify(ctx, key)
	require.NoError(t, err)
	assert.Equal(t, apiauth.Principal{
		Subject: "svc-billing",
		Tenant:  "acme",
		Scopes:  []apiauth.Scope{apiauth.Read, "orders:write"},
		Tier:    "pro",
		KeyID:   rec.KeyID,
	}, *p)

	// The record in the store holds the digest, never the key.
	got, err := keys.Store.GetKey(ctx, rec.KeyID)
	require.NoError(t, err)
	assert.Equal(t, apiauth.DigestKey(key), got.Digest)
	assert.NotContains(t, fmt.Sprintf("%+v", *got), key[len("sk_live_"):])

	// Own prefix and own ID.
	keys.Prefix = "acme_test"
	key2, rec2, err := keys.Create(ctx, apiauth.KeySpec{ID: "key_mine", Tenant: "acme"})
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(key2, "acme_test_"), key2)
	assert.Equal(t, "key_mine", rec2.KeyID)
	p, err = keys.Verify(ctx, key2)
	require.NoError(t, err)
	assert.Equal(t, "key_mine", p.KeyID)
	assert.Nil(t, p.Scopes)

	keys.Prefix = "bad-prefix"
	_, _, err = keys.Create(ctx, apiauth.KeySpec{Tenant: "acme"})
	assert.Error(t, err)

	keys.Prefix = ""
	_, _, err = keys.Create(ctx, apiauth.KeySpec{Tenant: "acme", Scopes: []apiauth.Scope{"has space"}})
	assert.Error(t, err, "invalid scope")
}

func TestKeysVerifyRejections(t *testing.T) {
	ctx := context.Background()
	keys, _ := akKeys()
	_, _, err := keys.Create(ctx, apiauth.KeySpec{Tenant: "acme"})
	require.NoError(t, err)

	unknown, err := apiauth.GenerateKey("")
	require.NoError(t, err)
	_, err = keys.Verify(ctx, unknown)
	assert.Equal(t, apiauth.ErrUnknownToken, err)
	assert.ErrorIs(t, err, apiauth.ErrInvalidToken)
	assert.NotErrorIs(t, err, apiauth.ErrMalformedToken)

	_, err = keys.Verify(ctx, strings.Repeat("a", 40))
	assert.Equal(t, apiauth.ErrUnknownToken, err, "a well-formed imported-style key nobody holds")

	p, err := keys.Verify(ctx, "short")
	assert.Nil(t, p)
	assert.Equal(t, apiauth.ErrMalformedToken, err)
	assert.ErrorIs(t, err, apiauth.ErrInvalidToken)

	bad := []byte(unknown)
	if bad[len(bad)-1] == 'x' {
		bad[len(bad)-1] = 'y'
	} else {
		bad[len(bad)-1] = 'x'
	}
	_, err = keys.Verify(ctx, string(bad))
	assert.Equal(t, apiauth.ErrBadChecksum, err)
	assert.ErrorIs(t, err, apiauth.ErrInvalidToken)
}

// akCountingStore counts lookups and can be made to fail or misbehave.
type akCountingStore struct {
	*apiauth.MemoryKeyStore
	lookups atomic.Int64
	result  func() (*apiauth.KeyRecord, error)
}

func (s *akCountingStore) LookupKey(ctx context.Context, d apiauth.KeyDigest) (*apiauth.KeyRecord, error) {
	s.lookups.Add(1)
	if s.result != nil {
		return s.result()
	}
	return s.MemoryKeyStore.LookupKey(ctx, d)
}

func TestKeysVerifyChecksBeforeLookup(t *testing.T) {
	store := &akCountingStore{MemoryKeyStore: apiauth.NewMemoryKeyStore()}
	keys := apiauth.NewKeys(store)
	for _, tok := range []string{"short", "sk_live_0123456789abcdefghijklmnopq000000", strings.Repeat("a", 19)} {
		_, err := keys.Verify(context.Background(), tok)
		assert.ErrorIs(t, err, apiauth.ErrMalformedToken, tok)
	}
	assert.Zero(t, store.lookups.Load(), "a malformed key never reaches the store")
}

// TestKeysVerifyStoreFailure: a store failure must not look like a
// rejection, or Authenticate would answer 401 instead of 503.
func TestKeysVerifyStoreFailure(t *testing.T) {
	ctx := context.Background()
	dbDown := errors.New("connection refused")
	store := &akCountingStore{MemoryKeyStore: apiauth.NewMemoryKeyStore()}
	keys := apiauth.NewKeys(store)
	key, _, err := keys.Create(ctx, apiauth.KeySpec{Tenant: "acme"})
	require.NoError(t, err)

	store.result = func() (*apiauth.KeyRecord, error) { return nil, dbDown }
	p, err := keys.Verify(ctx, key)
	assert.Nil(t, p)
	require.Error(t, err)
	assert.ErrorIs(t, err, dbDown, "the store's error is wrapped")
	for _, sentinel := range []error{
		apiauth.ErrInvalidToken, apiauth.ErrMalformedToken, apiauth.ErrUnknownToken,
		apiauth.ErrBadChecksum, apiauth.ErrTokenExpired, apiauth.ErrTokenRevoked, apiauth.ErrKeyNotFound,
	} {
		assert.NotErrorIs(t, err, sentinel)
	}
	assert.NotContains(t, err.Error(), key, "the key is not in the error")

	// A wrapped ErrKeyNotFound is an unknown key, not a failure.
	store.result = func() (*apiauth.KeyRecord, error) { return nil, fmt.Errorf("lookup: %w", apiauth.ErrKeyNotFound) }
	_, err = keys.Verify(ctx, key)
	assert.Equal(t, apiauth.ErrUnknownToken, err)

	// A store that finds nothing but says nothing.
	store.result = func() (*apiauth.KeyRecord, error) { return nil, nil }
	_, err = keys.Verify(ctx, key)
	assert.Equal(t, apiauth.ErrUnknownToken, err)

	// A store that matches loosely and returns another key's record.
	other := &apiauth.KeyRecord{Principal: apiauth.Principal{KeyID: "other", Tenant: "evil"}, Digest: apiauth.DigestKey("something else entirely")}
	store.result = func() (*apiauth.KeyRecord, error) { return other, nil }
	_, err = keys.Verify(ctx, key)
	assert.Equal(t, apiauth.ErrUnknownToken, err)
}

func TestKeysRevoke(t *testing.T) {
	ctx := context.Background()
	keys, clk := akKeys()
	key, rec, err := keys.Create(ctx, apiauth.KeySpec{Tenant: "acme"})
	require.NoError(t, err)
	other, _, err := keys.Create(ctx, apiauth.KeySpec{Tenant: "acme"})
	require.NoError(t, err)

	clk.Advance(time.Minute)
	require.NoError(t, keys.Revoke(ctx, rec.KeyID))
	p, err := keys.Verify(ctx, key)
	assert.Nil(t, p)
	assert.Equal(t, apiauth.ErrTokenRevoked, err)
	assert.NotErrorIs(t, err, apiauth.ErrInvalidToken)

	_, err = keys.Verify(ctx, other)
	assert.NoError(t, err, "revocation touches only its key")

	got, err := keys.Store.GetKey(ctx, rec.KeyID)
	require.NoError(t, err)
	assert.Equal(t, akStart.Add(time.Minute), got.RevokedAt)

	clk.Advance(time.Hour)
	require.NoError(t, keys.Revoke(ctx, rec.KeyID), "revoking twice is fine")
	got, err = keys.Store.GetKey(ctx, rec.KeyID)
	require.NoError(t, err)
	assert.Equal(t, akStart.Add(time.Minute), got.RevokedAt, "the first revocation time stands")

	err = keys.Revoke(ctx, "key_missing")
	assert.ErrorIs(t, err, apiauth.ErrKeyNotFound)
	_, err = keys.Store.GetKey(ctx, "key_missing")
	assert.ErrorIs(t, err, apiauth.ErrKeyNotFound)
}

func TestKeysExpiry(t *testing.T) {
	ctx := context.Background()
	keys, clk := akKeys()
	exp := akStart.Add(time.Hour)
	key, _, err := keys.Create(ctx, apiauth.KeySpec{Tenant: "acme", ExpiresAt: exp})
	require.NoError(t, err)
	forever, _, err := keys.Create(ctx, apiauth.KeySpec{Tenant: "acme"})
	require.NoError(t, err)

	p, err := keys.Verify(ctx, key)
	require.NoError(t, err)
	assert.Equal(t, exp, p.ExpiresAt)

	clk.Set(exp.Add(-time.Nanosecond))
	_, err = keys.Verify(ctx, key)
	assert.NoError(t, err, "one nanosecond before expiry")

	clk.Set(exp)
	p, err = keys.Verify(ctx, key)
	assert.Nil(t, p)
	assert.Equal(t, apiauth.ErrTokenExpired, err, "at exactly ExpiresAt")
	assert.NotErrorIs(t, err, apiauth.ErrInvalidToken)

	clk.Set(time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC))
	_, err = keys.Verify(ctx, key)
	assert.Equal(t, apiauth.ErrTokenExpired, err)
	p, err = keys.Verify(ctx, forever)
	require.NoError(t, err, "a key without expiry never expires")
	assert.True(t, p.ExpiresAt.IsZero())

	// A revoked and expired key reports the revocation.
	clk.Set(akStart)
	key3, rec3, err := keys.Create(ctx, apiauth.KeySpec{Tenant: "acme", ExpiresAt: akStart.Add(time.Minute)})
	require.NoError(t, err)
	require.NoError(t, keys.Revoke(ctx, rec3.KeyID))
	clk.Advance(time.Hour)
	_, err = keys.Verify(ctx, key3)
	assert.Equal(t, apiauth.ErrTokenRevoked, err)
}

func TestKeysRotate(t *testing.T) {
	ctx := context.Background()
	keys, clk := akKeys()
	oldKey, old, err := keys.Create(ctx, apiauth.KeySpec{
		Name: "ci", Subject: "svc", Tenant: "acme", Scopes: []apiauth.Scope{apiauth.Write}, Tier: "free",
	})
	require.NoError(t, err)

	clk.Advance(time.Hour)
	rotatedAt := clk.Now()
	const grace = 24 * time.Hour
	newKey, rec, err := keys.Rotate(ctx, old.KeyID, grace)
	require.NoError(t, err)
	assert.NotEqual(t, oldKey, newKey)
	assert.NotEqual(t, old.KeyID, rec.KeyID)
	assert.Equal(t, "ci", rec.Name)
	assert.Equal(t, rotatedAt, rec.CreatedAt)
	assert.True(t, rec.ExpiresAt.IsZero(), "the old key had no expiry, nor has the new one")

	p, err := keys.Verify(ctx, newKey)
	require.NoError(t, err)
	assert.Equal(t, apiauth.Principal{Subject: "svc", Tenant: "acme", Scopes: []apiauth.Scope{apiauth.Write}, Tier: "free", KeyID: rec.KeyID}, *p)

	stored, err := keys.Store.GetKey(ctx, old.KeyID)
	require.NoError(t, err)
	assert.Equal(t, rec.KeyID, stored.ReplacedBy)
	assert.Equal(t, rotatedAt.Add(grace), stored.ExpiresAt)
	assert.True(t, stored.RevokedAt.IsZero())

	clk.Set(rotatedAt.Add(grace - time.Nanosecond))
	_, err = keys.Verify(ctx, oldKey)
	assert.NoError(t, err, "the old key works during the grace period")
	clk.Set(rotatedAt.Add(grace))
	_, err = keys.Verify(ctx, oldKey)
	assert.Equal(t, apiauth.ErrTokenExpired, err, "and not after")
	_, err = keys.Verify(ctx, newKey)
	assert.NoError(t, err)

	// The expired old key cannot be rotated again.
	_, _, err = keys.Rotate(ctx, old.KeyID, grace)
	assert.ErrorIs(t, err, apiauth.ErrTokenExpired)

	// Zero grace: the old key stops now.
	clk.Set(akStart)
	k0, r0, err := keys.Create(ctx, apiauth.KeySpec{Tenant: "acme"})
	require.NoError(t, err)
	_, _, err = keys.Rotate(ctx, r0.KeyID, 0)
	require.NoError(t, err)
	_, err = keys.Verify(ctx, k0)
	assert.Equal(t, apiauth.ErrTokenExpired, err)
}

func TestKeysRotateKeepsEarlierExpiry(t *testing.T) {
	ctx := context.Background()
	keys, clk := akKeys()
	exp := akStart.Add(30 * time.Minute)
	oldKey, old, err := keys.Create(ctx, apiauth.KeySpec{Tenant: "acme", ExpiresAt: exp})
	require.NoError(t, err)

	newKey, rec, err := keys.Rotate(ctx, old.KeyID, time.Hour)
	require.NoError(t, err)
	assert.Equal(t, exp, rec.ExpiresAt, "the replacement keeps the old expiry")
	stored, err := keys.Store.GetKey(ctx, old.KeyID)
	require.NoError(t, err)
	assert.Equal(t, exp, stored.ExpiresAt, "a grace period does not extend an earlier expiry")

	clk.Set(exp.Add(-time.Nanosecond))
	_, err = keys.Verify(ctx, oldKey)
	assert.NoError(t, err)
	clk.Set(exp)
	_, err = keys.Verify(ctx, oldKey)
	assert.Equal(t, apiauth.ErrTokenExpired, err)
	_, err = keys.Verify(ctx, newKey)
	assert.Equal(t, apiauth.ErrTokenExpired, err)
}

func TestKeysRotateRefusals(t *testing.T) {
	ctx := context.Background()
	keys, clk := akKeys()
	_, _, err := keys.Rotate(ctx, "key_missing", time.Hour)
	assert.ErrorIs(t, err, apiauth.ErrKeyNotFound)

	_, rec, err := keys.Create(ctx, apiauth.KeySpec{Tenant: "acme"})
	require.NoError(t, err)
	_, _, err = keys.Rotate(ctx, rec.KeyID, -time.Nanosecond)
	assert.Error(t, err, "negative grace")

	require.NoError(t, keys.Revoke(ctx, rec.KeyID))
	_, _, err = keys.Rotate(ctx, rec.KeyID, time.Hour)
	assert.ErrorIs(t, err, apiauth.ErrTokenRevoked)

	_, rec2, err := keys.Create(ctx, apiauth.KeySpec{Tenant: "acme", ExpiresAt: akStart.Add(time.Minute)})
	require.NoError(t, err)
	clk.Advance(time.Minute)
	_, _, err = keys.Rotate(ctx, rec2.KeyID, time.Hour)
	assert.ErrorIs(t, err, apiauth.ErrTokenExpired)

	list, err := keys.List(ctx, "acme")
	require.NoError(t, err)
	assert.Len(t, list, 2, "a refused rotation creates no key")
}

func TestKeysImport(t *testing.T) {
	ctx := context.Background()
	keys, _ := akKeys()
	for _, key := range []string{
		"ghp_16C7e42F292c6912E7710c838347Ae178B4a", // another service's format
		strings.Repeat("x", 20),
		"legacy-key.with~all+b64/chars==",
		akWithChecksum("old_live_0123456789abcdefghijklmnopq"), // library format, made elsewhere
	} {
		rec, err := keys.Import(ctx, key, apiauth.KeySpec{Subject: "legacy", Tenant: "acme", Scopes: []apiauth.Scope{apiauth.Read}})
		require.NoError(t, err, key)
		p, err := keys.Verify(ctx, key)
		require.NoError(t, err, key)
		assert.Equal(t, rec.KeyID, p.KeyID)
		assert.Equal(t, "legacy", p.Subject)
		assert.Equal(t, []apiauth.Scope{apiauth.Read}, p.Scopes)
	}

	_, err := keys.Import(ctx, strings.Repeat("x", 19), apiauth.KeySpec{Tenant: "acme"})
	assert.ErrorIs(t, err, apiauth.ErrMalformedToken)
	_, err = keys.Import(ctx, "sk_live_0123456789abcdefghijklmnopq000000", apiauth.KeySpec{Tenant: "acme"})
	assert.ErrorIs(t, err, apiauth.ErrBadChecksum)
	_, err = keys.Import(ctx, strings.Repeat("y", 30), apiauth.KeySpec{Tenant: "acme", Scopes: []apiauth.Scope{""}})
	assert.Error(t, err)
	_, err = keys.Verify(ctx, strings.Repeat("y", 30))
	assert.Equal(t, apiauth.ErrUnknownToken, err, "a refused import stores nothing")
}

func TestKeysDuplicates(t *testing.T) {
	ctx := context.Background()
	keys, _ := akKeys()
	key := strings.Repeat("d", 32)
	_, err := keys.Import(ctx, key, apiauth.KeySpec{ID: "key_a", Tenant: "acme", Subject: "first"})
	require.NoError(t, err)

	_, err = keys.Import(ctx, key, apiauth.KeySpec{ID: "key_b", Tenant: "acme"})
	assert.ErrorIs(t, err, apiauth.ErrKeyExists, "same key, other ID")
	_, err = keys.Import(ctx, strings.Repeat("e", 32), apiauth.KeySpec{ID: "key_a", Tenant: "acme"})
	assert.ErrorIs(t, err, apiauth.ErrKeyExists, "same ID, other key")
	_, _, err = keys.Create(ctx, apiauth.KeySpec{ID: "key_a", Tenant: "acme"})
	assert.ErrorIs(t, err, apiauth.ErrKeyExists)

	p, err := keys.Verify(ctx, key)
	require.NoError(t, err)
	assert.Equal(t, "first", p.Subject, "the first record is untouched")
	_, err = keys.Verify(ctx, strings.Repeat("e", 32))
	assert.Equal(t, apiauth.ErrUnknownToken, err)
	_, err = keys.Store.GetKey(ctx, "key_b")
	assert.ErrorIs(t, err, apiauth.ErrKeyNotFound)
}

func TestKeysList(t *testing.T) {
	ctx := context.Background()
	keys, clk := akKeys()
	var acme []string
	for i := 0; i < 6; i++ {
		tenant := "acme"
		if i%2 == 1 {
			tenant = "globex"
		}
		// Created in reverse ID order, so that sorting by ID would fail.
		_, rec, err := keys.Create(ctx, apiauth.KeySpec{ID: fmt.Sprintf("key_%d", 9-i), Tenant: tenant})
		require.NoError(t, err)
		if tenant == "acme" {
			acme = append(acme, rec.KeyID)
		}
		clk.Advance(time.Second)
	}
	require.NoError(t, keys.Revoke(ctx, acme[1]))

	list, err := keys.List(ctx, "acme")
	require.NoError(t, err)
	var ids []string
	for i, rec := range list {
		ids = append(ids, rec.KeyID)
		assert.Equal(t, "acme", rec.Tenant)
		if i > 0 {
			assert.False(t, rec.CreatedAt.Before(list[i-1].CreatedAt), "oldest first")
		}
	}
	assert.Equal(t, acme, ids, "oldest first, revoked ones included")
	assert.False(t, list[1].RevokedAt.IsZero())

	list, err = keys.List(ctx, "initech")
	require.NoError(t, err)
	assert.Empty(t, list)
	list, err = keys.List(ctx, "")
	require.NoError(t, err)
	assert.Empty(t, list, "the empty tenant is a tenant like any other")

	// Same creation time: a stable order by ID.
	keys2, _ := akKeys()
	for _, id := range []string{"key_c", "key_a", "key_b"} {
		_, _, err := keys2.Create(ctx, apiauth.KeySpec{ID: id, Tenant: "t"})
		require.NoError(t, err)
	}
	list, err = keys2.List(ctx, "t")
	require.NoError(t, err)
	require.Len(t, list, 3)
	assert.Equal(t, []string{"key_a", "key_b", "key_c"}, []string{list[0].KeyID, list[1].KeyID, list[2].KeyID})
}

// TestKeysConcurrent runs verifications alongside revocations and rotations;
// run it with -race. Every answer must be a principal or a rejection, never a
// store failure, and every revocation holds once it has returned.
func TestKeysConcurrent(t *testing.T) {
	ctx := context.Background()
	keys, clk := akKeys()
	const n = 64
	plain := make([]string, n)
	ids := make([]string, n)
	for i := range plain {
		key, rec, err := keys.Create(ctx, apiauth.KeySpec{Tenant: fmt.Sprintf("t%d", i%4), Scopes: []apiauth.Scope{apiauth.Read}})
		require.NoError(t, err)
		plain[i], ids[i] = key, rec.KeyID
	}

	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		revoked   = map[int]bool{}
		rotated   []string
		failures  atomic.Int64
		successes atomic.Int64
	)
	stop := make(chan struct{})
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				p, err := keys.Verify(ctx, plain[(i*7+g)%n])
				switch {
				case err == nil:
					successes.Add(1)
					if p.Tenant == "" || len(p.Scopes) != 1 {
						failures.Add(1)
					}
				case errors.Is(err, apiauth.ErrTokenRevoked), errors.Is(err, apiauth.ErrTokenExpired):
				default:
					failures.Add(1)
				}
			}
		}(g)
	}
	var writers sync.WaitGroup
	for g := 0; g < 2; g++ {
		writers.Add(1)
		go func(g int) {
			defer writers.Done()
			for i := g; i < n; i += 4 {
				if err := keys.Revoke(ctx, ids[i]); err != nil {
					failures.Add(1)
				}
				mu.Lock()
				revoked[i] = true
				mu.Unlock()
				_, err := keys.Verify(ctx, plain[i])
				if !errors.Is(err, apiauth.ErrTokenRevoked) {
					failures.Add(1)
				}
			}
		}(g)
	}
	for g := 2; g < 4; g++ {
		writers.Add(1)
		go func(g int) {
			defer writers.Done()
			for i := g; i < n; i += 4 {
				key, _, err := keys.Rotate(ctx, ids[i], time.Minute)
				if err != nil {
					failures.Add(1)
					continue
				}
				mu.Lock()
				rotated = append(rotated, key)
				mu.Unlock()
				clk.Advance(time.Millisecond)
			}
		}(g)
	}
	writers.Wait()
	close(stop)
	wg.Wait()

	assert.Zero(t, failures.Load())
	assert.Positive(t, successes.Load())
	for i := range revoked {
		_, err := keys.Verify(ctx, plain[i])
		assert.Equal(t, apiauth.ErrTokenRevoked, err)
	}
	assert.Len(t, rotated, n/2)
	for _, key := range rotated {
		_, err := keys.Verify(ctx, key)
		assert.NoError(t, err)
	}
	clk.Advance(time.Hour)
	for i := 0; i < n; i++ {
		if i%4 < 2 {
			continue
		}
		_, err := keys.Verify(ctx, plain[i])
		assert.Equal(t, apiauth.ErrTokenExpired, err, "rotated key %d after its grace period", i)
	}
	total := 0
	for i := 0; i < 4; i++ {
		list, err := keys.List(ctx, fmt.Sprintf("t%d", i))
		require.NoError(t, err)
		total += len(list)
	}
	assert.Equal(t, n+n/2, total)
}
