package apiauth_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apiauth/apiauth"
	"github.com/apiauth/apiauth/oauth"
	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// More keys for JWKS tests, made once.
var jwksKeys = func() (k struct{ b, p521 *ecdsa.PrivateKey }) {
	var err error
	if k.b, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		panic(err)
	}
	if k.p521, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader); err != nil {
		panic(err)
	}
	return k
}()

// maxJWKS is the documented cap of a JWK Set, 1 MiB.
const maxJWKS = 1 << 20

var (
	keyA = apiauth.JWTKey{ID: "a", Algorithm: "ES256", Key: &testKeys.ec.PublicKey}
	keyB = apiauth.JWTKey{ID: "b", Algorithm: "ES256", Key: &jwksKeys.b.PublicKey}
)

// tokenFor returns a valid ES256 token naming kid, signed with priv.
func tokenFor(t testing.TB, kid string, priv *ecdsa.PrivateKey) string {
	return rawToken(t, header("ES256", kid), claimsJSON(nil), jwt.SigningMethodES256, priv)
}

// fakeClock is a clock the test moves.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: jwtNow} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// idp is an identity provider's JWKS endpoint on loopback whose set,
// status and Cache-Control a test changes, and which counts requests.
type idp struct {
	*httptest.Server
	mu           sync.Mutex
	body         []byte
	status       int
	cacheControl string
	gate         chan struct{} // when set, requests wait for it to close
	requests     atomic.Int32
	hits         chan string // the Accept header of each request
}

func newIDP(t *testing.T, keys ...apiauth.JWTKey) *idp {
	p := &idp{status: http.StatusOK, hits: make(chan string, 1000)}
	p.publish(t, keys...)
	p.Server = httptest.NewServer(p)
	t.Cleanup(p.Close)
	return p
}

