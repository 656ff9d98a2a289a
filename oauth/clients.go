package oauth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"slices"
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

// ClientRecord is an OAuth 2.0 client registered for the
// client_credentials grant (RFC 6749 §4.4): who its tokens stand for and
// the digest of its secret.
type ClientRecord struct {
	// ID is the client_id.
	ID string `json:"client_id"`
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
	ID      string
	Subject string
	Tenant  string
	Scopes  []apiauth.Scope
	Tier    string
	// CreatedAt is when the client is registered; the current time when
	// zero.
	CreatedAt time.Time
}

// RegisterClient stores a client whose secret is secret (at least
// MinClientSecretLength characters; GenerateClientSecret makes one). Only
// the secret's digest is kept.
func RegisterClient(ctx context.Context, store ClientStore, spec ClientSpec, secret string) (*ClientRecord, error) {
	if spec.ID == "" || !ValidClientCredential(spec.ID) {
		return nil, fmt.Errorf("oauth: register client %q: a client ID is 1 or more printable ASCII characters (RFC 6749 §A.1)", spec.ID)
	}
	if spec.Tenant == "" {
		return nil, fmt.Errorf("oauth: register client %s: no tenant: every client acts for one", spec.ID)
	}
	if !ValidClientCredential(secret) {
		return nil, fmt.Errorf("oauth: register client %s: a secret is printable ASCII (RFC 6749 §A.2)", spec.ID)
	}
	if len(secret) < MinClientSecretLength {
		return nil, fmt.Errorf("oauth: register client %s: secret shorter than %d characters", spec.ID, MinClientSecretLength)
	}
	for _, s := range spec.Scopes {
		if !s.Valid() {
			return nil, fmt.Errorf("oauth: register client %s: invalid scope %q", spec.ID, s)
		}
	}
	c := &ClientRecord{
		ID:           spec.ID,
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
