package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/apiauth/apiauth"
	"github.com/apiauth/apiauth/oauth"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHealthz(t *testing.T) {
	d := startDemo(t)
	res := d.do(http.MethodGet, "/healthz", "", nil)
	require.Equal(t, http.StatusOK, res.status)
	assert.Equal(t, "application/json", res.header.Get("Content-Type"))
	assert.Equal(t, map[string]any{"status": "ok"}, res.json(t))
}

// Keys in the config files of the tests: b64tokens of 20+ characters.
const (
	cfgReaderKey  = "cfg-reader-key-0123456789"
	cfgExpiredKey = "cfg-expired-key-0123456789"
)

func TestMissingKeyProblem(t *testing.T) {
	cfg := `{
		"realm": "orders-api",
		"problem_type_base": "https://demo.example/problems/",
		"keys": [{"id": "k-reader", "key": "` + cfgReaderKey + `", "tenant": "acme", "scopes": ["read"]}]
	}`
	tests := []struct {
		name      string
		args      []string
		challenge string
		typ       string
		title     string
	}{
		{"defaults", nil, `Bearer realm="demo"`, "about:blank", "Unauthorized"},
		{"config", []string{"-config", writeConfig(t, cfg)}, `Bearer realm="orders-api"`,
			"https://demo.example/problems/missing_token", "Missing credentials"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := startDemo(t, tt.args...)
			res := d.do(http.MethodGet, "/v1/me", "", nil)
			require.Equal(t, http.StatusUnauthorized, res.status)
			assert.Equal(t, "application/problem+json", res.header.Get("Content-Type"))
			assert.Equal(t, tt.challenge, res.header.Get("WWW-Authenticate"))
			id := res.header.Get("X-Request-Id")
			require.NotEmpty(t, id)
			assert.Equal(t, map[string]any{
				"type":       tt.typ,
				"title":      tt.title,
				"status":     float64(401),
				"detail":     "No bearer token was provided in the Authorization header.",
				"instance":   "/v1/me",
				"request_id": id,
				"code":       "missing_token",
			}, res.json(t))
		})
	}
}

func TestPrintedKeys(t *testing.T) {
	d := startDemo(t)
	out := d.stdout.String()

	// The first Bearer string printed is a key that can GET /v1/me.
	first := regexp.MustCompile(`Bearer (\S+?)"`).FindStringSubmatch(out)
	require.NotNil(t, first, "no Bearer line in:\n%s", out)
	assert.Equal(t, http.StatusOK, d.do(http.MethodGet, "/v1/me", first[1], nil).status)
	// The curl lines use the real address.
	assert.Contains(t, out, `curl -H "Authorization: Bearer `+first[1]+`" `+d.base+"/v1/me")
	// "listening on" is the last line printed.
	assert.True(t, strings.HasSuffix(out, "listening on "+d.base+"\n"), "stdout:\n%s", out)

	tests := []struct {
		tenant, role string
		scopes       []any
	}{
		{"acme", "reader", []any{"read"}},
		{"acme", "writer", []any{"write"}},
		{"acme", "admin", []any{"admin"}},
		{"globex", "admin", []any{"admin"}},
	}
	require.Len(t, d.keys, len(tests))
	for _, tt := range tests {
		t.Run(tt.tenant+"/"+tt.role, func(t *testing.T) {
			key := d.key(tt.tenant, tt.role)
			assert.Regexp(t, `^sk_live_[0-9A-Za-z]{33}$`, key)
			res := d.do(http.MethodGet, "/v1/me", key, nil)
			require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
			me := res.json(t)
			assert.Equal(t, tt.role+"@"+tt.tenant, me["subject"])
			assert.Equal(t, tt.tenant, me["tenant"])
			assert.Equal(t, tt.scopes, me["scopes"])
			assert.Equal(t, "free", me["tier"])
			assert.NotEmpty(t, me["key_id"])
		})
	}
}

