package main

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// createKey creates a key through the admin API and returns its plaintext
// and its ID.
func (d *demo) createKey(admin string, body map[string]any) (key, id string) {
	d.t.Helper()
	res := d.do(http.MethodPost, "/v1/admin/keys", admin, body)
	require.Equal(d.t, http.StatusCreated, res.status, "body: %s", res.body)
	m := res.json(d.t)
	key, _ = m["key"].(string)
	id, _ = m["id"].(string)
	require.NotEmpty(d.t, key)
	require.NotEmpty(d.t, id)
	return key, id
}

// me returns the status of GET /v1/me with key and the problem code, if
// any.
func (d *demo) me(key string) (int, string) {
	d.t.Helper()
	res := d.do(http.MethodGet, "/v1/me", key, nil)
	if res.status == http.StatusOK {
		return res.status, ""
	}
	code, _ := res.json(d.t)["code"].(string)
	return res.status, code
}

func TestAdminCreateKey(t *testing.T) {
	d := startDemo(t)
	admin := d.key("acme", "admin")

	res := d.do(http.MethodPost, "/v1/admin/keys", admin, map[string]any{
		"name": "ci", "scopes": []string{"read", "write"}, "subject": "admin@acme/ci",
		"expires_at": time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
	})
	require.Equal(t, http.StatusCreated, res.status, "body: %s", res.body)
	assert.Equal(t, "no-store", res.header.Get("Cache-Control"))
	created := res.json(t)
	key := created["key"].(string)
	assert.Regexp(t, `^sk_live_[0-9A-Za-z]{33}$`, key)
	assert.Equal(t, "ci", created["name"])
	assert.Equal(t, "acme", created["tenant"])
	assert.Equal(t, "free", created["tier"], "the creator's tier")
	assert.Equal(t, "active", created["status"])
	assert.NotEmpty(t, created["expires_at"])
	assert.Len(t, created["fingerprint"], 8)

	// The plaintext works, for the admin's tenant and the scopes asked.
	me := d.do(http.MethodGet, "/v1/me", key, nil)
	require.Equal(t, http.StatusOK, me.status, "body: %s", me.body)
	m := me.json(t)
	assert.Equal(t, "acme", m["tenant"])
	assert.Equal(t, "admin@acme/ci", m["subject"], "a sub-identity of the creator's")
	assert.Equal(t, []any{"read", "write"}, m["scopes"])
	assert.Equal(t, "free", m["tier"])
	assert.Equal(t, created["id"], m["key_id"])

	bad := []struct {
		name   string
		body   any
		status int
		code   string
	}{
		{"scope the creator lacks", map[string]any{"scopes": []string{"billing:write"}}, 403, "insufficient_scope"},
		{"one scope of several lacking", map[string]any{"scopes": []string{"read", "orders:delete"}}, 403, "insufficient_scope"},
		{"no scopes", map[string]any{"name": "x"}, 400, "bad_request"},
		{"control character in name", map[string]any{"name": "a\nb", "scopes": []string{"read"}}, 400, "bad_request"},
		{"invalid scope", map[string]any{"scopes": []string{"has space"}}, 400, "bad_request"},
		{"unknown tier", map[string]any{"scopes": []string{"read"}, "tier": "gold"}, 400, "bad_request"},
		{"another tier without operator", map[string]any{"scopes": []string{"read"}, "tier": "enterprise"}, 403, "insufficient_scope"},
		{"another subject", map[string]any{"scopes": []string{"read"}, "subject": "ceo@acme"}, 403, "insufficient_scope"},
		{"a subject that only starts like the creator's", map[string]any{"scopes": []string{"read"}, "subject": "admin@acme.evil"}, 403, "insufficient_scope"},
		{"past expiry", map[string]any{"scopes": []string{"read"}, "expires_at": "2001-01-01T00:00:00Z"}, 400, "bad_request"},
		{"bad expiry", map[string]any{"scopes": []string{"read"}, "expires_at": "tomorrow"}, 400, "bad_request"},
		{"unknown field", map[string]any{"scopes": []string{"read"}, "tenant": "globex"}, 400, "bad_request"},
		{"bad JSON", `{"scopes": [`, 400, "bad_request"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			requireProblem(t, d.do(http.MethodPost, "/v1/admin/keys", admin, tt.body), tt.status, tt.code)
		})
	}
}

