package apiauth_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apiauth/apiauth"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAuthenticateRejections(t *testing.T) {
	f := newFixture(t)
	h := apiauth.RequestID()(apiauth.Authenticate(f.keys,
		apiauth.WithRealm("test"), apiauth.WithProblemTypeBase(typeBase))(echo))

	const (
		plain          = `Bearer realm="test"`
		invalidRequest = `Bearer realm="test", error="invalid_request"`
		invalidToken   = `Bearer realm="test", error="invalid_token", error_description="The access token or API key is invalid."`
		expiredToken   = `Bearer realm="test", error="invalid_token", error_description="The access token or API key has expired."`
		revokedToken   = `Bearer realm="test", error="invalid_token", error_description="The API key has been revoked."`
	)
	missing := problemBody{Type: typeBase + "missing_token", Title: "Missing credentials", Status: 401,
		Detail: "No bearer token was provided in the Authorization header.", Code: "missing_token"}
	malformed := problemBody{Type: typeBase + "invalid_request", Title: "Malformed credentials", Status: 400,
		Detail: "The Authorization header is malformed.", Code: "invalid_request"}
	invalid := problemBody{Type: typeBase + "invalid_token", Title: "Invalid token", Status: 401,
		Detail: "The access token or API key is invalid.", Code: "invalid_token"}
	generated, err := apiauth.GenerateKey("sk_test")
	require.NoError(t, err)
	last := byte('a')
	if generated[len(generated)-1] == 'a' {
		last = 'b'
	}
	badChecksum := generated[:len(generated)-1] + string(last)

	tests := []struct {
		name      string
		method    string
		target    string
		auth      []string
		form      string
		want      problemBody
		challenge string
	}{
		{"no credentials", "GET", "/v1/me", nil, "", missing, plain},
		{"no credentials HEAD", "HEAD", "/v1/me", nil, "", missing, plain},
		{"another scheme", "GET", "/v1/me", []string{"Basic dXNlcjpwYXNz"}, "", missing, plain},
		{"token only in query", "GET", "/v1/me?access_token=" + readerKey, nil, "", missing, plain},
		{"token only in form", "POST", "/v1/me", nil, "access_token=" + readerKey, missing, plain},
		{"bearer without token", "GET", "/v1/me", []string{"Bearer"}, "", malformed, invalidRequest},
		{"tab separator", "GET", "/v1/me", []string{"Bearer\t" + readerKey}, "", malformed, invalidRequest},
		{"scheme not a token", "GET", "/v1/me", []string{"@@ " + readerKey}, "", malformed, invalidRequest},
		{"two field lines", "GET", "/v1/me", []string{"Bearer " + readerKey, "Bearer " + writerKey}, "", malformed, invalidRequest},
		{"bearer and basic lines", "GET", "/v1/me", []string{"Bearer " + readerKey, "Basic dXNlcjpwYXNz"}, "", malformed, invalidRequest},
		{"header and query token", "GET", "/v1/me?access_token=x", []string{"Bearer " + readerKey}, "", malformed, invalidRequest},
		{"header and escaped query token", "GET", "/v1/me?access%5Ftoken=x", []string{"Bearer " + readerKey}, "", malformed, invalidRequest},
		{"header and form token", "POST", "/v1/me", []string{"Bearer " + readerKey}, "a=1&access_token=x", malformed, invalidRequest},
		// Two methods are a malformed request (RFC 6750 §2) whatever the
		// header's token looks like: that is checked first.
		{"bad header token and query token", "GET", "/v1/me?access_token=x", []string{"Bearer abc,def"}, "", malformed, invalidRequest},
		{"not a b64token", "GET", "/v1/me", []string{"Bearer abc,def"}, "", invalid, invalidToken},
		// Keys checks the syntax itself (Authenticate leaves it to it):
		// long enough to be imported, all but one character right.
		{"not a b64token, long", "GET", "/v1/me", []string{"Bearer unknown-key-0123456789,abcdef"}, "", invalid, invalidToken},
		{"non-ASCII in a long token", "GET", "/v1/me", []string{"Bearer unknown-key-0123456789abcdeé"}, "", invalid, invalidToken},
		{"control character in a long token", "GET", "/v1/me", []string{"Bearer unknown-key-0123456789abcde\x7f"}, "", invalid, invalidToken},
		{"padding inside a long token", "GET", "/v1/me", []string{"Bearer unknown-key-01234=56789abcdef"}, "", invalid, invalidToken},
		{"two tokens in one line", "GET", "/v1/me", []string{"Bearer " + readerKey + " " + writerKey}, "", invalid, invalidToken},
		{"token too long", "GET", "/v1/me", []string{"Bearer " + strings.Repeat("a", apiauth.DefaultMaxTokenLength+1)}, "", invalid, invalidToken},
		{"too short to be a key", "GET", "/v1/me", []string{"Bearer short"}, "", invalid, invalidToken},
		{"unknown key", "GET", "/v1/me", []string{"Bearer unknown-key-0123456789abcdef"}, "", invalid, invalidToken},
		{"unknown generated key", "GET", "/v1/me", []string{"Bearer " + generated}, "", invalid, invalidToken},
		{"bad checksum", "GET", "/v1/me", []string{"Bearer " + badChecksum}, "", invalid, invalidToken},
		{"expired key", "GET", "/v1/me", []string{"Bearer " + expiredKey}, "",
			problemBody{Type: typeBase + "token_expired", Title: "Expired token", Status: 401, Detail: "The access token or API key has expired.", Code: "token_expired"}, expiredToken},
		{"revoked key", "GET", "/v1/me", []string{"Bearer " + revokedKey}, "",
			problemBody{Type: typeBase + "token_revoked", Title: "Revoked token", Status: 401, Detail: "The API key has been revoked.", Code: "token_revoked"}, revokedToken},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader
			if tc.form != "" {
				body = strings.NewReader(tc.form)
			}
			req := httptest.NewRequest(tc.method, tc.target, body)
			if tc.form != "" {
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			for _, a := range tc.auth {
				req.Header.Add("Authorization", a)
			}
			rr := httptest.NewRecorder()
			h.ServeHTTP(rr, req)
			want := tc.want
			want.Instance = "/v1/me"
			assertProblem(t, rr, tc.method, want, http.Header{"Www-Authenticate": {tc.challenge}})
			for _, a := range tc.auth {
				if tok := strings.TrimPrefix(a, "Bearer "); len(tok) > 8 {
					assert.NotContains(t, rr.Header().Get("Www-Authenticate"), tok, "challenge never echoes the token")
					assert.NotContains(t, rr.Body.String(), tok, "body never echoes the token")
				}
			}
		})
	}
}

