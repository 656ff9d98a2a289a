package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/apiauth/apiauth"
)

// Defaults of the settings a config file may leave out.
const (
	defaultRealm = "demo"
	// maxConfigSize caps the config file: it is read whole to report the
	// line and column of a syntax error.
	maxConfigSize = 1 << 20
)

// presetTiers are the names of the library's preset rate-limit tiers
// (free, pro, enterprise), sorted: the tiers a key may name. The "tiers"
// section will add to them once the demo enforces rate limits.
var presetTiers = slices.Sorted(maps.Keys(apiauth.Presets()))

// Config is the validated configuration of the demo server.
type Config struct {
	// Realm is the realm of WWW-Authenticate challenges.
	Realm string
	// ProblemTypeBase prefixes the code in problem type URIs; "" gives
	// "about:blank".
	ProblemTypeBase string
	// Keys are the API keys to import; nil means "generate demo keys".
	Keys []KeyConfig
	// Tiers are the tier names a key may carry.
	Tiers []string
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

// fileConfig is the JSON file as written. The keys are decoded one by one
// so that an error can name the entry; the sections that are not
// implemented yet are kept raw to be refused when not empty.
type fileConfig struct {
	Realm           *string           `json:"realm"`
	ProblemTypeBase string            `json:"problem_type_base"`
	Keys            []json.RawMessage `json:"keys"`

	TrustedProxies json.RawMessage `json:"trusted_proxies"`
	Clients        json.RawMessage `json:"clients"`
	Issuer         json.RawMessage `json:"issuer"`
	TrustedIssuers json.RawMessage `json:"trusted_issuers"`
	Tiers          json.RawMessage `json:"tiers"`
}

// defaultConfig is the configuration without a config file.
func defaultConfig() *Config {
	return &Config{Realm: defaultRealm, Tiers: presetTiers}
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
	unsupported := []struct {
		name string
		raw  json.RawMessage
		why  string
	}{
		{"trusted_proxies", fc.TrustedProxies, "arrives with rate limiting"},
		{"tiers", fc.Tiers, "arrives with rate limiting"},
		{"clients", fc.Clients, "arrives with the JWT/token-endpoint support"},
		{"issuer", fc.Issuer, "arrives with the JWT/token-endpoint support"},
		{"trusted_issuers", fc.TrustedIssuers, "arrives with the JWT/token-endpoint support"},
	}
	for _, u := range unsupported {
		if !emptyJSON(u.raw) {
			return nil, fmt.Errorf("config: %q is not supported yet (%s)", u.name, u.why)
		}
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
	return cfg, nil
}

// checkKeyConfig validates one key entry. Its errors start with the
// member they are about, such as `tier "gold": unknown tier`; they never
// quote the key itself.
func checkKeyConfig(k *KeyConfig, tiers []string) error {
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
	if k.Tier != "" && !slices.Contains(tiers, k.Tier) {
		return fmt.Errorf("tier %q: unknown tier (known: %s)", k.Tier, strings.Join(tiers, ", "))
	}
	if k.ExpiresAt != "" {
		if _, err := time.Parse(time.RFC3339, k.ExpiresAt); err != nil {
			return fmt.Errorf("expires_at %q: want an RFC 3339 time such as 2027-01-01T00:00:00Z", k.ExpiresAt)
		}
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
	case strings.HasPrefix(goType, "[]"):
		return "an array"
	case strings.HasPrefix(goType, "main."):
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
