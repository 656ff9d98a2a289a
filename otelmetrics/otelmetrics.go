// Package otelmetrics records apiauth's events as OpenTelemetry metrics.
//
// A Metrics observes the outcomes every layer reports (apiauth.Event) and
// counts them, with how long each layer waited, on two instruments of the
// meter "github.com/apiauth/apiauth":
//
//	apiauth.events    counter, {event}  every event
//	apiauth.duration  histogram, s      events with a Duration
//
// Both carry the same attributes, all of low cardinality:
//
//	apiauth.layer   the layer: authenticate, rate_limit, scope, tenant, jwks, token
//	apiauth.code    the event's code, "ok" for a success, or "failed_open"
//	                for a request let through although its layer failed
//	apiauth.tier    the rate-limit tier of the event, else the principal's;
//	                absent when neither names one
//	apiauth.issuer  the principal's issuer, "local" when it has none (an API
//	                key that Keys verified); absent without a principal
//
// Key IDs, subjects, tenants, fingerprints, request IDs and error texts
// never become attributes: they are unbounded, and some are personal data.
// Log them with apiauth.WithLogger instead.
//
// Install the same Metrics on every layer:
//
//	m, err := otelmetrics.New(meterProvider)
//	…
//	apiauth.Authenticate(keys, apiauth.OnEvent(m.Observe))
//	apiauth.RateLimit(store, tiers, apiauth.OnEvent(m.Observe))
//	apiauth.JWKSOptions{OnEvent: m.Observe}
//	oauth.Config{OnEvent: m.Observe}
//
// Package apiauth itself does not depend on OpenTelemetry; only programs
// that import this package do.
package otelmetrics

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/apiauth/apiauth"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// scopeName is the instrumentation scope of the meter.
const scopeName = "github.com/apiauth/apiauth"

// Attribute keys.
const (
	keyLayer  attribute.Key = "apiauth.layer"
	keyCode   attribute.Key = "apiauth.code"
	keyTier   attribute.Key = "apiauth.tier"
	keyIssuer attribute.Key = "apiauth.issuer"
)

// durationBounds are the histogram's bucket boundaries, in seconds: from
// 50 µs (a cache hit, an in-memory store) to 5 s (an identity provider or
// store about to time out), about three to a decade.
var durationBounds = []float64{
	0.00005, 0.0001, 0.00025, 0.0005,
	0.001, 0.0025, 0.005,
	0.01, 0.025, 0.05,
	0.1, 0.25, 0.5,
	1, 2.5, 5,
}

// maxCachedSets bounds the attribute sets a Metrics keeps. The sets are
// bounded by the configured layers, codes, tiers and issuers, far fewer
// than this; past it, an event still counts, at the cost of building its
// set anew.
const maxCachedSets = 1024

// Metrics records apiauth events on OpenTelemetry instruments. Its Observe
// method is an observer for apiauth.OnEvent, JWKSOptions.OnEvent and
// package oauth's Config.OnEvent. A Metrics is safe for concurrent use.
type Metrics struct {
	events   metric.Int64Counter
	duration metric.Float64Histogram

	// sets maps the attributes of an event to their measurement options,
	// built once. Readers load it without locking; writers, under mu,
	// replace it with a copy that has one more entry.
	sets atomic.Pointer[map[attrs]*options]
	mu   sync.Mutex
}

// attrs are the attribute values of an event; "" leaves tier and issuer
// out.
type attrs struct{ layer, code, tier, issuer string }

// options are the measurement options of one attribute set.
type options struct {
	add    []metric.AddOption
	record []metric.RecordOption
}

// New returns a Metrics whose instruments come from mp's meter
// "github.com/apiauth/apiauth". Pass otel.GetMeterProvider() to use the
// global provider.
func New(mp metric.MeterProvider) (*Metrics, error) {
	if mp == nil {
		return nil, errors.New("otelmetrics: nil MeterProvider")
	}
	meter := mp.Meter(scopeName)
	events, err := meter.Int64Counter("apiauth.events",
		metric.WithUnit("{event}"),
		metric.WithDescription("Outcomes reported by apiauth's layers: authentications, rate-limit decisions, scope and tenant refusals, JWK Set fetches and token requests."))
	if err != nil {
		return nil, err
	}
	duration, err := meter.Float64Histogram("apiauth.duration",
		metric.WithUnit("s"),
		metric.WithDescription("How long an apiauth layer waited for what it asked: the verifier, the rate-limit store, the identity provider."),
		metric.WithExplicitBucketBoundaries(durationBounds...))
	if err != nil {
		return nil, err
	}
	m := &Metrics{events: events, duration: duration}
	m.sets.Store(&map[attrs]*options{})
	return m, nil
}

// Observe records e: it adds one to apiauth.events and, when e.Duration is
// positive, records it in apiauth.duration, with e's attributes. It has
// the signature of an observer: pass m.Observe to apiauth.OnEvent,
// JWKSOptions.OnEvent or oauth.Config.OnEvent. r may be nil, as for JWK
// Set fetches; otherwise its context is the measurement's.
func (m *Metrics) Observe(r *http.Request, e apiauth.Event) {
	ctx := context.Background()
	if r != nil {
		ctx = r.Context()
	}
	o := m.options(attrsOf(&e))
	m.events.Add(ctx, 1, o.add...)
	if e.Duration > 0 {
		m.duration.Record(ctx, e.Duration.Seconds(), o.record...)
	}
}

// attrsOf returns the attribute values of e.
func attrsOf(e *apiauth.Event) attrs {
	a := attrs{layer: e.Layer, code: string(e.Code), tier: e.Tier}
	switch {
	case a.code == "" && e.Err != nil:
		a.code = "failed_open" // let through although the layer failed
	case a.code == "":
		a.code = "ok"
	}
	if p := e.Principal; p != nil {
		if a.tier == "" {
			a.tier = p.Tier
		}
		a.issuer = p.Issuer
		if a.issuer == "" {
			a.issuer = "local"
		}
	}
	return a
}

// options returns the measurement options of a, built on first use.
func (m *Metrics) options(a attrs) *options {
	if o, ok := (*m.sets.Load())[a]; ok {
		return o
	}
	return m.build(a)
}

// build makes the options of a and caches them, unless the cache is full.
func (m *Metrics) build(a attrs) *options {
	kv := make([]attribute.KeyValue, 0, 4)
	kv = append(kv, keyLayer.String(a.layer), keyCode.String(a.code))
	if a.tier != "" {
		kv = append(kv, keyTier.String(a.tier))
	}
	if a.issuer != "" {
		kv = append(kv, keyIssuer.String(a.issuer))
	}
	opt := metric.WithAttributeSet(attribute.NewSet(kv...))
	o := &options{add: []metric.AddOption{opt}, record: []metric.RecordOption{opt}}

	m.mu.Lock()
	defer m.mu.Unlock()
	old := *m.sets.Load()
	if cached, ok := old[a]; ok {
		return cached
	}
	if len(old) >= maxCachedSets {
		return o
	}
	next := make(map[attrs]*options, len(old)+1)
	maps.Copy(next, old)
	next[a] = o
	m.sets.Store(&next)
	return o
}
