package otelmetrics_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"

	"github.com/apiauth/apiauth"
	"github.com/apiauth/apiauth/otelmetrics"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// ExampleNew counts the outcomes of Authenticate and RateLimit: one
// request accepted, one without a token. A program passes its own
// MeterProvider (or otel.GetMeterProvider()); the manual reader here
// stands in for an exporter.
func ExampleNew() {
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer provider.Shutdown(context.Background())

	m, err := otelmetrics.New(provider)
	if err != nil {
		panic(err)
	}
	keys := apiauth.NewMemoryKeys()
	key, _, err := keys.Create(context.Background(), apiauth.KeySpec{
		Subject: "user-1", Tenant: "acme", Tier: "pro", Scopes: []apiauth.Scope{apiauth.Read},
	})
	if err != nil {
		panic(err)
	}
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	handler := apiauth.RequestID()(
		apiauth.Authenticate(keys, apiauth.OnEvent(m.Observe))(
			apiauth.RateLimit(apiauth.NewMemoryStore(), apiauth.Presets(), apiauth.OnEvent(m.Observe))(api)))

	for _, auth := range []string{"Bearer " + key, ""} {
		req := httptest.NewRequest("GET", "/v1/orders", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		handler.ServeHTTP(httptest.NewRecorder(), req)
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		panic(err)
	}
	var lines []string
	for _, metrics := range rm.ScopeMetrics[0].Metrics {
		if sum, ok := metrics.Data.(metricdata.Sum[int64]); ok {
			for _, dp := range sum.DataPoints {
				lines = append(lines, fmt.Sprint(metrics.Name, " ", dp.Attributes.Encoded(attribute.DefaultEncoder()), " ", dp.Value))
			}
		}
	}
	slices.Sort(lines)
	for _, l := range lines {
		fmt.Println(l)
	}
	// Output:
	// apiauth.events apiauth.code=missing_token,apiauth.layer=authenticate 1
	// apiauth.events apiauth.code=ok,apiauth.issuer=local,apiauth.layer=authenticate,apiauth.tier=pro 1
	// apiauth.events apiauth.code=ok,apiauth.issuer=local,apiauth.layer=rate_limit,apiauth.tier=pro 1
}
