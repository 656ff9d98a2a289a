package apiauth

import (
	"encoding/base64"
	"strings"
	"testing"
)

// FuzzDecodeB64URL checks the hand-written decoder against encoding/base64's
// strict unpadded base64url: the same bytes for every input it accepts,
// refusal of every input it refuses. (The standard decoder skips \r and
// \n, which no JWS may contain: the reference is given inputs without
// them, and the decoder must refuse them.)
func FuzzDecodeB64URL(f *testing.F) {
	for _, s := range []string{"", "A", "AA", "AB", "AAA", "AAB", "AAAA", "eyJhbGciOiJIUzI1NiJ9", "e30", "e30=", "a+b/", "Zm9vYmFy", "Zm9vYmE", "Zm9vYg", "-_-_", "a\nb"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		dst := make([]byte, len(s)*6/8)
		n, ok := decodeB64URL(dst, s)
		if strings.ContainsAny(s, "\r\n") {
			if ok {
				t.Fatalf("decodeB64URL(%q) accepted a newline", s)
			}
			return
		}
		want, err := base64.RawURLEncoding.Strict().DecodeString(s)
		if ok != (err == nil) {
			t.Fatalf("decodeB64URL(%q) ok = %v; encoding/base64 says %v", s, ok, err)
		}
		if ok && string(dst[:n]) != string(want) {
			t.Fatalf("decodeB64URL(%q) = %x, want %x", s, dst[:n], want)
		}
	})
}
