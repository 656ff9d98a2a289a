package sqlstore

import (
	"context"
	"database/sql"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apiauth/apiauth"
)

// pollOverlap is how far each poll looks back before the previous one: a
// change whose transaction started before a poll and committed after it
// carries an updated_at before that poll's time.
const pollOverlap = 2 * time.Second

// maxPendingUses bounds the last-used times kept while the database cannot
// be written to.
const maxPendingUses = 1 << 20

// pollLoop drops cache entries of keys, and of grants once GetGrant has
// been called, changed elsewhere, every poll interval. Each table has a
// poller of its own, and its own report ("poll", "poll grants").
func (s *Store) pollLoop(ctx context.Context) {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.pollInterval)
	defer t.Stop()
	var keys, grants poller
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.report("poll", keys.poll(ctx, s, s.q.changedSince, s.keyChanged))
			if s.grantsRead.Load() {
				s.report("poll grants", grants.poll(ctx, s, s.gq().changedSince, s.grantChanged))
			}
		}
	}
}

// poller remembers the database time of its last successful poll of one
// table.
type poller struct {
	last int64 // Unix µs on the database's clock; 0 before the first poll
}

// poll runs query, which selects the key and the updated_at of the rows
// changed since the time it is given, for the rows changed since the last
// poll (less pollOverlap), and at most the cache TTL and pollOverlap back:
// an older change cannot be newer than any entry still trusted. changed
// scans each row and drops its entry unless the entry was read after the
// change.
func (p *poller) poll(ctx context.Context, s *Store, query string, changed func(*sql.Rows) error) error {
	ctx, cancel := context.WithTimeout(ctx, 10*s.cfg.queryTimeout)
	defer cancel()
	var now dbTime
	if err := s.db.QueryRowContext(ctx, s.q.now).Scan(&now); err != nil {
		return err
	}
	nowUs := now.t.UnixMicro()
	since := nowUs - (s.cfg.cacheTTL + pollOverlap).Microseconds()
	if p.last != 0 && p.last-pollOverlap.Microseconds() > since {
		since = p.last - pollOverlap.Microseconds()
	}
	rows, err := s.db.QueryContext(ctx, query, s.timeArg(time.UnixMicro(since)))
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := changed(rows); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	p.last = nowUs
	return nil
}

// keyChanged scans a key's digest and updated_at, and drops its entry
// unless it was read after that.
func (s *Store) keyChanged(rows *sql.Rows) error {
	var digest []byte
	var updated dbTime
	if err := rows.Scan(&digest, &updated); err != nil {
		return err
	}
	var d apiauth.KeyDigest
	if len(digest) == len(d) {
		copy(d[:], digest)
		s.cache.invalidate(d, updated.t.UnixMicro())
	}
	return nil
}

// grantChanged scans a grant's ID and updated_at, and drops its entry
// unless it was read after that.
func (s *Store) grantChanged(rows *sql.Rows) error {
	var id string
	var updated dbTime
	if err := rows.Scan(&id, &updated); err != nil {
		return err
	}
	s.grants.invalidate(id, updated.t.UnixMicro())
	return nil
}

