package apiauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Principal is the authenticated caller: what a Verifier found the token to
// stand for. Verifiers may return a shared, immutable value; code that
// receives a *Principal must not modify it.
type Principal struct {
	// Subject identifies the caller: a user, service or client ID.
	Subject string `json:"subject"`
	// Tenant is the company or workspace the caller belongs to. Every
	// principal has one: Keys and JWTVerifier never return a principal
	// without it.
	Tenant string `json:"tenant"`
	// Issuer is who vouched for the principal: a JWT's "iss", or empty for
	// an API key that Keys verified. Two issuers that name the same tenant
	// and subject name two callers: they never share a rate-limit bucket.
	Issuer string `json:"issuer,omitempty"`
	// Scopes are the scopes granted (see Scope and HasScope).
	Scopes []Scope `json:"scopes"`
	// Tier names the rate-limit tier; empty means the default tier.
	Tier string `json:"tier"`
	// GrantID identifies the authorization grant (package oauth) a JWT
	// was issued under, when its issuer checks grants (JWTIssuer.Grants).
	GrantID string `json:"grant_id,omitempty"`
	// KeyID identifies the API key the credential is or was exchanged
	// from. It is safe to log; the key itself never is.
	KeyID string `json:"key_id"`
	// ExpiresAt is when the credential stops working; zero means never.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	// Claims is a JWT's verified claims set, as JSON (decode it with
	// json.Unmarshal into a type of your own); nil for API keys.
	Claims json.RawMessage `json:"-"`
}

// LogValue implements slog.LogValuer. It reports identifiers only: no
// claims, nothing secret.
func (p *Principal) LogValue() slog.Value {
	if p == nil {
		return slog.Value{}
	}
	scopes := make([]string, len(p.Scopes))
	for i, s := range p.Scopes {
		scopes[i] = string(s)
	}
	return slog.GroupValue(
		slog.String("subject", p.Subject),
		slog.String("tenant", p.Tenant),
		slog.String("issuer", p.Issuer),
		slog.String("key_id", p.KeyID),
		slog.String("tier", p.Tier),
		slog.String("scopes", strings.Join(scopes, " ")),
	)
}

// Verifier turns a bearer token into the Principal it stands for.
//
// The error decides the response. An error that matches ErrInvalidToken,
// ErrTokenExpired or ErrTokenRevoked (with errors.Is) rejects the credential:
// a 401. Any other error means the verifier itself failed, for example its
// database or identity provider is down: a 503 with Retry-After, never a
// misleading 401. Verify is called concurrently and must honour ctx.
type Verifier interface {
	Verify(ctx context.Context, token string) (*Principal, error)
}

// SyntaxChecker is implemented by a Verifier that refuses every token that
// is not an RFC 6750 §2.1 b64token itself, with an error matching
// ErrMalformedToken, when ChecksTokenSyntax reports true. Authenticate then
// hands it tokens without scanning them first, which saves a pass over
// every token; a verifier that caches verified tokens can serve a hit
// without any scan. Keys and JWTVerifier are SyntaxCheckers (CheckKey and
// the JWS compact serialization's base64url are subsets of b64token).
type SyntaxChecker interface {
	Verifier
	ChecksTokenSyntax() bool
}

// VerifierFunc adapts a function to Verifier, as http.HandlerFunc adapts a
// function to http.Handler.
type VerifierFunc func(ctx context.Context, token string) (*Principal, error)

// Verify calls f(ctx, token).
func (f VerifierFunc) Verify(ctx context.Context, token string) (*Principal, error) {
	return f(ctx, token)
}

// Sentinel errors of rejected credentials and of verifiers that fail.
// Verifiers return them, or errors that wrap them; callers match them with
// errors.Is.
var (
	// ErrInvalidToken rejects a credential that is unknown, malformed or
	// fails its signature, issuer or audience checks (invalid_token).
	ErrInvalidToken = errors.New("apiauth: invalid token")
	// ErrMalformedToken rejects a credential that cannot be parsed, such as
	// an API key whose checksum does not match. It matches ErrInvalidToken.
	ErrMalformedToken = fmt.Errorf("%w: malformed", ErrInvalidToken)
	// ErrUnknownToken rejects a well-formed credential that no store knows.
	// It matches ErrInvalidToken.
	ErrUnknownToken = fmt.Errorf("%w: unknown", ErrInvalidToken)
	// ErrUnknownKey is returned by a KeySet that has no key for a kid. It
	// matches ErrInvalidToken.
	ErrUnknownKey = fmt.Errorf("%w: unknown JWT key", ErrInvalidToken)
	// ErrTokenExpired rejects an expired access token or API key
	// (token_expired).
	ErrTokenExpired = errors.New("apiauth: token expired")
	// ErrTokenRevoked rejects a revoked API key (token_revoked).
	ErrTokenRevoked = errors.New("apiauth: token revoked")
	// ErrJWKSUnavailable matches the errors of a JWKS that cannot obtain
	// its keys: the identity provider is unreachable, answers with an
	// error status, or serves something that is not a JWK Set. It does not
	// match ErrInvalidToken, so Authenticate answers 503 with Retry-After.
	ErrJWKSUnavailable = errors.New("apiauth: JWKS unavailable")

	// Errors of API-key parsing and of key stores.

	// ErrKeyNotFound is returned by a KeyStore when no key has the digest
	// or ID asked for. Keys turns it into ErrUnknownToken.
	ErrKeyNotFound = errors.New("apiauth: key not found")
	// ErrKeyExists is returned by a KeyStore asked to create a key whose ID
	// or digest it already holds.
	ErrKeyExists = errors.New("apiauth: key already exists")
	// ErrBadChecksum rejects a key in the library's format whose checksum
	// does not match. It matches ErrMalformedToken and ErrInvalidToken.
	ErrBadChecksum = fmt.Errorf("%w: API key checksum mismatch", ErrMalformedToken)
)

// codedError is an error that knows its problem code: the JWT verifier's
// errors, whose code is found once rather than on every refusal.
type codedError interface{ problemCode() Code }

// codeOf maps a verifier error to the problem code: a rejection code, or
// CodeUnavailable for a failure of the verifier itself.
func codeOf(err error) Code {
	if ce, ok := err.(codedError); ok {
		if c := ce.problemCode(); c != "" {
			return c
		}
	}
	switch {
	case errors.Is(err, ErrTokenExpired):
		return CodeTokenExpired
	case errors.Is(err, ErrTokenRevoked):
		return CodeTokenRevoked
	case errors.Is(err, ErrInvalidToken):
		return CodeInvalidToken
	default:
		return CodeUnavailable
	}
}
