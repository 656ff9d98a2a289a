package oauth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/apiauth/apiauth"
)

// Errors of grant stores. Each is matched with errors.Is; a store may wrap
// it with details. Any other error of a GrantStore is a failure of the
// store (503 at an endpoint), never a verdict on the code or token.
var (
	// ErrGrantNotFound is returned for an authorization code, a refresh
	// token or a grant the store does not hold: never issued, or dropped
	// after it expired.
	ErrGrantNotFound = errors.New("oauth: grant not found")
	// ErrGrantExists is returned by CreateCode for a code digest or grant
	// ID already taken, and by RedeemCode and RotateRefresh for a refresh
	// token digest already taken; the store then changes nothing.
	ErrGrantExists = errors.New("oauth: grant already exists")
	// ErrGrantRevoked is returned by RotateRefresh for a grant revoked (by
	// RevokeGrant, or on reuse of a refresh token) at or before the time
	// given, and by Grant.Check.
	ErrGrantRevoked = errors.New("oauth: grant revoked")
	// ErrGrantExpired is returned by RotateRefresh for a grant past its
	// absolute or its idle expiry, and by Grant.Check.
	ErrGrantExpired = errors.New("oauth: grant expired")
	// ErrCodeUsed is returned by RedeemCode for an authorization code
	// redeemed before. RFC 6749 §4.1.2: the request must be denied, and
	// the tokens issued from the code should be revoked; RedeemCode
	// returns the code with this error so that the caller can revoke its
	// grant (RevokeGrant of Code.GrantID).
	ErrCodeUsed = errors.New("oauth: authorization code already used")
	// ErrCodeExpired is returned by RedeemCode for an authorization code
	// past its expiry.
	ErrCodeExpired = errors.New("oauth: authorization code expired")
	// ErrRefreshReused is returned by RotateRefresh for a refresh token
	// that its grant has already replaced: RFC 9700 §4.14.2 takes that
	// for a token stolen from, or by, the client, and the store has
	// revoked the whole grant.
	ErrRefreshReused = errors.New("oauth: refresh token reused")
	// ErrConsentNotFound is returned by Consent and RevokeConsent when no
	// consent is saved for the tenant, subject and client.
	ErrConsentNotFound = errors.New("oauth: consent not found")
)

// Code is an authorization code (RFC 6749 §4.1.2) as a GrantStore holds
// it: only its SHA-256 digest (apiauth.DigestKey of the code), what the
// token request must match, and the grant its redemption starts. Records
// returned by a GrantStore are shared and must not be modified.
type Code struct {
	// Digest is the SHA-256 digest of the code; the code itself is never
	// stored.
	Digest apiauth.KeyDigest
	// GrantID is the ID of the grant that redeeming the code starts;
	// access and refresh tokens issued from the code carry it.
	GrantID string
	// ClientID is the client the code was issued to (RFC 6749 §4.1.3).
	ClientID string
	// RedirectURI is the redirect_uri of the authorization request, ""
	// if it had none: the token request must repeat it (§4.1.3).
	RedirectURI string
	// Challenge is the PKCE code_challenge, S256 only (RFC 7636 §4.2):
	// the base64url SHA-256 of the code_verifier the token request must
	// present (§4.6).
	Challenge string
	// Subject is the resource owner who approved the request ("sub"),
	// Tenant the tenant it acts in.
	Subject string
	Tenant  string
	// Tier is the rate-limit tier of the tokens issued from the code
	// (User.Tier of the resource owner); empty for the default tier.
	Tier string
	// Scopes are the scopes granted, in order.
	Scopes []apiauth.Scope
	// CreatedAt is when the code was issued.
	CreatedAt time.Time
	// ExpiresAt is when the code stops being redeemable: RFC 6749 §4.1.2
	// recommends at most 10 minutes after issue.
	ExpiresAt time.Time
	// GrantExpiresAt is the absolute expiry of the grant the code starts,
	// counted from the resource owner's approval: no refresh extends a
	// grant past it. It must be after ExpiresAt.
	GrantExpiresAt time.Time
	// UsedAt is when the code was redeemed; zero until then.
	UsedAt time.Time
}

