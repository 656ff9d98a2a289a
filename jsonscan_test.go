package apiauth

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
	"unsafe"
)

// fzMember is one member of a JSON object: its decoded name and the JSON
// text of its value.
type fzMember struct {
	name, raw string
}

// scanMembers runs scanObject on s and collects what it reports.
func scanMembers(s string) ([]fzMember, []jsonValue, error) {
	var members []fzMember
	var values []jsonValue
	err := scanObject(s, func(name string, v jsonValue) error {
		members = append(members, fzMember{name, v.raw})
		values = append(values, v)
		return nil
	})
	return members, values, err
}

// nested returns an object whose member "a" holds n nested arrays: a
// document n+1 levels deep.
func nested(n int) string {
	return `{"a":` + strings.Repeat("[", n) + strings.Repeat("]", n) + `}`
}

// manyMembers returns an object of n members "m0", "m1", ….
func manyMembers(n int) string {
	var b strings.Builder
	b.WriteByte('{')
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"m%d":%d`, i, i)
	}
	b.WriteByte('}')
	return b.String()
}

func TestScanObjectAccepts(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []fzMember
	}{
		{`{}`, nil},
		{" \t\r\n{ \t\r\n} \t\r\n", nil},
		{`{"a":1}`, []fzMember{{"a", "1"}}},
		{` { "a" : "x" , "b" : -0.5e+3 } `, []fzMember{{"a", `"x"`}, {"b", "-0.5e+3"}}},
		{`{"s":"","n":0,"t":true,"f":false,"z":null,"o":{},"l":[]}`, []fzMember{
			{"s", `""`}, {"n", "0"}, {"t", "true"}, {"f", "false"}, {"z", "null"}, {"o", "{}"}, {"l", "[]"},
		}},
		{`{"o":{"x":[1,{"y":"}"}],"z":"]"},"k":1}`, []fzMember{{"o", `{"x":[1,{"y":"}"}],"z":"]"}`}, {"k", "1"}}},
		{`{"\u0061\n":1}`, []fzMember{{"a\n", "1"}}},
		{`{"é😀":"\ud83d\ude00"}`, []fzMember{{"é😀", `"\ud83d\ude00"`}}},
		{`{"A":1,"a":2}`, []fzMember{{"A", "1"}, {"a", "2"}}}, // names are case-sensitive
		{`{"a":"\"\\\/\b\f\n\r\t"}`, []fzMember{{"a", `"\"\\\/\b\f\n\r\t"`}}},
		{"{\"a\":\"\x7f\"}", []fzMember{{"a", "\"\x7f\""}}},
		{`{"n":[-0,0.0,1E5,1e-5,123456789012345678901234567890]}`, []fzMember{{"n", `[-0,0.0,1E5,1e-5,123456789012345678901234567890]`}}},
		// The object, then maxJSONDepth levels inside it.
		{nested(maxJSONDepth), []fzMember{{"a", strings.Repeat("[", maxJSONDepth) + strings.Repeat("]", maxJSONDepth)}}},
	} {
		got, _, err := scanMembers(tc.in)
		if err != nil {
			t.Errorf("scanObject(%q): %v", tc.in, err)
			continue
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("scanObject(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got, _, err := scanMembers(manyMembers(maxJSONMembers)); err != nil || len(got) != maxJSONMembers {
		t.Errorf("scanObject of %d members: %d members, %v", maxJSONMembers, len(got), err)
	}
}

func TestScanObjectRefuses(t *testing.T) {
	for _, in := range []string{
		// Not one JSON object.
		``, ` `, `[]`, `"a"`, `1`, `null`, `{`, `}`, `{}{}`, `{}x`, `{} ,`, "\ufeff{}",
		// Members.
		`{"a"}`, `{"a":}`, `{"a" 1}`, `{"a":1,}`, `{,}`, `{,"a":1}`, `{"a":1 "b":2}`, `{a:1}`, `{'a':1}`,
		`{"a":1]`, `{"a":[1}`, `{"a":{"b"}}`, `{"a":{"b":}}`, `{"a":{1:2}}`, `{"a":[1,]}`, `{"a":[,1]}`,
		`{"a":{"b":1,}}`, `{"a":[1 2]}`, `{"a":1`, `{"a":[`, `{"a":{`,
		// Numbers.
		`{"a":01}`, `{"a":-01}`, `{"a":1.}`, `{"a":.5}`, `{"a":-}`, `{"a":1e}`, `{"a":1e+}`, `{"a":+1}`,
		`{"a":NaN}`, `{"a":Infinity}`, `{"a":0x10}`, `{"a":1.5.2}`, `{"a":--1}`,
		// Literals.
		`{"a":tru}`, `{"a":True}`, `{"a":nul}`, `{"a":falsey}`, `{"a":truefalse}`, `{"a":undefined}`,
		// Strings.
		"{\"a\":\"\x01\"}", "{\"a\":\"\n\"}", "{\"a\":\"\t\"}", `{"a":"\q"}`, `{"a":"\u12"}`, `{"a":"\u12G4"}`,
		`{"a":"\x41"}`, `{"a":"\'"}`, `{"a":"abc}`, `{"a":"abc\"}`, `{"a":"\`, `{"a\":1}`, "{\"\x00\":1}",
		// The stricter rules: invalid UTF-8, duplicate names (also once
		// unescaped), too many members, too deep.
		"{\"a\":\"\xff\"}", "{\"a\xc3\":1}", "{\"a\":1}\xff", "{\"a\":\"\xed\xa0\x80\"}",
		`{"a":1,"a":2}`, `{"a":1,"b":2,"a":3}`, `{"a":1,"\u0061":2}`, `{"":1,"":2}`,
		manyMembers(maxJSONMembers + 1),
		nested(maxJSONDepth + 1),
		`{"a":` + strings.Repeat(`{"b":`, maxJSONDepth+1) + "1" + strings.Repeat("}", maxJSONDepth+1) + "}",
	} {
		if got, _, err := scanMembers(in); err == nil {
			t.Errorf("scanObject(%.80q) accepted %q", in, got)
		}
	}
}

func TestScanObjectStopsOnCallbackError(t *testing.T) {
	stop := errors.New("stop")
	var names []string
	err := scanObject(`{"a":1,"b":2,"c":3}`, func(name string, _ jsonValue) error {
		names = append(names, name)
		if name == "b" {
			return stop
		}
		return nil
	})
	if err != stop || !slices.Equal(names, []string{"a", "b"}) {
		t.Fatalf("scanObject: %v after %q, want the callback's error after a, b", err, names)
	}
}

// value returns the value of the only member of {"v":raw}.
func value(t *testing.T, raw string) jsonValue {
	t.Helper()
	_, values, err := scanMembers(`{"v":` + raw + `}`)
	if err != nil || len(values) != 1 {
		t.Fatalf("scanObject of a value %s: %v", raw, err)
	}
	return values[0]
}

func TestJSONValueKinds(t *testing.T) {
	for raw, want := range map[string]jsonKind{
		`""`: jsonString, `"x"`: jsonString, `0`: jsonNumber, `-1.5e3`: jsonNumber, `[]`: jsonArray, `[1]`: jsonArray,
		`{}`: jsonObject, `{"a":1}`: jsonObject, `true`: jsonBool, `false`: jsonBool, `null`: jsonNull,
	} {
		if v := value(t, raw); v.kind != want || v.raw != raw {
			t.Errorf("%s: kind %d raw %q, want kind %d", raw, v.kind, v.raw, want)
		}
	}
}

func TestJSONValueStr(t *testing.T) {
	for raw, want := range map[string]string{
		`""`:                           "",
		`"plain"`:                      "plain",
		`"é😀"`:                         "é😀",
		`"\"\\\/\b\f\n\r\t"`:           "\"\\/\b\f\n\r\t",
		`"\u0041\u00e9\u20AC"`:         "Aé€",
		`"\u0000"`:                     "\x00",
		`"\ud83d\ude00"`:               "😀",
		`"\uD83D\uDE00x"`:              "😀x",
		`"\ud800"`:                     "\ufffd",       // lone high surrogate
		`"\udc00"`:                     "\ufffd",       // lone low surrogate
		`"\ud800x"`:                    "\ufffdx",      // high surrogate, no escape after
		`"\ud800\u0041"`:               "\ufffdA",      // high surrogate, then no low one
		`"\udc00\ud800"`:               "\ufffd\ufffd", // reversed pair
		`"\ud800\ud800\udc00"`:         "\ufffd𐀀",      // a lone high one, then a pair
		`"a\\u0041"`:                   `a\u0041`,      // an escaped backslash, not an escape
		`"\ud800\n"`:                   "\ufffd\n",     // surrogate before another escape
		`"x\ud83d\ude00y\ud83d\ude00"`: "x😀y😀",
	} {
		got, err := value(t, raw).str()
		if err != nil || got != want {
			t.Errorf("str of %s = %q, %v; want %q", raw, got, err, want)
		}
		var ref string
		if err := json.Unmarshal([]byte(raw), &ref); err != nil || ref != want {
			t.Errorf("the test is wrong: encoding/json decodes %s as %q, %v", raw, ref, err)
		}
	}
	for _, raw := range []string{`1`, `true`, `null`, `["a"]`, `{"a":"b"}`} {
		if got, err := value(t, raw).str(); err == nil {
			t.Errorf("str of %s = %q, want an error", raw, got)
		}
	}
	// Without escapes, the string is a substring of the input: no copy.
	in := `{"v":"no escapes here"}`
	_, values, _ := scanMembers(in)
	got, err := values[0].str()
	start := uintptr(unsafe.Pointer(unsafe.StringData(in)))
	if p := uintptr(unsafe.Pointer(unsafe.StringData(got))); err != nil || got != "no escapes here" || p < start || p >= start+uintptr(len(in)) {
		t.Fatalf("str = %q, %v: a copy, or wrong", got, err)
	}
}

func TestJSONValueNum(t *testing.T) {
	for raw, want := range map[string]float64{
		`0`: 0, `-0`: math.Copysign(0, -1), `1`: 1, `-1.5`: -1.5, `1e3`: 1000, `1E+3`: 1000, `25e-1`: 2.5,
		`1700000000`: 1700000000, `9007199254740993`: 9007199254740992, `1e-400`: 0,
	} {
		got, err := value(t, raw).num()
		if err != nil || got != want || math.Signbit(got) != math.Signbit(want) {
			t.Errorf("num of %s = %v, %v; want %v", raw, got, err, want)
		}
	}
	// Out of float64's range: an error, as encoding/json gives.
	if got, err := value(t, `1e400`).num(); err == nil {
		t.Errorf("num of 1e400 = %v, want an error", got)
	}
	for _, raw := range []string{`"1"`, `true`, `null`, `[1]`, `{}`} {
		if got, err := value(t, raw).num(); err == nil {
			t.Errorf("num of %s = %v, want an error", raw, got)
		}
	}
}

func TestJSONValueStrings(t *testing.T) {
	for raw, want := range map[string][]string{
		`[]`:                        nil,
		`[ ]`:                       nil,
		`["a"]`:                     {"a"},
		`[ "a" , "b\n" ,"" ]`:       {"a", "b\n", ""},
		"[\t\"x\"\r\n]":             {"x"},
		`["\u0061","\ud83d\ude00"]`: {"a", "😀"},
		`["],[", "\"]"]`:            {"],[", `"]`},
	} {
		got, err := value(t, raw).strings()
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("strings of %s = %q, %v; want %q", raw, got, err, want)
		}
	}
	for _, raw := range []string{
		`["a",1]`, `[1]`, `[null]`, `["a",null]`, `[["a"]]`, `[{}]`, `[true]`, `"a"`, `1`, `null`, `{"a":"b"}`,
	} {
		if got, err := value(t, raw).strings(); err == nil {
			t.Errorf("strings of %s = %q, want an error", raw, got)
		}
	}
}

// refObject reads s with encoding/json: ok when s is one JSON object, with
// its members in order, duplicates kept, and its greatest nesting depth (1
// for an object of scalars).
func refObject(s string) (members []fzMember, depth int, ok bool) {
	if !json.Valid([]byte(s)) {
		return nil, 0, false
	}
	dec := json.NewDecoder(strings.NewReader(s))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, 0, false
	}
	for dec.More() {
		tok, err := dec.Token()
		name, isName := tok.(string)
		if err != nil || !isName {
			return nil, 0, false
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, 0, false
		}
		members = append(members, fzMember{name, string(raw)})
	}
	return members, jsonDepth(s), true
}

// jsonDepth returns the greatest nesting of objects and arrays in the valid
// JSON text s.
func jsonDepth(s string) int {
	depth, most := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			for i++; s[i] != '"'; i++ {
				if s[i] == '\\' {
					i++
				}
			}
		case '{', '[':
			depth++
			most = max(most, depth)
		case '}', ']':
			depth--
		}
	}
	return most
}

// stricterRule names the documented rule of scanObject that refuses the
// JSON object s (members and depth as refObject gives them), or is "".
func stricterRule(s string, members []fzMember, depth int) string {
	switch {
	case !utf8.ValidString(s):
		return "invalid UTF-8"
	case len(members) > maxJSONMembers:
		return "too many members"
	case depth > maxJSONDepth+1: // the object itself, then maxJSONDepth levels inside
		return "too deep"
	}
	seen := make(map[string]bool, len(members))
	for _, m := range members {
		if seen[m.name] {
			return "duplicate name " + m.name
		}
		seen[m.name] = true
	}
	return ""
}

// checkValue compares v's accessors with encoding/json's reading of raw.
func checkValue(t *testing.T, v jsonValue, raw string) {
	t.Helper()
	kind := map[byte]jsonKind{'"': jsonString, '{': jsonObject, '[': jsonArray, 't': jsonBool, 'f': jsonBool, 'n': jsonNull}[raw[0]]
	if kind == 0 {
		kind = jsonNumber
	}
	if v.kind != kind {
		t.Fatalf("value %q: kind %d, want %d", raw, v.kind, kind)
	}
	// encoding/json decodes null into a string or a float64 as nothing;
	// str and num refuse it.
	str, strErr := v.str()
	var refStr string
	if err := json.Unmarshal([]byte(raw), &refStr); kind == jsonNull && strErr == nil ||
		kind != jsonNull && ((err == nil) != (strErr == nil) || err == nil && str != refStr) {
		t.Fatalf("str of %q = %q, %v; encoding/json: %q, %v", raw, str, strErr, refStr, err)
	}
	num, numErr := v.num()
	var refNum float64
	if err := json.Unmarshal([]byte(raw), &refNum); kind == jsonNull && numErr == nil ||
		kind != jsonNull && ((err == nil) != (numErr == nil) || err == nil && num != refNum) {
		t.Fatalf("num of %q = %v, %v; encoding/json: %v, %v", raw, num, numErr, refNum, err)
	}
	list, listErr := v.strings()
	var refList []any
	refOK := json.Unmarshal([]byte(raw), &refList) == nil && kind == jsonArray
	for _, e := range refList {
		_, isStr := e.(string)
		refOK = refOK && isStr
	}
	if refOK != (listErr == nil) || len(list) != len(refList) && refOK {
		t.Fatalf("strings of %q = %q, %v; encoding/json: %q", raw, list, listErr, refList)
	}
	for i := range list {
		if list[i] != refList[i] {
			t.Fatalf("strings of %q = %q; encoding/json: %q", raw, list, refList)
		}
	}
}

// FuzzScanObjectDifferential compares scanObject with encoding/json. What
// scanObject accepts, encoding/json must read as an object with the same
// members in the same order, the same value texts, and the same strings,
// numbers and arrays of strings from the accessors. What it refuses that
// encoding/json accepts must break one of its documented stricter rules:
// invalid UTF-8, duplicate names, more than maxJSONMembers members, more
// than maxJSONDepth levels inside the object. Run it with
//
//	go test -run '^$' -fuzz '^FuzzScanObjectDifferential$' -fuzztime 120s .
func FuzzScanObjectDifferential(f *testing.F) {
	for _, s := range []string{
		`{}`, ` { } `, `{"alg":"ES256","typ":"JWT","kid":"k1"}`,
		`{"iss":"https://idp.example","sub":"alice","aud":["api","other"],"exp":1700000000,"nbf":1.7e9,"iat":0}`,
		`{"scope":"read write","client_id":"c","nested":{"a":[1,{"b":null}],"c":true},"f":false}`,
		`{"a":"\u0041\ud83d\ude00\ud800\n\"\\\/"}`, `{"\u0061":1,"a":2}`, `{"A":1,"a":2}`,
		`{"a":-0.5e+10,"b":0,"c":1E-2}`, `{"a":01}`, `{"a":1.}`, `{"a":[1,]}`, `{"a":1,}`,
		"{\"a\":\"\xff\"}", "{\"a\":\"\x01\"}", `{"a":"\u12G4"}`, `{"a":tru}`, "\ufeff{}", `[]`, ``,
		nested(maxJSONDepth), nested(maxJSONDepth + 1), manyMembers(maxJSONMembers), manyMembers(maxJSONMembers + 1),
		`{"a":["x","y"],"b":["x",1],"c":[]}`, `{"e":1e400}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, values, err := scanMembers(s)
		want, depth, ok := refObject(s)
		switch {
		case err == nil && !ok:
			t.Fatalf("scanObject accepted %q, which encoding/json refuses as an object", s)
		case err == nil:
			if why := stricterRule(s, want, depth); why != "" {
				t.Fatalf("scanObject accepted %q despite its rule: %s", s, why)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("scanObject(%q) = %q; encoding/json: %q", s, got, want)
			}
			for i, v := range values {
				checkValue(t, v, want[i].raw)
			}
		case ok:
			if stricterRule(s, want, depth) == "" {
				t.Fatalf("scanObject refused %q (%v), a JSON object breaking none of its stricter rules", s, err)
			}
		}
	})
}