func TestRejections(t *testing.T) {
	d := startDemo(t)
	reader := d.key("acme", "reader")
	tests := []struct {
		name   string
		method string
		path   string
		key    string
		body   any
		status int
		code   string
	}{
		{"unknown key", http.MethodGet, "/v1/me", "sk_live_unknownunknownunknownunknown", nil, 401, "invalid_token"},
		{"bad checksum", http.MethodGet, "/v1/me", reader[:len(reader)-1] + "x", nil, 401, "invalid_token"},
		{"reader cannot create orders", http.MethodPost, "/v1/orders", reader, map[string]any{"item": "x", "quantity": 1}, 403, "insufficient_scope"},
		{"reader cannot delete orders", http.MethodDelete, "/v1/orders/ord_000001", reader, nil, 403, "insufficient_scope"},
		{"reader cannot list keys", http.MethodGet, "/v1/admin/keys", reader, nil, 403, "insufficient_scope"},
		{"writer cannot create keys", http.MethodPost, "/v1/admin/keys", d.key("acme", "writer"), map[string]any{"scopes": []string{"read"}}, 403, "insufficient_scope"},
		{"unknown route needs a key", http.MethodGet, "/v1/nope", "", nil, 401, "missing_token"},
		{"unknown route", http.MethodGet, "/v1/nope", reader, nil, 404, "not_found"},
		{"wrong method", http.MethodPut, "/v1/me", reader, nil, 405, "method_not_allowed"},
		{"unknown path outside /v1", http.MethodGet, "/nope", "", nil, 404, "not_found"},
		{"wrong method outside /v1", http.MethodPost, "/healthz", "", nil, 405, "method_not_allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := d.do(tt.method, tt.path, tt.key, tt.body)
			p := requireProblem(t, res, tt.status, tt.code)
			assert.Equal(t, tt.path, p["instance"])
			if tt.status == http.StatusMethodNotAllowed {
				assert.Contains(t, res.header.Get("Allow"), "GET")
			}
			if tt.code == "insufficient_scope" {
				assert.Contains(t, res.header.Get("WWW-Authenticate"), `error="insufficient_scope"`)
			}
		})
	}
}

func TestOrders(t *testing.T) {
	d := startDemo(t)
	reader, writer := d.key("acme", "reader"), d.key("acme", "writer")
	globex := d.key("globex", "admin")

	res := d.do(http.MethodPost, "/v1/orders", writer, map[string]any{"item": "widget", "quantity": 3})
	require.Equal(t, http.StatusCreated, res.status, "body: %s", res.body)
	order := res.json(t)
	id, _ := order["id"].(string)
	require.NotEmpty(t, id)
	assert.Equal(t, "widget", order["item"])
	assert.EqualValues(t, 3, order["quantity"])
	assert.Equal(t, "acme", order["tenant"])

	ids := func(key, path string) []any {
		t.Helper()
		res := d.do(http.MethodGet, path, key, nil)
		require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
		var out []any
		for _, o := range res.json(t)["orders"].([]any) {
			out = append(out, o.(map[string]any)["id"])
		}
		return out
	}
	assert.Equal(t, []any{id}, ids(reader, "/v1/orders"))
	assert.Equal(t, []any{id}, ids(reader, "/v1/tenants/acme/orders"))
	assert.Empty(t, ids(globex, "/v1/orders"), "another tenant's orders are not listed")

	// Another tenant cannot delete it: 404, as for a missing order.
	requireProblem(t, d.do(http.MethodDelete, "/v1/orders/"+id, globex, nil), 404, "not_found")
	res = d.do(http.MethodDelete, "/v1/orders/"+id, writer, nil)
	assert.Equal(t, http.StatusNoContent, res.status, "body: %s", res.body)
	assert.Empty(t, ids(reader, "/v1/orders"))
	requireProblem(t, d.do(http.MethodDelete, "/v1/orders/"+id, writer, nil), 404, "not_found")

	bad := []struct {
		name   string
		body   any
		status int
		code   string
	}{
		{"bad JSON", `{"item": "x", "quantity":`, 400, "bad_request"},
		{"not an object", `[1, 2]`, 400, "bad_request"},
		{"unknown field", map[string]any{"item": "x", "quantity": 1, "price": 3}, 400, "bad_request"},
		{"trailing data", `{"item": "x", "quantity": 1} {}`, 400, "bad_request"},
		{"empty body", ``, 400, "bad_request"},
		{"no item", map[string]any{"quantity": 1}, 400, "bad_request"},
		{"zero quantity", map[string]any{"item": "x", "quantity": 0}, 400, "bad_request"},
		{"string quantity", map[string]any{"item": "x", "quantity": "2"}, 400, "bad_request"},
		{"too large", `{"item": "` + strings.Repeat("x", 70<<10) + `", "quantity": 1}`, 413, "payload_too_large"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			requireProblem(t, d.do(http.MethodPost, "/v1/orders", writer, tt.body), tt.status, tt.code)
		})
	}
}

