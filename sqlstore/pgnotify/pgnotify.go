// Package pgnotify delivers PostgreSQL notifications to a sqlstore.Store
// through the pgx driver (github.com/jackc/pgx/v5/stdlib), so that a key
// revoked through one instance is dropped from every instance's cache at
// once. It is a package of its own so that sqlstore itself depends on no
// driver.
//
//	db, err := sql.Open("pgx", url)
//	store, err := sqlstore.New(db, sqlstore.WithListener(pgnotify.New(db)))
package pgnotify

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"

	"github.com/apiauth/apiauth/sqlstore"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// New returns a sqlstore.Listener that LISTENs on a connection taken from
// db, which must have been opened with the pgx stdlib driver ("pgx"). The
// connection is held for as long as the store listens, so the pool needs
// room for one more (sql.DB.SetMaxOpenConns); when listening ends it is
// closed, never returned to the pool in the LISTEN state. It is a
// sqlstore.ReadyListener: it tells the store when it listens, so that the
// store can report a listener that recovered after losing its connection.
func New(db *sql.DB) sqlstore.Listener { return listener{db} }

// listener is the sqlstore.ReadyListener that New returns.
type listener struct{ db *sql.DB }

var _ sqlstore.ReadyListener = listener{}

// Listen implements sqlstore.Listener.
func (l listener) Listen(ctx context.Context, channel string, notify func(string)) error {
	return listen(ctx, l.db, channel, func() {}, notify)
}

// ListenReady implements sqlstore.ReadyListener.
func (l listener) ListenReady(ctx context.Context, channel string, ready func(), notify func(string)) error {
	return listen(ctx, l.db, channel, ready, notify)
}

func listen(ctx context.Context, db *sql.DB, channel string, ready func(), notify func(string)) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("pgnotify: %w", err)
	}
	defer conn.Close()
	var failure error
	_ = conn.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			failure = fmt.Errorf("pgnotify: the *sql.DB uses driver connection %T, not pgx's stdlib", dc)
			return nil
		}
		pc := sc.Conn()
		if _, err := pc.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
			failure = fmt.Errorf("pgnotify: listen: %w", err)
		} else {
			ready()
			for {
				n, err := pc.WaitForNotification(ctx)
				if err != nil {
					failure = fmt.Errorf("pgnotify: %w", err)
					break
				}
				notify(n.Payload)
			}
		}
		// The connection may be LISTENing: have database/sql close it
		// rather than give it to another user of the pool.
		return driver.ErrBadConn
	})
	if failure == nil {
		failure = errors.New("pgnotify: connection closed")
	}
	return failure
}
