package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/apiauth/apiauth"
	"github.com/apiauth/apiauth/oauth"
)

// Defaults of the settings a config file may leave out.
const (
	defaultRealm = "demo"
	// defaultAudience is the "aud" of the demo's own tokens.
	defaultAudience = "demo-api"
	// defaultTokenTTL is the lifetime of the demo's own tokens.
	defaultTokenTTL = time.Hour
	// maxTokenTTL is the longest token_ttl: the verifier refuses tokens
	// that live longer (apiauth.JWTOptions.MaxLifetime's default).
	maxTokenTTL = 24 * time.Hour
	// maxConfigSize caps the config file: it is read whole to report the
	// line and column of a syntax error.
	maxConfigSize = 1 << 20
)

// maxWindow is the longest window a configured limit may have. A rate
// limit over more than a year is a quota the demo has no business with,
// and the bound keeps GCRA's arrival times far from int64 overflow.
const maxWindow = 366 * 24 * time.Hour

// Config is the validated configuration of the demo server.
type Config struct {
	// Realm is the realm of WWW-Authenticate challenges.
	Realm string
	// ProblemTypeBase prefixes the code in problem type URIs; "" gives
	// "about:blank".
	ProblemTypeBase string
	// Keys are the API keys to import; nil means "generate demo keys".
	Keys []KeyConfig
	// Tiers are the rate-limit tiers by name: the library's presets (free,
	// pro, enterprise) with the "tiers" section added or overriding.
	Tiers apiauth.Tiers
	// TrustedProxies are the networks of the proxies in front of the
	// server, whose X-Forwarded-For may name the client.
	TrustedProxies []netip.Prefix
	// AuthFailures limits failed authentications per client IP
	// (defaultAuthFailures unless the "auth_failures" section says
	// otherwise).
	AuthFailures apiauth.Tier
	// Issuer configures the demo's own token endpoint.
	Issuer IssuerConfig
	// Clients are the OAuth clients to register; nil means "generate the
	// demo clients".
	Clients []ClientConfig
	// Users are the people of the demo's sign-in page, their passwords
	// hashed; nil means "generate the demo user".
	Users []demoUser
	// TrustedIssuers are the outside identity providers whose JWTs the
	// API accepts, each with its JWKS ready (nothing fetched yet). Close
	// them when done.
	TrustedIssuers []apiauth.JWTIssuer
}

// Close stops the trusted issuers' JWKS refreshes.
func (c *Config) Close() {
	for _, ti := range c.TrustedIssuers {
		if j, ok := ti.Keys.(*apiauth.JWKS); ok {
			_ = j.Close()
		}
	}
}

// IssuerConfig is the "issuer" section: the demo's own token endpoint.
type IssuerConfig struct {
	// Issuer is the "iss" of its tokens; "" means the server's own base
	// URL, http://HOST:PORT, known once it listens.
	Issuer string
	// Audience is the "aud" of its tokens.
	Audience string
	// TTL is the lifetime of its tokens.
	TTL time.Duration
}

// issuerSection is the "issuer" section as written.
type issuerSection struct {
	Issuer   string `json:"issuer"`
	Audience string `json:"audience"`
	// TokenTTL is a Go duration; "" means one hour.
	TokenTTL string `json:"token_ttl"`
}

// ClientConfig is one entry of the "clients" section: an OAuth client,
// confidential (of the client_credentials grant, registered by its
// secret's digest) or public (no secret), with its redirect URIs.
type ClientConfig struct {
	ClientID     string   `json:"client_id"`
	ClientSecret string   `json:"client_secret"`
	Name         string   `json:"name"`
	Public       bool     `json:"public"`
	RedirectURIs []string `json:"redirect_uris"`
	Subject      string   `json:"subject"`
	Tenant       string   `json:"tenant"`
	Scopes       []string `json:"scopes"`
	Tier         string   `json:"tier"`
}

