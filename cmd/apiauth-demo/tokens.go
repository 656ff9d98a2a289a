package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/apiauth/apiauth"
	"github.com/apiauth/apiauth/oauth"
)

// demoClient is the OAuth client generated at start-up when the config
// names none, printed once for the user.
type demoClient struct {
	spec   oauth.ClientSpec
	secret string
}

// demoRedirectURIs are the generated clients' redirect URIs: the demo's
// own callback page on loopback, IPv4 and IPv6, where the authorization
// endpoint accepts any port (RFC 8252 §7.3), so that they work whatever
// port the demo listens on.
var demoRedirectURIs = []string{"http://127.0.0.1" + callbackPath, "http://[::1]" + callbackPath}

// demoClientSpec is the generated confidential client: a service of
// tenant acme that may read and write, on the pro tier, with a token of
// its own (client_credentials) or for a user who approves it
// (authorization code, with its secret and PKCE).
var demoClientSpec = oauth.ClientSpec{
	ID:           "svc-acme",
	Name:         "Acme back office",
	RedirectURIs: demoRedirectURIs,
	Subject:      "svc-acme",
	Tenant:       "acme",
	Scopes:       []apiauth.Scope{apiauth.Read, apiauth.Write},
	Tier:         "pro",
}

// demoAppSpec is the generated public client: an application that cannot
// keep a secret, such as a native or single-page app, which gets tokens
// for a user by the authorization code with PKCE alone.
var demoAppSpec = oauth.ClientSpec{
	ID:           "demo-app",
	Name:         "Demo orders app",
	Public:       true,
	RedirectURIs: demoRedirectURIs,
	Tenant:       "acme",
	Scopes:       []apiauth.Scope{apiauth.Read, apiauth.Write},
}

// createDemoClient registers demoClientSpec with a generated secret. When
// the store already holds that client (with -db, from an earlier start),
// whose secret was shown then and is kept only as a digest, it registers
// a new client under a suffixed ID instead, so that what is printed works.
func createDemoClient(ctx context.Context, clients oauth.ClientStore) (*demoClient, error) {
	spec := demoClientSpec
	for attempt := 0; ; attempt++ {
		secret := oauth.GenerateClientSecret()
		_, err := oauth.RegisterClient(ctx, clients, spec, secret)
		if errors.Is(err, oauth.ErrClientExists) && attempt < 3 {
			// The secret is random base62: its head makes a random suffix.
			spec.ID = demoClientSpec.ID + "-" + oauth.GenerateClientSecret()[:8]
			spec.Subject = spec.ID
			continue
		}
		if err != nil {
			return nil, err
		}
		return &demoClient{spec: spec, secret: secret}, nil
	}
}

