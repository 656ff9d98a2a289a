package apiauth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Token types and grant types of RFC 8693 token exchange.
const (
	// GrantTokenExchange is the RFC 8693 §2.1 grant_type.
	GrantTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
	// TokenTypeAccessToken is the RFC 8693 §3 type of issued tokens.
	TokenTypeAccessToken = "urn:ietf:params:oauth:token-type:access_token"
	// TokenTypeAPIKey is the subject_token_type of an API key exchanged
	// for an access token. RFC 8693 §3 lets a server define its own type
	// URIs; this one is the library's.
	TokenTypeAPIKey = "urn:apiauth:params:oauth:token-type:api-key"
)

// SigningKey is a private key an Issuer signs access tokens with, bound to
// one algorithm.
type SigningKey struct {
	// ID is the "kid" of the tokens and of the published key.
	ID string
	// Algorithm is the JWS "alg": RS256 (the RFC 9068 default), PS256,
	// ES256, ES384, EdDSA, or HS256/HS384/HS512 (which cannot be published:
	// only verifiers that share the secret can check such tokens).
	Algorithm string
	// Key is an *rsa.PrivateKey, *ecdsa.PrivateKey, ed25519.PrivateKey or
	// []byte secret.
	Key crypto.PrivateKey
}

// GenerateSigningKey returns a new signing key for alg (RS256 with a
// 2048-bit key, ES256, ES384 or EdDSA) with a random ID.
func GenerateSigningKey(alg string) (SigningKey, error) {
	k := SigningKey{ID: string(appendBase62(make([]byte, 0, 16), 16)), Algorithm: alg}
	var err error
	switch alg {
	case "RS256", "PS256":
		k.Key, err = rsa.GenerateKey(rand.Reader, 2048)
	case "ES256":
		k.Key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "ES384":
		k.Key, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "EdDSA":
		_, k.Key, err = ed25519.GenerateKey(rand.Reader)
	default:
		return k, fmt.Errorf("apiauth: cannot generate a %q signing key", alg)
	}
	return k, err
}

// verifyKey returns the public JWTKey of k, validated.
func (k SigningKey) verifyKey() (JWTKey, error) {
	return JWTKey{ID: k.ID, Algorithm: k.Algorithm, Key: k.Key}.prepare()
}

// IssuerConfig configures an Issuer.
type IssuerConfig struct {
	// Issuer is the "iss" of issued tokens, normally the server's URL.
	Issuer string
	// Audience is the "aud" of issued tokens: the API they are for.
	Audience string
	// TTL is the lifetime of access tokens (default one hour).
	TTL time.Duration
	// Clients enables client_credentials; nil disables it.
	Clients ClientStore
	// Keys enables exchanging API keys for access tokens (RFC 8693 and
	// the JSON route); nil disables it.
	Keys *Keys
	// SigningKey signs tokens; a fresh RS256 key when nil.
	SigningKey *SigningKey
	// Realm is the realm of the Basic challenge of invalid_client.
	Realm string
	// FailureLimit throttles failed client authentications per client ID
	// and per address (DefaultFailureLimit when empty).
	FailureLimit Tier
	// ClientIP finds the client's address (RemoteAddr when nil).
	ClientIP *ClientIP
	// Now returns the current time (time.Now when nil).
	Now func() time.Time
}

// Issuer is an OAuth 2.0 authorization server's token endpoint (RFC 6749
// §3.2) for machine clients: the client_credentials grant (§4.4) and the
// exchange of API keys for access tokens (RFC 8693, and seed 001's JSON
// route). Its tokens are RFC 9068 JWT access tokens ("typ": "at+jwt"). It
// is also the KeySet that verifies them, so that
//
//	NewJWTVerifier(opts, JWTIssuer{Issuer: cfg.Issuer, Audience: cfg.Audience, Keys: issuer})
//
// accepts exactly what it issues.
type Issuer struct {
	cfg      IssuerConfig
	failures *failureLimit

	mu       sync.RWMutex
	current  signer
	previous []retiredKey
}

