package apiauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"
)

// NewJWKSWithTimer is NewJWKS whose background refresh waits on after
// instead of time.After, so that tests decide when it runs. An after that
// returns a channel nobody sends on turns the background refresh off.
func NewJWKSWithTimer(url string, opts JWKSOptions, after func(time.Duration) <-chan time.Time) (*JWKS, error) {
	return newJWKS(url, opts, after)
}

// JWKSExpiry returns when j's current set stops being fresh; zero before
// the first successful fetch.
func JWKSExpiry(j *JWKS) time.Time {
	if st := j.c.state.Load(); st != nil {
		return st.expires
	}
	return time.Time{}
}

func TestCacheLifetime(t *testing.T) {
	for _, tc := range []struct {
		cc, age string
		want    time.Duration
		ok      bool
	}{
		{"", "", 0, false},
		{"max-age=300", "", 300 * time.Second, true},
		{"public, max-age=600, must-revalidate", "", 600 * time.Second, true},
		{"Max-Age = 60", "", 60 * time.Second, true},
		{`max-age="120"`, "", 120 * time.Second, true},
		{"max-age=600, max-age=60", "", 60 * time.Second, true},
		{"max-age=600", "100", 500 * time.Second, true},
		{"max-age=600", "1000", 0, true},
		{"max-age=600", "junk", 600 * time.Second, true},
		{"max-age=abc", "", 0, false},
		{"max-age=-5", "", 0, false},
		{"max-age=99999999999999999999", "", 0, false},
		{"max-age=9999999999999", "", 100 * 365 * 24 * time.Hour, true},
		{"no-cache", "", 0, true},
		{"max-age=600, no-store", "", 0, true},
		{"private", "", 0, false},
	} {
		h := http.Header{}
		if tc.cc != "" {
			h.Set("Cache-Control", tc.cc)
		}
		if tc.age != "" {
			h.Set("Age", tc.age)
		}
		got, ok := cacheLifetime(h)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Cache-Control %q, Age %q: got %v, %v; want %v, %v", tc.cc, tc.age, got, ok, tc.want, tc.ok)
		}
	}
}

// TestJWKSStopsWhenCollected checks that a JWKS nobody closes does not
// leak its refresh goroutine once it is garbage.
func TestJWKSStopsWhenCollected(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	x, y := key.X.FillBytes(make([]byte, 32)), key.Y.FillBytes(make([]byte, 32))
	body := []byte(`{"keys":[{"kty":"EC","kid":"a","alg":"ES256","crv":"P-256","x":"` +
		base64.RawURLEncoding.EncodeToString(x) + `","y":"` + base64.RawURLEncoding.EncodeToString(y) + `"}]}`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(body) }))
	defer srv.Close()
	done := func() <-chan struct{} {
		j, err := NewJWKS(srv.URL, JWKSOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := j.Refresh(context.Background()); err != nil {
			t.Fatal(err)
		}
		return j.c.done // the refresh loop runs now
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		runtime.GC()
		select {
		case <-done:
			return
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("the refresh goroutine of an unreachable JWKS never stopped")
		}
	}
}
