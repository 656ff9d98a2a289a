package apiauth

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
)

// Scope is an OAuth 2.0 scope token (RFC 6749 §3.3): a case-sensitive
// string of printable ASCII without spaces, quotes or backslashes.
type Scope string

// The built-in scopes form a ladder: Admin implies Write, which implies
// Read. Any other scope, such as "orders:write", matches only itself.
const (
	Read  Scope = "read"
	Write Scope = "write"
	Admin Scope = "admin"
)

// rank places the built-in scopes on their ladder; custom scopes have none.
func (s Scope) rank() int {
	switch s {
	case Read:
		return 1
	case Write:
		return 2
	case Admin:
		return 3
	}
	return 0
}

// Valid reports whether s is a scope-token (RFC 6749 §3.3):
// 1*( %x21 / %x23-5B / %x5D-7E ).
func (s Scope) Valid() bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if charClass[s[i]]&classScope == 0 {
			return false
		}
	}
	return true
}

// Grants reports whether holding s grants want: the same scope, or a
// built-in scope higher on the ladder (Admin grants Write and Read).
func (s Scope) Grants(want Scope) bool {
	if s == want {
		return true
	}
	r := want.rank()
	return r > 0 && s.rank() > r
}

// HasScope reports whether p was granted want, directly or through a higher
// built-in scope. A nil principal has no scopes.
func (p *Principal) HasScope(want Scope) bool {
	if p == nil {
		return false
	}
	for _, s := range p.Scopes {
		if s.Grants(want) {
			return true
		}
	}
	return false
}

// ParseScopes parses a scope string exactly as RFC 6749 §3.3 defines it:
// scope-tokens separated by single spaces (SP), with no leading or trailing
// space. Anything else is an error, never a narrower list: a tab or
// another space character is part of a token and makes it invalid, and an
// empty string holds no scope-token.
func ParseScopes(s string) ([]Scope, error) {
	if s == "" {
		return nil, errors.New("apiauth: empty scope string")
	}
	out := make([]Scope, 0, strings.Count(s, " ")+1)
	for f := range strings.SplitSeq(s, " ") {
		sc := Scope(f)
		if !sc.Valid() {
			if f == "" {
				return nil, fmt.Errorf("apiauth: scope string %q: leading, trailing or double space", s)
			}
			return nil, fmt.Errorf("apiauth: invalid scope %q", f)
		}
		out = append(out, sc)
	}
	return out, nil
}

// scopeForMethod returns the scope an HTTP method needs by default: Read for
// the safe methods GET, HEAD and OPTIONS (RFC 9110 §9.2.1), Write for the
// rest.
func scopeForMethod(method string) Scope {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return Read
	}
	return Write
}

// RequireScope returns a layer that lets a request through only when its
// principal holds every scope in want. It runs after Authenticate. A
// principal without a needed scope gets 403 insufficient_scope, whose
// challenge names the scopes needed (RFC 6750 §3.1); a request with no
// principal (Authenticate missing or Optional) gets 401 missing_token: the
// layer fails closed. It panics if a scope is not a valid scope-token.
func RequireScope(want ...Scope) func(http.Handler) http.Handler {
	for _, s := range want {
		if !s.Valid() {
			panic(fmt.Sprintf("apiauth: RequireScope: invalid scope %q", s))
		}
	}
	names := make([]string, len(want))
	for i, s := range want {
		names[i] = string(s)
	}
	joined := strings.Join(names, " ")
	// A refusal's detail is the same for every request; its challenge
	// depends on the realm too, and is kept for the last realm seen.
	deny := &refusal{layer: "scope", code: CodeInsufficientScope, scope: joined, detail: "This request needs the scope: " + joined + "."}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			st := stateFrom(r.Context())
			p := st.principalOrNil()
			if p == nil {
				rejectUnauthenticated(w, r, "scope")
				return
			}
			for _, s := range want {
				if !p.HasScope(s) {
					deny.reject(w, r, st)
					return
				}
			}
			next.ServeHTTP(w, r)
		})
	}
}

// RequireMethodScope returns a layer that requires the scope of the
// request's method: Read for the safe methods GET, HEAD and OPTIONS (RFC
// 9110 §9.2.1), Write for every other (methods are case-sensitive, §9.1:
// "get" needs Write).
func RequireMethodScope() func(http.Handler) http.Handler {
	read, write := RequireScope(Read), RequireScope(Write)
	return func(next http.Handler) http.Handler {
		r, w := read(next), write(next)
		return http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
			if scopeForMethod(req.Method) == Read {
				r.ServeHTTP(rw, req)
				return
			}
			w.ServeHTTP(rw, req)
		})
	}
}

func (s *state) principalOrNil() *Principal {
	if s == nil {
		return nil
	}
	return s.principal
}

// refusal is what a RequireScope or RequireTenant layer answers with: a
// 403 whose challenge has the RFC 6750 §3.1 error insufficient_scope (the
// only code §3.1 has for a 403), naming the scopes needed, if any; the
// problem's code says which refusal it is.
type refusal struct {
	layer         string // "scope" or "tenant", for events
	code          Code
	scope, detail string
	last          atomic.Pointer[realmChallenge]
}

// realmChallenge is a WWW-Authenticate value and the realm it names.
type realmChallenge struct{ realm, value string }

func (s *refusal) reject(w http.ResponseWriter, r *http.Request, st *state) {
	set := st.settingsOrDefault()
	if set.observe != nil {
		set.observe(r, Event{Layer: s.layer, RequestID: st.requestIDOrNew(), Code: s.code,
			Status: http.StatusForbidden, Principal: st.principal})
	}
	c := s.last.Load()
	if c == nil || c.realm != set.realm {
		c = &realmChallenge{set.realm, challenge(set.realm, CodeInsufficientScope, problems[s.code].detail, s.scope)}
		s.last.Store(c)
	}
	set.reject(w, r, st, s.code, s.detail, "Www-Authenticate", c.value)
}

// rejectUnauthenticated answers a request that reached a guard (layer)
// without a principal.
func rejectUnauthenticated(w http.ResponseWriter, r *http.Request, layer string) {
	st, r := ensureState(r)
	set := st.settingsOrDefault()
	if set.observe != nil {
		set.observe(r, Event{Layer: layer, RequestID: st.requestIDOrNew(), Code: CodeMissingToken, Status: http.StatusUnauthorized})
	}
	set.reject(w, r, st, CodeMissingToken, "", "Www-Authenticate", challenge(set.realm, "", "", ""))
}
