package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/apiauth/apiauth"
	"github.com/apiauth/apiauth/oauth"
)

// demoKey is a key generated at start-up, printed once for the user.
type demoKey struct {
	role   string
	tenant string
	scope  apiauth.Scope
	key    string
}

// demoRoles are the keys generated without a config file: one per role in
// tenant acme, and an admin in tenant globex to show tenant isolation. The
// reader comes first: the first key printed is the one to try /v1/me with.
var demoRoles = []struct {
	role, tenant string
	scope        apiauth.Scope
}{
	{"reader", "acme", apiauth.Read},
	{"writer", "acme", apiauth.Write},
	{"admin", "acme", apiauth.Admin},
	{"admin", "globex", apiauth.Admin},
}

// holdsDemoKeys reports whether store already holds a key of a demo
// tenant.
func holdsDemoKeys(ctx context.Context, store apiauth.KeyStore) (bool, error) {
	for _, d := range demoRoles {
		recs, err := store.ListKeys(ctx, d.tenant)
		if err != nil || len(recs) > 0 {
			return len(recs) > 0, err
		}
	}
	return false, nil
}

// setUpKeys imports the config's API keys or, when it lists none,
// generates the demo's, only into a store that holds none of the demo
// tenants' keys yet.
func setUpKeys(ctx context.Context, cfg *Config, keys *apiauth.Keys, log *slog.Logger) ([]demoKey, error) {
	if len(cfg.Keys) > 0 {
		return nil, importKeys(ctx, keys, cfg.Keys, log)
	}
	stored, err := holdsDemoKeys(ctx, keys.Store)
	switch {
	case err != nil:
		return nil, err
	case stored:
		log.Info("the database already holds the demo's keys: none generated; use those printed at its first start")
		return nil, nil
	}
	return createDemoKeys(ctx, keys)
}

// createDemoKeys generates the demoRoles' keys in the library's format.
func createDemoKeys(ctx context.Context, keys *apiauth.Keys) ([]demoKey, error) {
	out := make([]demoKey, 0, len(demoRoles))
	for _, d := range demoRoles {
		key, _, err := keys.Create(ctx, apiauth.KeySpec{
			Name:    d.tenant + " " + d.role,
			Subject: d.role + "@" + d.tenant,
			Tenant:  d.tenant,
			Scopes:  []apiauth.Scope{d.scope},
		})
		if err != nil {
			return nil, err
		}
		out = append(out, demoKey{role: d.role, tenant: d.tenant, scope: d.scope, key: key})
	}
	return out, nil
}

// importKeys stores the digests of the config file's keys. It logs their
// IDs and fingerprints, never the keys.
//
// A key the store already holds, by ID or by digest (with -db, from an
// earlier start or another instance), is kept as it is: the config only
// adds keys, it never re-creates, changes or un-revokes one, so that a
// revocation made through the admin routes outlives a restart. When the
// stored record differs from the config entry, a warning says so.
func importKeys(ctx context.Context, keys *apiauth.Keys, cfg []KeyConfig, log *slog.Logger) error {
	for i := range cfg {
		spec := cfg[i].Spec()
		rec, err := keys.Import(ctx, cfg[i].Key, spec)
		if errors.Is(err, apiauth.ErrKeyExists) {
			if err := keepStoredKey(ctx, keys.Store, i, &cfg[i], spec, log); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("keys[%d]: %w", i, err)
		}
		log.Info("key loaded", "key_id", rec.ID(), "fingerprint", rec.Fingerprint(), "tenant", rec.Tenant)
	}
	return nil
}