// Grant is what one redemption of an authorization code starts: the
// resource owner's authorization of a client, from which every access
// token and refresh token of that redemption is issued, and which a
// revocation ends at once for all of them. Its refresh tokens are one
// family (RFC 9700 §4.14.2): only the latest, Refresh, may be rotated;
// presenting an earlier one revokes the grant. Records returned by a
// GrantStore are shared and must not be modified; a store replaces them
// on change, so one already returned does not change.
type Grant struct {
	// ID identifies the grant: access tokens carry it, as tokens
	// exchanged for an API key carry the key's ID.
	ID       string
	ClientID string
	Subject  string
	Tenant   string
	// Tier is the rate-limit tier of the grant's access tokens (the
	// code's); empty for the default tier.
	Tier   string
	Scopes []apiauth.Scope
	// CreatedAt is when the code was redeemed.
	CreatedAt time.Time
	// ExpiresAt is the absolute expiry (Code.GrantExpiresAt).
	ExpiresAt time.Time
	// IdleExpiresAt is when the grant expires unless its refresh token is
	// rotated before: each RedeemCode and RotateRefresh sets it to now
	// plus the idle time given, never past ExpiresAt.
	IdleExpiresAt time.Time
	// RevokedAt is when the grant was revoked; zero while it is not.
	RevokedAt time.Time
	// Refresh is the digest of the grant's current refresh token, the
	// only one RotateRefresh accepts; zero if the grant has none.
	Refresh apiauth.KeyDigest
}

// Check reports whether the grant is live at now: nil, or an error
// matching ErrGrantRevoked if it was revoked at or before now, or else
// ErrGrantExpired if now is at or past its absolute or idle expiry. A
// verifier calls it on the grant of each access token (GetGrant of the
// token's grant ID), so that revoking a grant ends its access tokens too.
func (g *Grant) Check(now time.Time) error {
	if !g.RevokedAt.IsZero() && !now.Before(g.RevokedAt) {
		return fmt.Errorf("%w: %s", ErrGrantRevoked, g.ID)
	}
	if !now.Before(g.ExpiresAt) || !now.Before(g.IdleExpiresAt) {
		return fmt.Errorf("%w: %s", ErrGrantExpired, g.ID)
	}
	return nil
}

// IdleExpiry returns the idle expiry of a grant whose absolute expiry is
// abs, used at now, for an idle time of idle: now+idle, but never past
// abs; abs if idle is zero or less (no idle limit). GrantStore
// implementations use it in RedeemCode and RotateRefresh.
func IdleExpiry(now time.Time, idle time.Duration, abs time.Time) time.Time {
	if idle <= 0 {
		return abs
	}
	if t := now.Add(idle); t.Before(abs) {
		return t
	}
	return abs
}

