package apiauth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/apiauth/apiauth"
	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	testIssuer   = "https://idp.test"
	testAudience = "api.test"
)

var jwtNow = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// testKeys are one key per algorithm family, made once.
var testKeys = func() (k struct {
	rsa   *rsa.PrivateKey
	ec    *ecdsa.PrivateKey
	ec384 *ecdsa.PrivateKey
	ed    ed25519.PrivateKey
	hmac  []byte
}) {
	var err error
	if k.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		panic(err)
	}
	if k.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		panic(err)
	}
	if k.ec384, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader); err != nil {
		panic(err)
	}
	if _, k.ed, err = ed25519.GenerateKey(rand.Reader); err != nil {
		panic(err)
	}
	k.hmac = []byte("0123456789abcdef0123456789abcdef")
	return k
}()

// rawToken builds a JWS from raw header and claims JSON, signed with
// method and key (or with the given signature when method is nil).
func rawToken(t testing.TB, header, claims string, method jwt.SigningMethod, key any) string {
	t.Helper()
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(claims))
	if method == nil {
		return signing + "."
	}
	sig, err := method.Sign(signing, key)
	require.NoError(t, err)
	return signing + "." + enc.EncodeToString(sig)
}

// claimsJSON returns a valid claims set with overrides (nil deletes).
func claimsJSON(over map[string]any) string {
	c := map[string]any{
		"iss":    testIssuer,
		"sub":    "user-1",
		"aud":    testAudience,
		"exp":    jwtNow.Add(time.Hour).Unix(),
		"iat":    jwtNow.Add(-time.Minute).Unix(),
		"scope":  "read write",
		"tenant": "acme",
		"tier":   "pro",
	}
	for k, v := range over {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	b, _ := json.Marshal(c)
	return string(b)
}

func header(alg, kid string) string {
	if kid == "" {
		return fmt.Sprintf(`{"alg":%q,"typ":"at+jwt"}`, alg)
	}
	return fmt.Sprintf(`{"alg":%q,"typ":"at+jwt","kid":%q}`, alg, kid)
}

func newTestVerifier(t testing.TB, opts apiauth.JWTOptions, keys ...apiauth.JWTKey) *apiauth.JWTVerifier {
	t.Helper()
	set, err := apiauth.NewStaticKeys(keys...)
	require.NoError(t, err)
	if opts.Now == nil {
		opts.Now = func() time.Time { return jwtNow }
	}
	v, err := apiauth.NewJWTVerifier(opts, apiauth.JWTIssuer{Issuer: testIssuer, Audience: testAudience, Keys: set})
	require.NoError(t, err)
	return v
}

func allKeys() []apiauth.JWTKey {
	return []apiauth.JWTKey{
		{ID: "rs", Algorithm: "RS256", Key: &testKeys.rsa.PublicKey},
		{ID: "ps", Algorithm: "PS256", Key: &testKeys.rsa.PublicKey},
		{ID: "es", Algorithm: "ES256", Key: &testKeys.ec.PublicKey},
		{ID: "es384", Algorithm: "ES384", Key: &testKeys.ec384.PublicKey},
		{ID: "ed", Algorithm: "EdDSA", Key: testKeys.ed.Public()},
		{ID: "hs", Algorithm: "HS256", Key: testKeys.hmac},
	}
}

func TestJWTVerifierAcceptsEveryAlgorithm(t *testing.T) {
	v := newTestVerifier(t, apiauth.JWTOptions{CacheSize: -1}, allKeys()...)
	for _, tc := range []struct {
		kid    string
		method jwt.SigningMethod
		key    any
	}{
		{"rs", jwt.SigningMethodRS256, testKeys.rsa},
		{"ps", jwt.SigningMethodPS256, testKeys.rsa},
		{"es", jwt.SigningMethodES256, testKeys.ec},
		{"es384", jwt.SigningMethodES384, testKeys.ec384},
		{"ed", jwt.SigningMethodEdDSA, testKeys.ed},
		{"hs", jwt.SigningMethodHS256, testKeys.hmac},
	} {
		t.Run(tc.method.Alg(), func(t *testing.T) {
			tok := rawToken(t, header(tc.method.Alg(), tc.kid), claimsJSON(nil), tc.method, tc.key)
			p, err := v.Verify(context.Background(), tok)
			require.NoError(t, err)
			assert.Equal(t, "user-1", p.Subject)
			assert.Equal(t, "acme", p.Tenant)
			assert.Equal(t, "pro", p.Tier)
			assert.Equal(t, []apiauth.Scope{apiauth.Read, apiauth.Write}, p.Scopes)
			assert.Equal(t, jwtNow.Add(time.Hour).Unix(), p.ExpiresAt.Unix())
			var claims map[string]any
			require.NoError(t, json.Unmarshal(p.Claims, &claims))
			assert.Equal(t, "user-1", claims["sub"])
		})
	}
}

func TestJWTVerifierClaimMapping(t *testing.T) {
	v := newTestVerifier(t, apiauth.JWTOptions{CacheSize: -1}, apiauth.JWTKey{Algorithm: "HS256", Key: testKeys.hmac})
	for _, tc := range []struct {
		name   string
		over   map[string]any
		scopes []apiauth.Scope
		sub    string
		aud    bool
	}{
		{"scp array", map[string]any{"scope": nil, "scp": []string{"admin", "orders:write"}}, []apiauth.Scope{apiauth.Admin, "orders:write"}, "user-1", true},
		{"aud array", map[string]any{"aud": []string{"other", testAudience}}, []apiauth.Scope{apiauth.Read, apiauth.Write}, "user-1", true},
		{"client_id when no sub", map[string]any{"sub": nil, "client_id": "svc-1"}, []apiauth.Scope{apiauth.Read, apiauth.Write}, "svc-1", true},
		{"no scopes", map[string]any{"scope": nil}, nil, "user-1", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := v.Verify(context.Background(), rawToken(t, header("HS256", ""), claimsJSON(tc.over), jwt.SigningMethodHS256, testKeys.hmac))
			require.NoError(t, err)
			assert.Equal(t, tc.scopes, p.Scopes)
			assert.Equal(t, tc.sub, p.Subject)
		})
	}
}

