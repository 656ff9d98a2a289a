package oauth

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/apiauth/apiauth"
)

// RevocationHandler returns the token revocation endpoint of RFC 7009:
// POST token (and an optional token_type_hint, which the endpoint does not
// need: it tells its tokens apart by their form), with the client's
// authentication as at the token endpoint, or the client_id alone for a
// public client (§2.1).
//
// Revoking a refresh token ends its grant: the whole refresh-token family
// and every access token issued from it, which the verifier refuses from
// the next request on (JWTIssuer's Grants check). Revoking an access token
// of the authorization-code flow ends its grant the same way (§2.1 allows
// it). A token issued to another client is refused with
// unauthorized_client, and nothing is revoked. An access token of the
// client_credentials grant or of an API key exchange belongs to no grant
// and cannot be revoked on its own (unsupported_token_type, §2.2.1): it
// expires after TTL, and an exchanged one dies at once with its API key.
// A token that is invalid, unknown, expired or already revoked gets the
// same empty 200 as a revocation (§2.2). Mount it outside
// apiauth.Authenticate.
func (is *Issuer) RevocationHandler() http.Handler {
	return endpoint(is, "revocation", is.revoke)
}

// IntrospectionHandler returns the token introspection endpoint of RFC
// 7662, for resource servers that do not verify the issuer's JWTs
// themselves: POST token (token_type_hint optional), authenticated as a
// confidential client at the token endpoint (§2.1; a public client cannot
// introspect). The answer is the token's state at that moment (§2.2):
// {"active": true, ...} with scope, client_id, token_type, exp, iat, sub,
// aud, iss, jti and tenant for a live access token; scope, client_id,
// token_type "refresh_token", exp, sub, iss and tenant for the current
// refresh token of a live grant; else {"active": false}, whatever the
// reason.
//
// Tenants stay apart: a client learns about tokens of its own tenant only,
// and about a refresh token only if it was issued to it (resource servers
// never see refresh tokens; §4 asks servers to prevent token scanning).
// Every other token is {"active": false}, exactly as an unknown one.
func (is *Issuer) IntrospectionHandler() http.Handler {
	return endpoint(is, "introspection", is.introspect)
}

// introspection is the response of RFC 7662 §2.2.
type introspection struct {
	Active    bool   `json:"active"`
	Scope     string `json:"scope,omitempty"`
	ClientID  string `json:"client_id,omitempty"`
	TokenType string `json:"token_type,omitempty"`
	Exp       int64  `json:"exp,omitempty"`
	Iat       int64  `json:"iat,omitempty"`
	Sub       string `json:"sub,omitempty"`
	Aud       string `json:"aud,omitempty"`
	Iss       string `json:"iss,omitempty"`
	Jti       string `json:"jti,omitempty"`
	Tenant    string `json:"tenant,omitempty"`
}

// accessClaims are the claims of the issuer's access tokens that
// introspection and revocation read, beyond the principal's.
type accessClaims struct {
	ClientID string `json:"client_id"`
	Jti      string `json:"jti"`
	Exp      int64  `json:"exp"`
	Iat      int64  `json:"iat"`
}

// errUnsupportedTokenType is RFC 7009 §2.2.1's answer to an access token
// that belongs to no grant.
var errUnsupportedTokenType = oauthErr(http.StatusBadRequest, "unsupported_token_type",
	"Only refresh tokens and the access tokens of an authorization grant can be revoked; this token expires on its own.")

// tokenParam reads the token parameter of a revocation or introspection
// request.
func tokenParam(form url.Values) (string, error) {
	t := form.Get("token")
	if t == "" {
		return "", oauthErr(http.StatusBadRequest, "invalid_request", "token is required.")
	}
	return t, nil
}

// isRefreshToken reports whether t has the form of the issuer's refresh
// tokens (the library's key format with their prefix); access tokens are
// JWTs.
func isRefreshToken(t string) bool {
	return strings.HasPrefix(t, refreshPrefix+"_")
}

