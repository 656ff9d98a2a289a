package otelmetrics_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apiauth/apiauth"
	"github.com/apiauth/apiauth/oauth"
	"github.com/apiauth/apiauth/otelmetrics"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// newMetrics returns a Metrics on an SDK provider whose manual reader
// collects what it recorded.
func newMetrics(t testing.TB) (*otelmetrics.Metrics, *sdkmetric.ManualReader) {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	m, err := otelmetrics.New(mp)
	require.NoError(t, err)
	return m, reader
}

// collected is what a reader collected from the meter of package
// otelmetrics: the counter's values and the histogram's data points, by
// attribute set, and every attribute value seen.
type collected struct {
	events    map[string]int64
	durations map[string]metricdata.HistogramDataPoint[float64]
	values    []string
}

// collect reads the metrics of package otelmetrics, checking the
// instrumentation scope, the instruments' kinds and units, and the bounds.
func collect(t *testing.T, reader *sdkmetric.ManualReader) collected {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	require.Len(t, rm.ScopeMetrics, 1)
	sm := rm.ScopeMetrics[0]
	assert.Equal(t, "github.com/apiauth/apiauth", sm.Scope.Name)
	c := collected{events: map[string]int64{}, durations: map[string]metricdata.HistogramDataPoint[float64]{}}
	for _, m := range sm.Metrics {
		switch m.Name {
		case "apiauth.events":
			assert.Equal(t, "{event}", m.Unit)
			sum, ok := m.Data.(metricdata.Sum[int64])
			require.True(t, ok, "apiauth.events is a %T", m.Data)
			assert.True(t, sum.IsMonotonic)
			assert.Equal(t, metricdata.CumulativeTemporality, sum.Temporality)
			for _, dp := range sum.DataPoints {
				c.events[c.key(dp.Attributes)] = dp.Value
			}
		case "apiauth.duration":
			assert.Equal(t, "s", m.Unit)
			h, ok := m.Data.(metricdata.Histogram[float64])
			require.True(t, ok, "apiauth.duration is a %T", m.Data)
			for _, dp := range h.DataPoints {
				assert.Equal(t, []float64{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
					0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}, dp.Bounds)
				c.durations[c.key(dp.Attributes)] = dp
			}
		default:
			t.Errorf("unexpected instrument %s", m.Name)
		}
	}
	return c
}

// key encodes an attribute set as "k=v k=v", sorted by key, and notes its
// values.
func (c *collected) key(set attribute.Set) string {
	var b strings.Builder
	for i, kv := range set.ToSlice() {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(string(kv.Key) + "=" + kv.Value.Emit())
		c.values = append(c.values, kv.Value.Emit())
	}
	return b.String()
}

// histogramCounts returns the count of each histogram data point.
func (c *collected) histogramCounts() map[string]uint64 {
	out := map[string]uint64{}
	for k, dp := range c.durations {
		out[k] = dp.Count
	}
	return out
}

// recorder keeps the events it observes, next to the Metrics.
type recorder struct {
	mu     sync.Mutex
	events []apiauth.Event
}

func (rec *recorder) observe(_ *http.Request, e apiauth.Event) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.events = append(rec.events, e)
}

// secrets returns every value of the events that must never become an
// attribute: key IDs, subjects, tenants, fingerprints, request IDs and
// error texts.
func (rec *recorder) secrets() []string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var out []string
	for _, e := range rec.events {
		out = append(out, e.RequestID, e.Fingerprint)
		if e.Err != nil {
			out = append(out, e.Err.Error())
		}
		if p := e.Principal; p != nil {
			out = append(out, p.KeyID, p.Subject, p.Tenant)
		}
	}
	return nonEmpty(out)
}

// durations returns how many of the events have a duration, by the
// attribute set the Metrics gives them, and their sum in seconds.
func (rec *recorder) durations(attrs func(apiauth.Event) string) (map[string]uint64, float64) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	counts := map[string]uint64{}
	var sum float64
	for _, e := range rec.events {
		if e.Duration > 0 {
			counts[attrs(e)]++
			sum += e.Duration.Seconds()
		}
	}
	return counts, sum
}