func (p *idp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.requests.Add(1)
	p.hits <- r.Header.Get("Accept")
	p.mu.Lock()
	body, status, cc, gate := p.body, p.status, p.cacheControl, p.gate
	p.mu.Unlock()
	if gate != nil {
		<-gate
	}
	if cc != "" {
		w.Header().Set("Cache-Control", cc)
	}
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func (p *idp) publish(t testing.TB, keys ...apiauth.JWTKey) {
	t.Helper()
	body, err := oauth.MarshalJWKS(keys...)
	require.NoError(t, err)
	p.set(func() { p.body, p.status = body, http.StatusOK })
}

func (p *idp) set(f func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f()
}

// waitHit waits for the next request to reach the server.
func (p *idp) waitHit(t testing.TB) {
	t.Helper()
	select {
	case <-p.hits:
	case <-time.After(5 * time.Second):
		t.Fatal("no request reached the identity provider")
	}
}

// newTestJWKS returns a JWKS on url whose background refresh never runs,
// so that every fetch in the test is one the test caused.
func newTestJWKS(t testing.TB, url string, opts apiauth.JWKSOptions) *apiauth.JWKS {
	t.Helper()
	j, err := apiauth.NewJWKSWithTimer(url, opts, func(time.Duration) <-chan time.Time { return nil })
	require.NoError(t, err)
	t.Cleanup(func() { _ = j.Close() })
	return j
}

func jwksVerifier(t testing.TB, set apiauth.KeySet) *apiauth.JWTVerifier {
	t.Helper()
	v, err := apiauth.NewJWTVerifier(apiauth.JWTOptions{CacheSize: -1, Now: func() time.Time { return jwtNow }},
		apiauth.JWTIssuer{Issuer: testIssuer, Audience: testAudience, Keys: set})
	require.NoError(t, err)
	return v
}

// jwkOf returns k as a JWK object to modify.
func jwkOf(t testing.TB, k apiauth.JWTKey) map[string]any {
	t.Helper()
	data, err := oauth.MarshalJWKS(k)
	require.NoError(t, err)
	var set struct{ Keys []map[string]any }
	require.NoError(t, json.Unmarshal(data, &set))
	require.Len(t, set.Keys, 1)
	return set.Keys[0]
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func TestParseJWKSKeys(t *testing.T) {
	rsaPub := &testKeys.rsa.PublicKey
	rsaJWK := func(over map[string]any) map[string]any {
		m := jwkOf(t, apiauth.JWTKey{ID: "k", Algorithm: "RS256", Key: rsaPub})
		delete(m, "alg")
		for k, v := range over {
			if v == nil {
				delete(m, k)
			} else {
				m[k] = v
			}
		}
		return m
	}
	with := func(k apiauth.JWTKey, over map[string]any) map[string]any {
		m := jwkOf(t, apiauth.JWTKey{ID: "k", Algorithm: k.Algorithm, Key: k.Key})
		for k, v := range over {
			if v == nil {
				delete(m, k)
			} else {
				m[k] = v
			}
		}
		return m
	}
	ec := apiauth.JWTKey{Algorithm: "ES256", Key: &testKeys.ec.PublicKey}
	ed := apiauth.JWTKey{Algorithm: "EdDSA", Key: testKeys.ed.Public()}
	ecJWK := with(ec, nil)
	y, err := base64.RawURLEncoding.DecodeString(ecJWK["y"].(string))
	require.NoError(t, err)
	y[len(y)-1] ^= 1
	offCurve := b64(y)
	short := make([]byte, 128) // a 1024-bit modulus
	_, _ = rand.Read(short)
	short[0] |= 0x80
	short[127] |= 1

	tests := []struct {
		name string
		jwk  any    // a JWK, marshaled, or raw JSON text
		alg  string // "" when the key must be skipped
		key  crypto.PublicKey
	}{
		{"RSA without alg is RS256", rsaJWK(nil), "RS256", rsaPub},
		{"RSA PS256", rsaJWK(map[string]any{"alg": "PS256"}), "PS256", rsaPub},
		{"RSA RS512", rsaJWK(map[string]any{"alg": "RS512"}), "RS512", rsaPub},
		{"RSA use sig", rsaJWK(map[string]any{"use": "sig"}), "RS256", rsaPub},
		{"RSA key_ops verify", rsaJWK(map[string]any{"key_ops": []string{"verify"}}), "RS256", rsaPub},
		{"RSA padded base64", rsaJWK(map[string]any{"e": "AQAB===="}), "RS256", rsaPub},
		{"RSA with alg ES256", rsaJWK(map[string]any{"alg": "ES256"}), "", nil},
		{"RSA with alg HS256", rsaJWK(map[string]any{"alg": "HS256"}), "", nil},
		{"RSA with alg none", rsaJWK(map[string]any{"alg": "none"}), "", nil},
		{"RSA 1024 bits", rsaJWK(map[string]any{"n": b64(short)}), "", nil},
		{"RSA exponent 1", rsaJWK(map[string]any{"e": "AQ"}), "", nil},
		{"RSA even exponent", rsaJWK(map[string]any{"e": "AQAA"}), "", nil},
		{"RSA exponent too large", rsaJWK(map[string]any{"e": "AQAAAAAB"}), "", nil},
		{"RSA no n", rsaJWK(map[string]any{"n": nil}), "", nil},
		{"RSA n not base64url", rsaJWK(map[string]any{"n": "!!!!"}), "", nil},
		{"RSA n a number", rsaJWK(map[string]any{"n": 12345}), "", nil},
		{"use enc", rsaJWK(map[string]any{"use": "enc"}), "", nil},
		{"use not a string", rsaJWK(map[string]any{"use": true}), "", nil},
		{"key_ops without verify", rsaJWK(map[string]any{"key_ops": []string{"sign", "encrypt"}}), "", nil},
		{"key_ops not an array", rsaJWK(map[string]any{"key_ops": "verify"}), "", nil},
		{"private RSA key", rsaJWK(map[string]any{"d": "AQAB", "p": "AQAB"}), "", nil},
		{"EC P-256 without alg", with(ec, map[string]any{"alg": nil}), "ES256", &testKeys.ec.PublicKey},
		{"EC P-256", with(ec, nil), "ES256", &testKeys.ec.PublicKey},
		{"EC P-384", with(apiauth.JWTKey{Algorithm: "ES384", Key: &testKeys.ec384.PublicKey}, map[string]any{"alg": nil}), "ES384", &testKeys.ec384.PublicKey},
		{"EC P-521", with(apiauth.JWTKey{Algorithm: "ES512", Key: &jwksKeys.p521.PublicKey}, nil), "ES512", &jwksKeys.p521.PublicKey},
		{"EC P-256 with alg ES384", with(ec, map[string]any{"alg": "ES384"}), "", nil},
		{"EC P-256 with alg RS256", with(ec, map[string]any{"alg": "RS256"}), "", nil},
		{"EC P-256 with alg ES256K", with(ec, map[string]any{"alg": "ES256K"}), "", nil},
		{"EC point off the curve", with(ec, map[string]any{"y": offCurve}), "", nil},
		{"EC point at zero", with(ec, map[string]any{"x": b64(make([]byte, 32)), "y": b64(make([]byte, 32))}), "", nil},
		{"EC coordinate too long", with(ec, map[string]any{"x": b64(append([]byte{0}, make([]byte, 32)...))}), "", nil},
		{"EC no y", with(ec, map[string]any{"y": nil}), "", nil},
		{"EC secp256k1", with(ec, map[string]any{"crv": "secp256k1", "alg": nil}), "", nil},
		{"EC no crv", with(ec, map[string]any{"crv": nil}), "", nil},
		{"private EC key", with(ec, map[string]any{"d": b64(testKeys.ec.D.Bytes())}), "", nil},
		{"Ed25519", with(ed, nil), "EdDSA", testKeys.ed.Public()},
		{"Ed25519 without alg", with(ed, map[string]any{"alg": nil}), "EdDSA", testKeys.ed.Public()},
		{"Ed25519 with alg ES256", with(ed, map[string]any{"alg": "ES256"}), "", nil},
		{"Ed25519 with alg Ed25519", with(ed, map[string]any{"alg": "Ed25519"}), "", nil},
		{"OKP X25519", with(ed, map[string]any{"crv": "X25519", "alg": nil}), "", nil},
		{"Ed25519 of 31 bytes", with(ed, map[string]any{"x": b64(make([]byte, 31))}), "", nil},
		{"private Ed25519 key", with(ed, map[string]any{"d": b64(testKeys.ed.Seed())}), "", nil},
		{"symmetric key", map[string]any{"kty": "oct", "kid": "k", "alg": "HS256", "k": b64(testKeys.hmac)}, "", nil},
		{"symmetric key without alg", map[string]any{"kty": "oct", "kid": "k", "k": b64(testKeys.hmac)}, "", nil},
		{"unknown kty", map[string]any{"kty": "XYZ", "kid": "k"}, "", nil},
		{"kty in lower case", with(ec, map[string]any{"kty": "ec"}), "", nil},
		{"no kty", with(ec, map[string]any{"kty": nil}), "", nil},
		{"KTY in capitals", with(ec, map[string]any{"kty": nil, "KTY": "EC"}), "", nil},
		{"kid not a string", with(ec, map[string]any{"kid": 5}), "", nil},
		{"not an object", `"EC"`, "", nil},
		{"null", `null`, "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw, ok := tc.jwk.(string)
			if !ok {
				b, err := json.Marshal(tc.jwk)
				require.NoError(t, err)
				raw = string(b)
			}
			keys, err := apiauth.ParseJWKS([]byte(`{"keys":[` + raw + `]}`))
			require.NoError(t, err, "a bad key is skipped, not an error")
			if tc.alg == "" {
				assert.Empty(t, keys, "the key must be skipped")
				return
			}
			require.Len(t, keys, 1)
			assert.Equal(t, "k", keys[0].ID)
			assert.Equal(t, tc.alg, keys[0].Algorithm)
			assert.True(t, tc.key.(interface{ Equal(crypto.PublicKey) bool }).Equal(keys[0].Key), "same public key")
		})
	}
}

func TestParseJWKSSet(t *testing.T) {
	for _, bad := range []string{``, `not json`, `[]`, `{}`, `{"keys":null}`, `{"keys":{}}`, `{"keys":"a"}`, `{"Keys":[]}`, `{"keys":[]} {}`} {
		_, err := apiauth.ParseJWKS([]byte(bad))
		assert.Error(t, err, "%q", bad)
	}
	keys, err := apiauth.ParseJWKS([]byte(`{"keys":[]}`))
	require.NoError(t, err)
	assert.Empty(t, keys)

	// Bad keys are skipped, the good ones kept in order; unknown members
	// are ignored.
	good, err := oauth.MarshalJWKS(keyA, keyB)
	require.NoError(t, err)
	doc := strings.Replace(string(good), `{"keys":[`, `{"other":1,"keys":[{"kty":"oct","k":"c2VjcmV0"},{"kty":"XYZ"},`, 1)
	keys, err = apiauth.ParseJWKS([]byte(doc))
	require.NoError(t, err)
	require.Len(t, keys, 2)
	assert.Equal(t, "a", keys[0].ID)
	assert.Equal(t, "b", keys[1].ID)

	// Two keys with one kid: neither can be chosen, both are skipped; the
	// other keys keep working.
	a2 := jwkOf(t, apiauth.JWTKey{ID: "a", Algorithm: "ES256", Key: &jwksKeys.b.PublicKey})
	a2JSON, err := json.Marshal(a2)
	require.NoError(t, err)
	doc = strings.Replace(string(good), `{"keys":[`, `{"keys":[`+string(a2JSON)+`,`, 1)
	keys, err = apiauth.ParseJWKS([]byte(doc))
	require.NoError(t, err)
	require.Len(t, keys, 1)
	assert.Equal(t, "b", keys[0].ID)
}

func TestMarshalJWKSRoundTrip(t *testing.T) {
	in := []apiauth.JWTKey{
		{ID: "rs", Algorithm: "RS256", Key: testKeys.rsa}, // private keys publish their public half
		{ID: "ps", Algorithm: "PS256", Key: &testKeys.rsa.PublicKey},
		{ID: "es", Algorithm: "ES256", Key: testKeys.ec},
		{ID: "es384", Algorithm: "ES384", Key: &testKeys.ec384.PublicKey},
		{ID: "es512", Algorithm: "ES512", Key: jwksKeys.p521},
		{ID: "ed", Algorithm: "EdDSA", Key: testKeys.ed},
	}
	data, err := oauth.MarshalJWKS(in...)
	require.NoError(t, err)

	var raw struct{ Keys []map[string]any }
	require.NoError(t, json.Unmarshal(data, &raw))
	require.Len(t, raw.Keys, len(in))
	wantKty := map[string]string{"rs": "RSA", "ps": "RSA", "es": "EC", "es384": "EC", "es512": "EC", "ed": "OKP"}
	for _, k := range raw.Keys {
		id := k["kid"].(string)
		assert.Equal(t, wantKty[id], k["kty"], id)
		assert.Equal(t, "sig", k["use"], id)
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"} {
			assert.NotContains(t, k, private, "%s publishes private member %q", id, private)
		}
	}

	out, err := apiauth.ParseJWKS(data)
	require.NoError(t, err)
	require.Len(t, out, len(in))
	for i, k := range out {
		assert.Equal(t, in[i].ID, k.ID)
		assert.Equal(t, in[i].Algorithm, k.Algorithm)
		var pub crypto.PublicKey = in[i].Key
		if s, ok := pub.(crypto.Signer); ok {
			pub = s.Public()
		}
		assert.True(t, pub.(interface{ Equal(crypto.PublicKey) bool }).Equal(k.Key), "key %s", k.ID)
	}

	// A token signed with a private key verifies with the published set.
	set, err := apiauth.NewStaticKeys(out...)
	require.NoError(t, err)
	_, err = jwksVerifier(t, set).Verify(context.Background(), rawToken(t, header("EdDSA", "ed"), claimsJSON(nil), jwt.SigningMethodEdDSA, testKeys.ed))
	require.NoError(t, err)

	// One key needs no kid.
	data, err = oauth.MarshalJWKS(apiauth.JWTKey{Algorithm: "ES256", Key: &testKeys.ec.PublicKey})
	require.NoError(t, err)
	assert.NotContains(t, string(data), "kid")
	data, err = oauth.MarshalJWKS()
	require.NoError(t, err)
	assert.JSONEq(t, `{"keys":[]}`, string(data))
}