func TestAuthenticateAccepts(t *testing.T) {
	f := newFixture(t)
	h := apiauth.Authenticate(f.keys)(echo)
	generatedKey, _, err := f.keys.Create(context.Background(), apiauth.KeySpec{ID: "k-gen", Tenant: "acme", Scopes: []apiauth.Scope{apiauth.Read}})
	require.NoError(t, err)
	for _, tc := range []struct{ name, auth, wantKeyID string }{
		{"imported key", "Bearer " + readerKey, "k-reader"},
		{"generated key", "Bearer " + generatedKey, "k-gen"},
		{"lower-case scheme", "bearer " + readerKey, "k-reader"},
		{"upper-case scheme", "BEARER " + readerKey, "k-reader"},
		{"several spaces", "Bearer    " + readerKey, "k-reader"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/v1/me", nil)
			req.Header.Set("Authorization", tc.auth)
			rr := httptest.NewRecorder()
			h.ServeHTTP(rr, req)
			require.Equal(t, http.StatusOK, rr.Code, rr.Body.String())
			keyID, _, _ := strings.Cut(rr.Body.String(), " ")
			assert.Equal(t, tc.wantKeyID, keyID)
			assert.Empty(t, rr.Header().Get("Www-Authenticate"))
		})
	}
}

// TestAuthenticateIgnoresOtherQueries checks that a query which merely
// fails strict parsing is not mistaken for a second credential.
func TestAuthenticateIgnoresOtherQueries(t *testing.T) {
	f := newFixture(t)
	h := apiauth.Authenticate(f.keys)(echo)
	for _, q := range []string{"q=100%", "q=a%2Cb;c=1", "access_tokens=1", "x=access_token", "q=%zz&access_token_hint=1"} {
		req := httptest.NewRequest("GET", "/v1/me?"+q, nil)
		req.Header.Set("Authorization", "Bearer "+readerKey)
		rr := httptest.NewRecorder()
		h.ServeHTTP(rr, req)
		assert.Equal(t, http.StatusOK, rr.Code, q)
	}
}

// TestAuthenticateFormBodyKept checks that looking for a second credential
// in a form body leaves the body whole for the handler.
func TestAuthenticateFormBodyKept(t *testing.T) {
	f := newFixture(t)
	var got string
	h := apiauth.Authenticate(f.keys)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		require.NoError(t, err)
		got = string(b)
	}))
	form := "item=widget&note=" + strings.Repeat("x", 100<<10) // larger than the scan window
	req := httptest.NewRequest("POST", "/v1/orders", strings.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	req.Header.Set("Authorization", "Bearer "+writerKey)
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, req)
	require.Equal(t, http.StatusOK, rr.Code)
	assert.Equal(t, form, got)
}

