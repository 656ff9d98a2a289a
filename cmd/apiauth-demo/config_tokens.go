package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/apiauth/apiauth"
	"github.com/apiauth/apiauth/oauth"
)

// This file reads the config sections about access tokens and failed
// authentications: "auth_failures", "issuer", "clients" and
// "trusted_issuers". Like the rest of the config, their errors are one
// line that starts with the field they are about and never quote a secret.

// parseAuthFailures decodes the "auth_failures" section, a single limit
// such as {"requests": 20, "window": "1m"}, into cfg.AuthFailures.
func parseAuthFailures(raw json.RawMessage, cfg *Config) error {
	if emptyJSON(raw) {
		return nil
	}
	const field = "auth_failures"
	var lc limitConfig
	if err := decodeStrict(raw, &lc); err != nil {
		return jsonError(raw, field, err)
	}
	if lc.Name == "" {
		lc.Name = defaultAuthFailures.Limits[0].Name
	}
	l, err := lc.limit()
	if err != nil {
		return fmt.Errorf("%s.%w", field, err)
	}
	tier := apiauth.Tier{Name: defaultAuthFailures.Name, Limits: []apiauth.Limit{l}}
	if err := tier.Validate(); err != nil {
		return fmt.Errorf("%s: %s", field, strings.ReplaceAll(err.Error(), "apiauth: ", ""))
	}
	cfg.AuthFailures = tier
	return nil
}

// parseIssuer decodes the "issuer" section into is, whose defaults stand
// for what it leaves out.
func parseIssuer(raw json.RawMessage, is *IssuerConfig) error {
	if emptyJSON(raw) {
		return nil
	}
	var sec issuerSection
	if err := decodeStrict(raw, &sec); err != nil {
		return jsonError(raw, "issuer", err)
	}
	if sec.Issuer != "" {
		if err := checkIssuerURL(sec.Issuer); err != nil {
			return fmt.Errorf("issuer.issuer %q: %w", sec.Issuer, err)
		}
		is.Issuer = sec.Issuer
	}
	if sec.Audience != "" {
		if err := checkName(sec.Audience, 200, false); err != nil {
			return fmt.Errorf("issuer.audience: %w", err)
		}
		is.Audience = sec.Audience
	}
	if sec.TokenTTL != "" {
		d, err := time.ParseDuration(sec.TokenTTL)
		if err != nil || d <= 0 || d > maxTokenTTL {
			return fmt.Errorf(`issuer.token_ttl %q: want a Go duration above 0s and at most 24h, such as "15m" or "1h"`, sec.TokenTTL)
		}
		is.TTL = d
	}
	return nil
}

// checkIssuerURL validates the demo's own issuer identifier: an absolute
// http or https URL without credentials, query or fragment (RFC 8414 §2).
func checkIssuerURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return errors.New("want an absolute http or https URL, such as https://auth.example.com")
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(s, " \"<>\\^`{|}") {
		return errors.New("want a URL without credentials, query or fragment")
	}
	return nil
}

// parseClients decodes the "clients" section into cfg.Clients. It needs
// cfg.Tiers to check the clients' tiers.
func parseClients(raws []json.RawMessage, cfg *Config) error {
	ids := make(map[string]int)
	for i, raw := range raws {
		field := fmt.Sprintf("clients[%d]", i)
		var c ClientConfig
		if err := decodeStrict(raw, &c); err != nil {
			return jsonError(raw, field, err)
		}
		if err := checkClientConfig(&c, cfg.Tiers); err != nil {
			return fmt.Errorf("%s.%w", field, err)
		}
		if j, dup := ids[c.ClientID]; dup {
			return fmt.Errorf("%s.client_id %q: duplicate client ID (also clients[%d])", field, c.ClientID, j)
		}
		ids[c.ClientID] = i
		cfg.Clients = append(cfg.Clients, c)
	}
	return nil
}

// checkClientConfig validates one client entry. Its errors start with the
// member they are about; they never quote the secret.
func checkClientConfig(c *ClientConfig, tiers apiauth.Tiers) error {
	if c.ClientID == "" || len(c.ClientID) > 64 || !oauth.ValidClientCredential(c.ClientID) {
		return fmt.Errorf("client_id %q: want 1 to 64 printable ASCII characters (RFC 6749 VSCHAR)", c.ClientID)
	}
	note := fmt.Sprintf(" (client_id %q)", c.ClientID)
	if err := checkClientSecret(c, note); err != nil {
		return err
	}
	if err := checkName(c.Name, 200, false); err != nil {
		return fmt.Errorf("name: %w", err)
	}
	for j, u := range c.RedirectURIs {
		if err := oauth.CheckRedirectURI(u); err != nil {
			return fmt.Errorf("redirect_uris[%d] %q: %w", j, u, err)
		}
	}
	if err := checkName(c.Subject, 200, false); err != nil {
		return fmt.Errorf("subject: %w", err)
	}
	if c.Tenant != "" {
		if err := checkName(c.Tenant, 64, true); err != nil {
			return fmt.Errorf("tenant %q: %w", c.Tenant, err)
		}
	}
	if len(c.Scopes) == 0 {
		return errors.New(`scopes: want at least one scope, such as ["read"]`)
	}
	for j, s := range c.Scopes {
		if !apiauth.Scope(s).Valid() {
			return fmt.Errorf("scopes[%d] %q: not a valid scope (want printable ASCII without spaces, '\"' or '\\')", j, s)
		}
	}
	if _, known := tiers[c.Tier]; c.Tier != "" && !known {
		return fmt.Errorf("tier %q: unknown tier (known: %s)", c.Tier, strings.Join(tierNames(tiers), ", "))
	}
	if c.Tenant == "" {
		return fmt.Errorf("tenant%s: missing (every client acts for a tenant)", note)
	}
	return nil
}