func TestMarshalJWKSRefuses(t *testing.T) {
	for name, keys := range map[string][]apiauth.JWTKey{
		"HMAC secret":            {{ID: "hs", Algorithm: "HS256", Key: testKeys.hmac}},
		"HMAC next to a pub key": {keyA, {ID: "hs", Algorithm: "HS256", Key: testKeys.hmac}},
		"duplicate kid":          {keyA, {ID: "a", Algorithm: "ES256", Key: &jwksKeys.b.PublicKey}},
		"missing kid of several": {keyA, {Algorithm: "ES256", Key: &jwksKeys.b.PublicKey}},
		"key not the alg's":      {{ID: "x", Algorithm: "RS256", Key: &testKeys.ec.PublicKey}},
		"alg none":               {{ID: "x", Algorithm: "none", Key: &testKeys.ec.PublicKey}},
	} {
		data, err := oauth.MarshalJWKS(keys...)
		assert.Error(t, err, name)
		assert.Nil(t, data, name)
		if err != nil {
			assert.NotContains(t, err.Error(), string(testKeys.hmac), "no secret in the error")
		}
	}
}

func TestNewJWKSURLRules(t *testing.T) {
	for _, tc := range []struct {
		url string
		ok  bool
	}{
		{"https://idp.example.com/.well-known/jwks.json", true},
		{"HTTPS://idp.example.com/jwks", true},
		{"https://10.0.0.1:8443/jwks", true},
		{"http://127.0.0.1:8080/jwks", true},
		{"http://127.9.8.7/jwks", true},
		{"http://[::1]:8080/jwks", true},
		{"http://localhost:8080/jwks", true},
		{"http://LocalHost/jwks", true},
		{"http://idp.example.com/jwks", false},
		{"http://10.0.0.1/jwks", false},
		{"http://0.0.0.0/jwks", false},
		{"http://localhost.evil.test/jwks", false},
		{"http://127.0.0.1.nip.io/jwks", false},
		{"http://[::ffff:10.0.0.1]/jwks", false},
		{"ftp://idp.example.com/jwks", false},
		{"file:///etc/jwks.json", false},
		{"//idp.example.com/jwks", false},
		{"/jwks", false},
		{"https:///jwks", false},
		{"https://user:secret@idp.example.com/jwks", false},
		{"", false},
		{"https://idp.example.com/%zz", false},
	} {
		j, err := apiauth.NewJWKS(tc.url, apiauth.JWKSOptions{})
		if tc.ok {
			if assert.NoError(t, err, tc.url) {
				assert.NoError(t, j.Close())
			}
		} else {
			assert.Error(t, err, tc.url)
			if err != nil {
				assert.NotContains(t, err.Error(), "secret", "no credentials in the error")
			}
		}
	}
	for _, opts := range []apiauth.JWKSOptions{
		{MinRefresh: 2 * time.Hour},
		{MinRefresh: time.Hour, MaxRefresh: time.Minute},
		{MinRefresh: -time.Second},
		{MinFetchInterval: -time.Second},
	} {
		_, err := apiauth.NewJWKS("https://idp.example.com/jwks", opts)
		assert.Error(t, err, "%+v", opts)
	}
}

