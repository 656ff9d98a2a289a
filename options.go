package apiauth

import (
	"fmt"
	"time"
)

// Option configures a layer: Authenticate, RateLimit or RequestID. The
// layers share one option type, so that an option that means the same on
// several layers has one name (WithClock, WithClientIP). Each option
// applies to the layers its documentation names; a layer given another's
// option panics when it is built, so that a misplaced option never goes
// unnoticed.
type Option struct {
	name  string
	auth  func(*authConfig)
	rate  func(*rateLimitConfig)
	reqID func(*requestIDConfig)
}

// apply runs the options meant for layer, and panics on an option that is
// not.
func apply[C any](layer string, opts []Option, c *C, pick func(Option) func(*C)) {
	for _, o := range opts {
		f := pick(o)
		if f == nil {
			panic(fmt.Sprintf("apiauth: %s is not an option of %s", o.name, layer))
		}
		f(c)
	}
}

// WithClock makes the layer read the time from now instead of time.Now:
// RateLimit, and Authenticate's failure limit (WithFailureLimit). Tests
// inject a clock with it; struct configurations (Keys, JWTOptions,
// JWKSOptions) name the same thing Now.
func WithClock(now func() time.Time) Option {
	return Option{name: "WithClock",
		auth: func(c *authConfig) { c.now = now },
		rate: func(c *rateLimitConfig) { c.now = now },
	}
}

// WithClientIP sets how a caller's address is found, for example behind
// trusted proxies (see ClientIP): RateLimit limits anonymous callers by
// it, and Authenticate's failure limit (WithFailureLimit) counts failures
// by it. The default uses RemoteAddr only.
func WithClientIP(c *ClientIP) Option {
	return Option{name: "WithClientIP",
		auth: func(cfg *authConfig) { cfg.clientIP = c },
		rate: func(cfg *rateLimitConfig) { cfg.clientIP = c },
	}
}
