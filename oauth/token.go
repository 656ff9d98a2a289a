package oauth

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/apiauth/apiauth"
)

// Token types and grant types of RFC 8693 token exchange.
const (
	// GrantTokenExchange is the RFC 8693 §2.1 grant_type.
	GrantTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
	// TokenTypeAccessToken is the RFC 8693 §3 type of issued tokens.
	TokenTypeAccessToken = "urn:ietf:params:oauth:token-type:access_token"
	// TokenTypeAPIKey is the subject_token_type of an API key exchanged
	// for an access token. RFC 8693 §3 lets a server define its own type
	// URIs; this one is the library's.
	TokenTypeAPIKey = "urn:apiauth:params:oauth:token-type:api-key"
)

// tokenResponse is the successful response of RFC 6749 §5.1 and RFC 8693
// §2.2.1.
type tokenResponse struct {
	AccessToken     string `json:"access_token"`
	IssuedTokenType string `json:"issued_token_type,omitempty"`
	TokenType       string `json:"token_type"`
	ExpiresIn       int64  `json:"expires_in"`
	Scope           string `json:"scope,omitempty"`
	RefreshToken    string `json:"refresh_token,omitempty"`
}

// oauthError is an error response of RFC 6749 §5.2.
type oauthError struct {
	status int
	code   string
	desc   string
	retry  int64 // Retry-After seconds of a 429
}

func (e *oauthError) Error() string { return e.code + ": " + e.desc }

func oauthErr(status int, code, desc string) *oauthError {
	return &oauthError{status: status, code: code, desc: desc}
}

// inSeconds is secs in words: "1 second", "7 seconds".
func inSeconds(secs int64) string {
	if secs == 1 {
		return "1 second"
	}
	return strconv.FormatInt(secs, 10) + " seconds"
}

// throttled is the 429 of a client or address over its failure limit.
func throttled(code, why string, wait time.Duration) *oauthError {
	secs := ceilSeconds(wait)
	return &oauthError{status: http.StatusTooManyRequests, code: code, retry: secs,
		desc: why + "; try again in " + inSeconds(secs) + "."}
}

var (
	errMethodNotAllowed = oauthErr(http.StatusMethodNotAllowed, "invalid_request", "This endpoint accepts POST only.")
	errInvalidClient    = oauthErr(http.StatusUnauthorized, "invalid_client", "Client authentication failed.")
	errUnavailable      = oauthErr(http.StatusServiceUnavailable, "temporarily_unavailable", "The token endpoint cannot issue tokens right now; try again later.")
)

// maxTokenRequest caps the body of a token request.
const maxTokenRequest = 16 << 10

// TokenHandler returns the token endpoint (RFC 6749 §3.2): POST with an
// application/x-www-form-urlencoded body (or the same parameters as a JSON
// object of strings, as some APIs document theirs). Its grants are
// client_credentials (§4.4; the client authenticates with HTTP Basic, its
// ID and secret form-urlencoded first (§2.3.1), or with client_id and
// client_secret in the body, never both), the RFC 8693 token exchange of
// an API key (subject_token_type TokenTypeAPIKey; client authentication
// optional), and, with Config.Grants, authorization_code (§4.1.3, with
// the PKCE code_verifier of RFC 7636; a public client sends its client_id
// alone) and refresh_token (§6, rotated on every use). Repeated parameters
// and credentials in the URL are refused; unknown parameters are ignored.
// Every response carries Cache-Control: no-store and Pragma: no-cache;
// errors are RFC 6749 §5.2 JSON with a request_id. Mount it outside
// apiauth.Authenticate: clients authenticate here with their own
// credentials, not with a bearer token.
func (is *Issuer) TokenHandler() http.Handler { return endpoint(is, "token", is.token) }

// APIKeyExchangeHandler returns a JSON route for exchanging an API key:
// POST a JSON body {"apiKey": "…"} and get the token response of
// TokenHandler, an access token for the key's principal that lives TTL
// (never past the key's own expiry).
func (is *Issuer) APIKeyExchangeHandler() http.Handler {
	return endpoint(is, "token", is.jsonExchange)
}

// endpoint wraps the function of an endpoint in what every response of the
// token, revocation and introspection endpoints shares: a request ID,
// POST only, no caching, RFC 6749 §5.2 errors, an event of the layer
// named. A nil response is an empty 200 (RFC 7009 §2.2).
func endpoint[T any](is *Issuer, layer string, serve func(*http.Request) (*T, error)) http.Handler {
	return apiauth.RequestID()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("Pragma", "no-cache")
		if r.Method != http.MethodPost {
			h.Set("Allow", http.MethodPost)
			is.writeError(w, r, errMethodNotAllowed)
			return
		}
		start := time.Now()
		resp, err := serve(r)
		is.report(r, layer, err, start)
		switch {
		case err != nil:
			is.writeError(w, r, err)
		case resp == nil:
			h.Set("Content-Length", "0")
			w.WriteHeader(http.StatusOK)
		default:
			writeJSON(w, http.StatusOK, resp)
		}
	}))
}

