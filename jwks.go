package apiauth

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// maxJWKSSize is the largest JWK Set a JWKS accepts, in bytes (after any
// content decoding). A larger response is a failed fetch.
const maxJWKSSize = 1 << 20

// maxRSABits bounds the RSA modulus taken from a JWK Set: bigger keys cost
// more to verify than any identity provider needs.
const maxRSABits = 8192

// jwksFetchTimeout bounds a fetch whatever the http.Client, so that a
// client without timeouts cannot hold every caller waiting for it.
const jwksFetchTimeout = 30 * time.Second

// jwksError is a failed fetch: it matches ErrJWKSUnavailable and its cause.
type jwksError struct{ err error }

func (e *jwksError) Error() string   { return "apiauth: JWKS unavailable: " + e.err.Error() }
func (e *jwksError) Unwrap() []error { return []error{ErrJWKSUnavailable, e.err} }

// JWKSOptions tunes a JWKS. The zero value is the recommended setting.
type JWKSOptions struct {
	// Client fetches the set. The default times out after 5 s in all (3 s
	// to connect, 3 s for the TLS handshake). Whatever the client, a fetch
	// is abandoned after 30 s, and redirects are followed only within the
	// URL's origin (the same scheme, host and port), at most 3 times.
	Client *http.Client
	// MinRefresh and MaxRefresh clamp how long a fetched set is fresh: its
	// Cache-Control max-age (less its Age), MaxRefresh when the response
	// has none, MinRefresh for no-cache or no-store. The defaults are 1
	// minute and 1 hour. A background goroutine refetches the set when
	// three quarters of that time have passed.
	MinRefresh, MaxRefresh time.Duration
	// MinFetchInterval is the least time between two fetches caused by
	// tokens naming an unknown kid (default 10 s): however many unknown
	// kids arrive, at most one fetch per interval. Within it, an unknown
	// kid is refused (ErrUnknownKey) if the last fetch succeeded, and
	// answered with the last fetch's failure if it failed. It is also the
	// first retry delay of the background refresh after a failure, which
	// then doubles up to MinRefresh.
	MinFetchInterval time.Duration
	// MaxStale bounds how long past its freshness a set keeps verifying
	// while the identity provider cannot be reached (default 24 h;
	// negative for no bound). Past it, every token is answered with 503
	// until a fetch succeeds, so that an outage, or an attacker who blocks
	// the fetch, cannot keep a removed key alive forever.
	MaxStale time.Duration
	// Now returns the current time (time.Now when nil).
	Now func() time.Time
	// OnEvent, when set, is called after every fetch of the set with an
	// Event of layer "jwks": Code "" when it succeeded, else
	// temporarily_unavailable with the failure as Err; the request is
	// nil. LogEvent logs them.
	OnEvent func(*http.Request, Event)
}

// JWKS is a KeySet fetched from an identity provider's JWK Set URL (RFC
// 7517 §5), such as the jwks_uri of its OAuth 2.0 authorization server
// metadata (RFC 8414). Tokens choose their key by "kid"; the token's own
// "jku" or "x5u" header is never followed (RFC 8725 §3.10): the URL comes
// from configuration only.
//
// The set is fetched on first use (or by Refresh), cached as long as its
// Cache-Control allows within [JWKSOptions.MinRefresh,
// JWKSOptions.MaxRefresh], refreshed in the background before it goes
// stale, and refetched when a token names a kid the set does not hold, at
// most once per JWKSOptions.MinFetchInterval. Concurrent lookups of unknown
// kids share one fetch. A key removed from the set stops verifying after
// the next refresh. A token without "kid" is accepted only while the set
// has exactly one key.
//
// Failures: when the identity provider cannot be reached, answers with an
// error or serves something that is not a JWK Set, the keys of the last
// good set keep verifying (up to JWKSOptions.MaxStale past its freshness)
// and a kid that set does not hold gets an error matching
// ErrJWKSUnavailable, not ErrInvalidToken: Authenticate answers 503 with
// Retry-After, not 401. A kid missing from a set fetched successfully
// within the interval gets ErrUnknownKey (401).
//
// Keys are read by ParseJWKS, which skips encryption, symmetric, short and
// malformed keys. The URL must be https; plain http is allowed only to a
// loopback host (127.0.0.0/8, ::1, localhost) for tests and sidecars.
// Close stops the background refresh.
type JWKS struct {
	c *jwksCore
}

