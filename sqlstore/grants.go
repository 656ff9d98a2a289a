package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/apiauth/apiauth"
	"github.com/apiauth/apiauth/oauth"
)

// The grant store of the authorization-code flow, on the tables of schema
// version 3: apiauth_oauth_codes, apiauth_oauth_grants,
// apiauth_oauth_refresh_tokens and apiauth_oauth_consents (the grants'
// updated_at, their triggers and notifications since version 5; the tier
// of codes and grants since version 6).
//
// GetGrant, on the path of every request with an access token of the
// flow, goes through the same cache as key lookups, with the same
// guarantees (see the package documentation); every other call reads or
// writes the database, so that a change made through one instance is seen
// by the next of those calls through any other. Each write that must be
// atomic is one transaction: on SQLite one that takes the write lock when
// it begins (BEGIN IMMEDIATE), so that it never fails half-way for want
// of it; on PostgreSQL a read-committed one, in which a code is spent by
// a conditional UPDATE ... WHERE used_at IS NULL and a rotation locks its
// grant's row (SELECT ... FOR UPDATE) before it decides. Of concurrent
// calls through any number of stores on one database, exactly one
// therefore redeems a code, or rotates a token. Each call that changes a
// grant, or may have, drops it from this store's cache once it is done,
// whatever its outcome.
var _ oauth.GrantStore = (*Store)(nil)

// grantQueries are the statements of the grant store, placeholders bound.
type grantQueries struct {
	grantExists, insertCode, redeemCode, codeByDigest     string
	insertGrant, insertRefresh, grantByID, grantByRefresh string
	lockByRefresh, rotate, revoke                         string
	saveConsent, consent, revokeConsent                   string
	sweepCodes, sweepTokens, sweepGrants                  string
	changedSince                                          string
}

// grantSQL holds the statements of each dialect, by Dialect.
var grantSQL = [...]grantQueries{
	Postgres: newGrantQueries(Postgres),
	SQLite:   newGrantQueries(SQLite),
}

const (
	codeCols  = `digest, grant_id, client_id, redirect_uri, challenge, subject, tenant, tier, scopes, created_at, expires_at, grant_expires_at, used_at`
	grantCols = `grant_id, client_id, subject, tenant, tier, scopes, created_at, expires_at, idle_expires_at, revoked_at, refresh_digest`
	// sweepBatch bounds the rows one sweep deletes from each table.
	sweepBatch = 500
	// sweepOdds: one CreateCode in sweepOdds sweeps.
	sweepOdds = 32
	// sweepMargin is how long after it expired a code or grant is kept,
	// by the system clock of the instance that sweeps, so that the clock
	// of another instance running behind never sees a grant it takes for
	// live, and might rotate, being swept.
	sweepMargin = time.Hour
)