// failingStore is a KeyStore whose database is down.
type failingStore struct{ apiauth.KeyStore }

func (failingStore) LookupKey(context.Context, apiauth.KeyDigest) (*apiauth.KeyRecord, error) {
	return nil, errors.New("dial tcp 10.0.0.1:5432: connection refused")
}

func TestAuthenticateVerifierFailureIs503(t *testing.T) {
	var logs bytes.Buffer
	h := apiauth.Authenticate(apiauth.NewKeys(failingStore{}),
		apiauth.WithProblemTypeBase(typeBase),
		apiauth.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))(echo)
	req := httptest.NewRequest("GET", "/v1/me", nil)
	req.Header.Set("Authorization", "Bearer "+readerKey)
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, req)
	assertProblem(t, rr, "GET", problemBody{Type: typeBase + "temporarily_unavailable", Title: "Authentication unavailable",
		Status: 503, Detail: "Credentials cannot be checked right now; try again later.", Instance: "/v1/me",
		Code: "temporarily_unavailable"}, http.Header{"Retry-After": {"5"}})
	assert.NotContains(t, rr.Body.String(), "10.0.0.1", "internal error text stays out of the response")
	assert.Contains(t, logs.String(), "connection refused", "the operator sees the cause")
	assert.NotContains(t, logs.String(), readerKey)
}

// nilStore answers (nil, nil), a KeyStore bug that must not panic.
type nilStore struct{ apiauth.KeyStore }

func (nilStore) LookupKey(context.Context, apiauth.KeyDigest) (*apiauth.KeyRecord, error) {
	return nil, nil
}

func TestAuthenticateNilRecordIsUnknown(t *testing.T) {
	h := apiauth.Authenticate(apiauth.NewKeys(nilStore{}))(echo)
	req := httptest.NewRequest("GET", "/v1/me", nil)
	req.Header.Set("Authorization", "Bearer "+readerKey)
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, req)
	assert.Equal(t, http.StatusUnauthorized, rr.Code)
}

func TestAuthenticateVerifierErrorContract(t *testing.T) {
	for _, tc := range []struct {
		name       string
		err        error
		wantStatus int
		wantCode   string
	}{
		{"invalid", apiauth.ErrInvalidToken, 401, "invalid_token"},
		{"wrapped invalid", errors.Join(errors.New("bad signature"), apiauth.ErrInvalidToken), 401, "invalid_token"},
		{"malformed", apiauth.ErrMalformedToken, 401, "invalid_token"},
		{"unknown", apiauth.ErrUnknownToken, 401, "invalid_token"},
		{"expired", apiauth.ErrTokenExpired, 401, "token_expired"},
		{"revoked", apiauth.ErrTokenRevoked, 401, "token_revoked"},
		{"store down", errors.New("timeout"), 503, "temporarily_unavailable"},
		{"context deadline", context.DeadlineExceeded, 503, "temporarily_unavailable"},
		{"nil principal and nil error", nil, 401, "invalid_token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := apiauth.VerifierFunc(func(context.Context, string) (*apiauth.Principal, error) { return nil, tc.err })
			h := apiauth.Authenticate(v)(echo)
			req := httptest.NewRequest("GET", "/x", nil)
			req.Header.Set("Authorization", "Bearer token")
			rr := httptest.NewRecorder()
			h.ServeHTTP(rr, req)
			assert.Equal(t, tc.wantStatus, rr.Code)
			var p problemBody
			require.NoError(t, json.Unmarshal(rr.Body.Bytes(), &p))
			assert.Equal(t, tc.wantCode, p.Code)
			assert.Equal(t, "about:blank", p.Type, "without a type base")
			assert.Equal(t, http.StatusText(tc.wantStatus), p.Title, "about:blank's title is the status phrase")
		})
	}
}

func TestAuthenticateDispatchesByShape(t *testing.T) {
	var keyCalls, jwtCalls atomic.Int32
	keys := apiauth.VerifierFunc(func(_ context.Context, tok string) (*apiauth.Principal, error) {
		keyCalls.Add(1)
		return &apiauth.Principal{KeyID: "key"}, nil
	})
	jwts := apiauth.VerifierFunc(func(_ context.Context, tok string) (*apiauth.Principal, error) {
		jwtCalls.Add(1)
		return nil, apiauth.ErrInvalidToken
	})
	h := apiauth.Authenticate(keys, apiauth.WithJWT(jwts))(echo)
	for _, tc := range []struct {
		tok            string
		wantStatus     int
		wantKey, wantJ int32
	}{
		{"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln", 401, 0, 1},
		{readerKey, 200, 1, 1},
		{"eyJ-but-not-three-segments", 200, 2, 1},
	} {
		req := httptest.NewRequest("GET", "/x", nil)
		req.Header.Set("Authorization", "Bearer "+tc.tok)
		rr := httptest.NewRecorder()
		h.ServeHTTP(rr, req)
		assert.Equal(t, tc.wantStatus, rr.Code, tc.tok)
		assert.Equal(t, tc.wantKey, keyCalls.Load(), tc.tok)
		assert.Equal(t, tc.wantJ, jwtCalls.Load(), tc.tok)
	}
}