// A scope claim that breaks RFC 6749 §3.3, or an scp element that is not a
// scope-token, makes the token invalid: it is never narrowed to the
// scopes that parse.
func TestJWTVerifierScopeSyntax(t *testing.T) {
	v := newTestVerifier(t, apiauth.JWTOptions{CacheSize: -1}, apiauth.JWTKey{Algorithm: "HS256", Key: testKeys.hmac})
	for _, over := range []map[string]any{
		{"scope": "read\tadmin write"},
		{"scope": " read"},
		{"scope": "read "},
		{"scope": "read  write"},
		{"scope": `read "admin"`},
		{"scope": `read ad\min`},
		{"scope": "read é"},
		{"scope": nil, "scp": []string{"read", "a b"}},
		{"scope": nil, "scp": []string{""}},
	} {
		_, err := v.Verify(context.Background(), rawToken(t, header("HS256", ""), claimsJSON(over), jwt.SigningMethodHS256, testKeys.hmac))
		assert.ErrorIs(t, err, apiauth.ErrInvalidToken, "%v", over)
		assert.NotErrorIs(t, err, apiauth.ErrTokenExpired)
	}
}

// TestJWTVerifierAttacks is the attack table: every row must be refused,
// with the right sentinel.
func TestJWTVerifierAttacks(t *testing.T) {
	v := newTestVerifier(t, apiauth.JWTOptions{CacheSize: -1}, allKeys()...)
	enc := base64.RawURLEncoding.EncodeToString
	good := rawToken(t, header("RS256", "rs"), claimsJSON(nil), jwt.SigningMethodRS256, testKeys.rsa)
	parts := strings.Split(good, ".")
	hsWithPublicKey := rawToken(t, header("HS256", "rs"), claimsJSON(nil), jwt.SigningMethodHS256, testKeys.rsa.PublicKey.N.Bytes())
	ecZero := enc([]byte(header("ES256", "es"))) + "." + enc([]byte(claimsJSON(nil))) + "." + enc(make([]byte, 64))
	sign := func(h, c string) string { return rawToken(t, h, c, jwt.SigningMethodHS256, testKeys.hmac) }
	deep := `{"iss":"` + testIssuer + `","aud":"` + testAudience + `","exp":9999999999,"x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`

	tests := []struct {
		name string
		tok  string
		want error
	}{
		{"alg none", enc([]byte(`{"alg":"none","typ":"at+jwt"}`)) + "." + enc([]byte(claimsJSON(nil))) + ".", apiauth.ErrInvalidToken},
		{"alg None", enc([]byte(`{"alg":"None","typ":"at+jwt"}`)) + "." + enc([]byte(claimsJSON(nil))) + ".", apiauth.ErrInvalidToken},
		{"alg NONE with signature", enc([]byte(`{"alg":"NONE","typ":"at+jwt","kid":"hs"}`)) + "." + enc([]byte(claimsJSON(nil))) + "." + parts[2], apiauth.ErrInvalidToken},
		{"alg nOnE", enc([]byte(`{"alg":"nOnE","typ":"at+jwt","kid":"rs"}`)) + "." + enc([]byte(claimsJSON(nil))) + ".", apiauth.ErrInvalidToken},
		{"no alg", sign(`{"typ":"at+jwt","kid":"hs"}`, claimsJSON(nil)), apiauth.ErrInvalidToken},
		{"HMAC keyed with the RSA public key", hsWithPublicKey, apiauth.ErrInvalidToken},
		{"alg not the key's", rawToken(t, header("RS384", "rs"), claimsJSON(nil), jwt.SigningMethodRS384, testKeys.rsa), apiauth.ErrInvalidToken},
		{"stripped signature", parts[0] + "." + parts[1] + ".", apiauth.ErrInvalidToken},
		{"empty signature and no dot", parts[0] + "." + parts[1], apiauth.ErrMalformedToken},
		{"foreign signature", parts[0] + "." + parts[1] + "." + strings.Split(hsWithPublicKey, ".")[2], apiauth.ErrInvalidToken},
		{"tampered claims", parts[0] + "." + enc([]byte(claimsJSON(map[string]any{"sub": "admin"}))) + "." + parts[2], apiauth.ErrInvalidToken},
		{"ECDSA r=s=0", ecZero, apiauth.ErrInvalidToken},
		{"kid path traversal", sign(header("HS256", "../../etc/passwd"), claimsJSON(nil)), apiauth.ErrUnknownKey},
		{"kid injection", sign(header("HS256", "' OR '1'='1"), claimsJSON(nil)), apiauth.ErrUnknownKey},
		{"missing kid with several keys", sign(header("HS256", ""), claimsJSON(nil)), apiauth.ErrUnknownKey},
		{"jku header", sign(`{"alg":"HS256","typ":"at+jwt","kid":"nope","jku":"https://evil.test/jwks"}`, claimsJSON(nil)), apiauth.ErrUnknownKey},
		{"embedded jwk", sign(`{"alg":"HS256","typ":"at+jwt","kid":"nope","jwk":{"kty":"oct","k":"AAAA"}}`, claimsJSON(nil)), apiauth.ErrUnknownKey},
		{"x5u and x5c", sign(`{"alg":"HS256","typ":"at+jwt","kid":"nope","x5u":"https://evil.test","x5c":["AAAA"]}`, claimsJSON(nil)), apiauth.ErrUnknownKey},
		{"crit", sign(`{"alg":"HS256","typ":"at+jwt","kid":"hs","crit":["exp"]}`, claimsJSON(nil)), apiauth.ErrInvalidToken},
		{"typ JWT", sign(`{"alg":"HS256","typ":"JWT","kid":"hs"}`, claimsJSON(nil)), apiauth.ErrInvalidToken},
		{"no typ", sign(`{"alg":"HS256","kid":"hs"}`, claimsJSON(nil)), apiauth.ErrInvalidToken},
		{"duplicate alg", sign(`{"alg":"HS256","alg":"none","typ":"at+jwt","kid":"hs"}`, claimsJSON(nil)), apiauth.ErrMalformedToken},
		{"expired", sign(header("HS256", "hs"), claimsJSON(map[string]any{"exp": jwtNow.Add(-time.Minute).Unix()})), apiauth.ErrTokenExpired},
		{"no sub", sign(header("HS256", "hs"), claimsJSON(map[string]any{"sub": nil})), apiauth.ErrInvalidToken},
		{"no exp", sign(header("HS256", "hs"), claimsJSON(map[string]any{"exp": nil})), apiauth.ErrInvalidToken},
		{"exp as string", sign(header("HS256", "hs"), claimsJSON(map[string]any{"exp": "9999999999"})), apiauth.ErrInvalidToken},
		{"iat as string", sign(header("HS256", "hs"), claimsJSON(map[string]any{"iat": "1"})), apiauth.ErrInvalidToken},
		{"nbf in the future", sign(header("HS256", "hs"), claimsJSON(map[string]any{"nbf": jwtNow.Add(time.Minute).Unix()})), apiauth.ErrInvalidToken},
		{"iat in the future", sign(header("HS256", "hs"), claimsJSON(map[string]any{"iat": jwtNow.Add(time.Minute).Unix()})), apiauth.ErrInvalidToken},
		{"lifetime too long", sign(header("HS256", "hs"), claimsJSON(map[string]any{"exp": jwtNow.Add(48 * time.Hour).Unix()})), apiauth.ErrInvalidToken},
		{"wrong issuer", sign(header("HS256", "hs"), claimsJSON(map[string]any{"iss": "https://evil.test"})), apiauth.ErrInvalidToken},
		{"issuer differs in case", sign(header("HS256", "hs"), claimsJSON(map[string]any{"iss": strings.ToUpper(testIssuer)})), apiauth.ErrInvalidToken},
		{"wrong audience", sign(header("HS256", "hs"), claimsJSON(map[string]any{"aud": "other"})), apiauth.ErrInvalidToken},
		{"no audience", sign(header("HS256", "hs"), claimsJSON(map[string]any{"aud": nil})), apiauth.ErrInvalidToken},
		{"duplicate exp", sign(header("HS256", "hs"), strings.Replace(claimsJSON(nil), `"exp":`, `"exp":1,"exp":`, 1)), apiauth.ErrMalformedToken},
		{"escaped duplicate exp", sign(header("HS256", "hs"), strings.Replace(claimsJSON(nil), `"exp":`, `"\u0065xp":1,"exp":`, 1)), apiauth.ErrMalformedToken},
		{"EXP in capitals", sign(header("HS256", "hs"), strings.Replace(claimsJSON(nil), `"exp":`, `"EXP":9999999999,"exp":`, 1)), apiauth.ErrInvalidToken},
		{"Sub in capitals", sign(header("HS256", "hs"), strings.Replace(claimsJSON(nil), `"sub":`, `"Sub":"admin","sub":`, 1)), apiauth.ErrInvalidToken},
		{"invalid UTF-8", sign(header("HS256", "hs"), strings.Replace(claimsJSON(nil), `"user-1"`, "\"user-\xff\"", 1)), apiauth.ErrMalformedToken},
		{"not JSON", sign(header("HS256", "hs"), "not json"), apiauth.ErrMalformedToken},
		{"trailing data", sign(header("HS256", "hs"), claimsJSON(nil)+"{}"), apiauth.ErrMalformedToken},
		{"deeply nested", sign(header("HS256", "hs"), deep), apiauth.ErrMalformedToken},
		{"four segments", good + ".x", apiauth.ErrMalformedToken},
		{"two segments", parts[0] + "." + parts[1], apiauth.ErrMalformedToken},
		{"padding", parts[0] + "=." + parts[1] + "." + parts[2], apiauth.ErrMalformedToken},
		{"standard base64", strings.ReplaceAll(strings.ReplaceAll(good, "-", "+"), "_", "/") + "+/", apiauth.ErrInvalidToken},
		{"oversized", good + strings.Repeat("A", 5000), apiauth.ErrMalformedToken},
		{"empty", "", apiauth.ErrMalformedToken},
		{"dots only", "..", apiauth.ErrMalformedToken},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := v.Verify(context.Background(), tc.tok)
			require.Error(t, err)
			assert.Nil(t, p)
			assert.ErrorIs(t, err, tc.want, "%v", err)
			assert.True(t, errors.Is(err, apiauth.ErrInvalidToken) || errors.Is(err, apiauth.ErrTokenExpired), "every refusal is a 401: %v", err)
		})
	}
}