// TestAdminCreateKeyTier: a new key's tier is its creator's; an admin with
// the operator scope may give it another, and the subject default is the
// creator's.
func TestAdminCreateKeyTier(t *testing.T) {
	cfg := `{"keys": [
		{"id": "k-op", "key": "operator-key-0123456789", "subject": "ops@acme", "tenant": "acme", "scopes": ["admin", "operator"], "tier": "pro"},
		{"id": "k-admin", "key": "free-admin-key-0123456789", "subject": "admin@acme", "tenant": "acme", "scopes": ["admin"]}
	]}`
	d := startDemo(t, "-config", writeConfig(t, cfg))
	for _, tc := range []struct {
		name, creator, tier string
		status              int
		wantTier, wantSub   string
	}{
		{"operator, default tier", "operator-key-0123456789", "", 201, "pro", "ops@acme"},
		{"operator, another tier", "operator-key-0123456789", "enterprise", 201, "enterprise", "ops@acme"},
		{"free admin, its own tier", "free-admin-key-0123456789", "free", 201, "free", "admin@acme"},
		{"free admin, enterprise", "free-admin-key-0123456789", "enterprise", 403, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := d.do(http.MethodPost, "/v1/admin/keys", tc.creator, map[string]any{"scopes": []string{"read"}, "tier": tc.tier})
			if tc.status != http.StatusCreated {
				requireProblem(t, res, tc.status, "insufficient_scope")
				return
			}
			require.Equal(t, http.StatusCreated, res.status, "body: %s", res.body)
			me := d.do(http.MethodGet, "/v1/me", res.json(t)["key"].(string), nil).json(t)
			assert.Equal(t, tc.wantTier, me["tier"])
			assert.Equal(t, tc.wantSub, me["subject"])
		})
	}
}

func TestAdminListKeys(t *testing.T) {
	d := startDemo(t)
	admin := d.key("acme", "admin")
	created, createdID := d.createKey(admin, map[string]any{"name": "listed", "scopes": []string{"read"}})
	rotated, _ := rotate(t, d, admin, createdID, nil)

	res := d.do(http.MethodGet, "/v1/admin/keys", admin, nil)
	require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
	body := string(res.body)
	for name, k := range d.keys {
		assert.NotContains(t, body, k, "listing holds the key of %s", name)
	}
	assert.NotContains(t, body, created)
	assert.NotContains(t, body, rotated)
	assert.NotContains(t, body, "digest")

	keys := res.json(t)["keys"].([]any)
	require.Len(t, keys, 5, "acme's 3 printed keys, the created one and its replacement")
	want := []string{"id", "name", "fingerprint", "subject", "tenant", "scopes", "tier", "status", "created_at", "expires_at", "revoked_at"}
	var found map[string]any
	for _, k := range keys {
		m := k.(map[string]any)
		for _, f := range want {
			assert.Contains(t, m, f)
		}
		assert.Equal(t, "acme", m["tenant"], "only the caller's tenant")
		if m["id"] == createdID {
			found = m
		}
	}
	require.NotNil(t, found)
	assert.Equal(t, "listed", found["name"])
	assert.NotEmpty(t, found["replaced_by"])
	assert.NotEmpty(t, found["expires_at"], "a rotated key expires after its grace period")
}

// rotate rotates key id with the given body and returns the new key and
// its ID.
func rotate(t *testing.T, d *demo, admin, id string, body any) (string, string) {
	t.Helper()
	res := d.do(http.MethodPost, "/v1/admin/keys/"+id+"/rotate", admin, body)
	require.Equal(t, http.StatusCreated, res.status, "body: %s", res.body)
	m := res.json(t)
	assert.Equal(t, id, m["replaces"])
	return m["key"].(string), m["id"].(string)
}

func TestAdminRotateAndRevoke(t *testing.T) {
	d := startDemo(t)
	admin := d.key("acme", "admin")

	t.Run("rotate keeps both keys working during the grace period", func(t *testing.T) {
		old, id := d.createKey(admin, map[string]any{"scopes": []string{"read"}})
		newKey, newID := rotate(t, d, admin, id, map[string]any{"grace": "1h"})
		assert.NotEqual(t, id, newID)
		for _, k := range []string{old, newKey} {
			status, code := d.me(k)
			assert.Equal(t, http.StatusOK, status, code)
		}
	})
	t.Run("rotate without a body uses the default grace", func(t *testing.T) {
		old, id := d.createKey(admin, map[string]any{"scopes": []string{"read"}})
		newKey, _ := rotate(t, d, admin, id, nil)
		for _, k := range []string{old, newKey} {
			status, code := d.me(k)
			assert.Equal(t, http.StatusOK, status, code)
		}
	})
	t.Run("after the grace period the old key has expired", func(t *testing.T) {
		old, id := d.createKey(admin, map[string]any{"scopes": []string{"read"}})
		newKey, _ := rotate(t, d, admin, id, map[string]any{"grace": "0s"})
		status, code := d.me(old)
		assert.Equal(t, http.StatusUnauthorized, status)
		assert.Equal(t, "token_expired", code)
		status, _ = d.me(newKey)
		assert.Equal(t, http.StatusOK, status)
	})
	t.Run("revoke refuses the key from the next request on", func(t *testing.T) {
		key, id := d.createKey(admin, map[string]any{"scopes": []string{"read"}})
		status, _ := d.me(key)
		require.Equal(t, http.StatusOK, status)
		res := d.do(http.MethodDelete, "/v1/admin/keys/"+id, admin, nil)
		require.Equal(t, http.StatusNoContent, res.status, "body: %s", res.body)
		status, code := d.me(key)
		assert.Equal(t, http.StatusUnauthorized, status)
		assert.Equal(t, "token_revoked", code)
		// Revoking again is harmless; rotating a revoked key is refused.
		assert.Equal(t, http.StatusNoContent, d.do(http.MethodDelete, "/v1/admin/keys/"+id, admin, nil).status)
		requireProblem(t, d.do(http.MethodPost, "/v1/admin/keys/"+id+"/rotate", admin, nil), 409, "conflict")
	})
	t.Run("an admin can revoke its own key", func(t *testing.T) {
		own, _ := d.createKey(admin, map[string]any{"scopes": []string{"admin"}})
		me := d.do(http.MethodGet, "/v1/me", own, nil).json(t)
		require.Equal(t, http.StatusNoContent, d.do(http.MethodDelete, "/v1/admin/keys/"+me["key_id"].(string), own, nil).status)
		_, code := d.me(own)
		assert.Equal(t, "token_revoked", code)
	})

	bad := []struct {
		name string
		body any
	}{
		{"bad duration", map[string]any{"grace": "tomorrow"}},
		{"negative duration", map[string]any{"grace": "-1h"}},
		{"too long", map[string]any{"grace": "10000h"}},
		{"bad JSON", `{"grace": `},
		{"unknown field", map[string]any{"grace": "1h", "scopes": []string{"admin"}}},
	}
	_, id := d.createKey(admin, map[string]any{"scopes": []string{"read"}})
	for _, tt := range bad {
		t.Run("rotate: "+tt.name, func(t *testing.T) {
			requireProblem(t, d.do(http.MethodPost, "/v1/admin/keys/"+id+"/rotate", admin, tt.body), 400, "bad_request")
		})
	}
}