// registerClients stores the config file's clients by their secrets'
// digests. It logs their IDs, never a secret.
//
// A client the store already holds (with -db, from an earlier start or
// another instance) is kept as it is: the config only adds clients. When
// the stored client has another secret, a warning says so.
func registerClients(ctx context.Context, clients oauth.ClientStore, cfg []ClientConfig, log *slog.Logger) error {
	for i := range cfg {
		c, err := oauth.RegisterClient(ctx, clients, cfg[i].Spec(), cfg[i].ClientSecret)
		if errors.Is(err, oauth.ErrClientExists) {
			stored, err := clients.GetClient(ctx, cfg[i].ClientID)
			if err != nil {
				return fmt.Errorf("clients[%d]: %w", i, err)
			}
			log.Info("client already stored; keeping the stored record", "client_id", stored.ID, "tenant", stored.Tenant,
				"disabled", !stored.DisabledAt.IsZero())
			if stored.SecretDigest != apiauth.DigestKey(cfg[i].ClientSecret) {
				log.Warn("the stored client has another secret than its config entry; keeping the stored one",
					"client_id", stored.ID)
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("clients[%d]: %w", i, err)
		}
		log.Info("client loaded", "client_id", c.ID, "tenant", c.Tenant)
	}
	return nil
}

// setUpClients registers the config's OAuth clients or, when it names
// none, the demo's: svc-acme (confidential) and demo-app (public), each
// only when the store does not hold it yet, so that a restart on the same
// -db keeps the secret printed the first time. It notes in g what it
// generated and which clients redirect to the callback page.
func setUpClients(ctx context.Context, cfg *Config, clients oauth.ClientStore, g *generated, log *slog.Logger) error {
	var ids []string
	if len(cfg.Clients) > 0 {
		if err := registerClients(ctx, clients, cfg.Clients, log); err != nil {
			return err
		}
		for _, c := range cfg.Clients {
			ids = append(ids, c.ClientID)
		}
	} else {
		_, err := clients.GetClient(ctx, demoClientSpec.ID)
		switch {
		case err == nil:
			log.Info("the database already holds the demo's OAuth client: none generated", "client_id", demoClientSpec.ID)
		case errors.Is(err, oauth.ErrClientNotFound):
			if g.client, err = createDemoClient(ctx, clients); err != nil {
				return err
			}
		default:
			return err
		}
		ids = append(ids, demoClientSpec.ID)
		if g.client != nil {
			ids[0] = g.client.spec.ID
		}
		if g.appCreated, err = createDemoApp(ctx, clients); err != nil {
			return err
		}
		if !g.appCreated {
			log.Info("the database already holds the demo's public OAuth client: none generated", "client_id", demoAppSpec.ID)
		}
		g.app = &demoAppSpec
		ids = append(ids, demoAppSpec.ID)
	}
	var err error
	g.callback, err = callbackClients(ctx, clients, ids)
	return err
}

// createDemoApp registers demoAppSpec unless the store holds it, and
// reports whether it did.
func createDemoApp(ctx context.Context, clients oauth.ClientStore) (bool, error) {
	_, err := oauth.RegisterClient(ctx, clients, demoAppSpec, "")
	if errors.Is(err, oauth.ErrClientExists) {
		return false, nil
	}
	return err == nil, err
}

// newIssuer returns the demo's token endpoint: tokens for the OAuth
// clients (client_credentials), for API keys (RFC 8693 exchange, and
// POST /v1/auth/token), and for users who approve a client (the
// authorization code with PKCE, and rotating refresh tokens, kept in
// grants), signed with an RS256 key generated now, so that access tokens
// do not survive a restart. Users is the demo's sign-in. A consent is
// remembered: a user who approved a client for some scopes is not asked
// again for them. Codes live 5 minutes, long enough to paste one into
// curl by hand (the library's default is 60 s). Failed client
// authentications count in failures, the store of the rate limits.
// cfg.Issuer.Issuer must be set.
func newIssuer(cfg *Config, keys *apiauth.Keys, creds *credentialStore, users oauth.Users, failures apiauth.Store, log *slog.Logger) (*oauth.Issuer, error) {
	key, err := oauth.GenerateSigningKey("RS256")
	if err != nil {
		return nil, err
	}
	issuer, err := oauth.NewIssuer(oauth.Config{
		Issuer:          cfg.Issuer.Issuer,
		Audience:        cfg.Issuer.Audience,
		TTL:             cfg.Issuer.TTL,
		Clients:         creds.clients,
		Keys:            keys,
		SigningKey:      &key,
		Realm:           cfg.Realm,
		FailureLimit:    cfg.AuthFailures,
		FailureStore:    failures,
		ClientIP:        &apiauth.ClientIP{TrustedProxies: cfg.TrustedProxies},
		Grants:          creds.grants,
		Users:           users,
		RememberConsent: true,
		CodeTTL:         codeTTL,
		OnEvent:         apiauth.LogEvent(log),
	})
	if err != nil {
		return nil, err
	}
	log.Info("token issuer", "issuer", cfg.Issuer.Issuer, "audience", cfg.Issuer.Audience,
		"token_ttl", cfg.Issuer.TTL.String(), "kid", key.ID, "alg", key.Algorithm)
	return issuer, nil
}

// codeTTL is how long an authorization code can be redeemed.
const codeTTL = 5 * time.Minute

// checkTrustedIssuers refuses a trusted issuer that is the demo's own
// issuer, which may be known only once the server listens (its default
// is the server's URL). Its error is a config error.
func checkTrustedIssuers(cfg *Config) error {
	for i, ti := range cfg.TrustedIssuers {
		if ti.Issuer == cfg.Issuer.Issuer {
			return fmt.Errorf("config: trusted_issuers[%d].issuer %q: the demo's own issuer (issuer.issuer, by default this server's URL) cannot also be a trusted issuer", i, ti.Issuer)
		}
	}
	return nil
}

// newVerifier returns the verifier of the JWTs that /v1/ accepts: the
// demo's own (verified with issuer's keys; those exchanged from an API key
// stop working when the key is revoked) and the trusted issuers' (verified
// with their JWKS, by the token's "iss" and "kid").
func newVerifier(cfg *Config, issuer *oauth.Issuer, keys *apiauth.Keys, log *slog.Logger) (*apiauth.JWTVerifier, error) {
	issuers := []apiauth.JWTIssuer{issuer.JWTIssuer()}
	for _, ti := range cfg.TrustedIssuers {
		issuers = append(issuers, ti)
		log.Info("trusted issuer", "issuer", ti.Issuer, "audience", ti.Audience)
	}
	return apiauth.NewJWTVerifier(apiauth.JWTOptions{Keys: keys}, issuers...)
}
