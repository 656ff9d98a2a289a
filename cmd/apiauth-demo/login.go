package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/apiauth/apiauth"
	"github.com/apiauth/apiauth/oauth"
)

// The demo's sign-in: paths, the session cookie and its lifetime.
const (
	loginPath     = "/demo/login"
	authorizePath = "/oauth/authorize"
	sessionCookie = "demo_session"
	sessionTTL    = time.Hour
	// maxSessions bounds the sessions kept in memory; each needs a good
	// password, so only users reach it.
	maxSessions = 10_000
	// maxNext bounds the next parameter: an authorization request's URL.
	maxNext = 4 << 10
	// maxLoginForm bounds the login form's body.
	maxLoginForm = 16 << 10
)

// signIn is the demo's own sign-in, a stand-in for the host application's:
// the login page of /demo/login for the config's users (or the generated
// one), the sessions it starts, and the oauth.Users that tells the
// authorization endpoint who is signed in. It is a demo: the users live in
// the config, the sessions in this process's memory.
type signIn struct {
	users    *userDirectory
	clients  oauth.ClientStore
	sessions *sessionStore
	// limits and failures count failed sign-ins per client address, as
	// the "auth_failures" limit counts failed credentials.
	limits   apiauth.Store
	failures apiauth.Tier
	clientIP *apiauth.ClientIP
	log      *slog.Logger
}

// newSignIn returns the sign-in of users. Failed sign-ins are counted in
// limits under cfg.AuthFailures, per client address.
func newSignIn(cfg *Config, users []demoUser, clients oauth.ClientStore, limits apiauth.Store, log *slog.Logger) *signIn {
	return &signIn{
		users:    newUserDirectory(users),
		clients:  clients,
		sessions: &sessionStore{byID: make(map[[32]byte]session)},
		limits:   limits,
		failures: cfg.AuthFailures,
		clientIP: &apiauth.ClientIP{TrustedProxies: cfg.TrustedProxies},
		log:      log,
	}
}

// User implements oauth.Users: the user of the request's session cookie,
// with the scopes the config gives them, which cap what they can approve,
// and the tier of the tokens they approve.
// Without a live session it sends the browser to the login page, which
// comes back to the authorization request.
func (s *signIn) User(w http.ResponseWriter, r *http.Request) (oauth.User, bool) {
	u, id := s.current(r)
	if u == nil {
		http.Redirect(w, r, loginPath+"?"+url.Values{"next": {resumeURL(r)}}.Encode(), http.StatusSeeOther)
		return oauth.User{}, false
	}
	return oauth.User{Subject: u.Subject, Tenant: u.Tenant, Scopes: u.Scopes, Tier: u.Tier, Session: id}, true
}

// resumeURL is where the login page sends the user back to: the
// authorization request r is, as a GET. A consent form posted after the
// session ended becomes the request it approved, to be asked again.
func resumeURL(r *http.Request) string {
	if r.Method == http.MethodGet {
		return r.URL.RequestURI()
	}
	q := url.Values{}
	for _, name := range [...]string{"response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge", "code_challenge_method"} {
		if v, ok := r.PostForm[name]; ok {
			q[name] = v
		}
	}
	return authorizePath + "?" + q.Encode()
}

// current returns the user of r's session cookie and the session's ID, or
// nil.
func (s *signIn) current(r *http.Request) (*demoUser, string) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil, ""
	}
	u := s.sessions.get(c.Value, time.Now())
	if u == nil {
		return nil, ""
	}
	return u, c.Value
}

// loginPage serves GET /demo/login: the sign-in form, which comes back to
// next.
func (s *signIn) loginPage(w http.ResponseWriter, r *http.Request) {
	d := pageData{Title: "Demo sign-in", Form: true, Next: safeNext(r.URL.Query().Get("next"))}
	if u, _ := s.current(r); u != nil {
		d.SignedIn = u.Username + " (tenant " + u.Tenant + ")"
	}
	writePage(w, http.StatusOK, d)
}