func TestJWKSFetchesLazily(t *testing.T) {
	p := newIDP(t, keyA)
	j := newTestJWKS(t, p.URL, apiauth.JWKSOptions{Now: newFakeClock().Now})
	assert.Zero(t, p.requests.Load(), "NewJWKS fetches nothing")
	k, err := j.JWTKey(context.Background(), "a")
	require.NoError(t, err)
	assert.Equal(t, "ES256", k.Algorithm)
	assert.Equal(t, int32(1), p.requests.Load())
	assert.Equal(t, "application/jwk-set+json, application/json", <-p.hits)
	_, err = jwksVerifier(t, j).Verify(context.Background(), tokenFor(t, "a", testKeys.ec))
	require.NoError(t, err)
	assert.Equal(t, int32(1), p.requests.Load(), "a known key needs no fetch")
}

func TestJWKSOverTLS(t *testing.T) {
	body, err := oauth.MarshalJWKS(keyA)
	require.NoError(t, err)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(body) }))
	defer srv.Close()
	require.True(t, strings.HasPrefix(srv.URL, "https://"))

	j, err := apiauth.NewJWKS(srv.URL, apiauth.JWKSOptions{Client: srv.Client()})
	require.NoError(t, err)
	defer j.Close()
	require.NoError(t, j.Refresh(context.Background()))
	_, err = jwksVerifier(t, j).Verify(context.Background(), tokenFor(t, "a", testKeys.ec))
	require.NoError(t, err)

	// The default client checks certificates: the test server's is not
	// trusted, which is an outage (503), not a bad token.
	def, err := apiauth.NewJWKS(srv.URL, apiauth.JWKSOptions{})
	require.NoError(t, err)
	defer def.Close()
	_, err = def.JWTKey(context.Background(), "a")
	require.Error(t, err)
	assert.ErrorIs(t, err, apiauth.ErrJWKSUnavailable)
	assert.NotErrorIs(t, err, apiauth.ErrInvalidToken)
}

