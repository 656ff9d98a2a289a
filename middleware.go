package apiauth

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"time"
)

type authConfig struct {
	problemSettings
	verifier Verifier
	jwt      Verifier
	// checks and jwtChecks say whether verifier and jwt check token
	// syntax themselves (SyntaxChecker).
	checks, jwtChecks bool
	maxLen            int
	optional          bool
	failures          *failureLimit
	now               func() time.Time
	clientIP          *ClientIP
	// challenges are the WWW-Authenticate values of Authenticate's
	// rejections by code, built once.
	challenges map[Code]string
}

// WithRealm sets the realm of the WWW-Authenticate challenge (RFC 6750 §3);
// the default is "api". It panics if realm holds a character RFC 6750 §3
// does not allow in a quoted value (a quote, a backslash, a control or
// non-ASCII character).
func WithRealm(realm string) Option {
	if !validChallengeValue(realm) {
		panic(fmt.Sprintf("apiauth: realm %q holds a character RFC 6750 §3 does not allow", realm))
	}
	return Option{name: "WithRealm", auth: func(c *authConfig) { c.realm = realm }}
}

// WithProblemTypeBase sets the base of problem type URIs (RFC 9457 §3.1.1):
// a problem's type is base + code, for example
// "https://api.example.com/problems/invalid_token". Without a base the type
// is "about:blank" and the title is the HTTP status phrase.
func WithProblemTypeBase(base string) Option {
	return Option{name: "WithProblemTypeBase", auth: func(c *authConfig) { c.typeBase = base }}
}

// WithRenderer replaces WriteProblem for every rejection made by this
// layer and by the RequireScope and RequireTenant layers after it.
func WithRenderer(render Renderer) Option {
	return Option{name: "WithRenderer", auth: func(c *authConfig) {
		if render != nil {
			c.render = render
		}
	}}
}

// WithJWT routes tokens shaped like a JWS compact serialization (three
// base64url segments whose first starts with "eyJ", RFC 7515 §7.1) to v and
// every other token to the verifier given to Authenticate. A token is never
// tried against both.
func WithJWT(v Verifier) Option {
	return Option{name: "WithJWT", auth: func(c *authConfig) { c.jwt = v }}
}

// WithMaxTokenLength sets the token-length cap (DefaultMaxTokenLength by
// default). A longer token is invalid_token before any other work.
func WithMaxTokenLength(n int) Option {
	return Option{name: "WithMaxTokenLength", auth: func(c *authConfig) { c.maxLen = n }}
}

// Optional lets requests without any credentials through unauthenticated:
// PrincipalFrom reports no principal and RequireScope refuses them. A
// credential that is present is still verified, and refused when bad.
func Optional() Option {
	return Option{name: "Optional", auth: func(c *authConfig) { c.optional = true }}
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
	cfg := newAuthConfig(v, opts)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			cfg.serve(w, r, next)
		})
	}
}