type signer struct {
	key    SigningKey
	public JWTKey
	method jwt.SigningMethod
}

// retiredKey is a replaced signing key, published until its last token
// has expired.
type retiredKey struct {
	public JWTKey
	until  time.Time
}

// NewIssuer returns an Issuer.
func NewIssuer(cfg IssuerConfig) (*Issuer, error) {
	if cfg.Issuer == "" || cfg.Audience == "" {
		return nil, errors.New("apiauth: issuer: Issuer and Audience are required")
	}
	if cfg.TTL <= 0 {
		cfg.TTL = time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Realm == "" {
		cfg.Realm = "token"
	}
	if !ValidRealm(cfg.Realm) {
		return nil, fmt.Errorf("apiauth: issuer: invalid realm %q", cfg.Realm)
	}
	if len(cfg.FailureLimit.Limits) == 0 {
		cfg.FailureLimit = DefaultFailureLimit
	}
	if err := cfg.FailureLimit.Validate(); err != nil {
		return nil, err
	}
	if cfg.ClientIP == nil {
		cfg.ClientIP = &ClientIP{}
	}
	is := &Issuer{cfg: cfg}
	is.failures = &failureLimit{store: NewMemoryStore(), tier: cfg.FailureLimit, clientIP: cfg.ClientIP, now: cfg.Now}
	key := cfg.SigningKey
	if key == nil {
		k, err := GenerateSigningKey("RS256")
		if err != nil {
			return nil, err
		}
		key = &k
	}
	s, err := newSigner(*key)
	if err != nil {
		return nil, err
	}
	is.current = s
	return is, nil
}

func newSigner(k SigningKey) (signer, error) {
	pub, err := k.verifyKey()
	if err != nil {
		return signer{}, err
	}
	if sk, ok := k.Key.(string); ok {
		k.Key = []byte(sk)
	}
	return signer{key: k, public: pub, method: pub.method}, nil
}

// Rotate makes key the signing key. The previous key stays published, and
// keeps verifying, until every token it signed has expired.
func (is *Issuer) Rotate(key SigningKey) error {
	s, err := newSigner(key)
	if err != nil {
		return err
	}
	now := is.cfg.Now()
	is.mu.Lock()
	defer is.mu.Unlock()
	if s.public.ID == is.current.public.ID {
		return fmt.Errorf("apiauth: issuer: key ID %q is already in use", key.ID)
	}
	for _, r := range is.previous {
		if r.public.ID == s.public.ID && now.Before(r.until) {
			return fmt.Errorf("apiauth: issuer: key ID %q is still published for a retired key", key.ID)
		}
	}
	kept := is.previous[:0]
	for _, r := range is.previous {
		if now.Before(r.until) {
			kept = append(kept, r)
		}
	}
	is.previous = append(kept, retiredKey{public: is.current.public, until: now.Add(is.cfg.TTL + 5*time.Minute)})
	is.current = s
	return nil
}

// PublicKeys returns the keys that verify the issuer's live tokens: the
// signing key and retired keys whose tokens may not have expired yet.
func (is *Issuer) PublicKeys() []JWTKey {
	now := is.cfg.Now()
	is.mu.RLock()
	defer is.mu.RUnlock()
	keys := []JWTKey{is.current.public}
	for _, r := range is.previous {
		if now.Before(r.until) {
			keys = append(keys, r.public)
		}
	}
	return keys
}

// JWTKey implements KeySet over PublicKeys.
func (is *Issuer) JWTKey(_ context.Context, kid string) (*JWTKey, error) {
	for _, k := range is.PublicKeys() {
		if k.ID == kid {
			return &k, nil
		}
	}
	if kid == "" {
		return nil, errMissingKID
	}
	return nil, ErrUnknownKey
}

// JWKSHandler returns the handler of the issuer's JWK Set (RFC 7517 §5),
// usually served at /.well-known/jwks.json: the public keys of
// PublicKeys, so that any JWT library can verify the issuer's tokens. It
// answers GET and HEAD, with Cache-Control: public, max-age=300. An issuer
// that signs with an HMAC secret has nothing to publish and answers 404.
func (is *Issuer) JWKSHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			WriteError(w, r, http.StatusMethodNotAllowed, "method_not_allowed", "Use GET.")
			return
		}
		body, err := MarshalJWKS(is.PublicKeys()...)
		if err != nil {
			WriteError(w, r, http.StatusNotFound, "not_found", "This issuer publishes no keys.")
			return
		}
		h := w.Header()
		h.Set("Content-Type", "application/jwk-set+json")
		h.Set("Cache-Control", "public, max-age=300")
		h.Set("Content-Length", strconv.Itoa(len(body)))
		if r.Method == http.MethodHead {
			return
		}
		_, _ = w.Write(body)
	})
}