func TestJWTVerifierErrorsMatchGolangJWT(t *testing.T) {
	v := newTestVerifier(t, apiauth.JWTOptions{CacheSize: -1}, apiauth.JWTKey{Algorithm: "HS256", Key: testKeys.hmac})
	expired := rawToken(t, header("HS256", ""), claimsJSON(map[string]any{"exp": jwtNow.Add(-time.Hour).Unix(), "iat": jwtNow.Add(-2 * time.Hour).Unix()}), jwt.SigningMethodHS256, testKeys.hmac)
	_, err := v.Verify(context.Background(), expired)
	assert.ErrorIs(t, err, apiauth.ErrTokenExpired)
	assert.ErrorIs(t, err, jwt.ErrTokenExpired)
	bad := rawToken(t, header("HS256", ""), claimsJSON(nil), jwt.SigningMethodHS256, []byte("another-secret-of-thirty-two-byt"))
	_, err = v.Verify(context.Background(), bad)
	assert.ErrorIs(t, err, jwt.ErrTokenSignatureInvalid)
	assert.ErrorIs(t, err, apiauth.ErrInvalidToken)
}

func TestJWTVerifierLeeway(t *testing.T) {
	v := newTestVerifier(t, apiauth.JWTOptions{CacheSize: -1, Leeway: 10 * time.Second}, apiauth.JWTKey{Algorithm: "HS256", Key: testKeys.hmac})
	for _, tc := range []struct {
		name string
		over map[string]any
		ok   bool
	}{
		{"expired within leeway", map[string]any{"exp": jwtNow.Add(-5 * time.Second).Unix()}, true},
		{"expired past leeway", map[string]any{"exp": jwtNow.Add(-10 * time.Second).Unix()}, false},
		{"nbf within leeway", map[string]any{"nbf": jwtNow.Add(5 * time.Second).Unix()}, true},
		{"iat within leeway", map[string]any{"iat": jwtNow.Add(5 * time.Second).Unix()}, true},
		{"fractional exp", map[string]any{"exp": float64(jwtNow.Add(time.Hour).Unix()) + 0.5}, true},
	} {
		_, err := v.Verify(context.Background(), rawToken(t, header("HS256", ""), claimsJSON(tc.over), jwt.SigningMethodHS256, testKeys.hmac))
		assert.Equal(t, tc.ok, err == nil, "%s: %v", tc.name, err)
	}
}

