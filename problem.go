package apiauth

import (
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Code is the "code" member of a problem body (an RFC 9457 §3.2 extension
// member): a stable, machine-readable reason. The library's layers answer
// with the constants below; WriteError accepts codes of your own. Where RFC
// 6750 §3.1 defines a code, the "error" attribute of the WWW-Authenticate
// challenge carries the RFC code (invalid_request, invalid_token,
// insufficient_scope) and the body carries the more precise one.
type Code string

// The codes of the library's rejections, with their statuses.
const (
	CodeMissingToken      Code = "missing_token"           // 401: no credentials
	CodeInvalidRequest    Code = "invalid_request"         // 400: malformed Authorization, two credentials
	CodeInvalidToken      Code = "invalid_token"           // 401: unknown, malformed or badly signed token
	CodeTokenExpired      Code = "token_expired"           // 401: expired token or key
	CodeTokenRevoked      Code = "token_revoked"           // 401: revoked key
	CodeInsufficientScope Code = "insufficient_scope"      // 403: a required scope is missing
	CodeTenantForbidden   Code = "tenant_forbidden"        // 403: the route's tenant is not the principal's
	CodeRateLimited       Code = "rate_limited"            // 429: over a rate limit (Authenticate's failure limit or RateLimit)
	CodeUnavailable       Code = "temporarily_unavailable" // 503: the verifier, its store or the rate-limit store failed
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
	Code Code `json:"code"`
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
	b = appendProblemHead(b, p.Type, p.Title, p.Status)
	b = appendJSONString(b, p.Detail)
	b = appendProblemMiddle(b, p.Instance, p.RequestID)
	return appendProblemTail(b, p.Code)
}

// The three parts of a problem's JSON around its detail, so that the parts
// that are the same for every refusal of a code can be encoded once (see
// problemTemplate) and still match appendJSON byte for byte.

// appendProblemHead appends {"type":…,"title":…,"status":…,"detail":
func appendProblemHead(b []byte, typ, title string, status int) []byte {
	b = append(b, `{"type":`...)
	b = appendJSONString(b, typ)
	b = append(b, `,"title":`...)
	b = appendJSONString(b, title)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(status), 10)
	return append(b, `,"detail":`...)
}

// appendProblemMiddle appends ,"instance":…,"request_id":…
func appendProblemMiddle(b []byte, instance, requestID string) []byte {
	b = append(b, `,"instance":`...)
	b = appendJSONString(b, instance)
	b = append(b, `,"request_id":`...)
	return appendJSONString(b, requestID)
}

// appendProblemTail appends ,"code":…} and a newline.
func appendProblemTail(b []byte, code Code) []byte {
	b = append(b, `,"code":`...)
	b = appendJSONString(b, string(code))
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

var problems = map[Code]problemInfo{
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
	// observe is the Authenticate layer's observers, which the guards
	// after it report their refusals to.
	observe observer
	// templates holds each library code's problem under these settings
	// (see compile).
	templates map[Code]*problemTemplate
}

// problemTemplate is a library code's problem under one problemSettings,
// with the JSON that is the same for every refusal encoded once.
type problemTemplate struct {
	info       problemInfo
	typ, title string
	head       string // appendProblemHead's output
	detailJSON string // info.detail as a JSON string
	tail       string // appendProblemTail's output
}

// compile builds the templates; it runs once the type base is known.
func (s *problemSettings) compile() {
	s.templates = make(map[Code]*problemTemplate, len(problems))
	for code, info := range problems {
		t := &problemTemplate{info: info}
		if s.typeBase == "" {
			t.typ, t.title = "about:blank", http.StatusText(info.status)
		} else {
			t.typ, t.title = s.typeBase+string(code), info.title
		}
		t.head = string(appendProblemHead(nil, t.typ, t.title, info.status))
		t.detailJSON = string(appendJSONString(nil, info.detail))
		t.tail = string(appendProblemTail(nil, code))
		s.templates[code] = t
	}
}

// defaultSettings are the settings outside any Authenticate. A nil render
// is WriteProblem's format, written without allocating a body.
var defaultSettings = func() *problemSettings {
	s := &problemSettings{realm: "api"}
	s.compile()
	return s
}()

// fillProblem fills p with the problem for code. detail, when empty, is the code's
// default. With no type base the type is "about:blank" and the title is the
// status phrase, as RFC 9457 §4.2.1 requires.
func (s *problemSettings) fillProblem(p *Problem, r *http.Request, st *state, code Code, detail string) *problemTemplate {
	t := s.templates[code]
	var info problemInfo
	if t != nil {
		info = t.info
	}
	if detail == "" {
		detail = info.detail
	}
	instance := r.URL.EscapedPath()
	if strings.HasPrefix(instance, "//") {
		instance = "/." + instance // not a network-path reference (RFC 3986 §4.2)
	}
	*p = Problem{
		Status:    info.status,
		Detail:    detail,
		Instance:  instance,
		RequestID: st.requestIDOrNew(),
		Code:      code,
	}
	switch {
	case t != nil:
		p.Type, p.Title = t.typ, t.title
	case s.typeBase == "":
		p.Type, p.Title = "about:blank", http.StatusText(info.status)
	default:
		p.Type, p.Title = s.typeBase+string(code), info.title
	}
	return t
}

// reject renders the problem for code, after setting headers, given as
// name/value pairs with canonical names (such as the challenge).
func (s *problemSettings) reject(w http.ResponseWriter, r *http.Request, st *state, code Code, detail string, headers ...string) {
	resp := &problemResponse{}
	resp.t = s.fillProblem(&resp.p, r, st, code, detail)
	h := w.Header()
	for i := 0; i+1 < len(headers); i += 2 {
		resp.set(h, headers[i], headers[i+1])
	}
	s.send(w, r, resp)
}

// problemResponse is one allocation holding what a refusal writes: the
// problem, the header values (a []string per field otherwise) and the
// body of the default renderer.
type problemResponse struct {
	p      Problem
	t      *problemTemplate // p's code's, if a library code at its status
	values [8]string
	used   int
	body   [320]byte
}

// set sets the header field name, which must be canonical, to the single
// value v, backed by resp. Each value gets its own one-element slice
// (capacity 1), so a later Add copies instead of writing over a
// neighbour.
func (resp *problemResponse) set(h http.Header, name, v string) {
	if resp.used == len(resp.values) {
		h[name] = []string{v}
		return
	}
	i := resp.used
	resp.used++
	resp.values[i] = v
	h[name] = resp.values[i : i+1 : i+1]
}

// send sets the headers every problem carries and renders the problem.
func (s *problemSettings) send(w http.ResponseWriter, r *http.Request, resp *problemResponse) {
	h := w.Header()
	if len(h[headerRequestID]) == 0 || h[headerRequestID][0] == "" {
		resp.set(h, headerRequestID, resp.p.RequestID)
	}
	resp.set(h, "Cache-Control", "no-store")
	if s.render != nil {
		s.render(w, r, &resp.p)
		return
	}
	// WriteProblem, with the body and header values in resp.
	var body []byte
	if p, t := &resp.p, resp.t; t != nil {
		body = append(resp.body[:0], t.head...)
		if p.Detail == t.info.detail {
			body = append(body, t.detailJSON...)
		} else {
			body = appendJSONString(body, p.Detail)
		}
		body = appendProblemMiddle(body, p.Instance, p.RequestID)
		body = append(body, t.tail...)
	} else {
		body = resp.p.appendJSON(resp.body[:0])
	}
	resp.set(h, "Content-Type", "application/problem+json")
	resp.set(h, "X-Content-Type-Options", "nosniff")
	resp.set(h, "Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(resp.p.Status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// WriteError writes a problem response for an error of the server's own
// handlers, presented like the library's rejections: the renderer, type
// base and request ID of the Authenticate layer the request passed through
// (the defaults without one), Cache-Control: no-store, and the code as the
// problem's "code" member and type suffix. status is the HTTP status; the
// title is the status phrase unless code is one of the library's codes.
// detail must not carry internal error text or secrets. A 401 or 403
// carries a Bearer challenge (RFC 6750 §3) unless the handler set one: a
// 403 says error="insufficient_scope", the one code §3.1 has for it, and a
// 401 error="invalid_token" (none for missing_token).
func WriteError(w http.ResponseWriter, r *http.Request, status int, code Code, detail string) {
	st, r := ensureState(r)
	set := st.settingsOrDefault()
	if status == http.StatusUnauthorized || status == http.StatusForbidden {
		if h := w.Header(); h.Get("Www-Authenticate") == "" {
			h.Set("Www-Authenticate", errorChallenge(set.realm, status, code))
		}
	}
	resp := &problemResponse{}
	p := &resp.p
	resp.t = set.fillProblem(p, r, st, code, detail)
	if info, ok := problems[code]; !ok || info.status != status {
		resp.t = nil // the template's status and title no longer hold
		p.Status = status
		if p.Type == "about:blank" || !ok {
			p.Title = http.StatusText(status)
		}
	}
	set.send(w, r, resp)
}

// errorChallenge is WriteError's Bearer challenge for a 401 or 403 with
// code: the RFC 6750 §3.1 error code for the status, and the description
// of a library code.
func errorChallenge(realm string, status int, code Code) string {
	rfc := CodeInvalidToken
	switch {
	case status == http.StatusForbidden:
		rfc = CodeInsufficientScope
	case code == CodeMissingToken:
		return challenge(realm, "", "", "")
	}
	desc := ""
	if info, ok := problems[code]; ok && info.status == status {
		desc = info.detail
	}
	return challenge(realm, rfc, desc, "")
}
