package apiauth_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/apiauth/apiauth"
	"github.com/golang-jwt/jwt/v5"
)

// discard is a ResponseWriter that keeps its header map between requests,
// as a server's does not, so that only the layers' allocations count.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(int)             {}

// TestAllocations pins the allocation counts the README and the doc
// comments state: an authenticated request costs one allocation (the
// request copy and its state together), an accepted API key or cached JWT
// nothing more, and a refusal, 401 or 403, four (the state, the problem
// response, the request ID generated for its body, Content-Length). With
// WithFailureLimit on a MemoryStore an accepted key costs three more, for
// the name of the address's failure bucket, however many store calls
// reserve and give back its unit.
func TestAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	f := newFixture(t)
	v := newTestVerifier(t, apiauth.JWTOptions{}, apiauth.JWTKey{Algorithm: "HS256", Key: testKeys.hmac})
	good := rawToken(t, header("HS256", ""), claimsJSON(nil), jwt.SigningMethodHS256, testKeys.hmac)
	ok := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	auth := apiauth.Authenticate(f.keys, apiauth.WithJWT(v))
	read := auth(apiauth.RequireScope(apiauth.Read)(ok))
	limited := apiauth.Authenticate(f.keys, apiauth.WithFailureLimit(apiauth.NewMemoryStore(), apiauth.Tier{}))(ok)
	admin := auth(apiauth.RequireScope(apiauth.Admin)(ok))
	for _, tc := range []struct {
		name   string
		h      http.Handler
		tok    string
		allocs float64
	}{
		{"API key", read, readerKey, 1},
		{"API key, failure limit", limited, readerKey, 4},
		{"cached JWT", read, good, 1},
		{"unknown API key", read, "no-such-key-0123456789abcdef", 4},
		{"insufficient scope", admin, readerKey, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.h
			req := httptest.NewRequest("GET", "/v1/me", nil)
			req.Header.Set("Authorization", "Bearer "+tc.tok)
			w := &discard{h: http.Header{}}
			h.ServeHTTP(w, req) // warm the JWT cache
			got := testing.AllocsPerRun(100, func() {
				clear(w.h)
				h.ServeHTTP(w, req)
			})
			if got != tc.allocs {
				t.Errorf("%v allocations per request, want %v", got, tc.allocs)
			}
		})
	}
}