func newGrantQueries(d Dialect) grantQueries {
	q := queries{dialect: d}
	forUpdate := ""
	// updated_at of a new grant: PostgreSQL's column default, the same
	// clock on SQLite (whose ADD COLUMN takes no such default).
	insertGrantCols, insertGrantNow := grantCols, ""
	if d == Postgres {
		forUpdate = " FOR UPDATE OF g"
	} else {
		insertGrantCols += ", updated_at"
		insertGrantNow = ", " + sqliteNowMicros
	}
	g := func(s string) string { return q.rebind(s) }
	return grantQueries{
		grantExists: g(`SELECT 1 FROM apiauth_oauth_grants WHERE grant_id = ?`),
		insertCode: g(`INSERT INTO apiauth_oauth_codes (` + codeCols + `)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL) ON CONFLICT DO NOTHING`),
		// The one step that spends a code: of concurrent redemptions,
		// only the first to update the row finds used_at NULL.
		redeemCode: g(`UPDATE apiauth_oauth_codes SET used_at = ?
WHERE digest = ? AND used_at IS NULL AND expires_at > ? RETURNING ` + codeCols),
		codeByDigest: g(`SELECT ` + codeCols + ` FROM apiauth_oauth_codes WHERE digest = ?`),
		insertGrant: g(`INSERT INTO apiauth_oauth_grants (` + insertGrantCols + `)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?` + insertGrantNow + `) ON CONFLICT DO NOTHING`),
		insertRefresh: g(`INSERT INTO apiauth_oauth_refresh_tokens (digest, grant_id, seq, issued_at)
VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`),
		grantByID: g(`SELECT ` + grantCols + `, updated_at FROM apiauth_oauth_grants WHERE grant_id = ?`),
		grantByRefresh: g(`SELECT g.grant_id, g.client_id, g.subject, g.tenant, g.tier, g.scopes, g.created_at, g.expires_at, g.idle_expires_at, g.revoked_at, g.refresh_digest
FROM apiauth_oauth_refresh_tokens r JOIN apiauth_oauth_grants g ON g.grant_id = r.grant_id WHERE r.digest = ?`),
		// A rotation reads the grant under its row lock (on SQLite, the
		// transaction's write lock), decides, then writes.
		lockByRefresh: g(`SELECT g.grant_id, g.client_id, g.subject, g.tenant, g.tier, g.scopes, g.created_at, g.expires_at, g.idle_expires_at, g.revoked_at, g.refresh_digest, r.seq
FROM apiauth_oauth_refresh_tokens r JOIN apiauth_oauth_grants g ON g.grant_id = r.grant_id WHERE r.digest = ?` + forUpdate),
		rotate: g(`UPDATE apiauth_oauth_grants SET refresh_digest = ?, idle_expires_at = ?
WHERE grant_id = ? AND refresh_digest = ?`),
		// Monotonic, in one statement: a revocation only moves earlier.
		revoke: g(`UPDATE apiauth_oauth_grants
SET revoked_at = CASE WHEN revoked_at IS NULL OR revoked_at > ? THEN ? ELSE revoked_at END
WHERE grant_id = ?`),
		// The later save wins, whichever lands last.
		saveConsent: g(`INSERT INTO apiauth_oauth_consents (tenant, subject, client_id, scopes, saved_at)
VALUES (?, ?, ?, ?, ?)
ON CONFLICT (tenant, subject, client_id) DO UPDATE SET scopes = excluded.scopes, saved_at = excluded.saved_at
WHERE apiauth_oauth_consents.saved_at <= excluded.saved_at`),
		consent:       g(`SELECT scopes FROM apiauth_oauth_consents WHERE tenant = ? AND subject = ? AND client_id = ?`),
		revokeConsent: g(`DELETE FROM apiauth_oauth_consents WHERE tenant = ? AND subject = ? AND client_id = ?`),
		sweepCodes: g(`DELETE FROM apiauth_oauth_codes WHERE digest IN
(SELECT digest FROM apiauth_oauth_codes WHERE expires_at <= ? ORDER BY expires_at LIMIT ` + fmt.Sprint(sweepBatch) + `)`),
		sweepTokens: g(`DELETE FROM apiauth_oauth_refresh_tokens WHERE grant_id IN
(SELECT grant_id FROM apiauth_oauth_grants WHERE idle_expires_at <= ? ORDER BY idle_expires_at LIMIT ` + fmt.Sprint(sweepBatch) + `)`),
		sweepGrants: g(`DELETE FROM apiauth_oauth_grants WHERE grant_id IN
(SELECT grant_id FROM apiauth_oauth_grants WHERE idle_expires_at <= ? ORDER BY idle_expires_at LIMIT ` + fmt.Sprint(sweepBatch) + `)
RETURNING grant_id`),
		changedSince: g(`SELECT grant_id, updated_at FROM apiauth_oauth_grants WHERE updated_at > ?`),
	}
}

func (s *Store) gq() *grantQueries { return &grantSQL[s.dialect] }

