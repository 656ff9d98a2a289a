package apiauth

import (
	"cmp"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// JWTKey is a key that verifies JWTs, bound to exactly one algorithm (RFC
// 8725 §3.1): a token whose "alg" is not the key's algorithm is refused,
// so a public RSA key can never be used as an HMAC secret.
type JWTKey struct {
	// ID is the "kid" that selects the key (RFC 7515 §4.1.4). It may be
	// empty for the only key of a set.
	ID string
	// Algorithm is a JWS "alg" (RFC 7518 §3.1): RS256, RS384, RS512,
	// PS256, PS384, PS512, ES256, ES384, ES512, EdDSA, HS256, HS384 or
	// HS512.
	// "none" is never accepted.
	Algorithm string
	// Key is an *rsa.PublicKey (at least 2048 bits), an *ecdsa.PublicKey
	// on the algorithm's curve (P-256 for ES256, P-384 for ES384, P-521
	// for ES512), an
	// ed25519.PublicKey, or for HMAC a []byte secret at least as long as
	// the hash (32 bytes for HS256). The matching private keys are
	// accepted too; only their public halves are kept.
	Key any

	method jwt.SigningMethod
	// macs pools HMAC states keyed with the secret: golang-jwt's Verify
	// builds one per call (six allocations and two extra SHA blocks).
	macs *sync.Pool
}

// prepare validates k and fills in its signing method, returning a copy.
func (k JWTKey) prepare() (JWTKey, error) {
	m := jwt.GetSigningMethod(k.Algorithm)
	if m == nil || k.Algorithm == "none" {
		return k, fmt.Errorf("apiauth: JWT key %q: unsupported algorithm %q", k.ID, k.Algorithm)
	}
	k.method = m
	switch key := k.Key.(type) {
	case *rsa.PrivateKey:
		k.Key = &key.PublicKey
	case *ecdsa.PrivateKey:
		k.Key = &key.PublicKey
	case ed25519.PrivateKey:
		k.Key = key.Public().(ed25519.PublicKey)
	case string:
		k.Key = []byte(key)
	}
	bad := func(why string) (JWTKey, error) {
		return k, fmt.Errorf("apiauth: JWT key %q (%s): %s", k.ID, k.Algorithm, why)
	}
	switch mm := m.(type) {
	case *jwt.SigningMethodRSA, *jwt.SigningMethodRSAPSS:
		pub, ok := k.Key.(*rsa.PublicKey)
		if !ok {
			return bad("want an RSA key")
		}
		if pub.N.BitLen() < 2048 {
			return bad("RSA keys must have at least 2048 bits")
		}
	case *jwt.SigningMethodECDSA:
		pub, ok := k.Key.(*ecdsa.PublicKey)
		if !ok {
			return bad("want an ECDSA key")
		}
		want := map[string]elliptic.Curve{"ES256": elliptic.P256(), "ES384": elliptic.P384(), "ES512": elliptic.P521()}[k.Algorithm]
		if pub.Curve != want {
			return bad("the key's curve does not match the algorithm")
		}
	case *jwt.SigningMethodEd25519:
		pub, ok := k.Key.(ed25519.PublicKey)
		if !ok || len(pub) != ed25519.PublicKeySize {
			return bad("want an Ed25519 key")
		}
	case *jwt.SigningMethodHMAC:
		secret, ok := k.Key.([]byte)
		if !ok {
			return bad("want a []byte secret")
		}
		if len(secret) < mm.Hash.Size() {
			return bad(fmt.Sprintf("HMAC secrets must be at least %d bytes", mm.Hash.Size()))
		}
		secret = append([]byte(nil), secret...)
		k.Key = secret
		newHash := mm.Hash.New
		k.macs = &sync.Pool{New: func() any { return &macState{mac: hmac.New(newHash, secret)} }}
	default:
		return bad("unsupported algorithm")
	}
	return k, nil
}

// verify checks sig over signed with k: golang-jwt's SigningMethod.Verify,
// except for HMAC, which uses a pooled MAC state and crypto/hmac.Equal
// (constant time).
func (k *JWTKey) verify(signed string, sig []byte) error {
	if k.macs == nil {
		return k.method.Verify(signed, sig, k.Key)
	}
	m := k.macs.Get().(*macState)
	m.mac.Reset()
	// hash.Hash has no WriteString: the copy into m.in, unlike a
	// conversion, allocates only when m.in must grow.
	m.in = append(m.in[:0], signed...)
	_, _ = m.mac.Write(m.in)
	ok := hmac.Equal(sig, m.mac.Sum(m.sum[:0]))
	if cap(m.in) <= 2*DefaultMaxTokenLength {
		k.macs.Put(m)
	}
	if !ok {
		return jwt.ErrSignatureInvalid
	}
	return nil
}

// macState is a pooled HMAC keyed with a JWTKey's secret, with buffers for
// its input and its sum, so that a check allocates nothing.
type macState struct {
	mac hash.Hash
	in  []byte
	sum [64]byte
}

// symmetric reports whether checking k's signature is cheap enough to do
// before decoding the claims.
func (k *JWTKey) symmetric() bool {
	_, ok := k.method.(*jwt.SigningMethodHMAC)
	return ok
}

// KeySet finds the key that verifies a token of one issuer.
type KeySet interface {
	// JWTKey returns the key with the given kid; kid is "" when the token
	// names none. It returns an error wrapping ErrUnknownKey when there is
	// no such key; any other error is a failure to obtain keys (an
	// identity provider that cannot be reached), which Authenticate answers
	// with 503.
	JWTKey(ctx context.Context, kid string) (*JWTKey, error)
}

// StaticKeys is a fixed KeySet. With more than one key, a token must name
// its key with "kid".
type StaticKeys struct {
	keys []JWTKey
}

// NewStaticKeys validates keys and returns them as a KeySet. Key IDs must
// be unique.
func NewStaticKeys(keys ...JWTKey) (*StaticKeys, error) {
	s := &StaticKeys{}
	for _, k := range keys {
		p, err := k.prepare()
		if err != nil {
			return nil, err
		}
		for _, o := range s.keys {
			if o.ID == p.ID {
				return nil, fmt.Errorf("apiauth: JWT key ID %q appears twice", p.ID)
			}
		}
		s.keys = append(s.keys, p)
	}
	if len(s.keys) == 0 {
		return nil, errors.New("apiauth: no JWT keys")
	}
	return s, nil
}

// JWTKey implements KeySet.
func (s *StaticKeys) JWTKey(_ context.Context, kid string) (*JWTKey, error) {
	if kid == "" {
		if len(s.keys) == 1 {
			return &s.keys[0], nil
		}
		return nil, errMissingKID
	}
	for i := range s.keys {
		if s.keys[i].ID == kid {
			return &s.keys[i], nil
		}
	}
	return nil, ErrUnknownKey
}

// JWTIssuer is an issuer whose tokens a JWTVerifier accepts.
type JWTIssuer struct {
	// Issuer is the exact "iss" (RFC 7519 §4.1.1) of its tokens.
	Issuer string
	// Audience must appear in "aud" (RFC 7519 §4.1.3), a string or an
	// array of strings.
	Audience string
	// Keys verifies its tokens; a key is chosen by (iss, kid), never from
	// another issuer's set.
	Keys KeySet
	// TenantClaim and TierClaim name the claims that carry the principal's
	// tenant and tier ("tenant" and "tier" when empty). Every principal has
	// a tenant: a token whose tenant claim is missing, empty or not a
	// string is invalid_token, unless Tenant is set.
	TenantClaim, TierClaim string
	// Tenant names the one tenant of every principal of an issuer that
	// serves a single tenant, such as the identity provider of an API
	// without tenants. Its tokens may omit the tenant claim; one that
	// names another tenant is invalid_token.
	Tenant string
	// AllowJWTType accepts "typ": "JWT" or no typ, for identity providers
	// that do not issue RFC 9068 "at+jwt" access tokens.
	AllowJWTType bool
	// Profile requires every claim RFC 9068 §2.2 makes mandatory in a JWT
	// access token: iss, exp, aud, sub, client_id, iat and jti (without
	// it, client_id may stand in for sub, and iat and jti are optional).
	// oauth.Issuer's JWTIssuer sets it: its tokens carry them all.
	Profile bool
	// KeyIDs trusts the issuer's "key_id" claim: its tokens stand for the
	// API key they were exchanged from (Principal.KeyID, that key's
	// rate-limit bucket), and are refused as soon as that key is revoked
	// or expires, which NewJWTVerifier makes sure JWTOptions.Keys can
	// check. Without it the claim is ignored, so that an outside identity
	// provider cannot name one of your keys. oauth.Issuer's JWTIssuer sets
	// it when the issuer exchanges API keys.
	KeyIDs bool
	// Grants, when set, checks the grant named by a token's "grant_id"
	// claim (Principal.GrantID), on every request, cached token or not: a
	// token issued under an authorization grant that has since been
	// revoked, such as a refresh-token family ended by reuse (RFC 9700
	// §4.14.2), is refused with the error it returns, which should match
	// ErrTokenRevoked or ErrTokenExpired; any other error is a 503.
	// Without it the claim is ignored. oauth.Issuer's JWTIssuer sets it
	// when the issuer runs the authorization-code flow.
	Grants func(ctx context.Context, grantID string) error
}

// JWTOptions tunes a JWTVerifier. The zero value is the recommended
// setting.
type JWTOptions struct {
	// Leeway allows for clock skew in exp, nbf and iat (default 30 s; at
	// most 5 minutes).
	Leeway time.Duration
	// MaxLifetime refuses tokens whose exp is further than this after
	// their iat, or from now without iat (default 24 h).
	MaxLifetime time.Duration
	// MaxLength refuses longer tokens before any work
	// (DefaultMaxTokenLength by default).
	MaxLength int
	// CacheSize bounds the verified-token cache (default 10,000 tokens;
	// negative disables it). Entries expire with their token.
	CacheSize int
	// CacheTTL bounds how long a verified token is served from the cache
	// (default 1 minute). A token whose key has since been removed from a
	// KeySet (a JWKS rotation) is still served from the cache until then;
	// a token whose API key is revoked is refused at once (see Keys).
	CacheTTL time.Duration
	// Keys checks the API key behind every token of an issuer with
	// KeyIDs, so that revoking a key revokes its tokens at once. It is
	// required when an issuer has KeyIDs.
	Keys *Keys
	// Now returns the current time (time.Now when nil).
	Now func() time.Time
}

// JWTVerifier verifies JWT access tokens (RFC 9068) for Authenticate,
// hardened beyond golang-jwt's defaults. It refuses:
//
//   - anything but three base64url segments (RFC 7515 §7.1), tokens over
//     the size cap, invalid UTF-8, invalid JSON;
//   - "alg" "none" or any algorithm other than the selected key's; a
//     missing "kid" when the issuer has several keys; "crit" (RFC 7515
//     §4.1.11: no extension is understood); the token's own "jku", "x5u",
//     "jwk" and "x5c" are never used;
//   - a "typ" other than "at+jwt" or "application/at+jwt" (RFC 9068 §4,
//     case-insensitive) unless the issuer allows "JWT";
//   - duplicate member names, and names that differ only in case from the
//     registered claims (which encoding/json would silently match);
//   - missing "exp" or "sub" (client_id stands in for sub); "exp", "nbf" or "iat" that are not numbers; expired,
//     not yet valid or issued-in-the-future tokens (with Leeway); a
//     lifetime over MaxLifetime; an "iss" it does not know exactly; an
//     "aud" without the issuer's audience.
//
// Errors wrap both the library's sentinels and golang-jwt's, so
// errors.Is(err, ErrTokenExpired) and errors.Is(err, jwt.ErrTokenExpired)
// both hold for an expired token.
type JWTVerifier struct {
	issuers     map[string]*JWTIssuer
	only        *JWTIssuer // the issuer, if there is only one
	leeway      time.Duration
	maxLifetime time.Duration
	maxLen      int
	keys        *Keys
	now         func() time.Time
	cache       *tokenCache
	cacheTTL    time.Duration
}

// NewJWTVerifier returns a verifier of the given issuers' tokens.
func NewJWTVerifier(opts JWTOptions, issuers ...JWTIssuer) (*JWTVerifier, error) {
	v := &JWTVerifier{
		issuers:     make(map[string]*JWTIssuer, len(issuers)),
		leeway:      opts.Leeway,
		maxLifetime: opts.MaxLifetime,
		maxLen:      opts.MaxLength,
		keys:        opts.Keys,
		now:         opts.Now,
		cacheTTL:    opts.CacheTTL,
	}
	if v.leeway == 0 {
		v.leeway = 30 * time.Second
	}
	if v.leeway < 0 || v.leeway > 5*time.Minute {
		return nil, fmt.Errorf("apiauth: JWT leeway %v: want 0 to 5 minutes", v.leeway)
	}
	if v.maxLifetime <= 0 {
		v.maxLifetime = 24 * time.Hour
	}
	if v.maxLen <= 0 {
		v.maxLen = DefaultMaxTokenLength
	}
	if v.now == nil {
		v.now = time.Now
	}
	if v.cacheTTL <= 0 {
		v.cacheTTL = time.Minute
	}
	switch {
	case opts.CacheSize == 0:
		v.cache = newTokenCache(10000)
	case opts.CacheSize > 0:
		v.cache = newTokenCache(opts.CacheSize)
	}
	if len(issuers) == 0 {
		return nil, errors.New("apiauth: JWTVerifier needs at least one issuer")
	}
	for _, is := range issuers {
		is := is
		if is.Issuer == "" || is.Audience == "" || is.Keys == nil {
			return nil, fmt.Errorf("apiauth: JWT issuer %q: Issuer, Audience and Keys are required", is.Issuer)
		}
		if _, dup := v.issuers[is.Issuer]; dup {
			return nil, fmt.Errorf("apiauth: JWT issuer %q appears twice", is.Issuer)
		}
		if is.TenantClaim == "" {
			is.TenantClaim = "tenant"
		}
		if is.TierClaim == "" {
			is.TierClaim = "tier"
		}
		if is.KeyIDs && v.keys == nil {
			// Its tokens would outlive the revocation of their API key.
			return nil, fmt.Errorf("apiauth: JWT issuer %q has KeyIDs: JWTOptions.Keys is required to check the API key behind each token", is.Issuer)
		}
		v.issuers[is.Issuer] = &is
	}
	if len(issuers) == 1 {
		v.only = v.issuers[issuers[0].Issuer]
	}
	return v, nil
}

// Errors of JWT verification: each matches a library sentinel and, where
// golang-jwt has one, golang-jwt's. They are values, so that refusing a
// token allocates nothing.
var (
	errJWTMalformed   = joinErrors("apiauth: malformed JWT", ErrMalformedToken, jwt.ErrTokenMalformed)
	errJWTTooLong     = joinErrors("apiauth: JWT too long", ErrMalformedToken, jwt.ErrTokenMalformed)
	errJWTAlg         = joinErrors("apiauth: JWT algorithm not allowed", ErrInvalidToken, jwt.ErrTokenSignatureInvalid)
	errJWTType        = joinErrors("apiauth: JWT typ is not at+jwt", ErrInvalidToken, jwt.ErrTokenMalformed)
	errJWTCrit        = joinErrors("apiauth: JWT crit extension not understood", ErrInvalidToken, jwt.ErrTokenUnverifiable)
	errJWTSignature   = joinErrors("apiauth: JWT signature invalid", ErrInvalidToken, jwt.ErrTokenSignatureInvalid)
	errJWTExpired     = joinErrors("apiauth: JWT expired", ErrTokenExpired, jwt.ErrTokenExpired)
	errJWTNotYet      = joinErrors("apiauth: JWT not valid yet", ErrInvalidToken, jwt.ErrTokenNotValidYet)
	errJWTFutureIAT   = joinErrors("apiauth: JWT issued in the future", ErrInvalidToken, jwt.ErrTokenUsedBeforeIssued)
	errJWTNoExp       = joinErrors("apiauth: JWT has no exp", ErrInvalidToken, jwt.ErrTokenRequiredClaimMissing)
	errJWTLifetime    = joinErrors("apiauth: JWT lifetime too long", ErrInvalidToken, jwt.ErrTokenInvalidClaims)
	errJWTIssuer      = joinErrors("apiauth: JWT issuer unknown", ErrInvalidToken, jwt.ErrTokenInvalidIssuer)
	errJWTAudience    = joinErrors("apiauth: JWT audience mismatch", ErrInvalidToken, jwt.ErrTokenInvalidAudience)
	errJWTClaims      = joinErrors("apiauth: JWT claims invalid", ErrInvalidToken, jwt.ErrTokenInvalidClaims)
	errJWTSubject     = joinErrors("apiauth: JWT has no sub", ErrInvalidToken, jwt.ErrTokenRequiredClaimMissing)
	errJWTProfile     = joinErrors("apiauth: JWT lacks a claim RFC 9068 §2.2 requires (sub, client_id, iat, jti)", ErrInvalidToken, jwt.ErrTokenRequiredClaimMissing)
	errJWTTenant      = joinErrors("apiauth: JWT names no tenant, or another than its issuer's", ErrInvalidToken, jwt.ErrTokenInvalidClaims)
	errMissingKID     = joinErrors("apiauth: JWT names no kid and the issuer has several keys", ErrUnknownKey, jwt.ErrTokenUnverifiable)
	errJWTKeyRevoked  = joinErrors("apiauth: the API key this JWT was exchanged from is revoked", ErrTokenRevoked, jwt.ErrTokenInvalidClaims)
	errJWTKeyExpired  = joinErrors("apiauth: the API key this JWT was exchanged from has expired", ErrTokenExpired, jwt.ErrTokenExpired)
	errJWTKeyNotFound = joinErrors("apiauth: the API key this JWT was exchanged from does not exist", ErrUnknownToken, jwt.ErrTokenInvalidClaims)
)

// joinedError is an error that matches several sentinels.
type joinedError struct {
	msg  string
	errs []error
	code Code // codeOf the error, found once
}

func joinErrors(msg string, errs ...error) error {
	e := &joinedError{msg: msg, errs: errs}
	e.code = codeOf(e)
	return e
}

func (e *joinedError) Error() string     { return e.msg }
func (e *joinedError) Unwrap() []error   { return e.errs }
func (e *joinedError) problemCode() Code { return e.code }

// registered lists claim names whose case variants are refused.
var registered = [...]string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "scope", "scp", "client_id", "key_id", "grant_id", "typ", "alg", "kid", "crit"}

