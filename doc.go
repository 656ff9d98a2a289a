// Package apiauth protects HTTP APIs: bearer-token authentication with API
// keys and JWT access tokens, Read/Write/Admin and custom scopes, tenant
// isolation, rate limits by tier, request IDs and RFC 9457 problem
// responses.
//
// A server makes API keys and puts the layers around its routes:
//
//	keys := apiauth.NewMemoryKeys() // or apiauth.NewKeys(store) on your database
//	key, _, err := keys.Create(ctx, apiauth.KeySpec{Subject: "user-1", Tenant: "acme", Scopes: []apiauth.Scope{apiauth.Read}})
//	api.Handle("GET /v1/orders", apiauth.RequireScope(apiauth.Read)(listOrders))
//	mux.Handle("/v1/", apiauth.Authenticate(keys)(api))
//	http.ListenAndServe("127.0.0.1:8080", apiauth.RequestID()(mux))
//
// The key is returned once, and a client sends it as "Authorization: Bearer
// <key>"; the handler finds the caller with PrincipalFrom. Routes that take
// no bearer token (a health check, the token endpoint of package oauth, its
// JWK Set) go on mux, outside Authenticate. Example_quickStart is the whole
// program, and README.md the first page to read.
//
// # Layers
//
// Each piece is a func(http.Handler) http.Handler layer, so it drops into
// chi, gorilla/mux, http.ServeMux or a bare handler. The request path is
//
//	RequestID → Authenticate → RateLimit → RequireScope / RequireTenant → handler
//
// Each layer reads what an earlier one left in the request's context:
// PrincipalFrom returns the authenticated caller, RequestIDFrom the
// request's ID. All layers share one per-request state, placed in the
// context once, so the chain copies the request once. The layers share one
// Option type.
//
// Authenticate parses the Authorization header as RFC 6750 §2.1 defines it
// and hands the token to a Verifier. Keys (on a KeyStore such as
// MemoryKeyStore) verifies API keys; WithJWT routes JWT-shaped tokens to a
// JWTVerifier, which checks the tokens of identity providers (NewJWKS) and
// of package oauth's token endpoint. The Verifier's error decides the
// answer: ErrInvalidToken, ErrTokenExpired and ErrTokenRevoked (and errors
// wrapping them) are 401s, anything else is the verifier failing and a 503
// with Retry-After. WithFailureLimit throttles failed credentials per client
// address.
//
// RequireScope needs scopes (Admin implies Write, which implies Read), and
// RequireTenant needs the route's tenant to be the caller's. RateLimit
// limits each caller by the Tier its principal names (Presets: free, pro,
// enterprise) on a Store: MemoryStore in one process, package redisstore
// across instances.
//
// # Errors
//
// Every rejection is an application/problem+json body (RFC 9457) with a
// stable "code" member (the Code constants) and, for 401 and for 403, a
// WWW-Authenticate challenge (RFC 6750 §3). WriteError answers a handler's
// own errors in the same format; WithRenderer keeps an API's existing error
// format instead.
//
// # API keys
//
// API keys are generated as <prefix>_<random><checksum> (GenerateKey), only
// their SHA-256 digests are stored, and they are never logged: logs carry
// key IDs and Fingerprint values. Package sqlstore keeps them in
// PostgreSQL or SQLite; package apiauthtest has test helpers and the
// conformance suites of the stores.
//
// The guides in the repository's docs directory (api-keys.md, jwt.md,
// token-endpoint.md, rate-limits.md, stores.md, errors.md, security.md)
// cover each part in depth.
package apiauth
