package oauth

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/apiauth/apiauth"
	"github.com/golang-jwt/jwt/v5"
)

// Config configures an Issuer.
type Config struct {
	// Issuer is the "iss" of issued tokens, normally the server's URL.
	Issuer string
	// Audience is the "aud" of issued tokens: the API they are for.
	Audience string
	// TTL is the lifetime of access tokens (default one hour).
	TTL time.Duration
	// Clients enables client_credentials; nil disables it.
	Clients ClientStore
	// Keys enables exchanging API keys for access tokens (RFC 8693, and
	// a JSON route); nil disables it. Tokens exchanged from a key carry
	// its ID, and stop working when the key is revoked (see JWTIssuer).
	Keys *apiauth.Keys
	// SigningKey signs tokens; a fresh RS256 key when nil.
	SigningKey *SigningKey
	// Realm is the realm of the Basic challenge of invalid_client
	// ("token" when empty).
	Realm string
	// FailureLimit throttles failed client authentications per client ID
	// at one address and per address, and invalid API keys per address
	// (20 a minute when empty). No bucket is a client ID's alone, so
	// guesses from one address never refuse the client at another. Each
	// credential reserves a unit before it is looked up and gives it back
	// if valid: concurrent guesses reach the stores no more often than the
	// limit allows, and a look-up that fails (503) counts.
	FailureLimit apiauth.Tier
	// FailureStore counts the failures of FailureLimit: an in-process
	// apiauth.MemoryStore when nil, which counts this instance's only.
	// Give it the store the rate limits share (redisstore) so that every
	// instance counts the same guesses. While it fails, failures are
	// counted in process, per instance: guessing is never unthrottled.
	FailureStore apiauth.Store
	// ClientIP finds the client's address (RemoteAddr when nil).
	ClientIP *apiauth.ClientIP
	// Now returns the current time (time.Now when nil).
	Now func() time.Time
	// Grants enables the authorization-code flow: the authorization
	// endpoint (AuthorizeHandler) and the authorization_code and
	// refresh_token grants, whose codes, refresh tokens and consents it
	// keeps; nil disables them. It needs Users and Clients too.
	Grants GrantStore
	// Users is the host application's sign-in, which the authorization
	// endpoint asks who the user is.
	Users Users
	// ConsentPage replaces the library's consent page; it is executed
	// with a ConsentData.
	ConsentPage *template.Template
	// CrossTenant lets the users of every tenant approve any client, as
	// in a marketplace of third-party applications. Without it, a client
	// serves the users of the tenant it was registered in only: a user of
	// another tenant is sent back to it with access_denied, so that an
	// application one tenant registered cannot be pointed at another's
	// users.
	CrossTenant bool
	// RememberConsent skips the consent page when the user has already
	// approved a confidential client for every scope it asks; approvals
	// add up. A public client is always asked (RFC 8252 §8.6: nothing
	// proves it is the client the user approved).
	RememberConsent bool
	// CodeTTL is how long an authorization code can be redeemed (default
	// 60 s; RFC 6749 §4.1.2 allows at most 10 minutes).
	CodeTTL time.Duration
	// RefreshIdle ends a grant whose refresh token has not been used for
	// that long (default 30 days), and RefreshTTL ends it that long after
	// the user approved it, used or not (default 90 days).
	RefreshIdle, RefreshTTL time.Duration
	// OnEvent, when set, is called for every request to the token,
	// revocation and introspection endpoints with an apiauth.Event of
	// layer "token", "revocation" or "introspection": Code "" when the
	// request succeeded, else the RFC 6749 §5.2 error code and the
	// status. apiauth.LogEvent logs them. Secrets and tokens never reach
	// it.
	OnEvent func(*http.Request, apiauth.Event)
}