func TestTenantRoute(t *testing.T) {
	d := startDemo(t)
	tests := []struct {
		name   string
		key    string
		path   string
		status int
		code   string
	}{
		{"own tenant", d.key("acme", "reader"), "/v1/tenants/acme/orders", 200, ""},
		{"other tenant", d.key("acme", "reader"), "/v1/tenants/globex/orders", 403, "tenant_forbidden"},
		{"other tenant, admin", d.key("globex", "admin"), "/v1/tenants/acme/orders", 403, "tenant_forbidden"},
		{"nonexistent tenant", d.key("acme", "admin"), "/v1/tenants/nobody/orders", 403, "tenant_forbidden"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := d.do(http.MethodGet, tt.path, tt.key, nil)
			if tt.code == "" {
				require.Equal(t, tt.status, res.status, "body: %s", res.body)
				assert.Equal(t, []any{}, res.json(t)["orders"])
				return
			}
			requireProblem(t, res, tt.status, tt.code)
		})
	}
}

// TestOversizedToken: a token over the library's 4 KiB cap, and one far
// over it, are refused by the library, as a 401 problem with a request ID,
// not by net/http's plain-text 431: the server's header limit (32 KiB) is
// well above the cap.
func TestOversizedToken(t *testing.T) {
	d := startDemo(t)
	for _, n := range []int{apiauth.DefaultMaxTokenLength + 1, 16 << 10} {
		res := d.do(http.MethodGet, "/v1/me", strings.Repeat("a", n), nil)
		p := requireProblem(t, res, http.StatusUnauthorized, "invalid_token")
		assert.NotEmpty(t, p["request_id"], "n=%d", n)
		assert.Equal(t, p["request_id"], res.header.Get("X-Request-Id"))
	}
}

// TestReadyz: GET /readyz is 200 when the database (and Redis, when used)
// answer, and a 503 problem naming what does not otherwise.
func TestReadyz(t *testing.T) {
	d := startDemo(t, "-db", "sqlite:"+filepath.Join(t.TempDir(), "demo.db"))
	res := d.do(http.MethodGet, "/readyz", "", nil)
	require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
	assert.Equal(t, "{\"status\":\"ready\"}\n", string(res.body))

	if addr := os.Getenv("APIAUTH_REDIS_ADDR"); addr != "" {
		r := startDemo(t, "-redis", addr)
		assert.Equal(t, http.StatusOK, r.do(http.MethodGet, "/readyz", "", nil).status)
	}

	// The handler itself, with a dependency down.
	cfg, err := loadConfig("")
	require.NoError(t, err)
	down := func(context.Context) error { return errors.New("connection refused") }
	issuer, err := oauth.NewIssuer(oauth.Config{Issuer: "http://127.0.0.1:8080", Audience: "demo-api", Clients: oauth.NewMemoryClientStore()})
	require.NoError(t, err)
	h := newHandler(cfg, backends{Keys: apiauth.NewMemoryKeys(), Limits: apiauth.NewMemoryStore(), Issuer: issuer,
		Ready: map[string]func(context.Context) error{"database": down}}, slog.New(slog.DiscardHandler))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
	assert.Contains(t, rec.Body.String(), `"detail":"Not ready: database."`)
	assert.NotContains(t, rec.Body.String(), "refused")
}
