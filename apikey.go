package apiauth

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"
	"time"
)

// API keys in the library's format are
//
//	<prefix>_<27 base62 characters of randomness><6 base62 characters of CRC32>
//
// 27 base62 characters carry 160.7 bits from crypto/rand. The checksum is
// the CRC-32 (IEEE) of everything before it, so a parser rejects a typo
// without a store lookup and a secret scanner can recognize a leaked key.
const (
	keyRandomLen   = 27
	keyChecksumLen = 6
	keyBodyLen     = keyRandomLen + keyChecksumLen

	// MinImportedKeyLength is the shortest key in another format that the
	// library accepts: any b64token of at least this many characters.
	MinImportedKeyLength = 20

	// DefaultKeyPrefix is the prefix of generated keys when none is given.
	// Set Keys.Prefix to a prefix of your own (such as "acme_live") so that
	// secret scanners attribute a leaked key to your service.
	DefaultKeyPrefix = "sk_live"
)

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// GenerateKey returns a new random API key with the given prefix, such as
// "sk_live" or "sk_test" (DefaultKeyPrefix when empty). The prefix must be
// 1 to 32 characters from [A-Za-z0-9_].
func GenerateKey(prefix string) (string, error) {
	if prefix == "" {
		prefix = DefaultKeyPrefix
	}
	if !validPrefix(prefix) {
		return "", fmt.Errorf("apiauth: invalid key prefix %q: want 1-32 characters of [A-Za-z0-9_]", prefix)
	}
	b := make([]byte, 0, len(prefix)+1+keyBodyLen)
	b = append(b, prefix...)
	b = append(b, '_')
	b = appendBase62(b, keyRandomLen)
	b = appendChecksum(b, crc32.ChecksumIEEE(b))
	return string(b), nil
}

// appendBase62 appends n uniformly random base62 digits from crypto/rand.
// Rejection sampling keeps them uniform: bytes >= 248 (4*62) are discarded.
func appendBase62(b []byte, n int) []byte {
	var buf [64]byte
	for n > 0 {
		_, _ = rand.Read(buf[:]) // crypto/rand.Read never fails (Go 1.24).
		for _, x := range buf {
			if x >= 248 {
				continue
			}
			b = append(b, base62[x%62])
			if n--; n == 0 {
				break
			}
		}
	}
	return b
}

func validPrefix(p string) bool {
	if len(p) == 0 || len(p) > 32 {
		return false
	}
	for i := 0; i < len(p); i++ {
		if charClass[p[i]]&classPrefix == 0 {
			return false
		}
	}
	return true
}

// appendChecksum appends c as 6 base62 digits, most significant first.
func appendChecksum(b []byte, c uint32) []byte {
	var d [keyChecksumLen]byte
	for i := keyChecksumLen - 1; i >= 0; i-- {
		d[i] = base62[c%62]
		c /= 62
	}
	return append(b, d[:]...)
}

// checksumIs reports whether digits, keyChecksumLen characters, are c as
// appendChecksum writes it: decoding six digits is cheaper than encoding c.
func checksumIs(digits string, c uint32) bool {
	var v uint64
	for i := 0; i < keyChecksumLen; i++ {
		d := base62Index[digits[i]]
		if d == 0xff {
			return false
		}
		v = v*62 + uint64(d)
	}
	return v == uint64(c)
}

// base62Index maps base62 digits to their values; 0xff marks the others.
var base62Index = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for i := 0; i < len(base62); i++ {
		t[base62[i]] = byte(i)
	}
	return t
}()

// isLibraryFormat reports whether key has the shape of a generated key: a
// prefix, an underscore, then exactly 33 base62 characters.
func isLibraryFormat(key string) bool {
	i := strings.LastIndexByte(key, '_')
	if i < 1 || len(key)-i-1 != keyBodyLen || !validPrefix(key[:i]) {
		return false
	}
	for j := i + 1; j < len(key); j++ {
		if charClass[key[j]]&classBase62 == 0 {
			return false
		}
	}
	return true
}