// tokenResponse is the successful response of RFC 6749 §5.1 and RFC 8693
// §2.2.1.
type tokenResponse struct {
	AccessToken     string `json:"access_token"`
	IssuedTokenType string `json:"issued_token_type,omitempty"`
	TokenType       string `json:"token_type"`
	ExpiresIn       int64  `json:"expires_in"`
	Scope           string `json:"scope,omitempty"`
}

// oauthError is an error response of RFC 6749 §5.2.
type oauthError struct {
	status int
	code   string
	desc   string
	retry  int64 // Retry-After seconds of a 429
}

func (e *oauthError) Error() string { return e.code + ": " + e.desc }

func oauthErr(status int, code, desc string) *oauthError {
	return &oauthError{status: status, code: code, desc: desc}
}

// throttled is the 429 of a client or address over its failure limit.
func throttled(code, why string, wait time.Duration) *oauthError {
	secs := ceilSeconds(wait)
	return &oauthError{status: http.StatusTooManyRequests, code: code, retry: secs,
		desc: why + "; try again in " + strconv.FormatInt(secs, 10) + " seconds."}
}

var (
	errMethodNotAllowed = oauthErr(http.StatusMethodNotAllowed, "invalid_request", "The token endpoint accepts POST only.")
	errInvalidClient    = oauthErr(http.StatusUnauthorized, "invalid_client", "Client authentication failed.")
	errUnavailable      = oauthErr(http.StatusServiceUnavailable, "temporarily_unavailable", "The token endpoint cannot issue tokens right now; try again later.")
)

// maxTokenRequest caps the body of a token request.
const maxTokenRequest = 16 << 10

// TokenHandler returns the token endpoint (RFC 6749 §3.2): POST with an
// application/x-www-form-urlencoded body, grant_type client_credentials
// (§4.4; the client authenticates with HTTP Basic, its ID and secret
// form-urlencoded first (§2.3.1), or with client_id and client_secret in
// the body, never both), or the RFC 8693 token exchange of an API key
// (subject_token_type TokenTypeAPIKey; client authentication optional).
// Repeated parameters and credentials in the URL are refused; unknown
// parameters are ignored. Every response carries Cache-Control: no-store
// and Pragma: no-cache; errors are RFC 6749 §5.2 JSON with a request_id.
func (is *Issuer) TokenHandler() http.Handler { return is.endpoint(is.token) }

// APIKeyExchangeHandler returns seed 001's route: POST a JSON body
// {"apiKey": "…"} and get the token response of TokenHandler, an access
// token for the key's principal that lives TTL (never past the key's own
// expiry).
func (is *Issuer) APIKeyExchangeHandler() http.Handler { return is.endpoint(is.jsonExchange) }

// endpoint wraps a token-issuing function in what every token response
// shares: POST only, no caching, RFC 6749 §5.2 errors.
func (is *Issuer) endpoint(issue func(*http.Request) (*tokenResponse, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("Pragma", "no-cache")
		if r.Method != http.MethodPost {
			h.Set("Allow", http.MethodPost)
			is.writeError(w, r, errMethodNotAllowed)
			return
		}
		resp, err := issue(r)
		if err != nil {
			is.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, resp)
	})
}

