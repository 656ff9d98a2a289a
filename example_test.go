package apiauth_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/apiauth/apiauth"
	"github.com/go-chi/chi/v5"
	"github.com/gorilla/mux"
)

// The examples import keys in a format of their own (any b64token of 20 or
// more characters is accepted) so that their output is the same on every
// run; Keys.Create makes keys in the library's format.
const (
	exReaderKey = "reader-0123456789abcdefghij"
	exWriterKey = "writer-0123456789abcdefghij"
	exAdminKey  = "admin-0123456789abcdefghijk"
	exGlobexKey = "globex-0123456789abcdefghij"
)

// exampleKeys returns Keys holding exReaderKey, exWriterKey and exAdminKey of
// tenant acme and exGlobexKey, an admin key of tenant globex.
func exampleKeys() *apiauth.Keys {
	keys := apiauth.NewMemoryKeys()
	for _, k := range []struct {
		key, id, tenant string
		scope           apiauth.Scope
	}{
		{exReaderKey, "k-reader", "acme", apiauth.Read},
		{exWriterKey, "k-writer", "acme", apiauth.Write},
		{exAdminKey, "k-admin", "acme", apiauth.Admin},
		{exGlobexKey, "k-globex", "globex", apiauth.Admin},
	} {
		_, err := keys.Import(context.Background(), k.key, apiauth.KeySpec{
			ID: k.id, Subject: "user-" + k.id[2:], Tenant: k.tenant, Scopes: []apiauth.Scope{k.scope},
		})
		if err != nil {
			panic(err)
		}
	}
	return keys
}

// exProblem decodes the problem+json body of a recorded response.
func exProblem(rec *httptest.ResponseRecorder) apiauth.Problem {
	var p apiauth.Problem
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		panic(err)
	}
	return p
}

// The quick start of README.md: API keys, a scope per route, the tenant
// from the path, and public routes (health; later the token endpoint and
// its JWK Set) outside the authenticated group. A program ends with
//
//	log.Fatal(http.ListenAndServe("127.0.0.1:8080", handler))
//
// where this example sends requests instead.
func Example_quickStart() {
	keys := apiauth.NewMemoryKeys() // or apiauth.NewKeys(store) on your database
	key, _, err := keys.Create(context.Background(), apiauth.KeySpec{
		Subject: "user-1", Tenant: "acme", Scopes: []apiauth.Scope{apiauth.Write},
	})
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("API key of user-1 (shown once): %s", key)

	listOrders := func(w http.ResponseWriter, r *http.Request) {
		p, _ := apiauth.PrincipalFrom(r.Context()) // subject, tenant, scopes, tier, key ID
		fmt.Fprintf(w, "orders of %s\n", p.Tenant)
	}
	createOrder := func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusCreated) }

	// The authenticated group: a scope per route, the tenant from the path.
	api := http.NewServeMux()
	api.Handle("GET /v1/orders", apiauth.RequireScope(apiauth.Read)(http.HandlerFunc(listOrders)))
	api.Handle("POST /v1/orders", apiauth.RequireScope(apiauth.Write)(http.HandlerFunc(createOrder)))
	api.Handle("GET /v1/tenants/{tenant}/orders", apiauth.RequireScope(apiauth.Read)(
		apiauth.RequireTenant(apiauth.PathTenant("tenant"))(http.HandlerFunc(listOrders))))

	// Public routes stay outside it: health now, the token endpoint and
	// its JWK Set when you add them (docs/token-endpoint.md).
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.Handle("/v1/", apiauth.Authenticate(keys)(api))
	handler := apiauth.RequestID()(mux)

	for _, c := range []struct{ method, path, key string }{
		{"GET", "/healthz", ""},
		{"GET", "/v1/orders", ""},
		{"GET", "/v1/orders", key},
		{"POST", "/v1/orders", key},
		{"GET", "/v1/tenants/acme/orders", key},
		{"GET", "/v1/tenants/globex/orders", key},
	} {
		fmt.Println(c.method, c.path, exServe(handler, c.method, c.path, c.key))
	}

	// Output:
	// GET /healthz 200 ok
	// GET /v1/orders 401 missing_token request_id=0123456789abcdefghij
	// GET /v1/orders 200 orders of acme
	// POST /v1/orders 201
	// GET /v1/tenants/acme/orders 200 orders of acme
	// GET /v1/tenants/globex/orders 403 tenant_forbidden request_id=0123456789abcdefghij
}

