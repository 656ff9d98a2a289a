package apiauth_test

import (
	"bufio"
	"net/http"
	"strings"
	"testing"

	"github.com/apiauth/apiauth"
	"github.com/stretchr/testify/assert"
)

// TestParseBearer pins RFC 6750 §2.1 parsing and the library's choice of error
// code for each malformation: the code decides between 400, 401 with an
// error attribute and 401 without one.
func TestParseBearer(t *testing.T) {
	const tok = "mF_9.B5f-4.1JqM"
	tests := []struct {
		name     string
		values   []string // Authorization field lines; nil for none
		maxLen   int
		wantTok  string
		wantCode apiauth.Code
	}{
		// RFC 6750 §2.1 example and variations that must pass.
		{name: "rfc example", values: []string{"Bearer " + tok}, wantTok: tok},
		{name: "scheme lower case", values: []string{"bearer " + tok}, wantTok: tok},
		{name: "scheme upper case", values: []string{"BEARER " + tok}, wantTok: tok},
		{name: "scheme mixed case", values: []string{"bEaReR " + tok}, wantTok: tok},
		{name: "two spaces", values: []string{"Bearer  " + tok}, wantTok: tok},
		{name: "many spaces", values: []string{"Bearer      " + tok}, wantTok: tok},
		{name: "every b64 char", values: []string{"Bearer azAZ09-._~+/"}, wantTok: "azAZ09-._~+/"},
		{name: "trailing equals", values: []string{"Bearer abc=="}, wantTok: "abc=="},
		{name: "one char", values: []string{"Bearer a"}, wantTok: "a"},
		{name: "library key", values: []string{"Bearer sk_live_0123456789abcdefghijklmnopq012345"}, wantTok: "sk_live_0123456789abcdefghijklmnopq012345"},

		// No credentials, or somebody else's.
		{name: "no header", values: nil, wantCode: apiauth.CodeMissingToken},
		{name: "basic", values: []string{"Basic dXNlcjpwYXNz"}, wantCode: apiauth.CodeMissingToken},
		{name: "basic alone", values: []string{"Basic"}, wantCode: apiauth.CodeMissingToken},
		{name: "digest", values: []string{`Digest username="u", realm="r", nonce="n", uri="/", response="x"`}, wantCode: apiauth.CodeMissingToken},
		{name: "basic with tab", values: []string{"Basic\tdXNlcjpwYXNz"}, wantCode: apiauth.CodeMissingToken},
		{name: "bearer prefix of longer scheme", values: []string{"Bearerx " + tok}, wantCode: apiauth.CodeMissingToken},
		{name: "longer scheme", values: []string{"XBearer " + tok}, wantCode: apiauth.CodeMissingToken},

		// Malformed requests: 400.
		{name: "empty value", values: []string{""}, wantCode: apiauth.CodeInvalidRequest},
		{name: "only spaces", values: []string{"   "}, wantCode: apiauth.CodeInvalidRequest},
		{name: "leading space", values: []string{" Bearer " + tok}, wantCode: apiauth.CodeInvalidRequest},
		{name: "bearer alone", values: []string{"Bearer"}, wantCode: apiauth.CodeInvalidRequest},
		{name: "bearer lower alone", values: []string{"bearer"}, wantCode: apiauth.CodeInvalidRequest},
		{name: "bearer space", values: []string{"Bearer "}, wantCode: apiauth.CodeInvalidRequest},
		{name: "bearer spaces", values: []string{"Bearer    "}, wantCode: apiauth.CodeInvalidRequest},
		{name: "tab separator", values: []string{"Bearer\t" + tok}, wantCode: apiauth.CodeInvalidRequest},
		{name: "bearer tab alone", values: []string{"Bearer\t"}, wantCode: apiauth.CodeInvalidRequest},
		{name: "comma after scheme", values: []string{"Bearer," + tok}, wantCode: apiauth.CodeInvalidRequest},
		{name: "equals after scheme", values: []string{"Bearer=" + tok}, wantCode: apiauth.CodeInvalidRequest},
		{name: "colon after scheme", values: []string{"Bearer:" + tok}, wantCode: apiauth.CodeInvalidRequest},
		{name: "garbage scheme", values: []string{"@@@ x"}, wantCode: apiauth.CodeInvalidRequest},
		{name: "quoted scheme", values: []string{`"Bearer" ` + tok}, wantCode: apiauth.CodeInvalidRequest},
		{name: "two bearer lines", values: []string{"Bearer " + tok, "Bearer " + tok}, wantCode: apiauth.CodeInvalidRequest},
		{name: "bearer and basic", values: []string{"Bearer " + tok, "Basic dXNlcjpwYXNz"}, wantCode: apiauth.CodeInvalidRequest},
		{name: "basic and bearer", values: []string{"Basic dXNlcjpwYXNz", "Bearer " + tok}, wantCode: apiauth.CodeInvalidRequest},
		{name: "two empty lines", values: []string{"", ""}, wantCode: apiauth.CodeInvalidRequest},

		// A token that is not a b64token: 401 invalid_token.
		{name: "space inside token", values: []string{"Bearer abc def"}, wantCode: apiauth.CodeInvalidToken},
		{name: "trailing space", values: []string{"Bearer " + tok + " "}, wantCode: apiauth.CodeInvalidToken},
		{name: "tab after token", values: []string{"Bearer " + tok + "\t"}, wantCode: apiauth.CodeInvalidToken},
		{name: "tab before token", values: []string{"Bearer \t" + tok}, wantCode: apiauth.CodeInvalidToken},
		{name: "comma", values: []string{"Bearer abc,def"}, wantCode: apiauth.CodeInvalidToken},
		{name: "two credentials in one line", values: []string{"Bearer abc, Basic dXNlcjpwYXNz"}, wantCode: apiauth.CodeInvalidToken},
		{name: "quote", values: []string{`Bearer "abc"`}, wantCode: apiauth.CodeInvalidToken},
		{name: "backslash", values: []string{`Bearer ab\c`}, wantCode: apiauth.CodeInvalidToken},
		{name: "non-ascii", values: []string{"Bearer abcé"}, wantCode: apiauth.CodeInvalidToken},
		{name: "invalid utf-8", values: []string{"Bearer abc\xff"}, wantCode: apiauth.CodeInvalidToken},
		{name: "nul", values: []string{"Bearer abc\x00"}, wantCode: apiauth.CodeInvalidToken},
		{name: "equals in middle", values: []string{"Bearer ab=c"}, wantCode: apiauth.CodeInvalidToken},
		{name: "only equals", values: []string{"Bearer =="}, wantCode: apiauth.CodeInvalidToken},
		{name: "leading equals", values: []string{"Bearer =abc"}, wantCode: apiauth.CodeInvalidToken},
		{name: "token68 params", values: []string{"Bearer realm=x"}, wantCode: apiauth.CodeInvalidToken},
		{name: "percent", values: []string{"Bearer abc%20"}, wantCode: apiauth.CodeInvalidToken},

		// The size cap.
		{name: "exactly maxLen", values: []string{"Bearer " + strings.Repeat("a", 10)}, maxLen: 10, wantTok: strings.Repeat("a", 10)},
		{name: "maxLen plus one", values: []string{"Bearer " + strings.Repeat("a", 11)}, maxLen: 10, wantCode: apiauth.CodeInvalidToken},
		{name: "padding counts", values: []string{"Bearer " + strings.Repeat("a", 9) + "=="}, maxLen: 10, wantCode: apiauth.CodeInvalidToken},
		{name: "spaces do not count", values: []string{"Bearer      " + strings.Repeat("a", 10)}, maxLen: 10, wantTok: strings.Repeat("a", 10)},
		{name: "default cap exact", values: []string{"Bearer " + strings.Repeat("a", apiauth.DefaultMaxTokenLength)}, wantTok: strings.Repeat("a", apiauth.DefaultMaxTokenLength)},
		{name: "default cap plus one", values: []string{"Bearer " + strings.Repeat("a", apiauth.DefaultMaxTokenLength+1)}, wantCode: apiauth.CodeInvalidToken},
		{name: "negative maxLen is default", values: []string{"Bearer " + strings.Repeat("a", apiauth.DefaultMaxTokenLength)}, maxLen: -1, wantTok: strings.Repeat("a", apiauth.DefaultMaxTokenLength)},
		{name: "negative maxLen plus one", values: []string{"Bearer " + strings.Repeat("a", apiauth.DefaultMaxTokenLength+1)}, maxLen: -1, wantCode: apiauth.CodeInvalidToken},
		{name: "cap above default", values: []string{"Bearer " + strings.Repeat("a", 5000)}, maxLen: 5000, wantTok: strings.Repeat("a", 5000)},
		{name: "over cap and not b64", values: []string{"Bearer " + strings.Repeat("é", 20)}, maxLen: 10, wantCode: apiauth.CodeInvalidToken},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			for _, v := range tc.values {
				h.Add("Authorization", v)
			}
			gotTok, gotCode := apiauth.ParseBearer(h, tc.maxLen)
			assert.Equal(t, tc.wantTok, gotTok, "token")
			assert.Equal(t, tc.wantCode, gotCode, "code")
		})
	}
}