// Spec returns the oauth.ClientSpec of a validated entry.
func (c *ClientConfig) Spec() oauth.ClientSpec {
	spec := oauth.ClientSpec{
		ID: c.ClientID, Name: c.Name, Public: c.Public, RedirectURIs: slices.Clone(c.RedirectURIs),
		Subject: c.Subject, Tenant: c.Tenant, Tier: c.Tier,
	}
	for _, s := range c.Scopes {
		spec.Scopes = append(spec.Scopes, apiauth.Scope(s))
	}
	return spec
}

// trustedIssuerConfig is one entry of the "trusted_issuers" section.
type trustedIssuerConfig struct {
	Issuer   string `json:"issuer"`
	Audience string `json:"audience"`
	// JWKSURL is where the issuer publishes its keys: https, or plain
	// http to a loopback host.
	JWKSURL string `json:"jwks_url"`
	// TenantClaim and TierClaim name the claims that carry the caller's
	// tenant and tier ("tenant" and "tier" when empty).
	TenantClaim string `json:"tenant_claim"`
	TierClaim   string `json:"tier_claim"`
	// Tenant names the one tenant of an issuer that serves a single
	// tenant; its tokens need no tenant claim.
	Tenant string `json:"tenant"`
	// RFC9068 requires every claim RFC 9068 §2.2 makes mandatory (sub,
	// client_id, iat, jti).
	RFC9068 bool `json:"rfc9068"`
}

// defaultAuthFailures is the demo's limit of failed authentications per
// client IP: 20 a minute, as apiauth.WithFailureLimit's default.
var defaultAuthFailures = apiauth.Tier{Name: "auth-failures", Limits: []apiauth.Limit{
	{Name: "failures", Requests: 20, Window: time.Minute},
}}

// tierName is the name of the tier that RateLimit applies to p: its own
// tier when the config knows it, else the default, "free".
func tierName(tiers apiauth.Tiers, p *apiauth.Principal) string {
	if _, ok := tiers[p.Tier]; ok {
		return p.Tier
	}
	return "free"
}

// tierNames returns the names of tiers, sorted.
func tierNames(tiers apiauth.Tiers) []string {
	return slices.Sorted(maps.Keys(tiers))
}

// KeyConfig is one entry of the "keys" section: an API key the clients
// already hold, imported by its digest.
type KeyConfig struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	Key     string   `json:"key"`
	Subject string   `json:"subject"`
	Tenant  string   `json:"tenant"`
	Scopes  []string `json:"scopes"`
	Tier    string   `json:"tier"`
	// ExpiresAt is an RFC 3339 time; "" means the key does not expire.
	ExpiresAt string `json:"expires_at"`
}

// Spec returns the apiauth.KeySpec of a validated entry.
func (k *KeyConfig) Spec() apiauth.KeySpec {
	spec := apiauth.KeySpec{
		ID:      k.ID,
		Name:    k.Name,
		Subject: k.Subject,
		Tenant:  k.Tenant,
		Tier:    k.Tier,
	}
	for _, s := range k.Scopes {
		spec.Scopes = append(spec.Scopes, apiauth.Scope(s))
	}
	if spec.Subject == "" {
		spec.Subject = k.ID
	}
	if k.ExpiresAt != "" {
		spec.ExpiresAt, _ = time.Parse(time.RFC3339, k.ExpiresAt) // validated
	}
	return spec
}

// fileConfig is the JSON file as written. Lists and sections are decoded
// entry by entry so that an error can name the entry.
type fileConfig struct {
	Realm           *string           `json:"realm"`
	ProblemTypeBase string            `json:"problem_type_base"`
	TrustedProxies  []string          `json:"trusted_proxies"`
	AuthFailures    json.RawMessage   `json:"auth_failures"`
	Keys            []json.RawMessage `json:"keys"`
	Tiers           json.RawMessage   `json:"tiers"`
	Clients         []json.RawMessage `json:"clients"`
	Users           []json.RawMessage `json:"users"`
	Issuer          json.RawMessage   `json:"issuer"`
	TrustedIssuers  []json.RawMessage `json:"trusted_issuers"`
}