func ExampleAuthenticate() {
	keys := apiauth.NewMemoryKeys()
	_, err := keys.Import(context.Background(), "demo-key-0123456789abcdef", apiauth.KeySpec{
		ID: "k-1", Subject: "user-1", Tenant: "acme", Scopes: []apiauth.Scope{apiauth.Read},
	})
	if err != nil {
		panic(err)
	}

	hello := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := apiauth.PrincipalFrom(r.Context())
		fmt.Fprintf(w, "hello %s of %s, key %s", p.Subject, p.Tenant, p.KeyID)
	})
	h := apiauth.Authenticate(keys, apiauth.WithRealm("example"))(hello)

	for _, auth := range []string{
		"Bearer demo-key-0123456789abcdef",
		"",                                 // no credentials
		"Basic dXNlcjpwYXNz",               // another scheme
		"Bearer",                           // no token: malformed
		"Bearer unknown-0123456789abcdef",  // nobody's key
		"Bearer not a b64token, surely ok", // not a b64token
	} {
		req := httptest.NewRequest(http.MethodGet, "/v1/me", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code == http.StatusOK {
			fmt.Println(rec.Code, rec.Body.String())
			continue
		}
		p := exProblem(rec)
		fmt.Println(rec.Code, rec.Header().Get("Content-Type"), p.Code)
		fmt.Println("  WWW-Authenticate:", rec.Header().Get("WWW-Authenticate"))
	}

	// A token in the query is never a credential; next to a header it is a
	// second credential, which is malformed.
	req := httptest.NewRequest(http.MethodGet, "/v1/me?access_token=demo-key-0123456789abcdef", nil)
	req.Header.Set("Authorization", "Bearer demo-key-0123456789abcdef")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	fmt.Println(rec.Code, exProblem(rec).Code)

	// Output:
	// 200 hello user-1 of acme, key k-1
	// 401 application/problem+json missing_token
	//   WWW-Authenticate: Bearer realm="example"
	// 401 application/problem+json missing_token
	//   WWW-Authenticate: Bearer realm="example"
	// 400 application/problem+json invalid_request
	//   WWW-Authenticate: Bearer realm="example", error="invalid_request"
	// 401 application/problem+json invalid_token
	//   WWW-Authenticate: Bearer realm="example", error="invalid_token", error_description="The access token or API key is invalid."
	// 401 application/problem+json invalid_token
	//   WWW-Authenticate: Bearer realm="example", error="invalid_token", error_description="The access token or API key is invalid."
	// 400 invalid_request
}

func ExampleRequireScope() {
	keys := exampleKeys()
	create := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
	})
	// Authenticate first; RequireScope reads the principal it left.
	h := apiauth.Authenticate(keys)(apiauth.RequireScope(apiauth.Write)(create))

	// Admin implies Write, which implies Read.
	for _, key := range []string{exReaderKey, exWriterKey, exAdminKey} {
		req := httptest.NewRequest(http.MethodPost, "/orders", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		fmt.Println(key[:strings.IndexByte(key, '-')], rec.Code)
		if rec.Code == http.StatusForbidden {
			p := exProblem(rec)
			fmt.Println("  WWW-Authenticate:", rec.Header().Get("WWW-Authenticate"))
			fmt.Println("  code:", p.Code)
			fmt.Println("  detail:", p.Detail)
		}
	}

	for _, s := range []apiauth.Scope{apiauth.Read, apiauth.Write, apiauth.Admin, "orders:write"} {
		fmt.Printf("admin grants %s: %t\n", s, apiauth.Admin.Grants(s))
	}

	// Output:
	// reader 403
	//   WWW-Authenticate: Bearer realm="api", error="insufficient_scope", error_description="The credentials do not grant the scope this request needs.", scope="write"
	//   code: insufficient_scope
	//   detail: This request needs the scope: write.
	// writer 201
	// admin 201
	// admin grants read: true
	// admin grants write: true
	// admin grants admin: true
	// admin grants orders:write: false
}