// login serves POST /demo/login: a form from this origin only, whose
// username and password, when right, start a session and send the browser
// to next. Failures are counted per client address.
func (s *signIn) login(w http.ResponseWriter, r *http.Request) {
	d := pageData{Title: "Demo sign-in", Form: true, Next: loginPath}
	if crossSite(r) {
		d.Message = "This sign-in form was sent from another site, and is refused. Sign in on this page."
		writePage(w, http.StatusForbidden, d)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginForm)
	if err := r.ParseForm(); err != nil {
		d.Message = "The sign-in form could not be read."
		writePage(w, http.StatusBadRequest, d)
		return
	}
	d.Next = safeNext(r.PostForm.Get("next"))

	key := "demo-login:" + s.clientIP.Key(r)
	ctx := r.Context()
	dec, err := s.limits.Take(ctx, key, s.failures.Limits, time.Now())
	switch {
	case err != nil:
		d.Message = "Sign-in is unavailable right now; try again later."
		writePage(w, http.StatusServiceUnavailable, d)
		return
	case !dec.Allowed:
		secs := int64((dec.RetryAfter + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
		d.Message = "Too many failed sign-ins from your address. Try again in " + strconv.FormatInt(secs, 10) + " seconds."
		writePage(w, http.StatusTooManyRequests, d)
		return
	}

	u, ok := s.users.authenticate(r.PostForm.Get("username"), r.PostForm.Get("password"))
	if !ok {
		s.log.InfoContext(ctx, "demo sign-in refused", "request_id", apiauth.RequestIDFrom(ctx), "client", s.clientIP.Key(r))
		d.Message = "Wrong username or password."
		// 403, not 401: a 401 must carry a WWW-Authenticate challenge
		// (RFC 9110 §15.5.2), and a form sign-in has none; 403 is for
		// credentials "insufficient to grant access" (§15.5.4).
		writePage(w, http.StatusForbidden, d)
		return
	}
	// A good password is not a failure: give the unit back.
	_ = s.limits.Refund(context.WithoutCancel(ctx), key, s.failures.Limits, time.Now())
	id, ok := s.sessions.start(u, time.Now())
	if !ok {
		d.Message = "Too many people are signed in right now; try again later."
		writePage(w, http.StatusServiceUnavailable, d)
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: id, Path: "/", MaxAge: int(sessionTTL / time.Second),
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil,
	})
	s.log.InfoContext(ctx, "demo sign-in", "request_id", apiauth.RequestIDFrom(ctx), "subject", u.Subject, "tenant", u.Tenant)
	http.Redirect(w, r, d.Next, http.StatusSeeOther)
}

// safeNext returns next when it is an authorization request on this
// server, a local path that begins with /oauth/authorize, and else the
// login page itself: never another host (no "//host", "/\host" or
// absolute URL), so that the login page redirects nobody elsewhere.
func safeNext(next string) string {
	if len(next) > maxNext || (next != authorizePath && !strings.HasPrefix(next, authorizePath+"?")) {
		return loginPath
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.Path != authorizePath || strings.ContainsAny(next, "\\#") {
		return loginPath
	}
	return next
}

// crossSite reports whether r was sent by a browser from another origin,
// by net/http's CrossOriginProtection: a Sec-Fetch-Site other than
// same-origin or none, or, from browsers that do not send it, an Origin
// whose host is not the request's. Requests with neither header, from curl
// and other clients that are not browsers, pass: they are not forged by a
// web page.
func crossSite(r *http.Request) bool {
	return crossOrigin.Check(r) != nil
}

var crossOrigin = http.NewCrossOriginProtection()

// sessionStore keeps the sign-in sessions in memory, by the SHA-256 of
// their IDs.
type sessionStore struct {
	mu   sync.Mutex
	byID map[[32]byte]session
}

// session is a signed-in user until expires.
type session struct {
	user    *demoUser
	expires time.Time
}

// start starts a session of u and returns its ID: 32 random bytes. It
// reports false when maxSessions are live.
func (s *sessionStore) start(u *demoUser, now time.Time) (string, bool) {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24).
	id := base64.RawURLEncoding.EncodeToString(b[:])
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.byID) >= maxSessions {
		for k, v := range s.byID {
			if !now.Before(v.expires) {
				delete(s.byID, k)
			}
		}
		if len(s.byID) >= maxSessions {
			return "", false
		}
	}
	s.byID[sha256.Sum256([]byte(id))] = session{user: u, expires: now.Add(sessionTTL)}
	return id, true
}

// get returns the user of the live session id, or nil.
func (s *sessionStore) get(id string, now time.Time) *demoUser {
	k := sha256.Sum256([]byte(id))
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.byID[k]
	if !ok {
		return nil
	}
	if !now.Before(v.expires) {
		delete(s.byID, k)
		return nil
	}
	return v.user
}

// pageData is what the demo's pages show.
type pageData struct {
	Title string
	// Message is an error or notice, shown above the form.
	Message string
	// Form shows the sign-in form, which comes back to Next.
	Form bool
	Next string
	// SignedIn names the user already signed in, if any.
	SignedIn string
}

// demoPage is the sign-in page, and the page of its refusals: plain HTML,
// no script, marked as a demo.
var demoPage = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} (demo)</title>
<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}.demo{background:#fff3cd;border:1px solid #e0c060;padding:.5rem 1rem}.error{color:#a00}label{display:block;margin:.75rem 0}input{font-size:1rem;padding:.25rem}button{font-size:1rem;padding:.5rem 1rem}</style>
</head><body>
<p class="demo"><strong>Demo sign-in — not for production.</strong> This page signs in the users of the apiauth demo's config, to try the authorization-code flow. A real application brings its own sign-in.</p>
<h1>{{.Title}}</h1>
{{if .Message}}<p class="error" role="alert">{{.Message}}</p>
{{end}}{{if .SignedIn}}<p>You are signed in as <strong>{{.SignedIn}}</strong>. Start from an application's authorization link; signing in again switches users.</p>
{{end}}{{if .Form}}<form method="post" action="/demo/login">
<input type="hidden" name="next" value="{{.Next}}">
<label>Username <input name="username" autocomplete="username" required autofocus></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required></label>
<button type="submit">Sign in</button>
</form>
{{end}}</body></html>
`))

// writePage renders the demo page with d and status, with the headers of
// a page that holds a form and must not be cached, framed or leak its URL.
func writePage(w http.ResponseWriter, status int, d pageData) {
	var b bytes.Buffer
	if err := demoPage.Execute(&b, d); err != nil {
		http.Error(w, "The page could not be shown.", http.StatusInternalServerError)
		return
	}
	setPageHeaders(w.Header())
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// setPageHeaders sets the headers of the demo's HTML pages: not cached,
// not framed (frame-ancestors, and X-Frame-Options for old browsers), no
// script, and no Referer to carry their URLs (a code, on the callback
// page). There is no form-action: browsers that check it on the redirects
// after a submission would stop the sign-in's way back, through the
// authorization endpoint, to an application on another origin.
func setPageHeaders(h http.Header) {
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
}