// Issuer is an OAuth 2.0 authorization server: its token endpoint (RFC
// 6749 §3.2) serves the client_credentials grant (§4.4), the exchange of
// API keys for access tokens (RFC 8693, and a JSON route) and, with
// Config.Grants, the authorization-code flow (§4.1, AuthorizeHandler) and
// its refresh tokens (§6); revocation, introspection and metadata have
// their handlers. Its tokens are RFC 9068 JWT access tokens ("typ":
// "at+jwt"). It is also
// the apiauth.KeySet that verifies them, and JWTIssuer describes it to a
// verifier, so that
//
//	apiauth.NewJWTVerifier(apiauth.JWTOptions{Keys: keys}, issuer.JWTIssuer())
//
// accepts exactly what it issues.
type Issuer struct {
	cfg      Config
	failures *failures
	// verifier verifies the issuer's own tokens for introspection and
	// revocation, as a resource server would.
	verifier *apiauth.JWTVerifier
	// csrfKey keys the consent form's CSRF tokens: derived from the first
	// signing key, so that instances that share it (as they must, to
	// verify each other's tokens) accept each other's consent forms.
	csrfKey [32]byte

	mu       sync.RWMutex
	current  signer
	previous []retiredKey
}

type signer struct {
	key    SigningKey
	public apiauth.JWTKey
	method jwt.SigningMethod
}

// retiredKey is a replaced signing key, published until its last token
// has expired.
type retiredKey struct {
	public apiauth.JWTKey
	until  time.Time
}

