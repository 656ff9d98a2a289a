package otelmetrics_test

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/apiauth/apiauth"
	"github.com/apiauth/apiauth/otelmetrics"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/metric/noop"
)

// BenchmarkObserve measures an event of a request that passed
// authentication, with its principal and duration, recorded by the SDK
// (its attribute set cached after the first), and by the no-op provider.
func BenchmarkObserve(b *testing.B) {
	req := httptest.NewRequest("GET", "/v1/orders", nil)
	e := apiauth.Event{Layer: "rate_limit", RequestID: "01J0000000000000000000000", Tier: "pro",
		Principal: &apiauth.Principal{Subject: "user-1", Tenant: "acme", KeyID: "key_1", Tier: "pro"},
		Duration:  3 * time.Microsecond}
	refusal := apiauth.Event{Layer: "authenticate", Code: apiauth.CodeMissingToken, Status: 401}
	sdk, _ := newMetrics(b)
	nop, err := otelmetrics.New(noop.NewMeterProvider())
	require.NoError(b, err)
	for _, bc := range []struct {
		name string
		m    *otelmetrics.Metrics
		e    apiauth.Event
	}{
		{"sdk", sdk, e},
		{"sdk/refusal", sdk, refusal},
		{"noop", nop, e},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				bc.m.Observe(req, bc.e)
			}
		})
	}
	b.Run("sdk/parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				sdk.Observe(req, e)
			}
		})
	})
}
