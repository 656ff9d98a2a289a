package sqlstore_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apiauth/apiauth"
	"github.com/apiauth/apiauth/oauth"
	"github.com/apiauth/apiauth/sqlstore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The tier of codes and grants (schema version 6): the rate-limit tier of
// the tokens of the authorization-code flow.

// testUpgradeGrantsTier builds a database at schema version 5 (codes and
// grants without a tier) with a code and a grant in it, written as that
// release's store wrote them, migrates it to the latest version, and
// checks that both read back whole, of the default tier (""): the grant
// through GetGrant, LookupRefresh and RotateRefresh, the code through
// RedeemCode and the grant it starts. A new code keeps its tier through
// every read of its grant, and a change of a grant's tier by hand reaches
// another instance that cached the grant, by poll (the trigger of version
// 5 covers the new column). sqliteTimes says how times are stored: Unix
// microseconds (SQLite) or timestamps (PostgreSQL).
func testUpgradeGrantsTier(t *testing.T, db *sql.DB, sqliteTimes bool, newInstance func(t *testing.T, opts ...sqlstore.Option) *sqlstore.Store) {
	ctx := context.Background()
	old := newUnmigratedStore(t, db)
	require.NoError(t, sqlstore.MigrateTo(ctx, old, 5))
	now := time.Now().Truncate(time.Microsecond)
	at := func(d time.Duration) any {
		if sqliteTimes {
			return now.Add(d).UnixMicro()
		}
		return now.Add(d)
	}
	bind := func(q string) string {
		if sqliteTimes {
			return regexp.MustCompile(`\$[0-9]+`).ReplaceAllString(q, "?")
		}
		return q
	}
	// As the store of version 5 wrote them: on SQLite it set a new
	// grant's updated_at, on PostgreSQL the column's default did.
	insertGrant := `INSERT INTO apiauth_oauth_grants (grant_id, client_id, subject, tenant, scopes, created_at, expires_at, idle_expires_at, revoked_at, refresh_digest)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, $9)`
	if sqliteTimes {
		insertGrant = `INSERT INTO apiauth_oauth_grants (grant_id, client_id, subject, tenant, scopes, created_at, expires_at, idle_expires_at, revoked_at, refresh_digest, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, $9, $10)`
	}
	const grantID, codeGrantID = "gr_v5", "gr_v5_code"
	refresh := randDigest(t)
	args := []any{grantID, "app", "alice", "acme", "read orders:write", at(0), at(time.Hour), at(30 * time.Minute), refresh[:]}
	if sqliteTimes {
		args = append(args, now.UnixMicro())
	}
	_, err := db.ExecContext(ctx, bind(insertGrant), args...)
	require.NoError(t, err, "a grant as version 5 stored it")
	_, err = db.ExecContext(ctx, bind(`INSERT INTO apiauth_oauth_refresh_tokens (digest, grant_id, seq, issued_at) VALUES ($1, $2, 1, $3)`),
		refresh[:], grantID, at(0))
	require.NoError(t, err, "its refresh token")
	code := randDigest(t)
	_, err = db.ExecContext(ctx, bind(`INSERT INTO apiauth_oauth_codes (digest, grant_id, client_id, redirect_uri, challenge, subject, tenant, scopes, created_at, expires_at, grant_expires_at, used_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, NULL)`),
		code[:], codeGrantID, "app", "https://app.example/cb", "challenge", "bob", "acme", "read", at(0), at(10*time.Minute), at(time.Hour))
	require.NoError(t, err, "a code as version 5 stored it")
	// The new store on the old schema, before Migrate: a store failure,
	// not "not found".
	if _, err := old.GetGrant(ctx, grantID); err == nil || errors.Is(err, oauth.ErrGrantNotFound) {
		t.Fatalf("GetGrant at version 5: %v, want a store failure (no such column)", err)
	}

	a := newInstance(t) // Migrate, as on the start of the new release
	var v int
	require.NoError(t, db.QueryRowContext(ctx, "SELECT MAX(version) FROM apiauth_schema_migrations").Scan(&v))
	if v != sqlstore.SchemaVersion() || v < 6 {
		t.Fatalf("version %d after the upgrade, want %d (6 or later)", v, sqlstore.SchemaVersion())
	}

	// The grant of version 5, by every read.
	want := &oauth.Grant{ID: grantID, ClientID: "app", Subject: "alice", Tenant: "acme", Scopes: []apiauth.Scope{apiauth.Read, "orders:write"},
		CreatedAt: now, ExpiresAt: now.Add(time.Hour), IdleExpiresAt: now.Add(30 * time.Minute), Refresh: refresh}
	got, err := a.GetGrant(ctx, grantID)
	require.NoError(t, err, "GetGrant of a grant of version 5")
	checkUpgradedGrant(t, "GetGrant of a grant of version 5", got, want)
	got, err = a.LookupRefresh(ctx, refresh)
	require.NoError(t, err, "LookupRefresh of a grant of version 5")
	checkUpgradedGrant(t, "LookupRefresh of a grant of version 5", got, want)
	next := randDigest(t)
	rotatedAt := time.Now()
	got, err = a.RotateRefresh(ctx, refresh, next, rotatedAt, time.Minute)
	require.NoError(t, err, "RotateRefresh of a grant of version 5")
	want.Refresh, want.IdleExpiresAt = next, rotatedAt.Add(time.Minute).Truncate(time.Microsecond)
	checkUpgradedGrant(t, "RotateRefresh of a grant of version 5", got, want)

	// The code of version 5 redeems, into a grant of the default tier.
	redeemAt := now.Add(time.Second)
	c, err := a.RedeemCode(ctx, code, randDigest(t), redeemAt, time.Hour)
	require.NoError(t, err, "RedeemCode of a code of version 5")
	assert.Equal(t, "", c.Tier, "the code of version 5")
	assert.Equal(t, "bob", c.Subject)
	assert.Equal(t, "https://app.example/cb", c.RedirectURI)
	assert.Equal(t, "challenge", c.Challenge)
	assert.True(t, c.UsedAt.Equal(redeemAt), "UsedAt %v, want %v", c.UsedAt, redeemAt)
	got, err = a.GetGrant(ctx, codeGrantID)
	require.NoError(t, err, "GetGrant of the grant of a code of version 5")
	checkUpgradedGrant(t, "the grant of a code of version 5", got, &oauth.Grant{ID: codeGrantID, ClientID: "app", Subject: "bob", Tenant: "acme",
		Scopes: []apiauth.Scope{apiauth.Read}, CreatedAt: redeemAt, ExpiresAt: now.Add(time.Hour), IdleExpiresAt: now.Add(time.Hour), Refresh: got.Refresh})

	// A new code keeps its tier, through every read of its grant.
	nc := newTierCode(t, a, "pro")
	newRefresh := randDigest(t)
	c, err = a.RedeemCode(ctx, nc.Digest, newRefresh, time.Now(), time.Hour)
	require.NoError(t, err)
	assert.Equal(t, "pro", c.Tier, "RedeemCode")
	got, err = a.GetGrant(ctx, nc.GrantID)
	require.NoError(t, err)
	assert.Equal(t, "pro", got.Tier, "GetGrant")
	got, err = a.LookupRefresh(ctx, newRefresh)
	require.NoError(t, err)
	assert.Equal(t, "pro", got.Tier, "LookupRefresh")
	got, err = a.RotateRefresh(ctx, newRefresh, randDigest(t), time.Now(), time.Hour)
	require.NoError(t, err)
	assert.Equal(t, "pro", got.Tier, "RotateRefresh")

	// A tier changed by hand reaches an instance that cached the grant,
	// at its next poll: the change moves updated_at.
	b := newInstance(t, sqlstore.WithPollInterval(20*time.Millisecond), sqlstore.WithCacheTTL(time.Minute))
	_, err = b.GetGrant(ctx, grantID)
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, bind(`UPDATE apiauth_oauth_grants SET tier = 'enterprise' WHERE grant_id = $1`), grantID)
	require.NoError(t, err)
	eventually(t, 2*time.Second, "b sees a tier changed by hand", func() bool {
		g, err := b.GetGrant(ctx, grantID)
		require.NoError(t, err)
		return g.Tier == "enterprise"
	})
}