func TestJWTKeyValidation(t *testing.T) {
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	for _, tc := range []struct {
		name string
		key  apiauth.JWTKey
	}{
		{"none", apiauth.JWTKey{Algorithm: "none", Key: []byte{}}},
		{"unknown", apiauth.JWTKey{Algorithm: "XS256", Key: testKeys.hmac}},
		{"short HMAC", apiauth.JWTKey{Algorithm: "HS256", Key: []byte("short")}},
		{"HS512 needs 64 bytes", apiauth.JWTKey{Algorithm: "HS512", Key: testKeys.hmac}},
		{"short RSA", apiauth.JWTKey{Algorithm: "RS256", Key: &small.PublicKey}},
		{"RSA key for HMAC", apiauth.JWTKey{Algorithm: "HS256", Key: &testKeys.rsa.PublicKey}},
		{"wrong curve", apiauth.JWTKey{Algorithm: "ES256", Key: &testKeys.ec384.PublicKey}},
		{"EC key for RSA", apiauth.JWTKey{Algorithm: "RS256", Key: &testKeys.ec.PublicKey}},
	} {
		_, err := apiauth.NewStaticKeys(tc.key)
		assert.Error(t, err, tc.name)
	}
	_, err = apiauth.NewStaticKeys(apiauth.JWTKey{ID: "a", Algorithm: "HS256", Key: testKeys.hmac}, apiauth.JWTKey{ID: "a", Algorithm: "HS256", Key: testKeys.hmac})
	assert.Error(t, err, "duplicate kid")
}