// jsonExchange handles seed 001's {"apiKey": "…"} request.
func (is *Issuer) jsonExchange(r *http.Request) (*tokenResponse, error) {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return nil, oauthErr(http.StatusBadRequest, "invalid_request", "The body must be application/json.")
	}
	var body struct {
		APIKey *string `json:"apiKey"`
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, maxTokenRequest))
	if err := dec.Decode(&body); err != nil || body.APIKey == nil {
		return nil, oauthErr(http.StatusBadRequest, "invalid_request", `The body must be a JSON object with an "apiKey" string.`)
	}
	return is.exchange(r, *body.APIKey, false)
}

// token handles one request to the token endpoint.
func (is *Issuer) token(r *http.Request) (*tokenResponse, error) {
	if q := r.URL.RawQuery; q != "" {
		for _, name := range []string{"client_secret", "subject_token", "access_token", "password", "client_assertion"} {
			if hasParam(q, name) {
				return nil, oauthErr(http.StatusBadRequest, "invalid_request", "Credentials must not be sent in the URL.")
			}
		}
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, oauthErr(http.StatusBadRequest, "invalid_request", "The body must be application/x-www-form-urlencoded.")
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxTokenRequest+1))
	if err != nil {
		return nil, oauthErr(http.StatusBadRequest, "invalid_request", "The body could not be read.")
	}
	if len(body) > maxTokenRequest {
		return nil, oauthErr(http.StatusRequestEntityTooLarge, "invalid_request", "The body is too large.")
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, oauthErr(http.StatusBadRequest, "invalid_request", "The body is not valid form encoding.")
	}
	for name, vs := range form {
		if len(vs) > 1 {
			// RFC 6749 §3.2: parameters must not be included more than once.
			return nil, oauthErr(http.StatusBadRequest, "invalid_request", "A parameter is repeated: "+sanitizeDesc(name)+".")
		}
	}
	switch grant := form.Get("grant_type"); grant {
	case "client_credentials":
		return is.clientCredentials(r, form)
	case GrantTokenExchange:
		if form.Has("client_id") || r.Header.Get("Authorization") != "" {
			if _, err := is.authenticateClient(r, form); err != nil {
				return nil, err
			}
		}
		if t := form.Get("subject_token_type"); t != TokenTypeAPIKey {
			return nil, oauthErr(http.StatusBadRequest, "invalid_request", "subject_token_type must be "+TokenTypeAPIKey+".")
		}
		if t := form.Get("requested_token_type"); t != "" && t != TokenTypeAccessToken {
			return nil, oauthErr(http.StatusBadRequest, "invalid_request", "Only access tokens can be requested.")
		}
		if form.Has("actor_token") {
			return nil, oauthErr(http.StatusBadRequest, "invalid_request", "Delegation (actor_token) is not supported.")
		}
		resp, err := is.exchange(r, form.Get("subject_token"), true)
		if err != nil {
			return nil, err
		}
		if s := form.Get("scope"); s != "" {
			return nil, oauthErr(http.StatusBadRequest, "invalid_scope", "An exchanged token has the API key's scopes; omit scope.")
		}
		return resp, nil
	case "":
		return nil, oauthErr(http.StatusBadRequest, "invalid_request", "grant_type is required.")
	default:
		return nil, oauthErr(http.StatusBadRequest, "unsupported_grant_type", "Supported grant types: client_credentials, "+GrantTokenExchange+".")
	}
}

// clientCredentials is the grant of RFC 6749 §4.4.
func (is *Issuer) clientCredentials(r *http.Request, form url.Values) (*tokenResponse, error) {
	if is.cfg.Clients == nil {
		return nil, oauthErr(http.StatusBadRequest, "unsupported_grant_type", "client_credentials is not enabled.")
	}
	c, err := is.authenticateClient(r, form)
	if err != nil {
		return nil, err
	}
	scopes := c.Scopes
	if s := form.Get("scope"); s != "" {
		want, err := ParseScopes(s)
		if err != nil {
			return nil, oauthErr(http.StatusBadRequest, "invalid_scope", "The scope is malformed.")
		}
		p := Principal{Scopes: c.Scopes}
		for _, sc := range want {
			if !p.HasScope(sc) {
				return nil, oauthErr(http.StatusBadRequest, "invalid_scope", "The client may not request the scope "+sanitizeDesc(string(sc))+".")
			}
		}
		scopes = want
	}
	sub := c.Subject
	if sub == "" {
		sub = c.ID
	}
	now := is.cfg.Now()
	return is.issue(&Principal{Subject: sub, Tenant: c.Tenant, Scopes: scopes, Tier: c.Tier}, c.ID, now, now.Add(is.cfg.TTL), false)
}

