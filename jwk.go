package apiauth

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
)

// ParseJWKS parses a JWK Set (RFC 7517 §5) into verification keys, each
// bound to exactly one algorithm (RFC 8725 §3.1). The document must be a
// JSON object with a "keys" array; otherwise ParseJWKS fails.
//
// Keys are read per RFC 7518 §6 and RFC 8037: kty "RSA" (n, e; 2048 to 8192
// bits, e odd and 3 ≤ e < 2³¹), "EC" (crv P-256, P-384 or P-521 with x and
// y; the point must be on the curve) and "OKP" (crv Ed25519, x). A key's
// algorithm is its "alg" when present, which must suit its type and curve
// (ES256 only with P-256, ES384 with P-384, ES512 with P-521, EdDSA with
// Ed25519, RS*/PS* with RSA). Without "alg", EC and OKP keys take the only
// algorithm their curve allows, and an RSA key takes RS256: RS256 and PS256
// are both possible, and RS256 is the one RFC 9068 §2.1 makes every
// issuer of access tokens support.
//
// Some keys are skipped, and the rest of the set still used: "use" other
// than "sig", "key_ops" without "verify", symmetric keys (kty "oct": a
// secret is never taken from a key set), keys holding private members
// ("d", "p", "q", …: a published private key is compromised), RSA keys
// under 2048 bits, unknown kty, crv or alg, malformed members, and keys
// that fail validation. When several of the remaining keys share a "kid",
// all of them are skipped: nothing says which one a token means (RFC 7517
// §4.5 asks for distinct kids), and the other keys keep working.
func ParseJWKS(data []byte) ([]JWTKey, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("apiauth: JWK Set: %w", err)
	}
	raw, ok := doc["keys"]
	if !ok {
		return nil, errors.New(`apiauth: JWK Set: no "keys" member`)
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(raw, &elems); err != nil || elems == nil {
		return nil, errors.New(`apiauth: JWK Set: "keys" is not an array`)
	}
	keys := make([]JWTKey, 0, len(elems))
	count := make(map[string]int, len(elems))
	for _, e := range elems {
		k, err := parseJWK(e)
		if err != nil {
			continue
		}
		keys = append(keys, k)
		count[k.ID]++
	}
	kept := keys[:0]
	for _, k := range keys {
		if count[k.ID] == 1 {
			kept = append(kept, k)
		}
	}
	return kept, nil
}

// jwkCurve describes a curve a JWK may name.
type jwkCurve struct {
	alg  string
	size int // bytes per coordinate
	ecdh ecdh.Curve
	oid  asn1.ObjectIdentifier
}

var jwkCurves = map[string]jwkCurve{
	"P-256": {"ES256", 32, ecdh.P256(), asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}},
	"P-384": {"ES384", 48, ecdh.P384(), asn1.ObjectIdentifier{1, 3, 132, 0, 34}},
	"P-521": {"ES512", 66, ecdh.P521(), asn1.ObjectIdentifier{1, 3, 132, 0, 35}},
}

var oidECPublicKey = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}

// privateMembers are JWK members that only private keys have (RFC 7518
// §6.2.2, §6.3.2, §6.4; RFC 8037 §2).
var privateMembers = [...]string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

// jwk is one JWK's members, not yet decoded.
type jwk map[string]json.RawMessage

// str returns the string member name, and whether it is present.
func (m jwk) str(name string) (string, bool, error) {
	v, ok := m[name]
	if !ok {
		return "", false, nil
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", true, fmt.Errorf("%q is not a string", name)
	}
	return s, true, nil
}

// bytes returns the base64url member name (RFC 7515 §2: unpadded;
// trailing padding is tolerated), which must be present.
func (m jwk) bytes(name string) ([]byte, error) {
	s, ok, err := m.str(name)
	if err != nil {
		return nil, err
	}
	if !ok || s == "" {
		return nil, fmt.Errorf("%q is missing", name)
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return nil, fmt.Errorf("%q is not base64url", name)
	}
	return b, nil
}

// parseJWK reads one JWK (RFC 7517 §4) as a verification key, or says why
// it is skipped.
func parseJWK(raw json.RawMessage) (JWTKey, error) {
	var m jwk
	if err := json.Unmarshal(raw, &m); err != nil {
		return JWTKey{}, errors.New("not a JSON object")
	}
	kty, err := m.usableForSignatures()
	if err != nil {
		return JWTKey{}, err
	}
	kid, _, err := m.str("kid")
	if err != nil {
		return JWTKey{}, err
	}
	alg, hasAlg, err := m.str("alg")
	if err != nil {
		return JWTKey{}, err
	}
	k := JWTKey{ID: kid, Algorithm: alg}
	switch kty {
	case "RSA":
		k.Algorithm, k.Key, err = m.rsaKey(alg, hasAlg)
	case "EC":
		k.Algorithm, k.Key, err = m.ecKey(alg, hasAlg)
	case "OKP":
		k.Algorithm, k.Key, err = m.okpKey(alg, hasAlg)
	default:
		err = fmt.Errorf("unsupported kty %q", kty)
	}
	if err != nil {
		return JWTKey{}, err
	}
	return k.prepare()
}

