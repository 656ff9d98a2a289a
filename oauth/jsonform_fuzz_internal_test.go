package oauth

import (
	"encoding/json"
	"testing"
)

// FuzzJSONForm holds jsonForm to encoding/json: what it accepts is one
// object of strings, which encoding/json decodes to the same parameters;
// and it never panics. Run it with go test -fuzz FuzzJSONForm ./oauth.
func FuzzJSONForm(f *testing.F) {
	for _, seed := range []string{
		`{"grant_type":"client_credentials","scope":"read write"}`,
		`{"a":"1","a":"2"}`, `{"a":"\u0061"}`, `{"a\u005f":"x","a_":"y"}`, `{"a":1}`, `{"a":null}`, `{}`, ` {"a":"b"} `,
		`{"a":"b"}{}`, `[]`, `"x"`, `{"a":{"b":"c"}}`, `{"a":"\ud800"}`, "{\"a\":\"\xff\"}",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		form, err := jsonForm(body)
		if err != nil {
			return
		}
		var m map[string]string
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatalf("jsonForm accepted %q, which encoding/json refuses: %v", body, err)
		}
		if len(m) != len(form) {
			t.Fatalf("jsonForm read %d parameters from %q, encoding/json %d", len(form), body, len(m))
		}
		for k, v := range m {
			if got := form[k]; len(got) != 1 || got[0] != v {
				t.Fatalf("%q: parameter %q is %q, encoding/json says %q", body, k, got, v)
			}
		}
	})
}