// b64Index maps base64url characters (RFC 4648 §5) to their values; 0xff
// marks the others.
var b64Index = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for i := 0; i < len(alphabet); i++ {
		t[alphabet[i]] = byte(i)
	}
	return t
}()

// decodeB64URL decodes unpadded base64url (RFC 7515 §2) from a string into
// dst, which must hold len(s)*6/8 bytes, without converting s to a []byte.
// Like base64.RawURLEncoding.Strict it refuses padding, other characters,
// impossible lengths and non-zero trailing bits, so every token has
// exactly one encoding.
// Kept: BenchmarkDecodeB64URL has Strict().Decode, plus the \r\n refusal it lacks, 10-15% slower.
func decodeB64URL(dst []byte, s string) (int, bool) {
	n := 0
	// Four characters, three bytes, per step. b64Index maps every other
	// byte to 0xff, so one test of the high bits of all four refuses it.
	for ; len(s) >= 4; s = s[4:] {
		a, b, c, d := b64Index[s[0]], b64Index[s[1]], b64Index[s[2]], b64Index[s[3]]
		if (a|b|c|d)&0xc0 != 0 {
			return 0, false
		}
		v := uint32(a)<<18 | uint32(b)<<12 | uint32(c)<<6 | uint32(d)
		_ = dst[n+2]
		dst[n], dst[n+1], dst[n+2] = byte(v>>16), byte(v>>8), byte(v)
		n += 3
	}
	// A final 2 or 3 characters carry 1 or 2 bytes and 4 or 2 bits that
	// must be zero (RFC 4648 §3.5, canonical encoding); 1 is no encoding.
	switch len(s) {
	case 1:
		return 0, false
	case 2:
		a, b := b64Index[s[0]], b64Index[s[1]]
		if (a|b)&0xc0 != 0 || b&0x0f != 0 {
			return 0, false
		}
		dst[n] = a<<2 | b>>4
		n++
	case 3:
		a, b, c := b64Index[s[0]], b64Index[s[1]], b64Index[s[2]]
		if (a|b|c)&0xc0 != 0 || c&0x03 != 0 {
			return 0, false
		}
		v := uint32(a)<<12 | uint32(b)<<6 | uint32(c)
		dst[n], dst[n+1] = byte(v>>10), byte(v>>2)
		n += 2
	}
	return n, true
}