// checkUpgradedGrant compares a grant read after an upgrade with want, as
// an older version stored it: not revoked, and of the default tier.
func checkUpgradedGrant(t *testing.T, what string, got, want *oauth.Grant) {
	t.Helper()
	if got.ID != want.ID || got.ClientID != want.ClientID || got.Subject != want.Subject || got.Tenant != want.Tenant || got.Tier != "" ||
		!slices.Equal(got.Scopes, want.Scopes) || !got.CreatedAt.Equal(want.CreatedAt) || !got.ExpiresAt.Equal(want.ExpiresAt) ||
		!got.IdleExpiresAt.Equal(want.IdleExpiresAt) || !got.RevokedAt.IsZero() || got.Refresh != want.Refresh {
		t.Errorf("%s: %+v, want %+v", what, got, want)
	}
}

// newTierCode creates a code of the tier through s and returns it.
func newTierCode(t *testing.T, s oauth.GrantStore, tier string) *oauth.Code {
	t.Helper()
	now := time.Now()
	c := &oauth.Code{Digest: randDigest(t), GrantID: fmt.Sprintf("gr_tier_%d_%d", now.UnixNano(), grantSeq.Add(1)), ClientID: "app",
		Subject: "dave", Tenant: "acme", Tier: tier, Scopes: []apiauth.Scope{apiauth.Read},
		CreatedAt: now, ExpiresAt: now.Add(time.Minute), GrantExpiresAt: now.Add(time.Hour)}
	require.NoError(t, s.CreateCode(context.Background(), c))
	return c
}