func TestOptionalAuthentication(t *testing.T) {
	f := newFixture(t)
	h := apiauth.Authenticate(f.keys, apiauth.Optional())(echo)
	for _, tc := range []struct {
		auth       string
		wantStatus int
		wantBody   string
	}{
		{"", 200, "anonymous"},
		{"Bearer " + readerKey, 200, "k-reader"},
		{"Bearer unknown-key-0123456789abcdef", 401, ""},
		{"Bearer", 400, ""},
	} {
		req := httptest.NewRequest("GET", "/x", nil)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		rr := httptest.NewRecorder()
		h.ServeHTTP(rr, req)
		assert.Equal(t, tc.wantStatus, rr.Code, tc.auth)
		if tc.wantBody != "" {
			assert.True(t, strings.HasPrefix(rr.Body.String(), tc.wantBody), rr.Body.String())
		}
	}
}

func TestRequireScope(t *testing.T) {
	f := newFixture(t)
	auth := apiauth.Authenticate(f.keys, apiauth.WithRealm("test"), apiauth.WithProblemTypeBase(typeBase))
	mux := http.NewServeMux()
	mux.Handle("/read", apiauth.RequireScope(apiauth.Read)(echo))
	mux.Handle("/write", apiauth.RequireScope(apiauth.Write)(echo))
	mux.Handle("/admin", apiauth.RequireScope(apiauth.Admin)(echo))
	mux.Handle("/orders", apiauth.RequireScope("orders:write")(echo))
	mux.Handle("/both", apiauth.RequireScope(apiauth.Read, "orders:write")(echo))
	mux.Handle("/method", apiauth.RequireMethodScope()(echo))
	h := auth(mux)

	tests := []struct {
		key, method, path string
		wantScope         string // "" when allowed
	}{
		{readerKey, "GET", "/read", ""},
		{readerKey, "GET", "/write", "write"},
		{readerKey, "GET", "/admin", "admin"},
		{writerKey, "GET", "/read", ""},
		{writerKey, "GET", "/write", ""},
		{writerKey, "GET", "/admin", "admin"},
		{adminKey, "GET", "/read", ""},
		{adminKey, "GET", "/write", ""},
		{adminKey, "GET", "/admin", ""},
		{adminKey, "GET", "/orders", "orders:write"}, // admin does not imply custom scopes
		{customKey, "GET", "/orders", ""},
		{customKey, "GET", "/read", "read"},
		{customKey, "GET", "/both", "read orders:write"},
		{readerKey, "GET", "/method", ""},
		{readerKey, "HEAD", "/method", ""},
		{readerKey, "OPTIONS", "/method", ""},
		{readerKey, "POST", "/method", "write"},
		{readerKey, "DELETE", "/method", "write"},
		{writerKey, "PATCH", "/method", ""},
	}
	for _, tc := range tests {
		t.Run(tc.key[:6]+" "+tc.method+" "+tc.path, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, tc.path, nil)
			req.Header.Set("Authorization", "Bearer "+tc.key)
			rr := httptest.NewRecorder()
			h.ServeHTTP(rr, req)
			if tc.wantScope == "" {
				assert.Equal(t, http.StatusOK, rr.Code)
				return
			}
			assertProblem(t, rr, tc.method, problemBody{Type: typeBase + "insufficient_scope", Title: "Insufficient scope",
				Status: 403, Detail: "This request needs the scope: " + tc.wantScope + ".", Instance: tc.path, Code: "insufficient_scope"},
				http.Header{"Www-Authenticate": {`Bearer realm="test", error="insufficient_scope", error_description="The credentials do not grant the scope this request needs.", scope="` + tc.wantScope + `"`}})
		})
	}
}

