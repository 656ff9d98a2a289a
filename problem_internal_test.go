package apiauth

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAppendJSONStringExhaustive compares the hand-written encoder with
// encoding/json on every string of one and two bytes, and on every rune:
// together they reach every branch (ASCII escapes, HTML characters,
// invalid and truncated UTF-8, U+2028/U+2029).
func TestAppendJSONStringExhaustive(t *testing.T) {
	check := func(s string) {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		got := appendJSONString(nil, s)
		if string(got) != string(want) {
			t.Fatalf("appendJSONString(%q) = %s, encoding/json gives %s", s, got, want)
		}
	}
	for a := 0; a < 256; a++ {
		check(string([]byte{byte(a)}))
		for b := 0; b < 256; b++ {
			check(string([]byte{byte(a), byte(b)}))
		}
	}
	for r := rune(0); r <= utf8.MaxRune; r++ {
		check(string(r))
	}
	// Truncations of multi-byte runes, alone and followed by ASCII.
	for _, r := range []rune{'é', '€', '😀', '\u2028'} {
		enc := string(r)
		for i := 1; i < len(enc); i++ {
			check(enc[:i])
			check(enc[:i] + "a")
			check("a" + enc[:i] + "<")
		}
	}
}

func TestAppendJSONStringAppends(t *testing.T) {
	b := []byte("prefix:")
	b = appendJSONString(b, "a<b")
	if got, want := string(b), `prefix:"a\u003cb"`; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

func TestProblemAppendJSON(t *testing.T) {
	p := &Problem{Type: "about:blank", Title: "Unauthorized", Status: 401, Detail: "d \"q\" \u2029", Instance: "/a%20b", RequestID: "r", Code: CodeInvalidToken}
	want, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	got := p.appendJSON(nil)
	if string(got) != string(want)+"\n" {
		t.Fatalf("appendJSON = %s, encoding/json gives %s", got, want)
	}
	for _, status := range []int{0, -1, 100, 599, 1 << 31} {
		p := &Problem{Status: status}
		want, _ := json.Marshal(p)
		if got := p.appendJSON(nil); string(got) != string(want)+"\n" {
			t.Errorf("status %d: appendJSON = %s, encoding/json gives %s", status, got, want)
		}
	}
}

// TestProblemTemplates: a refusal's body, written from the templates of
// its code, is byte for byte the problem encoded whole, and decodes to
// the problem, for every library code, with and without a type base, the
// default or another detail, and after WriteError changed status and
// title; a custom code (no template) takes the whole encoding.
func TestProblemTemplates(t *testing.T) {
	for _, base := range []string{"", "https://api.example.com/problems/", `https://x.test/"<odd>"/`} {
		s := &problemSettings{realm: "api", typeBase: base}
		s.compile()
		codes := []Code{"out_of_stock"}
		for code := range problems {
			codes = append(codes, code)
		}
		for _, code := range codes {
			for _, detail := range []string{"", "Try again in 7 seconds.", "<script>\u2028\"\\"} {
				for _, status := range []int{0, 409} { // 0: the code's own
					if _, ok := problems[code]; !ok && status == 0 {
						continue // reject is for library codes
					}
					req := httptest.NewRequest("GET", "/v1/a%20b/<c>", nil)
					st, req := ensureState(req)
					rr := httptest.NewRecorder()
					if status == 0 {
						s.reject(rr, req, st, code, detail)
					} else {
						st.settings = s
						WriteError(rr, req, status, code, detail)
					}
					var p Problem
					require.NoError(t, json.Unmarshal(rr.Body.Bytes(), &p))
					assert.Equal(t, string(p.appendJSON(nil)), rr.Body.String(), "base %q code %s detail %q status %d", base, code, detail, status)
					if status != 0 {
						assert.Equal(t, status, p.Status)
						assert.Equal(t, status, rr.Code)
					} else if info, ok := problems[code]; ok {
						assert.Equal(t, info.status, p.Status)
						if detail == "" {
							assert.Equal(t, info.detail, p.Detail)
						}
					}
					if detail != "" {
						assert.Equal(t, detail, p.Detail)
					}
					assert.Equal(t, code, p.Code)
					assert.Equal(t, "/v1/a%20b/%3Cc%3E", p.Instance)
					wantType, wantTitle := "about:blank", http.StatusText(p.Status)
					if base != "" {
						wantType = base + string(code)
						if info, ok := problems[code]; ok {
							wantTitle = info.title
						}
					}
					assert.Equal(t, wantType, p.Type)
					assert.Equal(t, wantTitle, p.Title)
				}
			}
		}
	}
}
