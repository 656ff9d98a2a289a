package main

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Keys of rateLimitConfig.
const (
	rlTinyKey   = "rl-tiny-key-0123456789"
	rlTiny2Key  = "rl-tiny2-key-0123456789"
	rlErrorsKey = "rl-errors-key-0123456789"
	rlFreeKey   = "rl-free-key-0123456789"
	rlProKey    = "rl-pro-key-0123456789"
	rlBigKey    = "rl-big-key-0123456789"
	rlAdminKey  = "rl-admin-key-0123456789"
)

// rateLimitConfig adds the tier "tiny" (5 per minute) and "big" (no hourly
// limit, 100 per second), overrides "free", and puts keys on each tier.
const rateLimitConfig = `{
	"trusted_proxies": ["127.0.0.1/32", "10.0.0.0/8", "::1"],
	"tiers": {
		"tiny": [{"name": "default", "requests": 5, "window": "1m"}],
		"free": [{"name": "hour", "requests": 100, "window": "1h"}, {"name": "burst", "requests": 10, "window": "1s"}],
		"big":  [{"name": "hour", "requests": "unlimited", "window": "1h"}, {"name": "burst", "requests": 100, "window": "1s"}]
	},
	"keys": [
		{"id": "k-tiny", "key": "` + rlTinyKey + `", "tenant": "acme", "scopes": ["read"], "tier": "tiny"},
		{"id": "k-tiny2", "key": "` + rlTiny2Key + `", "tenant": "acme", "scopes": ["read"], "tier": "tiny"},
		{"id": "k-errors", "key": "` + rlErrorsKey + `", "tenant": "acme", "scopes": ["read"], "tier": "tiny"},
		{"id": "k-free", "key": "` + rlFreeKey + `", "tenant": "acme", "scopes": ["read"]},
		{"id": "k-pro", "key": "` + rlProKey + `", "tenant": "acme", "scopes": ["read"], "tier": "pro"},
		{"id": "k-big", "key": "` + rlBigKey + `", "tenant": "acme", "scopes": ["read"], "tier": "big"},
		{"id": "k-admin", "key": "` + rlAdminKey + `", "tenant": "acme", "scopes": ["admin", "operator"], "tier": "pro"}
	]
}`

// rateHeaders returns the X-RateLimit-Limit, -Remaining and -Reset values
// of res, failing the test if one is missing or not an integer.
func rateHeaders(t *testing.T, res *response) (limit, remaining, reset int64) {
	t.Helper()
	get := func(name string) int64 {
		t.Helper()
		v := res.header.Get(name)
		require.NotEmpty(t, v, "no %s header; status %d, body: %s", name, res.status, res.body)
		n, err := strconv.ParseInt(v, 10, 64)
		require.NoError(t, err, "%s: %q", name, v)
		return n
	}
	return get("X-RateLimit-Limit"), get("X-RateLimit-Remaining"), get("X-RateLimit-Reset")
}

// assertNotLimited asserts that res carries no rate-limit header.
func assertNotLimited(t *testing.T, res *response) {
	t.Helper()
	for _, h := range []string{"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "RateLimit-Policy", "RateLimit", "Retry-After"} {
		assert.Empty(t, res.header.Get(h), h)
	}
}