// limitConfig is one limit of a tier in the "tiers" section, such as
// {"name": "hour", "requests": 1000, "window": "1h"}.
type limitConfig struct {
	// Name labels the limit in the RateLimit-Policy header; "default"
	// when empty, unique within its tier.
	Name string `json:"name"`
	// Requests is a positive integer, or the string "unlimited" for a
	// limit that never binds. It is kept raw to accept either.
	Requests json.RawMessage `json:"requests"`
	// Window is a Go duration, such as "1s", "1m" or "1h".
	Window string `json:"window"`
}

// unlimited is the value of "requests" that makes a limit never bind.
const unlimited = "unlimited"

// defaultConfig is the configuration without a config file.
func defaultConfig() *Config {
	return &Config{
		Realm:        defaultRealm,
		Tiers:        apiauth.Presets(),
		AuthFailures: defaultAuthFailures,
		Issuer:       IssuerConfig{Audience: defaultAudience, TTL: defaultTokenTTL},
	}
}

// loadConfig reads and validates the config file at path; "" gives the
// defaults. Its errors are one line that starts with "config:" and names
// the offending field; they never quote a key.
func loadConfig(path string) (*Config, error) {
	if path == "" {
		return defaultConfig(), nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigSize+1))
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if len(data) > maxConfigSize {
		return nil, fmt.Errorf("config: %s: larger than %d bytes", path, maxConfigSize)
	}
	return parseConfig(data)
}

// parseConfig decodes and validates a config file's contents.
func parseConfig(data []byte) (*Config, error) {
	var fc fileConfig
	if err := decodeStrict(data, &fc); err != nil {
		return nil, fmt.Errorf("config: %w", jsonError(data, "", err))
	}

	cfg := defaultConfig()
	if fc.Realm != nil {
		if *fc.Realm == "" || !apiauth.ValidRealm(*fc.Realm) {
			return nil, fmt.Errorf("config: realm %q: want 1 or more printable ASCII characters without '\"' or '\\' (RFC 6750 §3)", *fc.Realm)
		}
		cfg.Realm = *fc.Realm
	}
	if fc.ProblemTypeBase != "" {
		if err := checkTypeBase(fc.ProblemTypeBase); err != nil {
			return nil, fmt.Errorf("config: problem_type_base %q: %w", fc.ProblemTypeBase, err)
		}
		cfg.ProblemTypeBase = fc.ProblemTypeBase
	}
	for i, s := range fc.TrustedProxies {
		p, err := parsePrefixes(s)
		if err != nil {
			return nil, fmt.Errorf("config: trusted_proxies[%d] %q: want an IP address or CIDR prefix, such as 127.0.0.1 or 10.0.0.0/8", i, s)
		}
		cfg.TrustedProxies = append(cfg.TrustedProxies, p...)
	}
	if err := parseTiers(fc.Tiers, cfg.Tiers); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if err := parseAuthFailures(fc.AuthFailures, cfg); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if err := parseIssuer(fc.Issuer, &cfg.Issuer); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if err := parseClients(fc.Clients, cfg); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}

	cfg.Keys = make([]KeyConfig, 0, len(fc.Keys))
	ids := make(map[string]int)
	digests := make(map[apiauth.KeyDigest]int)
	for i, raw := range fc.Keys {
		field := fmt.Sprintf("keys[%d]", i)
		var k KeyConfig
		if err := decodeStrict(raw, &k); err != nil {
			return nil, fmt.Errorf("config: %w", jsonError(raw, field, err))
		}
		if err := checkKeyConfig(&k, cfg.Tiers); err != nil {
			return nil, fmt.Errorf("config: %s.%w", field, err)
		}
		if k.ID != "" {
			if j, dup := ids[k.ID]; dup {
				return nil, fmt.Errorf("config: %s.id %q: duplicate key ID (also keys[%d])", field, k.ID, j)
			}
			ids[k.ID] = i
		}
		d := apiauth.DigestKey(k.Key)
		if j, dup := digests[d]; dup {
			return nil, fmt.Errorf("config: %s.key%s: duplicate key: the same key as keys[%d]", field, idNote(k.ID), j)
		}
		digests[d] = i
		cfg.Keys = append(cfg.Keys, k)
	}
	// Users last but one: their passwords are hashed, which is slow, once
	// every other section is known to be good.
	if err := parseUsers(fc.Users, cfg); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	// Last: the trusted issuers' JWKS are the only part that holds
	// resources to release (none until first used, but Close is cheap).
	if err := parseTrustedIssuers(fc.TrustedIssuers, cfg); err != nil {
		cfg.Close()
		return nil, fmt.Errorf("config: %w", err)
	}
	return cfg, nil
}

