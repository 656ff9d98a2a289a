package oauth_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
)

// chromeNames are the browser binaries looked for on PATH, in order, when
// APIAUTH_CHROME is not set.
var chromeNames = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"}

// chromePath returns the browser to run: APIAUTH_CHROME, a path or a name
// on PATH, or else the first of chromeNames on PATH. Without one, the test
// is skipped. A set APIAUTH_CHROME that names no executable fails the test
// instead, as a set APIAUTH_POSTGRES_URL without a server does: a browser
// asked for by name is a browser the test must not quietly do without.
func chromePath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("APIAUTH_CHROME"); p != "" {
		path, err := exec.LookPath(p)
		if err != nil {
			t.Fatalf("chromedp: APIAUTH_CHROME=%s is not an executable browser: %v", p, err)
		}
		return path
	}
	for _, name := range chromeNames {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	t.Skip("chromedp: no Chromium/Chrome found (install the chromium package, or set APIAUTH_CHROME=/path); skipping the real-browser consent test")
	return ""
}

// startChromium starts a headless browser for the test, and stops it when
// ctx ends or the test does. Its output is logged when the test fails.
func startChromium(t *testing.T, ctx context.Context, path string) context.Context {
	t.Helper()
	var out lockedBuffer
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		// Some of these are defaults of chromedp too; a CI machine
		// depends on each.
		chromedp.Flag("headless", true),
		chromedp.NoSandbox, // as root in a container the sandbox cannot start
		chromedp.DisableGPU,
		chromedp.Flag("disable-dev-shm-usage", true), // /dev/shm is small in containers
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.WindowSize(1024, 768),
		chromedp.CombinedOutput(&out),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	browser, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
		if t.Failed() {
			t.Logf("browser output:\n%s", out.String())
		}
	})
	require.NoError(t, chromedp.Do(browser), "starting %s", path)
	return browser
}

// lockedBuffer is a bytes.Buffer that the browser's output can be written
// to while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// newTab opens a tab of browser, closed at the end of the test.
func newTab(t *testing.T, browser context.Context) context.Context {
	t.Helper()
	tab, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	require.NoError(t, chromedp.Do(tab))
	return tab
}

// consoleOf collects what tab's pages write to the console, from now
// until the end of the test, and returns a func that reads it so far.
func consoleOf(t *testing.T, tab context.Context) func() []string {
	t.Helper()
	watch, stop := context.WithCancel(tab)
	t.Cleanup(stop)
	messages := chromedp.Console(watch) // subscribes now
	var mu sync.Mutex
	var texts []string
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			mu.Lock()
			texts = append(texts, m.Text)
			mu.Unlock()
		}
	}()
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(texts)
	}
}

// clientApp is the OAuth client's web app, on an origin of its own: its
// /callback records the query it is sent back with.
type clientApp struct {
	*httptest.Server
	callbacks chan url.Values
}

