package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/apiauth/apiauth"
)

// keysCreate is "apiauth keys create".
var keysCreate = &command{
	name:     "keys create",
	synopsis: "-tenant T [-subject S] [-scopes read,write,admin] [-tier TIER] [-name N] [-expires RFC3339|DURATION] [-prefix sk_live]",
	summary:  "create an API key, printed once",
	help: `Creates an API key and prints it once, on stdout, alone on its line; only
its SHA-256 digest is stored. The first admin key of an empty database:

  KEY=$(apiauth -db sqlite:keys.db keys create -tenant acme -subject ops@acme -scopes admin -name bootstrap)
`,
	setup: func(fs *flag.FlagSet) func(ctx context.Context, e *env) error {
		var (
			spec                   apiauth.KeySpec
			scopes, expires, prefx string
		)
		fs.StringVar(&spec.Tenant, "tenant", "", "the `tenant` the key acts for (required)")
		fs.StringVar(&spec.Subject, "subject", "", "the `subject` the key stands for, such as ops@acme")
		fs.StringVar(&scopes, "scopes", defaultScopes, "the key's `scopes`, separated by commas: read, write, admin (which grants write and read) or your own")
		fs.StringVar(&spec.Tier, "tier", "", "the rate-limit `tier`, as the servers' config names it; default: the servers' default tier")
		fs.StringVar(&spec.Name, "name", "", "a `label` for people, such as \"billing integration\"")
		fs.StringVar(&expires, "expires", "", "when the key stops working: an RFC 3339 `time` or a duration from now (90d, 720h); default: never")
		fs.StringVar(&prefx, "prefix", apiauth.DefaultKeyPrefix, "the key's `prefix`, 1 to 32 characters of [A-Za-z0-9_], for secret scanners")
		return func(ctx context.Context, e *env) error {
			for _, f := range []struct {
				name, v  string
				required bool
			}{{"tenant", spec.Tenant, true}, {"subject", spec.Subject, false}, {"tier", spec.Tier, false}, {"name", spec.Name, false}} {
				if err := checkText(f.name, f.v, f.required); err != nil {
					return err
				}
			}
			var err error
			if spec.Scopes, err = parseScopes(scopes); err != nil {
				return err
			}
			if expires != "" {
				if spec.ExpiresAt, err = parseExpires(expires, e.now()); err != nil {
					return err
				}
			}
			if err := checkPrefix(prefx); err != nil {
				return err
			}
			db, err := e.open(ctx, true)
			if err != nil {
				return err
			}
			defer db.Close()
			keys := &apiauth.Keys{Store: db.store, Prefix: prefx, Now: e.now}
			key, rec, err := keys.Create(ctx, spec)
			if err != nil {
				return err
			}
			if err := printSecret(e.stdout, key); err != nil {
				return revokeUnprinted(ctx, keys, rec.ID(), err)
			}
			fmt.Fprintf(e.stderr, "created key %s in tenant %s (fingerprint %s, scopes %s, tier %s, expires %s); it is printed once, on stdout\n",
				rec.ID(), rec.Tenant, rec.Fingerprint(), scopeList(rec.Scopes), tierLabel(rec.Tier), timeLabel(rec.ExpiresAt, "never"))
			return nil
		}
	},
}

// checkPrefix checks a -prefix value.
func checkPrefix(prefix string) error {
	if _, err := apiauth.GenerateKey(prefix); err != nil || prefix == "" {
		return usagef("-prefix %q: want 1 to 32 characters of [A-Za-z0-9_], such as sk_live", prefix)
	}
	return nil
}

// printSecret writes a new key or client secret to w, alone on its line.
func printSecret(w io.Writer, secret string) error {
	_, err := io.WriteString(w, secret+"\n")
	return err
}

// revokeUnprinted revokes the key id, stored but not printed because of
// printErr, so that no key nobody has seen is left working.
func revokeUnprinted(ctx context.Context, keys *apiauth.Keys, id string, printErr error) error {
	if err := keys.Revoke(context.WithoutCancel(ctx), id); err != nil {
		return fmt.Errorf("cannot print the new key (%v), nor revoke it (%v): revoke key %s", printErr, err, id)
	}
	return fmt.Errorf("cannot print the new key (%v): revoked it, key %s", printErr, id)
}

