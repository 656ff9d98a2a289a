package apiauth

import (
	"bytes"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// DefaultMaxTokenLength is the default cap on a bearer token's length. A
// longer token is refused before any other work.
const DefaultMaxTokenLength = 4096

// maxFormScan caps how much of a form body Authenticate reads to look for a
// second credential in an access_token parameter (RFC 6750 §2.2).
const maxFormScan = 64 << 10

// ParseBearer extracts the token from the Authorization field lines of h as
// RFC 6750 §2.1 defines them:
//
//	credentials = "Bearer" 1*SP b64token
//	b64token    = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
//
// The scheme is matched case-insensitively (RFC 9110 §11.1). It returns the
// token and "" on success; otherwise "" and the error code:
// CodeMissingToken when there is no Authorization field or it names another
// scheme, CodeInvalidRequest when the field is malformed or repeated, and
// CodeInvalidToken when the token is not a b64token or is longer than
// maxLen (DefaultMaxTokenLength when maxLen <= 0).
func ParseBearer(h http.Header, maxLen int) (token string, code Code) {
	if maxLen <= 0 {
		maxLen = DefaultMaxTokenLength
	}
	// Canonical already: no need for Values' canonicalization.
	return parseAuthorization(h["Authorization"], maxLen, true)
}

// parseAuthorization is ParseBearer on the Authorization field lines v;
// with b64 false it leaves the token's b64token check to the caller.
func parseAuthorization(v []string, maxLen int, b64 bool) (token string, code Code) {
	switch len(v) {
	case 0:
		return "", CodeMissingToken
	case 1:
		return parseCredentials(v[0], maxLen, b64)
	default:
		return "", CodeInvalidRequest
	}
}

// parseCredentials parses an Authorization field value as ParseBearer
// does; with b64 false it leaves the token's b64token check to the caller.
func parseCredentials(s string, maxLen int, b64 bool) (token string, code Code) {
	// auth-scheme = token (RFC 9110 §11.1, §5.6.2).
	i := 0
	for i < len(s) && isTchar(s[i]) {
		i++
	}
	if i == 0 {
		return "", CodeInvalidRequest
	}
	if i < len(s) && s[i] != ' ' && s[i] != '\t' {
		return "", CodeInvalidRequest
	}
	if !strings.EqualFold(s[:i], "Bearer") {
		// Another scheme (Basic, Digest, …): not our credentials.
		return "", CodeMissingToken
	}
	if i == len(s) {
		return "", CodeInvalidRequest // "Bearer" with no token
	}
	if s[i] != ' ' {
		return "", CodeInvalidRequest // RFC 6750 allows only SP here
	}
	for i < len(s) && s[i] == ' ' {
		i++
	}
	tok := s[i:]
	if tok == "" {
		return "", CodeInvalidRequest
	}
	if len(tok) > maxLen || b64 && !isB64Token(tok) {
		return "", CodeInvalidToken
	}
	return tok, ""
}

// hasOtherCredential reports whether r also carries a token in an
// access_token query or form parameter (RFC 6750 §2.2, §2.3). Two ways of
// sending credentials in one request are invalid_request (§3.1). The form
// body is read at most maxFormScan bytes deep and put back as it was, so the
// handler still sees the whole body.
func hasOtherCredential(r *http.Request) bool {
	// Scan only when the name could be there, plainly or percent-encoded.
	if q := r.URL.RawQuery; (strings.Contains(q, "access_token") || strings.IndexByte(q, '%') >= 0) && hasParam(q, "access_token") {
		return true
	}
	if r.Body == nil || r.Body == http.NoBody || r.Method == http.MethodGet || r.Method == http.MethodHead {
		return false
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return false
	}
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/x-www-form-urlencoded" {
		return false
	}
	buf, err := io.ReadAll(io.LimitReader(r.Body, maxFormScan))
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(buf), r.Body), r.Body}
	return err == nil && hasParam(string(buf), "access_token")
}

// hasParam reports whether the urlencoded string s has a parameter called
// name. Unlike url.ParseQuery it does not give up on a malformed pair
// elsewhere (a stray '%' or ';').
func hasParam(s, name string) bool {
	for s != "" {
		var pair string
		pair, s, _ = strings.Cut(s, "&")
		n, _, _ := strings.Cut(pair, "=")
		if n == name {
			return true
		}
		if strings.IndexByte(n, '%') >= 0 || strings.IndexByte(n, '+') >= 0 {
			if u, err := url.QueryUnescape(n); err == nil && u == name {
				return true
			}
		}
	}
	return false
}

// challenge builds a WWW-Authenticate value (RFC 6750 §3): the realm, then
// at most one error, error_description and scope. Every value comes from
// this package or the configuration, never from the request, so it stays
// within §3's character set.
func challenge(realm string, errCode Code, desc, scope string) string {
	var b strings.Builder
	b.Grow(64 + len(realm) + len(desc) + len(scope))
	b.WriteString(`Bearer realm="`)
	b.WriteString(realm)
	b.WriteByte('"')
	if errCode != "" {
		b.WriteString(`, error="`)
		b.WriteString(string(errCode))
		b.WriteByte('"')
	}
	if desc != "" {
		b.WriteString(`, error_description="`)
		b.WriteString(desc)
		b.WriteByte('"')
	}
	if scope != "" {
		b.WriteString(`, scope="`)
		b.WriteString(scope)
		b.WriteByte('"')
	}
	return b.String()
}

// ValidRealm reports whether s may be used as the realm of a
// WWW-Authenticate challenge (WithRealm): RFC 6750 §3 allows %x20-21 /
// %x23-5B / %x5D-7E in quoted values, so no quote, backslash, control or
// non-ASCII character.
func ValidRealm(s string) bool { return validChallengeValue(s) }