func TestGuardsFailClosedWithoutAuthenticate(t *testing.T) {
	for name, guard := range map[string]func(http.Handler) http.Handler{
		"RequireScope":  apiauth.RequireScope(apiauth.Read),
		"RequireTenant": apiauth.RequireTenant(func(*http.Request) string { return "acme" }),
	} {
		t.Run(name, func(t *testing.T) {
			h := guard(echo)
			req := httptest.NewRequest("GET", "/x", nil)
			req.Header.Set("Authorization", "Bearer "+readerKey) // never looked at
			rr := httptest.NewRecorder()
			h.ServeHTTP(rr, req)
			assertProblem(t, rr, "GET", problemBody{Type: "about:blank", Title: "Unauthorized", Status: 401,
				Detail: "No bearer token was provided in the Authorization header.", Instance: "/x", Code: "missing_token"},
				http.Header{"Www-Authenticate": {`Bearer realm="api"`}})
		})
	}
}

func TestRequireTenant(t *testing.T) {
	f := newFixture(t)
	mux := http.NewServeMux()
	mux.Handle("GET /v1/tenants/{tenant}/orders", apiauth.RequireTenant(apiauth.PathTenant("tenant"))(echo))
	h := apiauth.Authenticate(f.keys, apiauth.WithProblemTypeBase(typeBase))(mux)
	forbidden := problemBody{Type: typeBase + "tenant_forbidden", Title: "Tenant forbidden", Status: 403,
		Detail: "The credentials do not grant access to this tenant.", Code: "tenant_forbidden"}
	for _, tc := range []struct {
		key, tenant string
		allowed     bool
	}{
		{readerKey, "acme", true},
		{globexKey, "globex", true},
		{readerKey, "globex", false},
		{globexKey, "acme", false},
		{adminKey, "no-such-tenant", false}, // same answer whether or not it exists
		{readerKey, "ACME", false},          // exact match
	} {
		t.Run(tc.key[:6]+" "+tc.tenant, func(t *testing.T) {
			path := "/v1/tenants/" + tc.tenant + "/orders"
			req := httptest.NewRequest("GET", path, nil)
			req.Header.Set("Authorization", "Bearer "+tc.key)
			rr := httptest.NewRecorder()
			h.ServeHTTP(rr, req)
			if tc.allowed {
				assert.Equal(t, http.StatusOK, rr.Code)
				return
			}
			want := forbidden
			want.Instance = path
			// RFC 6750 §3.1 has only insufficient_scope for a 403: the
			// challenge uses it, the body keeps the precise code.
			assertProblem(t, rr, "GET", want, http.Header{"Www-Authenticate": {
				`Bearer realm="api", error="insufficient_scope", error_description="The credentials do not grant access to this tenant."`}})
		})
	}
}

func TestRequestID(t *testing.T) {
	valid := "abcdefghij0123456789+/=-"
	for _, tc := range []struct {
		name    string
		inbound []string
		keep    bool
	}{
		{"none", nil, false},
		{"valid", []string{valid}, true},
		{"200 characters", []string{strings.Repeat("a", 200)}, true},
		{"201 characters", []string{strings.Repeat("a", 201)}, false},
		{"19 characters", []string{strings.Repeat("a", 19)}, false},
		{"bad character", []string{valid + "_"}, false},
		{"two field lines", []string{valid, valid}, false},
		{"log injection", []string{"abcdefghij0123456789\nlevel=ERROR"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var seen string
			h := apiauth.RequestID()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				seen = apiauth.RequestIDFrom(r.Context())
			}))
			req := httptest.NewRequest("GET", "/", nil)
			for _, v := range tc.inbound {
				req.Header.Add("X-Request-Id", v)
			}
			rr := httptest.NewRecorder()
			h.ServeHTTP(rr, req)
			got := rr.Header().Values("X-Request-Id")
			require.Len(t, got, 1)
			assert.Equal(t, seen, got[0])
			if tc.keep {
				assert.Equal(t, tc.inbound[0], got[0])
			} else {
				assert.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, got[0])
			}
		})
	}
}

type chiKey struct{}

func TestRequestIDFromEarlierMiddleware(t *testing.T) {
	f := newFixture(t)
	// An earlier middleware (chi's middleware.RequestID, say) made the ID.
	earlier := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), chiKey{}, "host/AbCd-000001")))
		})
	}
	from := func(ctx context.Context) string { s, _ := ctx.Value(chiKey{}).(string); return s }
	h := earlier(apiauth.RequestID(apiauth.RequestIDFromContext(from))(apiauth.Authenticate(f.keys)(echo)))
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, httptest.NewRequest("GET", "/", nil))
	assert.Equal(t, 401, rr.Code)
	assert.Equal(t, "host/AbCd-000001", rr.Header().Get("X-Request-Id"))
	var p problemBody
	require.NoError(t, json.Unmarshal(rr.Body.Bytes(), &p))
	assert.Equal(t, "host/AbCd-000001", p.RequestID)
}

