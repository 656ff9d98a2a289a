package apiauth

import "strings"

// The character classes of the syntaxes the library parses, looked up in
// one table on the request path.
const (
	classB64    = 1 << iota // RFC 6750 §2.1 b64token characters (without '=')
	classBase62             // [0-9A-Za-z]
	classPrefix             // API key prefix characters: [0-9A-Za-z_]
	classTchar              // RFC 9110 §5.6.2 tchar
	classScope              // RFC 6749 §3.3 scope-token: %x21 / %x23-5B / %x5D-7E
	classQuoted             // RFC 6750 §3 quoted value: %x20-21 / %x23-5B / %x5D-7E
)

var charClass = func() (t [256]uint8) {
	for c := '0'; c <= '9'; c++ {
		t[c] = classB64 | classBase62 | classPrefix
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = classB64 | classBase62 | classPrefix
		t[c-'a'+'A'] = classB64 | classBase62 | classPrefix
	}
	for _, c := range "-.~+/" {
		t[c] = classB64
	}
	t['_'] = classB64 | classPrefix
	for c := range t {
		if t[c]&classBase62 != 0 || strings.IndexByte("!#$%&'*+-.^_`|~", byte(c)) >= 0 {
			t[c] |= classTchar
		}
		if c >= 0x20 && c <= 0x7e && c != '"' && c != '\\' {
			t[c] |= classQuoted
			if c != ' ' {
				t[c] |= classScope
			}
		}
	}
	return t
}()

// isB64Token reports whether s matches RFC 6750 §2.1's b64token.
func isB64Token(s string) bool {
	i := 0
	// Eight characters per step: tokens are long (a JWT is hundreds of
	// characters) and this scan is on every request.
	for ; i+8 <= len(s); i += 8 {
		c := s[i : i+8]
		if charClass[c[0]]&charClass[c[1]]&charClass[c[2]]&charClass[c[3]]&
			charClass[c[4]]&charClass[c[5]]&charClass[c[6]]&charClass[c[7]]&classB64 == 0 {
			break
		}
	}
	for i < len(s) && isB64Char(s[i]) {
		i++
	}
	if i == 0 {
		return false
	}
	for i < len(s) && s[i] == '=' {
		i++
	}
	return i == len(s)
}

func isB64Char(c byte) bool { return charClass[c]&classB64 != 0 }

// isTchar reports whether c is a tchar (RFC 9110 §5.6.2).
func isTchar(c byte) bool { return charClass[c]&classTchar != 0 }

// validChallengeValue reports whether s may appear inside a quoted
// WWW-Authenticate attribute value.
func validChallengeValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if charClass[s[i]]&classQuoted == 0 {
			return false
		}
	}
	return true
}
