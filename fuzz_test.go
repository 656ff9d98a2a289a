package apiauth

// Fuzz targets for the parsers on the request path. Each compares the
// library with a reference written independently from the specification
// (regular expressions, hash/crc32, encoding/json), so a fuzzer finds wrong
// answers, not only panics. Seed corpora are committed under
// testdata/fuzz/<FuzzName>/; run a target with
//
//	go test -run '^$' -fuzz '^FuzzParseBearer$' -fuzztime 60s .

import (
	"encoding/json"
	"errors"
	"hash/crc32"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// RFC 6750 §2.1 b64token, RFC 9110 §5.6.2 tchar.
var (
	fzB64Token = regexp.MustCompile(`^[A-Za-z0-9._~+/-]+=*$`)
	fzScheme   = regexp.MustCompile("(?s)^([!#$%&'*+.^_`|~0-9A-Za-z-]+)(?:([ \t])(.*))?$")
)

// refParseBearer is ParseBearer written from RFC 6750 §2.1 and the design
// with regular expressions.
func refParseBearer(values []string, maxLen int) (string, Code) {
	if maxLen <= 0 {
		maxLen = DefaultMaxTokenLength
	}
	switch {
	case len(values) == 0:
		return "", CodeMissingToken
	case len(values) > 1:
		return "", CodeInvalidRequest
	}
	m := fzScheme.FindStringSubmatch(values[0])
	if m == nil {
		return "", CodeInvalidRequest // no auth-scheme, or a non-tchar right after it
	}
	if !strings.EqualFold(m[1], "bearer") {
		return "", CodeMissingToken
	}
	if m[2] != " " {
		return "", CodeInvalidRequest // "Bearer" alone, or a tab
	}
	tok := strings.TrimLeft(m[3], " ")
	if tok == "" {
		return "", CodeInvalidRequest
	}
	if len(tok) > maxLen || !fzB64Token.MatchString(tok) {
		return "", CodeInvalidToken
	}
	return tok, ""
}

func FuzzParseBearer(f *testing.F) {
	for _, s := range []string{
		"Bearer mF_9.B5f-4.1JqM", "bearer abc==", "BEARER  x", "Bearer", "Bearer ", "Bearer\tabc",
		"Basic dXNlcjpwYXNz", "Digest a=b", "@@@ x", "", " ", "Bearer a b", "Bearer abc,def", "Bearer é",
		"Bearer =", "Bearer a=b", "Bearer " + strings.Repeat("a", 64), "Bearer\x00x", "Bearerx y", "Bearer:x",
	} {
		f.Add(s, "", uint8(1), 0)
	}
	f.Add("Bearer abc", "Basic x", uint8(2), 0)
	f.Add("Bearer abcdefghij", "", uint8(1), 10)
	f.Add("Bearer abcdefghijk", "", uint8(1), 10)
	f.Add("", "", uint8(0), 0)
	f.Fuzz(func(t *testing.T, v1, v2 string, lines uint8, maxLen int) {
		var values []string
		switch lines % 3 {
		case 1:
			values = []string{v1}
		case 2:
			values = []string{v1, v2}
		}
		h := http.Header{}
		for _, v := range values {
			h.Add("Authorization", v)
		}
		tok, code := ParseBearer(h, maxLen)

		switch code {
		case "", CodeMissingToken, CodeInvalidRequest, CodeInvalidToken:
		default:
			t.Fatalf("code %q is not one ParseBearer may return", code)
		}
		if code != "" && tok != "" {
			t.Fatalf("token %q returned with code %q", tok, code)
		}
		if code == "" {
			capLen := maxLen
			if capLen <= 0 {
				capLen = DefaultMaxTokenLength
			}
			if tok == "" || len(tok) > capLen || !fzB64Token.MatchString(tok) {
				t.Fatalf("accepted token %q (cap %d) is not a b64token within the cap", tok, capLen)
			}
			if len(values) != 1 || !strings.HasSuffix(values[0], tok) {
				t.Fatalf("accepted token %q is not a suffix of the header %q", tok, values)
			}
		}
		wantTok, wantCode := refParseBearer(values, maxLen)
		if tok != wantTok || code != wantCode {
			t.Fatalf("ParseBearer(%q, %d) = %q, %q; RFC 6750 reference gives %q, %q", values, maxLen, tok, code, wantTok, wantCode)
		}
	})
}

const fzBase62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

var fzLibraryKey = regexp.MustCompile(`^[A-Za-z0-9_]{1,32}_[0-9A-Za-z]{33}$`)

// fzChecksum is the documented checksum written from hash/crc32: CRC-32
// (IEEE) of what precedes it as 6 base62 digits, most significant first.
func fzChecksum(s string) string {
	c := crc32.ChecksumIEEE([]byte(s))
	var d [6]byte
	for i := 5; i >= 0; i-- {
		d[i] = fzBase62[c%62]
		c /= 62
	}
	return string(d[:])
}

// refCheckKey is CheckKey from its documentation.
func refCheckKey(key string) error {
	if fzLibraryKey.MatchString(key) {
		n := len(key) - 6
		if fzChecksum(key[:n]) != key[n:] {
			return ErrBadChecksum
		}
		return nil
	}
	if len(key) < MinImportedKeyLength || !fzB64Token.MatchString(key) {
		return ErrMalformedToken
	}
	return nil
}

// fzCheckKeyAgrees fails t unless CheckKey and the reference agree on key.
func fzCheckKeyAgrees(t *testing.T, key string) error {
	t.Helper()
	got, want := CheckKey(key), refCheckKey(key)
	if got == want {
		return got
	}
	t.Fatalf("CheckKey(%q) = %v; the documented rule gives %v", key, got, want)
	return nil
}

func FuzzCheckKey(f *testing.F) {
	for _, s := range []string{
		"", "sk_live_0123456789abcdefghijklmnopq000000", fzWithChecksum("sk_live_0123456789abcdefghijklmnopq"),
		fzWithChecksum("acme_test_ZZZZZZZZZZZZZZZZZZZZZZZZZZZ"), strings.Repeat("a", 19), strings.Repeat("a", 20),
		"ghp_16C7e42F292c6912E7710c838347Ae178B4a", "abc-._~+/0123456789XYZ==", "sk_live_" + strings.Repeat("-", 33),
		"_" + strings.Repeat("0", 33), strings.Repeat("p", 33) + "_" + strings.Repeat("0", 33), "0123456789abcdefghijklmn pq",
	} {
		f.Add(s, 0, byte('x'))
	}
	f.Add("seed", 32, byte('A'))
	f.Add("seed", 5, byte('-'))
	f.Add("seed", 32, byte('='))
	f.Add("seed", 7, byte(' '))
	f.Add("seed", 3, byte('_'))
	f.Fuzz(func(t *testing.T, key string, pos int, repl byte) {
		// 1. Any string: CheckKey follows its documented rule, and what
		// it accepts is a library key with a good checksum or a long
		// enough b64token.
		if err := fzCheckKeyAgrees(t, key); err != nil {
			if !errors.Is(err, ErrMalformedToken) || !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("CheckKey(%q) = %v, which does not match ErrMalformedToken and ErrInvalidToken", key, err)
			}
		}

		// 2. A library key derived from the input, with one byte of its
		// body replaced: a base62 typo is always ErrBadChecksum, and no
		// other mutation is accepted unless it leaves an importable
		// b64token.
		random := make([]byte, 27)
		for i := range random {
			if len(key) > 0 {
				random[i] = fzBase62[int(key[i%len(key)])%62]
			} else {
				random[i] = '0'
			}
		}
		good := fzWithChecksum("sk_live_" + string(random))
		if err := CheckKey(good); err != nil {
			t.Fatalf("CheckKey(%q) = %v for a well-formed key", good, err)
		}
		body := len("sk_live_")
		i := body + int(uint(pos)%33)
		if good[i] != repl {
			mutated := good[:i] + string([]byte{repl}) + good[i+1:]
			err := fzCheckKeyAgrees(t, mutated)
			if strings.IndexByte(fzBase62, repl) >= 0 && err != ErrBadChecksum {
				t.Fatalf("CheckKey(%q) = %v after a base62 typo in %q", mutated, err, good)
			}
			if err == nil && !fzB64Token.MatchString(mutated) {
				t.Fatalf("CheckKey accepts %q, mutated from %q", mutated, good)
			}
		}

		// 3. A body of arbitrary bytes with a matching checksum: the
		// checksum alone must not make it acceptable.
		if len(key) >= 27 && strings.IndexByte(key[:27], '_') < 0 {
			fzCheckKeyAgrees(t, fzWithChecksum("sk_live_"+key[:27]))
		}
	})
}

