package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"time"

	"github.com/apiauth/apiauth"
	"github.com/apiauth/apiauth/oauth"
)

// Limits of the HTTP server.
const (
	maxBodyBytes   = 64 << 10 // request bodies
	maxHeaderBytes = 32 << 10 // request header block; tokens are capped at 4 KiB
)

// server holds what the handlers share.
type server struct {
	keys *apiauth.Keys
	// lastUsed reports whether the key store records when keys were last
	// used, for the admin listing.
	lastUsed bool
	orders   *orderStore
	tiers    apiauth.Tiers
	log      *slog.Logger
}

// backends are what the handlers are wired to.
type backends struct {
	// Keys holds the API keys.
	Keys *apiauth.Keys
	// LastUsed reports whether Keys' store records when each key was last
	// used (KeyRecord.LastUsedAt).
	LastUsed bool
	// Issuer is the token endpoint.
	Issuer *oauth.Issuer
	// Verifier verifies the JWTs /v1/ accepts: the issuer's own and the
	// trusted issuers'.
	Verifier *apiauth.JWTVerifier
	// Limits keeps the rate-limit and failed-authentication counts.
	Limits apiauth.Store
	// Ready are the readiness checks of GET /readyz, by name: the
	// database and Redis, when used.
	Ready map[string]func(context.Context) error
	// SignIn is the demo's sign-in page, /demo/login, which Issuer's
	// authorization endpoint asks who the user is; nil leaves both out.
	SignIn *signIn
	// Callback are the clients that redirect to the callback page,
	// /demo/callback, which shows their token requests.
	Callback []callbackClient
}

