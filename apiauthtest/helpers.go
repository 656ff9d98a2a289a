package apiauthtest

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/apiauth/apiauth"
	"github.com/apiauth/apiauth/oauth"
)

// MintKey creates an API key in keys for spec and returns its plaintext,
// failing t on error. Use it to give handler tests a real credential.
func MintKey(t testing.TB, keys *apiauth.Keys, spec apiauth.KeySpec) string {
	t.Helper()
	key, _, err := keys.Create(context.Background(), spec)
	if err != nil {
		t.Fatalf("apiauthtest: mint key: %v", err)
	}
	return key
}

// MintToken signs an access token for p with issuer, failing t on error.
func MintToken(t testing.TB, issuer *oauth.Issuer, p *apiauth.Principal) string {
	t.Helper()
	tok, _, err := issuer.Issue(p)
	if err != nil {
		t.Fatalf("apiauthtest: mint token: %v", err)
	}
	return tok
}

// AssertProblem checks that rec holds an RFC 9457 problem response with
// the given status and code, whose request_id matches the X-Request-ID
// header, and returns the decoded problem for further checks.
func AssertProblem(t testing.TB, rec *httptest.ResponseRecorder, status int, code apiauth.Code) apiauth.Problem {
	t.Helper()
	var p apiauth.Problem
	if rec.Code != status {
		t.Errorf("apiauthtest: status %d, want %d (body %s)", rec.Code, status, rec.Body.String())
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("apiauthtest: Content-Type %q, want application/problem+json", ct)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatalf("apiauthtest: problem body: %v (%s)", err, rec.Body.String())
	}
	if p.Code != code {
		t.Errorf("apiauthtest: code %q, want %q", p.Code, code)
	}
	if p.Status != status {
		t.Errorf("apiauthtest: body status %d, want %d", p.Status, status)
	}
	if id := rec.Header().Get("X-Request-Id"); p.RequestID == "" || p.RequestID != id {
		t.Errorf("apiauthtest: request_id %q, X-Request-ID %q: want the same, not empty", p.RequestID, id)
	}
	return p
}

// Request returns a request for method and target carrying bearer as its
// Authorization credential ("" for none).
func Request(method, target, bearer string) *http.Request {
	req := httptest.NewRequest(method, target, nil)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	return req
}