// jsonExchange handles the {"apiKey": "…"} request.
func (is *Issuer) jsonExchange(r *http.Request) (*tokenResponse, error) {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return nil, oauthErr(http.StatusBadRequest, "invalid_request", "The body must be application/json.")
	}
	var body struct {
		APIKey *string `json:"apiKey"`
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, maxTokenRequest))
	if err := dec.Decode(&body); err != nil || body.APIKey == nil {
		return nil, oauthErr(http.StatusBadRequest, "invalid_request", `The body must be a JSON object with an "apiKey" string.`)
	}
	return is.exchange(r, *body.APIKey, "", false)
}

// credentialParams may never be sent in a token request's URL.
var credentialParams = [...]string{"client_secret", "subject_token", "access_token", "password", "client_assertion", "code", "code_verifier", "refresh_token", "token"}

// readForm reads a token request's form body (RFC 6749 §3.2): POST
// x-www-form-urlencoded, no parameter twice, no credential in the URL.
func readForm(r *http.Request) (url.Values, error) {
	if q := r.URL.RawQuery; q != "" {
		query, _ := url.ParseQuery(q) // keeps the well-formed pairs
		for _, name := range credentialParams {
			if query.Has(name) {
				return nil, oauthErr(http.StatusBadRequest, "invalid_request", "Credentials must not be sent in the URL.")
			}
		}
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || (mt != "application/x-www-form-urlencoded" && mt != "application/json") {
		return nil, oauthErr(http.StatusBadRequest, "invalid_request", "The body must be application/x-www-form-urlencoded (or a JSON object of strings).")
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxTokenRequest+1))
	if err != nil {
		return nil, oauthErr(http.StatusBadRequest, "invalid_request", "The body could not be read.")
	}
	if len(body) > maxTokenRequest {
		return nil, oauthErr(http.StatusRequestEntityTooLarge, "invalid_request", "The body is too large.")
	}
	if mt == "application/json" {
		return jsonForm(body)
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, oauthErr(http.StatusBadRequest, "invalid_request", "The body is not valid form encoding.")
	}
	for name, vs := range form {
		if len(vs) > 1 {
			// RFC 6749 §3.2: parameters must not be included more than once.
			return nil, oauthErr(http.StatusBadRequest, "invalid_request", "A parameter is repeated: "+sanitizeDesc(name)+".")
		}
	}
	return form, nil
}

// jsonForm reads the parameters of a request sent as a JSON object of
// strings, {"grant_type": "authorization_code", "code": "…"}, as some APIs
// document their token endpoint: the same parameters as the form
// encoding, with the same rules. A value that is not a string, a name
// given twice (which encoding/json would let the last one win) and
// anything after the object are refused.
func jsonForm(body []byte) (url.Values, error) {
	malformed := oauthErr(http.StatusBadRequest, "invalid_request", "The body must be one JSON object whose values are strings.")
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, malformed
	}
	form := url.Values{}
	for dec.More() {
		t, err := dec.Token()
		name, ok := t.(string)
		if err != nil || !ok {
			return nil, malformed
		}
		t, err = dec.Token()
		value, ok := t.(string)
		if err != nil || !ok {
			return nil, malformed
		}
		if form.Has(name) {
			return nil, oauthErr(http.StatusBadRequest, "invalid_request", "A parameter is repeated: "+sanitizeDesc(name)+".")
		}
		form.Set(name, value)
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return nil, malformed
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, malformed
	}
	return form, nil
}

// token handles one request to the token endpoint.
func (is *Issuer) token(r *http.Request) (*tokenResponse, error) {
	form, err := readForm(r)
	if err != nil {
		return nil, err
	}
	switch grant := form.Get("grant_type"); grant {
	case "client_credentials":
		return is.clientCredentials(r, form)
	case GrantTokenExchange:
		return is.tokenExchange(r, form)
	case "authorization_code":
		return is.authorizationCode(r, form)
	case "refresh_token":
		return is.refreshToken(r, form)
	case "":
		return nil, oauthErr(http.StatusBadRequest, "invalid_request", "grant_type is required.")
	default:
		return nil, oauthErr(http.StatusBadRequest, "unsupported_grant_type", "Supported grant types: client_credentials, authorization_code, refresh_token, "+GrantTokenExchange+".")
	}
}

