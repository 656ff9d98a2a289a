package apiauth

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
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