// listenLoop runs the Listener, again after each failure (the poll covers
// what it missed meanwhile). It reports the listener failing when a run
// ends, and recovered when a run listens: when a ReadyListener says so,
// else at the first notification.
func (s *Store) listenLoop(ctx context.Context) {
	defer s.wg.Done()
	backoff := 100 * time.Millisecond
	ready := func() { s.report("listen", nil) }
	rl, _ := s.cfg.listener.(ReadyListener)
	notifiedReady := func(payload string) {
		ready()
		s.notified(payload)
	}
	for {
		began := time.Now()
		var err error
		if rl != nil {
			err = rl.ListenReady(ctx, Channel, ready, s.notified)
		} else {
			err = s.cfg.listener.Listen(ctx, Channel, notifiedReady)
		}
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			err = fmt.Errorf("listener returned")
		}
		s.report("listen", err)
		if time.Since(began) > 30*time.Second {
			backoff = 100 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// Payloads of the notifications of grants on Channel (a key's is its
// digest in hex).
const (
	// grantPayload, then the grant's ID: that grant changed.
	grantPayload = "grant:"
	// allGrantsPayload: some grant changed whose ID is too long for a
	// payload.
	allGrantsPayload = "grants"
)

// notified drops the key whose digest, in hex, is payload, or the grant
// (or grants) payload names.
func (s *Store) notified(payload string) {
	if id, ok := strings.CutPrefix(payload, grantPayload); ok {
		s.invalidateGrants(id)
		return
	}
	if payload == allGrantsPayload {
		if s.grants != nil {
			s.grants.invalidateAll()
		}
		return
	}
	var d apiauth.KeyDigest
	if len(payload) != 2*len(d) {
		return
	}
	if _, err := hex.Decode(d[:], []byte(payload)); err != nil {
		return
	}
	s.cache.invalidate(d, -1)
}

// usage holds last-used times not yet written.
type usage struct {
	// epoch numbers the write periods; an entry records one use per
	// period (entry.usedEpoch).
	epoch   atomic.Uint32
	mu      sync.Mutex
	pending map[string]time.Time // key ID → latest use recorded
	spare   map[string]time.Time
}

func newUsage() *usage {
	u := &usage{pending: map[string]time.Time{}, spare: map[string]time.Time{}}
	u.epoch.Store(1)
	return u
}

// markUsed records a use of rec, found through e (nil when not cached):
// on a cache hit, two atomic loads unless this is the entry's first use in
// the period.
func (s *Store) markUsed(rec *apiauth.KeyRecord, e *keyEntry) {
	u := s.used
	if u == nil || rec == nil {
		return
	}
	ep := u.epoch.Load()
	if e != nil {
		old := e.usedEpoch.Load()
		if old == ep || !e.usedEpoch.CompareAndSwap(old, ep) {
			return
		}
	}
	now := time.Now()
	u.mu.Lock()
	if t, ok := u.pending[rec.KeyID]; ok {
		if now.After(t) {
			u.pending[rec.KeyID] = now
		}
	} else if len(u.pending) < maxPendingUses {
		u.pending[rec.KeyID] = now
	}
	u.mu.Unlock()
}

func (s *Store) flushLoop(ctx context.Context) {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.usedInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.report("last-used", s.flush(ctx))
		}
	}
}

// flush writes the pending last-used times, in transactions of a few
// hundred keys; a time never moves back. What could not be written is
// kept for the next flush.
func (s *Store) flush(ctx context.Context) error {
	u := s.used
	u.mu.Lock()
	batch := u.pending
	u.pending = u.spare
	if u.pending == nil {
		u.pending = map[string]time.Time{}
	}
	u.spare = nil
	u.epoch.Add(1)
	u.mu.Unlock()

	var err error
	const chunk = 256
	ids := make([]string, 0, min(len(batch), chunk))
	for id := range batch {
		ids = append(ids, id)
		if len(ids) == chunk {
			if err = s.writeUses(ctx, ids, batch); err != nil {
				break
			}
			ids = ids[:0]
		}
	}
	if err == nil && len(ids) > 0 {
		err = s.writeUses(ctx, ids, batch)
	}

	u.mu.Lock()
	if err != nil {
		// Keep what was not written (writeUses deletes what was).
		for id, t := range batch {
			if cur, ok := u.pending[id]; !ok && len(u.pending) < maxPendingUses || ok && t.After(cur) {
				u.pending[id] = t
			}
		}
	}
	clear(batch)
	u.spare = batch
	u.mu.Unlock()
	return err
}

// writeUses writes the last-used times of ids from batch in one
// transaction, and deletes them from batch once committed.
func (s *Store) writeUses(ctx context.Context, ids []string, batch map[string]time.Time) error {
	ctx, cancel := context.WithTimeout(ctx, max(10*s.cfg.queryTimeout, time.Second))
	defer cancel()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it does nothing
	stmt, err := tx.PrepareContext(ctx, s.q.touchUsed)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for _, id := range ids {
		t := s.timeArg(batch[id])
		if _, err := stmt.ExecContext(ctx, t, id, t); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	for _, id := range ids {
		delete(batch, id)
	}
	return nil
}

// report logs a background task's failure when it starts failing, and its
// recovery, not every attempt.
func (s *Store) report(task string, err error) {
	if s.cfg.logger == nil {
		return
	}
	s.errMu.Lock()
	was := s.failed[task]
	s.failed[task] = err != nil
	s.errMu.Unlock()
	switch {
	case err != nil && !was:
		s.cfg.logger.LogAttrs(context.Background(), slog.LevelWarn, "sqlstore: background task failing",
			slog.String("task", task), slog.String("error", err.Error()))
	case err == nil && was:
		s.cfg.logger.LogAttrs(context.Background(), slog.LevelInfo, "sqlstore: background task recovered",
			slog.String("task", task))
	}
}
