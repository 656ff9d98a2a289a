package oauth

import (
	"net/url"
	"testing"
)

// FuzzMatchRedirect checks matchRedirect's one promise on any input: a
// redirect URI it accepts is a registered one string for string, or (RFC
// 8252 §7.3) an http loopback one that differs from a registered one in
// its port and nothing else: same scheme, userinfo, host, path, query and
// fragment. Run it with go test -fuzz FuzzMatchRedirect ./oauth.
func FuzzMatchRedirect(f *testing.F) {
	for _, seed := range [][2]string{
		{"http://127.0.0.1/cb", "http://127.0.0.1:8080/cb"},
		{"http://127.0.0.1/cb", "http://127.0.0.1:8080/cb/"},
		{"http://[::1]/cb", "http://[::1]:1/cb"},
		{"http://127.0.0.1/cb", "http://localhost:8080/cb"},
		{"http://127.0.0.1/cb", "http://u@127.0.0.1:8080/cb"},
		{"http://127.0.0.1/cb", "http://127.0.0.1:8080/cb?x=1"},
		{"http://127.0.0.1/cb", "http://127.0.0.1:8080/cb#f"},
		{"http://127.0.0.1/cb", "http://127.0.0.1:8080/%63b"},
		{"https://app.example/cb", "https://app.example:8443/cb"},
		{"https://app.example/cb", "https://app.example/cb"},
		{"com.example.app:/cb", "com.example.app:/cb"},
		{"http://127.0.0.1:9/cb", "http://127.0.0.1:08080/cb"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, registered, uri string) {
		got, ok := matchRedirect([]string{registered}, uri)
		if !ok {
			return
		}
		if uri == "" {
			if got != registered {
				t.Fatalf("no redirect_uri: got %q, want the one registered %q", got, registered)
			}
			return
		}
		if got != uri {
			t.Fatalf("accepted %q as %q", uri, got)
		}
		if uri == registered {
			return
		}
		r, err1 := url.Parse(registered)
		u, err2 := url.Parse(uri)
		if err1 != nil || err2 != nil {
			t.Fatalf("accepted %q for %q, which do not both parse", uri, registered)
		}
		if u.Scheme != "http" || !isLoopback(u.Hostname()) || u.Hostname() != r.Hostname() {
			t.Fatalf("accepted %q for %q: not the same http loopback host", uri, registered)
		}
		if u.User.String() != r.User.String() || u.EscapedPath() != r.EscapedPath() || u.RawQuery != r.RawQuery ||
			u.EscapedFragment() != r.EscapedFragment() || u.ForceQuery != r.ForceQuery || u.Opaque != r.Opaque {
			t.Fatalf("accepted %q for %q: they differ in more than the port", uri, registered)
		}
	})
}