// keysList is "apiauth keys list".
var keysList = &command{
	name:     "keys list",
	synopsis: "-tenant T [-json]",
	summary:  "list a tenant's keys, never a secret",
	help: `Lists a tenant's keys, oldest first, revoked and expired ones included, on
stdout: a table, or with -json one JSON object a line. A listing shows a
key's ID and fingerprint (the first 8 hex digits of its SHA-256 digest),
never the key.
`,
	setup: func(fs *flag.FlagSet) func(ctx context.Context, e *env) error {
		var (
			tenant string
			asJSON bool
		)
		fs.StringVar(&tenant, "tenant", "", "the `tenant` whose keys to list (required)")
		fs.BoolVar(&asJSON, "json", false, "print one JSON object a line, with the demo admin listing's fields")
		return func(ctx context.Context, e *env) error {
			if err := checkText("tenant", tenant, true); err != nil {
				return err
			}
			db, err := e.open(ctx, false)
			if err != nil {
				return err
			}
			defer db.Close()
			recs, err := apiauth.NewKeys(db.store).List(ctx, tenant)
			if err != nil {
				return err
			}
			if len(recs) == 0 {
				fmt.Fprintf(e.stderr, "no keys in tenant %s\n", tenant)
				return nil
			}
			now := e.now()
			if asJSON {
				return writeJSONLines(e.stdout, recs, now)
			}
			return writeTable(e.stdout, recs, now)
		}
	},
}

// keyView is what a listing shows of a key, under the names of the demo's
// admin listing: its ID and metadata, never the key or its digest.
type keyView struct {
	ID          string          `json:"id"`
	Name        string          `json:"name"`
	Fingerprint string          `json:"fingerprint"`
	Subject     string          `json:"subject"`
	Tenant      string          `json:"tenant"`
	Scopes      []apiauth.Scope `json:"scopes"`
	Tier        string          `json:"tier"`
	Status      string          `json:"status"`
	CreatedAt   time.Time       `json:"created_at"`
	ExpiresAt   *time.Time      `json:"expires_at"`
	RevokedAt   *time.Time      `json:"revoked_at"`
	ReplacedBy  string          `json:"replaced_by,omitempty"`
	LastUsedAt  *time.Time      `json:"last_used_at"`
}

// viewKey returns the view of rec as of now.
func viewKey(rec *apiauth.KeyRecord, now time.Time) keyView {
	scopes := rec.Scopes
	if scopes == nil {
		scopes = []apiauth.Scope{}
	}
	return keyView{
		ID:          rec.ID(),
		Name:        rec.Name,
		Fingerprint: rec.Fingerprint(),
		Subject:     rec.Subject,
		Tenant:      rec.Tenant,
		Scopes:      scopes,
		Tier:        rec.Tier,
		Status:      keyStatus(rec, now),
		CreatedAt:   rec.CreatedAt.UTC(),
		ExpiresAt:   timePtr(rec.ExpiresAt),
		RevokedAt:   timePtr(rec.RevokedAt),
		ReplacedBy:  rec.ReplacedBy,
		LastUsedAt:  timePtr(rec.LastUsedAt),
	}
}

// keyStatus is "active", "revoked" or "expired", as of now.
func keyStatus(rec *apiauth.KeyRecord, now time.Time) string {
	switch {
	case !rec.RevokedAt.IsZero() && !now.Before(rec.RevokedAt):
		return "revoked"
	case !rec.ExpiresAt.IsZero() && !now.Before(rec.ExpiresAt):
		return "expired"
	}
	return "active"
}

// timePtr returns nil for the zero time, so that JSON shows null.
func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

// writeJSONLines writes one JSON object a key.
func writeJSONLines(w io.Writer, recs []*apiauth.KeyRecord, now time.Time) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, rec := range recs {
		if err := enc.Encode(viewKey(rec, now)); err != nil {
			return fmt.Errorf("cannot write the listing: %w", err)
		}
	}
	return nil
}