func ExampleRequireTenant() {
	keys := exampleKeys()
	orders := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "orders of %s", r.PathValue("tenant"))
	})

	// RequireTenant reads the route's wildcard, so it wraps the route's
	// handler: the mux has set the path values by the time it runs.
	m := http.NewServeMux()
	m.Handle("GET /v1/tenants/{tenant}/orders",
		apiauth.RequireTenant(apiauth.PathTenant("tenant"))(orders))
	h := apiauth.Authenticate(keys)(m)

	for _, path := range []string{"/v1/tenants/acme/orders", "/v1/tenants/globex/orders"} {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.Header.Set("Authorization", "Bearer "+exReaderKey) // a key of tenant acme
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code == http.StatusOK {
			fmt.Println(path, rec.Code, rec.Body.String())
			continue
		}
		p := exProblem(rec)
		fmt.Println(path, rec.Code, p.Code, p.Instance)
	}

	// Output:
	// /v1/tenants/acme/orders 200 orders of acme
	// /v1/tenants/globex/orders 403 tenant_forbidden /v1/tenants/globex/orders
}

func ExampleRequestID() {
	h := apiauth.RequestID()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, apiauth.RequestIDFrom(r.Context()))
	}))

	for _, inbound := range []string{
		"2f0c9e7a-4b1d-4c55-9a8e-1b6f3f2d8c11", // 20-200 characters of [A-Za-z0-9+/=-]: kept
		"abc",                                  // too short: replaced
		"req 1\r\nX-Admin: yes",                // not a safe ID: replaced
		"",                                     // none: generated
	} {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		if inbound != "" {
			req.Header.Set("X-Request-ID", inbound)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		id := rec.Header().Get("X-Request-ID")
		switch {
		case id == inbound:
			fmt.Println("kept", id)
		case len(id) == 36 && id == rec.Body.String():
			fmt.Printf("replaced %q with a random UUID\n", inbound)
		default:
			fmt.Println("unexpected", id)
		}
	}

	// Output:
	// kept 2f0c9e7a-4b1d-4c55-9a8e-1b6f3f2d8c11
	// replaced "abc" with a random UUID
	// replaced "req 1\r\nX-Admin: yes" with a random UUID
	// replaced "" with a random UUID
}

func ExampleGenerateKey() {
	key, err := apiauth.GenerateKey("sk_test")
	if err != nil {
		panic(err)
	}
	// sk_test, "_", 27 random base62 characters and a 6-character checksum.
	fmt.Println(strings.HasPrefix(key, "sk_test_"), len(key))
	fmt.Println("CheckKey:", apiauth.CheckKey(key))
	fmt.Println("fingerprint length:", len(apiauth.Fingerprint(key)))

	// A typo is caught by the checksum, before any store lookup.
	typo := []byte(key)
	if typo[10] == 'a' {
		typo[10] = 'b'
	} else {
		typo[10] = 'a'
	}
	err = apiauth.CheckKey(string(typo))
	fmt.Println("CheckKey:", err)
	fmt.Println("is invalid_token:", errors.Is(err, apiauth.ErrInvalidToken))

	// Output:
	// true 41
	// CheckKey: <nil>
	// fingerprint length: 8
	// CheckKey: apiauth: invalid token: malformed: API key checksum mismatch
	// is invalid_token: true
}

