package apiauth_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/apiauth/apiauth"
	"github.com/apiauth/apiauth/apiauthtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReady(t *testing.T) {
	up := func(context.Context) error { return nil }
	down := func(context.Context) error { return errors.New("dial tcp 10.0.0.7:5432: connection refused") }
	hung := func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
	for _, tc := range []struct {
		name   string
		checks map[string]func(context.Context) error
		failed string
	}{
		{"none", nil, ""},
		{"all up", map[string]func(context.Context) error{"keys": up, "redis": up}, ""},
		{"one down", map[string]func(context.Context) error{"keys": up, "redis": down}, "redis"},
		{"two down, sorted", map[string]func(context.Context) error{"redis": down, "keys": down, "jwks": up}, "keys, redis"},
		{"one hung", map[string]func(context.Context) error{"keys": hung, "redis": up}, "keys"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The request's own deadline stands in for the probe's 2 s.
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			rec := httptest.NewRecorder()
			apiauth.Ready(tc.checks).ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil).WithContext(ctx))
			assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
			if tc.failed == "" {
				assert.Equal(t, http.StatusOK, rec.Code)
				assert.Equal(t, "{\"status\":\"ready\"}\n", rec.Body.String())
				return
			}
			p := apiauthtest.AssertProblem(t, rec, http.StatusServiceUnavailable, apiauth.CodeUnavailable)
			assert.Equal(t, "Not ready: "+tc.failed+".", p.Detail, "names only")
			assert.NotContains(t, rec.Body.String(), "10.0.0.7", "no error text")
			assert.Equal(t, "5", rec.Header().Get("Retry-After"))
		})
	}
	rec := httptest.NewRecorder()
	apiauth.Ready(nil).ServeHTTP(rec, httptest.NewRequest("POST", "/readyz", nil))
	assert.Equal(t, http.StatusMethodNotAllowed, rec.Code)
	assert.Equal(t, "GET, HEAD", rec.Header().Get("Allow"))
}

// A JWKS is ready while it holds a usable key set, without a fetch, and
// otherwise only if a fetch made now succeeds.
func TestJWKSPing(t *testing.T) {
	p := newIDP(t, keyA)
	j := newTestJWKS(t, p.URL, apiauth.JWKSOptions{})
	require.NoError(t, j.Ping(context.Background()), "fetches the first set")
	p.Close()
	assert.NoError(t, j.Ping(context.Background()), "the set held is still usable")
	dead := newTestJWKS(t, p.URL, apiauth.JWKSOptions{})
	assert.ErrorIs(t, dead.Ping(context.Background()), apiauth.ErrJWKSUnavailable)
}