// writeTable writes a table of the keys, a key a line.
func writeTable(w io.Writer, recs []*apiauth.KeyRecord, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tSUBJECT\tSCOPES\tTIER\tSTATUS\tCREATED\tEXPIRES\tLAST USED\tFINGERPRINT")
	for _, rec := range recs {
		scopes := "-"
		if len(rec.Scopes) > 0 {
			scopes = scopeList(rec.Scopes)
		}
		fmt.Fprintln(tw, strings.Join([]string{
			cell(rec.ID()), cell(rec.Name), cell(rec.Subject), cell(scopes), cell(rec.Tier),
			keyStatus(rec, now), timeLabel(rec.CreatedAt, "-"), timeLabel(rec.ExpiresAt, "-"),
			timeLabel(rec.LastUsedAt, "-"), rec.Fingerprint(),
		}, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("cannot write the listing: %w", err)
	}
	return nil
}

// cell shows a value in a table: "-" when empty, quoted when it holds a
// space, a control character or bytes that are not UTF-8, so that a key is
// one line and its columns stay apart.
func cell(s string) string {
	if s == "" {
		return "-"
	}
	if !utf8.ValidString(s) || strings.IndexFunc(s, func(r rune) bool { return unicode.IsControl(r) || unicode.IsSpace(r) }) >= 0 {
		return strconv.Quote(s)
	}
	return s
}

// keysRotate is "apiauth keys rotate".
var keysRotate = &command{
	name:     "keys rotate",
	synopsis: "-id ID [-grace 24h] [-prefix sk_live]",
	summary:  "replace a key, printing the new one once",
	help: `Creates a key with the same tenant, subject, scopes, tier, name and expiry as
key ID, prints it once, on stdout, alone on its line, and lets the old key
work for the grace period more (not past its own expiry). A revoked or
expired key cannot be rotated.
`,
	setup: func(fs *flag.FlagSet) func(ctx context.Context, e *env) error {
		var id, grace, prefx string
		fs.StringVar(&id, "id", "", "the `ID` of the key to replace, as keys list shows it (required)")
		fs.StringVar(&grace, "grace", "24h", "how long the old key keeps working: a `duration` (0s, 24h, 7d)")
		// Only a key's digest is stored, not its prefix: a key created
		// with another prefix needs it again.
		fs.StringVar(&prefx, "prefix", apiauth.DefaultKeyPrefix, "the new key's `prefix`, 1 to 32 characters of [A-Za-z0-9_]")
		return func(ctx context.Context, e *env) error {
			if err := checkText("id", id, true); err != nil {
				return err
			}
			g, err := parseDuration(grace)
			if err != nil || g < 0 {
				return usagef("-grace %q: want a duration of 0 or more, such as 24h or 7d", grace)
			}
			if err := checkPrefix(prefx); err != nil {
				return err
			}
			db, err := e.open(ctx, false)
			if err != nil {
				return err
			}
			defer db.Close()
			keys := &apiauth.Keys{Store: db.store, Prefix: prefx, Now: e.now}
			old, err := keys.Store.GetKey(ctx, id)
			if err != nil {
				return keyError(id, err)
			}
			key, rec, err := keys.Rotate(ctx, id, g)
			if err != nil {
				return keyError(id, err)
			}
			until := e.now().Add(g)
			if !old.ExpiresAt.IsZero() && old.ExpiresAt.Before(until) {
				until = old.ExpiresAt
			}
			if err := printSecret(e.stdout, key); err != nil {
				err = revokeUnprinted(ctx, keys, rec.ID(), err)
				return fmt.Errorf("%w; key %s still stops working at %s: rotate it again", err, id, timeLabel(until, "never"))
			}
			fmt.Fprintf(e.stderr, "rotated key %s: its replacement %s (fingerprint %s) is printed once, on stdout; %s works until %s\n",
				id, rec.ID(), rec.Fingerprint(), id, timeLabel(until, "never"))
			return nil
		}
	},
}

// keyError says what went wrong with key id, in a message that names it.
func keyError(id string, err error) error {
	switch {
	case errors.Is(err, apiauth.ErrKeyNotFound):
		return fmt.Errorf("key %q: not found", id)
	case errors.Is(err, apiauth.ErrTokenRevoked):
		return fmt.Errorf("key %q: revoked; a revoked key cannot be rotated: create a new one", id)
	case errors.Is(err, apiauth.ErrTokenExpired):
		return fmt.Errorf("key %q: expired; an expired key cannot be rotated: create a new one", id)
	}
	return err
}

// keysRevoke is "apiauth keys revoke".
var keysRevoke = &command{
	name:     "keys revoke",
	synopsis: "-id ID",
	summary:  "revoke a key",
	help: `Revokes key ID from now on. Servers on PostgreSQL refuse it at once; on
SQLite, within their poll interval (0.5 s by default); at worst within
their cache TTL (5 s by default). A revocation is never undone.
`,
	setup: func(fs *flag.FlagSet) func(ctx context.Context, e *env) error {
		var id string
		fs.StringVar(&id, "id", "", "the `ID` of the key to revoke, as keys list shows it (required)")
		return func(ctx context.Context, e *env) error {
			if err := checkText("id", id, true); err != nil {
				return err
			}
			db, err := e.open(ctx, false)
			if err != nil {
				return err
			}
			defer db.Close()
			keys := &apiauth.Keys{Store: db.store, Now: e.now}
			rec, err := keys.Store.GetKey(ctx, id)
			if err != nil {
				return keyError(id, err)
			}
			if !rec.RevokedAt.IsZero() && !e.now().Before(rec.RevokedAt) {
				fmt.Fprintf(e.stderr, "key %s was already revoked at %s; unchanged\n", id, timeLabel(rec.RevokedAt, "-"))
				return nil
			}
			if err := keys.Revoke(ctx, id); err != nil {
				return keyError(id, err)
			}
			fmt.Fprintf(e.stderr, "revoked key %s (tenant %s, fingerprint %s)\n", id, rec.Tenant, rec.Fingerprint())
			return nil
		}
	},
}
