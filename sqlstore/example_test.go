package sqlstore_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/apiauth/apiauth"
	"github.com/apiauth/apiauth/oauth"
	"github.com/apiauth/apiauth/sqlstore"
	_ "modernc.org/sqlite" // the "sqlite" database/sql driver, pure Go
)

// ExampleNew keeps API keys and OAuth clients in a SQLite file. On
// PostgreSQL, open the *sql.DB with the "pgx" driver of
// github.com/jackc/pgx/v5/stdlib instead, and pass
// sqlstore.WithListener(pgnotify.New(db)) to New so that every instance
// sees a revocation at once.
func ExampleNew() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "apiauth-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)

	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "keys.db")+
		"?_pragma=busy_timeout(5000)&_pragma=journal_mode(wal)&_pragma=synchronous(normal)")
	if err != nil {
		panic(err)
	}
	defer db.Close()
	store, err := sqlstore.New(db)
	if err != nil {
		panic(err)
	}
	defer store.Close() // runs before db.Close: it writes pending last-used times

	// Migrate creates or upgrades the schema, safely from every instance at
	// once; or run the SQL of sqlstore.Schema(dialect) with your own tool.
	if err := store.Migrate(ctx); err != nil {
		panic(err)
	}

	keys := apiauth.NewKeys(store)
	key, rec, err := keys.Create(ctx, apiauth.KeySpec{
		Subject: "ci", Tenant: "acme", Scopes: []apiauth.Scope{apiauth.Write},
	})
	if err != nil {
		panic(err)
	}
	p, err := keys.Verify(ctx, key)
	fmt.Println(p.Subject, p.Tenant, p.Scopes, err)

	// The database holds the key's SHA-256 digest, never the key.
	var digest []byte
	if err := db.QueryRowContext(ctx, "SELECT digest FROM apiauth_keys WHERE id = ?", rec.ID()).Scan(&digest); err != nil {
		panic(err)
	}
	fmt.Println("digest stored:", apiauth.KeyDigest(digest) == apiauth.DigestKey(key))

	if err := keys.Revoke(ctx, rec.ID()); err != nil {
		panic(err)
	}
	_, err = keys.Verify(ctx, key)
	fmt.Println("revoked:", errors.Is(err, apiauth.ErrTokenRevoked))

	// The same store is the token endpoint's oauth.ClientStore.
	if _, err := oauth.RegisterClient(ctx, store, oauth.ClientSpec{
		ID: "svc-billing", Tenant: "acme", Scopes: []apiauth.Scope{apiauth.Read},
	}, oauth.GenerateClientSecret()); err != nil {
		panic(err)
	}
	c, err := store.GetClient(ctx, "svc-billing")
	fmt.Println(c.ID, c.Tenant, c.Scopes, err)

	// Output:
	// ci acme [write] <nil>
	// digest stored: true
	// revoked: true
	// svc-billing acme [read] <nil>
}