// GrantStore holds what the authorization-code flow (RFC 6749 §4.1, with
// PKCE, RFC 7636) keeps between requests: authorization codes, the grants
// their redemption starts with their refresh-token families (RFC 9700
// §4.14.2), and remembered consents. MemoryGrantStore, sqlstore's
// database store, or your own; apiauthtest.TestGrantStore checks an
// implementation.
//
// Every method is safe for concurrent use, also by several instances on
// one database, and honours ctx. Codes and refresh tokens are known only
// by their SHA-256 digests (apiauth.DigestKey); the zero digest is never a
// refresh token. The times given are the caller's current time, never
// zero (a store refuses the zero time with an error). A store may
// truncate times to the microsecond, and may drop a code or a grant once
// it has expired by both the time given and its own clock: it is then
// not found. Records returned are shared and must not be modified.
type GrantStore interface {
	// CreateCode stores a new authorization code. It refuses a code whose
	// digest or GrantID is taken (by a code or a grant) with
	// ErrGrantExists, and one that CheckCode refuses with another error.
	// The store keeps its own copy of c.
	CreateCode(ctx context.Context, c *Code) error

	// RedeemCode redeems the code whose digest is code, once (RFC 6749
	// §4.1.2), and starts its grant, in one atomic step: of any number of
	// concurrent calls, through any number of stores on one database,
	// exactly one succeeds. It returns the code, UsedAt set to now. The
	// grant has the code's GrantID, client, subject, tenant, tier and scopes,
	// is created at now, expires at the code's GrantExpiresAt and, idle,
	// at IdleExpiry(now, idle, GrantExpiresAt); refresh is the digest of
	// its first refresh token, or zero for none.
	//
	// A code redeemed before gets ErrCodeUsed, even past its expiry,
	// with the code as stored (UsedAt the first redemption's time) so
	// that the caller can revoke its grant and every token issued from
	// it. A code at or past its expiry gets ErrCodeExpired; an unknown
	// code, or one the store dropped, ErrGrantNotFound. A refresh digest
	// taken gets ErrGrantExists. On any error nothing changes.
	//
	// The caller checks the client, redirect URI and PKCE verifier
	// against the code returned, and revokes the grant if they do not
	// match: the code is spent either way.
	RedeemCode(ctx context.Context, code, refresh apiauth.KeyDigest, now time.Time, idle time.Duration) (*Code, error)

	// RotateRefresh replaces the grant's current refresh token, old, by
	// new, and sets its idle expiry to IdleExpiry(now, idle, ExpiresAt),
	// in one atomic step, and returns the grant as changed. In order, it
	// returns:
	//   - ErrGrantNotFound if old is no refresh token the store holds;
	//   - ErrRefreshReused if old is a refresh token of the grant other
	//     than its current one (RFC 9700 §4.14.2): it revokes the grant
	//     at now, as RevokeGrant does, whatever its state;
	//   - ErrGrantRevoked or ErrGrantExpired if the grant is not live at
	//     now (Grant.Check);
	//   - ErrGrantExists if new is taken, and another error if new is
	//     the zero digest.
	// On any error but ErrRefreshReused nothing changes. Of concurrent
	// rotations of one token, exactly one succeeds; every other comes
	// after it, finds the token replaced, and revokes the grant.
	RotateRefresh(ctx context.Context, old, new apiauth.KeyDigest, now time.Time, idle time.Duration) (*Grant, error)

	// LookupRefresh returns the grant of the refresh token whose digest is
	// d, current or replaced (the grant's Refresh is d only for the
	// current one), whatever the grant's state: for revocation (RFC
	// 7009) and introspection (RFC 7662). ErrGrantNotFound if unknown.
	LookupRefresh(ctx context.Context, d apiauth.KeyDigest) (*Grant, error)

	// GetGrant returns the grant with the given ID, whatever its state;
	// ErrGrantNotFound if unknown.
	GetGrant(ctx context.Context, id string) (*Grant, error)

	// RevokeGrant revokes the grant at the given time, and with it every
	// token issued from it. It is monotonic, as apiauth.KeyStore's
	// RevokeKey: an earlier time replaces a later one, a later one never
	// postpones an earlier one, nothing undoes it, and it changes nothing
	// else. ErrGrantNotFound if unknown.
	RevokeGrant(ctx context.Context, id string, at time.Time) error

	// SaveConsent remembers that subject, in tenant, approved scopes for
	// the client, so that the host may skip asking again: it replaces
	// what was saved before, unless that was saved at a later time than
	// now. The store keeps its own copy of scopes.
	SaveConsent(ctx context.Context, tenant, subject, clientID string, scopes []apiauth.Scope, now time.Time) error

	// Consent returns the scopes saved for subject, in tenant, and the
	// client, in order, in a slice of the caller's; ErrConsentNotFound if
	// none are.
	Consent(ctx context.Context, tenant, subject, clientID string) ([]apiauth.Scope, error)

	// RevokeConsent forgets the consent saved for subject, in tenant, and
	// the client; ErrConsentNotFound if none is. Grants already started
	// are not revoked: RevokeGrant does that.
	RevokeConsent(ctx context.Context, tenant, subject, clientID string) error
}

// CheckCode returns an error, not matching ErrGrantExists, if c is not a
// code CreateCode may store: without a GrantID, ClientID or ExpiresAt,
// with a GrantExpiresAt not after ExpiresAt, already used, or with an
// invalid scope.
// GrantStore implementations call it in CreateCode.
func CheckCode(c *Code) error {
	switch {
	case c == nil:
		return errors.New("oauth: create code: nil code")
	case c.GrantID == "":
		return errors.New("oauth: create code: no grant ID")
	case c.ClientID == "":
		return fmt.Errorf("oauth: create code of grant %s: no client ID", c.GrantID)
	case c.ExpiresAt.IsZero():
		return fmt.Errorf("oauth: create code of grant %s: no expiry", c.GrantID)
	case !c.GrantExpiresAt.After(c.ExpiresAt):
		return fmt.Errorf("oauth: create code of grant %s: the grant expires before the code", c.GrantID)
	case !c.UsedAt.IsZero():
		return fmt.Errorf("oauth: create code of grant %s: already used", c.GrantID)
	}
	for _, s := range c.Scopes {
		if !s.Valid() {
			return fmt.Errorf("oauth: create code of grant %s: invalid scope %q", c.GrantID, s)
		}
	}
	return nil
}
