package oauth

import (
	"strings"
	"testing"
)

// TestConsentPolicy: the consent page's form-action names the redirect
// URI's origin, so that browsers let the redirect that answers the form
// through, and nothing of a URI that could add directives of its own: a
// host no source expression names is allowed by its scheme alone.
func TestConsentPolicy(t *testing.T) {
	const without = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"
	for uri, want := range map[string]string{
		"https://app.example/cb":                   "form-action 'self' https://app.example;",
		"https://App.Example:8443/a/b?x=1":         "form-action 'self' https://App.Example:8443;",
		"http://127.0.0.1:53682/callback":          "form-action 'self' http://127.0.0.1:53682;",
		"com.example.app:/callback":                "form-action 'self' com.example.app:;",
		"http://[::1]:8080/callback":               "form-action 'self' http:;",
		"https://a;b.example/cb":                   "form-action 'self' https:;",
		"https://a,b.example/cb":                   "form-action 'self' https:;",
		"https://a'b.example/cb":                   "form-action 'self' https:;",
		"https://x.example;frame-ancestors%20*/cb": without,
		"1x;y:/cb": without,
	} {
		got := consentPolicy(uri)
		if want == without {
			if got != without {
				t.Errorf("%s: %q, want %q", uri, got, without)
			}
			continue
		}
		if !strings.Contains(got, want) || !strings.HasSuffix(got, "; frame-ancestors 'none'") || strings.Count(got, ";") != 3 {
			t.Errorf("%s: %q, want it to contain %q", uri, got, want)
		}
	}
}