// NewIssuer returns an Issuer.
func NewIssuer(cfg Config) (*Issuer, error) {
	if cfg.Issuer == "" || cfg.Audience == "" {
		return nil, errors.New("oauth: issuer: Issuer and Audience are required")
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
	if !apiauth.ValidRealm(cfg.Realm) {
		return nil, fmt.Errorf("oauth: issuer: invalid realm %q", cfg.Realm)
	}
	if len(cfg.FailureLimit.Limits) == 0 {
		cfg.FailureLimit = defaultFailureLimit()
	}
	if err := cfg.FailureLimit.Validate(); err != nil {
		return nil, err
	}
	if cfg.ClientIP == nil {
		cfg.ClientIP = &apiauth.ClientIP{}
	}
	if err := grantDefaults(&cfg); err != nil {
		return nil, err
	}
	is := &Issuer{cfg: cfg}
	is.failures = &failures{store: cfg.FailureStore, local: apiauth.NewMemoryStore(), tier: cfg.FailureLimit, clientIP: cfg.ClientIP, now: cfg.Now}
	if is.failures.store == nil {
		is.failures.store = is.failures.local
	}
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
	is.csrfKey = csrfKeyOf(s.key)
	if is.verifier, err = apiauth.NewJWTVerifier(apiauth.JWTOptions{Keys: cfg.Keys, Now: cfg.Now}, is.JWTIssuer()); err != nil {
		return nil, err
	}
	return is, nil
}

// csrfKeyOf derives the key of the consent form's CSRF tokens from a
// signing key, under a label of its own (HMAC-SHA256 as a key derivation
// function): a consent page served by one instance is accepted by another
// that was configured with the same signing key, and by the same instance
// after a restart. A key whose private part cannot be read gets a random
// one, which only this process knows.
func csrfKeyOf(k SigningKey) [32]byte {
	var material []byte
	switch key := k.Key.(type) {
	case []byte:
		material = key
	default:
		material, _ = x509.MarshalPKCS8PrivateKey(key)
	}
	var out [32]byte
	if len(material) == 0 {
		_, _ = rand.Read(out[:]) // crypto/rand.Read never fails (Go 1.24).
		return out
	}
	m := hmac.New(sha256.New, material)
	m.Write([]byte("apiauth oauth consent CSRF key v1"))
	copy(out[:], m.Sum(nil))
	return out
}

func newSigner(k SigningKey) (signer, error) {
	pub, err := publicKey(apiauth.JWTKey{ID: k.ID, Algorithm: k.Algorithm, Key: k.Key})
	if err != nil {
		return signer{}, err
	}
	if sk, ok := k.Key.(string); ok {
		k.Key = []byte(sk)
	}
	return signer{key: k, public: pub, method: jwt.GetSigningMethod(pub.Algorithm)}, nil
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
		return fmt.Errorf("oauth: issuer: key ID %q is already in use", key.ID)
	}
	for _, r := range is.previous {
		if r.public.ID == s.public.ID && now.Before(r.until) {
			return fmt.Errorf("oauth: issuer: key ID %q is still published for a retired key", key.ID)
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
func (is *Issuer) PublicKeys() []apiauth.JWTKey {
	now := is.cfg.Now()
	is.mu.RLock()
	defer is.mu.RUnlock()
	keys := []apiauth.JWTKey{is.current.public}
	for _, r := range is.previous {
		if now.Before(r.until) {
			keys = append(keys, r.public)
		}
	}
	return keys
}

// JWTKey implements apiauth.KeySet over PublicKeys.
func (is *Issuer) JWTKey(_ context.Context, kid string) (*apiauth.JWTKey, error) {
	for _, k := range is.PublicKeys() {
		if k.ID == kid {
			return &k, nil
		}
	}
	return nil, fmt.Errorf("%w: %q is not a key of issuer %s", apiauth.ErrUnknownKey, kid, is.cfg.Issuer)
}

// JWTIssuer describes the issuer to apiauth.NewJWTVerifier: its iss and
// aud, its keys, the RFC 9068 §2.2 profile its tokens follow, and, when it
// exchanges API keys, that its tokens carry
// the ID of the key they were exchanged from (KeyIDs), which the verifier
// checks against its JWTOptions.Keys on every request, so that a token
// dies with its key.
func (is *Issuer) JWTIssuer() apiauth.JWTIssuer {
	ji := apiauth.JWTIssuer{Issuer: is.cfg.Issuer, Audience: is.cfg.Audience, Keys: is, KeyIDs: is.cfg.Keys != nil, Profile: true}
	if is.cfg.Grants != nil {
		ji.Grants = is.checkGrant
	}
	return ji
}

// Issue signs an access token for p that lives the issuer's TTL (never past
// p.ExpiresAt), as the token endpoint would: for a custom login flow, or to
// mint tokens in tests (apiauthtest.MintToken). p.KeyID is carried only if
// set, making the token die with that API key; that needs Config.Keys. The
// token's client_id (RFC 9068 §2.2) is p's key ID, or else its subject.
func (is *Issuer) Issue(p *apiauth.Principal) (token string, expires time.Time, err error) {
	if p.Tenant == "" {
		return "", time.Time{}, errors.New("oauth: issuer: a token needs a tenant")
	}
	if p.KeyID != "" && is.cfg.Keys == nil {
		return "", time.Time{}, errors.New("oauth: issuer: a token bound to an API key needs Config.Keys, which checks the key")
	}
	now := is.cfg.Now()
	exp := now.Add(is.cfg.TTL)
	if !p.ExpiresAt.IsZero() && p.ExpiresAt.Before(exp) {
		exp = p.ExpiresAt
	}
	resp, err := is.issue(p, cmp.Or(p.KeyID, p.Subject), now, exp, false)
	if err != nil {
		return "", time.Time{}, errors.New("oauth: issuer: cannot sign the token")
	}
	return resp.AccessToken, exp, nil
}

// issue signs an RFC 9068 access token for p.
func (is *Issuer) issue(p *apiauth.Principal, clientID string, now, exp time.Time, exchanged bool) (*tokenResponse, error) {
	names := make([]string, len(p.Scopes))
	for i, s := range p.Scopes {
		names[i] = string(s)
	}
	scope := strings.Join(names, " ")
	claims := jwt.MapClaims{
		"iss": is.cfg.Issuer,
		"sub": p.Subject,
		"aud": is.cfg.Audience,
		"exp": exp.Unix(),
		"iat": now.Unix(),
		"jti": randomBase62(22),
	}
	optional := [...]struct{ name, value string }{
		{"client_id", clientID}, {"scope", scope}, {"tenant", p.Tenant}, {"tier", p.Tier}, {"key_id", p.KeyID}, {"grant_id", p.GrantID},
	}
	for _, c := range optional {
		if c.value != "" {
			claims[c.name] = c.value
		}
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
