package main

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/apiauth/apiauth"
)

// maxText is the longest tenant, subject, name, tier or ID accepted, in
// bytes, as the demo's admin routes accept.
const maxText = 200

// checkText checks the value of a text flag: valid UTF-8, no control
// characters (a listing shows each key on one line), at most maxText
// bytes, and given when required.
func checkText(flagName, v string, required bool) error {
	switch {
	case v == "" && required:
		return usagef("-%s is required", flagName)
	case len(v) > maxText:
		return usagef("-%s: longer than %d bytes", flagName, maxText)
	case !utf8.ValidString(v):
		return usagef("-%s %q: not valid UTF-8", flagName, v)
	case strings.IndexFunc(v, unicode.IsControl) >= 0:
		return usagef("-%s %q: holds a control character", flagName, v)
	}
	return nil
}

// defaultScopes are the scopes of a key or client created without -scopes:
// the least the built-in ladder grants.
const defaultScopes = "read"

// parseScopes parses a -scopes value: scope-tokens (RFC 6749 §3.3, such as
// read, write, admin or orders:write) separated by commas. Repeats are
// dropped.
func parseScopes(v string) ([]apiauth.Scope, error) {
	var out []apiauth.Scope
	for f := range strings.SplitSeq(v, ",") {
		s := apiauth.Scope(strings.TrimSpace(f))
		if s == "" {
			return nil, usagef("-scopes %q: an empty scope; want scopes separated by commas, such as read,write", v)
		}
		if !s.Valid() {
			return nil, usagef("-scopes %q: %q is not a scope (printable ASCII without spaces, quotes or backslashes)", v, s)
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out, nil
}

// parseDuration parses a Go duration (90m, 720h) or a whole number of
// days (30d).
func parseDuration(v string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(v, "d"); ok {
		days, err := strconv.ParseInt(n, 10, 64)
		if err != nil || days < 0 || days > 100*366 {
			return 0, errors.New("bad number of days")
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	return time.ParseDuration(v)
}

// parseExpires parses an -expires value: an RFC 3339 time, or a duration
// from now; either way in the future.
func parseExpires(v string, now time.Time) (time.Time, error) {
	const want = "want an RFC 3339 time in the future (2030-01-01T00:00:00Z) or a duration from now (90d, 720h)"
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		d, derr := parseDuration(v)
		if derr != nil {
			return time.Time{}, usagef("-expires %q: %s", v, want)
		}
		t = now.Add(d)
	}
	if !t.After(now) {
		return time.Time{}, usagef("-expires %q: not in the future; %s", v, want)
	}
	return t, nil
}

// scopeList shows scopes in messages: "read,write", or "none".
func scopeList(scopes []apiauth.Scope) string {
	if len(scopes) == 0 {
		return "none"
	}
	s := make([]string, len(scopes))
	for i, sc := range scopes {
		s[i] = string(sc)
	}
	return strings.Join(s, ",")
}

// tierLabel shows a tier in messages: its name, or "default".
func tierLabel(tier string) string {
	if tier == "" {
		return "default"
	}
	return tier
}

// timeLabel shows a time in messages and listings: RFC 3339 in UTC, to the
// second; never for the zero time.
func timeLabel(t time.Time, never string) string {
	if t.IsZero() {
		return never
	}
	return t.UTC().Format(time.RFC3339)
}