// jwtHeader is the JOSE header fields the verifier reads.
type jwtHeader struct {
	alg, typ, kid string
}

// claims is the claims set fields the verifier reads.
type claims struct {
	iss, sub, tenant, tier, keyID, grantID, scope, clientID, jti string
	aud                                                          []string
	scp                                                          []string
	exp, nbf, iat                                                float64
	hasExp, hasNbf, hasIat, hasAud, hasScp                       bool
}

// ChecksTokenSyntax implements SyntaxChecker: a JWS compact serialization
// is three base64url segments, a subset of b64token, and Verify refuses
// anything else as ErrMalformedToken (after its cache, which only holds
// tokens it verified).
func (v *JWTVerifier) ChecksTokenSyntax() bool { return true }

// Verify implements Verifier.
func (v *JWTVerifier) Verify(ctx context.Context, token string) (*Principal, error) {
	if len(token) > v.maxLen {
		return nil, errJWTTooLong
	}
	// The wall clock, also for a cache hit: exp is wall-clock time, and the
	// monotonic clock stops while the machine sleeps.
	now := v.now()
	if v.cache != nil {
		if p := v.cache.get(token, now); p != nil {
			if err := v.checkKey(ctx, p, now); err != nil {
				return nil, err
			}
			return p, nil
		}
	}
	var t jws
	if err := t.decode(token); err != nil {
		return nil, err
	}
	var c claims
	if err := v.verifySigned(ctx, &t, &c, now); err != nil {
		return nil, err
	}
	p, err := c.principal(t.payload)
	if err != nil {
		return nil, err
	}
	if err := v.checkKey(ctx, p, now); err != nil {
		return nil, err
	}
	if v.cache != nil {
		until := now.Add(v.cacheTTL)
		if exp := time.Unix(int64(c.exp), 0); exp.Before(until) {
			until = exp
		}
		v.cache.put(token, p, now, until)
	}
	return p, nil
}

