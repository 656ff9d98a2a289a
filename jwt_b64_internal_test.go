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

// BenchmarkDecodeB64URL decodes the three segments of a JWT-shaped token
// (36, 300 and 86 characters) as Verify does, with decodeB64URL and with
// base64.RawURLEncoding.Strict().Decode plus the refusal of \r and \n that
// it lacks. Both make no allocation: the compiler does not copy the
// []byte(string) conversion, which does not escape.
func BenchmarkDecodeB64URL(b *testing.B) {
	seg := func(n int) string {
		return base64.RawURLEncoding.EncodeToString([]byte(strings.Repeat("\xa5j\x0f", n)[:n]))
	}
	token := seg(27) + "." + seg(225) + "." + seg(64)
	strict := base64.RawURLEncoding.Strict()
	stdlib := func(dst []byte, s string) (int, bool) {
		if strings.IndexByte(s, '\n') >= 0 || strings.IndexByte(s, '\r') >= 0 {
			return 0, false
		}
		n, err := strict.Decode(dst, []byte(s))
		return n, err == nil
	}
	for _, bc := range []struct {
		name   string
		decode func([]byte, string) (int, bool)
	}{{"hand-written", decodeB64URL}, {"stdlib-strict", stdlib}} {
		b.Run(bc.name, func(b *testing.B) {
			d1, d2 := strings.IndexByte(token, '.'), strings.LastIndexByte(token, '.')
			hl, pl := d1*6/8, (d2-d1-1)*6/8
			buf := make([]byte, len(token))
			b.ReportAllocs()
			for b.Loop() {
				_, ok1 := bc.decode(buf[:hl], token[:d1])
				_, ok2 := bc.decode(buf[hl:hl+pl], token[d1+1:d2])
				_, ok3 := bc.decode(buf[hl+pl:], token[d2+1:])
				if !ok1 || !ok2 || !ok3 {
					b.Fatal("refused")
				}
			}
		})
	}
}