// CheckKey reports whether key is acceptable as an API key before any store
// lookup. A key in the library's format (prefix, underscore, 33 base62
// characters) must carry a matching checksum, or CheckKey returns
// ErrBadChecksum; a key from another system that happens to have exactly
// that shape cannot be imported. Any other key must be a b64token (RFC 6750 §2.1) of at
// least MinImportedKeyLength characters, or CheckKey returns
// ErrMalformedToken.
func CheckKey(key string) error {
	// The common case first: a key in our format with a good checksum
	// costs one CRC and no character-class scan.
	// The underscore is checked where it must be, not searched for; a key
	// whose body holds one too gets the answer it would get below.
	if i := len(key) - keyBodyLen - 1; i >= 1 && key[i] == '_' && validPrefix(key[:i]) {
		n := len(key) - keyChecksumLen
		if checksumIs(key[n:], crc32String(key[:n])) {
			// A matching checksum over a body that is not base62 is no
			// key of ours; it is acceptable only as an imported key.
			if isB64Token(key) {
				return nil
			}
			return ErrMalformedToken
		}
		if isLibraryFormat(key) {
			return ErrBadChecksum
		}
	}
	if len(key) < MinImportedKeyLength || !isB64Token(key) {
		return ErrMalformedToken
	}
	return nil
}

// crc8Tables are the slicing-by-8 tables of the IEEE polynomial.
var crc8Tables = func() (t [8][256]uint32) {
	t[0] = *crc32.IEEETable
	for i := 0; i < 256; i++ {
		crc := t[0][i]
		for j := 1; j < 8; j++ {
			crc = t[0][crc&0xff] ^ crc>>8
			t[j][i] = crc
		}
	}
	return t
}()

// crc32String is crc32.ChecksumIEEE of s, computed eight bytes at a time,
// without converting s to a []byte, which would allocate on the request
// path.
func crc32String(s string) uint32 {
	t := &crc8Tables
	crc := ^uint32(0)
	for len(s) >= 8 {
		crc ^= uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24
		crc = t[0][s[7]] ^ t[1][s[6]] ^ t[2][s[5]] ^ t[3][s[4]] ^
			t[4][crc>>24] ^ t[5][crc>>16&0xff] ^ t[6][crc>>8&0xff] ^ t[7][crc&0xff]
		s = s[8:]
	}
	for i := 0; i < len(s); i++ {
		crc = t[0][byte(crc)^s[i]] ^ crc>>8
	}
	return ^crc
}

// KeyDigest is the SHA-256 digest of an API key: the only form in which a
// KeyStore holds it.
type KeyDigest [sha256.Size]byte

// DigestKey returns the SHA-256 digest of key.
func DigestKey(key string) KeyDigest {
	// A key that fits is copied to the stack: converting a string longer
	// than 32 bytes to a []byte would allocate on every request.
	var buf [128]byte
	if len(key) <= len(buf) {
		return sha256.Sum256(buf[:copy(buf[:], key)])
	}
	return sha256.Sum256([]byte(key))
}

// KeyRecord is an API key as a KeyStore holds it: the Principal the key
// authenticates (its KeyID is the record's ID) and the key's bookkeeping.
// Records returned by a KeyStore are shared and must not be modified; a
// store changes a key by replacing its record.
type KeyRecord struct {
	Principal
	// Name is a label for people, such as "billing integration".
	Name string `json:"name"`
	// Digest is the SHA-256 digest of the key; the key itself is never
	// stored.
	Digest KeyDigest `json:"-"`
	// CreatedAt is when the key was made.
	CreatedAt time.Time `json:"created_at"`
	// RevokedAt is when the key was revoked; zero while it is not.
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	// ReplacedBy is the ID of the key that replaced this one in a rotation.
	ReplacedBy string `json:"replaced_by,omitempty"`
	// LastUsedAt is when the key was last seen on a request, to a minute's
	// precision, for stores that track it (MemoryKeyStore does not); zero
	// when unknown.
	LastUsedAt time.Time `json:"last_used_at,omitzero"`
}

// ID returns the key's ID (the principal's KeyID).
func (k *KeyRecord) ID() string { return k.KeyID }

// Fingerprint returns a short, non-secret identifier of the key for logs
// and listings: the first 8 hex digits of its digest, the same value
// Fingerprint(key) gives.
func (k *KeyRecord) Fingerprint() string {
	var b [8]byte
	hex.Encode(b[:], k.Digest[:4])
	return string(b[:])
}

// status reports why the key cannot be used at now, or nil.
func (k *KeyRecord) status(now time.Time) error {
	if !k.RevokedAt.IsZero() && !now.Before(k.RevokedAt) {
		return ErrTokenRevoked
	}
	if !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt) {
		return ErrTokenExpired
	}
	return nil
}