// keepStoredKey logs what the store holds for config entry i, whose key or
// ID it already has, and warns when that differs from the entry.
func keepStoredKey(ctx context.Context, store apiauth.KeyStore, i int, k *KeyConfig, spec apiauth.KeySpec, log *slog.Logger) error {
	fingerprint := apiauth.Fingerprint(k.Key)
	entry := fmt.Sprintf("keys[%d]", i)
	if spec.ID == "" {
		// An entry without "id" got a random one when first imported.
		log.Info("key already stored; keeping the stored record", "entry", entry, "fingerprint", fingerprint)
		return nil
	}
	rec, err := store.GetKey(ctx, spec.ID)
	switch {
	case errors.Is(err, apiauth.ErrKeyNotFound):
		// Not by this ID: the same key is stored under another ID.
		log.Warn("key already stored under another ID; keeping that record, which the admin listing shows by fingerprint",
			"entry", entry, "key_id", spec.ID, "fingerprint", fingerprint)
		return nil
	case err != nil:
		return fmt.Errorf("%s: %w", entry, err)
	case rec.Digest != apiauth.DigestKey(k.Key):
		log.Warn("another key is stored under this ID; keeping it: the config's key is refused until it gets an ID of its own",
			"key_id", rec.ID(), "stored_fingerprint", rec.Fingerprint(), "config_fingerprint", fingerprint)
		return nil
	}
	status := "active"
	now := time.Now()
	switch {
	case !rec.RevokedAt.IsZero() && !now.Before(rec.RevokedAt):
		status = "revoked"
	case !rec.ExpiresAt.IsZero() && !now.Before(rec.ExpiresAt):
		status = "expired"
	}
	log.Info("key already stored; keeping the stored record", "key_id", rec.ID(), "fingerprint", rec.Fingerprint(),
		"tenant", rec.Tenant, "status", status)
	if !sameKeySpec(rec, spec) {
		log.Warn("the stored key differs from its config entry (name, subject, tenant, scopes, tier or expires_at); keeping the stored record",
			"key_id", rec.ID())
	}
	return nil
}

// sameKeySpec reports whether rec holds what spec describes. A store may
// keep times to the microsecond only.
func sameKeySpec(rec *apiauth.KeyRecord, spec apiauth.KeySpec) bool {
	return rec.Name == spec.Name && rec.Subject == spec.Subject && rec.Tenant == spec.Tenant &&
		rec.Tier == spec.Tier && slices.Equal(rec.Scopes, spec.Scopes) &&
		rec.ExpiresAt.Truncate(time.Microsecond).Equal(spec.ExpiresAt.Truncate(time.Microsecond))
}

// generated is what the demo generated at start-up, printed once, and
// the OAuth clients its callback page serves.
type generated struct {
	keys []demoKey
	// client is svc-acme, with its secret, when generated now.
	client *demoClient
	// app is demo-app, when the demo's clients are in play (generated now,
	// or at an earlier start on the same -db), and appCreated says it was
	// generated now.
	app        *oauth.ClientSpec
	appCreated bool
	// user is the demo user, with their password, when the config lists
	// no users.
	user *generatedUser
	// callback are the clients that redirect to the callback page.
	callback []callbackClient
}