func TestJWKSRedirects(t *testing.T) {
	body, err := oauth.MarshalJWKS(keyA)
	require.NoError(t, err)
	var other atomic.Int32
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		other.Add(1)
		_, _ = w.Write(body)
	}))
	defer elsewhere.Close()
	otherHost := strings.Replace(elsewhere.URL, "127.0.0.1", "localhost", 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/jwks":
			_, _ = w.Write(body)
		case "/moved":
			http.Redirect(w, r, "/jwks", http.StatusFound)
		case "/away":
			http.Redirect(w, r, otherHost+"/jwks", http.StatusFound)
		case "/loop":
			http.Redirect(w, r, "/loop", http.StatusFound)
		}
	}))
	defer srv.Close()

	for path, ok := range map[string]bool{"/moved": true, "/away": false, "/loop": false} {
		j := newTestJWKS(t, srv.URL+path, apiauth.JWKSOptions{})
		err := j.Refresh(context.Background())
		if ok {
			assert.NoError(t, err, path)
		} else {
			assert.ErrorIs(t, err, apiauth.ErrJWKSUnavailable, path)
		}
	}
	assert.Zero(t, other.Load(), "a redirect to another host is never followed")

	// A client's own redirect policy still applies after the library's.
	j := newTestJWKS(t, srv.URL+"/moved", apiauth.JWKSOptions{Client: &http.Client{
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}})
	assert.ErrorIs(t, j.Refresh(context.Background()), apiauth.ErrJWKSUnavailable, "a 302 is not a JWK Set")
}

// TestJWKSRedirectToAnotherPort checks that a redirect keeps the origin:
// another port of the same loopback host is another server, and a key set
// it serves must never be taken for the configured one.
func TestJWKSRedirectToAnotherPort(t *testing.T) {
	rogue := newIDP(t, keyB)
	require.True(t, strings.HasPrefix(rogue.URL, "http://127.0.0.1:"))
	p := newIDP(t, keyA)
	require.NotEqual(t, p.URL, rogue.URL)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/other-port":
			http.Redirect(w, r, rogue.URL+"/jwks", http.StatusFound)
		case "/default-port": // http://127.0.0.1/ is port 80, not this one
			http.Redirect(w, r, "http://127.0.0.1/jwks", http.StatusFound)
		case "/explicit-port": // the same origin, spelt with its port
			http.Redirect(w, r, "http://"+r.Host+"/jwks", http.StatusFound)
		case "/jwks":
			p.ServeHTTP(w, r)
		}
	}))
	defer srv.Close()

	j := newTestJWKS(t, srv.URL+"/other-port", apiauth.JWKSOptions{})
	err := j.Refresh(context.Background())
	require.Error(t, err, "a redirect to another port must be refused")
	assert.ErrorIs(t, err, apiauth.ErrJWKSUnavailable)
	assert.Zero(t, rogue.requests.Load(), "the server on the other port is never asked")
	_, err = jwksVerifier(t, j).Verify(context.Background(), tokenFor(t, "b", jwksKeys.b))
	require.Error(t, err, "a key from the other port must never verify")

	j = newTestJWKS(t, srv.URL+"/default-port", apiauth.JWKSOptions{})
	assert.ErrorIs(t, j.Refresh(context.Background()), apiauth.ErrJWKSUnavailable)

	j = newTestJWKS(t, srv.URL+"/explicit-port", apiauth.JWKSOptions{})
	require.NoError(t, j.Refresh(context.Background()))
	_, err = jwksVerifier(t, j).Verify(context.Background(), tokenFor(t, "a", testKeys.ec))
	require.NoError(t, err)
}

func TestJWKSBodyCap(t *testing.T) {
	set, err := oauth.MarshalJWKS(keyA)
	require.NoError(t, err)
	padded := func(n int) []byte { return append(append([]byte(nil), set...), strings.Repeat(" ", n-len(set))...) }
	for _, tc := range []struct {
		name   string
		body   []byte
		length bool // declare Content-Length
		ok     bool
	}{
		{"exactly 1 MiB", padded(maxJWKS), false, true},
		{"1 MiB and a byte, chunked", padded(maxJWKS + 1), false, false},
		{"1 MiB and a byte, declared", padded(maxJWKS + 1), true, false},
		{"10 MiB", padded(10 * maxJWKS), false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				if tc.length {
					w.Header().Set("Content-Length", fmt.Sprint(len(tc.body)))
				}
				_, _ = w.Write(tc.body)
			}))
			defer srv.Close()
			j := newTestJWKS(t, srv.URL, apiauth.JWKSOptions{})
			err := j.Refresh(context.Background())
			if tc.ok {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.ErrorIs(t, err, apiauth.ErrJWKSUnavailable)
			assert.Contains(t, err.Error(), "cap")
			_, err = j.JWTKey(context.Background(), "a")
			assert.NotErrorIs(t, err, apiauth.ErrInvalidToken)
		})
	}
}

