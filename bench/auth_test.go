package bench

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/apiauth/apiauth"
	jwtmw2 "github.com/auth0/go-jwt-middleware/v2"
	validator2 "github.com/auth0/go-jwt-middleware/v2/validator"
	jwtmw3 "github.com/auth0/go-jwt-middleware/v3"
	validator3 "github.com/auth0/go-jwt-middleware/v3/validator"
	"github.com/go-chi/jwtauth/v5"
	"github.com/golang-jwt/jwt/v5"
	jwxjwt "github.com/lestrrat-go/jwx/v2/jwt"
)

// BenchmarkAPIKey is an API key through Authenticate + RequireScope against
// the hand-written minimal middleware (the reference), accepted and refused.
func BenchmarkAPIKey(b *testing.B) {
	k := newAPIKeys(b)
	layer := apiauth.Authenticate(k.keys)(apiauth.RequireScope(apiauth.Read)(ok200))
	minimal := minimalAPIKey(k.m, apiauth.Read)(ok200)
	b.Run("accept/minimal", func(b *testing.B) { serve(b, minimal, bearerRequest(k.key), 200) })
	b.Run("accept/apiauth", func(b *testing.B) { serve(b, layer, bearerRequest(k.key), 200) })
	// An unknown key that is not in the library's format: the store is
	// asked, and the layer answers with a problem body and a challenge.
	const unknown = "unknown-key-0123456789abcdef"
	b.Run("reject-unknown/minimal", func(b *testing.B) { serve(b, minimal, bearerRequest(unknown), 401) })
	b.Run("reject-unknown/apiauth", func(b *testing.B) { serve(b, layer, bearerRequest(unknown), 401) })
}

// accessClaims are the claims the golang-jwt baseline decodes: the ones the
// library's verifier reads.
type accessClaims struct {
	jwt.RegisteredClaims
	Scope  string `json:"scope"`
	Tenant string `json:"tenant"`
	Tier   string `json:"tier"`
}

var errClaims = errors.New("claims refused")

// bareGolangJWT is the practical limit of a JWT layer: the header parse of
// the minimal API-key middleware, jwt.ParseWithClaims with a parser built
// once, and the checks the library's verifier makes that golang-jwt can be
// asked for (algorithm, iss, aud, exp required, iat, leeway, typ at+jwt, sub
// required, lifetime at most 24 h, the scope), then the claims in the
// context. It does not refuse duplicate or case-variant claim names, crit,
// or invalid UTF-8, as the library does.
func bareGolangJWT(a *jwtAlg) http.Handler {
	p := jwt.NewParser(jwt.WithValidMethods([]string{a.name}), jwt.WithIssuer(issuer), jwt.WithAudience(audience),
		jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithLeeway(leeway))
	kf := func(t *jwt.Token) (any, error) {
		if typ, _ := t.Header["typ"].(string); !strings.EqualFold(typ, "at+jwt") {
			return nil, errClaims
		}
		return a.verify, nil
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := bearer(r)
		if !ok {
			unauthorized(w)
			return
		}
		c := new(accessClaims)
		if _, err := p.ParseWithClaims(tok, c, kf); err != nil {
			unauthorized(w)
			return
		}
		if c.Subject == "" || c.ExpiresAt.Sub(c.IssuedAt.Time) > 24*time.Hour || !hasScope(c.Scope, "read") {
			unauthorized(w)
			return
		}
		ok200.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, c)))
	})
}

// auth0Claims are the custom claims of both auth0 middlewares: their
// Validate is where auth0's README checks scopes.
type auth0Claims struct {
	Scope  string `json:"scope"`
	Tenant string `json:"tenant"`
	Tier   string `json:"tier"`
}

func (c *auth0Claims) Validate(context.Context) error {
	if !hasScope(c.Scope, "read") {
		return errClaims
	}
	return nil
}

