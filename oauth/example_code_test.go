package oauth_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"

	"github.com/apiauth/apiauth"
	"github.com/apiauth/apiauth/oauth"
)

// The authorization-code flow with PKCE for a third-party application: the
// host application says who is signed in (Users), the issuer shows the
// consent page and issues codes, tokens and refresh tokens, and a
// revocation ends the grant at once. A browser and a client are played here
// by hand; TestAuthorizationCodeWithOAuth2Client runs the same flow with
// golang.org/x/oauth2.
func ExampleIssuer_AuthorizeHandler() {
	ctx := context.Background()
	clients := oauth.NewMemoryClientStore()
	// A public client (a native or single-page app): no secret, PKCE only.
	if _, err := oauth.RegisterClient(ctx, clients, oauth.ClientSpec{
		ID: "orders-app", Name: "Orders App", Public: true, Tenant: "acme",
		Scopes: []apiauth.Scope{apiauth.Read}, RedirectURIs: []string{"http://127.0.0.1/callback"},
	}, ""); err != nil {
		panic(err)
	}
	// The host application's sign-in: here, a session cookie; a user
	// without one would be sent to the login page.
	users := oauth.UsersFunc(func(w http.ResponseWriter, r *http.Request) (oauth.User, bool) {
		c, err := r.Cookie("session")
		if err != nil {
			http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusFound)
			return oauth.User{}, false
		}
		return oauth.User{Subject: "alice", Tenant: "acme", Scopes: []apiauth.Scope{apiauth.Write}, Session: c.Value}, true
	})
	issuer, err := oauth.NewIssuer(oauth.Config{
		Issuer: "https://api.example.com", Audience: "orders-api",
		Clients: clients, Grants: oauth.NewMemoryGrantStore(), Users: users,
	})
	if err != nil {
		panic(err)
	}
	verifier, err := apiauth.NewJWTVerifier(apiauth.JWTOptions{}, issuer.JWTIssuer())
	if err != nil {
		panic(err)
	}

	mux := http.NewServeMux()
	mux.Handle("/oauth/authorize", issuer.AuthorizeHandler()) // GET: consent page; POST: its form
	mux.Handle("/oauth/token", issuer.TokenHandler())
	mux.Handle("/oauth/revoke", issuer.RevocationHandler())
	mux.Handle("/oauth/introspect", issuer.IntrospectionHandler())
	mux.Handle("GET /.well-known/oauth-authorization-server", issuer.MetadataHandler(oauth.Endpoints{
		Authorization: "/oauth/authorize", Token: "/oauth/token",
		Revocation: "/oauth/revoke", Introspection: "/oauth/introspect",
	}))
	mux.Handle("/v1/", apiauth.Authenticate(verifier)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := apiauth.PrincipalFrom(r.Context())
		fmt.Fprintf(w, "orders of %s for %s", p.Tenant, p.Subject)
	})))

	do := func(req *http.Request) *httptest.ResponseRecorder {
		req.AddCookie(&http.Cookie{Name: "session", Value: "s-1"})
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		return rec
	}
	form := func(path string, v url.Values) *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", path, strings.NewReader(v.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return do(req)
	}

	// 1. The app sends the user to the authorization endpoint with a PKCE
	// challenge (RFC 7636) of a verifier only it knows.
	codeVerifier := "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk" // RFC 7636 Appendix B
	sum := sha256.Sum256([]byte(codeVerifier))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:]) // S256
	page := do(httptest.NewRequest("GET", "/oauth/authorize?"+url.Values{
		"response_type": {"code"}, "client_id": {"orders-app"}, "redirect_uri": {"http://127.0.0.1:49152/callback"},
		"scope": {"read"}, "state": {"af0ifjsldkj"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"},
	}.Encode(), nil))
	fmt.Println("consent page:", page.Code, strings.Contains(page.Body.String(), "Orders App"))

	// 2. The user approves: the page's form, with its CSRF token.
	approval := url.Values{}
	for _, m := range regexp.MustCompile(`type="hidden" name="([^"]+)" value="([^"]*)"`).FindAllStringSubmatch(page.Body.String(), -1) {
		approval.Set(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	approval.Set("decision", "approve")
	back, _ := url.Parse(form("/oauth/authorize", approval).Header().Get("Location"))
	fmt.Println("redirect:", back.Host+back.Path, back.Query().Get("state"), back.Query().Get("iss"))

	// 3. The app redeems the code with its verifier.
	rec := form("/oauth/token", url.Values{"grant_type": {"authorization_code"}, "client_id": {"orders-app"},
		"code": {back.Query().Get("code")}, "redirect_uri": {"http://127.0.0.1:49152/callback"}, "code_verifier": {codeVerifier}})
	var tok struct {
		AccessToken  string `json:"access_token"`
		TokenType    string `json:"token_type"`
		Scope        string `json:"scope"`
		RefreshToken string `json:"refresh_token"`
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &tok)
	fmt.Println("token:", rec.Code, tok.TokenType, tok.Scope, strings.HasPrefix(tok.RefreshToken, "rt_"))

	api := func() {
		req := httptest.NewRequest("GET", "/v1/orders", nil)
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		rec := do(req)
		if rec.Code != http.StatusOK {
			var p apiauth.Problem
			_ = json.Unmarshal(rec.Body.Bytes(), &p)
			fmt.Println("api:", rec.Code, p.Code)
			return
		}
		fmt.Println("api:", rec.Code, rec.Body.String())
	}
	api()

	// 4. The app signs out: revoking the refresh token ends the grant, and
	// its access tokens with it (RFC 7009).
	rec = form("/oauth/revoke", url.Values{"client_id": {"orders-app"}, "token": {tok.RefreshToken}})
	fmt.Println("revoke:", rec.Code)
	api()

	// Output:
	// consent page: 200 true
	// redirect: 127.0.0.1:49152/callback af0ifjsldkj https://api.example.com
	// token: 200 Bearer read true
	// api: 200 orders of acme for alice
	// revoke: 200
	// api: 401 token_revoked
}

// MetadataHandler publishes RFC 8414 metadata naming the routes where the
// handlers are mounted, and only what the issuer's Config enables.
func ExampleIssuer_MetadataHandler() {
	issuer, err := oauth.NewIssuer(oauth.Config{
		Issuer: "https://api.example.com", Audience: "orders-api",
		Clients: oauth.NewMemoryClientStore(), // client_credentials only
	})
	if err != nil {
		panic(err)
	}
	h := issuer.MetadataHandler(oauth.Endpoints{Token: "/oauth/token", Introspection: "/oauth/introspect", JWKS: "/.well-known/jwks.json"})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/.well-known/oauth-authorization-server", nil))
	var out bytes.Buffer
	_ = json.Indent(&out, rec.Body.Bytes(), "", "  ")
	fmt.Println(out.String())
	// Output:
	// {
	//   "issuer": "https://api.example.com",
	//   "token_endpoint": "https://api.example.com/oauth/token",
	//   "jwks_uri": "https://api.example.com/.well-known/jwks.json",
	//   "response_types_supported": [],
	//   "grant_types_supported": [
	//     "client_credentials"
	//   ],
	//   "token_endpoint_auth_methods_supported": [
	//     "client_secret_basic",
	//     "client_secret_post"
	//   ],
	//   "introspection_endpoint": "https://api.example.com/oauth/introspect",
	//   "introspection_endpoint_auth_methods_supported": [
	//     "client_secret_basic",
	//     "client_secret_post"
	//   ]
	// }
}

// A resource server that does not verify JWTs itself asks the issuer
// about each token (RFC 7662), as a confidential client of its tenant.
func ExampleIssuer_IntrospectionHandler() {
	ctx := context.Background()
	clients := oauth.NewMemoryClientStore()
	secret := oauth.GenerateClientSecret()
	if _, err := oauth.RegisterClient(ctx, clients, oauth.ClientSpec{
		ID: "orders-rs", Tenant: "acme", Scopes: []apiauth.Scope{apiauth.Read},
	}, secret); err != nil {
		panic(err)
	}
	issuer, err := oauth.NewIssuer(oauth.Config{Issuer: "https://api.example.com", Audience: "orders-api", Clients: clients})
	if err != nil {
		panic(err)
	}
	token, _, err := issuer.Issue(&apiauth.Principal{Subject: "alice", Tenant: "acme", Scopes: []apiauth.Scope{apiauth.Read}})
	if err != nil {
		panic(err)
	}
	introspect := func(token string) {
		req := httptest.NewRequest("POST", "/oauth/introspect", strings.NewReader(url.Values{"token": {token}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("orders-rs", secret)
		rec := httptest.NewRecorder()
		issuer.IntrospectionHandler().ServeHTTP(rec, req)
		var r struct {
			Active bool   `json:"active"`
			Sub    string `json:"sub"`
			Tenant string `json:"tenant"`
			Scope  string `json:"scope"`
		}
		_ = json.Unmarshal(rec.Body.Bytes(), &r)
		if !r.Active {
			fmt.Println(rec.Code, "inactive")
			return
		}
		fmt.Println(rec.Code, "active", r.Sub, r.Tenant, r.Scope)
	}
	introspect(token)
	introspect("not-a-token")
	// Output:
	// 200 active alice acme read
	// 200 inactive
}