// newHandler wires the demo's routes. Everything under /v1/ passes, in
// this order, through
//
//	RequestID → Authenticate → RateLimit → the route's scope (and tenant) check → handler
//
// so that even an unknown /v1/ path is authenticated and counted against
// the caller's rate limit before it is answered with 404. Authenticate
// takes API keys and JWTs (by the token's shape), and throttles clients
// whose credentials keep failing (the "auth_failures" limit per client
// IP) before looking at what they send. A request that fails
// authentication spends no key's quota.
//
// The token routes, POST /oauth/token and POST /v1/auth/token, take their
// credentials in the body, so they run outside Authenticate, rate limited
// per client IP on the free tier (the tier of callers without
// credentials); the issuer throttles failed client authentications and
// bad API keys by itself. So do the browser's routes of the
// authorization-code flow, GET and POST /oauth/authorize and
// /demo/login, whose failed sign-ins count against the "auth_failures"
// limit per client IP. GET /healthz, GET /.well-known/jwks.json and the
// callback page, GET /demo/callback, are open and not rate limited.
func newHandler(cfg *Config, b backends, log *slog.Logger) http.Handler {
	s := &server{
		keys:     b.Keys,
		lastUsed: b.LastUsed,
		orders:   newOrderStore(),
		tiers:    cfg.Tiers,
		log:      log,
	}
	read := apiauth.RequireScope(apiauth.Read)
	write := apiauth.RequireScope(apiauth.Write)
	requireAdmin := apiauth.RequireScope(apiauth.Admin)
	local := localIssuer(cfg.Issuer.Issuer)
	admin := func(h http.Handler) http.Handler { return requireAdmin(local(h)) }
	ownTenant := apiauth.RequireTenant(apiauth.PathTenant("tenant"))

	v1 := http.NewServeMux()
	v1.Handle("GET /v1/me", read(http.HandlerFunc(s.me)))
	v1.Handle("GET /v1/orders", read(http.HandlerFunc(s.listOrders)))
	v1.Handle("POST /v1/orders", write(http.HandlerFunc(s.createOrder)))
	v1.Handle("DELETE /v1/orders/{id}", write(http.HandlerFunc(s.deleteOrder)))
	v1.Handle("GET /v1/tenants/{tenant}/orders", read(ownTenant(http.HandlerFunc(s.listTenantOrders))))
	v1.Handle("GET /v1/admin/keys", admin(http.HandlerFunc(s.listKeys)))
	v1.Handle("POST /v1/admin/keys", admin(http.HandlerFunc(s.createKey)))
	v1.Handle("POST /v1/admin/keys/{id}/rotate", admin(http.HandlerFunc(s.rotateKey)))
	v1.Handle("DELETE /v1/admin/keys/{id}", admin(http.HandlerFunc(s.revokeKey)))

	// The client's address: the peer, or what the trusted proxies in
	// front of the server say in X-Forwarded-For.
	clientIP := &apiauth.ClientIP{TrustedProxies: cfg.TrustedProxies}
	authenticate := apiauth.Authenticate(b.Keys,
		apiauth.WithJWT(b.Verifier),
		apiauth.WithFailureLimit(b.Limits, cfg.AuthFailures),
		apiauth.WithClientIP(clientIP),
		apiauth.WithRealm(cfg.Realm),
		apiauth.WithProblemTypeBase(cfg.ProblemTypeBase),
		apiauth.WithLogger(log),
	)
	// Each caller is limited by its credential's tier (free when it has
	// none, and for callers without credentials, by IP); the tier comes
	// from the verified key or token, never from the request.
	rateLimit := apiauth.RateLimit(b.Limits, cfg.Tiers,
		apiauth.WithClientIP(clientIP),
		apiauth.WithIETFHeaders(),
		apiauth.WithLogger(log),
	)

	root := http.NewServeMux()
	root.HandleFunc("GET /healthz", healthz)
	root.Handle("GET /readyz", apiauth.Ready(b.Ready))
	// The token routes answer other methods themselves (405, Allow: POST),
	// in the OAuth error format.
	root.Handle("/oauth/token", rateLimit(b.Issuer.TokenHandler()))
	root.Handle("/v1/auth/token", rateLimit(b.Issuer.APIKeyExchangeHandler()))
	root.Handle("/.well-known/jwks.json", b.Issuer.JWKSHandler())
	root.Handle("/oauth/revoke", rateLimit(b.Issuer.RevocationHandler()))
	root.Handle("/oauth/introspect", rateLimit(b.Issuer.IntrospectionHandler()))
	endpoints := oauth.Endpoints{Token: "/oauth/token", Revocation: "/oauth/revoke",
		Introspection: "/oauth/introspect", JWKS: "/.well-known/jwks.json"}
	if b.SignIn != nil {
		// The authorization-code flow: the authorization endpoint (GET,
		// the consent page; POST, its form), which sends a browser
		// without a session to the demo's sign-in page first, and the
		// callback page of the demo's clients. They answer other methods
		// themselves, or as any other path (405).
		root.Handle(authorizePath, rateLimit(b.Issuer.AuthorizeHandler()))
		root.Handle("GET "+loginPath, rateLimit(http.HandlerFunc(b.SignIn.loginPage)))
		root.Handle("POST "+loginPath, rateLimit(http.HandlerFunc(b.SignIn.login)))
		root.Handle("GET "+callbackPath, callbackPage(cfg.Issuer.Issuer, b.Callback))
		endpoints.Authorization = authorizePath
	}
	// RFC 8414 metadata: the routes above, and what the issuer supports.
	root.Handle("/.well-known/oauth-authorization-server", b.Issuer.MetadataHandler(endpoints))
	root.Handle("/v1/", authenticate(rateLimit(problemsForMux(v1))))
	return accessLog(log, apiauth.RequestID()(problemsForMux(root)))
}

// healthz answers the liveness probe; it needs no credentials.
func healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// problemsForMux serves mux, but answers a request no pattern matches with
// a problem response (404 not_found, or 405 method_not_allowed with Allow)
// instead of ServeMux's plain text.
func problemsForMux(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		// ServeMux's own 404 or 405 handler: run it against a recorder to
		// learn which, and keep its Allow header.
		rec := &statusRecorder{header: make(http.Header)}
		h.ServeHTTP(rec, r)
		if rec.status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", rec.header.Get("Allow"))
			apiauth.WriteError(w, r, http.StatusMethodNotAllowed, "method_not_allowed", "This method is not allowed on this resource.")
			return
		}
		apiauth.WriteError(w, r, http.StatusNotFound, "not_found", "No resource at this path.")
	})
}