// jws is a token in the JWS compact serialization (RFC 7515 §7.1),
// decoded but not verified.
type jws struct {
	header  jwtHeader
	payload []byte
	sig     []byte
	signed  string // the signing input: header "." payload
}

// decode splits token into its three base64url segments, decodes them
// into one buffer, and reads the JOSE header.
func (t *jws) decode(token string) error {
	d1 := strings.IndexByte(token, '.')
	d2 := strings.LastIndexByte(token, '.')
	if d1 <= 0 || d2 <= d1+1 || d2 == len(token)-1 || strings.IndexByte(token[d1+1:d2], '.') >= 0 {
		return errJWTMalformed
	}
	hl, pl, sl := (d1*6)/8, ((d2-d1-1)*6)/8, ((len(token)-d2-1)*6)/8
	buf := make([]byte, hl+pl+sl)
	n1, ok1 := decodeB64URL(buf[:hl], token[:d1])
	n2, ok2 := decodeB64URL(buf[hl:hl+pl], token[d1+1:d2])
	ns, ok3 := decodeB64URL(buf[hl+pl:], token[d2+1:])
	if !ok1 || !ok2 || !ok3 {
		return errJWTMalformed
	}
	t.payload, t.sig, t.signed = buf[hl:hl+n2], buf[hl+pl:hl+pl+ns], token[:d2]
	if err := scanObject(string(buf[:n1]), t.header.member); err != nil {
		return asTokenError(err)
	}
	if t.header.alg == "" || strings.EqualFold(t.header.alg, "none") {
		return errJWTAlg
	}
	return nil
}