// auth0V2 is auth0/go-jwt-middleware v2 (go-jose v2) as its README sets it
// up, with the same issuer, audience, algorithm and leeway. It does not
// require exp or sub, nor check typ or the lifetime.
func auth0V2(b *testing.B, a *jwtAlg) http.Handler {
	v, err := validator2.New(func(context.Context) (any, error) { return a.verify, nil },
		validator2.SignatureAlgorithm(a.name), issuer, []string{audience},
		validator2.WithAllowedClockSkew(leeway),
		validator2.WithCustomClaims(func() validator2.CustomClaims { return &auth0Claims{} }))
	if err != nil {
		b.Fatal(err)
	}
	return jwtmw2.New(v.ValidateToken).CheckJWT(ok200)
}

// auth0V3 is auth0/go-jwt-middleware v3 (lestrrat-go/jwx v3), configured
// like auth0V2.
func auth0V3(b *testing.B, a *jwtAlg) http.Handler {
	v, err := validator3.New(
		validator3.WithKeyFunc(func(context.Context) (any, error) { return a.verify, nil }),
		validator3.WithAlgorithm(validator3.SignatureAlgorithm(a.name)),
		validator3.WithIssuer(issuer), validator3.WithAudience(audience),
		validator3.WithAllowedClockSkew(leeway),
		validator3.WithCustomClaims(func() *auth0Claims { return &auth0Claims{} }))
	if err != nil {
		b.Fatal(err)
	}
	mw, err := jwtmw3.New(jwtmw3.WithValidator(v))
	if err != nil {
		b.Fatal(err)
	}
	return mw.CheckJWT(ok200)
}

// chiJWTAuth is go-chi/jwtauth v5 (lestrrat-go/jwx v2) as its README chains
// it, Verifier then Authenticator, with the same issuer, audience, leeway
// and exp required, and the scope checked by a handler after it. It does
// not check typ, sub or the lifetime.
func chiJWTAuth(a *jwtAlg) http.Handler {
	ja := jwtauth.New(a.name, nil, a.verify, jwxjwt.WithIssuer(issuer), jwxjwt.WithAudience(audience),
		jwxjwt.WithAcceptableSkew(leeway), jwxjwt.WithRequiredClaim("exp"))
	scope := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, claims, _ := jwtauth.FromContext(r.Context())
		if s, _ := claims["scope"].(string); !hasScope(s, "read") {
			unauthorized(w)
			return
		}
		ok200.ServeHTTP(w, r)
	})
	return jwtauth.Verifier(ja)(jwtauth.Authenticator(ja)(scope))
}

// jwtRows are the implementations compared for one algorithm, the
// reference first.
func jwtRows(b *testing.B, a *jwtAlg) []struct {
	name string
	h    http.Handler
} {
	layer := func(cache int) http.Handler {
		return apiauth.Authenticate(apiauthJWT(b, a, cache))(apiauth.RequireScope(apiauth.Read)(ok200))
	}
	return []struct {
		name string
		h    http.Handler
	}{
		{"golang-jwt-bare", bareGolangJWT(a)},
		{"apiauth-uncached", layer(-1)},
		{"apiauth-cached", layer(0)},
		{"auth0-v2", auth0V2(b, a)},
		{"auth0-v3", auth0V3(b, a)},
		{"jwtauth-v5", chiJWTAuth(a)},
	}
}

// BenchmarkJWT is a valid access token through each implementation, per
// algorithm.
func BenchmarkJWT(b *testing.B) {
	for _, a := range algs {
		for _, row := range jwtRows(b, a) {
			b.Run(a.name+"/"+row.name, func(b *testing.B) { serve(b, row.h, bearerRequest(a.good), 200) })
		}
	}
}

// BenchmarkJWTReject is a token whose signature is made with another key:
// 401 from each implementation. The library checks an HMAC signature before
// it decodes the claims, and a public-key signature after.
func BenchmarkJWTReject(b *testing.B) {
	for _, a := range algs {
		for _, row := range jwtRows(b, a) {
			if row.name == "apiauth-cached" {
				continue // a refused token is never cached
			}
			b.Run(a.name+"-bad-signature/"+row.name, func(b *testing.B) { serve(b, row.h, bearerRequest(a.bad), 401) })
		}
	}
}