func newClientApp(t *testing.T) *clientApp {
	t.Helper()
	app := &clientApp{callbacks: make(chan url.Values, 10)}
	app.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/callback" {
			http.NotFound(w, r)
			return
		}
		app.callbacks <- r.URL.Query()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><title>Back in the app</title><p id="callback">Back in the app</p>`)
	}))
	t.Cleanup(app.Close)
	return app
}

// callback waits for the app's next callback; without one, it fails the
// test with what the page wrote to the console (where a browser says what
// it blocked).
func (app *clientApp) callback(t *testing.T, ctx context.Context, console func() []string) url.Values {
	t.Helper()
	wait, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	select {
	case q := <-app.callbacks:
		return q
	case <-wait.Done():
		t.Fatalf("no callback to the client (%v); the console: %q", wait.Err(), console())
		return nil
	}
}

// TestConsentPageInChromium runs the authorization-code flow in a real
// headless Chromium, which the cookie-jar browser of the other tests only
// imitates. It proves that in a browser: an authorization request without
// a session goes to the host's sign-in and comes back with the session
// cookie; the consent page shows the client's name, the user, the scopes
// in words and Allow and Deny buttons; clicking Allow brings the browser
// to the client's redirect URI, on another origin, with a code, the state
// and iss (RFC 9207), and the code exchanges, with x/oauth2 and the PKCE
// verifier, for an access token the API accepts and a refresh token;
// clicking Deny brings it there with error=access_denied, the state and
// iss; and a page of another origin that frames the consent page gets
// nothing rendered, the browser refusing it for frame-ancestors 'none'.
// That the Allow and Deny redirects are not blocked by the page's own
// form-action is a browser's check that no cookie jar makes.
//
// It needs a Chromium or Chrome (chromePath) and skips without one.
func TestConsentPageInChromium(t *testing.T) {
	chrome := chromePath(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()

	cs := newCodeServer(t)
	var logins atomic.Int32
	cs.mux.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) {
		back := r.URL.Query().Get("return")
		if !strings.HasPrefix(back, "/") || strings.HasPrefix(back, "//") {
			http.Error(w, "bad return", http.StatusBadRequest)
			return
		}
		logins.Add(1)
		http.SetCookie(w, &http.Cookie{Name: "sid", Value: "browser-session", Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
		http.Redirect(w, r, back, http.StatusFound)
	})
	cs.mux.HandleFunc("GET /about", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><title>About</title><p id="about">A page that may be framed</p>`)
	})
	app := newClientApp(t)
	cfg := oauth2.Config{ClientID: "app", Scopes: []string{"read", "write"}, RedirectURL: app.URL + "/callback",
		Endpoint: oauth2.Endpoint{AuthURL: cs.URL + "/oauth/authorize", TokenURL: cs.URL + "/oauth/token", AuthStyle: oauth2.AuthStyleInParams}}
	exchangeCtx := context.WithValue(ctx, oauth2.HTTPClient, http.DefaultClient)
	browser := startChromium(t, ctx, chrome)

	// consentPage opens the authorization request in a new tab and waits
	// for the consent page.
	consentPage := func(t *testing.T) (tab context.Context, state, verifier string) {
		t.Helper()
		tab = newTab(t, browser)
		state, verifier = rand.Text(), oauth2.GenerateVerifier()
		authURL := cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier))
		require.NoError(t, chromedp.Do(tab, chromedp.Navigate(authURL), chromedp.WaitVisible(chromedp.CSS(`button[value="approve"]`))))
		loc, err := chromedp.Run(tab, chromedp.Location())
		require.NoError(t, err)
		require.Equal(t, authURL, loc, "back from the sign-in to the request")
		return tab, state, verifier
	}
	// click clicks the button and waits for the client's page.
	click := func(t *testing.T, tab context.Context, button string) url.Values {
		t.Helper()
		console := consoleOf(t, tab)
		require.NoError(t, chromedp.Do(tab, chromedp.Click(chromedp.CSS(button), chromedp.NodeVisible)))
		q := app.callback(t, ctx, console)
		require.NoError(t, chromedp.Do(tab, chromedp.WaitVisible(chromedp.ID("callback"))))
		loc, err := chromedp.Run(tab, chromedp.Location())
		require.NoError(t, err)
		assert.True(t, strings.HasPrefix(loc, app.URL+"/callback?"), "the browser is at the client: %s", loc)
		return q
	}

	t.Run("approve", func(t *testing.T) {
		tab, state, verifier := consentPage(t)
		assert.Positive(t, logins.Load(), "signed in through the host's login")

		title, err := chromedp.Run(tab, chromedp.Title())
		require.NoError(t, err)
		assert.Equal(t, "Allow Orders App?", title)
		heading, err := chromedp.Run(tab, chromedp.Text(chromedp.CSS("h1")))
		require.NoError(t, err)
		assert.Equal(t, "Allow Orders App to act for you?", heading)
		who, err := chromedp.Run(tab, chromedp.Text(chromedp.CSS("p")))
		require.NoError(t, err)
		assert.Contains(t, who, "Signed in as alice (acme).")
		scopes, err := chromedp.Run(tab, chromedp.Evaluate[[]string](`[...document.querySelectorAll("li")].map(li => li.innerText)`))
		require.NoError(t, err)
		assert.Equal(t, []string{"Read your data read", "Read and change your data write"}, scopes)
		buttons, err := chromedp.Run(tab, chromedp.Evaluate[[]string](`[...document.querySelectorAll("form button")].map(b => b.value + ": " + b.innerText)`))
		require.NoError(t, err)
		assert.Equal(t, []string{"approve: Allow", "deny: Deny"}, buttons)

		q := click(t, tab, `button[value="approve"]`)
		assert.Empty(t, q.Get("error"), "error_description: %s", q.Get("error_description"))
		assert.Equal(t, state, q.Get("state"))
		assert.Equal(t, cs.URL, q.Get("iss"), "RFC 9207")
		require.NotEmpty(t, q.Get("code"))

		tok, err := cfg.Exchange(exchangeCtx, q.Get("code"), oauth2.VerifierOption(verifier))
		require.NoError(t, err)
		assert.Equal(t, "Bearer", tok.TokenType)
		assert.NotEmpty(t, tok.RefreshToken)
		status, me := cs.me(t, tok.AccessToken)
		require.Equal(t, http.StatusOK, status, me)
		assert.Equal(t, "alice", me["subject"])
		assert.Equal(t, "acme", me["tenant"])
		assert.Equal(t, []any{"read", "write"}, me["scopes"])
	})

	t.Run("deny", func(t *testing.T) {
		tab, state, _ := consentPage(t)
		q := click(t, tab, `button[value="deny"]`)
		assert.Equal(t, "access_denied", q.Get("error"))
		assert.Empty(t, q.Get("code"))
		assert.Equal(t, state, q.Get("state"))
		assert.Equal(t, cs.URL, q.Get("iss"), "RFC 9207")
	})

	// A page of another origin frames the consent page, under a frame of
	// a page that may be framed, to show that the check below sees a frame
	// that renders. 127.0.0.1 on another port is another origin of the
	// same site, so the session cookie (SameSite=Lax) goes with the
	// frame's request and the server does answer with the consent page:
	// only the browser's refusal keeps it from showing. (From another
	// site, the cookie would not go, and the frame would get the login.)
	t.Run("framed", func(t *testing.T) {
		authURL := cfg.AuthCodeURL(rand.Text(), oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))
		evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprintf(w, `<!doctype html><title>Win a prize</title><iframe id="consent" src="%s"></iframe><iframe id="control" src="%s"></iframe>`,
				html.EscapeString(authURL), html.EscapeString(cs.URL+"/about"))
		}))
		t.Cleanup(evil.Close) // after the tab's, which is registered later
		tab := newTab(t, browser)
		console := consoleOf(t, tab)
		require.NoError(t, chromedp.Do(tab, chromedp.Navigate(evil.URL)))

		frames := framesOf(t, ctx, tab, authURL, cs.URL+"/about")
		control := frames[cs.URL+"/about"]
		require.NotNil(t, control)
		assert.Equal(t, cs.URL+"/about", control.URL, "the frame that may be framed renders")
		assert.Empty(t, control.UnreachableURL)
		consent := frames[authURL]
		require.NotNil(t, consent)
		assert.NotEqual(t, authURL, consent.URL, "the consent page must not render in a frame")
		assert.True(t, strings.HasPrefix(consent.URL, "chrome-error://"), "the browser's error page in its place: %s", consent.URL)
		assert.Equal(t, authURL, consent.UnreachableURL)

		// Chromium says why, on the console: the policy's frame-ancestors,
		// not only X-Frame-Options.
		refused := func() bool {
			return slices.ContainsFunc(console(), func(m string) bool { return strings.Contains(m, "frame-ancestors 'none'") })
		}
		if !assert.Eventually(t, refused, 5*time.Second, 20*time.Millisecond, "no refusal for frame-ancestors 'none' on the console") {
			t.Logf("the console: %q", console())
		}
	})
}

// framesOf waits until tab's page has a child frame for each of urls,
// committed or refused, and returns them by the URL they were loaded
// from.
func framesOf(t *testing.T, ctx context.Context, tab context.Context, urls ...string) map[string]*cdp.Frame {
	t.Helper()
	wait, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		tree, err := chromedp.Call(tab, page.GetFrameTree, cdp.Empty{})
		require.NoError(t, err)
		found := map[string]*cdp.Frame{}
		for _, child := range tree.FrameTree.ChildFrames {
			f := child.Frame
			for _, u := range urls {
				if f.URL == u || f.UnreachableURL == u {
					found[u] = f
				}
			}
		}
		if len(found) == len(urls) {
			return found
		}
		select {
		case <-wait.Done():
			t.Fatalf("the page's frames are not all there: %v", errors.Join(wait.Err(), fmt.Errorf("%+v", found)))
		case <-time.After(50 * time.Millisecond):
		}
	}
}