func TestJWKSCacheControl(t *testing.T) {
	for _, tc := range []struct {
		cc       string
		min, max time.Duration
		want     time.Duration
	}{
		{"max-age=300", 0, 0, 5 * time.Minute},
		{"public, max-age=1800", 0, 0, 30 * time.Minute},
		{"max-age=5", 0, 0, time.Minute},   // clamped up to MinRefresh
		{"max-age=86400", 0, 0, time.Hour}, // clamped down to MaxRefresh
		{"no-store", 0, 0, time.Minute},    // MinRefresh
		{"", 0, 0, time.Hour},              // nothing said: MaxRefresh
		{"max-age=junk", 0, 0, time.Hour},  // nothing usable said
		{"max-age=60", 2 * time.Minute, 10 * time.Minute, 2 * time.Minute},
		{"max-age=3600", 2 * time.Minute, 10 * time.Minute, 10 * time.Minute},
		{"max-age=300", 2 * time.Minute, 10 * time.Minute, 5 * time.Minute},
	} {
		p := newIDP(t, keyA)
		p.set(func() { p.cacheControl = tc.cc })
		clock := newFakeClock()
		j := newTestJWKS(t, p.URL, apiauth.JWKSOptions{Now: clock.Now, MinRefresh: tc.min, MaxRefresh: tc.max})
		require.NoError(t, j.Refresh(context.Background()))
		assert.Equal(t, tc.want, apiauth.JWKSExpiry(j).Sub(clock.Now()), "Cache-Control %q, clamps %v..%v", tc.cc, tc.min, tc.max)
	}
}

func TestJWKSBackgroundRefresh(t *testing.T) {
	p := newIDP(t, keyA)
	p.set(func() { p.cacheControl = "max-age=600" })
	clock := newFakeClock()
	asked := make(chan time.Duration, 100)
	fire := make(chan time.Time)
	j, err := apiauth.NewJWKSWithTimer(p.URL, apiauth.JWKSOptions{Now: clock.Now}, func(d time.Duration) <-chan time.Time {
		asked <- d
		return fire
	})
	require.NoError(t, err)
	// waitAsked waits until the loop schedules a refresh in want.
	waitAsked := func(want time.Duration) {
		t.Helper()
		deadline := time.After(5 * time.Second)
		for {
			select {
			case d := <-asked:
				if d == want {
					return
				}
			case <-deadline:
				t.Fatalf("the refresh loop never waited %v", want)
			}
		}
	}
	require.NoError(t, j.Refresh(context.Background()))
	p.waitHit(t)
	waitAsked(450 * time.Second) // three quarters of max-age

	clock.Advance(450 * time.Second)
	fire <- clock.Now()
	p.waitHit(t)
	waitAsked(450 * time.Second)

	// The identity provider fails: retries come after 10 s, then 20 s,
	// 40 s, then every minute; the known key keeps verifying.
	p.set(func() { p.status = http.StatusInternalServerError })
	for _, backoff := range []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second, time.Minute, time.Minute} {
		clock.Advance(time.Minute)
		fire <- clock.Now()
		p.waitHit(t)
		waitAsked(backoff)
		_, err := j.JWTKey(context.Background(), "a")
		require.NoError(t, err)
	}

	// It recovers, and the next refresh is scheduled from the new set.
	p.publish(t, keyA, keyB)
	fire <- clock.Now()
	p.waitHit(t)
	waitAsked(450 * time.Second)
	n := p.requests.Load()
	_, err = j.JWTKey(context.Background(), "b")
	require.NoError(t, err, "the background refresh brought the new key")
	assert.Equal(t, n, p.requests.Load())

	require.NoError(t, j.Close())
	require.NoError(t, j.Close(), "Close twice")
	select {
	case fire <- clock.Now():
		t.Fatal("the refresh loop still runs after Close")
	case <-time.After(50 * time.Millisecond):
	}
}

func TestJWKSWakesLateRefresh(t *testing.T) {
	p := newIDP(t, keyA)
	p.set(func() { p.cacheControl = "max-age=600" })
	clock := newFakeClock()
	asked := make(chan time.Duration, 100)
	fire := make(chan time.Time, 1)
	j, err := apiauth.NewJWKSWithTimer(p.URL, apiauth.JWKSOptions{Now: clock.Now}, func(d time.Duration) <-chan time.Time {
		asked <- d
		if d == 0 {
			select { // due now: fires at once, as time.After(0) would
			case fire <- time.Time{}:
			default:
			}
		}
		return fire
	})
	require.NoError(t, err)
	defer j.Close()
	require.NoError(t, j.Refresh(context.Background()))
	p.waitHit(t)

	// The timer did not fire (the process slept): the first lookup after
	// the refresh was due is answered at once and wakes the loop.
	clock.Advance(500 * time.Second)
	_, err = j.JWTKey(context.Background(), "a")
	require.NoError(t, err)
	p.waitHit(t)
}