// statusRecorder is a ResponseWriter that keeps the header and status and
// drops the body.
type statusRecorder struct {
	header http.Header
	status int
}

func (s *statusRecorder) Header() http.Header         { return s.header }
func (s *statusRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (s *statusRecorder) WriteHeader(code int)        { s.status = code }

// accessLog logs one line per request: method, path, status, duration and
// request ID. It logs the path only, never the query, and no header: the
// Authorization header is never logged.
func accessLog(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		path := r.URL.EscapedPath()
		if len(path) > 200 {
			path = path[:200] + "…"
		}
		attrs := []slog.Attr{
			slog.String("method", r.Method),
			slog.String("path", path),
			slog.Int("status", sw.status),
			slog.Duration("duration", time.Since(start)),
		}
		if id := w.Header().Get("X-Request-Id"); id != "" {
			attrs = append(attrs, slog.String("request_id", id))
		}
		log.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
	})
}

// statusWriter records the status a handler writes.
type statusWriter struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
}

func (s *statusWriter) WriteHeader(code int) {
	if !s.wroteHeader {
		s.status, s.wroteHeader = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	s.wroteHeader = true
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// writeJSON writes v as a JSON response. Responses are marked no-store:
// they are per caller, and some carry a key shown only once.
func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client went away; nothing to do
}

// errBadBody has already been answered with a problem response.
var errBadBody = errors.New("bad request body")

// decodeBody decodes the JSON request body into v: at most maxBodyBytes,
// one object, no unknown members. An empty body leaves v alone when
// optional. On failure it writes the problem response and returns
// errBadBody.
func decodeBody(w http.ResponseWriter, r *http.Request, v any, optional bool) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			apiauth.WriteError(w, r, http.StatusUnsupportedMediaType, "unsupported_media_type", "The request body must be application/json.")
			return errBadBody
		}
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, terr := dec.Token(); !errors.Is(terr, io.EOF) {
			err = errors.New("unexpected data after the JSON object")
		}
	}
	var tooBig *http.MaxBytesError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, io.EOF) && optional:
		return nil
	case errors.As(err, &tooBig):
		apiauth.WriteError(w, r, http.StatusRequestEntityTooLarge, "payload_too_large", "The request body is larger than 64 KiB.")
	case errors.Is(err, io.EOF):
		apiauth.WriteError(w, r, http.StatusBadRequest, "bad_request", "The request body must be a JSON object.")
	default:
		apiauth.WriteError(w, r, http.StatusBadRequest, "bad_request", "The request body is not valid: "+jsonError(nil, "", err).Error()+".")
	}
	return errBadBody
}

// badRequest answers a request whose body decoded but does not make sense.
func badRequest(w http.ResponseWriter, r *http.Request, detail string) {
	apiauth.WriteError(w, r, http.StatusBadRequest, "bad_request", detail)
}

// internalError answers a failure of the server itself. The error is
// logged; the client gets no internal text.
func (s *server) internalError(w http.ResponseWriter, r *http.Request, err error) {
	s.log.ErrorContext(r.Context(), "handler failed",
		slog.String("request_id", apiauth.RequestIDFrom(r.Context())), slog.String("error", err.Error()))
	apiauth.WriteError(w, r, http.StatusInternalServerError, "internal_error", "The server failed to handle the request.")
}

// localIssuer lets through only principals this API vouched for itself:
// API keys, and the tokens of its own issuer. An outside identity
// provider's principal, whatever tenant and scopes it names, is another
// caller than this API's own of the same tenant and subject, and
// administers none of its keys: 403 tenant_forbidden.
func localIssuer(own string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if p := principal(r); p.Issuer != "" && p.Issuer != own {
				apiauth.WriteError(w, r, http.StatusForbidden, apiauth.CodeTenantForbidden,
					"Keys are administered only with this API's own credentials, not an outside identity provider's.")
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}