func TestJWTVerifierSeveralIssuers(t *testing.T) {
	setA, err := apiauth.NewStaticKeys(apiauth.JWTKey{ID: "k", Algorithm: "HS256", Key: testKeys.hmac})
	require.NoError(t, err)
	otherSecret := []byte("ffffffffffffffffffffffffffffffff")
	setB, err := apiauth.NewStaticKeys(apiauth.JWTKey{ID: "k", Algorithm: "HS256", Key: otherSecret})
	require.NoError(t, err)
	v, err := apiauth.NewJWTVerifier(apiauth.JWTOptions{Now: func() time.Time { return jwtNow }, CacheSize: -1},
		apiauth.JWTIssuer{Issuer: testIssuer, Audience: testAudience, Keys: setA},
		apiauth.JWTIssuer{Issuer: "https://b.test", Audience: testAudience, Keys: setB, TenantClaim: "org", TierClaim: "plan", AllowJWTType: true})
	require.NoError(t, err)
	// Issuer B's token verifies with B's key, with B's claim names and typ.
	tokB := rawToken(t, `{"alg":"HS256","typ":"JWT","kid":"k"}`, claimsJSON(map[string]any{"iss": "https://b.test", "org": "globex", "plan": "free", "tenant": "ignored"}), jwt.SigningMethodHS256, otherSecret)
	p, err := v.Verify(context.Background(), tokB)
	require.NoError(t, err)
	assert.Equal(t, "globex", p.Tenant)
	assert.Equal(t, "free", p.Tier)
	// A token claiming issuer B but signed with A's key (same kid) is refused:
	// keys are chosen by (iss, kid), never from the union.
	forged := rawToken(t, header("HS256", "k"), claimsJSON(map[string]any{"iss": "https://b.test"}), jwt.SigningMethodHS256, testKeys.hmac)
	_, err = v.Verify(context.Background(), forged)
	assert.ErrorIs(t, err, apiauth.ErrInvalidToken)
	// And issuer A still demands at+jwt.
	_, err = v.Verify(context.Background(), rawToken(t, `{"alg":"HS256","typ":"JWT","kid":"k"}`, claimsJSON(nil), jwt.SigningMethodHS256, testKeys.hmac))
	assert.ErrorIs(t, err, apiauth.ErrInvalidToken)
}

// TestJWTVerifierClaimsNotBorrowed: an outside issuer cannot name one of
// our API keys, and an issuer's renamed claims are never filled from the
// default names.
func TestJWTVerifierClaimsNotBorrowed(t *testing.T) {
	set, err := apiauth.NewStaticKeys(apiauth.JWTKey{Algorithm: "HS256", Key: testKeys.hmac})
	require.NoError(t, err)
	v, err := apiauth.NewJWTVerifier(apiauth.JWTOptions{Now: func() time.Time { return jwtNow }, CacheSize: -1},
		apiauth.JWTIssuer{Issuer: testIssuer, Audience: testAudience, Keys: set, TenantClaim: "org", TierClaim: "plan"})
	require.NoError(t, err)
	tok := rawToken(t, header("HS256", ""), claimsJSON(map[string]any{"key_id": "k-reader", "tenant": "acme", "tier": "enterprise", "org": "globex"}), jwt.SigningMethodHS256, testKeys.hmac)
	p, err := v.Verify(context.Background(), tok)
	require.NoError(t, err)
	assert.Empty(t, p.KeyID, "key_id from an issuer that exchanges no API keys")
	assert.Equal(t, "globex", p.Tenant, "tenant is read from org only")
	assert.Empty(t, p.Tier, "tier is read from plan only")
	// Without org, the tenant claim does not stand in: no tenant at all.
	tok = rawToken(t, header("HS256", ""), claimsJSON(map[string]any{"tenant": "acme"}), jwt.SigningMethodHS256, testKeys.hmac)
	_, err = v.Verify(context.Background(), tok)
	assert.ErrorIs(t, err, apiauth.ErrInvalidToken)
}