// checkClientSecret applies the rules of a client's secret: none for a
// public client, else one the library accepts. note names the client;
// the secret is never quoted.
func checkClientSecret(c *ClientConfig, note string) error {
	switch {
	case c.Public && c.ClientSecret != "":
		return fmt.Errorf(`client_secret%s: a public client ("public": true) has no secret: remove one or the other`, note)
	case c.Public:
		return nil
	case c.ClientSecret == "":
		return fmt.Errorf("client_secret%s: missing", note)
	case len(c.ClientSecret) < oauth.MinClientSecretLength:
		return fmt.Errorf("client_secret%s: shorter than %d characters (a generated secret, not a password: the server keeps only its SHA-256 digest)",
			note, oauth.MinClientSecretLength)
	case len(c.ClientSecret) > 512:
		return fmt.Errorf("client_secret%s: longer than 512 characters", note)
	}
	if !oauth.ValidClientCredential(c.ClientSecret) {
		return fmt.Errorf("client_secret%s: want printable ASCII (RFC 6749 VSCHAR)", note)
	}
	return nil
}

// parseTrustedIssuers decodes the "trusted_issuers" section into
// cfg.TrustedIssuers, each with a JWKS on its jwks_url (which fetches
// nothing yet). It needs cfg.Issuer to refuse the demo's own issuer.
func parseTrustedIssuers(raws []json.RawMessage, cfg *Config) error {
	seen := make(map[string]int)
	for i, raw := range raws {
		field := fmt.Sprintf("trusted_issuers[%d]", i)
		var tc trustedIssuerConfig
		if err := decodeStrict(raw, &tc); err != nil {
			return jsonError(raw, field, err)
		}
		switch {
		case tc.Issuer == "":
			return fmt.Errorf(`%s.issuer: missing (want the exact "iss" of the provider's tokens)`, field)
		case tc.Issuer == cfg.Issuer.Issuer:
			return fmt.Errorf("%s.issuer %q: the demo's own issuer (issuer.issuer) cannot also be a trusted issuer", field, tc.Issuer)
		}
		if err := checkName(tc.Issuer, 500, false); err != nil {
			return fmt.Errorf("%s.issuer: %w", field, err)
		}
		if j, dup := seen[tc.Issuer]; dup {
			return fmt.Errorf("%s.issuer %q: duplicate issuer (also trusted_issuers[%d])", field, tc.Issuer, j)
		}
		seen[tc.Issuer] = i
		if tc.Audience == "" {
			return fmt.Errorf(`%s.audience: missing (want the "aud" the provider puts in tokens for this API)`, field)
		}
		if err := checkName(tc.Audience, 200, false); err != nil {
			return fmt.Errorf("%s.audience: %w", field, err)
		}
		for _, c := range []struct{ name, value string }{{"tenant_claim", tc.TenantClaim}, {"tier_claim", tc.TierClaim}} {
			if err := checkName(c.value, 200, false); err != nil {
				return fmt.Errorf("%s.%s: %w", field, c.name, err)
			}
		}
		if tc.Tenant != "" {
			if err := checkName(tc.Tenant, 64, true); err != nil {
				return fmt.Errorf("%s.tenant %q: %w", field, tc.Tenant, err)
			}
		}
		if tc.JWKSURL == "" {
			return fmt.Errorf("%s.jwks_url: missing (want the https URL of the provider's JWK Set)", field)
		}
		// The library has the last word on which URLs it fetches keys
		// from: https, or plain http to a loopback host only.
		jwks, err := apiauth.NewJWKS(tc.JWKSURL, apiauth.JWKSOptions{})
		if err != nil {
			return fmt.Errorf("%s.jwks_url: %s", field, strings.TrimPrefix(err.Error(), "apiauth: "))
		}
		cfg.TrustedIssuers = append(cfg.TrustedIssuers, apiauth.JWTIssuer{
			Issuer:      tc.Issuer,
			Audience:    tc.Audience,
			Keys:        jwks,
			TenantClaim: tc.TenantClaim,
			TierClaim:   tc.TierClaim,
			Tenant:      tc.Tenant,
			Profile:     tc.RFC9068,
		})
	}
	return nil
}
