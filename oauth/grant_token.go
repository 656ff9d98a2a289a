package oauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/apiauth/apiauth"
)

// The prefixes of authorization codes and refresh tokens, in the library's
// key format (apiauth.GenerateKey): a scanner tells them from API keys.
const (
	codePrefix    = "ac"
	refreshPrefix = "rt"
)

// grantDefaults fills in the authorization-code flow's settings.
func grantDefaults(cfg *Config) error {
	if cfg.CodeTTL <= 0 {
		cfg.CodeTTL = time.Minute
	}
	if cfg.CodeTTL > 10*time.Minute {
		return fmt.Errorf("oauth: issuer: CodeTTL %v: RFC 6749 §4.1.2 allows at most 10 minutes", cfg.CodeTTL)
	}
	if cfg.RefreshIdle <= 0 {
		cfg.RefreshIdle = 30 * 24 * time.Hour
	}
	if cfg.RefreshTTL <= 0 {
		cfg.RefreshTTL = 90 * 24 * time.Hour
	}
	if cfg.RefreshTTL <= cfg.CodeTTL {
		return fmt.Errorf("oauth: issuer: RefreshTTL %v must be longer than CodeTTL %v: a grant starts when its code is issued", cfg.RefreshTTL, cfg.CodeTTL)
	}
	return nil
}

// grantClient is the client of an authorization_code or refresh_token
// request: a confidential client authenticated as for client_credentials,
// or a public one that sends its client_id alone (RFC 6749 §4.1.3).
func (is *Issuer) grantClient(r *http.Request, form url.Values) (*ClientRecord, error) {
	if r.Header.Get("Authorization") != "" || form.Has("client_secret") {
		return is.authenticateClient(r, form)
	}
	id := form.Get("client_id")
	if id == "" || is.cfg.Clients == nil {
		return nil, errInvalidClient
	}
	c, err := is.cfg.Clients.GetClient(r.Context(), id)
	switch {
	case errors.Is(err, ErrClientNotFound):
		return nil, errInvalidClient
	case err != nil:
		return nil, errUnavailable
	case !c.Public:
		return nil, errInvalidClient // a confidential client authenticates
	case c.disabled(is.cfg.Now()):
		return nil, errInvalidClient
	}
	return c, nil
}

// authorizationCode is the grant of RFC 6749 §4.1.3 with PKCE (RFC 7636
// §4.5): the code is redeemed once, by the client it was issued to, with
// its redirect URI and the verifier of its challenge. A code redeemed
// twice revokes every token issued from it (§4.1.2); a request that
// fails the checks spends the code and ends its grant.
func (is *Issuer) authorizationCode(r *http.Request, form url.Values) (*tokenResponse, error) {
	if is.cfg.Grants == nil {
		return nil, oauthErr(http.StatusBadRequest, "unsupported_grant_type", "authorization_code is not enabled.")
	}
	c, err := is.grantClient(r, form)
	if err != nil {
		return nil, err
	}
	code, verifier := form.Get("code"), form.Get("code_verifier")
	if code == "" || !validPKCE(verifier) {
		return nil, oauthErr(http.StatusBadRequest, "invalid_request", "code and a code_verifier (RFC 7636) are required.")
	}
	refresh, err := apiauth.GenerateKey(refreshPrefix)
	if err != nil {
		return nil, errUnavailable
	}
	ctx, now := r.Context(), is.cfg.Now()
	got, err := is.cfg.Grants.RedeemCode(ctx, apiauth.DigestKey(code), apiauth.DigestKey(refresh), now, is.cfg.RefreshIdle)
	switch {
	case errors.Is(err, ErrCodeUsed):
		if got != nil {
			_ = is.cfg.Grants.RevokeGrant(ctx, got.GrantID, now)
		}
		return nil, oauthErr(http.StatusBadRequest, "invalid_grant", "The code has been used; the tokens issued from it are revoked.")
	case errors.Is(err, ErrGrantNotFound), errors.Is(err, ErrCodeExpired):
		return nil, oauthErr(http.StatusBadRequest, "invalid_grant", "The code is invalid or has expired.")
	case err != nil:
		return nil, errUnavailable
	}
	if got.ClientID != c.ID || got.RedirectURI != form.Get("redirect_uri") || s256(verifier) != got.Challenge {
		_ = is.cfg.Grants.RevokeGrant(ctx, got.GrantID, now)
		return nil, oauthErr(http.StatusBadRequest, "invalid_grant", "The code was not issued to this client, for this redirect URI and verifier.")
	}
	p := &apiauth.Principal{Subject: got.Subject, Tenant: got.Tenant, Tier: got.Tier, Scopes: got.Scopes, GrantID: got.GrantID}
	resp, err := is.issue(p, c.ID, now, now.Add(is.cfg.TTL), false)
	if err != nil {
		return nil, err
	}
	resp.RefreshToken = refresh
	return resp, nil
}

