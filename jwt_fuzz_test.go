package apiauth_test

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/apiauth/apiauth"
	"github.com/golang-jwt/jwt/v5"
)

// FuzzJWTVerify feeds arbitrary tokens, and tokens signed over arbitrary
// header and claims JSON, to a verifier with a fixed HMAC key: nothing
// panics, and nothing passes that is not signed with the key.
func FuzzJWTVerify(f *testing.F) {
	secret := []byte("fuzz-secret-0123456789abcdefghij")
	set, err := apiauth.NewStaticKeys(apiauth.JWTKey{Algorithm: "HS256", Key: secret})
	if err != nil {
		f.Fatal(err)
	}
	v, err := apiauth.NewJWTVerifier(apiauth.JWTOptions{CacheSize: -1, Now: func() time.Time { return jwtNow }},
		apiauth.JWTIssuer{Issuer: testIssuer, Audience: testAudience, Keys: set})
	if err != nil {
		f.Fatal(err)
	}
	f.Add("", `{"alg":"HS256","typ":"at+jwt"}`, claimsJSON(nil), true)
	f.Add("eyJhbGciOiJub25lIn0.e30.", `{"alg":"none"}`, `{}`, false)
	f.Add("a.b.c", `{"alg":"HS256","typ":"at+jwt","crit":["x"]}`, claimsJSON(map[string]any{"exp": "1"}), true)
	f.Add("", `{"alg":"HS256","typ":"at+jwt","kid":"\u0000"}`, `{"iss":"`+testIssuer+`","aud":["`+testAudience+`"],"exp":1e400,"sub":"x"}`, true)
	f.Add("", `{"alg":"HS256","typ":"AT+JWT"}`, `{"iss":"`+testIssuer+`","aud":"`+testAudience+`","exp":1.8e9,"sub":"x","scope":"a  b"}`, true)
	f.Fuzz(func(t *testing.T, raw, hdr, claims string, sign bool) {
		check := func(tok string) {
			p, err := v.Verify(context.Background(), tok)
			if err != nil {
				if p != nil {
					t.Fatal("principal with an error")
				}
				return
			}
			i := strings.LastIndexByte(tok, '.')
			sig, derr := base64.RawURLEncoding.DecodeString(tok[i+1:])
			if derr != nil || jwt.SigningMethodHS256.Verify(tok[:i], sig, secret) != nil {
				t.Fatalf("accepted a token not signed with the key: %q", tok)
			}
			if p.ExpiresAt.Before(jwtNow.Add(-time.Minute)) {
				t.Fatalf("accepted an expired token: %q", tok)
			}
		}
		check(raw)
		if sign {
			check(rawToken(t, hdr, claims, jwt.SigningMethodHS256, secret))
		} else {
			enc := base64.RawURLEncoding
			check(enc.EncodeToString([]byte(hdr)) + "." + enc.EncodeToString([]byte(claims)) + "." + raw)
		}
	})
}