// TestOneRequestCopy checks that once RequestID has placed the state,
// Authenticate and the guards hand the same *http.Request on.
func TestOneRequestCopy(t *testing.T) {
	f := newFixture(t)
	var afterRequestID, inHandler *http.Request
	capture := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			afterRequestID = r
			next.ServeHTTP(w, r)
		})
	}
	h := apiauth.RequestID()(capture(apiauth.Authenticate(f.keys)(apiauth.RequireScope(apiauth.Read)(
		apiauth.RequireTenant(func(*http.Request) string { return "acme" })(
			http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { inHandler = r }))))))
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Authorization", "Bearer "+readerKey)
	h.ServeHTTP(httptest.NewRecorder(), req)
	require.NotNil(t, inHandler)
	assert.Same(t, afterRequestID, inHandler)
	assert.NotSame(t, req, inHandler, "RequestID made the one copy")
}

// TestSubRequestsKeepTheirOwnState: a handler that serves requests of
// its own with r.Context() (a batch endpoint, an internal redirect), here
// through a chain that authenticates with an admin key and a renderer that
// edits X-Request-Id in place, leaves its own request's state as it was:
// no principal appears on it, its X-Request-Id field keeps its value, and
// sub-requests run at once do not race on it. They keep its request ID.
func TestSubRequestsKeepTheirOwnState(t *testing.T) {
	f := newFixture(t)
	editID := apiauth.WithRenderer(func(w http.ResponseWriter, r *http.Request, p *apiauth.Problem) {
		w.Header()["X-Request-Id"][0] = "edited-by-inner-renderer"
		apiauth.WriteProblem(w, r, p)
	})
	inner := apiauth.RequestID()(apiauth.Authenticate(f.keys, editID)(apiauth.RequireScope(apiauth.Admin)(echo)))
	const outerID = "outer-request-id-0123456789"
	var innerBodies []string
	var mu sync.Mutex
	outer := apiauth.RequestID()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var wg sync.WaitGroup
		for _, tok := range []string{adminKey, "no-such-key-0123456789abcdef", adminKey} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sub, _ := http.NewRequestWithContext(r.Context(), "GET", "/v1/me", nil)
				sub.Header.Set("Authorization", "Bearer "+tok)
				rr := httptest.NewRecorder()
				inner.ServeHTTP(rr, sub)
				mu.Lock()
				innerBodies = append(innerBodies, fmt.Sprint(rr.Code, " ", rr.Header().Get("X-Request-Id")))
				mu.Unlock()
			}()
		}
		wg.Wait()
		p, ok := apiauth.PrincipalFrom(r.Context())
		assert.False(t, ok, "the outer request has no principal: %+v", p)
		assert.Equal(t, outerID, apiauth.RequestIDFrom(r.Context()))
	}))
	req := httptest.NewRequest("GET", "/batch", nil)
	req.Header.Set("X-Request-Id", outerID)
	rr := httptest.NewRecorder()
	outer.ServeHTTP(rr, req)
	assert.Equal(t, []string{outerID}, rr.Header()["X-Request-Id"], "the outer response's field")
	sort.Strings(innerBodies)
	assert.Equal(t, []string{"200 " + outerID, "200 " + outerID, "401 edited-by-inner-renderer"}, innerBodies)
}

func TestWithPrincipal(t *testing.T) {
	p := &apiauth.Principal{Subject: "u", Tenant: "acme", Scopes: []apiauth.Scope{apiauth.Write}}
	h := apiauth.RequireScope(apiauth.Read)(apiauth.RequireTenant(apiauth.PathTenant("t"))(echo))
	mux := http.NewServeMux()
	mux.Handle("/t/{t}", h)
	req := httptest.NewRequest("GET", "/t/acme", nil)
	req = req.WithContext(apiauth.WithPrincipal(req.Context(), p))
	rr := httptest.NewRecorder()
	mux.ServeHTTP(rr, req)
	assert.Equal(t, 200, rr.Code)
	got, ok := apiauth.PrincipalFrom(req.Context())
	assert.True(t, ok)
	assert.Same(t, p, got)
	_, ok = apiauth.PrincipalFrom(context.Background())
	assert.False(t, ok)
	assert.Equal(t, "", apiauth.RequestIDFrom(context.Background()))
}

// TestContextStillCancels checks that the state, which is itself the
// request's context, passes on cancellation and deadlines.
func TestContextStillCancels(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var done <-chan struct{}
	var derivedErr func() error
	h := apiauth.RequestID()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		done = r.Context().Done()
		c, stop := context.WithTimeout(r.Context(), time.Hour)
		_ = stop
		derivedErr = c.Err
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil).WithContext(ctx))
	cancel()
	<-done
	assert.ErrorIs(t, derivedErr(), context.Canceled)
}