func TestJWKSRotation(t *testing.T) {
	p := newIDP(t, keyA)
	clock := newFakeClock()
	j := newTestJWKS(t, p.URL, apiauth.JWKSOptions{Now: clock.Now})
	v := jwksVerifier(t, j)
	ctx := context.Background()
	tokA, tokB := tokenFor(t, "a", testKeys.ec), tokenFor(t, "b", jwksKeys.b)

	_, err := v.Verify(ctx, tokA)
	require.NoError(t, err)
	require.Equal(t, int32(1), p.requests.Load())

	// The identity provider adds b. Within the fetch interval of the last
	// fetch an unknown kid is refused without fetching.
	p.publish(t, keyA, keyB)
	clock.Advance(time.Second)
	_, err = v.Verify(ctx, tokB)
	assert.ErrorIs(t, err, apiauth.ErrUnknownKey)
	assert.Equal(t, int32(1), p.requests.Load())

	// After it, the token with the new kid causes one refresh and verifies.
	clock.Advance(10 * time.Second)
	_, err = v.Verify(ctx, tokB)
	require.NoError(t, err)
	assert.Equal(t, int32(2), p.requests.Load())
	_, err = v.Verify(ctx, tokB)
	require.NoError(t, err)
	assert.Equal(t, int32(2), p.requests.Load())

	// The identity provider removes a: it verifies until the next refresh,
	// and never after.
	p.publish(t, keyB)
	_, err = v.Verify(ctx, tokA)
	require.NoError(t, err)
	require.NoError(t, j.Refresh(ctx))
	assert.Equal(t, int32(3), p.requests.Load())
	_, err = v.Verify(ctx, tokA)
	assert.ErrorIs(t, err, apiauth.ErrUnknownKey)
	assert.ErrorIs(t, err, apiauth.ErrInvalidToken)
	clock.Advance(11 * time.Second)
	_, err = v.Verify(ctx, tokA)
	assert.ErrorIs(t, err, apiauth.ErrUnknownKey, "a fresh fetch still lacks it")
	assert.Equal(t, int32(4), p.requests.Load())
}

func TestJWKSConcurrentUnknownKID(t *testing.T) {
	p := newIDP(t, keyA)
	gate := make(chan struct{})
	p.set(func() { p.gate = gate })
	clock := newFakeClock()
	j := newTestJWKS(t, p.URL, apiauth.JWKSOptions{Now: clock.Now})

	// 50 lookups arrive together before anything is known: one fetch.
	const n = 50
	var ready, done sync.WaitGroup
	errs := make(chan error, n)
	ready.Add(n)
	done.Add(n)
	for i := 0; i < n; i++ {
		go func() {
			defer done.Done()
			ready.Done()
			_, err := j.JWTKey(context.Background(), "a")
			errs <- err
		}()
	}
	ready.Wait()
	p.waitHit(t) // the fetch is under way, held by the server
	close(gate)
	done.Wait()
	close(errs)
	for err := range errs {
		assert.NoError(t, err)
	}
	assert.Equal(t, int32(1), p.requests.Load(), "exactly one fetch")

	// Many unknown kids within the interval: refused, no fetch.
	for i := 0; i < 20; i++ {
		_, err := j.JWTKey(context.Background(), fmt.Sprintf("unknown-%d", i))
		assert.ErrorIs(t, err, apiauth.ErrUnknownKey)
	}
	assert.Equal(t, int32(1), p.requests.Load())

	// After the interval, 50 concurrent unknown kids: one more fetch.
	clock.Advance(10 * time.Second)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := j.JWTKey(context.Background(), fmt.Sprintf("other-%d", i))
			assert.ErrorIs(t, err, apiauth.ErrUnknownKey)
		}()
	}
	wg.Wait()
	assert.Equal(t, int32(2), p.requests.Load())
}

func TestJWKSMissingKID(t *testing.T) {
	p := newIDP(t, keyA)
	clock := newFakeClock()
	j := newTestJWKS(t, p.URL, apiauth.JWKSOptions{Now: clock.Now})
	v := jwksVerifier(t, j)
	noKID := tokenFor(t, "", testKeys.ec)
	_, err := v.Verify(context.Background(), noKID)
	require.NoError(t, err, "the only key")

	p.publish(t, keyA, keyB)
	require.NoError(t, j.Refresh(context.Background()))
	_, err = v.Verify(context.Background(), noKID)
	assert.ErrorIs(t, err, apiauth.ErrUnknownKey, "several keys: a token must name one")
}