func TestSQLiteUpgradeGrantsTier(t *testing.T) {
	_, dir := openSQLite(t)
	db := openSQLiteIn(t, dir)
	testUpgradeGrantsTier(t, db, true, func(t *testing.T, opts ...sqlstore.Option) *sqlstore.Store {
		return newStore(t, openSQLiteIn(t, dir), opts...)
	})
}

func TestPostgresUpgradeGrantsTier(t *testing.T) {
	db := openPostgresNewSchema(t)
	testUpgradeGrantsTier(t, db, false, func(t *testing.T, opts ...sqlstore.Option) *sqlstore.Store {
		return newPostgresStore(t, db, opts...)
	})
}

// TestGrantTierRoundTrip: the tier of a code reaches its grant, through
// every read, on a store of the latest version (apiauthtest.TestGrantStore
// checks the same on every store the package's suites run).
func TestGrantTierRoundTrip(t *testing.T) {
	ctx := context.Background()
	db, _ := openSQLite(t)
	s := newStore(t, db)
	for _, tier := range []string{"", "pro", "enterprise Ünïcode"} {
		c := newTierCode(t, s, tier)
		refresh := randDigest(t)
		got, err := s.RedeemCode(ctx, c.Digest, refresh, time.Now(), time.Hour)
		require.NoError(t, err)
		assert.Equal(t, tier, got.Tier, "RedeemCode")
		g, err := s.GetGrant(ctx, c.GrantID)
		require.NoError(t, err)
		assert.Equal(t, tier, g.Tier, "GetGrant")
		g, err = s.GetGrant(ctx, c.GrantID)
		require.NoError(t, err)
		assert.Equal(t, tier, g.Tier, "GetGrant, cached")
		g, err = s.LookupRefresh(ctx, refresh)
		require.NoError(t, err)
		assert.Equal(t, tier, g.Tier, "LookupRefresh")
		g, err = s.RotateRefresh(ctx, refresh, randDigest(t), time.Now(), time.Hour)
		require.NoError(t, err)
		assert.Equal(t, tier, g.Tier, "RotateRefresh")
	}
}

// TestSchemaHasGrantsTier: version 6 adds a tier to codes and grants, and
// keeps the grants' updated_at moving on a change of it.
func TestSchemaHasGrantsTier(t *testing.T) {
	for _, d := range []sqlstore.Dialect{sqlstore.Postgres, sqlstore.SQLite} {
		s := sqlstore.Schema(d)
		i, j := strings.Index(s, "0005_oauth_grants_cache.sql"), strings.Index(s, "0006_oauth_grants_tier.sql")
		if i < 0 || j < i {
			t.Errorf("Schema(%v): version 6 missing or out of order", d)
			continue
		}
		for _, table := range []string{"apiauth_oauth_codes", "apiauth_oauth_grants"} {
			if !strings.Contains(s[j:], "ALTER TABLE "+table+" ADD COLUMN tier") && !strings.Contains(s[j:], "ALTER TABLE "+table+" ADD COLUMN IF NOT EXISTS tier") {
				t.Errorf("Schema(%v): version 6 does not add the column tier to %s", d, table)
			}
		}
		if !strings.Contains(s[j:], "apiauth_oauth_grants_touch") {
			t.Errorf("Schema(%v): version 6 leaves the grants' trigger without the tier", d)
		}
	}
	if v := sqlstore.SchemaVersion(); v < 6 {
		t.Errorf("SchemaVersion() = %d, want 6 or later", v)
	}
}