// tokenExchange is the RFC 8693 grant for an API key.
func (is *Issuer) tokenExchange(r *http.Request, form url.Values) (*tokenResponse, error) {
	clientID := ""
	if form.Has("client_id") || r.Header.Get("Authorization") != "" {
		c, err := is.authenticateClient(r, form)
		if err != nil {
			return nil, err
		}
		clientID = c.ID
	}
	if t := form.Get("subject_token_type"); t != TokenTypeAPIKey {
		return nil, oauthErr(http.StatusBadRequest, "invalid_request", "subject_token_type must be "+TokenTypeAPIKey+".")
	}
	if t := form.Get("requested_token_type"); t != "" && t != TokenTypeAccessToken {
		return nil, oauthErr(http.StatusBadRequest, "invalid_request", "Only access tokens can be requested.")
	}
	if form.Has("actor_token") {
		return nil, oauthErr(http.StatusBadRequest, "invalid_request", "Delegation (actor_token) is not supported.")
	}
	resp, err := is.exchange(r, form.Get("subject_token"), clientID, true)
	if err != nil {
		return nil, err
	}
	if s := form.Get("scope"); s != "" {
		return nil, oauthErr(http.StatusBadRequest, "invalid_scope", "An exchanged token has the API key's scopes; omit scope.")
	}
	return resp, nil
}

// clientCredentials is the grant of RFC 6749 §4.4.
func (is *Issuer) clientCredentials(r *http.Request, form url.Values) (*tokenResponse, error) {
	if is.cfg.Clients == nil {
		return nil, oauthErr(http.StatusBadRequest, "unsupported_grant_type", "client_credentials is not enabled.")
	}
	c, err := is.authenticateClient(r, form)
	if err != nil {
		return nil, err
	}
	scopes := c.Scopes
	if s := form.Get("scope"); s != "" {
		want, err := apiauth.ParseScopes(s)
		if err != nil {
			return nil, oauthErr(http.StatusBadRequest, "invalid_scope", "The scope is malformed.")
		}
		p := apiauth.Principal{Scopes: c.Scopes}
		for _, sc := range want {
			if !p.HasScope(sc) {
				return nil, oauthErr(http.StatusBadRequest, "invalid_scope", "The client may not request the scope "+sanitizeDesc(string(sc))+".")
			}
		}
		scopes = want
	}
	sub := c.Subject
	if sub == "" {
		sub = c.ID
	}
	now := is.cfg.Now()
	return is.issue(&apiauth.Principal{Subject: sub, Tenant: c.Tenant, Scopes: scopes, Tier: c.Tier}, c.ID, now, now.Add(is.cfg.TTL), false)
}

// clientCredentialsOf returns the client ID and secret of a request (RFC
// 6749 §2.3.1): HTTP Basic, its parts form-urlencoded, or client_id and
// client_secret in the body; never both.
func clientCredentialsOf(r *http.Request, form url.Values) (id, secret string, err error) {
	id, secret, basic := r.BasicAuth()
	if !basic {
		if r.Header.Get("Authorization") != "" {
			return "", "", errInvalidClient
		}
		return form.Get("client_id"), form.Get("client_secret"), nil
	}
	var err1, err2 error
	id, err1 = url.QueryUnescape(id)
	secret, err2 = url.QueryUnescape(secret)
	if err1 != nil || err2 != nil {
		return "", "", errInvalidClient
	}
	if form.Has("client_id") || form.Has("client_secret") {
		return "", "", oauthErr(http.StatusBadRequest, "invalid_request", "Use one client authentication method, not two.")
	}
	return id, secret, nil
}

// authenticateClient checks the client's credentials. An unknown client
// and a wrong secret get the same answer after the same work. Repeated
// failures from one address, for one client ID or for any, are refused
// for a while. The buckets are never the client ID's alone: anyone can
// learn a client's ID (it is in every token the client gets), and a
// bucket of its own would let them keep the client out from anywhere.
// A failure is reserved before the client is looked up and given back
// only if it authenticates; a look-up that fails (503) stays counted.
func (is *Issuer) authenticateClient(r *http.Request, form url.Values) (*ClientRecord, error) {
	id, secret, err := clientCredentialsOf(r, form)
	if err != nil {
		return nil, err
	}
	if id == "" || secret == "" || is.cfg.Clients == nil {
		return nil, errInvalidClient
	}
	ctx, keyIP := r.Context(), is.failures.addr(r)
	held, wait := is.failures.reserve(ctx, keyIP, is.failures.clientAt(keyIP, id))
	if wait > 0 {
		return nil, throttled("invalid_client", "Too many failed client authentications", wait)
	}
	c, err := is.cfg.Clients.GetClient(ctx, id)
	switch {
	case errors.Is(err, ErrClientNotFound):
		dummyClient.checkSecret(secret) // same work as a wrong secret
		c = nil
	case err != nil:
		return nil, errUnavailable
	}
	disabled := c != nil && c.disabled(is.cfg.Now())
	if c == nil || !c.checkSecret(secret) || disabled {
		return nil, errInvalidClient
	}
	is.failures.release(ctx, held...)
	return c, nil
}

