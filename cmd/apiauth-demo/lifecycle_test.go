package main

import (
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/apiauth/apiauth"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestGracefulShutdown(t *testing.T) {
	d := startDemo(t)
	require.Equal(t, http.StatusOK, d.do(http.MethodGet, "/healthz", "", nil).status)
	assert.Equal(t, 0, d.stop())
	// The listener is closed: nothing answers on the address any more.
	conn, err := net.Dial("tcp", strings.TrimPrefix(d.base, "http://"))
	if err == nil {
		conn.Close()
	}
	assert.Error(t, err, "the server still accepts connections after shutdown")
	assert.Contains(t, d.stderr.String(), "shutting down")
}

// TestNoKeyInLogs drives every kind of request, accepted and refused, and
// checks that no key ever reaches the logs, while their IDs and
// fingerprints do.
func TestNoKeyInLogs(t *testing.T) {
	bad := "sk_live_" + strings.Repeat("Z", 33) // wrong checksum
	cfg := `{"keys": [
		{"id": "k-cfg", "key": "` + cfgReaderKey + `", "tenant": "acme", "scopes": ["admin"]},
		{"id": "k-old", "key": "` + cfgExpiredKey + `", "tenant": "acme", "scopes": ["read"], "expires_at": "2001-01-01T00:00:00Z"}
	]}`
	// Many bad keys come from 127.0.0.1: raise the failed-authentication
	// limit so that they are all looked at.
	const noThrottle = `"auth_failures": {"requests": 100000, "window": "1m"}`
	cfg = strings.Replace(cfg, "{", "{"+noThrottle+", ", 1)
	tests := []struct {
		name string
		args []string
	}{
		{"generated keys", []string{"-config", writeConfig(t, "{"+noThrottle+"}")}},
		{"config keys", []string{"-config", writeConfig(t, cfg)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := startDemo(t, tt.args...)
			secrets := []string{cfgReaderKey, cfgExpiredKey, bad, "cfg-unknown-key-0123456789"}
			for _, k := range d.keys {
				secrets = append(secrets, k)
			}
			admin, reader := cfgReaderKey, cfgReaderKey
			if len(d.keys) > 0 {
				admin, reader = d.key("acme", "admin"), d.key("acme", "reader")
			}

			if d.clientSecret != "" {
				secrets = append(secrets, d.clientSecret)
				// A wrong secret and a good one on the token endpoint.
				d.postForm("/oauth/token", d.clientID, d.clientSecret+"x", url.Values{"grant_type": {"client_credentials"}})
				tok, _ := requireToken(t, d.postForm("/oauth/token", d.clientID, d.clientSecret, url.Values{"grant_type": {"client_credentials"}}))
				secrets = append(secrets, tok)
			}
			// An access token exchanged from a key.
			exchanged, _ := requireToken(t, d.exchangeKey(reader))
			secrets = append(secrets, exchanged)

			created, id := d.createKey(admin, map[string]any{"name": "logged", "scopes": []string{"read"}})
			rotated, _ := rotate(t, d, admin, id, map[string]any{"grace": "0s"})
			revoked, revokedID := d.createKey(admin, map[string]any{"scopes": []string{"read"}})
			require.Equal(t, http.StatusNoContent, d.do(http.MethodDelete, "/v1/admin/keys/"+revokedID, admin, nil).status)
			secrets = append(secrets, created, rotated, revoked)

			// Many requests, concurrently, with every key and outcome.
			var wg sync.WaitGroup
			for _, key := range secrets {
				for _, path := range []string{"/v1/me", "/v1/orders", "/v1/admin/keys", "/v1/tenants/globex/orders", "/v1/nope"} {
					wg.Add(1)
					go func() {
						defer wg.Done()
						d.do(http.MethodGet, path, key, nil)
						d.do(http.MethodPost, path, key, map[string]any{"item": key, "quantity": 1})
					}()
				}
			}
			wg.Wait()
			// A key in the wrong place: two credentials, and a malformed header.
			d.do(http.MethodGet, "/v1/me?access_token="+reader, reader, nil)
			require.Equal(t, 0, d.stop())

			logs := d.stderr.String()
			for _, s := range secrets {
				assert.NotContains(t, logs, s, "a key reached the logs")
			}
			// The logs do identify keys, by ID and fingerprint.
			assert.Contains(t, logs, "key_id="+id)
			assert.Contains(t, logs, apiauth.Fingerprint(created))
			assert.Contains(t, logs, "code=token_revoked")
			assert.Contains(t, logs, "code=invalid_token")
		})
	}
}