func TestRateLimitTier(t *testing.T) {
	d := startDemo(t, "-config", writeConfig(t, rateLimitConfig))

	// Five requests in a row: all allowed, counting down. Reset is when the
	// count is back to 5, in Unix seconds: after now, within the window.
	for i := range 5 {
		before := time.Now().Unix()
		res := d.do(http.MethodGet, "/v1/me", rlTinyKey, nil)
		require.Equal(t, http.StatusOK, res.status, "request %d: %s", i+1, res.body)
		limit, remaining, reset := rateHeaders(t, res)
		assert.EqualValues(t, 5, limit)
		assert.EqualValues(t, 4-i, remaining, "request %d", i+1)
		assert.Greater(t, reset, before, "request %d: Reset is in the future", i+1)
		assert.LessOrEqual(t, reset, time.Now().Unix()+61, "request %d: Reset is within the window", i+1)
		assert.Equal(t, `"default";q=5;w=60`, res.header.Get("RateLimit-Policy"))
		assert.Regexp(t, `^"default";r=`+strconv.Itoa(4-i)+`;t=\d+$`, res.header.Get("RateLimit"))
		assert.Empty(t, res.header.Get("Retry-After"))
		if i == 0 {
			assert.Equal(t, "tiny", res.json(t)["tier"], "/v1/me reports the tier in effect")
		}
	}

	// The sixth is refused, and says when to retry.
	for _, nth := range []string{"6th", "7th: a refused request does not consume"} {
		t.Run(nth, func(t *testing.T) {
			before := time.Now().Unix()
			res := d.do(http.MethodGet, "/v1/me", rlTinyKey, nil)
			p := requireProblem(t, res, http.StatusTooManyRequests, "rate_limited")
			assert.Equal(t, "/v1/me", p["instance"])
			assert.Equal(t, "no-store", res.header.Get("Cache-Control"))
			retry, err := strconv.Atoi(res.header.Get("Retry-After"))
			require.NoError(t, err, "Retry-After %q", res.header.Get("Retry-After"))
			// 5 per minute: one more request fits every 12 s.
			assert.GreaterOrEqual(t, retry, 1)
			assert.LessOrEqual(t, retry, 12)
			assert.Equal(t, "Rate limit exceeded. Try again in "+strconv.Itoa(retry)+" seconds.", p["detail"])
			limit, remaining, reset := rateHeaders(t, res)
			assert.EqualValues(t, 5, limit)
			assert.EqualValues(t, 0, remaining)
			assert.Greater(t, reset, before)
			assert.LessOrEqual(t, reset, time.Now().Unix()+61)
			assert.GreaterOrEqual(t, reset+1, before+int64(retry), "Retry-After is no later than Reset")
			assert.Equal(t, `"default";q=5;w=60`, res.header.Get("RateLimit-Policy"))
			assert.Regexp(t, `^"default";r=0;t=\d+$`, res.header.Get("RateLimit"))
		})
	}

	t.Run("another key on the same tier is unaffected", func(t *testing.T) {
		res := d.do(http.MethodGet, "/v1/orders", rlTiny2Key, nil)
		require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
		limit, remaining, _ := rateHeaders(t, res)
		assert.EqualValues(t, 5, limit)
		assert.EqualValues(t, 4, remaining)
	})

	t.Run("errors count and carry the headers", func(t *testing.T) {
		tests := []struct {
			method, path string
			status       int
			code         string
		}{
			{http.MethodGet, "/v1/nope", 404, "not_found"},
			{http.MethodPost, "/v1/orders", 403, "insufficient_scope"},
			{http.MethodGet, "/v1/tenants/globex/orders", 403, "tenant_forbidden"},
			{http.MethodPut, "/v1/me", 405, "method_not_allowed"},
			{http.MethodGet, "/v1/me", 200, ""},
			{http.MethodGet, "/v1/nope", 429, "rate_limited"}, // limited before it is routed
		}
		for i, tt := range tests {
			var body any
			if tt.method == http.MethodPost {
				body = map[string]any{"item": "x", "quantity": 1}
			}
			res := d.do(tt.method, tt.path, rlErrorsKey, body)
			if tt.code != "" {
				requireProblem(t, res, tt.status, tt.code)
			} else {
				require.Equal(t, tt.status, res.status, "body: %s", res.body)
			}
			limit, remaining, _ := rateHeaders(t, res)
			assert.EqualValues(t, 5, limit, "%s %s", tt.method, tt.path)
			assert.EqualValues(t, max(4-i, 0), remaining, "%s %s", tt.method, tt.path)
			assert.Equal(t, `"default";q=5;w=60`, res.header.Get("RateLimit-Policy"))
		}
	})

	t.Run("not limited: /healthz and failed authentication", func(t *testing.T) {
		assertNotLimited(t, d.do(http.MethodGet, "/healthz", "", nil))
		assertNotLimited(t, requireResponse(t, d.do(http.MethodGet, "/v1/me", "", nil), 401))
		assertNotLimited(t, requireResponse(t, d.do(http.MethodGet, "/v1/me", "rl-unknown-key-0123456789", nil), 401))
	})
}

// requireResponse asserts res has status and returns it.
func requireResponse(t *testing.T, res *response, status int) *response {
	t.Helper()
	require.Equal(t, status, res.status, "body: %s", res.body)
	return res
}

func TestRateLimitTiers(t *testing.T) {
	d := startDemo(t, "-config", writeConfig(t, rateLimitConfig))
	tests := []struct {
		name   string
		key    string
		tier   string
		limit  int64
		policy string
	}{
		{"a key without a tier gets free, as overridden by the config", rlFreeKey, "free", 100,
			`"hour";q=100;w=3600, "burst";q=10;w=1`},
		{"preset", rlProKey, "pro", 10000, `"hour";q=10000;w=3600, "burst";q=200;w=1`},
		{"an unlimited limit is left out; the headers describe the first that binds", rlBigKey, "big", 100,
			`"burst";q=100;w=1`},
		{"configured tier", rlTiny2Key, "tiny", 5, `"default";q=5;w=60`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := d.do(http.MethodGet, "/v1/me", tt.key, nil)
			require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
			assert.Equal(t, tt.tier, res.json(t)["tier"])
			limit, remaining, _ := rateHeaders(t, res)
			assert.Equal(t, tt.limit, limit)
			assert.Equal(t, tt.limit-1, remaining)
			assert.Equal(t, tt.policy, res.header.Get("RateLimit-Policy"))
		})
	}

	t.Run("admin keys get configured tiers", func(t *testing.T) {
		key, _ := d.createKey(rlAdminKey, map[string]any{"scopes": []string{"read"}, "tier": "tiny"})
		res := d.do(http.MethodGet, "/v1/me", key, nil)
		require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
		assert.Equal(t, "tiny", res.json(t)["tier"])
		limit, _, _ := rateHeaders(t, res)
		assert.EqualValues(t, 5, limit)

		p := requireProblem(t, d.do(http.MethodPost, "/v1/admin/keys", rlAdminKey,
			map[string]any{"scopes": []string{"read"}, "tier": "gold"}), 400, "bad_request")
		assert.Equal(t, `"tier" must be one of: big, enterprise, free, pro, tiny.`, p["detail"])
	})
}

func TestRateLimitPresetsWithoutConfig(t *testing.T) {
	d := startDemo(t)
	res := d.do(http.MethodGet, "/v1/me", d.key("acme", "reader"), nil)
	require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
	assert.Equal(t, "free", res.json(t)["tier"])
	limit, remaining, _ := rateHeaders(t, res)
	assert.EqualValues(t, 1000, limit)
	assert.EqualValues(t, 999, remaining)
	assert.Equal(t, `"hour";q=1000;w=3600, "burst";q=50;w=1`, res.header.Get("RateLimit-Policy"))
}