func fzWithChecksum(s string) string { return s + fzChecksum(s) }

func FuzzProblemJSON(f *testing.F) {
	for _, s := range []string{
		"", "plain", `"\`, "\n\r\t", "\b\f", "\x00\x1f\x7f", "<>&", "\u2028\u2029", "é😀", "\ufffd",
		"\xff", "\xe2\x82", "\xed\xa0\x80", "\xc0\xaf", "\xf4\x90\x80\x80", "/a%20b?x=<1>&y",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		got := appendJSONString([]byte("x"), s)
		if got[0] != 'x' {
			t.Fatalf("appendJSONString overwrote the buffer: %q", got)
		}
		got = got[1:]
		if string(got) != string(want) {
			t.Fatalf("appendJSONString(%q) = %s; encoding/json gives %s", s, got, want)
		}
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("appendJSONString(%q) = %s, which encoding/json cannot decode: %v", s, got, err)
		}
		if back != fzPerByteFFFD(s) {
			t.Fatalf("appendJSONString(%q) decodes to %q", s, back)
		}
	})
}

// fzPerByteFFFD replaces each invalid byte of s with U+FFFD, as
// encoding/json does.
func fzPerByteFFFD(s string) string {
	var b strings.Builder
	for _, r := range s {
		b.WriteRune(r)
	}
	return b.String()
}

var (
	fzInboundID = regexp.MustCompile(`^[A-Za-z0-9+/=-]{20,200}$`)
	fzPluggedID = regexp.MustCompile(`^[\x21-\x7e]{1,200}$`)
)

func FuzzRequestID(f *testing.F) {
	for _, s := range []string{
		"", strings.Repeat("a", 19), strings.Repeat("a", 20), strings.Repeat("a", 200), strings.Repeat("a", 201),
		"0b6f3c1e-8d2a-4f7b-9c3d-5e6f7a8b9c0d", "0b6f3c1e-8d2a-4f7b-9c3d\r\nX: y", "YWJjZGVmZ2hpamtsbW5vcA==",
		strings.Repeat("é", 20), "a b", "x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := validInboundID(s), fzInboundID.MatchString(s); got != want {
			t.Fatalf("validInboundID(%q) = %v, regexp says %v", s, got, want)
		}
		if got, want := validPluggedID(s), fzPluggedID.MatchString(s); got != want {
			t.Fatalf("validPluggedID(%q) = %v, regexp says %v", s, got, want)
		}
	})
}