// jwksCore is the state of a JWKS, apart from it so that a JWKS nobody
// closes can still be collected, stopping its goroutine.
type jwksCore struct {
	observe                                 func(*http.Request, Event) // JWKSOptions.OnEvent
	url                                     string
	client                                  *http.Client
	minRefresh, maxRefresh, minFetch, stale time.Duration
	now                                     func() time.Time
	after                                   func(time.Duration) <-chan time.Time

	ctx    context.Context
	cancel context.CancelFunc
	kick   chan struct{} // wakes the refresh loop to reconsider
	done   chan struct{} // closed when the refresh loop returns
	fetchs sync.WaitGroup

	state     atomic.Pointer[jwksState]
	lastTryNs atomic.Int64 // lastTry, for the lock-free path

	mu          sync.Mutex
	inflight    *jwksCall
	lastTry     time.Time // start of the last fetch
	lastErr     error     // its failure, nil if it succeeded
	failures    int       // consecutive failed fetches
	loopStarted bool
	closed      bool
}

// jwksState is one successfully fetched set; it is never modified.
type jwksState struct {
	keys      []JWTKey
	byID      map[string]int
	refreshAt time.Time // when the background refresh is due
	expires   time.Time // end of freshness, counted from the fetch's start
}

// jwksCall is one fetch under way; everyone who needs it waits on done.
type jwksCall struct {
	done chan struct{}
	err  error
}

// NewJWKS returns a KeySet fetched from url. It checks the URL and the
// options but fetches nothing: the first lookup (or Refresh) does.
func NewJWKS(url string, opts JWKSOptions) (*JWKS, error) {
	return newJWKS(url, opts, nil)
}

func newJWKS(rawURL string, opts JWKSOptions, after func(time.Duration) <-chan time.Time) (*JWKS, error) {
	u, err := checkJWKSURL(rawURL)
	if err != nil {
		return nil, err
	}
	c := &jwksCore{
		url:        u.String(),
		minRefresh: opts.MinRefresh,
		maxRefresh: opts.MaxRefresh,
		minFetch:   opts.MinFetchInterval,
		stale:      opts.MaxStale,
		now:        opts.Now,
		observe:    opts.OnEvent,
		after:      after,
		kick:       make(chan struct{}, 1),
		done:       make(chan struct{}),
	}
	if c.minRefresh == 0 {
		c.minRefresh = time.Minute
	}
	if c.maxRefresh == 0 {
		c.maxRefresh = time.Hour
	}
	if c.minFetch == 0 {
		c.minFetch = 10 * time.Second
	}
	if c.stale == 0 {
		c.stale = 24 * time.Hour
	}
	if c.minRefresh < 0 || c.maxRefresh < c.minRefresh || c.minFetch < 0 {
		return nil, fmt.Errorf("apiauth: JWKS: want 0 < MinRefresh (%v) ≤ MaxRefresh (%v) and MinFetchInterval (%v) > 0",
			c.minRefresh, c.maxRefresh, c.minFetch)
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.after == nil {
		c.after = time.After
	}
	var client http.Client
	if opts.Client != nil {
		client = *opts.Client
	} else {
		client = http.Client{
			Timeout: 5 * time.Second,
			Transport: &http.Transport{
				Proxy:                 http.ProxyFromEnvironment,
				DialContext:           (&net.Dialer{Timeout: 3 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
				TLSHandshakeTimeout:   3 * time.Second,
				ResponseHeaderTimeout: 5 * time.Second,
				TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
				ForceAttemptHTTP2:     true,
				MaxIdleConns:          2,
				IdleConnTimeout:       90 * time.Second,
			},
		}
	}
	client.CheckRedirect = sameHostRedirects(client.CheckRedirect)
	c.client = &client
	c.ctx, c.cancel = context.WithCancel(context.Background())
	j := &JWKS{c: c}
	runtime.AddCleanup(j, func(c *jwksCore) { c.cancel() }, c)
	return j, nil
}

// checkJWKSURL allows https URLs, and http ones to a loopback host.
func checkJWKSURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("apiauth: JWKS URL: %w", err)
	}
	bad := func(why string) (*url.URL, error) {
		return nil, fmt.Errorf("apiauth: JWKS URL %q: %s", u.Redacted(), why)
	}
	if u.Host == "" || u.Opaque != "" {
		return bad("want an absolute https URL")
	}
	if u.User != nil {
		return bad("credentials in the URL are refused")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) {
			return bad("plain http is allowed only to a loopback host; use https")
		}
	default:
		return bad("want an https URL")
	}
	u.Fragment, u.RawFragment = "", ""
	return u, nil
}