// parseTiers decodes the "tiers" section into tiers, adding to or
// overriding its entries. Its errors start with the field they are about,
// such as `tiers.tiny[0].window "x": …`.
func parseTiers(raw json.RawMessage, tiers apiauth.Tiers) error {
	if emptyJSON(raw) {
		return nil
	}
	var section map[string]json.RawMessage
	if err := decodeStrict(raw, &section); err != nil {
		return jsonError(raw, "tiers", err)
	}
	// Sorted, so that the first error reported is always the same one.
	for _, name := range slices.Sorted(maps.Keys(section)) {
		if err := checkName(name, 64, true); err != nil {
			return fmt.Errorf("tiers: tier name %q: %w", name, err)
		}
		tier, err := parseTier(name, section[name])
		if err != nil {
			return err
		}
		tiers[name] = tier
	}
	return nil
}

// parseTier decodes the limits of tier name and validates them with
// apiauth's Tier.Validate.
func parseTier(name string, raw json.RawMessage) (apiauth.Tier, error) {
	field := "tiers." + name
	tier := apiauth.Tier{Name: name}
	var limits []json.RawMessage
	if err := decodeStrict(raw, &limits); err != nil {
		return tier, jsonError(raw, field, err)
	}
	if len(limits) == 0 || len(limits) > apiauth.MaxLimits {
		return tier, fmt.Errorf("%s: want 1 to %d limits, got %d", field, apiauth.MaxLimits, len(limits))
	}
	names := make(map[string]int)
	for i, lraw := range limits {
		lfield := fmt.Sprintf("%s[%d]", field, i)
		var lc limitConfig
		if err := decodeStrict(lraw, &lc); err != nil {
			return tier, jsonError(lraw, lfield, err)
		}
		l, err := lc.limit()
		if err != nil {
			return tier, fmt.Errorf("%s.%w", lfield, err)
		}
		if j, dup := names[l.Name]; dup {
			return tier, fmt.Errorf("%s.name %q: duplicate limit name (also %s[%d])", lfield, l.Name, field, j)
		}
		names[l.Name] = i
		tier.Limits = append(tier.Limits, l)
	}
	// The library has the last word on what it can enforce.
	if err := tier.Validate(); err != nil {
		return tier, fmt.Errorf("%s: %s", field, strings.ReplaceAll(err.Error(), "apiauth: ", ""))
	}
	return tier, nil
}