// KeyStore holds API key records: the in-memory MemoryKeyStore, sqlstore's
// database store, or a store of your own. Every method is safe for
// concurrent use and honours ctx. A method returns ErrKeyNotFound (possibly
// wrapped) when the key does not exist; any other error is a failure of
// the store, which Authenticate answers with 503, never 401. A store may
// truncate times to the microsecond, never later, and may refuse scopes
// that are not valid scope-tokens. apiauthtest.TestKeyStore checks an
// implementation against this contract.
type KeyStore interface {
	// LookupKey returns the record whose Digest is d. It is on the request
	// path of every API-key request.
	LookupKey(ctx context.Context, d KeyDigest) (*KeyRecord, error)
	// GetKey returns the record with the given ID.
	GetKey(ctx context.Context, id string) (*KeyRecord, error)
	// ListKeys returns the records of a tenant, revoked ones included,
	// oldest first.
	ListKeys(ctx context.Context, tenant string) ([]*KeyRecord, error)
	// CreateKey stores a new record; ErrKeyExists if its ID or Digest is
	// taken.
	CreateKey(ctx context.Context, rec *KeyRecord) error
	// RevokeKey marks the key revoked at the given time. A key already
	// revoked keeps its earlier revocation time: a revocation is never
	// undone or postponed.
	RevokeKey(ctx context.Context, id string, at time.Time) error
	// ExpireKey brings the key's expiry forward to at (a key that expires
	// sooner keeps its expiry) and records the ID of the key that replaces
	// it. It changes nothing else, so that it cannot undo a concurrent
	// revocation. A key with a revocation time, past or scheduled, gets no
	// replacement: ExpireKey then changes nothing and returns an error
	// matching ErrTokenRevoked. The check and the change are one atomic
	// step (in SQL, one UPDATE … WHERE revoked_at IS NULL), which is what
	// keeps Keys.Rotate from replacing a key revoked while it ran.
	ExpireKey(ctx context.Context, id string, at time.Time, replacedBy string) error
}

// Keys verifies API keys against a KeyStore and manages them: create,
// import, rotate, revoke. It implements Verifier. Its fields may be set
// before first use.
type Keys struct {
	// Store holds the records.
	Store KeyStore
	// Prefix of generated keys; DefaultKeyPrefix when empty.
	Prefix string
	// Now returns the current time; time.Now when nil. Tests inject a clock.
	Now func() time.Time
	// Tenant is the tenant of keys created or imported without one: the
	// one tenant of an API without tenants, named once. Without it, a key
	// needs KeySpec.Tenant: every principal has a tenant.
	Tenant string
}

// NewKeys returns Keys on store.
func NewKeys(store KeyStore) *Keys { return &Keys{Store: store} }

// NewMemoryKeys returns Keys on a new MemoryKeyStore: everything a single
// server needs.
func NewMemoryKeys() *Keys { return NewKeys(NewMemoryKeyStore()) }

func (k *Keys) now() time.Time {
	if k.Now != nil {
		return k.Now()
	}
	return time.Now()
}

// ChecksTokenSyntax implements SyntaxChecker: Verify refuses every token
// that is not a b64token, since CheckKey does, before any lookup.
func (k *Keys) ChecksTokenSyntax() bool { return true }

// Verify implements Verifier for API keys. A key that fails CheckKey is
// rejected before the store is asked. It returns ErrUnknownToken for a key
// the store does not hold, ErrTokenRevoked and ErrTokenExpired for keys
// past their revocation or expiry, and the store's error, wrapped, when the
// store fails. The principal returned is the record's and is shared.
func (k *Keys) Verify(ctx context.Context, token string) (*Principal, error) {
	if err := CheckKey(token); err != nil {
		return nil, err
	}
	d := DigestKey(token)
	rec, err := k.Store.LookupKey(ctx, d)
	if err != nil {
		if errors.Is(err, ErrKeyNotFound) {
			return nil, ErrUnknownToken
		}
		return nil, fmt.Errorf("apiauth: key store: %w", err)
	}
	if rec == nil {
		return nil, ErrUnknownToken
	}
	// The store found the record by digest; compare again in constant
	// time so that a store that matches loosely cannot let a key through.
	if subtle.ConstantTimeCompare(rec.Digest[:], d[:]) != 1 {
		return nil, ErrUnknownToken
	}
	// Most keys never expire and are not revoked: then the clock is not
	// read at all.
	if !rec.RevokedAt.IsZero() || !rec.ExpiresAt.IsZero() {
		if err := rec.status(k.now()); err != nil {
			return nil, err
		}
	}
	return &rec.Principal, nil
}

// KeySpec describes a key to create or import.
type KeySpec struct {
	// ID of the key; a random "key_…" ID when empty.
	ID        string
	Name      string
	Subject   string
	Tenant    string
	Scopes    []Scope
	Tier      string
	ExpiresAt time.Time
}