// exchange turns an API key into an access token for its principal.
//
// A key that cannot be exchanged is invalid_request under RFC 8693 (an
// invalid subject_token, §2.2.2) and invalid_grant on the JSON route.
func (is *Issuer) exchange(r *http.Request, key, clientID string, exchangeGrant bool) (*tokenResponse, error) {
	refused := "invalid_grant"
	if exchangeGrant {
		refused = "invalid_request"
	}
	if is.cfg.Keys == nil {
		return nil, oauthErr(http.StatusBadRequest, "unsupported_grant_type", "API keys cannot be exchanged here.")
	}
	if key == "" {
		return nil, oauthErr(http.StatusBadRequest, "invalid_request", "An API key is required.")
	}
	if strings.HasPrefix(key, "eyJ") && strings.Count(key, ".") == 2 {
		return nil, oauthErr(http.StatusBadRequest, refused, "Only an API key can be exchanged; an access token cannot be exchanged for another.")
	}
	// The key must be a credential a bearer header could carry; Keys
	// refuses every other token as malformed.
	if len(key) > apiauth.DefaultMaxTokenLength {
		return nil, oauthErr(http.StatusBadRequest, refused, "The API key is invalid.")
	}
	// A failure is reserved before the key is looked up and given back
	// only if it is valid; a look-up that fails (503) stays counted.
	ctx := r.Context()
	held, wait := is.failures.reserve(ctx, is.failures.addr(r))
	if wait > 0 {
		return nil, throttled(refused, "Too many invalid API keys", wait)
	}
	p, err := is.cfg.Keys.Verify(ctx, key)
	if err != nil {
		return nil, exchangeError(err, refused)
	}
	is.failures.release(ctx, held...)
	now := is.cfg.Now()
	exp := now.Add(is.cfg.TTL)
	if !p.ExpiresAt.IsZero() && p.ExpiresAt.Before(exp) {
		exp = p.ExpiresAt
	}
	// RFC 9068 §2.2's client_id: the client that authenticated, or else
	// the API key, which stood in for a client credential.
	return is.issue(p, cmp.Or(clientID, p.KeyID), now, exp, exchangeGrant)
}

// exchangeError is the answer to an API key that Keys refused, or to a
// failure of its store.
func exchangeError(err error, code string) error {
	switch {
	case errors.Is(err, apiauth.ErrTokenExpired):
		return oauthErr(http.StatusBadRequest, code, "The API key has expired.")
	case errors.Is(err, apiauth.ErrTokenRevoked):
		return oauthErr(http.StatusBadRequest, code, "The API key has been revoked.")
	case errors.Is(err, apiauth.ErrInvalidToken):
		return oauthErr(http.StatusBadRequest, code, "The API key is invalid.")
	}
	return errUnavailable
}

// report tells Config.OnEvent the outcome of a request to an endpoint.
func (is *Issuer) report(r *http.Request, layer string, err error, start time.Time) {
	if is.cfg.OnEvent == nil {
		return
	}
	e := apiauth.Event{Layer: layer, RequestID: apiauth.RequestIDFrom(r.Context()), Duration: time.Since(start), Err: err}
	if err != nil {
		oe := errUnavailable
		errors.As(err, &oe)
		e.Code, e.Status = apiauth.Code(oe.code), oe.status
	}
	is.cfg.OnEvent(r, e)
}

// writeError writes an RFC 6749 §5.2 error response.
func (is *Issuer) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var oe *oauthError
	if !errors.As(err, &oe) {
		oe = errUnavailable
	}
	switch oe.status {
	case http.StatusUnauthorized:
		w.Header().Set("Www-Authenticate", `Basic realm="`+is.cfg.Realm+`"`)
	case http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", "5")
	case http.StatusTooManyRequests:
		w.Header().Set("Retry-After", strconv.FormatInt(oe.retry, 10))
	}
	writeJSON(w, oe.status, map[string]string{"error": oe.code, "error_description": oe.desc, "request_id": apiauth.RequestIDFrom(r.Context())})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"server_error"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// sanitizeDesc keeps an echoed value within the error_description
// character set of RFC 6749 §5.2 (%x20-21 / %x23-5B / %x5D-7E) and short.
func sanitizeDesc(s string) string {
	if len(s) > 64 {
		s = s[:64]
	}
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			b[i] = '?'
		}
	}
	return string(b)
}