// limit converts a limit entry to an apiauth.Limit. Its errors start with
// the member they are about.
func (lc *limitConfig) limit() (apiauth.Limit, error) {
	l := apiauth.Limit{Name: lc.Name}
	if l.Name == "" {
		l.Name = "default"
	}
	if err := checkName(l.Name, 64, true); err != nil {
		return l, fmt.Errorf("name %q: %w", l.Name, err)
	}

	var word string
	switch {
	case len(lc.Requests) == 0 || string(lc.Requests) == "null":
		return l, fmt.Errorf(`requests: missing (want a positive integer or %q)`, unlimited)
	case json.Unmarshal(lc.Requests, &word) == nil:
		if word != unlimited {
			return l, fmt.Errorf(`requests %q: want a positive integer or %q`, word, unlimited)
		}
		l.Requests = apiauth.Unlimited
	default:
		if err := json.Unmarshal(lc.Requests, &l.Requests); err != nil || l.Requests <= 0 {
			return l, fmt.Errorf(`requests %s: want a positive integer or %q`, compactJSON(lc.Requests), unlimited)
		}
	}

	if lc.Window == "" {
		return l, errors.New(`window: missing (want a Go duration such as "1s", "1m" or "1h")`)
	}
	w, err := time.ParseDuration(lc.Window)
	switch {
	case err != nil:
		return l, fmt.Errorf(`window %q: want a Go duration such as "1s", "1m" or "1h"`, lc.Window)
	case w <= 0 || w > maxWindow:
		return l, fmt.Errorf(`window %q: want a duration above 0s and at most %v (366 days)`, lc.Window, maxWindow)
	}
	l.Window = w
	return l, nil
}

// compactJSON returns a JSON value on one line, shortened for an error
// message.
func compactJSON(raw json.RawMessage) string {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return "(invalid JSON)"
	}
	s := b.String()
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return s
}

// checkKeyConfig validates one key entry. Its errors start with the
// member they are about, such as `tier "gold": unknown tier`; they never
// quote the key itself.
func checkKeyConfig(k *KeyConfig, tiers apiauth.Tiers) error {
	if k.ID != "" {
		if err := checkName(k.ID, 64, true); err != nil {
			return fmt.Errorf("id %q: %w", k.ID, err)
		}
	}
	if k.Key == "" {
		return fmt.Errorf("key%s: missing", idNote(k.ID))
	}
	if err := apiauth.CheckKey(k.Key); err != nil {
		return fmt.Errorf("key%s: not a usable API key (want a b64token of %d or more characters, or a key in the library's format with a valid checksum)", idNote(k.ID), apiauth.MinImportedKeyLength)
	}
	if err := checkName(k.Name, 200, false); err != nil {
		return fmt.Errorf("name: %w", err)
	}
	if err := checkName(k.Subject, 200, false); err != nil {
		return fmt.Errorf("subject: %w", err)
	}
	if k.Tenant != "" {
		if err := checkName(k.Tenant, 64, true); err != nil {
			return fmt.Errorf("tenant %q: %w", k.Tenant, err)
		}
	}
	for j, s := range k.Scopes {
		if !apiauth.Scope(s).Valid() {
			return fmt.Errorf("scopes[%d] %q: not a valid scope (want printable ASCII without spaces, '\"' or '\\')", j, s)
		}
	}
	if _, known := tiers[k.Tier]; k.Tier != "" && !known {
		return fmt.Errorf("tier %q: unknown tier (known: %s)", k.Tier, strings.Join(tierNames(tiers), ", "))
	}
	if k.ExpiresAt != "" {
		if _, err := time.Parse(time.RFC3339, k.ExpiresAt); err != nil {
			return fmt.Errorf("expires_at %q: want an RFC 3339 time such as 2027-01-01T00:00:00Z", k.ExpiresAt)
		}
	}
	if k.Tenant == "" {
		return fmt.Errorf("tenant%s: missing (every key belongs to a tenant)", idNote(k.ID))
	}
	return nil
}

// idNote names the key an error is about when the message cannot quote
// the value itself (the key is secret).
func idNote(id string) string {
	if id == "" {
		return ""
	}
	return fmt.Sprintf(" (id %q)", id)
}

