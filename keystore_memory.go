package apiauth

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// MemoryKeyStore is a KeyStore in process memory, for a single server and
// for tests. Lookups take a read lock and do not allocate. The zero value is
// ready to use.
type MemoryKeyStore struct {
	mu       sync.RWMutex
	byDigest map[KeyDigest]*KeyRecord
	byID     map[string]*KeyRecord
}

// NewMemoryKeyStore returns an empty MemoryKeyStore.
func NewMemoryKeyStore() *MemoryKeyStore { return &MemoryKeyStore{} }

var _ KeyStore = (*MemoryKeyStore)(nil)

// LookupKey implements KeyStore.
func (m *MemoryKeyStore) LookupKey(ctx context.Context, d KeyDigest) (*KeyRecord, error) {
	m.mu.RLock()
	rec := m.byDigest[d]
	m.mu.RUnlock()
	if rec == nil {
		return nil, ErrKeyNotFound
	}
	return rec, nil
}

// GetKey implements KeyStore.
func (m *MemoryKeyStore) GetKey(ctx context.Context, id string) (*KeyRecord, error) {
	m.mu.RLock()
	rec := m.byID[id]
	m.mu.RUnlock()
	if rec == nil {
		return nil, fmt.Errorf("%w: %s", ErrKeyNotFound, id)
	}
	return rec, nil
}

// ListKeys implements KeyStore.
func (m *MemoryKeyStore) ListKeys(ctx context.Context, tenant string) ([]*KeyRecord, error) {
	m.mu.RLock()
	var out []*KeyRecord
	for _, rec := range m.byID {
		if rec.Tenant == tenant {
			out = append(out, rec)
		}
	}
	m.mu.RUnlock()
	slices.SortFunc(out, func(a, b *KeyRecord) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.KeyID, b.KeyID)
	})
	return out, nil
}

// CreateKey implements KeyStore. The store keeps its own copy of rec.
func (m *MemoryKeyStore) CreateKey(ctx context.Context, rec *KeyRecord) error {
	if rec.KeyID == "" {
		return fmt.Errorf("apiauth: create key: empty ID")
	}
	for _, s := range rec.Scopes {
		if !s.Valid() {
			return fmt.Errorf("apiauth: create key %s: invalid scope %q", rec.KeyID, s)
		}
	}
	c := cloneRecord(rec)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.byID == nil {
		m.byID = make(map[string]*KeyRecord)
		m.byDigest = make(map[KeyDigest]*KeyRecord)
	}
	if _, ok := m.byID[c.KeyID]; ok {
		return fmt.Errorf("%w: ID %s", ErrKeyExists, c.KeyID)
	}
	if _, ok := m.byDigest[c.Digest]; ok {
		return fmt.Errorf("%w: same key as another ID", ErrKeyExists)
	}
	m.byID[c.KeyID] = c
	m.byDigest[c.Digest] = c
	return nil
}

// RevokeKey implements KeyStore.
func (m *MemoryKeyStore) RevokeKey(ctx context.Context, id string, at time.Time) error {
	return m.update(id, func(c *KeyRecord) error {
		if c.RevokedAt.IsZero() || at.Before(c.RevokedAt) {
			c.RevokedAt = at
		}
		return nil
	})
}

// ExpireKey implements KeyStore. It refuses a key with a revocation time
// under the same lock as the change.
func (m *MemoryKeyStore) ExpireKey(ctx context.Context, id string, at time.Time, replacedBy string) error {
	return m.update(id, func(c *KeyRecord) error {
		if !c.RevokedAt.IsZero() {
			return fmt.Errorf("%w: %s", ErrTokenRevoked, id)
		}
		if c.ExpiresAt.IsZero() || at.Before(c.ExpiresAt) {
			c.ExpiresAt = at
		}
		c.ReplacedBy = replacedBy
		return nil
	})
}

// update replaces a record with a changed copy under the lock, unless change
// fails. Records are never modified in place, so principals already handed
// to requests do not change under them.
func (m *MemoryKeyStore) update(id string, change func(*KeyRecord) error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	old := m.byID[id]
	if old == nil {
		return fmt.Errorf("%w: %s", ErrKeyNotFound, id)
	}
	c := cloneRecord(old)
	if err := change(c); err != nil {
		return err
	}
	m.byID[id] = c
	m.byDigest[c.Digest] = c
	return nil
}

func cloneRecord(rec *KeyRecord) *KeyRecord {
	c := *rec
	c.Scopes = slices.Clone(rec.Scopes)
	c.Claims = nil
	return &c
}
