// Package apiauth protects HTTP APIs: bearer-token authentication with API
// keys (and JWTs), Read/Write/Admin and custom scopes, tenant isolation,
// request IDs and RFC 9457 problem responses. Each piece is a
// func(http.Handler) http.Handler layer, so it drops into chi, gorilla/mux,
// http.ServeMux or a bare handler.
//
// The request path is
//
//	RequestID → Authenticate → RequireScope / RequireTenant → handler
//
// Each layer reads what an earlier one left in the request's context:
// PrincipalFrom returns the authenticated caller, RequestIDFrom the
// request's ID. All layers share one per-request state, placed in the
// context once, so the chain copies the request once.
//
// Authenticate parses the Authorization header as RFC 6750 §2.1 defines it
// and hands the token to a Verifier. Keys (on a KeyStore such as
// MemoryKeyStore) verifies API keys; WithJWT routes JWT-shaped tokens to a
// second verifier. The Verifier's error decides the answer: ErrInvalidToken,
// ErrTokenExpired and ErrTokenRevoked (and errors wrapping them) are 401s,
// anything else is the verifier failing and a 503 with Retry-After.
//
// Every rejection is an application/problem+json body (RFC 9457) with a
// stable "code" member (the Code constants) and, for 401 and for 403
// insufficient_scope, a WWW-Authenticate challenge (RFC 6750 §3). WithRenderer keeps an API's
// existing error format instead.
//
// API keys are generated as <prefix>_<random><checksum> (GenerateKey), only
// their SHA-256 digests are stored, and they are never logged: logs carry
// key IDs and Fingerprint values.
package apiauth
