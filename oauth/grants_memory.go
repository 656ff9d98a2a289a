package oauth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/apiauth/apiauth"
)

// MemoryGrantStore is a GrantStore in process memory, for a single server
// and for tests: one lock makes each method atomic. The zero value is
// ready to use.
//
// Memory stays bounded by what is live, however many codes and grants
// pass: codes and grants that have expired (by both the time a call gives
// and the system clock) are swept out whenever as many entries have been
// added since the last sweep as it left, so the store holds at most about
// twice the live entries (codes, grants and refresh tokens of live
// grants), and a sweep costs O(1) amortized per entry added. A revoked
// grant is kept until it expires, so that its tokens are refused as
// revoked rather than unknown. Consents are kept until revoked.
type MemoryGrantStore struct {
	mu sync.RWMutex
	// codes holds the codes by digest, and codeGrants their grant IDs.
	codes      map[apiauth.KeyDigest]*Code
	codeGrants map[string]apiauth.KeyDigest
	grants     map[string]*memGrant
	// refresh holds every refresh token of the grants held, current or
	// replaced, with its grant's ID.
	refresh  map[apiauth.KeyDigest]string
	consents map[consentKey]consent
	// added counts the entries added to codes, grants and refresh since
	// the last sweep, which left kept entries.
	added, kept int
}

// memGrant is a grant and the digests of all its refresh tokens, oldest
// first.
type memGrant struct {
	g      *Grant
	tokens []apiauth.KeyDigest
}

type consentKey struct{ tenant, subject, clientID string }

type consent struct {
	scopes  []apiauth.Scope
	savedAt time.Time
}

// minSweep is the fewest additions between two sweeps.
const minSweep = 64

// NewMemoryGrantStore returns an empty MemoryGrantStore.
func NewMemoryGrantStore() *MemoryGrantStore { return &MemoryGrantStore{} }

var _ GrantStore = (*MemoryGrantStore)(nil)

var errZeroTime = errors.New("zero time")

// CreateCode implements GrantStore.
func (m *MemoryGrantStore) CreateCode(ctx context.Context, c *Code) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := CheckCode(c); err != nil {
		return err
	}
	cp := *c
	cp.Scopes = slices.Clone(c.Scopes)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.codes == nil {
		m.codes = make(map[apiauth.KeyDigest]*Code)
		m.codeGrants = make(map[string]apiauth.KeyDigest)
	}
	if _, ok := m.codes[c.Digest]; ok {
		return fmt.Errorf("%w: code of grant %s: digest taken", ErrGrantExists, c.GrantID)
	}
	if _, ok := m.codeGrants[c.GrantID]; ok {
		return fmt.Errorf("%w: grant ID %s", ErrGrantExists, c.GrantID)
	}
	if _, ok := m.grants[c.GrantID]; ok {
		return fmt.Errorf("%w: grant ID %s", ErrGrantExists, c.GrantID)
	}
	m.codes[c.Digest] = &cp
	m.codeGrants[c.GrantID] = c.Digest
	m.addedOne(c.CreatedAt)
	return nil
}

