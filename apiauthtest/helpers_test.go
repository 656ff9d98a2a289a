package apiauthtest_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/apiauth/apiauth"
	"github.com/apiauth/apiauth/apiauthtest"
	"github.com/apiauth/apiauth/oauth"
)

func TestHelpers(t *testing.T) {
	keys := apiauth.NewMemoryKeys()
	key := apiauthtest.MintKey(t, keys, apiauth.KeySpec{Subject: "u", Tenant: "acme", Scopes: []apiauth.Scope{apiauth.Read}})
	issuer, err := oauth.NewIssuer(oauth.Config{Issuer: "https://auth.test", Audience: "api"})
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := apiauth.NewJWTVerifier(apiauth.JWTOptions{}, issuer.JWTIssuer())
	if err != nil {
		t.Fatal(err)
	}
	tok := apiauthtest.MintToken(t, issuer, &apiauth.Principal{Subject: "svc", Tenant: "acme", Scopes: []apiauth.Scope{apiauth.Write}})
	h := apiauth.Authenticate(keys, apiauth.WithJWT(verifier))(apiauth.RequireScope(apiauth.Write)(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})))

	for _, tc := range []struct {
		bearer string
		status int
		code   apiauth.Code
	}{
		{tok, 200, ""},
		{key, 403, apiauth.CodeInsufficientScope},
		{"", 401, apiauth.CodeMissingToken},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, apiauthtest.Request("POST", "/v1/orders", tc.bearer))
		if tc.code == "" {
			if rec.Code != tc.status {
				t.Errorf("status %d, want %d", rec.Code, tc.status)
			}
			continue
		}
		apiauthtest.AssertProblem(t, rec, tc.status, tc.code)
	}
}