// usableForSignatures returns the key type of a public signature key, or
// why the key is not one: symmetric (a secret is never taken from a key
// set), for another use (RFC 7517 §4.2, §4.3), or holding private members.
func (m jwk) usableForSignatures() (kty string, err error) {
	kty, ok, err := m.str("kty")
	if err != nil || !ok {
		return "", errors.New(`no "kty"`)
	}
	if kty == "oct" {
		return "", errors.New("symmetric keys are never taken from a key set")
	}
	if use, ok, err := m.str("use"); err != nil || (ok && use != "sig") {
		return "", fmt.Errorf("use %q: not a signature key", use)
	}
	if v, ok := m["key_ops"]; ok {
		var ops []string
		if err := json.Unmarshal(v, &ops); err != nil {
			return "", errors.New(`"key_ops" is not an array of strings`)
		}
		if !slices.Contains(ops, "verify") {
			return "", errors.New(`"key_ops" does not allow "verify"`)
		}
	}
	for _, p := range privateMembers {
		if _, ok := m[p]; ok {
			return "", fmt.Errorf("holds private key material (%q)", p)
		}
	}
	return kty, nil
}

// rsaKey reads an RSA public key (RFC 7518 §6.3.1) and its algorithm:
// RS256 when the JWK names none (RFC 9068 §2.1; see ParseJWKS).
func (m jwk) rsaKey(alg string, hasAlg bool) (string, *rsa.PublicKey, error) {
	switch {
	case !hasAlg:
		alg = "RS256"
	case alg == "RS256", alg == "RS384", alg == "RS512", alg == "PS256", alg == "PS384", alg == "PS512":
	default:
		return "", nil, fmt.Errorf("alg %q does not suit an RSA key", alg)
	}
	n, err := m.bytes("n")
	if err != nil {
		return "", nil, err
	}
	e, err := m.bytes("e")
	if err != nil {
		return "", nil, err
	}
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n)}
	if bits := pub.N.BitLen(); bits < 2048 || bits > maxRSABits || pub.N.Bit(0) == 0 {
		return "", nil, fmt.Errorf("RSA modulus of %d bits: want an odd modulus of 2048 to %d bits", bits, maxRSABits)
	}
	ev := new(big.Int).SetBytes(e)
	if !ev.IsInt64() || ev.Int64() < 3 || ev.Int64() > 1<<31-1 || ev.Bit(0) == 0 {
		return "", nil, errors.New("RSA exponent: want an odd number from 3 to 2³¹-1")
	}
	pub.E = int(ev.Int64())
	return alg, pub, nil
}

// ecKey reads an elliptic-curve public key (RFC 7518 §6.2.1) and its
// algorithm, the only one its curve allows.
func (m jwk) ecKey(alg string, hasAlg bool) (string, *ecdsa.PublicKey, error) {
	crv, _, err := m.str("crv")
	if err != nil {
		return "", nil, err
	}
	c, ok := jwkCurves[crv]
	if !ok {
		return "", nil, fmt.Errorf("unsupported curve %q", crv)
	}
	if hasAlg && alg != c.alg {
		return "", nil, fmt.Errorf("alg %q does not suit curve %s", alg, crv)
	}
	x, err := m.bytes("x")
	if err != nil {
		return "", nil, err
	}
	y, err := m.bytes("y")
	if err != nil {
		return "", nil, err
	}
	if len(x) > c.size || len(y) > c.size {
		return "", nil, errors.New("coordinates too long for the curve")
	}
	// Uncompressed point (SEC 1 §2.3.3); short coordinates (leading zeros
	// dropped, as some encoders do) are padded back.
	pt := make([]byte, 1+2*c.size)
	pt[0] = 4
	copy(pt[1+c.size-len(x):], x)
	copy(pt[1+2*c.size-len(y):], y)
	if _, err := c.ecdh.NewPublicKey(pt); err != nil {
		return "", nil, errors.New("the point is not on the curve")
	}
	pub, err := parseECPoint(c, pt)
	return c.alg, pub, err
}

// okpKey reads an Ed25519 public key (RFC 8037 §2); its algorithm is
// EdDSA.
func (m jwk) okpKey(alg string, hasAlg bool) (string, ed25519.PublicKey, error) {
	crv, _, err := m.str("crv")
	if err != nil {
		return "", nil, err
	}
	if crv != "Ed25519" {
		return "", nil, fmt.Errorf("unsupported curve %q", crv)
	}
	if hasAlg && alg != "EdDSA" {
		return "", nil, fmt.Errorf("alg %q does not suit curve %s", alg, crv)
	}
	x, err := m.bytes("x")
	if err != nil {
		return "", nil, err
	}
	if len(x) != ed25519.PublicKeySize {
		return "", nil, errors.New("an Ed25519 key has 32 bytes")
	}
	return "EdDSA", ed25519.PublicKey(x), nil
}

// parseECPoint turns a validated uncompressed point into an
// *ecdsa.PublicKey through its SubjectPublicKeyInfo (RFC 5480), the way
// crypto/ecdsa recommends without setting the deprecated X and Y.
func parseECPoint(c jwkCurve, pt []byte) (*ecdsa.PublicKey, error) {
	params, err := asn1.Marshal(c.oid)
	if err != nil {
		return nil, err
	}
	der, err := asn1.Marshal(struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}{
		pkix.AlgorithmIdentifier{Algorithm: oidECPublicKey, Parameters: asn1.RawValue{FullBytes: params}},
		asn1.BitString{Bytes: pt, BitLength: 8 * len(pt)},
	})
	if err != nil {
		return nil, err
	}
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, errors.New("the point is not on the curve")
	}
	ec, ok := pub.(*ecdsa.PublicKey)
	if !ok {
		return nil, errors.New("not an ECDSA key")
	}
	return ec, nil
}
