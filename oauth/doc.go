// Package oauth is an OAuth 2.0 authorization server for APIs protected
// with package apiauth: a token endpoint (RFC 6749 §3.2) that issues RFC
// 9068 JWT access tokens to machine clients (client_credentials, §4.4) and
// in exchange for API keys (RFC 8693), and the JWK Set that lets any JWT
// library verify them.
//
// An Issuer is set up once and mounted outside the authenticated routes:
//
//	issuer, err := oauth.NewIssuer(oauth.Config{
//		Issuer: "https://api.example.com", Audience: "orders-api",
//		Clients: clients, Keys: keys,
//	})
//	mux.Handle("POST /oauth/token", issuer.TokenHandler())
//	mux.Handle("GET /.well-known/jwks.json", issuer.JWKSHandler())
//
// and the API verifies its tokens with apiauth's JWT verifier:
//
//	verifier, err := apiauth.NewJWTVerifier(apiauth.JWTOptions{Keys: keys}, issuer.JWTIssuer())
//	api := apiauth.Authenticate(keys, apiauth.WithJWT(verifier))
//
// Clients live in a ClientStore: MemoryClientStore, sqlstore's database
// store, or your own. Only SHA-256 digests of client secrets are stored.
package oauth
