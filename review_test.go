package apiauth_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/apiauth/apiauth"
	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Regressions for the findings of a review of the request path.

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

// A refusal's X-RateLimit-* fields describe the limit that refused.
func TestRateLimitRefusalDescribesRefusingLimit(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	h := principalLayer(&apiauth.Principal{KeyID: "k"})(apiauth.RateLimit(apiauth.NewMemoryStore(), nil,
		apiauth.WithClock(func() time.Time { return now }))(echo))
	var rr *httptest.ResponseRecorder
	for i := 0; i < 51; i++ {
		rr = httptest.NewRecorder()
		h.ServeHTTP(rr, httptest.NewRequest("GET", "/", nil))
	}
	require.Equal(t, 429, rr.Code)
	assert.Equal(t, "50", rr.Header().Get("X-RateLimit-Limit"), "the burst refused")
	assert.Equal(t, "0", rr.Header().Get("X-RateLimit-Remaining"))
	assert.Equal(t, "1", rr.Header().Get("Retry-After"))
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

// A JOSE header with many members is refused before any costly work.
func TestJWTMemberCap(t *testing.T) {
	v := newTestVerifier(t, apiauth.JWTOptions{CacheSize: -1}, apiauth.JWTKey{Algorithm: "HS256", Key: testKeys.hmac})
	var b strings.Builder
	b.WriteString(`{"alg":"HS256","typ":"at+jwt"`)
	for i := 0; i < 100; i++ {
		fmt.Fprintf(&b, `,"m%d":0`, i)
	}
	b.WriteString("}")
	_, err := v.Verify(context.Background(), rawToken(t, b.String(), claimsJSON(nil), jwt.SigningMethodHS256, testKeys.hmac))
	assert.ErrorIs(t, err, apiauth.ErrMalformedToken)
}

// An issuer whose tokens name API keys needs the keys to check them:
// without JWTOptions.Keys, a token would outlive its key's revocation.
func TestJWTVerifierKeyIDsNeedKeys(t *testing.T) {
	set, err := apiauth.NewStaticKeys(apiauth.JWTKey{Algorithm: "HS256", Key: testKeys.hmac})
	require.NoError(t, err)
	_, err = apiauth.NewJWTVerifier(apiauth.JWTOptions{}, apiauth.JWTIssuer{Issuer: "https://a.test", Audience: "api", Keys: set, KeyIDs: true})
	assert.ErrorContains(t, err, "JWTOptions.Keys is required")
	_, err = apiauth.NewJWTVerifier(apiauth.JWTOptions{Keys: apiauth.NewMemoryKeys()}, apiauth.JWTIssuer{Issuer: "https://a.test", Audience: "api", Keys: set, KeyIDs: true})
	assert.NoError(t, err)
}
