package oauth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/apiauth/apiauth"
)

// Errors of client stores.
var (
	// ErrClientNotFound is returned by a ClientStore that has no client
	// with the ID asked for.
	ErrClientNotFound = errors.New("oauth: client not found")
	// ErrClientExists is returned by a ClientStore asked to create a
	// client whose ID it already holds.
	ErrClientExists = errors.New("oauth: client already exists")
)

// MinClientSecretLength is the shortest client secret accepted. Secrets
// are stored as SHA-256 digests, which is sound only for secrets with as
// much entropy as a generated one (GenerateClientSecret): never use a
// password a person chose.
const MinClientSecretLength = 32

// ClientRecord is a registered OAuth 2.0 client (RFC 6749 §2): a
// confidential client with a secret, for the client_credentials grant
// (§4.4) and the authorization-code grant, or a public one, for the
// authorization-code grant with PKCE only; who its tokens stand for, the
// digest of its secret and its redirection endpoints.
type ClientRecord struct {
	// ID is the client_id.
	ID string `json:"client_id"`
	// Name is what the consent page shows users; the ID when empty.
	Name string `json:"name,omitempty"`
	// Public marks a client that cannot keep a secret (RFC 6749 §2.1), a
	// native or browser application: it has no secret and identifies
	// itself by its client_id alone.
	Public bool `json:"public,omitempty"`
	// RedirectURIs are the client's redirection endpoints (RFC 6749
	// §3.1.2): an authorization request's redirect_uri must equal one of
	// them exactly, string for string (RFC 9700 §2.1), but for the port of
	// a loopback one (RFC 8252 §7.3).
	RedirectURIs []string `json:"redirect_uris,omitempty"`
	// SecretDigest is the SHA-256 digest of the client secret; the secret
	// itself is never stored.
	SecretDigest apiauth.KeyDigest `json:"-"`
	// Subject of its tokens ("sub"); the client ID when empty.
	Subject string `json:"subject"`
	Tenant  string `json:"tenant"`
	// Scopes the client may request; tokens get these by default.
	Scopes    []apiauth.Scope `json:"scopes"`
	Tier      string          `json:"tier"`
	CreatedAt time.Time       `json:"created_at"`
	// DisabledAt stops the client from getting tokens from that time on;
	// zero while enabled.
	DisabledAt time.Time `json:"disabled_at,omitzero"`
}

// disabled reports whether the client is disabled at now.
func (c *ClientRecord) disabled(now time.Time) bool {
	return !c.DisabledAt.IsZero() && !now.Before(c.DisabledAt)
}

// checkSecret reports whether secret is the client's, in constant time.
func (c *ClientRecord) checkSecret(secret string) bool {
	d := apiauth.DigestKey(secret)
	return subtle.ConstantTimeCompare(d[:], c.SecretDigest[:]) == 1
}

// ClientStore holds OAuth clients: MemoryClientStore, sqlstore's database
// store, or your own. Every method is safe for concurrent use and honours
// ctx. GetClient returns ErrClientNotFound (possibly wrapped) for an
// unknown client; any other error is a failure of the store (503 at the
// token endpoint). Records returned are shared and must not be modified.
// apiauthtest.TestClientStore checks an implementation.
type ClientStore interface {
	GetClient(ctx context.Context, id string) (*ClientRecord, error)
	CreateClient(ctx context.Context, c *ClientRecord) error
}

// ClientSpec describes a client to register.
type ClientSpec struct {
	ID           string
	Name         string
	Public       bool
	RedirectURIs []string
	Subject      string
	Tenant       string
	Scopes       []apiauth.Scope
	Tier         string
	// CreatedAt is when the client is registered; the current time when
	// zero.
	CreatedAt time.Time
}