// Every principal has a tenant: a token whose tenant claim is missing,
// empty or not a string is invalid_token, unless its issuer names its one
// tenant; and the principal carries the issuer that vouched for it.
func TestJWTVerifierTenant(t *testing.T) {
	set, err := apiauth.NewStaticKeys(apiauth.JWTKey{Algorithm: "HS256", Key: testKeys.hmac})
	require.NoError(t, err)
	multi, err := apiauth.NewJWTVerifier(apiauth.JWTOptions{Now: func() time.Time { return jwtNow }, CacheSize: -1},
		apiauth.JWTIssuer{Issuer: testIssuer, Audience: testAudience, Keys: set})
	require.NoError(t, err)
	single, err := apiauth.NewJWTVerifier(apiauth.JWTOptions{Now: func() time.Time { return jwtNow }, CacheSize: -1},
		apiauth.JWTIssuer{Issuer: testIssuer, Audience: testAudience, Keys: set, Tenant: "acme"})
	require.NoError(t, err)
	for _, tc := range []struct {
		name   string
		v      *apiauth.JWTVerifier
		tenant any // nil: no claim
		want   string
	}{
		{"claim", multi, "globex", "globex"},
		{"no claim", multi, nil, ""},
		{"empty claim", multi, "", ""},
		{"number", multi, 7, ""},
		{"array", multi, []string{"acme"}, ""},
		{"single tenant, no claim", single, nil, "acme"},
		{"single tenant, its own", single, "acme", "acme"},
		{"single tenant, another", single, "globex", ""},
	} {
		tok := rawToken(t, header("HS256", ""), claimsJSON(map[string]any{"tenant": tc.tenant}), jwt.SigningMethodHS256, testKeys.hmac)
		p, err := tc.v.Verify(context.Background(), tok)
		if tc.want == "" {
			assert.ErrorIs(t, err, apiauth.ErrInvalidToken, tc.name)
			continue
		}
		require.NoError(t, err, tc.name)
		assert.Equal(t, tc.want, p.Tenant, tc.name)
		assert.Equal(t, testIssuer, p.Issuer, tc.name)
	}
}

func TestJWTVerifierCache(t *testing.T) {
	now := jwtNow
	keys := apiauth.NewMemoryKeys()
	keys.Now = func() time.Time { return now }
	_, err := keys.Import(context.Background(), readerKey, apiauth.KeySpec{ID: "k-1", Tenant: "acme"})
	require.NoError(t, err)
	set, err := apiauth.NewStaticKeys(apiauth.JWTKey{Algorithm: "HS256", Key: testKeys.hmac})
	require.NoError(t, err)
	v, err := apiauth.NewJWTVerifier(apiauth.JWTOptions{Now: func() time.Time { return now }, Keys: keys},
		apiauth.JWTIssuer{Issuer: testIssuer, Audience: testAudience, Keys: set, KeyIDs: true})
	require.NoError(t, err)
	tok := rawToken(t, header("HS256", ""), claimsJSON(map[string]any{"exp": jwtNow.Add(10 * time.Minute).Unix(), "key_id": "k-1"}), jwt.SigningMethodHS256, testKeys.hmac)
	p1, err := v.Verify(context.Background(), tok)
	require.NoError(t, err)
	assert.Equal(t, "k-1", p1.KeyID)
	p2, err := v.Verify(context.Background(), tok)
	require.NoError(t, err)
	assert.Same(t, p1, p2, "served from the cache")

	// Revoking the API key revokes its tokens at once, cached or not.
	require.NoError(t, keys.Revoke(context.Background(), "k-1"))
	_, err = v.Verify(context.Background(), tok)
	assert.ErrorIs(t, err, apiauth.ErrTokenRevoked)

	// A cached token still expires on time.
	tok2 := rawToken(t, header("HS256", ""), claimsJSON(map[string]any{"exp": jwtNow.Add(10 * time.Minute).Unix()}), jwt.SigningMethodHS256, testKeys.hmac)
	_, err = v.Verify(context.Background(), tok2)
	require.NoError(t, err)
	now = jwtNow.Add(11 * time.Minute)
	_, err = v.Verify(context.Background(), tok2)
	assert.ErrorIs(t, err, apiauth.ErrTokenExpired)
}

// unreachable is a key set whose identity provider is down.
type unreachable struct{}

func (unreachable) JWTKey(context.Context, string) (*apiauth.JWTKey, error) {
	return nil, errors.New("dial tcp: connection refused")
}