// txQuerier is what the grant store needs of a transaction: a *sql.Tx, or
// a *sql.Conn in a transaction begun by hand.
type txQuerier interface {
	execQuerier
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// inTx runs fn in a transaction, within the write budget, and commits if
// fn says so (even when it returns an error), else rolls back. On SQLite
// the transaction takes the write lock as it begins (BEGIN IMMEDIATE),
// and waits for it, retrying while the database is busy; on PostgreSQL
// it is read committed, whatever the server's default, so that a row
// lock waited for gives the row as committed.
func (s *Store) inTx(ctx context.Context, what string, fn func(tx txQuerier) (commit bool, err error)) error {
	ctx, cancel := s.writeBudget(ctx)
	defer cancel()
	if s.dialect == SQLite {
		return s.inSQLiteTx(ctx, what, fn)
	}
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != nil {
		return fmt.Errorf("sqlstore: %s: %w", what, err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it does nothing
	commit, err := fn(tx)
	if !commit {
		return err
	}
	if cerr := tx.Commit(); cerr != nil {
		return fmt.Errorf("sqlstore: %s: %w", what, cerr)
	}
	return err
}

// inSQLiteTx is inTx on SQLite, on a connection of its own.
func (s *Store) inSQLiteTx(ctx context.Context, what string, fn func(tx txQuerier) (bool, error)) error {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("sqlstore: %s: %w", what, err)
	}
	defer conn.Close()
	for backoff := time.Millisecond; ; backoff = min(2*backoff, 50*time.Millisecond) {
		_, err = conn.ExecContext(ctx, "BEGIN IMMEDIATE")
		if err == nil || !sqliteBusy(err) {
			break
		}
		// Busy without a busy timeout: nothing was done yet, so wait
		// and begin again, within the budget.
		t := time.NewTimer(backoff/2 + rand.N(backoff/2+1))
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("sqlstore: %s: %w", what, err)
		case <-t.C:
		}
	}
	if err != nil {
		return fmt.Errorf("sqlstore: %s: %w", what, err)
	}
	done := false
	defer func() {
		if done {
			return
		}
		if _, rerr := conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK"); rerr != nil {
			// See migrateSQLiteOnce: have the pool close a connection
			// that may still be in the transaction.
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}()
	commit, err := fn(conn)
	if !commit {
		return err
	}
	if _, cerr := conn.ExecContext(ctx, "COMMIT"); cerr != nil {
		return fmt.Errorf("sqlstore: %s: %w", what, cerr)
	}
	done = true
	return err
}

// CreateCode implements oauth.GrantStore, within the write budget: it
// refuses a code oauth.CheckCode refuses, and one whose digest or grant ID
// is taken, by a code or a grant, with oauth.ErrGrantExists. Only the
// code's digest is stored. Now and then (one call in 32) it also deletes
// codes and grants that expired an hour before the code's CreatedAt and
// the system clock, a few hundred of each at most, so that the tables
// follow what is live; the oldest go first.
func (s *Store) CreateCode(ctx context.Context, c *oauth.Code) error {
	if err := oauth.CheckCode(c); err != nil {
		return err
	}
	scopes, err := joinScopes(c.Scopes)
	if err != nil {
		return fmt.Errorf("sqlstore: create code of grant %s: %w", c.GrantID, err)
	}
	q := s.gq()
	wctx, cancel := s.writeBudget(ctx)
	defer cancel()
	// A grant ID stays taken while its grant is kept, after its code is
	// gone; a grant is only started from a code held under the same ID
	// (unique), so this check cannot race with one.
	var one int
	switch err := s.db.QueryRowContext(wctx, q.grantExists, c.GrantID).Scan(&one); {
	case err == nil:
		return fmt.Errorf("%w: grant ID %s", oauth.ErrGrantExists, c.GrantID)
	case !errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("sqlstore: create code of grant %s: %w", c.GrantID, err)
	}
	res, err := s.db.ExecContext(wctx, q.insertCode,
		c.Digest[:], c.GrantID, c.ClientID, c.RedirectURI, c.Challenge, c.Subject, c.Tenant, c.Tier, scopes,
		s.timeArg(c.CreatedAt), s.timeArg(c.ExpiresAt), s.timeArg(c.GrantExpiresAt))
	if err != nil {
		return fmt.Errorf("sqlstore: create code of grant %s: %w", c.GrantID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlstore: create code of grant %s: %w", c.GrantID, err)
	} else if n == 0 {
		return fmt.Errorf("%w: code of grant %s: digest or grant ID taken", oauth.ErrGrantExists, c.GrantID)
	}
	if rand.N(sweepOdds) == 0 {
		s.report("sweep grants", s.sweepGrants(ctx, c.CreatedAt))
	}
	return nil
}

// sweepGrants deletes codes and grants (with their refresh tokens) that
// expired sweepMargin before now, or before the system clock if that is
// earlier, up to sweepBatch of each, in one transaction.
func (s *Store) sweepGrants(ctx context.Context, now time.Time) error {
	if wall := time.Now(); now.IsZero() || wall.Before(now) {
		now = wall
	}
	q := s.gq()
	t := s.timeArg(now.Add(-sweepMargin))
	var swept []string
	defer func() { s.invalidateGrants(swept...) }()
	return s.inTx(ctx, "sweep grants", func(tx txQuerier) (bool, error) {
		for _, stmt := range []string{q.sweepCodes, q.sweepTokens} {
			if _, err := tx.ExecContext(ctx, stmt, t); err != nil {
				return false, fmt.Errorf("sqlstore: sweep grants: %w", err)
			}
		}
		rows, err := tx.QueryContext(ctx, q.sweepGrants, t)
		if err != nil {
			return false, fmt.Errorf("sqlstore: sweep grants: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return false, fmt.Errorf("sqlstore: sweep grants: %w", err)
			}
			swept = append(swept, id)
		}
		if err := rows.Err(); err != nil {
			return false, fmt.Errorf("sqlstore: sweep grants: %w", err)
		}
		return true, nil
	})
}

// RedeemCode implements oauth.GrantStore in one transaction, within the
// write budget: a conditional UPDATE spends the code, then the grant and
// its first refresh token are inserted; if either is taken
// (oauth.ErrGrantExists), the transaction rolls back and the code is not
// spent. A GetGrant of the grant that starts after RedeemCode returned
// reads it.
func (s *Store) RedeemCode(ctx context.Context, code, refresh apiauth.KeyDigest, now time.Time, idle time.Duration) (*oauth.Code, error) {
	if now.IsZero() {
		return nil, errors.New("sqlstore: redeem code: zero time")
	}
	q := s.gq()
	var redeemed, used *oauth.Code
	// The grant started, or maybe started (a commit that failed): no
	// not-found read before it may answer a GetGrant after it.
	var started string
	defer func() { s.invalidateGrants(started) }()
	err := s.inTx(ctx, "redeem code", func(tx txQuerier) (bool, error) {
		c, err := scanCode(tx.QueryRowContext(ctx, q.redeemCode, s.timeArg(now), code[:], s.timeArg(now)))
		if errors.Is(err, sql.ErrNoRows) {
			// Not spent now: say why.
			c, err = scanCode(tx.QueryRowContext(ctx, q.codeByDigest, code[:]))
			switch {
			case errors.Is(err, sql.ErrNoRows):
				return false, fmt.Errorf("%w: no such code", oauth.ErrGrantNotFound)
			case err != nil:
				return false, fmt.Errorf("sqlstore: redeem code: %w", err)
			case !c.UsedAt.IsZero():
				used = c
				return false, fmt.Errorf("%w: grant %s", oauth.ErrCodeUsed, c.GrantID)
			}
			return false, fmt.Errorf("%w: grant %s", oauth.ErrCodeExpired, c.GrantID)
		}
		if err != nil {
			return false, fmt.Errorf("sqlstore: redeem code: %w", err)
		}
		var refreshArg any
		if refresh != (apiauth.KeyDigest{}) {
			refreshArg = refresh[:]
		}
		scopes, err := joinScopes(c.Scopes)
		if err != nil {
			return false, fmt.Errorf("sqlstore: redeem code of grant %s: %w", c.GrantID, err)
		}
		if err := insertOne(ctx, tx, q.insertGrant, c.GrantID, c.ClientID, c.Subject, c.Tenant, c.Tier, scopes,
			s.timeArg(now), s.timeArg(c.GrantExpiresAt), s.timeArg(oauth.IdleExpiry(now, idle, c.GrantExpiresAt)), refreshArg); err != nil {
			return false, fmt.Errorf("sqlstore: redeem code: grant ID %s: %w", c.GrantID, err)
		}
		if refreshArg != nil {
			if err := insertOne(ctx, tx, q.insertRefresh, refresh[:], c.GrantID, 1, s.timeArg(now)); err != nil {
				return false, fmt.Errorf("sqlstore: redeem code of grant %s: refresh token: %w", c.GrantID, err)
			}
		}
		redeemed, started = c, c.GrantID
		return true, nil
	})
	if err != nil {
		return used, err
	}
	return redeemed, nil
}

// insertOne runs an INSERT … ON CONFLICT DO NOTHING, and returns
// oauth.ErrGrantExists if it inserted nothing.
func insertOne(ctx context.Context, tx txQuerier, query string, args ...any) error {
	res, err := tx.ExecContext(ctx, query, args...)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return oauth.ErrGrantExists
	}
	return nil
}

// RotateRefresh implements oauth.GrantStore in one transaction, within the
// write budget: it locks the grant of old, decides as the contract says,
// and then records the new token and makes it current, or, on reuse,
// revokes the grant and commits that alone. Either way, a GetGrant of the
// grant that starts after RotateRefresh returned reads it as changed.
func (s *Store) RotateRefresh(ctx context.Context, old, new apiauth.KeyDigest, now time.Time, idle time.Duration) (*oauth.Grant, error) {
	if now.IsZero() {
		return nil, errors.New("sqlstore: rotate refresh token: zero time")
	}
	q := s.gq()
	var rotated *oauth.Grant
	var changed string // the grant changed, or maybe (a commit that failed)
	defer func() { s.invalidateGrants(changed) }()
	err := s.inTx(ctx, "rotate refresh token", func(tx txQuerier) (bool, error) {
		var seq int64
		g, err := scanGrant(tx.QueryRowContext(ctx, q.lockByRefresh, old[:]), &seq)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return false, fmt.Errorf("%w: no such refresh token", oauth.ErrGrantNotFound)
		case err != nil:
			return false, fmt.Errorf("sqlstore: rotate refresh token: %w", err)
		}
		if g.Refresh != old {
			// RFC 9700 §4.14.2: a replaced token came back.
			t := s.timeArg(now)
			if _, err := tx.ExecContext(ctx, q.revoke, t, t, g.ID); err != nil {
				return false, fmt.Errorf("sqlstore: revoke grant %s on reuse: %w", g.ID, err)
			}
			changed = g.ID
			return true, fmt.Errorf("%w: grant %s revoked", oauth.ErrRefreshReused, g.ID)
		}
		if err := g.Check(now); err != nil {
			return false, err
		}
		if new == (apiauth.KeyDigest{}) {
			return false, fmt.Errorf("sqlstore: rotate refresh token of grant %s: zero digest", g.ID)
		}
		if err := insertOne(ctx, tx, q.insertRefresh, new[:], g.ID, seq+1, s.timeArg(now)); err != nil {
			return false, fmt.Errorf("sqlstore: rotate refresh token of grant %s: new token: %w", g.ID, err)
		}
		g.Refresh = new
		g.IdleExpiresAt = oauth.IdleExpiry(now, idle, g.ExpiresAt).Truncate(time.Microsecond) // as stored
		res, err := tx.ExecContext(ctx, q.rotate, new[:], s.timeArg(g.IdleExpiresAt), g.ID, old[:])
		if err != nil {
			return false, fmt.Errorf("sqlstore: rotate refresh token of grant %s: %w", g.ID, err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			// The row is locked: this cannot happen, but if it did,
			// committing would fork the family.
			return false, fmt.Errorf("sqlstore: rotate refresh token of grant %s: %d rows changed under lock (%v)", g.ID, n, err)
		}
		rotated, changed = g, g.ID
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return rotated, nil
}

// LookupRefresh implements oauth.GrantStore: one read, within the query
// budget.
func (s *Store) LookupRefresh(ctx context.Context, d apiauth.KeyDigest) (*oauth.Grant, error) {
	ctx, cancel := s.budget(ctx)
	defer cancel()
	g, err := scanGrant(s.db.QueryRowContext(ctx, s.gq().grantByRefresh, d[:]))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: no such refresh token", oauth.ErrGrantNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: lookup refresh token: %w", err)
	}
	return g, nil
}

// GetGrant implements oauth.GrantStore. With the cache on (the default),
// a grant found is cached, and later calls are answered from the cache,
// without touching the database and without allocating, until its entry
// expires (the cache TTL) or is dropped: at once by a change through this
// store (RevokeGrant, RotateRefresh, RedeemCode, the sweep), and by a
// change through another instance or by hand as soon as this store learns
// of it, by notification or poll; see Guarantees in the package
// documentation. A grant not found is not cached. A cached grant may be
// past its expiry: the caller checks that (oauth.Grant.Check). On a miss,
// or with the cache off, it is one read by primary key within the query
// budget, shared by concurrent callers of one ID. The record returned is
// shared and must not be modified.
func (s *Store) GetGrant(ctx context.Context, id string) (*oauth.Grant, error) {
	if s.grants == nil {
		g, _, err := s.queryGrant(ctx, id)
		return g, err
	}
	if e := s.grants.get(id); e != nil && s.clock.Load() < e.deadline {
		return e.rec, nil
	}
	return s.loadGrant(ctx, id)
}

// loadGrant asks the database for grant id, once for all concurrent
// callers, and caches it if found, unless it changed meanwhile.
func (s *Store) loadGrant(ctx context.Context, id string) (*oauth.Grant, error) {
	if !s.grantsRead.Load() {
		s.grantsRead.Store(true) // the poll now covers grants
	}
	c, leader, gen := s.grants.join(id)
	if !leader {
		select {
		case <-c.done:
			return c.rec, c.err
		case <-ctx.Done():
			return nil, fmt.Errorf("sqlstore: get grant %s: %w", id, ctx.Err())
		}
	}
	// As in load: the query is shared, so it runs on the budget alone,
	// and the entry is trusted for the TTL from when it started.
	started := s.mono()
	g, updated, err := s.queryGrant(context.WithoutCancel(ctx), id)
	var e *grantEntry
	if err == nil {
		e = &grantEntry{rec: g, updated: updated, deadline: started + int64(s.cfg.cacheTTL)}
	}
	now := s.mono()
	s.advanceClock(now)
	s.grants.finish(id, c, gen, e, g, err, now)
	return g, err
}

// queryGrant reads grant id and its updated_at, within the query budget.
func (s *Store) queryGrant(ctx context.Context, id string) (*oauth.Grant, int64, error) {
	ctx, cancel := s.budget(ctx)
	defer cancel()
	var updated dbTime
	g, err := scanGrant(s.db.QueryRowContext(ctx, s.gq().grantByID, id), &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, 0, fmt.Errorf("%w: %s", oauth.ErrGrantNotFound, id)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("sqlstore: get grant %s: %w", id, err)
	}
	return g, updated.t.UnixMicro(), nil
}

// invalidateGrants drops the grants ids from the cache, keeps a GetGrant
// already under way from caching what it read before their change, and
// detaches it, so that no GetGrant starting after the change is answered
// by it. Empty IDs are skipped.
func (s *Store) invalidateGrants(ids ...string) {
	if s.grants == nil {
		return
	}
	for _, id := range ids {
		if id != "" {
			s.grants.invalidate(id, -1)
		}
	}
}

// RevokeGrant implements oauth.GrantStore in one statement, within the
// write budget. This store's cache drops the grant once the statement is
// done, whatever its outcome, so that a GetGrant that starts after
// RevokeGrant returned reads the revocation; other instances see it as
// the package documentation says.
func (s *Store) RevokeGrant(ctx context.Context, id string, at time.Time) error {
	if at.IsZero() {
		return fmt.Errorf("sqlstore: revoke grant %s: zero time", id)
	}
	ctx, cancel := s.writeBudget(ctx)
	defer cancel()
	t := s.timeArg(at)
	res, err := s.db.ExecContext(ctx, s.gq().revoke, t, t, id)
	s.invalidateGrants(id)
	if err != nil {
		return fmt.Errorf("sqlstore: revoke grant %s: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlstore: revoke grant %s: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("%w: %s", oauth.ErrGrantNotFound, id)
	}
	return nil
}

// SaveConsent implements oauth.GrantStore in one statement, within the
// write budget.
func (s *Store) SaveConsent(ctx context.Context, tenant, subject, clientID string, scopes []apiauth.Scope, now time.Time) error {
	if now.IsZero() {
		return errors.New("sqlstore: save consent: zero time")
	}
	joined, err := joinScopes(scopes)
	if err != nil {
		return fmt.Errorf("sqlstore: save consent: %w", err)
	}
	ctx, cancel := s.writeBudget(ctx)
	defer cancel()
	if _, err := s.db.ExecContext(ctx, s.gq().saveConsent, tenant, subject, clientID, joined, s.timeArg(now)); err != nil {
		return fmt.Errorf("sqlstore: save consent: %w", err)
	}
	return nil
}

// Consent implements oauth.GrantStore: one read, within the query budget.
func (s *Store) Consent(ctx context.Context, tenant, subject, clientID string) ([]apiauth.Scope, error) {
	ctx, cancel := s.budget(ctx)
	defer cancel()
	var scopes string
	err := s.db.QueryRowContext(ctx, s.gq().consent, tenant, subject, clientID).Scan(&scopes)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: client %s", oauth.ErrConsentNotFound, clientID)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: consent: %w", err)
	}
	out := splitScopes(scopes)
	if out == nil {
		out = []apiauth.Scope{}
	}
	return out, nil
}

