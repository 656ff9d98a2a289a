package bench

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/apiauth/apiauth"
	"github.com/golang-jwt/jwt/v5"
)

const (
	issuer   = "https://idp.bench.test"
	audience = "api.bench.test"
	leeway   = 30 * time.Second
)

// discardWriter is a ResponseWriter that keeps nothing but a reusable header
// map, so that the in-process benchmarks measure the layers, not a recorder.
// Every row of a table uses it, the peers' included.
type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(s int)           { w.status = s }

// ok200 is the application handler behind every layer: it does nothing.
var ok200 = http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})

// serve checks that h answers req with wantStatus, then measures it.
func serve(b *testing.B, h http.Handler, req *http.Request, wantStatus int) {
	b.Helper()
	w := &discardWriter{h: make(http.Header)}
	h.ServeHTTP(w, req)
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if w.status != wantStatus {
		b.Fatalf("status %d, want %d (headers %v)", w.status, wantStatus, w.h)
	}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		w.status = 0
		h.ServeHTTP(w, req)
	}
}

// bearerRequest is a GET with the token as a bearer credential.
func bearerRequest(tok string) *http.Request {
	req := httptest.NewRequest(http.MethodGet, "/v1/orders", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	return req
}

// bearer is the header parse of the hand-written middlewares.
func bearer(r *http.Request) (string, bool) {
	auth := r.Header.Get("Authorization")
	if len(auth) < 8 || !strings.EqualFold(auth[:7], "Bearer ") {
		return "", false
	}
	return auth[7:], true
}

// unauthorized is the refusal of the hand-written middlewares: a status
// and a challenge, no body.
func unauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
	w.WriteHeader(http.StatusUnauthorized)
}

// hasScope reports whether the space-separated scope claim holds want.
func hasScope(scope, want string) bool {
	for scope != "" {
		var s string
		s, scope, _ = strings.Cut(scope, " ")
		if s == want {
			return true
		}
	}
	return false
}

// ---- API keys ----

// apiKeys is a MemoryKeys holding the benchmark's key among 1,000 others,
// as in a real deployment, and a map with the same key for the minimal
// middleware.
type apiKeys struct {
	keys *apiauth.Keys
	key  string
	m    map[[32]byte]*apiauth.Principal
}

func newAPIKeys(b *testing.B) *apiKeys {
	b.Helper()
	ctx := context.Background()
	keys := apiauth.NewMemoryKeys()
	spec := apiauth.KeySpec{Subject: "user-1", Tenant: "acme", Tier: "pro", Scopes: []apiauth.Scope{apiauth.Write}}
	key, rec, err := keys.Create(ctx, spec)
	if err != nil {
		b.Fatal(err)
	}
	m := map[[32]byte]*apiauth.Principal{sha256.Sum256([]byte(key)): &rec.Principal}
	for i := 0; i < 1000; i++ {
		k, rec, err := keys.Create(ctx, apiauth.KeySpec{Subject: "other", Tenant: "acme"})
		if err != nil {
			b.Fatal(err)
		}
		m[sha256.Sum256([]byte(k))] = &rec.Principal
	}
	return &apiKeys{keys: keys, key: key, m: m}
}

type principalKey struct{}

// minimalAPIKey is the practical limit of an API-key layer: parse the
// header, hash the key, look it up in a map, check the scope, store the
// principal in the context. It has none of the library's checks (key
// format and checksum, revocation, expiry, constant-time compare, a
// problem body on refusal) and no store interface.
func minimalAPIKey(m map[[32]byte]*apiauth.Principal, scope apiauth.Scope) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			tok, ok := bearer(r)
			if !ok {
				unauthorized(w)
				return
			}
			p := m[sha256.Sum256([]byte(tok))]
			if p == nil || !p.HasScope(scope) {
				unauthorized(w)
				return
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
		})
	}
}

// ---- JWT ----

// jwtAlg is one algorithm with its keys and tokens.
type jwtAlg struct {
	name   string
	method jwt.SigningMethod
	sign   any // private key
	verify any // public key (the secret for HMAC)
	other  any // another private key, to forge a bad signature
	good   string
	bad    string
}

// algs are made once: RSA key generation is slow.
var algs = func() []*jwtAlg {
	rsa1, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsa2, _ := rsa.GenerateKey(rand.Reader, 2048)
	ec1, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ec2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, ed1, _ := ed25519.GenerateKey(rand.Reader)
	_, ed2, _ := ed25519.GenerateKey(rand.Reader)
	hs1 := []byte("0123456789abcdef0123456789abcdef")
	hs2 := []byte("another-secret-of-thirty-two-byt")
	as := []*jwtAlg{
		{name: "HS256", method: jwt.SigningMethodHS256, sign: hs1, verify: hs1, other: hs2},
		{name: "RS256", method: jwt.SigningMethodRS256, sign: rsa1, verify: &rsa1.PublicKey, other: rsa2},
		{name: "ES256", method: jwt.SigningMethodES256, sign: ec1, verify: &ec1.PublicKey, other: ec2},
		{name: "EdDSA", method: jwt.SigningMethodEdDSA, sign: ed1, verify: ed1.Public(), other: ed2},
	}
	for _, a := range as {
		a.good = signToken(a.method, a.sign)
		a.bad = signToken(a.method, a.other)
	}
	return as
}()

// signToken makes an RFC 9068 access token valid for an hour: the same
// token for every implementation.
func signToken(m jwt.SigningMethod, key any) string {
	now := time.Now()
	t := jwt.NewWithClaims(m, jwt.MapClaims{
		"iss":    issuer,
		"sub":    "user-1",
		"aud":    audience,
		"exp":    now.Add(time.Hour).Unix(),
		"iat":    now.Unix(),
		"scope":  "read write",
		"tenant": "acme",
		"tier":   "pro",
	})
	t.Header["typ"] = "at+jwt"
	s, err := t.SignedString(key)
	if err != nil {
		panic(err)
	}
	return s
}

// apiauthJWT is the library's verifier for one algorithm; cacheSize -1
// disables the verified-token cache, 0 keeps the default.
func apiauthJWT(b *testing.B, a *jwtAlg, cacheSize int) *apiauth.JWTVerifier {
	b.Helper()
	keys, err := apiauth.NewStaticKeys(apiauth.JWTKey{Algorithm: a.name, Key: a.verify})
	if err != nil {
		b.Fatal(err)
	}
	v, err := apiauth.NewJWTVerifier(apiauth.JWTOptions{CacheSize: cacheSize, Leeway: leeway},
		apiauth.JWTIssuer{Issuer: issuer, Audience: audience, Keys: keys})
	if err != nil {
		b.Fatal(err)
	}
	return v
}