// checkName validates an identifier or label that ends up in URLs, JSON
// and logs: at most max bytes of UTF-8 without control characters; with
// strict, only [A-Za-z0-9._-] and not empty.
func checkName(s string, max int, strict bool) error {
	if len(s) > max {
		return fmt.Errorf("longer than %d bytes", max)
	}
	if strict && s == "" {
		return errors.New("empty")
	}
	if !utf8.ValidString(s) {
		return errors.New("not valid UTF-8")
	}
	for _, c := range s {
		if strict && !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return errors.New("want only letters, digits, '.', '_' and '-'")
		}
		if unicode.IsControl(c) {
			return errors.New("holds a control character")
		}
	}
	return nil
}

// checkTypeBase validates the base of problem type URIs: an absolute URI
// (RFC 9457 §3.1.1 recommends them) that a code can be appended to.
func checkTypeBase(base string) error {
	u, err := url.Parse(base)
	if err != nil || !u.IsAbs() || u.Host == "" && u.Opaque == "" {
		return errors.New("want an absolute URI such as https://api.example.com/problems/")
	}
	if u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(base, " \"<>\\^`{|}") {
		return errors.New("want an absolute URI without query or fragment")
	}
	return nil
}

// decodeStrict decodes exactly one JSON value from data into v, refusing
// unknown object members and trailing data.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return errors.New("empty document")
		}
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("unexpected data after the top-level value")
	}
	return nil
}

// jsonError rewrites an encoding/json error as one line that names the
// field (prefixed with field, the entry being decoded) or the place of a
// syntax error: its line and column in data, or its byte offset when data
// is nil (a request body).
func jsonError(data []byte, field string, err error) error {
	// at places the byte that a SyntaxError's Offset ends with.
	at := func(off int64) string {
		line, col := 1, 1
		for _, c := range data[:max(0, min(int(off)-1, len(data)))] {
			if c == '\n' {
				line, col = line+1, 1
			} else {
				col++
			}
		}
		return fmt.Sprintf("line %d, column %d", line, col)
	}
	prefix := ""
	if field != "" {
		prefix = field + ": "
	}
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn) && data == nil:
		return fmt.Errorf("%sinvalid JSON at byte %d: %s", prefix, syn.Offset, syn.Error())
	case errors.As(err, &syn):
		return fmt.Errorf("%sinvalid JSON at %s: %s", prefix, at(syn.Offset), syn.Error())
	case errors.As(err, &typ):
		name := typ.Field
		if field != "" && name != "" {
			name = field + "." + name
		} else if name == "" {
			name = field
		}
		if name == "" {
			name = "document"
		}
		return fmt.Errorf("%s: want %s, got JSON %s", name, jsonKind(typ.Type.String()), typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%sinvalid JSON: unexpected end of input", prefix)
	}
	// DisallowUnknownFields reports `json: unknown field "x"`.
	return fmt.Errorf("%s%s", prefix, strings.TrimPrefix(err.Error(), "json: "))
}

// jsonKind names a Go type the way a config author thinks of it.
func jsonKind(goType string) string {
	switch {
	case goType == "string" || goType == "*string":
		return "a string"
	case goType == "bool":
		return "true or false"
	case strings.HasPrefix(goType, "[]"):
		return "an array"
	case strings.HasPrefix(goType, "main."), strings.HasPrefix(goType, "map["):
		return "an object"
	}
	return goType
}

// emptyJSON reports whether a raw section is absent, null, [] or {}.
func emptyJSON(raw json.RawMessage) bool {
	if len(raw) == 0 {
		return true
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return false
	}
	switch v := v.(type) {
	case nil:
		return true
	case []any:
		return len(v) == 0
	case map[string]any:
		return len(v) == 0
	}
	return false
}

// parsePrefixes parses CIDR prefixes ("10.0.0.0/8") or single addresses
// ("127.0.0.1", taken as /32 or /128) for ClientIP.TrustedProxies.
func parsePrefixes(ss ...string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(ss))
	for _, s := range ss {
		if strings.Contains(s, "/") {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				return nil, err
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, err
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}
