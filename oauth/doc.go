// Package oauth is an OAuth 2.0 authorization server for APIs protected
// with package apiauth: a token endpoint (RFC 6749 §3.2) that issues RFC
// 9068 JWT access tokens to machine clients (client_credentials, §4.4), in
// exchange for API keys (RFC 8693), and to third-party applications a user
// approves (the authorization-code flow with PKCE, §4.1 and RFC 7636, with
// rotating refresh tokens); revocation (RFC 7009), introspection (RFC
// 7662), metadata (RFC 8414), and the JWK Set that lets any JWT library
// verify its tokens. It follows the OAuth 2.0 Security Best Current
// Practice (RFC 9700), not the 2012 defaults: no implicit or password
// grant, PKCE S256 for every client, exact redirect URIs.
//
// A server registers its clients, makes an Issuer, mounts its routes outside
// the authenticated ones, and lets the API accept its tokens:
//
//	_, err := oauth.RegisterClient(ctx, clients, oauth.ClientSpec{ID: "svc-billing", Tenant: "acme", Scopes: []apiauth.Scope{apiauth.Read}}, secret)
//	issuer, err := oauth.NewIssuer(oauth.Config{Issuer: "https://api.example.com", Audience: "orders-api", Clients: clients, Keys: keys})
//	mux.Handle("/oauth/token", issuer.TokenHandler())
//	verifier, err := apiauth.NewJWTVerifier(apiauth.JWTOptions{Keys: keys}, issuer.JWTIssuer())
//	mux.Handle("/v1/", apiauth.Authenticate(keys, apiauth.WithJWT(verifier))(api))
//
// A client then posts grant_type=client_credentials with its ID and secret
// (HTTP Basic) to /oauth/token and sends the access_token it gets as
// "Authorization: Bearer <token>". Example_publicRoutes is the whole
// program: the quick start of package apiauth with these routes added.
//
// # Routes
//
// TokenHandler is the token endpoint: client_credentials for the clients
// of Config.Clients, and the RFC 8693 exchange of an API key of
// Config.Keys. APIKeyExchangeHandler exchanges an API key posted as JSON,
// {"apiKey": "…"}. JWKSHandler publishes the public keys, usually at
// /.well-known/jwks.json. AuthorizeHandler is the authorization endpoint
// (GET shows the consent page, POST is its form); RevocationHandler,
// IntrospectionHandler and MetadataHandler (at
// /.well-known/oauth-authorization-server) complete the set. None takes a
// bearer token: mount them outside apiauth.Authenticate.
//
// # The authorization-code flow
//
// Config.Grants keeps codes, refresh-token families and consents
// (MemoryGrantStore, sqlstore's database store, or your own:
// apiauthtest.TestGrantStore checks it); Config.Users is the host
// application's sign-in, which says who the user is and which tenant they
// act for. Clients are confidential (a secret) or public (ClientSpec.Public,
// PKCE alone), each with its exact redirect URIs. Codes are one-time,
// live 60 s and are stored as digests; a code used twice revokes what it
// issued. Refresh tokens rotate on every use; a reused one ends its family.
// Every access token of a grant carries its ID, which the verifier checks
// on each request (JWTIssuer's Grants), so a revocation takes effect at
// once. ExampleIssuer_AuthorizeHandler is the whole flow.
//
// # Tokens
//
// Tokens live an hour by default (Config.TTL), are signed with
// Config.SigningKey (a fresh RS256 key when nil; Rotate replaces it and
// keeps the old one published until its tokens expire), and carry the
// client's or the key's subject, tenant, scopes and tier. A token exchanged
// from an API key carries the key's ID: the verifier that JWTIssuer
// describes refuses it as soon as the key is revoked. Issue signs a token
// for a flow of your own.
//
// # Clients
//
// Clients live in a ClientStore: MemoryClientStore, sqlstore's database
// store, or your own (apiauthtest.TestClientStore checks it). Only SHA-256
// digests of client secrets are stored; GenerateClientSecret makes a
// secret, never a person's password. Failed client authentications and bad
// API keys are throttled per address (Config.FailureLimit), never per
// client ID alone, so that guesses from elsewhere cannot lock a client out.
package oauth