func TestEventsAndLogsNeverCarryKeys(t *testing.T) {
	f := newFixture(t)
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var events []apiauth.Event
	h := apiauth.RequestID()(apiauth.Authenticate(f.keys, apiauth.WithLogger(logger))(
		apiauth.RequireScope(apiauth.Write)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, _ := apiauth.PrincipalFrom(r.Context())
			logger.InfoContext(r.Context(), "handled", "principal", p)
		}))))
	observed := apiauth.Authenticate(f.keys, apiauth.OnEvent(func(_ *http.Request, e apiauth.Event) { events = append(events, e) }))(echo)

	secrets := []string{readerKey, writerKey, adminKey, expiredKey, revokedKey, "unknown-key-0123456789abcdef"}
	generated, _, err := f.keys.Create(context.Background(), apiauth.KeySpec{ID: "k-gen", Tenant: "acme", Scopes: []apiauth.Scope{apiauth.Write}})
	require.NoError(t, err)
	secrets = append(secrets, generated)
	for _, k := range secrets {
		for _, auth := range []string{"Bearer " + k, "Bearer  " + k + " extra", "bearer " + k} {
			for _, target := range []string{"/", "/?access_token=" + url.QueryEscape(k)} {
				req := httptest.NewRequest("POST", target, nil)
				req.Header.Set("Authorization", auth)
				h.ServeHTTP(httptest.NewRecorder(), req)
				observed.ServeHTTP(httptest.NewRecorder(), req)
			}
		}
	}
	out := logs.String()
	require.NotEmpty(t, out)
	for _, k := range secrets {
		assert.NotContains(t, out, k)
		// Nor any long piece of it.
		assert.NotContains(t, out, k[:16])
	}
	assert.Contains(t, out, "key_id=k-writer", "successes name the key ID")
	assert.Contains(t, out, "code=token_revoked")
	assert.Contains(t, out, "token_fp="+apiauth.Fingerprint(revokedKey), "rejections name a fingerprint")

	require.NotEmpty(t, events)
	var ok, rejected int
	for _, e := range events {
		assert.NotEmpty(t, e.RequestID)
		if e.Code == "" {
			ok++
			assert.NotNil(t, e.Principal)
		} else {
			rejected++
			assert.Nil(t, e.Principal)
			assert.NotZero(t, e.Status)
		}
	}
	assert.Positive(t, ok)
	assert.Positive(t, rejected)
}

func TestPrincipalLogValue(t *testing.T) {
	p := &apiauth.Principal{Subject: "u1", Tenant: "acme", KeyID: "k1", Tier: "pro",
		Scopes: []apiauth.Scope{apiauth.Read, "orders:write"}, Claims: json.RawMessage(`{"secret":"s3cr3t"}`)}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "principal", p)
	out := buf.String()
	assert.Contains(t, out, `principal.subject=u1 principal.tenant=acme principal.issuer="" principal.key_id=k1 principal.tier=pro principal.scopes="read orders:write"`)
	assert.NotContains(t, out, "s3cr3t")
}

func TestRealmValidated(t *testing.T) {
	assert.Panics(t, func() { apiauth.WithRealm(`a"b`) })
	assert.Panics(t, func() { apiauth.WithRealm("a\nb") })
	assert.NotPanics(t, func() { apiauth.WithRealm("my api") })
	assert.Panics(t, func() { apiauth.RequireScope("has space") })
}

// syntaxVerifier records the tokens it is handed; it says it checks their
// syntax itself when checks is true.
type syntaxVerifier struct {
	checks bool
	got    []string
}

func (v *syntaxVerifier) Verify(_ context.Context, tok string) (*apiauth.Principal, error) {
	v.got = append(v.got, tok)
	return nil, apiauth.ErrMalformedToken
}

func (v *syntaxVerifier) ChecksTokenSyntax() bool { return v.checks }

// Authenticate scans a token for b64token characters (RFC 6750 §2.1)
// unless its verifier is a SyntaxChecker that says it does so itself; a
// verifier that says false, or is no SyntaxChecker, never sees such a
// token.
func TestAuthenticateSyntaxChecker(t *testing.T) {
	const bad = "not,a,b64token-0123456789"
	for _, checks := range []bool{true, false} {
		v := &syntaxVerifier{checks: checks}
		var _ apiauth.SyntaxChecker = v
		rr := getMe(apiauth.Authenticate(v)(echo), bad)
		assert.Equal(t, http.StatusUnauthorized, rr.Code)
		assert.Contains(t, rr.Body.String(), `"code":"invalid_token"`)
		if checks {
			assert.Equal(t, []string{bad}, v.got)
		} else {
			assert.Empty(t, v.got)
		}
	}
	var got []string
	plain := apiauth.VerifierFunc(func(_ context.Context, tok string) (*apiauth.Principal, error) {
		got = append(got, tok)
		return nil, apiauth.ErrInvalidToken
	})
	getMe(apiauth.Authenticate(plain)(echo), bad)
	assert.Empty(t, got)
}

