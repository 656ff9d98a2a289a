package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/apiauth/apiauth/oauth"
)

// clientsRegister is "apiauth clients register".
var clientsRegister = &command{
	name:     "clients register",
	synopsis: "-id ID -tenant T [-subject S] [-scopes read,write,admin] [-tier TIER]",
	summary:  "register an OAuth client, printing its secret once",
	help: `Registers an OAuth 2.0 client for the client_credentials grant with a
generated secret (43 characters, 256 bits), and prints the secret once, on
stdout, alone on its line; only its SHA-256 digest is stored:

  SECRET=$(apiauth -db sqlite:keys.db clients register -id billing -tenant acme -scopes read,write)
`,
	setup: func(fs *flag.FlagSet) func(ctx context.Context, e *env) error {
		var (
			spec   oauth.ClientSpec
			scopes string
		)
		fs.StringVar(&spec.ID, "id", "", "the client `ID` (client_id): printable ASCII (required)")
		fs.StringVar(&spec.Tenant, "tenant", "", "the `tenant` the client acts for (required)")
		fs.StringVar(&spec.Subject, "subject", "", "the `subject` of its tokens; default: the client ID")
		fs.StringVar(&scopes, "scopes", defaultScopes, "the `scopes` it may request, separated by commas: read, write, admin or your own")
		fs.StringVar(&spec.Tier, "tier", "", "the rate-limit `tier`, as the servers' config names it; default: the servers' default tier")
		return func(ctx context.Context, e *env) error {
			if err := checkText("id", spec.ID, true); err != nil {
				return err
			}
			if !oauth.ValidClientCredential(spec.ID) {
				return usagef("-id %q: want printable ASCII (RFC 6749 appendix A.1)", spec.ID)
			}
			for _, f := range []struct {
				name, v  string
				required bool
			}{{"tenant", spec.Tenant, true}, {"subject", spec.Subject, false}, {"tier", spec.Tier, false}} {
				if err := checkText(f.name, f.v, f.required); err != nil {
					return err
				}
			}
			var err error
			if spec.Scopes, err = parseScopes(scopes); err != nil {
				return err
			}
			db, err := e.open(ctx, true)
			if err != nil {
				return err
			}
			defer db.Close()
			spec.CreatedAt = e.now()
			secret := oauth.GenerateClientSecret()
			rec, err := oauth.RegisterClient(ctx, db.store, spec, secret)
			if errors.Is(err, oauth.ErrClientExists) {
				return fmt.Errorf("client %q: already exists", spec.ID)
			}
			if err != nil {
				return err
			}
			if err := printSecret(e.stdout, secret); err != nil {
				// A client whose secret nobody has seen is of no use, and
				// a secret is never shown again: disable it.
				if derr := db.store.DisableClient(context.WithoutCancel(ctx), rec.ID, e.now()); derr != nil {
					return fmt.Errorf("cannot print the secret (%v), nor disable the client (%v): disable client %s", err, derr, rec.ID)
				}
				return fmt.Errorf("cannot print the secret (%v): disabled client %s; register another ID", err, rec.ID)
			}
			fmt.Fprintf(e.stderr, "registered client %s in tenant %s (scopes %s, tier %s); its secret is printed once, on stdout\n",
				rec.ID, rec.Tenant, scopeList(rec.Scopes), tierLabel(rec.Tier))
			return nil
		}
	},
}