// verifySigned checks t's signature and claims, filling c. Everything
// read before the signature is checked may only refuse the token, never
// accept it. With one issuer, an HMAC signature is checked before the
// claims are decoded: a forged token costs one HMAC. Otherwise the claims'
// cheap checks (exp first) run before the costly public-key signature;
// with several issuers the claims name the issuer, whose keys verify.
func (v *JWTVerifier) verifySigned(ctx context.Context, t *jws, c *claims, now time.Time) error {
	if v.only == nil {
		is, err := v.readClaims(c, t, now)
		if err != nil {
			return err
		}
		key, err := keyOf(ctx, is, &t.header)
		if err != nil {
			return err
		}
		return checkSignature(key, t)
	}
	key, err := keyOf(ctx, v.only, &t.header)
	if err != nil {
		return err
	}
	if key.symmetric() {
		if err := checkSignature(key, t); err != nil {
			return err
		}
		_, err = v.readClaims(c, t, now)
		return err
	}
	if _, err := v.readClaims(c, t, now); err != nil {
		return err
	}
	return checkSignature(key, t)
}

// keyOf returns the key of is that the header names, bound to its
// algorithm (RFC 8725 §3.1).
func keyOf(ctx context.Context, is *JWTIssuer, h *jwtHeader) (*JWTKey, error) {
	key, err := is.Keys.JWTKey(ctx, h.kid)
	if err != nil {
		return nil, keyError(err)
	}
	if key.Algorithm != h.alg {
		return nil, errJWTAlg
	}
	return key, nil
}

