package apiauth

import (
	"errors"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// A strict, allocation-light reader for the flat JSON objects of JWS
// headers and JWT claims sets (RFC 7515 §4, RFC 7519 §4). encoding/json
// would accept what a verifier must refuse: duplicate member names (RFC
// 7515 §5.2 and RFC 7519 §4 say they must be rejected or the last taken;
// we reject), names matched case-insensitively, and numeric claims given
// as strings. It also costs a reflection walk per token.

var errJSON = errors.New("malformed JSON")

// maxJSONDepth bounds nesting in claims the verifier skips over.
const maxJSONDepth = 32

// maxJSONMembers bounds the members of a JOSE header or claims set.
const maxJSONMembers = 64

// jsonKind is the type of a member's value.
type jsonKind uint8

const (
	jsonString jsonKind = iota + 1
	jsonNumber
	jsonArray
	jsonObject
	jsonBool
	jsonNull
)

// jsonValue is one member's value: raw is the JSON text of it.
type jsonValue struct {
	kind jsonKind
	raw  string
}

// str returns the decoded string of a jsonString value.
func (v jsonValue) str() (string, error) {
	if v.kind != jsonString {
		return "", errJSON
	}
	return unquoteJSON(v.raw)
}

// num returns the value of a jsonNumber.
func (v jsonValue) num() (float64, error) {
	if v.kind != jsonNumber {
		return 0, errJSON
	}
	return strconv.ParseFloat(v.raw, 64)
}

// strings returns the decoded elements of an array of strings.
func (v jsonValue) strings() ([]string, error) {
	if v.kind != jsonArray {
		return nil, errJSON
	}
	s := strings.TrimSpace(v.raw[1 : len(v.raw)-1])
	var out []string
	for s != "" {
		if s[0] != '"' {
			return nil, errJSON
		}
		end, err := scanString(s, 0)
		if err != nil {
			return nil, err
		}
		e, err := unquoteJSON(s[:end])
		if err != nil {
			return nil, err
		}
		out = append(out, e)
		s = strings.TrimLeft(s[end:], " \t\r\n")
		if s == "" {
			break
		}
		if s[0] != ',' {
			return nil, errJSON
		}
		s = strings.TrimLeft(s[1:], " \t\r\n")
		if s == "" {
			return nil, errJSON // trailing comma
		}
	}
	return out, nil
}

// scanObject walks the top-level members of the JSON object s, calling fn
// with each member's decoded name and value. It refuses invalid JSON,
// invalid UTF-8, duplicate names (after unescaping) and nesting deeper than
// maxJSONDepth.
func scanObject(s string, fn func(name string, v jsonValue) error) error {
	if !utf8.ValidString(s) {
		return errJSON
	}
	var seenBuf [24]string
	seen := seenBuf[:0]
	i := skipWS(s, 0)
	if i >= len(s) || s[i] != '{' {
		return errJSON
	}
	i = skipWS(s, i+1)
	if i < len(s) && s[i] == '}' {
		if skipWS(s, i+1) != len(s) {
			return errJSON
		}
		return nil
	}
	for {
		if i >= len(s) || s[i] != '"' {
			return errJSON
		}
		end, err := scanString(s, i)
		if err != nil {
			return err
		}
		name, err := unquoteJSON(s[i:end])
		if err != nil {
			return err
		}
		// Duplicates are found by comparing with every earlier name: a cap
		// on the count keeps that from growing into a CPU amplifier.
		if len(seen) >= maxJSONMembers {
			return errJSON
		}
		for _, n := range seen {
			if n == name {
				return errJSON
			}
		}
		seen = append(seen, name)
		i = skipWS(s, end)
		if i >= len(s) || s[i] != ':' {
			return errJSON
		}
		i = skipWS(s, i+1)
		vend, kind, err := scanValue(s, i, 0)
		if err != nil {
			return err
		}
		if err := fn(name, jsonValue{kind: kind, raw: s[i:vend]}); err != nil {
			return err
		}
		i = skipWS(s, vend)
		if i >= len(s) {
			return errJSON
		}
		if s[i] == '}' {
			if skipWS(s, i+1) != len(s) {
				return errJSON
			}
			return nil
		}
		if s[i] != ',' {
			return errJSON
		}
		i = skipWS(s, i+1)
	}
}

func skipWS(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

// scanValue returns the end of the JSON value starting at s[i].
func scanValue(s string, i, depth int) (int, jsonKind, error) {
	if i >= len(s) {
		return 0, 0, errJSON
	}
	switch c := s[i]; {
	case c == '"':
		end, err := scanString(s, i)
		return end, jsonString, err
	case c == '-' || '0' <= c && c <= '9':
		end, err := scanNumber(s, i)
		return end, jsonNumber, err
	case c == '{' || c == '[':
		if depth >= maxJSONDepth {
			return 0, 0, errJSON
		}
		end, err := scanComposite(s, i, depth+1)
		if c == '{' {
			return end, jsonObject, err
		}
		return end, jsonArray, err
	case strings.HasPrefix(s[i:], "true"):
		return i + 4, jsonBool, nil
	case strings.HasPrefix(s[i:], "false"):
		return i + 5, jsonBool, nil
	case strings.HasPrefix(s[i:], "null"):
		return i + 4, jsonNull, nil
	}
	return 0, 0, errJSON
}

// scanComposite returns the end of the object or array starting at s[i].
func scanComposite(s string, i, depth int) (int, error) {
	obj := s[i] == '{'
	closer := byte(']')
	if obj {
		closer = '}'
	}
	i = skipWS(s, i+1)
	if i < len(s) && s[i] == closer {
		return i + 1, nil
	}
	for {
		if obj {
			if i >= len(s) || s[i] != '"' {
				return 0, errJSON
			}
			end, err := scanString(s, i)
			if err != nil {
				return 0, err
			}
			i = skipWS(s, end)
			if i >= len(s) || s[i] != ':' {
				return 0, errJSON
			}
			i = skipWS(s, i+1)
		}
		end, _, err := scanValue(s, i, depth)
		if err != nil {
			return 0, err
		}
		i = skipWS(s, end)
		if i >= len(s) {
			return 0, errJSON
		}
		if s[i] == closer {
			return i + 1, nil
		}
		if s[i] != ',' {
			return 0, errJSON
		}
		i = skipWS(s, i+1)
	}
}

// scanString returns the end (after the closing quote) of the string
// starting at s[i]. It checks escapes and refuses control characters.
func scanString(s string, i int) (int, error) {
	i++
	for i < len(s) {
		c := s[i]
		switch {
		case c == '"':
			return i + 1, nil
		case c == '\\':
			if i+1 >= len(s) {
				return 0, errJSON
			}
			switch s[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(s) {
					return 0, errJSON
				}
				for _, h := range []byte(s[i+2 : i+6]) {
					if !isHex(h) {
						return 0, errJSON
					}
				}
				i += 6
			default:
				return 0, errJSON
			}
		case c < 0x20:
			return 0, errJSON
		default:
			i++
		}
	}
	return 0, errJSON
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// scanNumber returns the end of the number starting at s[i] (RFC 8259 §6).
func scanNumber(s string, i int) (int, error) {
	start := i
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && '1' <= s[i] && s[i] <= '9':
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
	default:
		return 0, errJSON
	}
	if i < len(s) && s[i] == '.' {
		if i = skipDigits(s, i+1); i < 0 {
			return 0, errJSON
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if i = skipDigits(s, i); i < 0 {
			return 0, errJSON
		}
	}
	if i == start {
		return 0, errJSON
	}
	return i, nil
}

// skipDigits returns the end of the one or more digits at s[i], or -1.
func skipDigits(s string, i int) int {
	d := i
	for i < len(s) && '0' <= s[i] && s[i] <= '9' {
		i++
	}
	if i == d {
		return -1
	}
	return i
}

// unquoteJSON decodes a JSON string literal (with its quotes) that
// scanString accepted. Without escapes it returns a substring of q.
func unquoteJSON(q string) (string, error) {
	s := q[1 : len(q)-1]
	if strings.IndexByte(s, '\\') < 0 {
		return s, nil
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\\' {
			b = append(b, c)
			i++
			continue
		}
		switch s[i+1] {
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r := hex4(s[i+2 : i+6])
			i += 6
			if utf16.IsSurrogate(r) {
				r2 := utf8.RuneError
				if i+6 <= len(s) && s[i] == '\\' && s[i+1] == 'u' {
					r2 = utf16.DecodeRune(r, hex4(s[i+2:i+6]))
					if r2 != utf8.RuneError {
						i += 6
					}
				}
				r = r2
			}
			b = utf8.AppendRune(b, r)
			continue
		default: // " \ /
			b = append(b, s[i+1])
		}
		i += 2
	}
	return string(b), nil
}

func hex4(s string) rune {
	var r rune
	for i := 0; i < 4; i++ {
		c := s[i]
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		default:
			c = c - 'A' + 10
		}
		r = r<<4 | rune(c)
	}
	return r
}