func TestJWTThroughAuthenticate(t *testing.T) {
	f := newFixture(t)
	v := newTestVerifier(t, apiauth.JWTOptions{}, apiauth.JWTKey{Algorithm: "ES256", Key: &testKeys.ec.PublicKey})
	down, err := apiauth.NewJWTVerifier(apiauth.JWTOptions{Now: func() time.Time { return jwtNow }},
		apiauth.JWTIssuer{Issuer: testIssuer, Audience: testAudience, Keys: unreachable{}})
	require.NoError(t, err)
	good := rawToken(t, header("ES256", ""), claimsJSON(nil), jwt.SigningMethodES256, testKeys.ec)
	expired := rawToken(t, header("ES256", ""), claimsJSON(map[string]any{"exp": jwtNow.Add(-time.Hour).Unix(), "iat": jwtNow.Add(-2 * time.Hour).Unix()}), jwt.SigningMethodES256, testKeys.ec)
	for _, tc := range []struct {
		name     string
		verifier *apiauth.JWTVerifier
		tok      string
		status   int
		code     string
	}{
		{"valid JWT", v, good, 200, ""},
		{"API key next to JWTs", v, readerKey, 200, ""},
		{"expired JWT", v, expired, 401, "token_expired"},
		{"garbage JWT", v, "eyJhbGciOiJIUzI1NiJ9.e30.AAAA", 401, "invalid_token"},
		{"identity provider down", down, good, 503, "temporarily_unavailable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := apiauth.Authenticate(f.keys, apiauth.WithJWT(tc.verifier))(echo)
			req := httptest.NewRequest("GET", "/v1/me", nil)
			req.Header.Set("Authorization", "Bearer "+tc.tok)
			rr := httptest.NewRecorder()
			h.ServeHTTP(rr, req)
			require.Equal(t, tc.status, rr.Code, rr.Body.String())
			if tc.code != "" {
				var p problemBody
				require.NoError(t, json.Unmarshal(rr.Body.Bytes(), &p))
				assert.Equal(t, tc.code, p.Code)
			}
			if tc.status == 503 {
				assert.Equal(t, "5", rr.Header().Get("Retry-After"))
			}
		})
	}
	_ = http.StatusOK
}

// TestSyntaxCheckingVerifiers: Authenticate skips its b64token scan (RFC
// 6750 §2.1) for a *JWTVerifier and for *Keys, which must then refuse, as
// ErrMalformedToken, every token that is not a b64token: here a valid JWT
// and a valid API key with one character that no b64token holds put at
// the start, in each part, and at the end.
func TestSyntaxCheckingVerifiers(t *testing.T) {
	f := newFixture(t)
	v := newTestVerifier(t, apiauth.JWTOptions{}, apiauth.JWTKey{Algorithm: "HS256", Key: testKeys.hmac})
	good := rawToken(t, header("HS256", ""), claimsJSON(nil), jwt.SigningMethodHS256, testKeys.hmac)
	d1, d2 := strings.IndexByte(good, '.'), strings.LastIndexByte(good, '.')
	ctx := context.Background()
	for _, c := range []string{",", " ", "\t", "\x00", "\x7f", "é", "\"", "\\", "%", "=", ":", "@", "!"} {
		for _, tc := range []struct {
			name     string
			verifier apiauth.Verifier
			tok      string
			at       []int
		}{
			{"JWT", v, good, []int{0, d1 - 1, d1 + 1, d2 - 1, d2 + 1, len(good) - 1}},
			{"API key", f.keys, readerKey, []int{0, len(readerKey) / 2, len(readerKey) - 1}},
		} {
			for _, i := range tc.at {
				tok := tc.tok[:i] + c + tc.tok[i:]
				if c == "=" && i == len(tc.tok) {
					continue // trailing padding is b64token
				}
				_, err := tc.verifier.Verify(ctx, tok)
				assert.ErrorIs(t, err, apiauth.ErrMalformedToken, "%s %q", tc.name, tok)
			}
		}
	}
}

// TestJWTSyntaxAfterCache: Authenticate leaves the b64token check of
// JWT-shaped tokens to the JWTVerifier (so a cached token costs no scan),
// and every token that is not a b64token, or not three base64url
// segments, is still refused as invalid_token, also once a look-alike
// of it is cached; the API-key verifier never sees a token that is not a
// b64token.
func TestJWTSyntaxAfterCache(t *testing.T) {
	f := newFixture(t)
	v := newTestVerifier(t, apiauth.JWTOptions{}, apiauth.JWTKey{Algorithm: "HS256", Key: testKeys.hmac})
	good := rawToken(t, header("HS256", ""), claimsJSON(nil), jwt.SigningMethodHS256, testKeys.hmac)
	var seen []string
	spy := apiauth.VerifierFunc(func(ctx context.Context, tok string) (*apiauth.Principal, error) {
		seen = append(seen, tok)
		return f.keys.Verify(ctx, tok)
	})
	const challenge = `Bearer realm="api", error="invalid_token", error_description="The access token or API key is invalid."`
	invalid := problemBody{Type: "about:blank", Title: "Unauthorized", Status: 401,
		Detail: "The access token or API key is invalid.", Instance: "/v1/me", Code: "invalid_token"}
	d1, d2 := strings.IndexByte(good, '.'), strings.LastIndexByte(good, '.')
	for name, h := range map[string]http.Handler{
		"API keys and JWTs": apiauth.Authenticate(spy, apiauth.WithJWT(v))(echo),
		"JWTs only":         apiauth.Authenticate(v)(echo),
	} {
		t.Run(name, func(t *testing.T) {
			do := func(tok string) *httptest.ResponseRecorder { return getMe(h, tok) }
			for range 2 { // the second time from the cache
				require.Equal(t, 200, do(good).Code)
			}
			for _, bad := range []string{
				good + "=",                         // a b64token, not base64url
				good + "==",                        // idem
				good[:d1] + "~" + good[d1:],        // a b64token character base64url lacks
				good[:d2+1] + "+/" + good[d2+1:],   // idem, in the signature
				good[:d1+1] + "," + good[d1+1:],    // not a b64token
				good + "\x00",                      // idem
				good[:d2] + "." + good[d2:],        // a fourth segment
				good[:len(good)-1] + "\xc3\xa9",    // non-ASCII
				"eyJhbGciOiJIUzI1NiJ9.e30=.AAAA",   // padding inside
				"eyJ{\"alg\":\"none\"}.e30.",       // JSON where base64url belongs
				"eyJhbGciOiJIUzI1NiJ9.e30.AAAA\tB", // tab inside
			} {
				assertProblem(t, do(bad), "GET", invalid, http.Header{"Www-Authenticate": {challenge}})
			}
		})
	}
	// Only JWT-shaped tokens skip the scan: the API-key verifier was asked
	// about the four-segment token (a b64token), never about the others.
	req := httptest.NewRequest("GET", "/v1/me", nil)
	req.Header.Set("Authorization", "Bearer abc,def")
	rr := httptest.NewRecorder()
	apiauth.Authenticate(spy, apiauth.WithJWT(v))(echo).ServeHTTP(rr, req)
	assertProblem(t, rr, "GET", invalid, http.Header{"Www-Authenticate": {challenge}})
	assert.Equal(t, []string{good[:d2] + "." + good[d2:]}, seen)
}

