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

// The token endpoint added to the quick start of README.md: its routes are
// public, on the outer mux, and the authenticated group takes the tokens it
// issues next to API keys. An access token exchanged from an API key dies
// with the key.
func Example_publicRoutes() {
	ctx := context.Background()
	keys := apiauth.NewMemoryKeys()
	key, rec, err := keys.Create(ctx, apiauth.KeySpec{
		Subject: "user-1", Tenant: "acme", Scopes: []apiauth.Scope{apiauth.Write},
	})
	if err != nil {
		panic(err)
	}
	clients := oauth.NewMemoryClientStore()
	secret := oauth.GenerateClientSecret()
	if _, err := oauth.RegisterClient(ctx, clients, oauth.ClientSpec{
		ID: "svc-billing", Tenant: "acme", Scopes: []apiauth.Scope{apiauth.Read},
	}, secret); err != nil {
		panic(err)
	}

	issuer, err := oauth.NewIssuer(oauth.Config{
		Issuer: "https://api.example.com", Audience: "orders-api",
		Clients: clients, // client_credentials
		Keys:    keys,    // exchanging API keys for access tokens
	})
	if err != nil {
		panic(err)
	}
	// The API accepts what the issuer signs. JWTOptions.Keys checks the API
	// key behind every exchanged token, so that the token dies with its key.
	verifier, err := apiauth.NewJWTVerifier(apiauth.JWTOptions{Keys: keys}, issuer.JWTIssuer())
	if err != nil {
		panic(err)
	}

	api := http.NewServeMux()
	api.Handle("GET /v1/orders", apiauth.RequireScope(apiauth.Read)(http.HandlerFunc(
		func(w http.ResponseWriter, r *http.Request) {
			p, _ := apiauth.PrincipalFrom(r.Context())
			fmt.Fprintf(w, "orders of %s for %s", p.Tenant, p.Subject)
		})))

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	// The token routes answer other methods themselves (405, Allow: POST).
	mux.Handle("/oauth/token", issuer.TokenHandler())
	mux.Handle("/v1/auth/token", issuer.APIKeyExchangeHandler()) // {"apiKey":"…"}
	mux.Handle("GET /.well-known/jwks.json", issuer.JWKSHandler())
	mux.Handle("/v1/", apiauth.Authenticate(keys, apiauth.WithJWT(verifier))(api))
	handler := apiauth.RequestID()(mux)

	// A client's token, by client_credentials with HTTP Basic.
	req := httptest.NewRequest("POST", "/oauth/token", strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("svc-billing", secret)
	clientToken := exToken(handler, req)

	// An API key's token, by the JSON route.
	req = httptest.NewRequest("POST", "/v1/auth/token", strings.NewReader(`{"apiKey":"`+key+`"}`))
	req.Header.Set("Content-Type", "application/json")
	keyToken := exToken(handler, req)

	get := func(path, bearer string) {
		req := httptest.NewRequest("GET", path, nil)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		if rec.Header().Get("Content-Type") == "application/problem+json" {
			var p apiauth.Problem
			_ = json.Unmarshal(rec.Body.Bytes(), &p)
			fmt.Println(path, rec.Code, p.Code)
			return
		}
		body := strings.TrimSpace(rec.Body.String())
		if strings.HasPrefix(body, `{"keys":[`) {
			body = `{"keys":[…]}`
		}
		fmt.Println(path, rec.Code, body)
	}
	get("/healthz", "")
	get("/.well-known/jwks.json", "")
	get("/v1/orders", clientToken)
	get("/v1/orders", keyToken)
	if err := keys.Revoke(ctx, rec.ID()); err != nil {
		panic(err)
	}
	get("/v1/orders", keyToken)

	// Output:
	// /healthz 200 ok
	// /.well-known/jwks.json 200 {"keys":[…]}
	// /v1/orders 200 orders of acme for svc-billing
	// /v1/orders 200 orders of acme for user-1
	// /v1/orders 401 token_revoked
}

// exToken sends a token request to h and returns the access token.
func exToken(h http.Handler, req *http.Request) string {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &tok); err != nil || tok.AccessToken == "" {
		panic(fmt.Sprintf("token request: %d %s", rec.Code, rec.Body))
	}
	return tok.AccessToken
}