// refreshToken is the grant of RFC 6749 §6: the refresh token is rotated
// on every use, and a token used twice ends its whole family (RFC 9700
// §4.14.2). The scope may narrow, never widen.
func (is *Issuer) refreshToken(r *http.Request, form url.Values) (*tokenResponse, error) {
	if is.cfg.Grants == nil {
		return nil, oauthErr(http.StatusBadRequest, "unsupported_grant_type", "refresh_token is not enabled.")
	}
	c, err := is.grantClient(r, form)
	if err != nil {
		return nil, err
	}
	old := form.Get("refresh_token")
	if old == "" {
		return nil, oauthErr(http.StatusBadRequest, "invalid_request", "refresh_token is required.")
	}
	ctx, now := r.Context(), is.cfg.Now()
	g, err := is.cfg.Grants.LookupRefresh(ctx, apiauth.DigestKey(old))
	if err != nil {
		return nil, refreshError(err)
	}
	if g.ClientID != c.ID {
		return nil, oauthErr(http.StatusBadRequest, "invalid_grant", "The refresh token was not issued to this client.")
	}
	scopes := g.Scopes
	if s := form.Get("scope"); s != "" {
		if scopes, err = narrower(g.Scopes, s); err != nil {
			return nil, err
		}
	}
	next, err := apiauth.GenerateKey(refreshPrefix)
	if err != nil {
		return nil, errUnavailable
	}
	if g, err = is.cfg.Grants.RotateRefresh(ctx, apiauth.DigestKey(old), apiauth.DigestKey(next), now, is.cfg.RefreshIdle); err != nil {
		return nil, refreshError(err)
	}
	p := &apiauth.Principal{Subject: g.Subject, Tenant: g.Tenant, Tier: g.Tier, Scopes: scopes, GrantID: g.ID}
	exp := now.Add(is.cfg.TTL)
	resp, err := is.issue(p, c.ID, now, exp, false)
	if err != nil {
		return nil, err
	}
	resp.RefreshToken = next
	return resp, nil
}

// narrower parses a refresh request's scope, which may only narrow the
// grant's (RFC 6749 §6).
func narrower(granted []apiauth.Scope, scope string) ([]apiauth.Scope, error) {
	want, err := apiauth.ParseScopes(scope)
	if err != nil {
		return nil, oauthErr(http.StatusBadRequest, "invalid_scope", "The scope is malformed.")
	}
	p := apiauth.Principal{Scopes: granted}
	for _, s := range want {
		if !p.HasScope(s) {
			return nil, oauthErr(http.StatusBadRequest, "invalid_scope", "A refresh may narrow the scope, never widen it: "+sanitizeDesc(string(s))+".")
		}
	}
	return want, nil
}

// refreshError answers a refresh token the grant store refused.
func refreshError(err error) error {
	switch {
	case errors.Is(err, ErrRefreshReused):
		return oauthErr(http.StatusBadRequest, "invalid_grant", "The refresh token was used before; its grant is revoked.")
	case errors.Is(err, ErrGrantNotFound), errors.Is(err, ErrGrantRevoked), errors.Is(err, ErrGrantExpired):
		return oauthErr(http.StatusBadRequest, "invalid_grant", "The refresh token is invalid, revoked or expired.")
	}
	return errUnavailable
}

// checkGrant is JWTIssuer.Grants: a token issued under a grant works only
// while the grant is live.
func (is *Issuer) checkGrant(ctx context.Context, id string) error {
	g, err := is.cfg.Grants.GetGrant(ctx, id)
	switch {
	case errors.Is(err, ErrGrantNotFound):
		return fmt.Errorf("%w: grant %s", apiauth.ErrTokenRevoked, id)
	case err != nil:
		return err
	}
	switch err := g.Check(is.cfg.Now()); {
	case errors.Is(err, ErrGrantRevoked):
		return fmt.Errorf("%w: %v", apiauth.ErrTokenRevoked, err)
	case errors.Is(err, ErrGrantExpired):
		return fmt.Errorf("%w: %v", apiauth.ErrTokenExpired, err)
	}
	return nil
}
