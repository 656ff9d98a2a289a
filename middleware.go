package apiauth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// Principal is the authenticated caller: what a Verifier found the token to
// stand for. Verifiers may return a shared, immutable value; code that
// receives a *Principal must not modify it.
type Principal struct {
	// Subject identifies the caller: a user, service or client ID.
	Subject string `json:"subject"`
	// Tenant is the company or workspace the caller belongs to.
	Tenant string `json:"tenant"`
	// Scopes are the scopes granted (see Scope and HasScope).
	Scopes []Scope `json:"scopes"`
	// Tier names the rate-limit tier; empty means the default tier.
	Tier string `json:"tier"`
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

// VerifierFunc adapts a function to Verifier, as http.HandlerFunc adapts a
// function to http.Handler.
type VerifierFunc func(ctx context.Context, token string) (*Principal, error)

// Verify calls f(ctx, token).
func (f VerifierFunc) Verify(ctx context.Context, token string) (*Principal, error) {
	return f(ctx, token)
}

// Sentinel errors of rejected credentials. Verifiers return them, or errors
// that wrap them; callers match them with errors.Is.
var (
	// ErrInvalidToken rejects a credential that is unknown, malformed or
	// fails its signature, issuer or audience checks (invalid_token).
	ErrInvalidToken = errors.New("apiauth: invalid token")
	// ErrMalformedToken rejects a credential that cannot be parsed, such as
	// an API key whose checksum does not match. It matches ErrInvalidToken.
	ErrMalformedToken = &rejection{msg: "apiauth: malformed token", parent: ErrInvalidToken}
	// ErrUnknownToken rejects a well-formed credential that no store knows.
	// It matches ErrInvalidToken.
	ErrUnknownToken = &rejection{msg: "apiauth: unknown token", parent: ErrInvalidToken}
	// ErrTokenExpired rejects an expired access token or API key
	// (token_expired).
	ErrTokenExpired = errors.New("apiauth: token expired")
	// ErrTokenRevoked rejects a revoked API key (token_revoked).
	ErrTokenRevoked = errors.New("apiauth: token revoked")
)

// rejection is a sentinel that also matches its parent, and its parent's
// parents, with errors.Is.
type rejection struct {
	msg    string
	parent error
}

func (e *rejection) Error() string { return e.msg }
func (e *rejection) Unwrap() error { return e.parent }

// codeOf maps a verifier error to the problem code: a rejection code, or
// CodeUnavailable for a failure of the verifier itself.
func codeOf(err error) string {
	if je, ok := err.(*joinedError); ok && je.code != "" {
		return je.code
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

// Option configures Authenticate.
type Option func(*authConfig)

type authConfig struct {
	problemSettings
	jwt      Verifier
	maxLen   int
	optional bool
	observe  func(*http.Request, Event)
	failures *failureLimit
	// challenges are the WWW-Authenticate values of Authenticate's
	// rejections by code, built once.
	challenges map[string]string
}

// WithRealm sets the realm of the WWW-Authenticate challenge (RFC 6750 §3);
// the default is "api". It panics if realm holds a character RFC 6750 §3
// does not allow in a quoted value (a quote, a backslash, a control or
// non-ASCII character).
func WithRealm(realm string) Option {
	if !validChallengeValue(realm) {
		panic(fmt.Sprintf("apiauth: realm %q holds a character RFC 6750 §3 does not allow", realm))
	}
	return func(c *authConfig) { c.realm = realm }
}

// WithProblemTypeBase sets the base of problem type URIs (RFC 9457 §3.1.1):
// a problem's type is base + code, for example
// "https://api.example.com/problems/invalid_token". Without a base the type
// is "about:blank" and the title is the HTTP status phrase.
func WithProblemTypeBase(base string) Option {
	return func(c *authConfig) { c.typeBase = base }
}

// WithRenderer replaces WriteProblem for every rejection made by this
// layer and by the RequireScope and RequireTenant layers after it.
func WithRenderer(render Renderer) Option {
	return func(c *authConfig) {
		if render != nil {
			c.render = render
		}
	}
}

// WithJWT routes tokens shaped like a JWS compact serialization (three
// base64url segments whose first starts with "eyJ", RFC 7515 §7.1) to v and
// every other token to the verifier given to Authenticate. A token is never
// tried against both.
func WithJWT(v Verifier) Option {
	return func(c *authConfig) { c.jwt = v }
}

// WithMaxTokenLength sets the token-length cap (DefaultMaxTokenLength by
// default). A longer token is invalid_token before any other work.
func WithMaxTokenLength(n int) Option {
	return func(c *authConfig) { c.maxLen = n }
}

// Optional lets requests without any credentials through unauthenticated:
// PrincipalFrom reports no principal and RequireScope refuses them. A
// credential that is present is still verified, and refused when bad.
func Optional() Option {
	return func(c *authConfig) { c.optional = true }
}

// Event reports one authentication outcome to an observer. It carries no
// credential: at most the key ID and a short fingerprint of the token.
type Event struct {
	RequestID string
	// Code is "" when the request was authenticated, else the problem code.
	Code string
	// Status is the response status of a rejection, 0 on success.
	Status int
	// Principal is the authenticated caller, nil on rejection.
	Principal *Principal
	// Fingerprint identifies the presented token without revealing it
	// (Fingerprint); "" when no token was presented.
	Fingerprint string
	// Err is the verifier's error on rejection, nil otherwise.
	Err error
}

// OnEvent calls fn after every authentication outcome, success and
// rejection alike, before the response is written.
func OnEvent(fn func(*http.Request, Event)) Option {
	return func(c *authConfig) { c.observe = fn }
}

// WithLogger logs every outcome to l: rejections at Info with their code,
// verifier failures at Error, successes at Debug. Tokens are never logged;
// key IDs and fingerprints are.
func WithLogger(l *slog.Logger) Option {
	return OnEvent(func(r *http.Request, e Event) {
		ctx := r.Context()
		switch {
		case e.Code == "":
			l.LogAttrs(ctx, slog.LevelDebug, "apiauth: authenticated",
				slog.String("request_id", e.RequestID), slog.Any("principal", e.Principal))
		case e.Code == CodeUnavailable:
			l.LogAttrs(ctx, slog.LevelError, "apiauth: verifier failed",
				slog.String("request_id", e.RequestID), slog.String("code", e.Code),
				slog.String("token_fp", e.Fingerprint), slog.String("error", e.Err.Error()))
		default:
			l.LogAttrs(ctx, slog.LevelInfo, "apiauth: rejected",
				slog.String("request_id", e.RequestID), slog.String("code", e.Code),
				slog.Int("status", e.Status), slog.String("token_fp", e.Fingerprint))
		}
	})
}

// Fingerprint returns a short identifier of a token for logs: the first 8
// hex digits of its SHA-256 digest. It reveals nothing usable of the token.
func Fingerprint(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:4])
}

// Authenticate returns a layer that requires a bearer token (RFC 6750 §2.1)
// in the Authorization header, verifies it with v (or with the WithJWT
// verifier for JWT-shaped tokens) and stores the Principal for
// PrincipalFrom. Rejections are problem responses (RFC 9457) with a
// WWW-Authenticate challenge (RFC 6750 §3):
//
//   - no credentials or another scheme: 401 missing_token, challenge with
//     the realm and no error attribute;
//   - a malformed Authorization header, or a second credential in an
//     access_token query or form parameter: 400 invalid_request;
//   - a token that is not a b64token or is too long, or that v rejects:
//     401 invalid_token, token_expired or token_revoked;
//   - v failing for any other reason: 503 with Retry-After.
//
// Tokens in the URL query or form body are never accepted as credentials.
func Authenticate(v Verifier, opts ...Option) func(http.Handler) http.Handler {
	cfg := &authConfig{problemSettings: *defaultSettings}
	for _, o := range opts {
		o(cfg)
	}
	if v == nil && cfg.jwt == nil {
		panic("apiauth: Authenticate needs a Verifier")
	}
	if cfg.maxLen <= 0 {
		cfg.maxLen = DefaultMaxTokenLength
	}
	cfg.compile()
	// RFC 6750 §3.1 has one error code for bad tokens; the body's code
	// tells expired and revoked apart.
	cfg.challenges = map[string]string{
		CodeMissingToken:   challenge(cfg.realm, "", "", ""),
		CodeInvalidRequest: challenge(cfg.realm, CodeInvalidRequest, "", ""),
		CodeInvalidToken:   challenge(cfg.realm, CodeInvalidToken, problems[CodeInvalidToken].detail, ""),
		CodeTokenExpired:   challenge(cfg.realm, CodeInvalidToken, problems[CodeTokenExpired].detail, ""),
		CodeTokenRevoked:   challenge(cfg.realm, CodeInvalidToken, problems[CodeTokenRevoked].detail, ""),
	}
	// Whether each verifier refuses every token that is not a b64token by
	// itself, so that Authenticate need not scan the token first.
	vChecks, jwtChecks := checksSyntax(v), checksSyntax(cfg.jwt)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			st, r := ensureState(r)
			if st.settings != nil {
				// An Authenticate already ran for this request: a second
				// chain. Never write through into its state.
				st, r = newState(r, st)
			}
			st.settings = &cfg.problemSettings
			// The b64token check waits until the verifier is chosen: a
			// JWTVerifier does its own, after its cache (see below).
			tok, code := parseAuthorization(r.Header["Authorization"], cfg.maxLen, false)
			if code == "" && hasOtherCredential(r) {
				tok, code = "", CodeInvalidRequest
			}
			if code == CodeMissingToken && cfg.optional {
				next.ServeHTTP(w, r)
				return
			}
			if cfg.failures != nil && code != CodeMissingToken {
				if wait := cfg.failures.blocked(r); wait > 0 {
					cfg.refuseThrottled(w, r, st, wait)
					return
				}
			}
			if code != "" {
				cfg.fail(w, r, st, code, tok, nil)
				return
			}
			verifier, b64 := v, vChecks
			if cfg.jwt != nil && (v == nil || looksLikeJWT(tok)) {
				verifier, b64 = cfg.jwt, jwtChecks
			}
			if !b64 && !isB64Token(tok) {
				cfg.fail(w, r, st, CodeInvalidToken, tok, nil)
				return
			}
			p, err := verifier.Verify(r.Context(), tok)
			if err == nil && p == nil {
				err = ErrInvalidToken
			}
			if err != nil {
				cfg.fail(w, r, st, codeOf(err), tok, err)
				return
			}
			st.principal = p
			if cfg.observe != nil {
				cfg.observe(r, Event{RequestID: st.requestIDOrNew(), Principal: p})
			}
			next.ServeHTTP(w, r)
		})
	}
}