// RegisterClient stores a client whose secret is secret (at least
// MinClientSecretLength characters; GenerateClientSecret makes one), or,
// for a public client, which has none, an empty secret. Only the secret's
// digest is kept. Redirect URIs must be absolute, without a fragment or
// user information (RFC 6749 §3.1.2): https, http to a loopback address
// (RFC 8252 §7.3), or a native app's private-use scheme in reverse domain
// form (§7.1).
func RegisterClient(ctx context.Context, store ClientStore, spec ClientSpec, secret string) (*ClientRecord, error) {
	if spec.ID == "" || !ValidClientCredential(spec.ID) {
		return nil, fmt.Errorf("oauth: register client %q: a client ID is 1 or more printable ASCII characters (RFC 6749 §A.1)", spec.ID)
	}
	if spec.Tenant == "" {
		return nil, fmt.Errorf("oauth: register client %s: no tenant: every client acts for one", spec.ID)
	}
	if err := checkSecret(spec, secret); err != nil {
		return nil, err
	}
	for _, u := range spec.RedirectURIs {
		if err := CheckRedirectURI(u); err != nil {
			return nil, fmt.Errorf("oauth: register client %s: redirect URI %q: %w", spec.ID, u, err)
		}
	}
	for _, s := range spec.Scopes {
		if !s.Valid() {
			return nil, fmt.Errorf("oauth: register client %s: invalid scope %q", spec.ID, s)
		}
	}
	c := &ClientRecord{
		ID:           spec.ID,
		Name:         spec.Name,
		Public:       spec.Public,
		RedirectURIs: slices.Clone(spec.RedirectURIs),
		SecretDigest: apiauth.DigestKey(secret),
		Subject:      spec.Subject,
		Tenant:       spec.Tenant,
		Scopes:       slices.Clone(spec.Scopes),
		Tier:         spec.Tier,
		CreatedAt:    spec.CreatedAt,
	}
	if c.CreatedAt.IsZero() {
		c.CreatedAt = time.Now()
	}
	if err := store.CreateClient(ctx, c); err != nil {
		return nil, err
	}
	return c, nil
}

// ValidClientCredential reports whether s may be a client ID or secret:
// RFC 6749 appendix A.1 and A.2 allow any VSCHAR (%x20-7E), so an ID may
// hold a colon or a percent sign; in HTTP Basic both are form-urlencoded
// first (§2.3.1), which TokenHandler undoes.
func ValidClientCredential(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// GenerateClientSecret returns a random client secret: 43 base62
// characters, 256 bits from crypto/rand.
func GenerateClientSecret() string {
	return randomBase62(43)
}

// dummyClient is compared against when a client is unknown, so that an
// unknown client and a wrong secret take the same time.
var dummyClient = &ClientRecord{SecretDigest: sha256.Sum256([]byte("apiauth: no such client"))}

// checkSecret applies the rules of a client's secret: none for a public
// client, else printable ASCII (RFC 6749 §A.2) of MinClientSecretLength
// characters or more.
func checkSecret(spec ClientSpec, secret string) error {
	switch {
	case spec.Public && secret != "":
		return fmt.Errorf("oauth: register client %s: a public client has no secret", spec.ID)
	case spec.Public:
		return nil
	case !ValidClientCredential(secret):
		return fmt.Errorf("oauth: register client %s: a secret is printable ASCII (RFC 6749 §A.2)", spec.ID)
	case len(secret) < MinClientSecretLength:
		return fmt.Errorf("oauth: register client %s: secret shorter than %d characters", spec.ID, MinClientSecretLength)
	}
	return nil
}

// CheckRedirectURI reports why s cannot be a client's registered
// redirection endpoint, or nil if it can: absolute, no fragment (RFC 6749
// §3.1.2), no user information, and https, http to a loopback IP address
// (RFC 8252 §7.3), or a private-use scheme with a dot, as in
// com.example.app:/callback (RFC 8252 §7.1). RegisterClient applies it;
// call it to check input before registering, as ValidClientCredential.
func CheckRedirectURI(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil || !u.IsAbs():
		return errors.New("not an absolute URI")
	case u.Fragment != "" || strings.Contains(s, "#"):
		return errors.New("a redirection URI has no fragment (RFC 6749 §3.1.2)")
	case u.User != nil:
		return errors.New("a redirection URI has no user information")
	case u.Scheme == "https":
		if u.Host == "" {
			return errors.New("no host")
		}
		return nil
	case u.Scheme == "http":
		if ip, err := netip.ParseAddr(strings.Trim(u.Hostname(), "[]")); err != nil || !ip.IsLoopback() {
			return errors.New("plain http only to a loopback IP address (RFC 8252 §7.3)")
		}
		return nil
	case strings.Contains(u.Scheme, "."):
		return nil
	}
	return errors.New("want https, http to a loopback address, or a private-use scheme such as com.example.app")
}
