package apiauth_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apiauth/apiauth"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// recorder collects the events an observer gets.
type recorder struct {
	mu     sync.Mutex
	events []apiauth.Event
}

func (rec *recorder) observe(_ *http.Request, e apiauth.Event) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.events = append(rec.events, e)
}

// take returns the events so far, as layer and code pairs, and forgets
// them.
func (rec *recorder) take() []string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var out []string
	for _, e := range rec.events {
		out = append(out, e.Layer+" "+string(e.Code))
	}
	rec.events = nil
	return out
}

// One observer sees every layer: Authenticate's outcomes, the refusals of
// the guards after it, and RateLimit's decisions, in order.
func TestEventsFromEveryLayer(t *testing.T) {
	f := newFixture(t)
	rec := &recorder{}
	one := apiauth.Tiers{"free": {Name: "one", Limits: []apiauth.Limit{{Requests: 1, Window: time.Hour}}}}
	limit := apiauth.RateLimit(apiauth.NewMemoryStore(), one, apiauth.OnEvent(rec.observe))
	mux := http.NewServeMux()
	mux.Handle("GET /v1/tenants/{tenant}/orders", apiauth.RequireTenant(apiauth.PathTenant("tenant"))(echo))
	mux.Handle("POST /v1/orders", apiauth.RequireScope(apiauth.Write)(echo))
	h := apiauth.Authenticate(f.keys, apiauth.OnEvent(rec.observe))(limit(mux))
	serve := func(method, path, key string) {
		req := httptest.NewRequest(method, path, nil)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		h.ServeHTTP(httptest.NewRecorder(), req)
	}

	serve("GET", "/v1/tenants/acme/orders", readerKey)
	assert.Equal(t, []string{"authenticate ", "rate_limit "}, rec.take())
	serve("GET", "/v1/tenants/acme/orders", readerKey)
	assert.Equal(t, []string{"authenticate ", "rate_limit rate_limited"}, rec.take())
	serve("POST", "/v1/orders", writerKey)
	assert.Equal(t, []string{"authenticate ", "rate_limit "}, rec.take())
	serve("GET", "/v1/tenants/globex/orders", adminKey)
	assert.Equal(t, []string{"authenticate ", "rate_limit ", "tenant tenant_forbidden"}, rec.take())
	serve("POST", "/v1/orders", globexKey)
	assert.Equal(t, []string{"authenticate ", "rate_limit "}, rec.take(), "admin implies write: no refusal")
	serve("POST", "/v1/orders", customKey)
	assert.Equal(t, []string{"authenticate ", "rate_limit ", "scope insufficient_scope"}, rec.take())
	serve("GET", "/v1/tenants/acme/orders", "")
	assert.Equal(t, []string{"authenticate missing_token"}, rec.take())
}

// A RateLimit event names the tier, and a store failure is reported with
// its error, let through or not.
func TestRateLimitEvents(t *testing.T) {
	for _, failOpen := range []bool{false, true} {
		rec := &recorder{}
		opts := []apiauth.Option{apiauth.OnEvent(rec.observe)}
		if failOpen {
			opts = append(opts, apiauth.WithFailOpen())
		}
		h := principalLayer(&apiauth.Principal{KeyID: "k", Tier: "pro"})(apiauth.RateLimit(failingRateStore{}, nil, opts...)(echo))
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
		require.Len(t, rec.events, 1)
		e := rec.events[0]
		assert.Equal(t, "rate_limit", e.Layer)
		assert.Equal(t, "pro", e.Tier)
		assert.Equal(t, "k", e.Principal.KeyID)
		assert.Error(t, e.Err)
		if failOpen {
			assert.Empty(t, e.Code, "let through")
		} else {
			assert.Equal(t, apiauth.CodeUnavailable, e.Code)
			assert.Equal(t, http.StatusServiceUnavailable, e.Status)
		}
	}
}

// A JWKS reports each fetch: a success, and a failure with its error.
func TestJWKSEvents(t *testing.T) {
	p := newIDP(t, keyA)
	rec := &recorder{}
	j := newTestJWKS(t, p.URL, apiauth.JWKSOptions{OnEvent: rec.observe})
	require.NoError(t, j.Refresh(context.Background()))
	p.Close()
	require.Error(t, j.Refresh(context.Background()))
	assert.Equal(t, []string{"jwks ", "jwks temporarily_unavailable"}, rec.take())
}

// LogEvent logs a request let through although its layer failed
// (WithFailOpen) as a warning with the error, never as a quiet success.
func TestLogEventFailedOpen(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil)) // Info and above
	apiauth.LogEvent(log)(nil, apiauth.Event{Layer: "rate_limit", Tier: "free", Err: errors.New("redis down")})
	apiauth.LogEvent(log)(nil, apiauth.Event{Layer: "rate_limit", Tier: "free"})
	out := buf.String()
	assert.Contains(t, out, `level=WARN msg="apiauth: rate_limit failed open" layer=rate_limit tier=free error="redis down"`)
	assert.Equal(t, 1, strings.Count(out, "\n"), "a success is logged at Debug only:\n%s", out)
}

// LogEvent logs an event without a request, as a JWKS reports it.
func TestLogEventWithoutRequest(t *testing.T) {
	assert.NotPanics(t, func() {
		apiauth.LogEvent(slog.New(slog.DiscardHandler))(nil, apiauth.Event{Layer: "jwks", Code: apiauth.CodeUnavailable, Err: errors.New("x")})
	})
}
