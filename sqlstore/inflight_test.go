package sqlstore_test

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/apiauth/apiauth"
	"github.com/apiauth/apiauth/sqlstore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestChangeDetachesReadInFlight: a lookup that starts after a change
// returned (or after its notification arrived) is never answered by a
// database read that started before it. A read of the old row is held in
// flight across the change; the lookup after it must read again, even
// though a lookup of the same digest is still under way.
func TestChangeDetachesReadInFlight(t *testing.T) {
	ctx := context.Background()
	type env struct {
		s, other *sqlstore.Store // other: another instance on the same file
		notify   func(payload string)
	}
	cases := []struct {
		name string
		// exists: the key is created before the read in flight;
		// otherwise that read finds nothing.
		exists bool
		change func(t *testing.T, e env, id string, d apiauth.KeyDigest)
		// seen reports whether a record (nil: not found) reflects the
		// change.
		seen func(rec *apiauth.KeyRecord) bool
	}{
		{
			name:   "RevokeKey",
			exists: true,
			change: func(t *testing.T, e env, id string, _ apiauth.KeyDigest) {
				require.NoError(t, e.s.RevokeKey(ctx, id, time.Now()))
			},
			seen: func(rec *apiauth.KeyRecord) bool { return rec != nil && !rec.RevokedAt.IsZero() },
		},
		{
			name:   "ExpireKey",
			exists: true,
			change: func(t *testing.T, e env, id string, _ apiauth.KeyDigest) {
				require.NoError(t, e.s.ExpireKey(ctx, id, time.Now(), "successor"))
			},
			seen: func(rec *apiauth.KeyRecord) bool { return rec != nil && rec.ReplacedBy == "successor" },
		},
		{
			name:   "NotifiedRevocationElsewhere",
			exists: true,
			change: func(t *testing.T, e env, id string, d apiauth.KeyDigest) {
				require.NoError(t, e.other.RevokeKey(ctx, id, time.Now()))
				e.notify(hex.EncodeToString(d[:]))
			},
			seen: func(rec *apiauth.KeyRecord) bool { return rec != nil && !rec.RevokedAt.IsZero() },
		},
		{
			name:   "CreateKey",
			exists: false,
			change: func(t *testing.T, e env, id string, d apiauth.KeyDigest) {
				require.NoError(t, e.s.CreateKey(ctx, &apiauth.KeyRecord{
					Principal: apiauth.Principal{KeyID: id, Tenant: "acme"},
					Digest:    d, CreatedAt: time.Now(),
				}))
			},
			seen: func(rec *apiauth.KeyRecord) bool { return rec != nil },
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			h := newHold("WHERE digest =")
			notified := make(chan func(string), 1)
			listener := sqlstore.ListenerFunc(func(ctx context.Context, _ string, notify func(string)) error {
				notified <- notify
				<-ctx.Done()
				return ctx.Err()
			})
			e := env{
				s: newStore(t, openHeldSQLite(t, dir, h), sqlstore.WithDialect(sqlstore.SQLite),
					sqlstore.WithPollInterval(0), sqlstore.WithListener(listener),
					sqlstore.WithQueryTimeout(time.Minute)),
				other:  newStore(t, openSQLiteIn(t, dir), sqlstore.WithPollInterval(0)),
				notify: <-notified,
			}
			key, err := apiauth.GenerateKey("")
			require.NoError(t, err)
			d := apiauth.DigestKey(key)
			const id = "key-in-flight"
			if tc.exists {
				require.NoError(t, e.other.CreateKey(ctx, &apiauth.KeyRecord{
					Principal: apiauth.Principal{KeyID: id, Tenant: "acme"},
					Digest:    d, CreatedAt: time.Now(),
				}))
			}

			// A lookup reads the row as it was, and is held in flight.
			h.armed.Store(true)
			type result struct {
				rec *apiauth.KeyRecord
				err error
			}
			lookup := func() <-chan result {
				ch := make(chan result, 1)
				go func() {
					rec, err := e.s.LookupKey(ctx, d)
					ch <- result{rec, err}
				}()
				return ch
			}
			inFlight := lookup()
			<-h.held

			tc.change(t, e, id, d)

			// A lookup that starts now must not wait for the held read,
			// nor be answered by it. Should it wait anyway (the defect),
			// the held read is let go after a while, so that the test
			// fails on the answer rather than hangs.
			after := lookup()
			var got result
			select {
			case got = <-after:
			case <-time.After(5 * time.Second):
				h.Release()
				got = <-after
			}
			h.Release()
			old := <-inFlight
			if got.err != nil && !errors.Is(got.err, apiauth.ErrKeyNotFound) {
				t.Fatalf("lookup after the change: %v", got.err)
			}
			assert.True(t, tc.seen(got.rec), "a lookup that started after the change was answered by a read that started before it: %s", describe(got.rec))
			// The read in flight started before the change: it may
			// answer its own caller with the old row, but must not
			// cache it.
			assert.False(t, tc.seen(old.rec), "the held read should have seen the row as it was")
			rec, err := e.s.LookupKey(ctx, d)
			if err != nil && !errors.Is(err, apiauth.ErrKeyNotFound) {
				t.Fatal(err)
			}
			assert.True(t, tc.seen(rec), "the read that started before the change cached the row as it was")
		})
	}
}

// describe summarizes a looked-up record for a failure message.
func describe(rec *apiauth.KeyRecord) string {
	if rec == nil {
		return "not found"
	}
	return fmt.Sprintf("key %s, revoked at %v, replaced by %q", rec.KeyID, rec.RevokedAt, rec.ReplacedBy)
}