// authenticateClient checks the client's credentials (RFC 6749 §2.3.1):
// HTTP Basic or the body, not both. An unknown client and a wrong secret
// get the same answer after the same work. Repeated failures from one
// client ID or address are refused for a while.
func (is *Issuer) authenticateClient(r *http.Request, form url.Values) (*ClientRecord, error) {
	id, secret, basic := r.BasicAuth()
	if basic {
		var err1, err2 error
		id, err1 = url.QueryUnescape(id)
		secret, err2 = url.QueryUnescape(secret)
		if err1 != nil || err2 != nil {
			return nil, errInvalidClient
		}
		if form.Has("client_id") || form.Has("client_secret") {
			return nil, oauthErr(http.StatusBadRequest, "invalid_request", "Use one client authentication method, not two.")
		}
	} else {
		if r.Header.Get("Authorization") != "" {
			return nil, errInvalidClient
		}
		id, secret = form.Get("client_id"), form.Get("client_secret")
	}
	if id == "" || secret == "" {
		return nil, errInvalidClient
	}
	if is.cfg.Clients == nil {
		return nil, errInvalidClient
	}
	ctx, keyID, keyIP := r.Context(), "c:"+id, is.failures.key(r)
	if wait := max(is.failures.waitFor(ctx, keyID), is.failures.waitFor(ctx, keyIP)); wait > 0 {
		return nil, throttled("invalid_client", "Too many failed client authentications", wait)
	}
	c, err := is.cfg.Clients.GetClient(r.Context(), id)
	switch {
	case errors.Is(err, ErrClientNotFound):
		dummyClient.checkSecret(secret) // same work as a wrong secret
		c = nil
	case err != nil:
		return nil, errUnavailable
	}
	disabled := c != nil && !c.DisabledAt.IsZero() && !is.cfg.Now().Before(c.DisabledAt)
	if c == nil || !c.checkSecret(secret) || disabled {
		is.failures.fail(ctx, keyID)
		is.failures.fail(ctx, keyIP)
		return nil, errInvalidClient
	}
	return c, nil
}

// exchange turns an API key into an access token for its principal.
func (is *Issuer) exchange(r *http.Request, key string, exchangeGrant bool) (*tokenResponse, error) {
	if is.cfg.Keys == nil {
		return nil, oauthErr(http.StatusBadRequest, "unsupported_grant_type", "API keys cannot be exchanged here.")
	}
	if key == "" {
		return nil, oauthErr(http.StatusBadRequest, "invalid_request", "An API key is required.")
	}
	if looksLikeJWT(key) {
		return nil, oauthErr(http.StatusBadRequest, "invalid_grant", "Only an API key can be exchanged; an access token cannot be exchanged for another.")
	}
	// The key must be a credential a bearer header could carry.
	if len(key) > DefaultMaxTokenLength || !isB64Token(key) {
		return nil, oauthErr(http.StatusBadRequest, "invalid_grant", "The API key is invalid.")
	}
	if wait := is.failures.blocked(r); wait > 0 {
		return nil, throttled("invalid_grant", "Too many invalid API keys", wait)
	}
	p, err := is.cfg.Keys.Verify(r.Context(), key)
	if err != nil {
		switch codeOf(err) {
		case CodeUnavailable:
			return nil, errUnavailable
		case CodeTokenExpired:
			err = oauthErr(http.StatusBadRequest, "invalid_grant", "The API key has expired.")
		case CodeTokenRevoked:
			err = oauthErr(http.StatusBadRequest, "invalid_grant", "The API key has been revoked.")
		default:
			err = oauthErr(http.StatusBadRequest, "invalid_grant", "The API key is invalid.")
		}
		is.failures.record(r)
		return nil, err
	}
	now := is.cfg.Now()
	exp := now.Add(is.cfg.TTL)
	if !p.ExpiresAt.IsZero() && p.ExpiresAt.Before(exp) {
		exp = p.ExpiresAt
	}
	return is.issue(p, "", now, exp, exchangeGrant)
}