// printDemoCredentials prints what the demo generated, with curl lines to
// try it on the server at base, and the walk-through of the
// authorization-code flow. It prints nothing when nothing was generated.
// The first Bearer string it prints is the acme reader's key, which can
// GET /v1/me.
func printDemoCredentials(w io.Writer, base string, g *generated) {
	keys, client := g.keys, g.client
	if len(keys) == 0 && client == nil && !g.appCreated && g.user == nil {
		return
	}
	if len(keys) > 0 {
		fmt.Fprintln(w, "Generated API keys (shown once; the server keeps only their SHA-256 digests):")
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  ROLE\tTENANT\tSCOPE\tKEY")
		for _, k := range keys {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", k.role, k.tenant, k.scope, k.key)
		}
		_ = tw.Flush()
		fmt.Fprintln(w)
	}
	if client != nil {
		fmt.Fprintln(w, "Generated OAuth client (shown once; the server keeps only the secret's SHA-256 digest):")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "  client_id      "+client.spec.ID)
		fmt.Fprintln(w, "  client_secret  "+client.secret)
		fmt.Fprintf(w, "  (tenant %s, scopes %s, tier %s)\n", client.spec.Tenant, scopeList(client.spec.Scopes), client.spec.Tier)
		fmt.Fprintf(w, "  (confidential, named %q; redirect URIs %s, any port)\n", client.spec.Name, strings.Join(client.spec.RedirectURIs, " and "))
		fmt.Fprintln(w)
	}
	if g.appCreated {
		fmt.Fprintln(w, "Generated public OAuth client (no secret: PKCE proves each code is its own):")
		fmt.Fprintln(w)
		fmt.Fprintf(w, "  public client  %s  (named %q)\n", g.app.ID, g.app.Name)
		fmt.Fprintf(w, "  (tenant %s, scopes %s; redirect URIs %s, any port)\n", g.app.Tenant, scopeList(g.app.Scopes), strings.Join(g.app.RedirectURIs, " and "))
		fmt.Fprintln(w)
	}
	if g.user != nil {
		u := g.user.user
		fmt.Fprintln(w, "Demo user of the sign-in page "+loginPath+" (in memory: a new password at every start, shown once):")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "  username  "+u.Username)
		fmt.Fprintln(w, "  password  "+g.user.password)
		fmt.Fprintf(w, "  (subject %s, tenant %s; may approve %s)\n", u.Subject, u.Tenant, scopeList(u.Scopes))
		fmt.Fprintln(w)
	}

	find := func(role, tenant string) string {
		for _, k := range keys {
			if k.role == role && k.tenant == tenant {
				return k.key
			}
		}
		return ""
	}
	bearer := func(key string) string { return `-H "Authorization: Bearer ` + key + `"` }
	var lines []string
	if len(keys) > 0 {
		reader, writer := find("reader", "acme"), find("writer", "acme")
		admin, other := find("admin", "acme"), find("admin", "globex")
		lines = append(lines,
			"# who am I (any key):",
			"curl "+bearer(reader)+" "+base+"/v1/me",
			"# create an order (needs write):",
			"curl "+bearer(writer)+` -H "Content-Type: application/json" -d '{"item":"widget","quantity":2}' `+base+"/v1/orders",
			"# list the tenant's orders (needs read):",
			"curl "+bearer(reader)+" "+base+"/v1/orders",
			"# another tenant's orders are refused (403 tenant_forbidden):",
			"curl "+bearer(other)+" "+base+"/v1/tenants/acme/orders",
			"# manage the tenant's keys (needs admin):",
			"curl "+bearer(admin)+" "+base+"/v1/admin/keys",
			"curl "+bearer(admin)+` -H "Content-Type: application/json" -d '{"name":"ci","scopes":["read"]}' `+base+"/v1/admin/keys",
			"# no key: 401 problem+json",
			"curl -i "+base+"/v1/me",
			"# exchange an API key for a one-hour access token (revoking the key revokes the token):",
			`curl -H 'Content-Type: application/json' -d '{"apiKey":"`+reader+`"}' `+base+"/v1/auth/token",
		)
	}
	if client != nil {
		lines = append(lines,
			"# an access token for the OAuth client (client_credentials):",
			"curl -u "+client.spec.ID+":"+client.secret+" -d grant_type=client_credentials "+base+"/oauth/token",
		)
	}
	lines = append(lines,
		"# an access_token works on /v1/ like an API key; the keys that verify it:",
		"curl "+base+"/.well-known/jwks.json",
	)
	fmt.Fprintln(w, "Try:")
	fmt.Fprintln(w)
	for _, l := range lines {
		fmt.Fprintln(w, "  "+l)
	}
	fmt.Fprintln(w)
	printWalkthrough(w, base, g)
}

// scopeList joins scopes with spaces.
func scopeList(scopes []apiauth.Scope) string {
	names := make([]string, len(scopes))
	for i, s := range scopes {
		names[i] = string(s)
	}
	return strings.Join(names, " ")
}

// clientURL is the base URL a client on this machine uses to reach the
// listener at addr: an unspecified host (0.0.0.0, ::) becomes loopback.
func clientURL(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "http://" + addr.String()
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		if ip.To4() != nil {
			host = "127.0.0.1"
		} else {
			host = "::1"
		}
	}
	return "http://" + net.JoinHostPort(host, port)
}