// A handler that sends an internal request through Authenticate with its
// own r.Context() must not change its own request's principal.
func TestNestedRequestKeepsOuterPrincipal(t *testing.T) {
	f := newFixture(t)
	auth := apiauth.Authenticate(f.keys)
	inner := auth(echo)
	var after string
	outer := apiauth.RequestID()(auth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req := httptest.NewRequest("GET", "/inner", nil).WithContext(r.Context())
		req.Header.Set("Authorization", "Bearer "+globexKey)
		inner.ServeHTTP(httptest.NewRecorder(), req)
		p, _ := apiauth.PrincipalFrom(r.Context())
		after = p.Tenant
	})))
	req := httptest.NewRequest("GET", "/outer", nil)
	req.Header.Set("Authorization", "Bearer "+readerKey)
	outer.ServeHTTP(httptest.NewRecorder(), req)
	assert.Equal(t, "acme", after)
}

// OnEvent and WithLogger compose: every observer sees every event, in the
// order given, whichever comes first.
func TestObserversCompose(t *testing.T) {
	f := newFixture(t)
	var order []string
	var logged bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := apiauth.Authenticate(f.keys,
		apiauth.OnEvent(func(_ *http.Request, e apiauth.Event) { order = append(order, "first "+string(e.Code)) }),
		apiauth.WithLogger(logger),
		apiauth.OnEvent(nil),
		apiauth.OnEvent(func(_ *http.Request, e apiauth.Event) { order = append(order, "last "+string(e.Code)) }),
	)(echo)
	getMe(h, readerKey)
	getMe(h, "unknown-key-0123456789abcdef")
	assert.Equal(t, []string{"first ", "last ", "first invalid_token", "last invalid_token"}, order)
	assert.Contains(t, logged.String(), "apiauth: authenticate ok")
	assert.Contains(t, logged.String(), "apiauth: authenticate refused")
}

// The layers share one Option type; an option given to a layer it does
// not configure panics when the layer is built, never silently does
// nothing.
func TestMisplacedOptionPanics(t *testing.T) {
	keys := apiauth.NewMemoryKeys()
	assert.PanicsWithValue(t, "apiauth: WithRealm is not an option of RateLimit", func() {
		apiauth.RateLimit(apiauth.NewMemoryStore(), nil, apiauth.WithRealm("api"))
	})
	assert.PanicsWithValue(t, "apiauth: WithFailOpen is not an option of Authenticate", func() {
		apiauth.Authenticate(keys, apiauth.WithFailOpen())
	})
	assert.PanicsWithValue(t, "apiauth: WithLogger is not an option of RequestID", func() {
		apiauth.RequestID(apiauth.WithLogger(slog.Default()))
	})
	assert.PanicsWithValue(t, "apiauth: RequestIDFromContext is not an option of Authenticate", func() {
		apiauth.Authenticate(keys, apiauth.RequestIDFromContext(func(context.Context) string { return "" }))
	})
	assert.NotPanics(t, func() {
		apiauth.Authenticate(keys, apiauth.WithClock(time.Now), apiauth.WithClientIP(nil))
		apiauth.RateLimit(apiauth.NewMemoryStore(), nil, apiauth.WithClock(time.Now), apiauth.WithClientIP(&apiauth.ClientIP{}))
	})
}

// WithClock is the failure limit's clock too: a spent bucket recovers on
// the injected clock, not the wall clock.
func TestFailureLimitClock(t *testing.T) {
	f := newFixture(t)
	now := t0
	one := apiauth.Tier{Name: "failures", Limits: []apiauth.Limit{{Requests: 1, Window: time.Hour}}}
	h := apiauth.Authenticate(f.keys, apiauth.WithFailureLimit(apiauth.NewMemoryStore(), one),
		apiauth.WithClock(func() time.Time { return now }))(echo)
	assert.Equal(t, http.StatusUnauthorized, getMe(h, "guess-0123456789abcdefgh").Code)
	assert.Equal(t, http.StatusTooManyRequests, getMe(h, readerKey).Code)
	now = now.Add(time.Hour)
	assert.Equal(t, http.StatusOK, getMe(h, readerKey).Code, "recovered an hour later on the injected clock")
}
