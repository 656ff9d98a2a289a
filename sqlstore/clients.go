package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/apiauth/apiauth/oauth"
)

// The OAuth client store: see "OAuth clients" in the package documentation.
var _ oauth.ClientStore = (*Store)(nil)

type clientQueries struct {
	byID, insert, disable string
}

const clientCols = `client_id, secret_digest, subject, tenant, scopes, tier, created_at, disabled_at, name, public, redirect_uris`

func newClientQueries(q queries) clientQueries {
	return clientQueries{
		byID: q.rebind(`SELECT ` + clientCols + ` FROM apiauth_oauth_clients WHERE client_id = ?`),
		insert: q.rebind(`INSERT INTO apiauth_oauth_clients (` + clientCols + `)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`),
		// One statement, so that concurrent calls cannot interleave: the
		// time only moves earlier, and nothing re-enables a client.
		disable: q.rebind(`UPDATE apiauth_oauth_clients
SET disabled_at = CASE WHEN disabled_at IS NULL OR disabled_at > ? THEN ? ELSE disabled_at END
WHERE client_id = ?`),
	}
}

// GetClient implements oauth.ClientStore: one read by primary key within
// the query budget, never cached. An unknown client is an error matching
// oauth.ErrClientNotFound; a failure of the database, or a budget spent,
// is any other error (the Issuer answers 503 temporarily_unavailable).
// Each call returns a new record.
func (s *Store) GetClient(ctx context.Context, id string) (*oauth.ClientRecord, error) {
	ctx, cancel := s.budget(ctx)
	defer cancel()
	c, err := scanClient(s.db.QueryRowContext(ctx, s.q.clients.byID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: %s", oauth.ErrClientNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: get client %s: %w", id, err)
	}
	return c, nil
}

// CreateClient implements oauth.ClientStore, within the write budget. It
// stores every field of c (the store keeps no reference to it), times to
// the microsecond; oauth.ErrClientExists when the ID is taken. Scopes
// must be valid (Scope.Valid). Redirect URIs are kept as they are, in
// order (oauth.RegisterClient validates them). Only c.SecretDigest is
// stored: a secret never reaches the database.
func (s *Store) CreateClient(ctx context.Context, c *oauth.ClientRecord) error {
	if c == nil || c.ID == "" {
		return errors.New("sqlstore: create client: empty ID")
	}
	scopes, err := joinScopes(c.Scopes)
	if err != nil {
		return fmt.Errorf("sqlstore: create client %s: %w", c.ID, err)
	}
	uris, err := joinRedirectURIs(c.RedirectURIs)
	if err != nil {
		return fmt.Errorf("sqlstore: create client %s: %w", c.ID, err)
	}
	ctx, cancel := s.writeBudget(ctx)
	defer cancel()
	res, err := s.db.ExecContext(ctx, s.q.clients.insert,
		c.ID, c.SecretDigest[:], c.Subject, c.Tenant, scopes, c.Tier,
		s.timeArg(c.CreatedAt), s.timeArg(c.DisabledAt), c.Name, c.Public, uris)
	if err != nil {
		return fmt.Errorf("sqlstore: create client %s: %w", c.ID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlstore: create client %s: %w", c.ID, err)
	}
	if n == 0 {
		return fmt.Errorf("%w: %s", oauth.ErrClientExists, c.ID)
	}
	return nil
}

// DisableClient stops the client from getting tokens (the Issuer refuses a
// client whose DisabledAt is set) from the next token request on, through
// every instance. It is monotonic, in one statement: an earlier time
// replaces a later one, a later one never replaces an earlier one, and
// nothing re-enables a client. Tokens issued before stay valid until they
// expire. An unknown client is an error matching oauth.ErrClientNotFound.
func (s *Store) DisableClient(ctx context.Context, id string, at time.Time) error {
	if at.IsZero() {
		return fmt.Errorf("sqlstore: disable client %s: zero time", id)
	}
	ctx, cancel := s.writeBudget(ctx)
	defer cancel()
	t := s.timeArg(at)
	res, err := s.db.ExecContext(ctx, s.q.clients.disable, t, t, id)
	if err != nil {
		return fmt.Errorf("sqlstore: disable client %s: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlstore: disable client %s: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("%w: %s", oauth.ErrClientNotFound, id)
	}
	return nil
}

// scanClient reads the columns of clientCols.
func scanClient(row scanner) (*oauth.ClientRecord, error) {
	var (
		c                 oauth.ClientRecord
		digest            []byte
		scopes, uris      string
		created, disabled dbTime
	)
	if err := row.Scan(&c.ID, &digest, &c.Subject, &c.Tenant, &scopes, &c.Tier, &created, &disabled,
		&c.Name, &c.Public, &uris); err != nil {
		return nil, err
	}
	if len(digest) != len(c.SecretDigest) {
		return nil, fmt.Errorf("secret digest of %d bytes in the database", len(digest))
	}
	copy(c.SecretDigest[:], digest)
	c.Scopes = splitScopes(scopes)
	var err error
	if c.RedirectURIs, err = splitRedirectURIs(uris); err != nil {
		return nil, err
	}
	c.CreatedAt, c.DisabledAt = created.t, disabled.t
	return &c, nil
}

// joinRedirectURIs encodes a client's redirect URIs for the column
// redirect_uris: a JSON array of strings, in order ("[]" for none), not
// space-separated like scopes, since a URI may hold a space.
func joinRedirectURIs(uris []string) (string, error) {
	if len(uris) == 0 {
		return "[]", nil
	}
	for _, u := range uris {
		if !utf8.ValidString(u) {
			return "", fmt.Errorf("redirect URI %q is not UTF-8", u)
		}
	}
	b, err := json.Marshal(uris)
	return string(b), err
}

// splitRedirectURIs decodes the column redirect_uris: nil for none, as
// for the rows of version 3 and before, which hold the default "[]".
func splitRedirectURIs(s string) ([]string, error) {
	if s == "" || s == "[]" {
		return nil, nil
	}
	var uris []string
	if err := json.Unmarshal([]byte(s), &uris); err != nil {
		return nil, fmt.Errorf("redirect_uris in the database: %w", err)
	}
	if len(uris) == 0 {
		return nil, nil
	}
	return uris, nil
}
