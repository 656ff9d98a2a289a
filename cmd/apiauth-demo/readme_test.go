package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
)

// readmeConfig returns the example config of README.md, the one ```json
// block there, and fails the test when there is not exactly one.
func readmeConfig(t *testing.T) string {
	t.Helper()
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err, "README.md documents the demo")
	blocks := regexp.MustCompile("(?ms)^```json\n(.*?)^```").FindAllStringSubmatch(string(readme), -1)
	require.Len(t, blocks, 1, "README.md must hold exactly one ```json block: the example config")
	return blocks[0][1]
}

// readmeEntries lists what the README's config shows: key IDs and keys,
// client IDs and secrets, users and their passwords, and each tier's limit
// names, read as plain JSON.
type readmeEntries struct {
	Keys []struct {
		ID      string `json:"id"`
		Key     string `json:"key"`
		Subject string `json:"subject"`
		Tenant  string `json:"tenant"`
	} `json:"keys"`
	Clients []struct {
		ID           string   `json:"client_id"`
		Secret       string   `json:"client_secret"`
		Tenant       string   `json:"tenant"`
		Public       bool     `json:"public"`
		RedirectURIs []string `json:"redirect_uris"`
	} `json:"clients"`
	Users []struct {
		Username string `json:"username"`
		Password string `json:"password"`
		Subject  string `json:"subject"`
		Tenant   string `json:"tenant"`
	} `json:"users"`
	Tiers map[string][]struct {
		Name string `json:"name"`
	} `json:"tiers"`
	TrustedIssuers []struct {
		Issuer string `json:"issuer"`
	} `json:"trusted_issuers"`
}

// TestReadmeConfigLoads loads the README's example config with the demo's
// own loader: the documented format is the one the demo reads.
func TestReadmeConfigLoads(t *testing.T) {
	text := readmeConfig(t)
	var shown readmeEntries
	require.NoError(t, json.Unmarshal([]byte(text), &shown))
	require.NotEmpty(t, shown.Keys, "the example config shows keys")
	require.NotEmpty(t, shown.Clients, "the example config shows clients")
	require.NotEmpty(t, shown.Tiers, "the example config shows tiers")
	require.NotEmpty(t, shown.Users, "the example config shows users")

	cfg, err := loadConfig(writeConfig(t, text))
	require.NoError(t, err)
	defer cfg.Close()

	require.Len(t, cfg.Keys, len(shown.Keys))
	for i, k := range shown.Keys {
		assert.Equal(t, k.ID, cfg.Keys[i].ID)
		assert.Equal(t, k.Tenant, cfg.Keys[i].Tenant)
	}
	require.Len(t, cfg.Clients, len(shown.Clients))
	for i, c := range shown.Clients {
		assert.Equal(t, c.ID, cfg.Clients[i].ClientID)
		assert.Equal(t, c.Public, cfg.Clients[i].Public)
	}
	require.Len(t, cfg.Users, len(shown.Users))
	for i, u := range shown.Users {
		assert.Equal(t, u.Username, cfg.Users[i].Username)
		assert.Equal(t, u.Subject, cfg.Users[i].Subject)
		assert.True(t, cfg.Users[i].password.matches(u.Password))
	}
	for name, limits := range shown.Tiers {
		tier, ok := cfg.Tiers[name]
		if assert.True(t, ok, "tier %q", name) && assert.Len(t, tier.Limits, len(limits), "tier %q", name) {
			for i, l := range limits {
				assert.Equal(t, l.Name, tier.Limits[i].Name, "tier %q", name)
			}
		}
	}
	require.Len(t, cfg.TrustedIssuers, len(shown.TrustedIssuers))
	for i, ti := range shown.TrustedIssuers {
		assert.Equal(t, ti.Issuer, cfg.TrustedIssuers[i].Issuer)
	}
}

// TestReadmeConfigServes runs the demo with the README's config, as its
// walk-through does: each key shown is the caller it says, each
// confidential client shown gets a token, each public one signs its users
// in through the callback page, and each user signs in.
func TestReadmeConfigServes(t *testing.T) {
	text := readmeConfig(t)
	var shown readmeEntries
	require.NoError(t, json.Unmarshal([]byte(text), &shown))
	d := startDemo(t, "-config", writeConfig(t, text))
	assert.NotContains(t, d.stdout.String(), "Generated", "a config with keys and clients generates none")

	for _, k := range shown.Keys {
		me := d.do(http.MethodGet, "/v1/me", k.Key, nil)
		require.Equal(t, http.StatusOK, me.status, "key %s: %s", k.ID, me.body)
		body := me.json(t)
		assert.Equal(t, k.ID, body["key_id"])
		assert.Equal(t, k.Subject, body["subject"])
		assert.Equal(t, k.Tenant, body["tenant"])
	}
	var public []string
	for _, c := range shown.Clients {
		if c.Public {
			require.Contains(t, c.RedirectURIs, "http://127.0.0.1"+callbackPath, "client %s: the walk-through's redirect URI", c.ID)
			public = append(public, c.ID)
			continue
		}
		form := url.Values{"grant_type": {"client_credentials"}}
		req, err := http.NewRequest(http.MethodPost, d.base+"/oauth/token", strings.NewReader(form.Encode()))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(c.ID, c.Secret)
		res, err := d.client.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		assert.Equal(t, http.StatusOK, res.StatusCode, "client %s", c.ID)
	}
	require.NotEmpty(t, public, "the walk-through needs a public client")
	for _, u := range shown.Users {
		b := d.newBrowser()
		p := b.login(t, authorizePath, u.Username, u.Password)
		assert.Equal(t, http.StatusSeeOther, p.StatusCode, "user %s", u.Username)
		assert.Equal(t, authorizePath, p.Header.Get("Location"), "user %s", u.Username)
	}
	for _, id := range public {
		cfg := d.oauthConfig(id, "")
		cfg.Scopes = []string{"read"}
		verifier := oauth2.GenerateVerifier()
		back := d.newBrowser().signInAndApprove(t, cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)),
			shown.Users[0].Username, shown.Users[0].Password)
		tok, err := cfg.Exchange(d.oauthContext(), back.Query().Get("code"), oauth2.VerifierOption(verifier))
		require.NoError(t, err, "client %s", id)
		me := d.do(http.MethodGet, "/v1/me", tok.AccessToken, nil)
		require.Equal(t, http.StatusOK, me.status, "body: %s", me.body)
		assert.Equal(t, shown.Users[0].Subject, me.json(t)["subject"])

		// Steps 7 and 8: introspection by a confidential client of the
		// tenant, then revocation by the app, which ends the grant.
		for _, c := range shown.Clients {
			if c.Public {
				continue
			}
			in := d.postForm("/oauth/introspect", c.ID, c.Secret, url.Values{"token": {tok.AccessToken}})
			require.Equal(t, http.StatusOK, in.status, "body: %s", in.body)
			assert.Equal(t, true, in.json(t)["active"], "client %s", c.ID)
		}
		res := d.postForm("/oauth/revoke", "", "", url.Values{"client_id": {id}, "token": {tok.RefreshToken}})
		assert.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
		assert.Empty(t, res.body)
		assert.Equal(t, http.StatusUnauthorized, d.do(http.MethodGet, "/v1/me", tok.AccessToken, nil).status)
		for _, c := range shown.Clients {
			if !c.Public {
				in := d.postForm("/oauth/introspect", c.ID, c.Secret, url.Values{"token": {tok.AccessToken}})
				assert.Equal(t, "{\"active\":false}\n", string(in.body), "client %s", c.ID)
			}
		}
	}
}