func ExampleKeys() {
	ctx := context.Background()
	keys := apiauth.NewMemoryKeys()

	// The plaintext key is returned once; the store keeps its SHA-256
	// digest only.
	key, rec, err := keys.Create(ctx, apiauth.KeySpec{
		ID: "k-ci", Name: "CI deploys", Subject: "ci", Tenant: "acme",
		Scopes: []apiauth.Scope{apiauth.Write},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(rec.ID(), rec.Name, strings.HasPrefix(key, apiauth.DefaultKeyPrefix+"_"))
	fmt.Println("fingerprint matches:", rec.Fingerprint() == apiauth.Fingerprint(key))

	p, err := keys.Verify(ctx, key)
	fmt.Println(p.Subject, p.Tenant, p.Scopes, err)

	h := apiauth.Authenticate(keys)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	call := func() {
		req := httptest.NewRequest(http.MethodGet, "/v1/orders", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			fmt.Println(rec.Code, exProblem(rec).Code)
			return
		}
		fmt.Println(rec.Code)
	}
	call()

	// Revocation takes effect on the next request.
	if err := keys.Revoke(ctx, "k-ci"); err != nil {
		panic(err)
	}
	call()

	_, err = keys.Verify(ctx, key)
	fmt.Println(errors.Is(err, apiauth.ErrTokenRevoked))

	// Output:
	// k-ci CI deploys true
	// fingerprint matches: true
	// ci acme [write] <nil>
	// 200
	// 401 token_revoked
	// true
}

func ExampleKeys_Rotate() {
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	keys := apiauth.NewMemoryKeys()
	keys.Now = func() time.Time { return now } // a clock the example moves

	oldKey, old, err := keys.Create(ctx, apiauth.KeySpec{Subject: "billing", Tenant: "acme", Scopes: []apiauth.Scope{apiauth.Read}})
	if err != nil {
		panic(err)
	}

	// The replacement has the same subject, tenant and scopes; the old key
	// keeps working for the grace period.
	newKey, rec, err := keys.Rotate(ctx, old.ID(), 24*time.Hour)
	if err != nil {
		panic(err)
	}
	old, _ = keys.Store.GetKey(ctx, old.ID())
	fmt.Println("replaced by the new key:", old.ReplacedBy == rec.ID())
	fmt.Println("old key expires:", old.ExpiresAt.Format(time.RFC3339))

	verify := func(name, key string) {
		p, err := keys.Verify(ctx, key)
		if err != nil {
			fmt.Printf("  %s: %v\n", name, err)
			return
		}
		fmt.Printf("  %s: ok, %s of %s\n", name, p.Subject, p.Tenant)
	}
	fmt.Println("during the grace period:")
	verify("old", oldKey)
	verify("new", newKey)

	now = now.Add(24 * time.Hour)
	fmt.Println("after it:")
	verify("old", oldKey)
	verify("new", newKey)

	// Output:
	// replaced by the new key: true
	// old key expires: 2026-01-02T12:00:00Z
	// during the grace period:
	//   old: ok, billing of acme
	//   new: ok, billing of acme
	// after it:
	//   old: apiauth: token expired
	//   new: ok, billing of acme
}

// An API whose clients already parse {"error","message"} bodies keeps
// them: the renderer maps the library's codes to the API's own.
func ExampleWithRenderer() {
	render := func(w http.ResponseWriter, r *http.Request, p *apiauth.Problem) {
		code, message := p.Code, p.Detail
		switch p.Code {
		case apiauth.CodeMissingToken:
			code, message = "missing_api_key", "No API key provided in the Authorization header."
		case apiauth.CodeInvalidToken, apiauth.CodeTokenRevoked:
			code, message = "invalid_api_key", "The API key provided is invalid."
		case apiauth.CodeTokenExpired:
			message = "The access token has expired."
		}
		// WWW-Authenticate, X-Request-ID and Cache-Control are already set.
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(p.Status)
		_ = json.NewEncoder(w).Encode(struct {
			Error   string `json:"error"`
			Message string `json:"message"`
		}{string(code), message})
	}

	keys := apiauth.NewMemoryKeys()
	_, err := keys.Import(context.Background(), "expired-0123456789abcdefghij", apiauth.KeySpec{
		Subject: "old-integration", Tenant: "acme", ExpiresAt: time.Now().Add(-time.Hour),
	})
	if err != nil {
		panic(err)
	}
	h := apiauth.Authenticate(keys, apiauth.WithRenderer(render))(http.NotFoundHandler())

	for _, auth := range []string{
		"Bearer wrong-0123456789abcdefghij",
		"",
		"Bearer expired-0123456789abcdefghij",
	} {
		req := httptest.NewRequest(http.MethodGet, "/v1/users", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		fmt.Print(rec.Code, " ", rec.Body.String())
	}

	// Output:
	// 401 {"error":"invalid_api_key","message":"The API key provided is invalid."}
	// 401 {"error":"missing_api_key","message":"No API key provided in the Authorization header."}
	// 401 {"error":"token_expired","message":"The access token has expired."}
}

// An API that answers {"detail": "…"}, in the style of Django REST
// framework, keeps that format too. The renderer given to Authenticate also renders the 403s of
// RequireScope and RequireTenant behind it.
func ExampleWithRenderer_detail() {
	render := func(w http.ResponseWriter, r *http.Request, p *apiauth.Problem) {
		detail := p.Detail
		switch {
		case p.Code == apiauth.CodeMissingToken:
			detail = "Authentication credentials were not provided."
		case p.Status == http.StatusUnauthorized:
			detail = "Invalid token."
		case p.Status == http.StatusForbidden:
			detail = "You do not have permission to perform this action."
		}
		quoted, _ := json.Marshal(detail)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(p.Status)
		fmt.Fprintf(w, "{\"detail\": %s}\n", quoted)
	}

	keys := exampleKeys()
	auth := apiauth.Authenticate(keys, apiauth.WithRenderer(render))
	h := auth(apiauth.RequireScope(apiauth.Admin)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, `{"users": []}`)
	})))

	for _, key := range []string{"", exReaderKey, exAdminKey} {
		req := httptest.NewRequest(http.MethodGet, "/api/accounts/users/", nil)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		fmt.Print(rec.Code, " ", rec.Body.String())
	}

	// Output:
	// 401 {"detail": "Authentication credentials were not provided."}
	// 403 {"detail": "You do not have permission to perform this action."}
	// 200 {"users": []}
}

