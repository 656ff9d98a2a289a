package apiauth

import (
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Error codes carried in the "code" member of every problem body. Where RFC
// 6750 §3.1 defines a code, the "error" attribute of the WWW-Authenticate
// challenge carries the RFC code (invalid_request, invalid_token,
// insufficient_scope) and the body carries the more precise one.
const (
	CodeMissingToken      = "missing_token"           // 401: no credentials
	CodeInvalidRequest    = "invalid_request"         // 400: malformed Authorization, two credentials
	CodeInvalidToken      = "invalid_token"           // 401: unknown, malformed or badly signed token
	CodeTokenExpired      = "token_expired"           // 401: expired token or key
	CodeTokenRevoked      = "token_revoked"           // 401: revoked key
	CodeInsufficientScope = "insufficient_scope"      // 403: a required scope is missing
	CodeTenantForbidden   = "tenant_forbidden"        // 403: the route's tenant is not the principal's
	CodeRateLimited       = "rate_limited"            // 429: over a rate limit
	CodeUnavailable       = "temporarily_unavailable" // 503: the verifier or its store failed
)

// Problem is an RFC 9457 problem details object. The library fills every
// member; a Renderer may present it in another format.
type Problem struct {
	// Type is a URI reference identifying the problem type (RFC 9457 §3.1.1):
	// the configured base followed by Code, or "about:blank" without a base.
	Type string `json:"type"`
	// Title is a short summary that is the same for every occurrence of the
	// type (RFC 9457 §3.1.3).
	Title string `json:"title"`
	// Status is the HTTP status code (RFC 9457 §3.1.2).
	Status int `json:"status"`
	// Detail explains this occurrence to the client (RFC 9457 §3.1.4). It
	// never carries a credential or an internal error's text.
	Detail string `json:"detail"`
	// Instance is the request path, escaped as in the request URI (RFC
	// 9457 §3.1.5).
	Instance string `json:"instance"`
	// RequestID is the request's ID, also sent as X-Request-ID.
	RequestID string `json:"request_id"`
	// Code is one of the Code constants, an extension member (RFC 9457 §3.2).
	Code string `json:"code"`
}

// Renderer writes a problem response. The library has already set the
// headers that belong to the problem (WWW-Authenticate, Retry-After,
// X-Request-ID, Cache-Control); the renderer writes Content-Type, the status
// line and the body. A Renderer lets an API that has its own error format keep
// it; WriteProblem is the default.
type Renderer func(w http.ResponseWriter, r *http.Request, p *Problem)

// WriteProblem is the default Renderer: it writes p as
// application/problem+json (RFC 9457 §3) with X-Content-Type-Options:
// nosniff. A HEAD request gets the same headers and no body.
func WriteProblem(w http.ResponseWriter, r *http.Request, p *Problem) {
	body := p.appendJSON(make([]byte, 0, 256))
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(p.Status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// appendJSON encodes p by hand: the problem path is benchmarked and
// encoding/json would cost a reflection walk and several allocations.
func (p *Problem) appendJSON(b []byte) []byte {
	b = append(b, `{"type":`...)
	b = appendJSONString(b, p.Type)
	b = append(b, `,"title":`...)
	b = appendJSONString(b, p.Title)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(p.Status), 10)
	b = append(b, `,"detail":`...)
	b = appendJSONString(b, p.Detail)
	b = append(b, `,"instance":`...)
	b = appendJSONString(b, p.Instance)
	b = append(b, `,"request_id":`...)
	b = appendJSONString(b, p.RequestID)
	b = append(b, `,"code":`...)
	b = appendJSONString(b, p.Code)
	return append(b, '}', '\n')
}

// appendJSONString appends s as a JSON string (RFC 8259 §7), escaping what
// encoding/json escapes, HTML-sensitive characters included, and replacing
// invalid UTF-8 with U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// problemInfo is what a code always means: its status, its stable title and
// a default detail.
type problemInfo struct {
	status int
	title  string
	detail string
}

var problems = map[string]problemInfo{
	CodeMissingToken:      {http.StatusUnauthorized, "Missing credentials", "No bearer token was provided in the Authorization header."},
	CodeInvalidRequest:    {http.StatusBadRequest, "Malformed credentials", "The Authorization header is malformed."},
	CodeInvalidToken:      {http.StatusUnauthorized, "Invalid token", "The access token or API key is invalid."},
	CodeTokenExpired:      {http.StatusUnauthorized, "Expired token", "The access token or API key has expired."},
	CodeTokenRevoked:      {http.StatusUnauthorized, "Revoked token", "The API key has been revoked."},
	CodeInsufficientScope: {http.StatusForbidden, "Insufficient scope", "The credentials do not grant the scope this request needs."},
	CodeTenantForbidden:   {http.StatusForbidden, "Tenant forbidden", "The credentials do not grant access to this tenant."},
	CodeRateLimited:       {http.StatusTooManyRequests, "Rate limit exceeded", "Too many requests."},
	CodeUnavailable:       {http.StatusServiceUnavailable, "Authentication unavailable", "Credentials cannot be checked right now; try again later."},
}

// problemSettings is the presentation shared by every layer of one
// Authenticate: the realm, the type base and the renderer. Later layers
// (RequireScope, RateLimit) find it in the request state.
type problemSettings struct {
	realm    string
	typeBase string
	render   Renderer
}

var defaultSettings = &problemSettings{realm: "api", render: WriteProblem}

// newProblem builds the problem for code. detail, when empty, is the code's
// default. With no type base the type is "about:blank" and the title is the
// status phrase, as RFC 9457 §4.2.1 requires.
func (s *problemSettings) newProblem(r *http.Request, st *state, code, detail string) *Problem {
	info := problems[code]
	if detail == "" {
		detail = info.detail
	}
	instance := r.URL.EscapedPath()
	if strings.HasPrefix(instance, "//") {
		instance = "/." + instance // not a network-path reference (RFC 3986 §4.2)
	}
	p := &Problem{
		Status:    info.status,
		Detail:    detail,
		Instance:  instance,
		RequestID: st.requestIDOrNew(),
		Code:      code,
	}
	if s.typeBase == "" {
		p.Type = "about:blank"
		p.Title = http.StatusText(info.status)
	} else {
		p.Type = s.typeBase + code
		p.Title = info.title
	}
	return p
}

// reject renders the problem for code.
func (s *problemSettings) reject(w http.ResponseWriter, r *http.Request, st *state, code, detail string) {
	s.send(w, r, s.newProblem(r, st, code, detail))
}

// send sets the headers every problem carries and renders p.
func (s *problemSettings) send(w http.ResponseWriter, r *http.Request, p *Problem) {
	h := w.Header()
	if h.Get(headerRequestID) == "" {
		h.Set(headerRequestID, p.RequestID)
	}
	h.Set("Cache-Control", "no-store")
	s.render(w, r, p)
}

// WriteError writes a problem response for an error of the server's own
// handlers, presented like the library's rejections: the renderer, type
// base and request ID of the Authenticate layer the request passed through
// (the defaults without one), Cache-Control: no-store, and the code as the
// problem's "code" member and type suffix. status is the HTTP status; the
// title is the status phrase unless code is one of the library's codes.
// detail must not carry internal error text or secrets.
func WriteError(w http.ResponseWriter, r *http.Request, status int, code, detail string) {
	st, r := ensureState(r)
	set := st.settingsOrDefault()
	p := set.newProblem(r, st, code, detail)
	if info, ok := problems[code]; !ok || info.status != status {
		p.Status = status
		if p.Type == "about:blank" || !ok {
			p.Title = http.StatusText(status)
		}
	}
	set.send(w, r, p)
}
