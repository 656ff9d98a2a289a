package apiauth

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
)

const headerRequestID = "X-Request-Id"

type requestIDConfig struct {
	from func(context.Context) string
}

// RequestIDFromContext makes RequestID reuse an ID that an earlier middleware
// stored in the request context, such as chi's middleware.GetReqID. An ID it
// returns is used when it is 1 to 200 visible ASCII characters; otherwise
// RequestID falls back to its own rules.
func RequestIDFromContext(from func(context.Context) string) Option {
	return Option{name: "RequestIDFromContext", reqID: func(c *requestIDConfig) { c.from = from }}
}

// RequestID returns a layer that gives every request an ID, sets it as the
// X-Request-ID response header and makes it available to RequestIDFrom and to
// every problem body. An inbound X-Request-ID is kept only when it is a
// single field line of 20 to 200 characters from [A-Za-z0-9+/=-]; otherwise
// a random UUID-shaped ID is generated with crypto/rand.
func RequestID(opts ...Option) func(http.Handler) http.Handler {
	var cfg requestIDConfig
	apply("RequestID", opts, &cfg, func(o Option) func(*requestIDConfig) { return o.reqID })
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			st, r := ensureState(r)
			if st.requestID[0] == "" {
				st.requestID[0] = cfg.pick(r)
			}
			w.Header()[headerRequestID] = st.requestID[:]
			next.ServeHTTP(w, r)
		})
	}
}

func (c *requestIDConfig) pick(r *http.Request) string {
	if c.from != nil {
		if id := c.from(r.Context()); validPluggedID(id) {
			return id
		}
	}
	if v := r.Header[headerRequestID]; len(v) == 1 && validInboundID(v[0]) {
		return v[0]
	}
	return newRequestID()
}

// validInboundID reports whether a client-sent ID may be echoed: 20 to 200
// characters from [A-Za-z0-9+/=-], so that it is neither guessable filler
// nor a vehicle for header or log injection.
func validInboundID(s string) bool {
	if len(s) < 20 || len(s) > 200 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '+' || c == '/' || c == '=' || c == '-') {
			return false
		}
	}
	return true
}

// validPluggedID accepts an ID from the server's own middleware when it is
// safe in a header and a log line: 1 to 200 visible ASCII characters.
func validPluggedID(s string) bool {
	if len(s) == 0 || len(s) > 200 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= 0x20 || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// newRequestID returns a random version 4 UUID (RFC 9562 §5.4).
func newRequestID() string {
	var u [16]byte
	_, _ = rand.Read(u[:]) // crypto/rand.Read never fails (Go 1.24).
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return string(b[:])
}