// Wiring with chi: RequestID and Authenticate for every route, a scope per
// route with r.With, and the tenant from the route's {tenant}. chi sets
// r.PathValue, so apiauth.PathTenant works; chi.URLParam does too.
func Example_chi() {
	keys := exampleKeys()

	r := chi.NewRouter()
	r.Use(apiauth.RequestID())
	r.Use(apiauth.Authenticate(keys))
	r.With(apiauth.RequireScope(apiauth.Read)).Get("/v1/orders", func(w http.ResponseWriter, r *http.Request) {
		p, _ := apiauth.PrincipalFrom(r.Context())
		fmt.Fprintf(w, "orders of %s", p.Tenant)
	})
	r.With(apiauth.RequireScope(apiauth.Write)).Post("/v1/orders", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
	})
	r.With(
		apiauth.RequireScope(apiauth.Read),
		apiauth.RequireTenant(apiauth.PathTenant("tenant")), // or chi.URLParam(r, "tenant")
	).Get("/v1/tenants/{tenant}/orders", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "orders of %s", chi.URLParam(r, "tenant"))
	})

	for _, c := range []struct{ method, path, key string }{
		{"GET", "/v1/orders", exReaderKey},
		{"POST", "/v1/orders", exReaderKey},
		{"POST", "/v1/orders", exWriterKey},
		{"GET", "/v1/tenants/acme/orders", exReaderKey},
		{"GET", "/v1/tenants/acme/orders", exGlobexKey},
		{"GET", "/v1/orders", ""},
	} {
		fmt.Println(c.method, c.path, exServe(r, c.method, c.path, c.key))
	}

	// Output:
	// GET /v1/orders 200 orders of acme
	// POST /v1/orders 403 insufficient_scope request_id=0123456789abcdefghij
	// POST /v1/orders 201
	// GET /v1/tenants/acme/orders 200 orders of acme
	// GET /v1/tenants/acme/orders 403 tenant_forbidden request_id=0123456789abcdefghij
	// GET /v1/orders 401 missing_token request_id=0123456789abcdefghij
}

