package apiauth

import (
	"context"
	"log/slog"
	"net/http"
	"time"
)

// Event reports one outcome of a layer to an observer (OnEvent,
// WithLogger): an authentication, a rate-limit decision, a scope or tenant
// refusal, a JWK Set fetch, or a token that package oauth's token endpoint
// issued or refused. It carries no credential: at most the key ID and a
// short fingerprint of the token.
type Event struct {
	// Layer names the layer that reports: "authenticate", "rate_limit",
	// "scope", "tenant", "jwks", or package oauth's "token", "revocation"
	// and "introspection".
	Layer     string
	RequestID string
	// Code is "" for a success (authenticated, allowed, fetched, issued),
	// else the code of the refusal or failure. A request let through
	// although its layer failed (RateLimit's WithFailOpen) has Code ""
	// and Err set: LogEvent logs it as a warning, and package
	// otelmetrics counts it as "failed_open".
	Code Code
	// Status is the response status of a refusal, 0 on success.
	Status int
	// Principal is the caller, when the layer knows it.
	Principal *Principal
	// Tier is the tier of a rate_limit event.
	Tier string
	// Fingerprint identifies the presented token without revealing it
	// (Fingerprint); "" when no token was presented.
	Fingerprint string
	// Duration is how long the layer waited for what it asked: the
	// verifier, the rate-limit store, the identity provider; zero when it
	// asked nothing.
	Duration time.Duration
	// Err is the error behind a failure or refusal, nil otherwise. It is
	// for logs: a client never sees it.
	Err error
}

// observer is the observers of a layer, composed.
type observer func(*http.Request, Event)

// then returns o followed by fn.
func (o observer) then(fn func(*http.Request, Event)) observer {
	if fn == nil {
		return o
	}
	if o == nil {
		return fn
	}
	return func(r *http.Request, e Event) {
		o(r, e)
		fn(r, e)
	}
}

// OnEvent calls fn with every outcome of the layer, success and refusal
// alike, before the response is written: Authenticate's authentications,
// and the refusals of the RequireScope and RequireTenant layers after it;
// RateLimit's decisions and store failures. Observers compose: with
// several OnEvent and WithLogger options, each is called, in order.
// JWKSOptions.OnEvent and package oauth's Config.OnEvent take the same
// function for JWK Set fetches and the token endpoint.
func OnEvent(fn func(*http.Request, Event)) Option {
	return Option{name: "OnEvent",
		auth: func(c *authConfig) { c.observe = c.observe.then(fn) },
		rate: func(c *rateLimitConfig) { c.observe = c.observe.then(fn) },
	}
}

// WithLogger logs every outcome of the layer to l, as OnEvent observes
// them: failures of a verifier or store at Error, refusals at Info with
// their code, successes at Debug. Tokens are never logged; key IDs and
// fingerprints are.
func WithLogger(l *slog.Logger) Option {
	o := OnEvent(LogEvent(l))
	o.name = "WithLogger"
	return o
}

// LogEvent returns an observer that logs events to l as WithLogger does,
// for JWKSOptions.OnEvent and package oauth's Config.OnEvent.
func LogEvent(l *slog.Logger) func(*http.Request, Event) {
	return func(r *http.Request, e Event) {
		ctx := context.Background()
		if r != nil {
			ctx = r.Context()
		}
		attrs := []slog.Attr{slog.String("layer", e.Layer)}
		if e.RequestID != "" {
			attrs = append(attrs, slog.String("request_id", e.RequestID))
		}
		if e.Tier != "" {
			attrs = append(attrs, slog.String("tier", e.Tier))
		}
		switch {
		case e.Code == "" && e.Err != nil:
			attrs = append(attrs, slog.String("error", e.Err.Error()))
			l.LogAttrs(ctx, slog.LevelWarn, "apiauth: "+e.Layer+" failed open", attrs...)
		case e.Code == "":
			if e.Principal != nil {
				attrs = append(attrs, slog.Any("principal", e.Principal))
			}
			l.LogAttrs(ctx, slog.LevelDebug, "apiauth: "+e.Layer+" ok", attrs...)
		case e.Code == CodeUnavailable:
			attrs = append(attrs, slog.String("code", string(e.Code)), slog.String("token_fp", e.Fingerprint))
			if e.Err != nil {
				attrs = append(attrs, slog.String("error", e.Err.Error()))
			}
			l.LogAttrs(ctx, slog.LevelError, "apiauth: "+e.Layer+" failed", attrs...)
		default:
			attrs = append(attrs, slog.String("code", string(e.Code)), slog.Int("status", e.Status), slog.String("token_fp", e.Fingerprint))
			l.LogAttrs(ctx, slog.LevelInfo, "apiauth: "+e.Layer+" refused", attrs...)
		}
	}
}
