package apiauth_test

import (
	"context"
	"testing"
	"time"

	"github.com/apiauth/apiauth"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// revokeDuringCreate revokes a key while Rotate is between reading the old
// record and shortening its expiry.
type revokeDuringCreate struct {
	*apiauth.MemoryKeyStore
	revokeID string
}

func (s *revokeDuringCreate) CreateKey(ctx context.Context, rec *apiauth.KeyRecord) error {
	if s.revokeID != "" {
		if err := s.MemoryKeyStore.RevokeKey(ctx, s.revokeID, t0); err != nil {
			return err
		}
	}
	return s.MemoryKeyStore.CreateKey(ctx, rec)
}

func TestRotateNeverUndoesRevocation(t *testing.T) {
	store := &revokeDuringCreate{MemoryKeyStore: apiauth.NewMemoryKeyStore()}
	keys := apiauth.NewKeys(store)
	keys.Now = func() time.Time { return t0 }
	ctx := context.Background()
	_, err := keys.Import(ctx, readerKey, apiauth.KeySpec{ID: "old", Tenant: "acme"})
	require.NoError(t, err)

	store.revokeID = "old"
	newKey, _, err := keys.Rotate(ctx, "old", time.Hour)
	assert.ErrorIs(t, err, apiauth.ErrTokenRevoked, "a key revoked during its rotation gets no replacement")
	assert.Empty(t, newKey)
	_, err = keys.Verify(ctx, readerKey)
	assert.ErrorIs(t, err, apiauth.ErrTokenRevoked, "the revocation made during the rotation stands")
	rec, err := store.GetKey(ctx, "old")
	require.NoError(t, err)
	assert.Equal(t, t0, rec.RevokedAt)
	assert.True(t, rec.ExpiresAt.IsZero(), "the refused ExpireKey changed nothing")
	assert.Empty(t, rec.ReplacedBy)
	list, err := keys.List(ctx, "acme")
	require.NoError(t, err)
	require.Len(t, list, 2, "the old key and the replacement Rotate created")
	for _, r := range list {
		assert.Equal(t, t0, r.RevokedAt, "key %s", r.KeyID)
	}
}

func TestKeyStoreUpdatesAreMonotonic(t *testing.T) {
	store := apiauth.NewMemoryKeyStore()
	keys := apiauth.NewKeys(store)
	ctx := context.Background()
	_, err := keys.Import(ctx, readerKey, apiauth.KeySpec{ID: "k", Tenant: "acme", ExpiresAt: t0.Add(time.Hour)})
	require.NoError(t, err)

	require.NoError(t, store.ExpireKey(ctx, "k", t0.Add(2*time.Hour), "k2"))
	require.NoError(t, store.RevokeKey(ctx, "k", t0))
	require.NoError(t, store.RevokeKey(ctx, "k", t0.Add(time.Minute)))
	assert.ErrorIs(t, store.ExpireKey(ctx, "k", t0, "k3"), apiauth.ErrTokenRevoked, "a revoked key gets no replacement")
	rec, err := store.GetKey(ctx, "k")
	require.NoError(t, err)
	assert.Equal(t, t0, rec.RevokedAt, "a later revocation does not postpone an earlier one")
	assert.Equal(t, t0.Add(time.Hour), rec.ExpiresAt, "ExpireKey never extends an expiry")
	assert.Equal(t, "k2", rec.ReplacedBy)

	assert.ErrorIs(t, store.RevokeKey(ctx, "missing", t0), apiauth.ErrKeyNotFound)
	assert.ErrorIs(t, store.ExpireKey(ctx, "missing", t0, ""), apiauth.ErrKeyNotFound)
	_, _, err = keys.Rotate(ctx, "k", -time.Second)
	assert.Error(t, err, "negative grace")
}

// Every key belongs to a tenant: a key without one is refused, unless
// Keys names the one tenant of an API without tenants.
func TestKeysNeedATenant(t *testing.T) {
	keys := apiauth.NewMemoryKeys()
	_, _, err := keys.Create(context.Background(), apiauth.KeySpec{Subject: "u"})
	assert.ErrorContains(t, err, "no tenant")
	keys.Tenant = "default"
	key, rec, err := keys.Create(context.Background(), apiauth.KeySpec{Subject: "u"})
	require.NoError(t, err)
	assert.Equal(t, "default", rec.Tenant)
	p, err := keys.Verify(context.Background(), key)
	require.NoError(t, err)
	assert.Equal(t, "default", p.Tenant)
	_, rec, err = keys.Create(context.Background(), apiauth.KeySpec{Subject: "u", Tenant: "acme"})
	require.NoError(t, err)
	assert.Equal(t, "acme", rec.Tenant, "a key's own tenant comes first")
}