// Issue signs an access token for p that lives the issuer's TTL (never past
// p.ExpiresAt), as the token endpoint would: for a custom login flow, or to
// mint tokens in tests (apiauthtest.MintToken). p.KeyID is carried only if
// set, making the token die with that API key.
func (is *Issuer) Issue(p *Principal) (token string, expires time.Time, err error) {
	now := is.cfg.Now()
	exp := now.Add(is.cfg.TTL)
	if !p.ExpiresAt.IsZero() && p.ExpiresAt.Before(exp) {
		exp = p.ExpiresAt
	}
	resp, err := is.issue(p, "", now, exp, false)
	if err != nil {
		return "", time.Time{}, errors.New("apiauth: issuer: cannot sign the token")
	}
	return resp.AccessToken, exp, nil
}

// issue signs an RFC 9068 access token for p.
func (is *Issuer) issue(p *Principal, clientID string, now, exp time.Time, exchanged bool) (*tokenResponse, error) {
	names := make([]string, len(p.Scopes))
	for i, s := range p.Scopes {
		names[i] = string(s)
	}
	scope := strings.Join(names, " ")
	jti := string(appendBase62(make([]byte, 0, 22), 22))
	claims := jwt.MapClaims{
		"iss": is.cfg.Issuer,
		"sub": p.Subject,
		"aud": is.cfg.Audience,
		"exp": exp.Unix(),
		"iat": now.Unix(),
		"jti": jti,
	}
	if clientID != "" {
		claims["client_id"] = clientID
	}
	if scope != "" {
		claims["scope"] = scope
	}
	if p.Tenant != "" {
		claims["tenant"] = p.Tenant
	}
	if p.Tier != "" {
		claims["tier"] = p.Tier
	}
	if p.KeyID != "" {
		claims["key_id"] = p.KeyID
	}
	is.mu.RLock()
	s := is.current
	is.mu.RUnlock()
	t := jwt.NewWithClaims(s.method, claims)
	t.Header["typ"] = "at+jwt"
	t.Header["kid"] = s.key.ID
	signed, err := t.SignedString(s.key.Key)
	if err != nil {
		return nil, errUnavailable
	}
	resp := &tokenResponse{AccessToken: signed, TokenType: "Bearer", ExpiresIn: int64(exp.Sub(now).Round(time.Second) / time.Second), Scope: scope}
	if exchanged {
		resp.IssuedTokenType = TokenTypeAccessToken
	}
	return resp, nil
}

// writeError writes an RFC 6749 §5.2 error response.
func (is *Issuer) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var oe *oauthError
	if !errors.As(err, &oe) {
		oe = errUnavailable
	}
	st := stateFrom(r.Context())
	id := ""
	if st != nil {
		id = st.requestIDOrNew()
	} else {
		id = newRequestID()
		w.Header().Set(headerRequestID, id)
	}
	switch oe.status {
	case http.StatusUnauthorized:
		w.Header().Set("Www-Authenticate", `Basic realm="`+is.cfg.Realm+`"`)
	case http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", "5")
	case http.StatusTooManyRequests:
		w.Header().Set("Retry-After", strconv.FormatInt(oe.retry, 10))
	}
	writeJSON(w, oe.status, map[string]string{"error": oe.code, "error_description": oe.desc, "request_id": id})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"server_error"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// sanitizeDesc keeps an echoed value within the error_description
// character set of RFC 6749 §5.2 (%x20-21 / %x23-5B / %x5D-7E) and short.
func sanitizeDesc(s string) string {
	if len(s) > 64 {
		s = s[:64]
	}
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			b[i] = '?'
		}
	}
	return string(b)
}