// RevokeConsent implements oauth.GrantStore in one statement, within the
// write budget.
func (s *Store) RevokeConsent(ctx context.Context, tenant, subject, clientID string) error {
	ctx, cancel := s.writeBudget(ctx)
	defer cancel()
	res, err := s.db.ExecContext(ctx, s.gq().revokeConsent, tenant, subject, clientID)
	if err != nil {
		return fmt.Errorf("sqlstore: revoke consent: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlstore: revoke consent: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("%w: client %s", oauth.ErrConsentNotFound, clientID)
	}
	return nil
}

// scanCode reads the columns of codeCols.
func scanCode(row scanner) (*oauth.Code, error) {
	var (
		c                                      oauth.Code
		digest                                 []byte
		scopes                                 string
		created, expires, grantExpires, usedAt dbTime
	)
	err := row.Scan(&digest, &c.GrantID, &c.ClientID, &c.RedirectURI, &c.Challenge, &c.Subject, &c.Tenant, &c.Tier, &scopes,
		&created, &expires, &grantExpires, &usedAt)
	if err != nil {
		return nil, err
	}
	if len(digest) != len(c.Digest) {
		return nil, fmt.Errorf("code digest of %d bytes in the database", len(digest))
	}
	copy(c.Digest[:], digest)
	c.Scopes = splitScopes(scopes)
	c.CreatedAt, c.ExpiresAt, c.GrantExpiresAt, c.UsedAt = created.t, expires.t, grantExpires.t, usedAt.t
	return &c, nil
}

// scanGrant reads the columns of grantCols, and then into extra, if any:
// the sequence number of lockByRefresh, the updated_at of grantByID.
func scanGrant(row scanner, extra ...any) (*oauth.Grant, error) {
	var (
		g                               oauth.Grant
		refresh                         []byte
		scopes                          string
		created, expires, idle, revoked dbTime
	)
	dest := append([]any{&g.ID, &g.ClientID, &g.Subject, &g.Tenant, &g.Tier, &scopes, &created, &expires, &idle, &revoked, &refresh}, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	switch len(refresh) {
	case 0: // NULL: none
	case len(g.Refresh):
		copy(g.Refresh[:], refresh)
	default:
		return nil, fmt.Errorf("refresh digest of %d bytes in the database", len(refresh))
	}
	g.Scopes = splitScopes(scopes)
	g.CreatedAt, g.ExpiresAt, g.IdleExpiresAt, g.RevokedAt = created.t, expires.t, idle.t, revoked.t
	return &g, nil
}