func TestJWKSOutage(t *testing.T) {
	p := newIDP(t, keyA)
	clock := newFakeClock()
	j := newTestJWKS(t, p.URL, apiauth.JWKSOptions{Now: clock.Now})
	v := jwksVerifier(t, j)
	ctx := context.Background()
	tokA, tokB := tokenFor(t, "a", testKeys.ec), tokenFor(t, "b", jwksKeys.b)
	require.NoError(t, j.Refresh(ctx))

	unavailable := func(err error, msg string) {
		t.Helper()
		require.Error(t, err, msg)
		assert.ErrorIs(t, err, apiauth.ErrJWKSUnavailable, msg)
		assert.NotErrorIs(t, err, apiauth.ErrInvalidToken, msg)
		assert.NotErrorIs(t, err, apiauth.ErrTokenExpired, msg)
	}
	for _, outage := range []struct {
		name  string
		start func()
	}{
		{"500", func() { p.status = http.StatusInternalServerError }},
		{"not JSON", func() { p.body = []byte("<html>maintenance</html>") }},
		{"not a JWK Set", func() { p.body = []byte(`{"error":"down"}`) }},
	} {
		p.set(outage.start)
		clock.Advance(11 * time.Second)
		before := p.requests.Load()
		_, err := v.Verify(ctx, tokA)
		require.NoError(t, err, "%s: a known key keeps working", outage.name)
		_, err = v.Verify(ctx, tokB)
		unavailable(err, outage.name+": unknown kid")
		assert.Equal(t, before+1, p.requests.Load())
		_, err = j.JWTKey(ctx, "c")
		unavailable(err, outage.name+": another unknown kid within the interval")
		assert.Equal(t, before+1, p.requests.Load(), "no fetch within the interval")
		p.publish(t, keyA)
	}

	// Past the set's freshness the last good set still serves.
	p.set(func() { p.status = http.StatusBadGateway })
	clock.Advance(2 * time.Hour)
	_, err := v.Verify(ctx, tokA)
	require.NoError(t, err)
	// Past MaxStale, nothing does.
	clock.Advance(24 * time.Hour)
	_, err = v.Verify(ctx, tokA)
	unavailable(err, "past MaxStale")

	// Recovery: the next fetch serves the new set.
	p.publish(t, keyA, keyB)
	clock.Advance(11 * time.Second)
	_, err = v.Verify(ctx, tokB)
	require.NoError(t, err)
	_, err = v.Verify(ctx, tokA)
	require.NoError(t, err)

	// An identity provider never reached: every kid is unavailable.
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	j2 := newTestJWKS(t, down.URL, apiauth.JWKSOptions{Now: clock.Now})
	_, err = jwksVerifier(t, j2).Verify(ctx, tokA)
	unavailable(err, "never fetched")
	_, err = j2.JWTKey(ctx, "")
	unavailable(err, "never fetched, no kid")

	// A closed JWKS keeps its keys and fetches nothing.
	require.NoError(t, j.Close())
	_, err = v.Verify(ctx, tokA)
	require.NoError(t, err)
	clock.Advance(11 * time.Second)
	n := p.requests.Load()
	_, err = j.JWTKey(ctx, "c")
	unavailable(err, "closed")
	assert.Equal(t, n, p.requests.Load())
}

func TestJWKSCallerContext(t *testing.T) {
	p := newIDP(t, keyA)
	gate := make(chan struct{})
	p.set(func() { p.gate = gate })
	j := newTestJWKS(t, p.URL, apiauth.JWKSOptions{Now: newFakeClock().Now})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := j.JWTKey(ctx, "a")
		errc <- err
	}()
	p.waitHit(t)
	cancel()
	err := <-errc
	assert.ErrorIs(t, err, context.Canceled)
	assert.NotErrorIs(t, err, apiauth.ErrInvalidToken)
	// The fetch itself was not the caller's: it completes for the others.
	close(gate)
	k, err := j.JWTKey(context.Background(), "a")
	require.NoError(t, err)
	assert.Equal(t, "a", k.ID)
	assert.Equal(t, int32(1), p.requests.Load())
}

func TestJWKSThroughAuthenticate(t *testing.T) {
	f := newFixture(t)
	p := newIDP(t, keyA)
	clock := newFakeClock()
	j, err := apiauth.NewJWKS(p.URL, apiauth.JWKSOptions{Now: clock.Now})
	require.NoError(t, err)
	defer j.Close()
	h := apiauth.Authenticate(f.keys, apiauth.WithJWT(jwksVerifier(t, j)))(echo)
	do := func(tok string) *httptest.ResponseRecorder { return getMe(h, tok) }
	code := func(rr *httptest.ResponseRecorder) string {
		var pb problemBody
		require.NoError(t, json.Unmarshal(rr.Body.Bytes(), &pb), rr.Body.String())
		return pb.Code
	}
	tokA, tokB := tokenFor(t, "a", testKeys.ec), tokenFor(t, "b", jwksKeys.b)

	rr := do(tokA)
	require.Equal(t, http.StatusOK, rr.Code, rr.Body.String())

	// A kid the fresh set lacks: 401 invalid_token.
	rr = do(tokB)
	require.Equal(t, http.StatusUnauthorized, rr.Code, rr.Body.String())
	assert.Equal(t, "invalid_token", code(rr))

	// The identity provider goes down: an unknown kid is 503 with
	// Retry-After, a known one still 200.
	p.set(func() { p.status = http.StatusServiceUnavailable })
	clock.Advance(11 * time.Second)
	rr = do(tokB)
	require.Equal(t, http.StatusServiceUnavailable, rr.Code, rr.Body.String())
	assert.NotEmpty(t, rr.Header().Get("Retry-After"))
	assert.Equal(t, "temporarily_unavailable", code(rr))
	rr = do(tokA)
	require.Equal(t, http.StatusOK, rr.Code, rr.Body.String())

	// It comes back with b: b's token verifies.
	p.publish(t, keyA, keyB)
	clock.Advance(11 * time.Second)
	rr = do(tokB)
	require.Equal(t, http.StatusOK, rr.Code, rr.Body.String())
}