// isLoopback reports whether host is "localhost" or a loopback address
// (127.0.0.0/8, ::1).
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// sameHostRedirects refuses redirects beyond the third and those that leave
// the origin of the first URL (its scheme, host and port: another port of
// the same host is another server), before calling next (the client's own
// policy).
func sameHostRedirects(next func(*http.Request, []*http.Request) error) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		first := via[0].URL
		switch {
		case len(via) > 3:
			return errors.New("apiauth: JWKS: too many redirects")
		case first.Scheme == "https" && req.URL.Scheme != "https":
			return errors.New("apiauth: JWKS: redirect from https to http refused")
		case !strings.EqualFold(req.URL.Scheme, first.Scheme) ||
			!strings.EqualFold(req.URL.Hostname(), first.Hostname()) ||
			urlPort(req.URL) != urlPort(first):
			return fmt.Errorf("apiauth: JWKS: redirect to another origin (%s://%s) refused", req.URL.Scheme, req.URL.Host)
		}
		if next != nil {
			return next(req, via)
		}
		return nil
	}
}

// urlPort returns u's port, or its scheme's default port when it has none.
func urlPort(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	switch strings.ToLower(u.Scheme) {
	case "http":
		return "80"
	case "https":
		return "443"
	}
	return ""
}

// JWTKey implements KeySet. A known kid is answered from memory, without
// waiting for any fetch.
func (j *JWKS) JWTKey(ctx context.Context, kid string) (*JWTKey, error) {
	c := j.c
	now := c.now()
	if st := c.state.Load(); st != nil && c.usable(st, now) {
		if k := st.find(kid); k != nil {
			// The background refresh is late (the process slept, or a
			// test's clock moved): wake it, once per due refresh.
			if !now.Before(st.refreshAt) && c.lastTryNs.Load() < st.refreshAt.UnixNano() {
				c.wake()
			}
			return k, nil
		}
	}
	return c.lookupSlow(ctx, kid, now)
}

// Ping reports whether the JWKS can verify tokens now: it holds a key set
// that is not past its use (MaxStale), or else a fetch made now succeeds.
// It is a readiness check (see Ready); it never waits for a refresh of a
// set that is still usable.
func (j *JWKS) Ping(ctx context.Context) error {
	c := j.c
	if st := c.state.Load(); st != nil && c.usable(st, c.now()) {
		return nil
	}
	return j.Refresh(ctx)
}