// TestParseBearerIgnoresOtherFields makes sure only Authorization is read:
// a Proxy-Authorization or a token-looking header elsewhere is not a
// credential.
func TestParseBearerIgnoresOtherFields(t *testing.T) {
	h := http.Header{}
	h.Set("Proxy-Authorization", "Bearer abc")
	h.Set("X-Api-Key", "abc")
	tok, code := apiauth.ParseBearer(h, 0)
	assert.Equal(t, "", tok)
	assert.Equal(t, apiauth.CodeMissingToken, code)

	h.Set("Authorization", "Bearer xyz")
	tok, code = apiauth.ParseBearer(h, 0)
	assert.Equal(t, "xyz", tok)
	assert.Empty(t, code)
}

// TestParseBearerFromWire runs the parser on headers as net/http reads them
// off the wire, where repeated field lines stay separate values.
func TestParseBearerFromWire(t *testing.T) {
	req, err := http.ReadRequest(bufio.NewReader(strings.NewReader("GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer abc\r\nAuthorization: Basic dXNlcjpwYXNz\r\n\r\n")))
	if err != nil {
		t.Fatal(err)
	}
	tok, code := apiauth.ParseBearer(req.Header, 0)
	assert.Equal(t, "", tok)
	assert.Equal(t, apiauth.CodeInvalidRequest, code)

	req, err = http.ReadRequest(bufio.NewReader(strings.NewReader("GET / HTTP/1.1\r\nHost: x\r\nauthorization:   bearer   abc==  \r\n\r\n")))
	if err != nil {
		t.Fatal(err)
	}
	// net/http trims the field value's surrounding whitespace (RFC 9110 §5.5).
	tok, code = apiauth.ParseBearer(req.Header, 0)
	assert.Equal(t, "abc==", tok)
	assert.Empty(t, code)
}

// TestValidRealm pins RFC 6750 §3's quoted-value character set.
func TestValidRealm(t *testing.T) {
	for _, s := range []string{"", "api", "Example API v2", "a!#$%&'()*+,-./:;<=>?@[]^_`{|}~"} {
		assert.True(t, apiauth.ValidRealm(s), "%q", s)
	}
	for _, s := range []string{`a"b`, `a\b`, "a\tb", "a\nb", "a\x7fb", "é", "\x00"} {
		assert.False(t, apiauth.ValidRealm(s), "%q", s)
	}
}
