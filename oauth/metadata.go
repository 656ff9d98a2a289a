package oauth

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/apiauth/apiauth"
)

// Endpoints are where the host application mounts the issuer's handlers,
// for MetadataHandler. Each is a URL, or a reference resolved against
// Config.Issuer ("/oauth/token"); an empty one is not served, and is left
// out of the metadata.
type Endpoints struct {
	Authorization string // AuthorizeHandler
	Token         string // TokenHandler
	Revocation    string // RevocationHandler
	Introspection string // IntrospectionHandler
	JWKS          string // JWKSHandler
}

// metadata is the authorization server metadata of RFC 8414 §2.
type metadata struct {
	Issuer                        string   `json:"issuer"`
	AuthorizationEndpoint         string   `json:"authorization_endpoint,omitempty"`
	TokenEndpoint                 string   `json:"token_endpoint,omitempty"`
	JWKSURI                       string   `json:"jwks_uri,omitempty"`
	ResponseTypes                 []string `json:"response_types_supported"`
	ResponseModes                 []string `json:"response_modes_supported,omitempty"`
	GrantTypes                    []string `json:"grant_types_supported"`
	TokenAuthMethods              []string `json:"token_endpoint_auth_methods_supported"`
	RevocationEndpoint            string   `json:"revocation_endpoint,omitempty"`
	RevocationAuthMethods         []string `json:"revocation_endpoint_auth_methods_supported,omitempty"`
	IntrospectionEndpoint         string   `json:"introspection_endpoint,omitempty"`
	IntrospectionAuthMethods      []string `json:"introspection_endpoint_auth_methods_supported,omitempty"`
	CodeChallengeMethods          []string `json:"code_challenge_methods_supported,omitempty"`
	AuthorizationResponseIssParam bool     `json:"authorization_response_iss_parameter_supported,omitempty"`
}

// MetadataHandler returns the authorization server metadata of RFC 8414,
// served at /.well-known/oauth-authorization-server (for an issuer URL
// with a path, RFC 8414 §3.1 inserts the well-known segment before it:
// /.well-known/oauth-authorization-server/tenant1). It names the endpoints
// given and what the issuer actually supports: the grant types its Config
// enables, the client authentication methods (client_secret_basic and
// client_secret_post, and none for public clients when the
// authorization-code flow is on), PKCE's S256 only (RFC 7636), and the iss
// authorization response parameter (RFC 9207). It answers GET and HEAD
// with Cache-Control: public, max-age=300.
//
// It panics if an endpoint is not a URL, or names a handler the issuer's
// Config does not enable (Authorization without Grants, Users and Clients;
// Revocation or Introspection without Clients). Without an Authorization
// endpoint, the authorization_code and refresh_token grants are not
// advertised (RFC 8414 §2 requires the endpoint of grants that use it).
func (is *Issuer) MetadataHandler(e Endpoints) http.Handler {
	body, err := is.metadata(e)
	if err != nil {
		panic(err)
	}
	length := strconv.Itoa(len(body))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			apiauth.WriteError(w, r, http.StatusMethodNotAllowed, "method_not_allowed", "Use GET.")
			return
		}
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "public, max-age=300")
		h.Set("Content-Length", length)
		if r.Method == http.MethodHead {
			return
		}
		_, _ = w.Write(body)
	})
}

// metadata builds the JSON document of MetadataHandler.
func (is *Issuer) metadata(e Endpoints) ([]byte, error) {
	base, err := url.Parse(is.cfg.Issuer)
	if err != nil || !base.IsAbs() || base.RawQuery != "" || base.Fragment != "" {
		return nil, fmt.Errorf("oauth: metadata: the issuer %q is not an absolute URL without query and fragment (RFC 8414 §2)", is.cfg.Issuer)
	}
	resolve := func(name, ref string) (string, error) {
		if ref == "" {
			return "", nil
		}
		u, err := url.Parse(ref)
		if err != nil {
			return "", fmt.Errorf("oauth: metadata: %s endpoint %q: %v", name, ref, err)
		}
		return base.ResolveReference(u).String(), nil
	}
	m := metadata{Issuer: is.cfg.Issuer, ResponseTypes: []string{}, GrantTypes: []string{}}
	for _, f := range []struct {
		name     string
		ref      string
		dst      *string
		disabled bool
	}{
		{"authorization", e.Authorization, &m.AuthorizationEndpoint, is.cfg.Grants == nil || is.cfg.Users == nil || is.cfg.Clients == nil},
		{"token", e.Token, &m.TokenEndpoint, false},
		{"revocation", e.Revocation, &m.RevocationEndpoint, is.cfg.Clients == nil},
		{"introspection", e.Introspection, &m.IntrospectionEndpoint, is.cfg.Clients == nil},
		{"JWKS", e.JWKS, &m.JWKSURI, false},
	} {
		if f.ref != "" && f.disabled {
			return nil, fmt.Errorf("oauth: metadata: the %s endpoint is given, but the issuer's Config does not enable it", f.name)
		}
		if *f.dst, err = resolve(f.name, f.ref); err != nil {
			return nil, err
		}
	}
	secret := []string{"client_secret_basic", "client_secret_post"}
	m.TokenAuthMethods = secret
	if is.cfg.Clients == nil {
		m.TokenAuthMethods = []string{"none"} // API key exchange only
	}
	if is.cfg.Clients != nil {
		m.GrantTypes = append(m.GrantTypes, "client_credentials")
	}
	if is.cfg.Keys != nil {
		m.GrantTypes = append(m.GrantTypes, GrantTokenExchange)
	}
	if m.AuthorizationEndpoint != "" {
		// RFC 8414 §2: a server with grants that use the authorization
		// endpoint names it; without it, they are not advertised.
		m.GrantTypes = append(m.GrantTypes, "authorization_code", "refresh_token")
		m.TokenAuthMethods = append(secret[:2:2], "none")
		m.ResponseTypes = []string{"code"}
		m.ResponseModes = []string{"query"}
		m.CodeChallengeMethods = []string{"S256"}
		m.AuthorizationResponseIssParam = true
	}
	if m.RevocationEndpoint != "" {
		m.RevocationAuthMethods = m.TokenAuthMethods
	}
	if m.IntrospectionEndpoint != "" {
		m.IntrospectionAuthMethods = secret
	}
	return json.Marshal(m)
}