// fail reports and renders a rejection by Authenticate.
func (c *authConfig) fail(w http.ResponseWriter, r *http.Request, st *state, code, tok string, err error) {
	info := problems[code]
	if c.failures != nil && info.status < 500 && code != CodeMissingToken {
		c.failures.record(r)
	}
	if c.observe != nil {
		e := Event{RequestID: st.requestIDOrNew(), Code: code, Status: info.status, Err: err}
		if tok != "" {
			e.Fingerprint = Fingerprint(tok)
		}
		c.observe(r, e)
	}
	if code == CodeUnavailable {
		c.reject(w, r, st, code, "", "Retry-After", "5") // seconds
		return
	}
	if ch, ok := c.challenges[code]; ok {
		c.reject(w, r, st, code, "", "Www-Authenticate", ch)
		return
	}
	c.reject(w, r, st, code, "")
}

// checksSyntax reports whether v is known to refuse, as ErrMalformedToken,
// every token that is not a b64token (RFC 6750 §2.1), so that Authenticate
// may hand it tokens unchecked. A JWTVerifier does: a JWS compact
// serialization is three base64url segments, a subset of b64token, and a
// token it has cached needs no scan at all. Keys does: CheckKey refuses
// what is not a b64token before any lookup.
func checksSyntax(v Verifier) bool {
	switch v.(type) {
	case *JWTVerifier, *Keys:
		return true
	}
	return false
}

// looksLikeJWT reports whether tok has the shape of a JWS compact
// serialization whose header is a JSON object: "eyJ" (base64url of `{"`)
// and exactly two dots.
func looksLikeJWT(tok string) bool {
	return strings.HasPrefix(tok, "eyJ") && strings.Count(tok, ".") == 2
}
