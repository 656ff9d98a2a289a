package apiauth_test

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/apiauth/apiauth"
)

// ExampleJWTVerifier accepts RFC 9068 access tokens from an identity
// provider next to API keys: Authenticate sends JWT-shaped tokens to the
// verifier and everything else to the keys.
func ExampleJWTVerifier() {
	secret := []byte("an-hs256-secret-of-32-bytes-or-more")
	keySet, err := apiauth.NewStaticKeys(apiauth.JWTKey{ID: "2026-11", Algorithm: "HS256", Key: secret})
	if err != nil {
		panic(err)
	}
	verifier, err := apiauth.NewJWTVerifier(apiauth.JWTOptions{},
		apiauth.JWTIssuer{Issuer: "https://idp.example", Audience: "orders-api", Keys: keySet})
	if err != nil {
		panic(err)
	}
	h := apiauth.Authenticate(exampleKeys(), apiauth.WithJWT(verifier))(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, _ := apiauth.PrincipalFrom(r.Context())
			fmt.Fprint(w, p.Subject, " ", p.Tenant, " ", p.Scopes)
		}))

	// A token as the identity provider would issue it (package oauth
	// has a real token endpoint).
	now := time.Now()
	token := exSignHS256(secret, `{"alg":"HS256","typ":"at+jwt","kid":"2026-11"}`, fmt.Sprintf(
		`{"iss":"https://idp.example","aud":"orders-api","sub":"svc-7","tenant":"acme","scope":"read write","iat":%d,"exp":%d}`,
		now.Unix(), now.Add(time.Hour).Unix()))

	for _, bearer := range []string{token, exReaderKey, token[:len(token)-2] + "xx"} {
		req := httptest.NewRequest("GET", "/v1/me", nil)
		req.Header.Set("Authorization", "Bearer "+bearer)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code == 200 {
			fmt.Println(rec.Code, rec.Body.String())
		} else {
			fmt.Println(rec.Code, exProblem(rec).Code)
		}
	}
	// Output:
	// 200 svc-7 acme [read write]
	// 200 user-reader acme [read]
	// 401 invalid_token
}

// exSignHS256 makes a compact JWS; real tokens come from an identity
// provider or an Issuer.
func exSignHS256(secret []byte, header, claims string) string {
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(claims))
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(signing))
	return signing + "." + enc.EncodeToString(mac.Sum(nil))
}

// ExampleNewJWKS accepts an outside identity provider's access tokens next
// to API keys. The provider's keys come from its JWK Set URL; its "org_id"
// claim names the caller's tenant and its "plan" claim the rate-limit tier.
func ExampleNewJWKS() {
	// A stand-in identity provider publishing one Ed25519 key. NewJWKS
	// takes plain http on loopback only, as here; anywhere else, https.
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		panic(err)
	}
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/jwk-set+json")
		fmt.Fprintf(w, `{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"idp-1","alg":"EdDSA","use":"sig","x":%q}]}`,
			base64.RawURLEncoding.EncodeToString(pub))
	}))
	defer idp.Close()

	keys := exampleKeys()
	jwks, err := apiauth.NewJWKS(idp.URL+"/.well-known/jwks.json", apiauth.JWKSOptions{})
	if err != nil {
		panic(err)
	}
	defer jwks.Close()
	verifier, err := apiauth.NewJWTVerifier(apiauth.JWTOptions{Keys: keys}, apiauth.JWTIssuer{
		Issuer: "https://login.example.com/", Audience: "orders-api", Keys: jwks,
		TenantClaim: "org_id", TierClaim: "plan",
	})
	if err != nil {
		panic(err)
	}
	h := apiauth.Authenticate(keys, apiauth.WithJWT(verifier))(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, _ := apiauth.PrincipalFrom(r.Context())
			fmt.Fprintf(w, "%s of %s, tier %q, scopes %v, issuer %q", p.Subject, p.Tenant, p.Tier, p.Scopes, p.Issuer)
		}))

	now := time.Now()
	sign := func(claims string) string {
		return exSignEdDSA(priv, `{"alg":"EdDSA","typ":"at+jwt","kid":"idp-1"}`, fmt.Sprintf(
			`{"iss":"https://login.example.com/","aud":"orders-api","sub":"ana","scope":"read",%s"iat":%d,"exp":%d}`,
			claims, now.Unix(), now.Add(time.Hour).Unix()))
	}
	for _, bearer := range []string{
		sign(`"org_id":"acme","plan":"pro",`),
		sign(``), // no tenant claim: refused
		exReaderKey,
	} {
		req := httptest.NewRequest("GET", "/v1/me", nil)
		req.Header.Set("Authorization", "Bearer "+bearer)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code == 200 {
			fmt.Println(rec.Code, rec.Body.String())
		} else {
			fmt.Println(rec.Code, exProblem(rec).Code)
		}
	}
	// Output:
	// 200 ana of acme, tier "pro", scopes [read], issuer "https://login.example.com/"
	// 401 invalid_token
	// 200 user-reader of acme, tier "", scopes [read], issuer ""
}

// exSignEdDSA makes a compact JWS signed with an Ed25519 key.
func exSignEdDSA(priv ed25519.PrivateKey, header, claims string) string {
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(claims))
	return signing + "." + enc.EncodeToString(ed25519.Sign(priv, []byte(signing)))
}