// exServe sends one request with the given key, if any, and a fixed inbound
// X-Request-ID, and describes the answer: the status and the body, or the
// problem's code and request ID.
func exServe(h http.Handler, method, path, key string) string {
	req := httptest.NewRequest(method, path, nil)
	req.Header.Set("X-Request-ID", "0123456789abcdefghij")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Header().Get("Content-Type") == "application/problem+json" {
		p := exProblem(rec)
		return fmt.Sprintf("%d %s request_id=%s", rec.Code, p.Code, p.RequestID)
	}
	body, _ := io.ReadAll(rec.Body)
	return strings.TrimSpace(fmt.Sprintf("%d %s", rec.Code, body))
}

// Wiring with gorilla/mux: r.Use takes the layers as they are. gorilla/mux
// does not set r.PathValue, so RequireTenant reads the tenant with mux.Vars.
// Middleware added with r.Use runs only for requests that match a route.
func Example_gorillaMux() {
	keys := exampleKeys()

	r := mux.NewRouter()
	r.Use(apiauth.RequestID(), apiauth.Authenticate(keys))
	r.Handle("/v1/orders", apiauth.RequireScope(apiauth.Write)(http.HandlerFunc(
		func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusCreated) },
	))).Methods(http.MethodPost)
	tenant := func(r *http.Request) string { return mux.Vars(r)["tenant"] }
	r.Handle("/v1/tenants/{tenant}/orders", apiauth.RequireTenant(tenant)(http.HandlerFunc(
		func(w http.ResponseWriter, r *http.Request) { fmt.Fprintf(w, "orders of %s", mux.Vars(r)["tenant"]) },
	))).Methods(http.MethodGet)

	for _, c := range []struct{ method, path, key string }{
		{"POST", "/v1/orders", exWriterKey},
		{"POST", "/v1/orders", exReaderKey},
		{"GET", "/v1/tenants/globex/orders", exGlobexKey},
		{"GET", "/v1/tenants/globex/orders", exAdminKey},
		{"GET", "/v1/tenants/globex/orders", "not-a-key-0123456789abc"},
	} {
		fmt.Println(c.method, c.path, exServe(r, c.method, c.path, c.key))
	}

	// Output:
	// POST /v1/orders 201
	// POST /v1/orders 403 insufficient_scope request_id=0123456789abcdefghij
	// GET /v1/tenants/globex/orders 200 orders of globex
	// GET /v1/tenants/globex/orders 403 tenant_forbidden request_id=0123456789abcdefghij
	// GET /v1/tenants/globex/orders 401 invalid_token request_id=0123456789abcdefghij
}

// Wiring with http.ServeMux and Go 1.22 patterns: the scope and tenant
// layers wrap each route's handler, RequestID and Authenticate wrap the
// whole mux.
func Example_serveMux() {
	keys := exampleKeys()

	m := http.NewServeMux()
	m.Handle("GET /v1/orders", apiauth.RequireScope(apiauth.Read)(http.HandlerFunc(
		func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "[]") },
	)))
	m.Handle("DELETE /v1/orders/{id}", apiauth.RequireScope(apiauth.Write)(http.HandlerFunc(
		func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) },
	)))
	m.Handle("GET /v1/tenants/{tenant}/orders", apiauth.RequireTenant(apiauth.PathTenant("tenant"))(http.HandlerFunc(
		func(w http.ResponseWriter, r *http.Request) { fmt.Fprintf(w, "orders of %s", r.PathValue("tenant")) },
	)))
	h := apiauth.RequestID()(apiauth.Authenticate(keys)(m))

	for _, c := range []struct{ method, path, key string }{
		{"GET", "/v1/orders", exReaderKey},
		{"DELETE", "/v1/orders/42", exReaderKey},
		{"DELETE", "/v1/orders/42", exAdminKey},
		{"GET", "/v1/tenants/acme/orders", exWriterKey},
		{"GET", "/v1/tenants/globex/orders", exWriterKey},
	} {
		fmt.Println(c.method, c.path, exServe(h, c.method, c.path, c.key))
	}

	// Output:
	// GET /v1/orders 200 []
	// DELETE /v1/orders/42 403 insufficient_scope request_id=0123456789abcdefghij
	// DELETE /v1/orders/42 204
	// GET /v1/tenants/acme/orders 200 orders of acme
	// GET /v1/tenants/globex/orders 403 tenant_forbidden request_id=0123456789abcdefghij
}

