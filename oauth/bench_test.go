package oauth_test

import (
	"context"
	"testing"
	"time"

	"github.com/apiauth/apiauth"
	"github.com/apiauth/apiauth/oauth"
)

// BenchmarkVerify is the verifier's cost per request for the issuer's
// tokens, cached (the same token again, as a client sends it): a token of
// client_credentials, and one of the authorization-code flow, whose grant
// the verifier looks up on every request (MemoryGrantStore here; see
// sqlstore's BenchmarkGetGrant for the database store).
func BenchmarkVerify(b *testing.B) {
	ctx := context.Background()
	grants := oauth.NewMemoryGrantStore()
	issuer, err := oauth.NewIssuer(oauth.Config{Issuer: "https://as.example", Audience: "api",
		Clients: oauth.NewMemoryClientStore(), Grants: grants, Users: signIn})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	code, refresh := apiauth.DigestKey("ac_bench-code"), apiauth.DigestKey("rt_bench-refresh")
	if err := grants.CreateCode(ctx, &oauth.Code{Digest: code, GrantID: "gr_bench", ClientID: "app", Subject: "alice", Tenant: "acme",
		Scopes: []apiauth.Scope{apiauth.Read}, CreatedAt: now, ExpiresAt: now.Add(time.Minute), GrantExpiresAt: now.Add(time.Hour)}); err != nil {
		b.Fatal(err)
	}
	if _, err := grants.RedeemCode(ctx, code, refresh, now, time.Hour); err != nil {
		b.Fatal(err)
	}
	verifier, err := apiauth.NewJWTVerifier(apiauth.JWTOptions{}, issuer.JWTIssuer())
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name  string
		grant string
	}{{"client", ""}, {"grant", "gr_bench"}} {
		token, _, err := issuer.Issue(&apiauth.Principal{Subject: "alice", Tenant: "acme", Scopes: []apiauth.Scope{apiauth.Read}, GrantID: bc.grant})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := verifier.Verify(ctx, token); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
