package oauth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strconv"

	"github.com/apiauth/apiauth"
)

// SigningKey is a private key an Issuer signs access tokens with, bound to
// one algorithm.
type SigningKey struct {
	// ID is the "kid" of the tokens and of the published key.
	ID string
	// Algorithm is the JWS "alg": RS256 (the RFC 9068 default), PS256,
	// ES256, ES384, EdDSA, or HS256/HS384/HS512 (which cannot be published:
	// only verifiers that share the secret can check such tokens).
	Algorithm string
	// Key is an *rsa.PrivateKey, *ecdsa.PrivateKey, ed25519.PrivateKey or
	// []byte secret.
	Key crypto.PrivateKey
}

// GenerateSigningKey returns a new signing key for alg (RS256 or PS256 with
// a 2048-bit key, ES256, ES384 or EdDSA) with a random ID.
func GenerateSigningKey(alg string) (SigningKey, error) {
	k := SigningKey{ID: randomBase62(16), Algorithm: alg}
	var err error
	switch alg {
	case "RS256", "PS256":
		k.Key, err = rsa.GenerateKey(rand.Reader, 2048)
	case "ES256":
		k.Key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "ES384":
		k.Key, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "EdDSA":
		_, k.Key, err = ed25519.GenerateKey(rand.Reader)
	default:
		return k, fmt.Errorf("oauth: cannot generate a %q signing key", alg)
	}
	return k, err
}

// publicKey validates k as apiauth.NewStaticKeys does and returns the
// verification key it becomes: the public half of a private key, bound to
// its algorithm.
func publicKey(k apiauth.JWTKey) (apiauth.JWTKey, error) {
	set, err := apiauth.NewStaticKeys(k)
	if err != nil {
		return apiauth.JWTKey{}, err
	}
	// A set of one key answers the empty kid with that key.
	pub, err := set.JWTKey(context.Background(), "")
	if err != nil {
		return apiauth.JWTKey{}, err
	}
	return *pub, nil
}

// jwk is a published public JWK (RFC 7517 §4, RFC 7518 §6, RFC 8037).
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid,omitempty"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	Crv string `json:"crv,omitempty"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
}

// MarshalJWKS returns a JWK Set (RFC 7517 §5) of the public halves of keys,
// for serving at /.well-known/jwks.json with Content-Type
// application/jwk-set+json. Each JWK carries its kid, kty, alg, "use":
// "sig" and its public members only (n and e; crv, x and y; or crv and x):
// private keys may be passed, and never leak. HMAC keys are an error: a
// shared secret must not be published. Keys are validated as by
// apiauth.NewStaticKeys; with several keys, each needs its own non-empty
// ID. apiauth.ParseJWKS reads the result back.
func MarshalJWKS(keys ...apiauth.JWTKey) ([]byte, error) {
	set := struct {
		Keys []jwk `json:"keys"`
	}{Keys: make([]jwk, 0, len(keys))}
	seen := make(map[string]bool, len(keys))
	for _, k := range keys {
		p, err := publicKey(k)
		if err != nil {
			return nil, err
		}
		if len(keys) > 1 && p.ID == "" {
			return nil, errors.New("oauth: MarshalJWKS: with several keys, each needs an ID")
		}
		if seen[p.ID] {
			return nil, fmt.Errorf("oauth: MarshalJWKS: key ID %q appears twice", p.ID)
		}
		seen[p.ID] = true
		j, err := publicJWK(p)
		if err != nil {
			return nil, err
		}
		set.Keys = append(set.Keys, j)
	}
	return json.Marshal(set)
}

// publicJWK is the JWK of a validated public key.
func publicJWK(p apiauth.JWTKey) (jwk, error) {
	enc := base64.RawURLEncoding.EncodeToString
	j := jwk{Kid: p.ID, Use: "sig", Alg: p.Algorithm}
	switch pub := p.Key.(type) {
	case *rsa.PublicKey:
		j.Kty = "RSA"
		j.N = enc(pub.N.Bytes())
		j.E = enc(big.NewInt(int64(pub.E)).Bytes())
	case *ecdsa.PublicKey:
		e, err := pub.ECDH()
		if err != nil {
			return j, fmt.Errorf("oauth: MarshalJWKS: key %q: %w", p.ID, err)
		}
		pt := e.Bytes() // 0x04 || X || Y, each coordinate full size
		size := (len(pt) - 1) / 2
		j.Kty, j.Crv = "EC", pub.Curve.Params().Name
		j.X, j.Y = enc(pt[1:1+size]), enc(pt[1+size:])
	case ed25519.PublicKey:
		j.Kty, j.Crv = "OKP", "Ed25519"
		j.X = enc(pub)
	default:
		return j, fmt.Errorf("oauth: MarshalJWKS: key %q (%s) cannot be published: only public keys can", p.ID, p.Algorithm)
	}
	return j, nil
}

// base62 is the alphabet of random identifiers and secrets.
const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// randomBase62 returns n uniformly random base62 characters from
// crypto/rand; bytes >= 248 (4*62) are discarded so that none is likelier.
func randomBase62(n int) string {
	b := make([]byte, 0, n)
	var buf [64]byte
	for len(b) < n {
		_, _ = rand.Read(buf[:]) // crypto/rand.Read never fails (Go 1.24).
		for _, x := range buf {
			if x < 248 && len(b) < n {
				b = append(b, base62[x%62])
			}
		}
	}
	return string(b)
}

// JWKSHandler returns the handler of the issuer's JWK Set (RFC 7517 §5),
// usually served at /.well-known/jwks.json: the public keys of
// PublicKeys, so that any JWT library can verify the issuer's tokens. It
// answers GET and HEAD, with Cache-Control: public, max-age=300. An issuer
// that signs with an HMAC secret has nothing to publish and answers 404.
func (is *Issuer) JWKSHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			apiauth.WriteError(w, r, http.StatusMethodNotAllowed, "method_not_allowed", "Use GET.")
			return
		}
		body, err := MarshalJWKS(is.PublicKeys()...)
		if err != nil {
			apiauth.WriteError(w, r, http.StatusNotFound, "not_found", "This issuer publishes no keys.")
			return
		}
		h := w.Header()
		h.Set("Content-Type", "application/jwk-set+json")
		h.Set("Cache-Control", "public, max-age=300")
		h.Set("Content-Length", strconv.Itoa(len(body)))
		if r.Method == http.MethodHead {
			return
		}
		_, _ = w.Write(body)
	})
}