func nonEmpty(ss []string) []string {
	out := ss[:0]
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// attrsOf is the attribute set the package documents for e, encoded as
// collected.key encodes it.
func attrsOf(e apiauth.Event) string {
	code := string(e.Code)
	if code == "" {
		code = "ok"
	}
	s := "apiauth.code=" + code
	if e.Principal != nil {
		iss := e.Principal.Issuer
		if iss == "" {
			iss = "local"
		}
		s += " apiauth.issuer=" + iss
	}
	s += " apiauth.layer=" + e.Layer
	tier := e.Tier
	if tier == "" && e.Principal != nil {
		tier = e.Principal.Tier
	}
	if tier != "" {
		s += " apiauth.tier=" + tier
	}
	return s
}

// Real requests through a real chain: every outcome is counted once under
// its layer, code, tier and issuer, and the histogram holds every event
// that waited for something. No attribute names a caller.
func TestChain(t *testing.T) {
	ctx := context.Background()
	m, reader := newMetrics(t)
	rec := &recorder{}

	keys := apiauth.NewMemoryKeys()
	writer, _, err := keys.Create(ctx, apiauth.KeySpec{Subject: "user-writer", Tenant: "acme", Tier: "pro",
		Scopes: []apiauth.Scope{apiauth.Read, apiauth.Write}})
	require.NoError(t, err)
	reader1, _, err := keys.Create(ctx, apiauth.KeySpec{Subject: "user-reader", Tenant: "globex", Tier: "free",
		Scopes: []apiauth.Scope{apiauth.Read}})
	require.NoError(t, err)
	unknown1, err := apiauth.GenerateKey("")
	require.NoError(t, err)
	unknown2, err := apiauth.GenerateKey("")
	require.NoError(t, err)

	tiers := apiauth.Tiers{
		"free": {Name: "free", Limits: []apiauth.Limit{{Requests: 1, Window: time.Hour}}},
		"pro":  {Name: "pro", Limits: []apiauth.Limit{{Requests: 100, Window: time.Hour}}},
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	chain := apiauth.RequestID()(
		apiauth.Authenticate(keys, apiauth.OnEvent(m.Observe), apiauth.OnEvent(rec.observe))(
			apiauth.RateLimit(apiauth.NewMemoryStore(), tiers, apiauth.OnEvent(m.Observe), apiauth.OnEvent(rec.observe))(
				apiauth.RequireScope(apiauth.Write)(handler))))

	serve := func(key string) int {
		req := httptest.NewRequest("POST", "/v1/orders", nil)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		w := httptest.NewRecorder()
		chain.ServeHTTP(w, req)
		return w.Code
	}
	for _, step := range []struct {
		key    string
		status int
	}{
		{writer, 204}, {writer, 204}, {writer, 204}, // accepted
		{unknown1, 401}, {unknown2, 401}, // well-formed keys no store knows
		{"", 401},                      // no token
		{reader1, 403},                 // allowed by the rate limit, refused by the scope
		{reader1, 429}, {reader1, 429}, // over the free tier's 1 an hour
	} {
		require.Equal(t, step.status, serve(step.key))
	}

	got := collect(t, reader)
	assert.Equal(t, map[string]int64{
		"apiauth.code=ok apiauth.issuer=local apiauth.layer=authenticate apiauth.tier=pro":           3,
		"apiauth.code=ok apiauth.issuer=local apiauth.layer=authenticate apiauth.tier=free":          3,
		"apiauth.code=invalid_token apiauth.layer=authenticate":                                      2,
		"apiauth.code=missing_token apiauth.layer=authenticate":                                      1,
		"apiauth.code=ok apiauth.issuer=local apiauth.layer=rate_limit apiauth.tier=pro":             3,
		"apiauth.code=ok apiauth.issuer=local apiauth.layer=rate_limit apiauth.tier=free":            1,
		"apiauth.code=rate_limited apiauth.issuer=local apiauth.layer=rate_limit apiauth.tier=free":  2,
		"apiauth.code=insufficient_scope apiauth.issuer=local apiauth.layer=scope apiauth.tier=free": 1,
	}, got.events)

	// The histogram holds exactly the events with a duration: the
	// verifier's answers and the store's decisions, never a scope refusal.
	want, sum := rec.durations(attrsOf)
	assert.Equal(t, want, got.histogramCounts())
	var total uint64
	var gotSum float64
	for k, dp := range got.durations {
		total += dp.Count
		gotSum += dp.Sum
		assert.NotContains(t, k, "layer=scope")
	}
	assert.GreaterOrEqual(t, total, uint64(12), "6 authentications and 6 rate-limit decisions took time")
	assert.InDelta(t, sum, gotSum, 1e-9)

	secrets := append(rec.secrets(), writer, reader1, unknown1, unknown2, "user-writer", "user-reader", "acme", "globex")
	for _, v := range got.values {
		assert.NotContains(t, secrets, v)
	}
}

// A JWK Set fetch, which has no request, and the token endpoint's answers
// are counted; a token the endpoint issued is counted under its issuer.
func TestJWKSAndToken(t *testing.T) {
	ctx := context.Background()
	m, reader := newMetrics(t)
	rec := &recorder{}
	observe := func(r *http.Request, e apiauth.Event) {
		m.Observe(r, e)
		rec.observe(r, e)
	}

	clients := oauth.NewMemoryClientStore()
	secret := oauth.GenerateClientSecret()
	_, err := oauth.RegisterClient(ctx, clients, oauth.ClientSpec{ID: "svc-billing", Subject: "billing", Tenant: "acme",
		Tier: "pro", Scopes: []apiauth.Scope{apiauth.Read}}, secret)
	require.NoError(t, err)
	issuer, err := oauth.NewIssuer(oauth.Config{Issuer: "https://auth.example", Audience: "orders-api",
		Clients: clients, OnEvent: observe})
	require.NoError(t, err)

	// The JWK Set, from the issuer itself.
	idp := httptest.NewServer(issuer.JWKSHandler())
	jwks, err := apiauth.NewJWKS(idp.URL, apiauth.JWKSOptions{OnEvent: observe})
	require.NoError(t, err)
	t.Cleanup(func() { _ = jwks.Close() })
	require.NoError(t, jwks.Refresh(ctx))
	idp.Close()
	require.Error(t, jwks.Refresh(ctx))

	// Two token requests: issued, and refused.
	token := func(secret string) (int, string) {
		req := httptest.NewRequest("POST", "/oauth/token", strings.NewReader("grant_type=client_credentials"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("svc-billing", secret)
		w := httptest.NewRecorder()
		issuer.TokenHandler().ServeHTTP(w, req)
		var tok string
		if i := strings.Index(w.Body.String(), `"access_token":"`); i >= 0 {
			tok, _, _ = strings.Cut(w.Body.String()[i+len(`"access_token":"`):], `"`)
		}
		return w.Code, tok
	}
	status, tok := token(secret)
	require.Equal(t, http.StatusOK, status)
	require.NotEmpty(t, tok)
	status, _ = token("wrong-" + secret)
	require.Equal(t, http.StatusUnauthorized, status)

	// The token, presented to an API that trusts the issuer.
	verifier, err := apiauth.NewJWTVerifier(apiauth.JWTOptions{}, issuer.JWTIssuer())
	require.NoError(t, err)
	api := apiauth.Authenticate(verifier, apiauth.OnEvent(observe))(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	req := httptest.NewRequest("GET", "/v1/orders", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	w := httptest.NewRecorder()
	api.ServeHTTP(w, req)
	require.Equal(t, http.StatusOK, w.Code)

	got := collect(t, reader)
	assert.Equal(t, map[string]int64{
		"apiauth.code=ok apiauth.layer=jwks":                                                              1,
		"apiauth.code=temporarily_unavailable apiauth.layer=jwks":                                         1,
		"apiauth.code=ok apiauth.layer=token":                                                             1,
		"apiauth.code=invalid_client apiauth.layer=token":                                                 1,
		"apiauth.code=ok apiauth.issuer=https://auth.example apiauth.layer=authenticate apiauth.tier=pro": 1,
	}, got.events)
	want, _ := rec.durations(attrsOf)
	assert.Equal(t, want, got.histogramCounts())
	assert.Contains(t, got.histogramCounts(), "apiauth.code=ok apiauth.layer=jwks", "a fetch takes time")

	secrets := append(rec.secrets(), secret, tok, "svc-billing", "billing", "acme")
	for _, v := range got.values {
		assert.NotContains(t, secrets, v)
	}
}

// The attributes of events built by hand: the event's tier wins over the
// principal's, an empty issuer of a present principal is "local", and a
// zero or negative duration is not recorded.
func TestAttributes(t *testing.T) {
	m, reader := newMetrics(t)
	p := &apiauth.Principal{Subject: "s", Tenant: "t", KeyID: "k", Tier: "gold"}
	m.Observe(nil, apiauth.Event{Layer: "rate_limit", Tier: "free", Principal: p, Duration: time.Millisecond})
	m.Observe(nil, apiauth.Event{Layer: "authenticate", Principal: p, Duration: -time.Second})
	m.Observe(nil, apiauth.Event{Layer: "tenant", Code: apiauth.CodeTenantForbidden, Principal: &apiauth.Principal{Issuer: "https://idp"}})
	m.Observe(httptest.NewRequest("GET", "/", nil), apiauth.Event{Layer: "authenticate", Code: apiauth.CodeMissingToken})
	m.Observe(nil, apiauth.Event{Layer: "rate_limit", Tier: "free", Err: errors.New("redis down")}) // WithFailOpen

	got := collect(t, reader)
	assert.Equal(t, map[string]int64{
		"apiauth.code=ok apiauth.issuer=local apiauth.layer=rate_limit apiauth.tier=free":   1,
		"apiauth.code=ok apiauth.issuer=local apiauth.layer=authenticate apiauth.tier=gold": 1,
		"apiauth.code=tenant_forbidden apiauth.issuer=https://idp apiauth.layer=tenant":     1,
		"apiauth.code=missing_token apiauth.layer=authenticate":                             1,
		"apiauth.code=failed_open apiauth.layer=rate_limit apiauth.tier=free":               1,
	}, got.events)
	assert.Equal(t, map[string]uint64{
		"apiauth.code=ok apiauth.issuer=local apiauth.layer=rate_limit apiauth.tier=free": 1,
	}, got.histogramCounts())
	dp := got.durations["apiauth.code=ok apiauth.issuer=local apiauth.layer=rate_limit apiauth.tier=free"]
	assert.InDelta(t, 0.001, dp.Sum, 1e-12)
	// 1 ms falls in the bucket (0.5 ms, 1 ms].
	assert.Equal(t, uint64(1), dp.BucketCounts[4])
}

// Many distinct attribute sets, more than a Metrics caches, are all
// counted, from concurrent observers.
func TestManySets(t *testing.T) {
	m, reader := newMetrics(t)
	const tiers, workers = 1500, 4
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range tiers {
				m.Observe(nil, apiauth.Event{Layer: "rate_limit", Tier: "t" + strconv.Itoa((i+w*100)%tiers)})
			}
		}()
	}
	wg.Wait()
	got := collect(t, reader)
	assert.Len(t, got.events, tiers)
	for k, v := range got.events {
		require.Equal(t, int64(workers), v, k)
	}
}

// New wants a provider; any provider will do, the no-op one included.
func TestNew(t *testing.T) {
	_, err := otelmetrics.New(nil)
	assert.Error(t, err)
	m, err := otelmetrics.New(noop.NewMeterProvider())
	require.NoError(t, err)
	assert.NotPanics(t, func() { m.Observe(nil, apiauth.Event{Layer: "jwks", Duration: time.Second}) })
}
