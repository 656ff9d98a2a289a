// Package dbflag parses the -db flag that apiauth-demo and the apiauth CLI
// share: sqlite:PATH, or a postgres:// or postgresql:// URL.
package dbflag

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

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