// Create makes a new key in the library's format and stores its digest. It
// returns the plaintext key, which is never available again, and the
// record.
func (k *Keys) Create(ctx context.Context, spec KeySpec) (string, *KeyRecord, error) {
	key, err := GenerateKey(k.Prefix)
	if err != nil {
		return "", nil, err
	}
	rec, err := k.Import(ctx, key, spec)
	if err != nil {
		return "", nil, err
	}
	return key, rec, nil
}

// Import stores the digest of a key made elsewhere: any key that passes
// CheckKey, in the library's format or not.
func (k *Keys) Import(ctx context.Context, key string, spec KeySpec) (*KeyRecord, error) {
	if err := CheckKey(key); err != nil {
		return nil, fmt.Errorf("apiauth: import key: %w", err)
	}
	for _, s := range spec.Scopes {
		if !s.Valid() {
			return nil, fmt.Errorf("apiauth: import key: invalid scope %q", s)
		}
	}
	tenant := cmp.Or(spec.Tenant, k.Tenant)
	if tenant == "" {
		return nil, errors.New("apiauth: import key: no tenant (set KeySpec.Tenant, or Keys.Tenant for an API with one tenant)")
	}
	id := spec.ID
	if id == "" {
		id = newKeyID()
	}
	rec := &KeyRecord{
		Principal: Principal{
			Subject:   spec.Subject,
			Tenant:    tenant,
			Scopes:    append([]Scope(nil), spec.Scopes...),
			Tier:      spec.Tier,
			KeyID:     id,
			ExpiresAt: spec.ExpiresAt,
		},
		Name:      spec.Name,
		Digest:    DigestKey(key),
		CreatedAt: k.now(),
	}
	if err := k.Store.CreateKey(ctx, rec); err != nil {
		return nil, err
	}
	return rec, nil
}

// Revoke revokes the key with the given ID from now on: the next request
// with it is refused with token_revoked. Revoking a revoked key changes
// nothing.
func (k *Keys) Revoke(ctx context.Context, id string) error {
	return k.Store.RevokeKey(ctx, id, k.now())
}

// Rotate creates a replacement for the key with the given ID, with the same
// subject, tenant, scopes, tier, name and expiry, and lets the old key work
// for grace more (not past its own expiry). It returns the new plaintext
// key and its record.
//
// A revoked or expired key cannot be rotated, nor one with a revocation
// scheduled. Rotate takes effect when the store's ExpireKey does, which
// refuses a revoked key: a Revoke of the same key that returned before
// then makes Rotate fail with ErrTokenRevoked, and the replacement it had
// created is revoked (its plaintext was never returned). A Revoke after
// then only ends the old key's grace period early; the new key stays.
func (k *Keys) Rotate(ctx context.Context, id string, grace time.Duration) (string, *KeyRecord, error) {
	if grace < 0 {
		return "", nil, fmt.Errorf("apiauth: rotate key %s: negative grace period %v", id, grace)
	}
	old, err := k.Store.GetKey(ctx, id)
	if err != nil {
		return "", nil, err
	}
	now := k.now()
	if !old.RevokedAt.IsZero() {
		return "", nil, fmt.Errorf("apiauth: rotate key %s: %w", id, ErrTokenRevoked)
	}
	if err := old.status(now); err != nil {
		return "", nil, fmt.Errorf("apiauth: rotate key %s: %w", id, err)
	}
	key, rec, err := k.Create(ctx, KeySpec{
		Name:      old.Name,
		Subject:   old.Subject,
		Tenant:    old.Tenant,
		Scopes:    old.Scopes,
		Tier:      old.Tier,
		ExpiresAt: old.ExpiresAt,
	})
	if err != nil {
		return "", nil, err
	}
	if err := k.Store.ExpireKey(ctx, id, now.Add(grace), rec.KeyID); err != nil {
		// The old key was revoked meanwhile, or the store failed: the
		// replacement must not outlive the rotation that failed.
		if rerr := k.Store.RevokeKey(context.WithoutCancel(ctx), rec.KeyID, now); rerr != nil {
			err = errors.Join(err, fmt.Errorf("apiauth: revoke the unused replacement %s: %w", rec.KeyID, rerr))
		}
		return "", nil, fmt.Errorf("apiauth: rotate key %s: %w", id, err)
	}
	return key, rec, nil
}

// List returns the records of a tenant's keys. Records hold digests, never
// keys.
func (k *Keys) List(ctx context.Context, tenant string) ([]*KeyRecord, error) {
	return k.Store.ListKeys(ctx, tenant)
}

// newKeyID returns a random key ID, "key_" and 16 base62 characters.
func newKeyID() string {
	return string(appendBase62(append(make([]byte, 0, 20), "key_"...), 16))
}
