package oauth_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"

	"github.com/apiauth/apiauth"
	"github.com/apiauth/apiauth/oauth"
)

// ExampleIssuer runs a token endpoint: a client exchanges its credentials
// for a one-hour access token (RFC 6749 §4.4), and the API accepts it
// because the verifier trusts the issuer (JWTIssuer).
func ExampleIssuer() {
	clients := oauth.NewMemoryClientStore()
	secret := oauth.GenerateClientSecret()
	if _, err := oauth.RegisterClient(context.Background(), clients, oauth.ClientSpec{
		ID: "svc-1", Tenant: "acme", Scopes: []apiauth.Scope{apiauth.Read, apiauth.Write},
	}, secret); err != nil {
		panic(err)
	}
	issuer, err := oauth.NewIssuer(oauth.Config{Issuer: "https://auth.example", Audience: "orders-api", Clients: clients})
	if err != nil {
		panic(err)
	}
	verifier, err := apiauth.NewJWTVerifier(apiauth.JWTOptions{}, issuer.JWTIssuer())
	if err != nil {
		panic(err)
	}

	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}}
	req := httptest.NewRequest("POST", "/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("svc-1", secret)
	rec := httptest.NewRecorder()
	issuer.TokenHandler().ServeHTTP(rec, req)
	var tok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int    `json:"expires_in"`
		Scope       string `json:"scope"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &tok); err != nil {
		panic(err)
	}
	fmt.Println(rec.Code, tok.TokenType, tok.ExpiresIn, tok.Scope, rec.Header().Get("Cache-Control"))

	api := apiauth.Authenticate(verifier)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := apiauth.PrincipalFrom(r.Context())
		fmt.Fprint(w, p.Subject, " ", p.Tenant, " ", p.Scopes)
	}))
	req = httptest.NewRequest("GET", "/v1/orders", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	rec = httptest.NewRecorder()
	api.ServeHTTP(rec, req)
	fmt.Println(rec.Code, rec.Body.String())
	// Output:
	// 200 Bearer 3600 read no-store
	// 200 svc-1 acme [read]
}