// A custom Verifier, here for a service's own tokens. Its error decides the
// answer: ErrInvalidToken, ErrTokenExpired, ErrTokenRevoked or an error
// wrapping one of them is a 401; any other error means the verifier could
// not decide, and the client gets a 503 with Retry-After, never a 401 that
// would make it drop a good credential. The error's text is never sent.
func ExampleVerifierFunc() {
	errDown := errors.New("tokens db: connection refused")
	v := apiauth.VerifierFunc(func(ctx context.Context, token string) (*apiauth.Principal, error) {
		switch token {
		case "svc-token-0123456789abcdef":
			return &apiauth.Principal{Subject: "svc-billing", Tenant: "acme", Scopes: []apiauth.Scope{apiauth.Read}}, nil
		case "old-token-0123456789abcdef":
			return nil, fmt.Errorf("token from 2019: %w", apiauth.ErrTokenExpired)
		case "any-token-while-db-is-down":
			return nil, errDown
		}
		return nil, apiauth.ErrInvalidToken
	})

	// OnEvent sees the verifier's error, for logs; the client does not.
	logEvent := apiauth.OnEvent(func(r *http.Request, e apiauth.Event) {
		if e.Err != nil {
			fmt.Printf("  event: code=%s err=%q\n", e.Code, e.Err)
		}
	})
	h := apiauth.Authenticate(v, logEvent)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := apiauth.PrincipalFrom(r.Context())
		fmt.Fprint(w, p.Subject)
	}))

	for _, tok := range []string{
		"svc-token-0123456789abcdef",
		"bad-token-0123456789abcdef",
		"old-token-0123456789abcdef",
		"any-token-while-db-is-down",
	} {
		req := httptest.NewRequest(http.MethodGet, "/v1/invoices", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code == http.StatusOK {
			fmt.Println(rec.Code, rec.Body.String())
			continue
		}
		p := exProblem(rec)
		fmt.Printf("%d %s Retry-After=%q\n", rec.Code, p.Code, rec.Header().Get("Retry-After"))
		fmt.Println("  detail:", p.Detail)
	}

	// Output:
	// 200 svc-billing
	//   event: code=invalid_token err="apiauth: invalid token"
	// 401 invalid_token Retry-After=""
	//   detail: The access token or API key is invalid.
	//   event: code=token_expired err="token from 2019: apiauth: token expired"
	// 401 token_expired Retry-After=""
	//   detail: The access token or API key has expired.
	//   event: code=temporarily_unavailable err="tokens db: connection refused"
	// 503 temporarily_unavailable Retry-After="5"
	//   detail: Credentials cannot be checked right now; try again later.
}

// A handler's own errors look like the library's rejections: same format,
// same type base, same request ID.
func ExampleWriteError() {
	keys := exampleKeys()
	getOrder := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		apiauth.WriteError(w, r, http.StatusNotFound, "order_not_found", "No order has the ID "+r.PathValue("id")+".")
	})
	m := http.NewServeMux()
	m.Handle("GET /v1/orders/{id}", getOrder)
	h := apiauth.RequestID()(apiauth.Authenticate(keys,
		apiauth.WithProblemTypeBase("https://api.example.com/problems/"))(m))

	req := httptest.NewRequest(http.MethodGet, "/v1/orders/42", nil)
	req.Header.Set("Authorization", "Bearer "+exReaderKey)
	req.Header.Set("X-Request-ID", "0123456789abcdefghij")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)

	fmt.Println(rec.Code)
	for _, name := range []string{"Content-Type", "Cache-Control", "X-Request-ID"} {
		fmt.Printf("%s: %s\n", name, rec.Header().Get(name))
	}
	fmt.Print(rec.Body.String())

	// Output:
	// 404
	// Content-Type: application/problem+json
	// Cache-Control: no-store
	// X-Request-ID: 0123456789abcdefghij
	// {"type":"https://api.example.com/problems/order_not_found","title":"Not Found","status":404,"detail":"No order has the ID 42.","instance":"/v1/orders/42","request_id":"0123456789abcdefghij","code":"order_not_found"}
}