func checkSignature(key *JWTKey, t *jws) error {
	if err := key.verify(t.signed, t.sig); err != nil {
		return errJWTSignature
	}
	return nil
}

// readClaims decodes t's claims into c, finds their issuer and applies
// the claim rules, under that issuer's claim names.
func (v *JWTVerifier) readClaims(c *claims, t *jws, now time.Time) (*JWTIssuer, error) {
	if err := scanObject(string(t.payload), func(name string, val jsonValue) error {
		return v.claim(c, name, val)
	}); err != nil {
		return nil, asTokenError(err)
	}
	is := v.issuers[c.iss]
	if is == nil {
		return nil, errJWTIssuer
	}
	if err := v.checkClaims(c, is, &t.header, now); err != nil {
		return nil, err
	}
	// Only an issuer that exchanges API keys may name one: another
	// issuer's key_id would borrow that key's identity and quota.
	if !is.KeyIDs {
		c.keyID = ""
	}
	if is.Grants == nil {
		c.grantID = ""
	}
	if err := c.renamed(is, t.payload); err != nil {
		return nil, err
	}
	return is, c.checkTenant(is)
}

// checkTenant gives the claims their issuer's tenant: the tenant claim, a
// non-empty string, or the issuer's one Tenant.
func (c *claims) checkTenant(is *JWTIssuer) error {
	switch {
	case is.Tenant == "" && c.tenant == "":
		return errJWTTenant
	case is.Tenant == "":
		return nil
	case c.tenant != "" && c.tenant != is.Tenant:
		return errJWTTenant
	}
	c.tenant = is.Tenant
	return nil
}

