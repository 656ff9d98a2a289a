package apiauth_test

import (
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
