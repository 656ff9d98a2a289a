package oauth

import (
	"context"
	"fmt"
	"slices"
	"sync"
)

// MemoryClientStore is a ClientStore in process memory. The zero value is
// ready to use.
type MemoryClientStore struct {
	mu      sync.RWMutex
	clients map[string]*ClientRecord
}

// NewMemoryClientStore returns an empty MemoryClientStore.
func NewMemoryClientStore() *MemoryClientStore { return &MemoryClientStore{} }

var _ ClientStore = (*MemoryClientStore)(nil)

// GetClient implements ClientStore.
func (m *MemoryClientStore) GetClient(_ context.Context, id string) (*ClientRecord, error) {
	m.mu.RLock()
	c := m.clients[id]
	m.mu.RUnlock()
	if c == nil {
		return nil, ErrClientNotFound
	}
	return c, nil
}

// CreateClient implements ClientStore; the store keeps its own copy.
func (m *MemoryClientStore) CreateClient(_ context.Context, c *ClientRecord) error {
	cp := *c
	cp.Scopes = slices.Clone(c.Scopes)
	cp.RedirectURIs = slices.Clone(c.RedirectURIs)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.clients == nil {
		m.clients = make(map[string]*ClientRecord)
	}
	if _, ok := m.clients[c.ID]; ok {
		return fmt.Errorf("%w: %s", ErrClientExists, c.ID)
	}
	m.clients[c.ID] = &cp
	return nil
}