// newAuthConfig applies opts and builds what every request shares: the
// problem templates and the challenges.
func newAuthConfig(v Verifier, opts []Option) *authConfig {
	cfg := &authConfig{problemSettings: *defaultSettings, verifier: v, now: time.Now, clientIP: &ClientIP{}}
	apply("Authenticate", opts, cfg, func(o Option) func(*authConfig) { return o.auth })
	if cfg.failures != nil {
		cfg.failures.now, cfg.failures.clientIP = cfg.now, cfg.clientIP
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
	cfg.challenges = map[Code]string{
		CodeMissingToken:   challenge(cfg.realm, "", "", ""),
		CodeInvalidRequest: challenge(cfg.realm, CodeInvalidRequest, "", ""),
		CodeInvalidToken:   challenge(cfg.realm, CodeInvalidToken, problems[CodeInvalidToken].detail, ""),
		CodeTokenExpired:   challenge(cfg.realm, CodeInvalidToken, problems[CodeTokenExpired].detail, ""),
		CodeTokenRevoked:   challenge(cfg.realm, CodeInvalidToken, problems[CodeTokenRevoked].detail, ""),
	}
	// Whether each verifier refuses every token that is not a b64token by
	// itself, so that Authenticate need not scan the token first.
	cfg.checks, cfg.jwtChecks = checksSyntax(v), checksSyntax(cfg.jwt)
	return cfg
}

// serve authenticates one request and passes it on, or refuses it.
func (c *authConfig) serve(w http.ResponseWriter, r *http.Request, next http.Handler) {
	st, r := ensureState(r)
	if st.settings != nil {
		// An Authenticate already ran for this request: a second chain.
		// Never write through into its state.
		st, r = newState(r, st)
	}
	st.settings = &c.problemSettings
	// The b64token check waits until the verifier is chosen: a
	// JWTVerifier does its own, after its cache (see below).
	tok, code := parseAuthorization(r.Header["Authorization"], c.maxLen, false)
	if code == "" && hasOtherCredential(r) {
		tok, code = "", CodeInvalidRequest
	}
	if code == CodeMissingToken && c.optional {
		next.ServeHTTP(w, r)
		return
	}
	reserved, refused := c.reserve(w, r, st, code)
	if refused {
		return
	}
	if code != "" {
		c.fail(w, r, st, code, tok, nil)
		return
	}
	verifier, b64 := c.verifier, c.checks
	if c.jwt != nil && (c.verifier == nil || looksLikeJWT(tok)) {
		verifier, b64 = c.jwt, c.jwtChecks
	}
	if !b64 && !isB64Token(tok) {
		c.fail(w, r, st, CodeInvalidToken, tok, nil)
		return
	}
	var start time.Time
	if c.observe != nil {
		start = time.Now()
	}
	p, err := verifier.Verify(r.Context(), tok)
	if err == nil && p == nil {
		err = ErrInvalidToken
	}
	if err != nil {
		c.failAfter(w, r, st, codeOf(err), tok, err, start)
		return
	}
	if reserved != "" {
		c.failures.release(r.Context(), reserved)
	}
	st.principal = p
	if c.observe != nil {
		c.observe(r, Event{Layer: "authenticate", RequestID: st.requestIDOrNew(), Principal: p, Duration: time.Since(start)})
	}
	next.ServeHTTP(w, r)
}

// reserve takes a failure for a request that carries a credential before
// it is looked at (WithFailureLimit), so that guesses arriving at once
// cannot all pass before one is counted; the credential gives it back
// only if valid. It returns the bucket it reserved in, or answers 429 and
// reports refused when the client's bucket is spent.
func (c *authConfig) reserve(w http.ResponseWriter, r *http.Request, st *state, code Code) (reserved string, refused bool) {
	if c.failures == nil || code == CodeMissingToken {
		return "", false
	}
	key := c.failures.key(r)
	held, wait := c.failures.reserve(r.Context(), key)
	if wait > 0 {
		c.refuseThrottled(w, r, st, wait)
		return "", true
	}
	if held {
		return key, false
	}
	return "", false
}

// fail reports and renders a rejection by Authenticate. A failure
// reserved for the request (WithFailureLimit) stays counted.
func (c *authConfig) fail(w http.ResponseWriter, r *http.Request, st *state, code Code, tok string, err error) {
	c.failAfter(w, r, st, code, tok, err, time.Time{})
}

// failAfter is fail for a rejection after the verifier was asked, from
// start (zero when it was not).
func (c *authConfig) failAfter(w http.ResponseWriter, r *http.Request, st *state, code Code, tok string, err error, start time.Time) {
	info := problems[code]
	if c.observe != nil {
		e := Event{Layer: "authenticate", RequestID: st.requestIDOrNew(), Code: code, Status: info.status, Err: err}
		if tok != "" {
			e.Fingerprint = Fingerprint(tok)
		}
		if !start.IsZero() {
			e.Duration = time.Since(start)
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

// checksSyntax reports whether v says it refuses every token that is not
// a b64token (SyntaxChecker), so that Authenticate may hand it tokens
// unchecked.
func checksSyntax(v Verifier) bool {
	sc, ok := v.(SyntaxChecker)
	return ok && sc.ChecksTokenSyntax()
}

// looksLikeJWT reports whether tok has the shape of a JWS compact
// serialization whose header is a JSON object: "eyJ" (base64url of `{"`)
// and exactly two dots.
func looksLikeJWT(tok string) bool {
	return strings.HasPrefix(tok, "eyJ") && strings.Count(tok, ".") == 2
}
