package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/apiauth/apiauth"
	"github.com/apiauth/apiauth/oauth"
)

// demoClient is the OAuth client generated at start-up when the config
// names none, printed once for the user.
type demoClient struct {
	spec   oauth.ClientSpec
	secret string
}

// demoClientSpec is the generated client: a service of tenant acme that
// may read and write, on the pro tier.
var demoClientSpec = oauth.ClientSpec{
	ID:      "svc-acme",
	Subject: "svc-acme",
	Tenant:  "acme",
	Scopes:  []apiauth.Scope{apiauth.Read, apiauth.Write},
	Tier:    "pro",
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

// newIssuer returns the demo's token endpoint: tokens for the OAuth
// clients (client_credentials) and for API keys (RFC 8693 exchange, and
// POST /v1/auth/token), signed with an RS256 key generated now, so that
// tokens do not survive a restart. cfg.Issuer.Issuer must be set.
func newIssuer(cfg *Config, keys *apiauth.Keys, clients oauth.ClientStore, log *slog.Logger) (*oauth.Issuer, error) {
	key, err := oauth.GenerateSigningKey("RS256")
	if err != nil {
		return nil, err
	}
	issuer, err := oauth.NewIssuer(oauth.Config{
		Issuer:       cfg.Issuer.Issuer,
		Audience:     cfg.Issuer.Audience,
		TTL:          cfg.Issuer.TTL,
		Clients:      clients,
		Keys:         keys,
		SigningKey:   &key,
		Realm:        cfg.Realm,
		FailureLimit: cfg.AuthFailures,
		ClientIP:     &apiauth.ClientIP{TrustedProxies: cfg.TrustedProxies},
		OnEvent:      apiauth.LogEvent(log),
	})
	if err != nil {
		return nil, err
	}
	log.Info("token issuer", "issuer", cfg.Issuer.Issuer, "audience", cfg.Issuer.Audience,
		"token_ttl", cfg.Issuer.TTL.String(), "kid", key.ID, "alg", key.Algorithm)
	return issuer, nil
}

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