// renamed reads the tenant and tier under the issuer's own claim names,
// now that it is known: the default names never stand in for renamed
// ones.
func (c *claims) renamed(is *JWTIssuer, payload []byte) error {
	if is.TenantClaim != "tenant" {
		c.tenant = ""
	}
	if is.TierClaim != "tier" {
		c.tier = ""
	}
	if is.TenantClaim == "tenant" && is.TierClaim == "tier" {
		return nil
	}
	return scanObject(string(payload), func(name string, val jsonValue) error {
		var err error
		switch name {
		case is.TenantClaim:
			c.tenant, err = val.str()
		case is.TierClaim:
			c.tier, err = val.str()
		}
		return asTokenError(err)
	})
}

// principal is the Principal of verified claims: client_id stands in for
// a missing sub (RFC 9068 §2.2), and the scopes come from the scope claim
// (RFC 9068 §2.2.3, RFC 6749 §3.3: scope-tokens separated by single
// spaces) or an scp array. A scope that breaks the syntax makes the token
// malformed; it is never narrowed to the scopes that parse.
func (c *claims) principal(payload []byte) (*Principal, error) {
	p := &Principal{
		Subject:   cmp.Or(c.sub, c.clientID),
		Tenant:    c.tenant,
		Issuer:    c.iss,
		Tier:      c.tier,
		KeyID:     c.keyID,
		GrantID:   c.grantID,
		ExpiresAt: time.Unix(int64(c.exp), 0),
		Claims:    json.RawMessage(payload),
	}
	switch {
	case c.scope != "":
		scopes, err := ParseScopes(c.scope)
		if err != nil {
			return nil, errJWTClaims
		}
		p.Scopes = scopes
	case c.hasScp:
		p.Scopes = make([]Scope, len(c.scp))
		for i, s := range c.scp {
			if p.Scopes[i] = Scope(s); !p.Scopes[i].Valid() {
				return nil, errJWTClaims
			}
		}
	}
	return p, nil
}

// member reads one JOSE header parameter (RFC 7515 §4.1).
func (h *jwtHeader) member(name string, val jsonValue) error {
	var err error
	switch name {
	case "alg":
		h.alg, err = val.str()
	case "typ":
		h.typ, err = val.str()
	case "kid":
		h.kid, err = val.str()
	case "crit":
		return errJWTCrit // no extension is understood (§4.1.11)
	default:
		if isCaseVariant(name) {
			return errJWTMalformed
		}
	}
	if err != nil {
		return errJWTMalformed
	}
	return nil
}

// claim reads one claim of the claims set.
func (v *JWTVerifier) claim(c *claims, name string, val jsonValue) error {
	var err error
	switch name {
	case "iss":
		c.iss, err = val.str()
	case "sub":
		c.sub, err = val.str()
	case "aud":
		c.hasAud = true
		if val.kind == jsonString {
			var a string
			a, err = val.str()
			c.aud = []string{a}
		} else {
			c.aud, err = val.strings()
		}
	case "exp":
		c.exp, err = val.num()
		c.hasExp = true
	case "nbf":
		c.nbf, err = val.num()
		c.hasNbf = true
	case "iat":
		c.iat, err = val.num()
		c.hasIat = true
	case "scope":
		c.scope, err = val.str()
	case "scp":
		c.scp, err = val.strings()
		c.hasScp = true
	case "client_id":
		c.clientID, err = val.str()
	case "jti":
		c.jti, err = val.str()
	case "tenant":
		c.tenant, err = val.str()
	case "tier":
		c.tier, err = val.str()
	case "key_id":
		c.keyID, err = val.str()
	case "grant_id":
		c.grantID, err = val.str()
	default:
		if isCaseVariant(name) {
			return errJWTClaims
		}
	}
	if err != nil {
		return errJWTClaims
	}
	return nil
}