// RedeemCode implements GrantStore, under the store's lock.
func (m *MemoryGrantStore) RedeemCode(ctx context.Context, code, refresh apiauth.KeyDigest, now time.Time, idle time.Duration) (*Code, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if now.IsZero() {
		return nil, fmt.Errorf("oauth: redeem code: %w", errZeroTime)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.codes[code]
	switch {
	case c == nil:
		return nil, fmt.Errorf("%w: no such code", ErrGrantNotFound)
	case !c.UsedAt.IsZero():
		return c, fmt.Errorf("%w: grant %s", ErrCodeUsed, c.GrantID)
	case !now.Before(c.ExpiresAt):
		return nil, fmt.Errorf("%w: grant %s", ErrCodeExpired, c.GrantID)
	}
	if _, ok := m.grants[c.GrantID]; ok {
		return nil, fmt.Errorf("%w: grant ID %s", ErrGrantExists, c.GrantID)
	}
	if _, ok := m.refresh[refresh]; ok && refresh != (apiauth.KeyDigest{}) {
		return nil, fmt.Errorf("%w: refresh token of grant %s: digest taken", ErrGrantExists, c.GrantID)
	}
	used := *c
	used.UsedAt = now
	m.codes[code] = &used
	g := &Grant{
		ID:            c.GrantID,
		ClientID:      c.ClientID,
		Subject:       c.Subject,
		Tenant:        c.Tenant,
		Tier:          c.Tier,
		Scopes:        slices.Clone(c.Scopes),
		CreatedAt:     now,
		ExpiresAt:     c.GrantExpiresAt,
		IdleExpiresAt: IdleExpiry(now, idle, c.GrantExpiresAt),
		Refresh:       refresh,
	}
	if m.grants == nil {
		m.grants = make(map[string]*memGrant)
		m.refresh = make(map[apiauth.KeyDigest]string)
	}
	mg := &memGrant{g: g}
	m.grants[g.ID] = mg
	m.addedOne(now)
	if refresh != (apiauth.KeyDigest{}) {
		mg.tokens = append(mg.tokens, refresh)
		m.refresh[refresh] = g.ID
		m.addedOne(now)
	}
	return &used, nil
}

// RotateRefresh implements GrantStore, under the store's lock.
func (m *MemoryGrantStore) RotateRefresh(ctx context.Context, old, new apiauth.KeyDigest, now time.Time, idle time.Duration) (*Grant, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if now.IsZero() {
		return nil, fmt.Errorf("oauth: rotate refresh token: %w", errZeroTime)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	mg := m.grantOf(old)
	if mg == nil {
		return nil, fmt.Errorf("%w: no such refresh token", ErrGrantNotFound)
	}
	g := mg.g
	if g.Refresh != old {
		// RFC 9700 §4.14.2: a replaced token came back.
		mg.g = revoked(g, now)
		return nil, fmt.Errorf("%w: grant %s revoked", ErrRefreshReused, g.ID)
	}
	if err := g.Check(now); err != nil {
		return nil, err
	}
	if new == (apiauth.KeyDigest{}) {
		return nil, fmt.Errorf("oauth: rotate refresh token of grant %s: zero digest", g.ID)
	}
	if _, ok := m.refresh[new]; ok {
		return nil, fmt.Errorf("%w: refresh token of grant %s: digest taken", ErrGrantExists, g.ID)
	}
	ng := *g
	ng.Refresh = new
	ng.IdleExpiresAt = IdleExpiry(now, idle, g.ExpiresAt)
	mg.g = &ng
	mg.tokens = append(mg.tokens, new)
	m.refresh[new] = g.ID
	m.addedOne(now)
	return &ng, nil
}

// grantOf returns the grant whose refresh token is d, or nil. The caller
// holds the lock.
func (m *MemoryGrantStore) grantOf(d apiauth.KeyDigest) *memGrant {
	id, ok := m.refresh[d]
	if !ok {
		return nil
	}
	return m.grants[id]
}

// revoked returns g, or a copy of g revoked at at if it was not revoked
// by then.
func revoked(g *Grant, at time.Time) *Grant {
	if !g.RevokedAt.IsZero() && !at.Before(g.RevokedAt) {
		return g
	}
	ng := *g
	ng.RevokedAt = at
	return &ng
}

// LookupRefresh implements GrantStore.
func (m *MemoryGrantStore) LookupRefresh(ctx context.Context, d apiauth.KeyDigest) (*Grant, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	mg := m.grantOf(d)
	if mg == nil {
		return nil, fmt.Errorf("%w: no such refresh token", ErrGrantNotFound)
	}
	return mg.g, nil
}

// GetGrant implements GrantStore.
func (m *MemoryGrantStore) GetGrant(ctx context.Context, id string) (*Grant, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	mg := m.grants[id]
	if mg == nil {
		return nil, fmt.Errorf("%w: %s", ErrGrantNotFound, id)
	}
	return mg.g, nil
}

// RevokeGrant implements GrantStore.
func (m *MemoryGrantStore) RevokeGrant(ctx context.Context, id string, at time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if at.IsZero() {
		return fmt.Errorf("oauth: revoke grant %s: %w", id, errZeroTime)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	mg := m.grants[id]
	if mg == nil {
		return fmt.Errorf("%w: %s", ErrGrantNotFound, id)
	}
	mg.g = revoked(mg.g, at)
	return nil
}

// SaveConsent implements GrantStore.
func (m *MemoryGrantStore) SaveConsent(ctx context.Context, tenant, subject, clientID string, scopes []apiauth.Scope, now time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if now.IsZero() {
		return fmt.Errorf("oauth: save consent: %w", errZeroTime)
	}
	for _, s := range scopes {
		if !s.Valid() {
			return fmt.Errorf("oauth: save consent: invalid scope %q", s)
		}
	}
	k := consentKey{tenant, subject, clientID}
	c := consent{scopes: slices.Clone(scopes), savedAt: now}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.consents == nil {
		m.consents = make(map[consentKey]consent)
	}
	if old, ok := m.consents[k]; ok && old.savedAt.After(now) {
		return nil
	}
	m.consents[k] = c
	return nil
}

// Consent implements GrantStore; it returns a new slice.
func (m *MemoryGrantStore) Consent(ctx context.Context, tenant, subject, clientID string) ([]apiauth.Scope, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.RLock()
	c, ok := m.consents[consentKey{tenant, subject, clientID}]
	m.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w: client %s", ErrConsentNotFound, clientID)
	}
	return slices.Clone(c.scopes), nil
}

// RevokeConsent implements GrantStore.
func (m *MemoryGrantStore) RevokeConsent(ctx context.Context, tenant, subject, clientID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	k := consentKey{tenant, subject, clientID}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.consents[k]; !ok {
		return fmt.Errorf("%w: client %s", ErrConsentNotFound, clientID)
	}
	delete(m.consents, k)
	return nil
}

// addedOne counts an entry added at now, and sweeps once as many have
// been added since the last sweep as it kept (and at least minSweep). The
// caller holds the lock.
func (m *MemoryGrantStore) addedOne(now time.Time) {
	m.added++
	if m.added < max(m.kept, minSweep) {
		return
	}
	m.sweep(now)
}

// sweep drops the codes and grants expired at now, or at the system
// clock's time if that is earlier: a caller's clock running ahead, or a
// test's injected time, never drops what is live. The caller holds the
// lock.
func (m *MemoryGrantStore) sweep(now time.Time) {
	if wall := time.Now(); wall.Before(now) || now.IsZero() {
		now = wall
	}
	for d, c := range m.codes {
		if !now.Before(c.ExpiresAt) {
			delete(m.codes, d)
			delete(m.codeGrants, c.GrantID)
		}
	}
	for id, mg := range m.grants {
		// IdleExpiresAt is never after ExpiresAt.
		if !now.Before(mg.g.IdleExpiresAt) {
			for _, d := range mg.tokens {
				delete(m.refresh, d)
			}
			delete(m.grants, id)
		}
	}
	m.added, m.kept = 0, len(m.codes)+len(m.grants)+len(m.refresh)
}
