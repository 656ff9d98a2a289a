// Package dbflag parses the -db flag that apiauth-demo and the apiauth CLI
// share: sqlite:PATH, or a postgres:// or postgresql:// URL.
package dbflag

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Kinds of database a -db value names.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// Spec is a parsed -db value.
type Spec struct {
	// Kind is SQLite or Postgres.
	Kind string
	// Path is the SQLite file, made absolute.
	Path string
	// URL is the PostgreSQL URL, password and all.
	URL string
	// Display names the database in messages and logs, without a password.
	Display string
}

// Parse parses a non-empty -db value; example is a SQLite value to show in
// errors (such as sqlite:demo.db). Its errors are one line, start with
// "-db", and never show a password.
func Parse(s, example string) (Spec, error) {
	want := "want sqlite:PATH (such as " + example + ") or a postgres:// URL"
	switch {
	case strings.HasPrefix(s, "sqlite:"):
		path := strings.TrimPrefix(s, "sqlite:")
		// sqlite:///abs/path is the URL spelling of sqlite:/abs/path;
		// sqlite://host/... names no file.
		if strings.HasPrefix(path, "//") {
			if !strings.HasPrefix(path, "///") {
				return Spec{}, fmt.Errorf("-db %q: %s", s, want)
			}
			path = path[2:]
		}
		if path == "" {
			return Spec{}, fmt.Errorf("-db %q: empty path; %s", s, want)
		}
		if strings.ContainsRune(path, 0) {
			return Spec{}, fmt.Errorf("-db: the path holds a NUL byte; %s", want)
		}
		abs, err := filepath.Abs(path)
		if err != nil {
			return Spec{}, fmt.Errorf("-db %q: %v", s, err)
		}
		return Spec{Kind: SQLite, Path: abs, Display: "sqlite:" + abs}, nil
	case strings.HasPrefix(s, "postgres://"), strings.HasPrefix(s, "postgresql://"):
		display := Redact(s)
		u, err := url.Parse(s)
		if err != nil || u.Host == "" {
			return Spec{}, fmt.Errorf("-db %q: not a valid URL; %s", display, want)
		}
		// pgx has the last word on what it can connect with. Its errors
		// mask the password too.
		if _, err := pgx.ParseConfig(s); err != nil {
			return Spec{}, fmt.Errorf("-db %q: %s", display, OneLine(err.Error()))
		}
		return Spec{Kind: Postgres, URL: s, Display: display}, nil
	}
	return Spec{}, fmt.Errorf("-db %q: %s", Redact(s), want)
}

// Redact returns s with the password of a URL masked, for messages and
// logs. A value that does not parse as a URL but may hold credentials is
// not shown at all.
func Redact(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Redacted()
	}
	if strings.Contains(s, "@") {
		return "(value not shown: it may hold a password)"
	}
	return s
}

// OneLine joins the lines of a multi-line error message.
func OneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// IsDir reports whether path is a directory.
func IsDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

// SQLiteDSN is the data source name the commands open a SQLite file with:
// WAL, so that lookups do not wait for writers; a busy timeout, so that
// writers wait for each other rather than fail.
func SQLiteDSN(path string) string {
	return "file:" + (&url.URL{Path: path}).EscapedPath() +
		"?_pragma=busy_timeout(5000)&_pragma=journal_mode(wal)&_pragma=synchronous(normal)"
}

// Ping pings db until it answers, fails otherwise than with SQLite's
// SQLITE_BUSY, or ctx ends. Processes that open a new SQLite file at once
// race to switch it to WAL, and the losers get SQLITE_BUSY when they
// connect, whatever the busy timeout: they wait and try again, as writers
// do.
func Ping(ctx context.Context, db *sql.DB) error {
	for {
		err := db.PingContext(ctx)
		if err == nil || !strings.Contains(err.Error(), "SQLITE_BUSY") {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(10 * time.Millisecond):
		}
	}
}