// Refresh fetches the set now, whatever its freshness and the fetch
// interval, and returns the fetch's failure. If a fetch is already under
// way it waits for that one. Tests and programs that want their keys
// before the first request call it; it is never required.
func (j *JWKS) Refresh(ctx context.Context) error {
	c := j.c
	c.mu.Lock()
	call := c.startLocked(c.now())
	c.mu.Unlock()
	select {
	case <-call.done:
		return call.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops the background refresh and any fetch under way, and waits
// for them. Known keys keep verifying; nothing is fetched any more. Close
// may be called more than once.
func (j *JWKS) Close() error {
	c := j.c
	c.mu.Lock()
	c.closed = true
	started := c.loopStarted
	c.mu.Unlock()
	c.cancel()
	if started {
		<-c.done
	}
	c.fetchs.Wait()
	return nil
}

// usable reports whether st may still verify tokens at now.
func (c *jwksCore) usable(st *jwksState, now time.Time) bool {
	return c.stale < 0 || now.Before(st.expires.Add(c.stale))
}

// find returns the key for kid, or for a token without kid the only key.
func (st *jwksState) find(kid string) *JWTKey {
	if kid == "" {
		if len(st.keys) == 1 {
			return &st.keys[0]
		}
		return nil
	}
	if i, ok := st.byID[kid]; ok {
		return &st.keys[i]
	}
	return nil
}

// lookupSlow handles a kid the current set does not answer: it joins the
// fetch under way, or starts one if the interval allows, or answers from
// the last fetch's outcome.
func (c *jwksCore) lookupSlow(ctx context.Context, kid string, now time.Time) (*JWTKey, error) {
	c.mu.Lock()
	call := c.inflight
	if call == nil {
		if k := c.lookup(kid, now); k != nil { // a fetch finished meanwhile
			c.mu.Unlock()
			return k, nil
		}
		if !c.lastTry.IsZero() && now.Sub(c.lastTry) < c.minFetch {
			err := c.lastErr
			c.mu.Unlock()
			return nil, c.missing(kid, now, err)
		}
		call = c.startLocked(now)
	}
	c.mu.Unlock()
	select {
	case <-call.done:
	case <-ctx.Done():
		return nil, &jwksError{err: ctx.Err()}
	}
	now = c.now()
	if k := c.lookup(kid, now); k != nil {
		return k, nil
	}
	return nil, c.missing(kid, now, call.err)
}

func (c *jwksCore) lookup(kid string, now time.Time) *JWTKey {
	if st := c.state.Load(); st != nil && c.usable(st, now) {
		return st.find(kid)
	}
	return nil
}

// missing is the error for a kid the set does not hold, given the last
// fetch's failure.
func (c *jwksCore) missing(kid string, now time.Time, fetchErr error) error {
	st := c.state.Load()
	switch {
	case fetchErr != nil:
		return fetchErr
	case st == nil || !c.usable(st, now):
		return &jwksError{err: errors.New("the key set is stale and was not refreshed")}
	case kid == "" && len(st.keys) > 1:
		return errMissingKID
	default:
		return ErrUnknownKey
	}
}

// startLocked starts a fetch, or returns the one under way. c.mu is held.
func (c *jwksCore) startLocked(now time.Time) *jwksCall {
	if c.inflight != nil {
		return c.inflight
	}
	call := &jwksCall{done: make(chan struct{})}
	if c.closed {
		call.err = &jwksError{err: errors.New("the key set is closed")}
		close(call.done)
		return call
	}
	c.inflight = call
	c.lastTry = now
	c.lastTryNs.Store(now.UnixNano())
	if !c.loopStarted {
		c.loopStarted = true
		go c.loop()
	}
	c.fetchs.Add(1)
	go c.run(call, now)
	return call
}

// run performs a fetch and publishes its outcome.
func (c *jwksCore) run(call *jwksCall, start time.Time) {
	defer c.fetchs.Done()
	ctx, cancel := context.WithTimeout(c.ctx, jwksFetchTimeout)
	st, err := c.fetch(ctx, start)
	cancel()
	if err != nil {
		err = &jwksError{err: err}
	}
	if c.observe != nil {
		e := Event{Layer: "jwks", Duration: c.now().Sub(start), Err: err}
		if err != nil {
			e.Code = CodeUnavailable
		}
		c.observe(nil, e)
	}
	c.mu.Lock()
	if err == nil {
		c.state.Store(st)
		c.failures = 0
	} else {
		c.failures++
	}
	c.lastErr = err
	c.inflight = nil
	c.mu.Unlock()
	call.err = err
	close(call.done)
	c.wake()
}

// fetch GETs and parses the set.
func (c *jwksCore) fetch(ctx context.Context, start time.Time) (*jwksState, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10)) // keep the connection
		return nil, fmt.Errorf("GET %s: %s", c.url, resp.Status)
	}
	if resp.ContentLength > maxJWKSSize {
		return nil, fmt.Errorf("GET %s: a JWK Set of %d bytes is over the %d-byte cap", c.url, resp.ContentLength, maxJWKSSize)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSSize+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", c.url, err)
	}
	if len(body) > maxJWKSSize {
		return nil, fmt.Errorf("GET %s: the JWK Set is over the %d-byte cap", c.url, maxJWKSSize)
	}
	keys, err := ParseJWKS(body)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", c.url, err)
	}
	life, ok := cacheLifetime(resp.Header)
	switch {
	case !ok:
		life = c.maxRefresh
	case life < c.minRefresh:
		life = c.minRefresh
	case life > c.maxRefresh:
		life = c.maxRefresh
	}
	st := &jwksState{
		keys:      keys,
		byID:      make(map[string]int, len(keys)),
		refreshAt: start.Add(life * 3 / 4),
		expires:   start.Add(life),
	}
	for i, k := range keys {
		if k.ID != "" {
			st.byID[k.ID] = i
		}
	}
	return st, nil
}

