package apiauth_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/apiauth/apiauth"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pbTrickyStrings exercise every branch of a JSON string encoder: the
// escapes encoding/json uses, HTML-sensitive characters, the JavaScript line
// terminators, multi-byte UTF-8 and invalid UTF-8.
var pbTrickyStrings = []string{
	"",
	"plain ascii",
	`quote " and backslash \`,
	"newline \n return \r tab \t",
	"backspace \b formfeed \f",
	"controls \x00\x01\x07\x0b\x0e\x1b\x1f",
	"del \x7f",
	"html <script>alert('x')</script> & co",
	"line sep \u2028 para sep \u2029",
	"near \u2027\u202a",
	"é ü ß 日本語 😀",
	"replacement char \ufffd",
	"invalid \xff byte",
	"truncated \xe2\x82",
	"lone continuation \x80\xbf",
	"surrogate half \xed\xa0\x80",
	"overlong \xc0\xaf",
	"beyond max \xf4\x90\x80\x80",
	"\xff",
	"/orders/a%20b?x=1&y=<2>",
}

func TestWriteProblemMatchesEncodingJSON(t *testing.T) {
	for _, s := range pbTrickyStrings {
		t.Run(strconv.Quote(s), func(t *testing.T) {
			pbCheckAgainstEncodingJSON(t, s)
		})
	}
}

func pbCheckAgainstEncodingJSON(t *testing.T, s string) {
	p := &apiauth.Problem{
		Type: s, Title: s, Status: 401, Detail: s, Instance: s, RequestID: s, Code: apiauth.Code(s),
	}
	rr := httptest.NewRecorder()
	apiauth.WriteProblem(rr, httptest.NewRequest(http.MethodGet, "/", nil), p)
	want, err := json.Marshal(p)
	require.NoError(t, err)
	got := rr.Body.String()
	assert.Equal(t, string(want)+"\n", got, "%q", s)

	var back apiauth.Problem
	require.NoError(t, json.Unmarshal(rr.Body.Bytes(), &back), "%q", s)
	var wantBack apiauth.Problem
	require.NoError(t, json.Unmarshal(want, &wantBack))
	assert.Equal(t, wantBack, back)
	if utf8.ValidString(s) {
		assert.Equal(t, *p, back, "valid strings round-trip unchanged")
	}
}

func TestWriteProblem(t *testing.T) {
	p := &apiauth.Problem{
		Type:      "https://api.example.com/problems/invalid_token",
		Title:     "Invalid token",
		Status:    http.StatusUnauthorized,
		Detail:    "The access token or API key is invalid.",
		Instance:  "/v1/orders",
		RequestID: "0b6f3c1e-8d2a-4f7b-9c3d-5e6f7a8b9c0d",
		Code:      apiauth.CodeInvalidToken,
	}
	const body = `{"type":"https://api.example.com/problems/invalid_token","title":"Invalid token","status":401,` +
		`"detail":"The access token or API key is invalid.","instance":"/v1/orders",` +
		`"request_id":"0b6f3c1e-8d2a-4f7b-9c3d-5e6f7a8b9c0d","code":"invalid_token"}` + "\n"

	rr := httptest.NewRecorder()
	apiauth.WriteProblem(rr, httptest.NewRequest(http.MethodGet, "/v1/orders", nil), p)
	assert.Equal(t, http.StatusUnauthorized, rr.Code)
	assert.Equal(t, http.Header{
		"Content-Type":           {"application/problem+json"},
		"X-Content-Type-Options": {"nosniff"},
		"Content-Length":         {strconv.Itoa(len(body))},
	}, rr.Header())
	assert.Equal(t, body, rr.Body.String())

	// HEAD: the same headers, Content-Length included, and no body.
	rr = httptest.NewRecorder()
	apiauth.WriteProblem(rr, httptest.NewRequest(http.MethodHead, "/v1/orders", nil), p)
	assert.Equal(t, http.StatusUnauthorized, rr.Code)
	assert.Equal(t, http.Header{
		"Content-Type":           {"application/problem+json"},
		"X-Content-Type-Options": {"nosniff"},
		"Content-Length":         {strconv.Itoa(len(body))},
	}, rr.Header())
	assert.Empty(t, rr.Body.String())

	// Headers set earlier (by the library or the server) stay; a stale
	// Content-Type is replaced.
	rr = httptest.NewRecorder()
	rr.Header().Set("Content-Type", "text/html")
	rr.Header().Set("WWW-Authenticate", `Bearer realm="api"`)
	apiauth.WriteProblem(rr, httptest.NewRequest(http.MethodPost, "/v1/orders", nil), p)
	assert.Equal(t, "application/problem+json", rr.Header().Get("Content-Type"))
	assert.Equal(t, `Bearer realm="api"`, rr.Header().Get("WWW-Authenticate"))
	assert.Equal(t, body, rr.Body.String())
}

// TestWriteProblemOverHTTP checks that the Content-Length the renderer sets
// is the one a real server sends, for GET and HEAD.
func TestWriteProblemOverHTTP(t *testing.T) {
	p := &apiauth.Problem{Type: "about:blank", Title: "Too Many Requests", Status: 429, Detail: "Ünïcödé <&>", Instance: "/x", RequestID: "id", Code: apiauth.CodeRateLimited}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { apiauth.WriteProblem(w, r, p) }))
	defer srv.Close()
	want, err := json.Marshal(p)
	require.NoError(t, err)
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		req, err := http.NewRequestWithContext(context.Background(), method, srv.URL+"/x", nil)
		require.NoError(t, err)
		resp, err := srv.Client().Do(req)
		require.NoError(t, err)
		got, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		assert.Equal(t, 429, resp.StatusCode)
		assert.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"))
		assert.Equal(t, strconv.Itoa(len(want)+1), resp.Header.Get("Content-Length"))
		if method == http.MethodHead {
			assert.Empty(t, got)
		} else {
			assert.Equal(t, string(want)+"\n", string(got))
		}
	}
}

var pbUUID = `^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`

func TestWriteErrorWithoutAuthenticate(t *testing.T) {
	tests := []struct {
		name             string
		status           int
		code             apiauth.Code
		detail           string
		wantTitle        string
		wantDetail       string
		wantStatusInBody int
	}{
		{"unknown code, custom status", http.StatusConflict, "out_of_stock", "Item 42 is out of stock.", "Conflict", "Item 42 is out of stock.", 409},
		{"unknown code, no detail", http.StatusUnprocessableEntity, "bad_order", "", "Unprocessable Entity", "", 422},
		{"unknown code, 500", http.StatusInternalServerError, "internal", "Something went wrong.", "Internal Server Error", "Something went wrong.", 500},
		{"library code, its status", http.StatusForbidden, apiauth.CodeTenantForbidden, "", "Forbidden", "The credentials do not grant access to this tenant.", 403},
		{"library code, other status", http.StatusNotFound, apiauth.CodeTenantForbidden, "No such order.", "Not Found", "No such order.", 404},
		{"unknown status number", 599, "odd", "x", "", "x", 599},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rr := httptest.NewRecorder()
			apiauth.WriteError(rr, httptest.NewRequest(http.MethodPost, "/v1/orders/a%20b", nil), tc.status, tc.code, tc.detail)
			assert.Equal(t, tc.status, rr.Code)
			assert.Equal(t, "application/problem+json", rr.Header().Get("Content-Type"))
			assert.Equal(t, "nosniff", rr.Header().Get("X-Content-Type-Options"))
			assert.Equal(t, "no-store", rr.Header().Get("Cache-Control"))
			assert.Equal(t, strconv.Itoa(rr.Body.Len()), rr.Header().Get("Content-Length"))
			if tc.status == http.StatusForbidden {
				assert.Equal(t, `Bearer realm="api", error="insufficient_scope", error_description="The credentials do not grant access to this tenant."`,
					rr.Header().Get("WWW-Authenticate"), "every 403 carries a Bearer challenge")
			} else {
				assert.Empty(t, rr.Header().Get("WWW-Authenticate"))
			}
			b := decodeProblem(t, rr)
			assert.Regexp(t, pbUUID, b.RequestID)
			assert.Equal(t, b.RequestID, rr.Header().Get("X-Request-Id"))
			assert.Equal(t, problemBody{
				Type:      "about:blank",
				Title:     tc.wantTitle,
				Status:    tc.wantStatusInBody,
				Detail:    tc.wantDetail,
				Instance:  "/v1/orders/a%20b",
				RequestID: b.RequestID,
				Code:      string(tc.code),
			}, b)
		})
	}
}

// WriteError's 401s and 403s carry a Bearer challenge (RFC 6750 §3),
// unless the handler set its own.
func TestWriteErrorChallenges(t *testing.T) {
	for _, tc := range []struct {
		status int
		code   apiauth.Code
		set    string
		want   string
	}{
		{401, apiauth.CodeMissingToken, "", `Bearer realm="api"`},
		{401, apiauth.CodeTokenRevoked, "", `Bearer realm="api", error="invalid_token", error_description="The API key has been revoked."`},
		{401, "session_over", "", `Bearer realm="api", error="invalid_token"`},
		{403, apiauth.CodeInsufficientScope, "", `Bearer realm="api", error="insufficient_scope", error_description="The credentials do not grant the scope this request needs."`},
		{403, "not_yours", "", `Bearer realm="api", error="insufficient_scope"`},
		{403, "not_yours", `Bearer realm="api", error="insufficient_scope", scope="admin"`, `Bearer realm="api", error="insufficient_scope", scope="admin"`},
		{404, apiauth.CodeTenantForbidden, "", ""},
	} {
		rr := httptest.NewRecorder()
		if tc.set != "" {
			rr.Header().Set("WWW-Authenticate", tc.set)
		}
		apiauth.WriteError(rr, httptest.NewRequest("GET", "/", nil), tc.status, tc.code, "")
		assert.Equal(t, tc.want, rr.Header().Get("WWW-Authenticate"), "%d %s", tc.status, tc.code)
	}
}

func TestWriteErrorBehindLayers(t *testing.T) {
	const inboundID = "client-request-0123456789"
	verifier := apiauth.VerifierFunc(func(ctx context.Context, tok string) (*apiauth.Principal, error) {
		return &apiauth.Principal{Subject: "s", Tenant: "acme"}, nil
	})
	var rendered []*apiauth.Problem
	tests := []struct {
		name      string
		opts      []apiauth.Option
		status    int
		code      apiauth.Code
		wantType  string
		wantTitle string
	}{
		{"type base, unknown code", []apiauth.Option{apiauth.WithProblemTypeBase("https://api.example.com/problems/")}, 409, "out_of_stock",
			"https://api.example.com/problems/out_of_stock", "Conflict"},
		{"type base, library code", []apiauth.Option{apiauth.WithProblemTypeBase("https://api.example.com/problems/")}, 403, apiauth.CodeInsufficientScope,
			"https://api.example.com/problems/insufficient_scope", "Insufficient scope"},
		{"type base, library code, other status", []apiauth.Option{apiauth.WithProblemTypeBase("https://api.example.com/problems/")}, 400, apiauth.CodeInsufficientScope,
			"https://api.example.com/problems/insufficient_scope", "Insufficient scope"},
		{"no type base", nil, 409, "out_of_stock", "about:blank", "Conflict"},
		{"renderer", []apiauth.Option{apiauth.WithRenderer(func(w http.ResponseWriter, r *http.Request, p *apiauth.Problem) {
			rendered = append(rendered, p)
			apiauth.WriteProblem(w, r, p)
		})}, 409, "out_of_stock", "about:blank", "Conflict"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rendered = nil
			h := apiauth.RequestID()(apiauth.Authenticate(verifier, tc.opts...)(
				http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					apiauth.WriteError(w, r, tc.status, tc.code, "Detail for the client.")
				})))
			req := httptest.NewRequest(http.MethodGet, "/v1/x", nil)
			req.Header.Set("Authorization", "Bearer "+strings.Repeat("t", 24))
			req.Header.Set("X-Request-Id", inboundID)
			rr := httptest.NewRecorder()
			h.ServeHTTP(rr, req)
			assert.Equal(t, tc.status, rr.Code)
			assert.Equal(t, inboundID, rr.Header().Get("X-Request-Id"))
			assert.Equal(t, "no-store", rr.Header().Get("Cache-Control"))
			assert.Equal(t, problemBody{
				Type: tc.wantType, Title: tc.wantTitle, Status: tc.status, Detail: "Detail for the client.",
				Instance: "/v1/x", RequestID: inboundID, Code: string(tc.code),
			}, decodeProblem(t, rr))
			if tc.name == "renderer" {
				assert.Len(t, rendered, 1, "WriteError uses the layer's renderer")
			}
		})
	}
}

// TestRendererMayAddHeaders: the header values of a refusal share one
// allocation; a renderer (or any layer) that adds to or edits a field the
// library set must change that field only.
func TestRendererMayAddHeaders(t *testing.T) {
	keys := apiauth.VerifierFunc(func(context.Context, string) (*apiauth.Principal, error) { return nil, apiauth.ErrUnknownToken })
	render := func(w http.ResponseWriter, r *http.Request, p *apiauth.Problem) {
		h := w.Header()
		h.Add("Www-Authenticate", `Basic realm="legacy"`)
		h.Add("Cache-Control", "private")
		h["X-Request-Id"][0] = "edited"
		apiauth.WriteProblem(w, r, p)
	}
	for _, tc := range []struct {
		name string
		opts []apiauth.Option
		want http.Header
	}{
		{"library renderer", nil, http.Header{
			"Www-Authenticate":       {`Bearer realm="api", error="invalid_token", error_description="The access token or API key is invalid."`},
			"X-Request-Id":           {"client-request-0123456789"},
			"Cache-Control":          {"no-store"},
			"Content-Type":           {"application/problem+json"},
			"X-Content-Type-Options": {"nosniff"},
		}},
		{"renderer adding fields", []apiauth.Option{apiauth.WithRenderer(render)}, http.Header{
			"Www-Authenticate":       {`Bearer realm="api", error="invalid_token", error_description="The access token or API key is invalid."`, `Basic realm="legacy"`},
			"X-Request-Id":           {"edited"},
			"Cache-Control":          {"no-store", "private"},
			"Content-Type":           {"application/problem+json"},
			"X-Content-Type-Options": {"nosniff"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for range 2 { // the second refusal is untouched by the first's edits
				req := httptest.NewRequest(http.MethodGet, "/v1/x", nil)
				req.Header.Set("Authorization", "Bearer "+strings.Repeat("t", 24))
				req.Header.Set("X-Request-Id", "client-request-0123456789")
				rr := httptest.NewRecorder()
				apiauth.RequestID()(apiauth.Authenticate(keys, tc.opts...)(http.NotFoundHandler())).ServeHTTP(rr, req)
				assert.Equal(t, 401, rr.Code)
				want := tc.want.Clone()
				want["Content-Length"] = []string{strconv.Itoa(rr.Body.Len())}
				assert.Equal(t, want, rr.Header())
			}
		})
	}
}

// instance is never a network-path reference to another host.
func TestProblemInstanceStaysOnHost(t *testing.T) {
	h := apiauth.Authenticate(apiauth.NewMemoryKeys())(echo)
	rr := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/", nil)
	req.URL.Path = "//evil.example/phish"
	h.ServeHTTP(rr, req)
	var p problemBody
	require.NoError(t, json.Unmarshal(rr.Body.Bytes(), &p))
	assert.Equal(t, "/.//evil.example/phish", p.Instance)
}