// revoke handles one revocation request (RFC 7009 §2.1).
func (is *Issuer) revoke(r *http.Request) (*struct{}, error) {
	form, err := readForm(r)
	if err != nil {
		return nil, err
	}
	c, err := is.grantClient(r, form)
	if err != nil {
		return nil, err
	}
	token, err := tokenParam(form)
	if err != nil {
		return nil, err
	}
	ctx, now := r.Context(), is.cfg.Now()
	var grantID string
	if isRefreshToken(token) {
		if is.cfg.Grants == nil {
			return nil, nil
		}
		g, err := is.cfg.Grants.LookupRefresh(ctx, apiauth.DigestKey(token))
		switch {
		case errors.Is(err, ErrGrantNotFound):
			return nil, nil // §2.2: an invalid token is no error
		case err != nil:
			return nil, errUnavailable
		case g.ClientID != c.ID:
			return nil, errNotYourToken
		}
		grantID = g.ID
	} else {
		p, claims, err := is.verifyAccess(r, token)
		switch {
		case err != nil:
			return nil, err
		case p == nil:
			return nil, nil // invalid, expired or revoked already
		case claims.ClientID != c.ID:
			return nil, errNotYourToken
		case p.GrantID == "":
			return nil, errUnsupportedTokenType
		}
		grantID = p.GrantID
	}
	switch err := is.cfg.Grants.RevokeGrant(ctx, grantID, now); {
	case err == nil, errors.Is(err, ErrGrantNotFound):
		return nil, nil
	default:
		return nil, errUnavailable
	}
}

// errNotYourToken refuses to revoke a token issued to another client (RFC
// 7009 §2.1).
var errNotYourToken = oauthErr(http.StatusBadRequest, "unauthorized_client", "The token was not issued to this client.")

// inactive is the answer to every token introspection cannot vouch for.
var inactive = &introspection{}

// introspect handles one introspection request (RFC 7662 §2.1).
func (is *Issuer) introspect(r *http.Request) (*introspection, error) {
	form, err := readForm(r)
	if err != nil {
		return nil, err
	}
	c, err := is.authenticateClient(r, form)
	if err != nil {
		return nil, err
	}
	token, err := tokenParam(form)
	if err != nil {
		return nil, err
	}
	if isRefreshToken(token) {
		return is.introspectRefresh(r, c, token)
	}
	p, claims, err := is.verifyAccess(r, token)
	if err != nil || p == nil || p.Tenant != c.Tenant {
		return inactive, err
	}
	return &introspection{
		Active: true, Scope: scopeString(p.Scopes), ClientID: claims.ClientID, TokenType: "Bearer",
		Exp: claims.Exp, Iat: claims.Iat, Sub: p.Subject, Aud: is.cfg.Audience, Iss: is.cfg.Issuer,
		Jti: claims.Jti, Tenant: p.Tenant,
	}, nil
}

// introspectRefresh answers for a refresh token: active while it is its
// grant's current one and the grant is live, and only to its own client.
func (is *Issuer) introspectRefresh(r *http.Request, c *ClientRecord, token string) (*introspection, error) {
	if is.cfg.Grants == nil {
		return inactive, nil
	}
	d := apiauth.DigestKey(token)
	g, err := is.cfg.Grants.LookupRefresh(r.Context(), d)
	switch {
	case errors.Is(err, ErrGrantNotFound):
		return inactive, nil
	case err != nil:
		return nil, errUnavailable
	case g.ClientID != c.ID || g.Refresh != d || g.Check(is.cfg.Now()) != nil:
		return inactive, nil
	}
	exp := g.ExpiresAt
	if g.IdleExpiresAt.Before(exp) {
		exp = g.IdleExpiresAt
	}
	return &introspection{
		Active: true, Scope: scopeString(g.Scopes), ClientID: g.ClientID, TokenType: "refresh_token",
		Exp: exp.Unix(), Sub: g.Subject, Iss: is.cfg.Issuer, Tenant: g.Tenant,
	}, nil
}

// verifyAccess verifies one of the issuer's access tokens as a resource
// server would, grant and API key checks included. It returns a nil
// principal, and no error, for a token that is not live: invalid, unknown,
// expired (without leeway: the issuer's clock is the one that counts) or
// revoked; an error only when a store cannot answer.
func (is *Issuer) verifyAccess(r *http.Request, token string) (*apiauth.Principal, *accessClaims, error) {
	p, err := is.verifier.Verify(r.Context(), token)
	switch {
	case errors.Is(err, apiauth.ErrInvalidToken), errors.Is(err, apiauth.ErrTokenExpired), errors.Is(err, apiauth.ErrTokenRevoked):
		return nil, nil, nil
	case err != nil:
		return nil, nil, errUnavailable
	}
	var claims accessClaims
	if json.Unmarshal(p.Claims, &claims) != nil || !is.cfg.Now().Before(time.Unix(claims.Exp, 0)) {
		return nil, nil, nil
	}
	return p, &claims, nil
}
