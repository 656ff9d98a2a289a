package apiauth_test

// Fixtures and assertions shared by the package's tests.

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/apiauth/apiauth"
	"github.com/apiauth/apiauth/apiauthtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	typeBase = "https://api.test/problems/"
	// Imported keys: any b64token of 20+ characters.
	readerKey  = "reader-key-0123456789abcdef"
	writerKey  = "writer-key-0123456789abcdef"
	adminKey   = "admin-key-0123456789abcdef"
	expiredKey = "expired-key-0123456789abcdef"
	revokedKey = "revoked-key-0123456789abcdef"
	globexKey  = "globex-key-0123456789abcdef"
	customKey  = "custom-key-0123456789abcdef"
)

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// fixture is a key store with one key per case and a fixed clock.
type fixture struct {
	keys *apiauth.Keys
	now  time.Time
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{now: t0}
	f.keys = apiauth.NewMemoryKeys()
	f.keys.Now = func() time.Time { return f.now }
	ctx := context.Background()
	for _, k := range []struct {
		key, id, tenant string
		scopes          []apiauth.Scope
		expires         time.Time
	}{
		{readerKey, "k-reader", "acme", []apiauth.Scope{apiauth.Read}, time.Time{}},
		{writerKey, "k-writer", "acme", []apiauth.Scope{apiauth.Write}, time.Time{}},
		{adminKey, "k-admin", "acme", []apiauth.Scope{apiauth.Admin}, time.Time{}},
		{expiredKey, "k-expired", "acme", []apiauth.Scope{apiauth.Read}, t0.Add(-time.Second)},
		{revokedKey, "k-revoked", "acme", []apiauth.Scope{apiauth.Read}, time.Time{}},
		{globexKey, "k-globex", "globex", []apiauth.Scope{apiauth.Admin}, time.Time{}},
		{customKey, "k-custom", "acme", []apiauth.Scope{"orders:write"}, time.Time{}},
	} {
		_, err := f.keys.Import(ctx, k.key, apiauth.KeySpec{ID: k.id, Subject: "user-" + k.id, Tenant: k.tenant, Scopes: k.scopes, ExpiresAt: k.expires})
		require.NoError(t, err)
	}
	require.NoError(t, f.keys.Revoke(ctx, "k-revoked"))
	return f
}

// echo answers 200 with the principal's key ID and the request ID.
var echo = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	p, ok := apiauth.PrincipalFrom(r.Context())
	if !ok {
		_, _ = io.WriteString(w, "anonymous "+apiauth.RequestIDFrom(r.Context()))
		return
	}
	_, _ = io.WriteString(w, p.KeyID+" "+apiauth.RequestIDFrom(r.Context()))
})

// problemBody is the decoded problem with every member it may have, so that
// an extra member fails the DisallowUnknownFields decode.
type problemBody struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail"`
	Instance  string `json:"instance"`
	RequestID string `json:"request_id"`
	Code      string `json:"code"`
}

// getMe serves h a GET /v1/me with tok as its bearer token.
func getMe(h http.Handler, tok string) *httptest.ResponseRecorder {
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, apiauthtest.Request("GET", "/v1/me", tok))
	return rr
}

// decodeProblem decodes a problem body strictly: a member problemBody does
// not know fails the test.
func decodeProblem(t *testing.T, rr *httptest.ResponseRecorder) problemBody {
	t.Helper()
	var b problemBody
	dec := json.NewDecoder(bytes.NewReader(rr.Body.Bytes()))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&b), rr.Body.String())
	return b
}

// assertProblem checks a problem response exactly: what
// apiauthtest.AssertProblem checks, and the complete header set and every
// member of the body.
func assertProblem(t *testing.T, rr *httptest.ResponseRecorder, method string, want problemBody, wantHeaders http.Header) {
	t.Helper()
	require.Equal(t, want.Status, rr.Code)
	if method != http.MethodHead {
		apiauthtest.AssertProblem(t, rr, want.Status, apiauth.Code(want.Code))
	}
	h := rr.Header().Clone()
	id := h.Get("X-Request-Id")
	assert.Len(t, id, 36, "generated request ID is UUID-shaped")
	h.Del("X-Request-Id")
	exp := http.Header{
		"Content-Type":           {"application/problem+json"},
		"X-Content-Type-Options": {"nosniff"},
		"Cache-Control":          {"no-store"},
	}
	for k, v := range wantHeaders {
		exp[k] = v
	}
	if method == http.MethodHead {
		assert.Empty(t, rr.Body.Bytes(), "HEAD gets no body")
		exp["Content-Length"] = h["Content-Length"]
		assert.Equal(t, exp, h)
		return
	}
	exp["Content-Length"] = []string{strconv.Itoa(rr.Body.Len())}
	assert.Equal(t, exp, h)
	got := decodeProblem(t, rr)
	want.RequestID = id
	assert.Equal(t, want, got)
}
