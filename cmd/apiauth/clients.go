package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/apiauth/apiauth/oauth"
)

// clientsRegister is "apiauth clients register".
var clientsRegister = &command{
	name:     "clients register",
	synopsis: "-id ID -tenant T [-name N] [-public] [-redirect-uri URI]... [-subject S] [-scopes read,write,admin] [-tier TIER]",
	summary:  "register an OAuth client, printing its secret once",
	help: `Registers an OAuth 2.0 client for the client_credentials grant with a
generated secret (43 characters, 256 bits), and prints the secret once, on
stdout, alone on its line; only its SHA-256 digest is stored:

  SECRET=$(apiauth -db sqlite:keys.db clients register -id billing -tenant acme -scopes read,write)

With -public, a public client (a native or browser app, RFC 6749 §2.1):
it has no secret, and nothing is printed on stdout. -redirect-uri gives
one redirection endpoint; repeat the flag for each (a URI may hold a
comma, so there is no list syntax):

  apiauth clients register -id orders-app -public -tenant acme \
      -redirect-uri com.example.orders:/cb -redirect-uri http://127.0.0.1/cb
`,
	setup: func(fs *flag.FlagSet) func(ctx context.Context, e *env) error {
		var (
			spec   oauth.ClientSpec
			scopes string
			uris   repeatedFlag
		)
		fs.StringVar(&spec.ID, "id", "", "the client `ID` (client_id): printable ASCII (required)")
		fs.StringVar(&spec.Tenant, "tenant", "", "the `tenant` the client acts for (required)")
		fs.StringVar(&spec.Name, "name", "", "the `name` a consent page shows users; default: the client ID")
		fs.BoolVar(&spec.Public, "public", false, "a public client (native or browser app): no secret, none printed")
		fs.Var(&uris, "redirect-uri", "a redirection `URI` of the client, repeated for each: https, http to a loopback IP address,\n"+
			"or a private-use scheme such as com.example.app:/cb")
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
			}{{"tenant", spec.Tenant, true}, {"name", spec.Name, false}, {"subject", spec.Subject, false}, {"tier", spec.Tier, false}} {
				if err := checkText(f.name, f.v, f.required); err != nil {
					return err
				}
			}
			for _, u := range uris {
				if err := oauth.CheckRedirectURI(u); err != nil {
					return usagef("-redirect-uri %q: %v", u, err)
				}
				if looksLikeList(u) {
					return usagef("-redirect-uri %q: a list? give -redirect-uri once for each URI", u)
				}
			}
			spec.RedirectURIs = uris
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
			secret := ""
			if !spec.Public {
				secret = oauth.GenerateClientSecret()
			}
			rec, err := oauth.RegisterClient(ctx, db.store, spec, secret)
			if errors.Is(err, oauth.ErrClientExists) {
				return fmt.Errorf("client %q: already exists", spec.ID)
			}
			if err != nil {
				return err
			}
			if spec.Public {
				who, details := clientSummary(rec)
				fmt.Fprintf(e.stderr, "registered public client %s in tenant %s (%s); it has no secret\n", who, rec.Tenant, details)
				return nil
			}
			if err := printSecret(e.stdout, secret); err != nil {
				// A client whose secret nobody has seen is of no use, and
				// a secret is never shown again: disable it.
				if derr := db.store.DisableClient(context.WithoutCancel(ctx), rec.ID, e.now()); derr != nil {
					return fmt.Errorf("cannot print the secret (%v), nor disable the client (%v): disable client %s", err, derr, rec.ID)
				}
				return fmt.Errorf("cannot print the secret (%v): disabled client %s; register another ID", err, rec.ID)
			}
			who, details := clientSummary(rec)
			fmt.Fprintf(e.stderr, "registered client %s in tenant %s (%s); its secret is printed once, on stdout\n", who, rec.Tenant, details)
			return nil
		}
	},
}

// clientSummary describes a registered client for stderr, on one line
// (names and URIs quoted): who is its ID, and its name when it has one;
// details its scopes, tier and redirect URIs, such as
//
//	billing "Billing service"
//	scopes read,write, tier pro, redirect URIs "https://billing.example/cb"
func clientSummary(c *oauth.ClientRecord) (who, details string) {
	who = c.ID
	if c.Name != "" {
		who += fmt.Sprintf(" %q", c.Name)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "scopes %s, tier %s", scopeList(c.Scopes), tierLabel(c.Tier))
	if len(c.RedirectURIs) > 0 {
		b.WriteString(", redirect URIs")
		for _, u := range c.RedirectURIs {
			fmt.Fprintf(&b, " %q", u)
		}
	}
	return who, b.String()
}

// repeatedFlag is a flag given once per value, such as -redirect-uri.
type repeatedFlag []string

func (f *repeatedFlag) String() string { return strings.Join(*f, " ") }

func (f *repeatedFlag) Set(v string) error {
	*f = append(*f, v)
	return nil
}

// looksLikeList reports whether u is URIs joined by commas, each of them a
// valid redirect URI: the whole is one too (a path may hold a comma and
// "https:"), but one no one means, given to a flag that takes one URI.
func looksLikeList(u string) bool {
	parts := strings.Split(u, ",")
	if len(parts) < 2 {
		return false
	}
	for _, p := range parts {
		if oauth.CheckRedirectURI(p) != nil {
			return false
		}
	}
	return true
}