// isCaseVariant reports whether name differs only in case from a
// registered name.
func isCaseVariant(name string) bool {
	for _, r := range registered {
		if len(r) == len(name) && r != name && strings.EqualFold(r, name) {
			return true
		}
	}
	return false
}

// checkClaims applies the registered-claim rules of RFC 7519 §4.1 and
// RFC 9068 §4 that need no signature to refuse.
func (v *JWTVerifier) checkClaims(c *claims, is *JWTIssuer, h *jwtHeader, now time.Time) error {
	if !c.hasExp {
		return errJWTNoExp
	}
	if c.sub == "" && c.clientID == "" {
		return errJWTSubject // RFC 9068 §2.2: sub is required
	}
	if is.Profile && (c.sub == "" || c.clientID == "" || !c.hasIat || c.jti == "") {
		return errJWTProfile
	}
	nowS := float64(now.UnixNano()) / 1e9
	lee := v.leeway.Seconds()
	if math.IsNaN(c.exp) || math.IsInf(c.exp, 0) || nowS >= c.exp+lee {
		return errJWTExpired
	}
	if c.hasNbf && nowS+lee < c.nbf {
		return errJWTNotYet
	}
	if c.hasIat && nowS+lee < c.iat {
		return errJWTFutureIAT
	}
	start := nowS
	if c.hasIat {
		start = c.iat
	}
	if c.exp-start > v.maxLifetime.Seconds() {
		return errJWTLifetime
	}
	if !strings.EqualFold(h.typ, "at+jwt") && !strings.EqualFold(h.typ, "application/at+jwt") &&
		!(is.AllowJWTType && (h.typ == "" || strings.EqualFold(h.typ, "JWT"))) {
		return errJWTType
	}
	found := false
	for _, a := range c.aud {
		if a == is.Audience {
			found = true
			break
		}
	}
	if !found {
		return errJWTAudience
	}
	return nil
}

// checkKey refuses a token exchanged from an API key that is no longer
// valid, so that revoking a key revokes its tokens at once.
func (v *JWTVerifier) checkKey(ctx context.Context, p *Principal, now time.Time) error {
	if p.GrantID != "" {
		if is := v.issuers[p.Issuer]; is != nil && is.Grants != nil {
			if err := is.Grants(ctx, p.GrantID); err != nil {
				return grantError(err)
			}
		}
	}
	if v.keys == nil || p.KeyID == "" {
		return nil
	}
	rec, err := v.keys.Store.GetKey(ctx, p.KeyID)
	if err != nil {
		if errors.Is(err, ErrKeyNotFound) {
			return errJWTKeyNotFound
		}
		return fmt.Errorf("apiauth: key store: %w", err)
	}
	switch rec.status(now) {
	case ErrTokenRevoked:
		return errJWTKeyRevoked
	case ErrTokenExpired:
		return errJWTKeyExpired
	}
	return nil
}

// grantError passes a Grants check's refusal on (revoked or expired), and
// marks anything else as the grant store failing (503).
func grantError(err error) error {
	if errors.Is(err, ErrTokenRevoked) || errors.Is(err, ErrTokenExpired) || errors.Is(err, ErrInvalidToken) {
		return err
	}
	return fmt.Errorf("apiauth: grant store: %w", err)
}

// asTokenError keeps the verifier's own errors and turns JSON errors into
// a malformed-token error.
func asTokenError(err error) error {
	if err == nil {
		return nil
	}
	var je *joinedError
	if errors.As(err, &je) {
		return err
	}
	return errJWTMalformed
}

// keyError passes a KeySet's failure on: an unknown key refuses the token,
// anything else is the key source failing (503).
func keyError(err error) error {
	if errors.Is(err, ErrInvalidToken) {
		return err
	}
	return fmt.Errorf("apiauth: JWT keys unavailable: %w", err)
}