func TestAdminOtherTenantKeyIsNotFound(t *testing.T) {
	d := startDemo(t)
	acme, globex := d.key("acme", "admin"), d.key("globex", "admin")
	globexKey, globexID := d.createKey(globex, map[string]any{"scopes": []string{"read"}})

	// The shape of a 404 without what differs per request.
	shape := func(res *response) map[string]any {
		t.Helper()
		p := requireProblem(t, res, http.StatusNotFound, "not_found")
		delete(p, "request_id")
		delete(p, "instance")
		return p
	}
	for _, route := range []struct{ method, suffix string }{
		{http.MethodDelete, ""},
		{http.MethodPost, "/rotate"},
	} {
		t.Run(route.method+route.suffix, func(t *testing.T) {
			other := d.do(route.method, "/v1/admin/keys/"+globexID+route.suffix, acme, nil)
			missing := d.do(route.method, "/v1/admin/keys/key_doesnotexist0000"+route.suffix, acme, nil)
			assert.Equal(t, shape(missing), shape(other))
			assert.Equal(t, missing.header.Get("Content-Type"), other.header.Get("Content-Type"))
			assert.Equal(t, len(missing.body)-len(missing.header.Get("X-Request-Id"))-len("key_doesnotexist0000"),
				len(other.body)-len(other.header.Get("X-Request-Id"))-len(globexID))
		})
	}
	// Nothing happened to globex's key.
	status, _ := d.me(globexKey)
	assert.Equal(t, http.StatusOK, status)
	res := d.do(http.MethodGet, "/v1/admin/keys", globex, nil)
	assert.Contains(t, string(res.body), globexID)
	assert.False(t, strings.Contains(string(d.do(http.MethodGet, "/v1/admin/keys", acme, nil).body), globexID))
}

// TestAdminRotateRevokeRace rotates and revokes the same keys at once, with
// no lock in the demo: whichever runs first, the revocation stands (the
// key store's narrow updates never undo it), and a replacement that was
// issued keeps working.
func TestAdminRotateRevokeRace(t *testing.T) {
	d := startDemo(t)
	admin := d.key("acme", "admin")
	const n = 10 // 30 admin requests: within the free tier's burst of 50
	type outcome struct {
		old, id      string
		rotateStatus int
		newKey       string
	}
	outcomes := make([]outcome, n)
	for i := range outcomes {
		outcomes[i].old, outcomes[i].id = d.createKey(admin, map[string]any{"scopes": []string{"read"}})
	}
	var wg sync.WaitGroup
	for i := range outcomes {
		o := &outcomes[i]
		wg.Add(2)
		go func() {
			defer wg.Done()
			res := d.do(http.MethodPost, "/v1/admin/keys/"+o.id+"/rotate", admin, map[string]any{"grace": "1h"})
			o.rotateStatus = res.status
			if res.status == http.StatusCreated {
				o.newKey, _ = res.json(t)["key"].(string)
			}
		}()
		go func() {
			defer wg.Done()
			assert.Equal(t, http.StatusNoContent, d.do(http.MethodDelete, "/v1/admin/keys/"+o.id, admin, nil).status)
		}()
	}
	wg.Wait()
	for i, o := range outcomes {
		status, code := d.me(o.old)
		assert.Equal(t, "token_revoked", code, "key %d: status %d after rotate (%d) and revoke", i, status, o.rotateStatus)
		switch o.rotateStatus {
		case http.StatusCreated:
			status, code := d.me(o.newKey)
			assert.Equal(t, http.StatusOK, status, "key %d: replacement refused: %s", i, code)
		case http.StatusConflict: // the revocation came first
		default:
			t.Errorf("key %d: rotate answered %d", i, o.rotateStatus)
		}
	}
}