// A JOSE header with many members is refused before any costly work.
func TestJWTMemberCap(t *testing.T) {
	v := newTestVerifier(t, apiauth.JWTOptions{CacheSize: -1}, apiauth.JWTKey{Algorithm: "HS256", Key: testKeys.hmac})
	var b strings.Builder
	b.WriteString(`{"alg":"HS256","typ":"at+jwt"`)
	for i := 0; i < 100; i++ {
		fmt.Fprintf(&b, `,"m%d":0`, i)
	}
	b.WriteString("}")
	_, err := v.Verify(context.Background(), rawToken(t, b.String(), claimsJSON(nil), jwt.SigningMethodHS256, testKeys.hmac))
	assert.ErrorIs(t, err, apiauth.ErrMalformedToken)
}

// An issuer whose tokens name API keys needs the keys to check them:
// without JWTOptions.Keys, a token would outlive its key's revocation.
func TestJWTVerifierKeyIDsNeedKeys(t *testing.T) {
	set, err := apiauth.NewStaticKeys(apiauth.JWTKey{Algorithm: "HS256", Key: testKeys.hmac})
	require.NoError(t, err)
	_, err = apiauth.NewJWTVerifier(apiauth.JWTOptions{}, apiauth.JWTIssuer{Issuer: "https://a.test", Audience: "api", Keys: set, KeyIDs: true})
	assert.ErrorContains(t, err, "JWTOptions.Keys is required")
	_, err = apiauth.NewJWTVerifier(apiauth.JWTOptions{Keys: apiauth.NewMemoryKeys()}, apiauth.JWTIssuer{Issuer: "https://a.test", Audience: "api", Keys: set, KeyIDs: true})
	assert.NoError(t, err)
}

// An issuer with Profile requires every claim RFC 9068 §2.2 makes
// mandatory: sub, client_id, iat and jti (iss, exp and aud always are).
func TestJWTVerifierRFC9068Profile(t *testing.T) {
	set, err := apiauth.NewStaticKeys(apiauth.JWTKey{Algorithm: "HS256", Key: testKeys.hmac})
	require.NoError(t, err)
	v, err := apiauth.NewJWTVerifier(apiauth.JWTOptions{Now: func() time.Time { return jwtNow }, CacheSize: -1},
		apiauth.JWTIssuer{Issuer: testIssuer, Audience: testAudience, Keys: set, Profile: true})
	require.NoError(t, err)
	full := map[string]any{"client_id": "app-1", "jti": "id-1"}
	tok := func(over map[string]any) string {
		claims := map[string]any{}
		for k, val := range full {
			claims[k] = val
		}
		for k, val := range over {
			claims[k] = val
		}
		return rawToken(t, header("HS256", ""), claimsJSON(claims), jwt.SigningMethodHS256, testKeys.hmac)
	}
	_, err = v.Verify(context.Background(), tok(nil))
	require.NoError(t, err, "every required claim")
	for _, missing := range []string{"sub", "client_id", "iat", "jti"} {
		_, err := v.Verify(context.Background(), tok(map[string]any{missing: nil}))
		assert.ErrorIs(t, err, apiauth.ErrInvalidToken, missing)
	}
	_, err = v.Verify(context.Background(), tok(map[string]any{"jti": 7}))
	assert.ErrorIs(t, err, apiauth.ErrInvalidToken, "jti is a string (RFC 7519 §4.1.7)")
}
