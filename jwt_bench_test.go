package apiauth_test

import (
	"context"
	"testing"
	"time"

	"github.com/apiauth/apiauth"
	"github.com/golang-jwt/jwt/v5"
)

type benchAlg struct {
	name   string
	method jwt.SigningMethod
	sign   any
	verify any
}

func benchAlgs() []benchAlg {
	return []benchAlg{
		{"HS256", jwt.SigningMethodHS256, testKeys.hmac, testKeys.hmac},
		{"RS256", jwt.SigningMethodRS256, testKeys.rsa, &testKeys.rsa.PublicKey},
		{"ES256", jwt.SigningMethodES256, testKeys.ec, &testKeys.ec.PublicKey},
		{"EdDSA", jwt.SigningMethodEdDSA, testKeys.ed, testKeys.ed.Public()},
	}
}

// accessClaims are the claims the bare golang-jwt baseline decodes: the
// same ones the verifier reads.
type accessClaims struct {
	jwt.RegisteredClaims
	Scope  string `json:"scope"`
	Tenant string `json:"tenant"`
	Tier   string `json:"tier"`
}

// BenchmarkJWT compares the verifier through Authenticate (uncached and
// cached) with a bare jwt.ParseWithClaims doing the same checks with a
// pre-built parser: the practical limit.
func BenchmarkJWT(b *testing.B) {
	now := time.Now()
	claims := claimsJSON(map[string]any{"exp": now.Add(time.Hour).Unix(), "iat": now.Unix()})
	for _, a := range benchAlgs() {
		tok := rawToken(b, header(a.name, ""), claims, a.method, a.sign)
		key := apiauth.JWTKey{Algorithm: a.name, Key: a.verify}
		b.Run(a.name+"/layer-uncached", func(b *testing.B) {
			v := newTestVerifier(b, apiauth.JWTOptions{CacheSize: -1, Now: time.Now}, key)
			h := apiauth.Authenticate(v)(apiauth.RequireScope(apiauth.Read)(ok200))
			benchServe(b, h, authRequest(tok), 200)
		})
		b.Run(a.name+"/layer-cached", func(b *testing.B) {
			v := newTestVerifier(b, apiauth.JWTOptions{Now: time.Now}, key)
			h := apiauth.Authenticate(v)(apiauth.RequireScope(apiauth.Read)(ok200))
			benchServe(b, h, authRequest(tok), 200)
		})
		b.Run(a.name+"/bare-golang-jwt", func(b *testing.B) {
			p := jwt.NewParser(jwt.WithValidMethods([]string{a.name}), jwt.WithIssuer(testIssuer),
				jwt.WithAudience(testAudience), jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithLeeway(30*time.Second))
			kf := func(*jwt.Token) (any, error) { return a.verify, nil }
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				var c accessClaims
				if _, err := p.ParseWithClaims(tok, &c, kf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkJWTReject measures refusals: a bad HMAC signature (refused
// before the claims are decoded) and an expired RS256 token (refused before
// the signature is checked), each against bare golang-jwt.
func BenchmarkJWTReject(b *testing.B) {
	now := time.Now()
	badHS := rawToken(b, header("HS256", ""), claimsJSON(map[string]any{"exp": now.Add(time.Hour).Unix(), "iat": now.Unix()}),
		jwt.SigningMethodHS256, []byte("another-secret-of-thirty-two-byt"))
	expiredRS := rawToken(b, header("RS256", ""), claimsJSON(map[string]any{"exp": now.Add(-time.Hour).Unix(), "iat": now.Add(-2 * time.Hour).Unix()}),
		jwt.SigningMethodRS256, testKeys.rsa)
	for _, tc := range []struct {
		name, tok, alg string
		key            any
	}{
		{"HS256-bad-signature", badHS, "HS256", testKeys.hmac},
		{"RS256-expired", expiredRS, "RS256", &testKeys.rsa.PublicKey},
	} {
		b.Run(tc.name+"/verifier", func(b *testing.B) {
			v := newTestVerifier(b, apiauth.JWTOptions{CacheSize: -1, Now: time.Now}, apiauth.JWTKey{Algorithm: tc.alg, Key: tc.key})
			ctx := context.Background()
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := v.Verify(ctx, tc.tok); err == nil {
					b.Fatal("accepted")
				}
			}
		})
		b.Run(tc.name+"/layer", func(b *testing.B) {
			v := newTestVerifier(b, apiauth.JWTOptions{CacheSize: -1, Now: time.Now}, apiauth.JWTKey{Algorithm: tc.alg, Key: tc.key})
			benchServe(b, apiauth.Authenticate(v)(ok200), authRequest(tc.tok), 401)
		})
		b.Run(tc.name+"/bare-golang-jwt", func(b *testing.B) {
			p := jwt.NewParser(jwt.WithValidMethods([]string{tc.alg}), jwt.WithIssuer(testIssuer),
				jwt.WithAudience(testAudience), jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithLeeway(30*time.Second))
			kf := func(*jwt.Token) (any, error) { return tc.key, nil }
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				var c accessClaims
				if _, err := p.ParseWithClaims(tc.tok, &c, kf); err == nil {
					b.Fatal("accepted")
				}
			}
		})
	}
}