// cacheLifetime reads how long a response is fresh from its Cache-Control
// max-age less its Age (RFC 9111 §4.2); no-cache and no-store mean zero.
// ok is false when the response says nothing usable.
func cacheLifetime(h http.Header) (d time.Duration, ok bool) {
	maxAge := int64(-1)
	for _, line := range h.Values("Cache-Control") {
		for _, dir := range strings.Split(line, ",") {
			name, val, _ := strings.Cut(strings.TrimSpace(dir), "=")
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "no-store", "no-cache":
				return 0, true
			case "max-age":
				n, err := strconv.ParseInt(strings.Trim(strings.TrimSpace(val), `"`), 10, 64)
				if err == nil && n >= 0 && (maxAge < 0 || n < maxAge) {
					maxAge = n
				}
			}
		}
	}
	if maxAge < 0 {
		return 0, false
	}
	if age, err := strconv.ParseInt(strings.TrimSpace(h.Get("Age")), 10, 64); err == nil && age > 0 {
		maxAge = max(maxAge-age, 0)
	}
	const maxSeconds = int64(100 * 365 * 24 * time.Hour / time.Second)
	return time.Duration(min(maxAge, maxSeconds)) * time.Second, true
}

// wake asks the refresh loop to reconsider its schedule.
func (c *jwksCore) wake() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// loop refreshes the set in the background: before it goes stale, and
// after a failure with a delay that doubles from MinFetchInterval up to
// MinRefresh. It starts with the first fetch and ends with Close.
func (c *jwksCore) loop() {
	defer close(c.done)
	for {
		var timer <-chan time.Time
		if d, ok := c.nextRefresh(); ok {
			timer = c.after(max(d, 0))
		}
		select {
		case <-c.ctx.Done():
			return
		case <-c.kick:
		case <-timer:
			c.mu.Lock()
			call := c.startLocked(c.now())
			c.mu.Unlock()
			select {
			case <-call.done:
			case <-c.ctx.Done():
				return
			}
		}
	}
}

// nextRefresh returns the delay until the next background fetch; ok is
// false while a fetch is under way or none has happened.
func (c *jwksCore) nextRefresh() (time.Duration, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inflight != nil || c.lastTry.IsZero() {
		return 0, false
	}
	now := c.now()
	if c.lastErr != nil {
		backoff := c.minFetch
		for i := 1; i < c.failures && backoff < c.minRefresh; i++ {
			backoff *= 2
		}
		backoff = min(backoff, max(c.minRefresh, c.minFetch))
		return c.lastTry.Add(backoff).Sub(now), true
	}
	st := c.state.Load()
	if st == nil {
		return 0, false
	}
	return st.refreshAt.Sub(now), true
}
