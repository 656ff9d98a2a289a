package apiauth

import (
	"context"
	"net/http"
	"reflect"
)

// state is the per-request value every layer shares. It is itself the
// request's context: one allocation holds both the context link and the
// state, and the first layer that needs it calls r.WithContext once; later
// layers find it and write into it instead of copying the request again.
type state struct {
	context.Context
	// requestID is the request's ID, held as a header value, so that
	// RequestID sets X-Request-Id without allocating a []string.
	requestID [1]string
	principal *Principal
	settings  *problemSettings
	// owner identifies the request the state was made for (headerID): a
	// request a handler makes with r.Context() finds this state in its
	// context but must not write into it.
	owner uintptr
}

// headerID identifies a request by its Header map, which the copies
// r.WithContext makes (every router's) share, and a request made anew, or
// cloned, does not.
func headerID(h http.Header) uintptr { return reflect.ValueOf(h).Pointer() }

// stateKey is the context key of *state. Only this package can name it.
type stateKey struct{}

// Value returns the state itself for stateKey and defers to the parent for
// every other key.
func (s *state) Value(key any) any {
	if key == (stateKey{}) {
		return s
	}
	return s.Context.Value(key)
}

// stateFrom returns the request's state, or nil.
func stateFrom(ctx context.Context) *state {
	if ctx == nil {
		return nil
	}
	st, _ := ctx.Value(stateKey{}).(*state)
	return st
}

// ensureState returns the request's state, making it (and the one request
// copy that carries it) when no earlier layer did, or when the state in
// r's context belongs to another request: one that a handler served with
// its own context. The new state keeps that request's ID and problem
// settings, never its principal, and the other request's state is left
// as it was.
func ensureState(r *http.Request) (*state, *http.Request) {
	parent := stateFrom(r.Context())
	if parent != nil && parent.owner == headerID(r.Header) {
		return parent, r
	}
	return newState(r, parent)
}

// stateRequest is a state and the request copy that carries it, allocated
// together: one allocation instead of two on every request.
type stateRequest struct {
	st state
	r  http.Request
}

// newState returns a new state for r whose parent is r's context, with the
// request ID and problem settings of parent if it is not nil, and a copy of
// r that carries it.
func newState(r *http.Request, parent *state) (*state, *http.Request) {
	sr := &stateRequest{st: state{Context: r.Context(), owner: headerID(r.Header)}}
	if parent != nil {
		sr.st.requestID, sr.st.settings = parent.requestID, parent.settings
	}
	// WithContext is inlined and its copy does not escape: the only heap
	// copy of the request is sr.r.
	sr.r = *r.WithContext(&sr.st)
	return &sr.st, &sr.r
}

// requestIDOrNew returns the request ID, generating one when no RequestID
// layer ran, so that every problem body carries an ID.
func (s *state) requestIDOrNew() string {
	if s.requestID[0] == "" {
		s.requestID[0] = newRequestID()
	}
	return s.requestID[0]
}

// settingsOrDefault returns the problem settings of the Authenticate layer
// that ran, or the defaults.
func (s *state) settingsOrDefault() *problemSettings {
	if s == nil || s.settings == nil {
		return defaultSettings
	}
	return s.settings
}

// PrincipalFrom returns the principal that Authenticate verified for the
// request whose context is ctx, and whether there is one.
func PrincipalFrom(ctx context.Context) (*Principal, bool) {
	st := stateFrom(ctx)
	if st == nil || st.principal == nil {
		return nil, false
	}
	return st.principal, true
}

// RequestIDFrom returns the request ID that RequestID (or Authenticate)
// assigned to the request whose context is ctx, or "".
func RequestIDFrom(ctx context.Context) string {
	if st := stateFrom(ctx); st != nil {
		return st.requestID[0]
	}
	return ""
}

// WithPrincipal returns a copy of ctx that carries p, as Authenticate would
// leave it. It is meant for tests of handlers that call PrincipalFrom. The
// request ID of ctx, if any, is kept.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	st := &state{Context: ctx, principal: p}
	if parent := stateFrom(ctx); parent != nil {
		st.requestID = parent.requestID
		st.settings = parent.settings
	}
	return st
}
