package apiauthtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apiauth/apiauth"
	"github.com/apiauth/apiauth/oauth"
)

// TestClientStore checks that a client store implements
// oauth.ClientStore's contract, in the manner of testing/slogtest: run it
// from a test of your own with a function that returns the store to check.
//
// newStore is called once per subtest. It may return a fresh store or one
// shared with other subtests and earlier runs: the suite makes up unique
// client IDs in every subtest, so it never depends on the store being
// empty.
//
// Each part of the contract is one subtest, named in brackets below, so
// that a failure says which part a store breaks. The suite checks that:
//
//   - CreateClient, then GetClient, gives back every field of the record
//     exactly, every time: ID, name, public flag, redirect URIs (in order,
//     each string as given), secret digest, subject, tenant, scopes (in
//     order), tier, and the creation and disabling times. Strings may hold
//     any UTF-8, a redirect URI a space. Times are compared with
//     time.Equal, and the suite's have a whole number of microseconds, so a
//     store must keep at least microsecond precision and may return them
//     in any location. A zero time comes back zero, empty strings, scopes
//     and redirect URIs come back empty, and a public client's secret
//     digest, all zero bytes, comes back so.
//     [CreateGet, PublicClientCreateGet, ZeroValuesRoundTrip]
//   - CreateClient refuses a second client with a taken ID with an error
//     matching oauth.ErrClientExists (errors.Is), and leaves the first
//     unchanged. [DuplicateID]
//   - GetClient of an unknown ID returns an error matching
//     oauth.ErrClientNotFound: the Issuer answers that with invalid_client,
//     and any other error with 503 temporarily_unavailable. IDs are
//     case-sensitive: one that differs from a stored ID only in case is
//     unknown. [NotFound]
//   - The store keeps its own copy of the record given to CreateClient:
//     changing it afterwards, the elements of its Scopes and RedirectURIs
//     included, changes nothing; nor does changing the record
//     oauth.RegisterClient returns, which is the one it gave CreateClient.
//     Records GetClient returns may be shared, so the suite does not
//     modify them. [NoAliasing]
//   - A client with an invalid scope (apiauth.Scope.Valid) may be refused,
//     but not with ErrClientExists, and is then not found; if it is
//     accepted, it round-trips like any other. [InvalidScopeMayBeRefused]
//   - Of concurrent creates of one ID, exactly one succeeds and the others
//     get ErrClientExists. Concurrent creates and lookups of different
//     clients are safe, and a client being created is either not found yet
//     or found whole (run the suite with -race).
//     [ConcurrentCreateOneWinner, ConcurrentUse]
//   - End to end: oauth.RegisterClient, then real token requests over
//     loopback HTTP to oauth.NewIssuer(…).TokenHandler(): the right
//     secret, by HTTP Basic or in the body, gets 200 and an access token
//     the issuer's own verifier accepts, for the client's subject, tenant,
//     scopes and tier; a wrong secret, an unknown client and a disabled
//     client get 401 invalid_client. [ThroughIssuer]
func TestClientStore(t *testing.T, newStore func(t *testing.T) oauth.ClientStore) {
	f := newClientFixture()
	for _, c := range clientStoreCases {
		t.Run(c.name, func(t *testing.T) { c.run(t, newStore(t), f) })
	}
}

// clientStoreCase is one subtest of TestClientStore: run checks one part
// of the contract on s, the store newStore returned for the subtest, with
// records f makes up.
type clientStoreCase struct {
	name string
	run  func(t *testing.T, s oauth.ClientStore, f *clientFixture)
}

// clientStoreCases are TestClientStore's subtests, in the order they run.
var clientStoreCases = []clientStoreCase{
	{"CreateGet", clientCreateGet},
	{"PublicClientCreateGet", clientPublicCreateGet},
	{"ZeroValuesRoundTrip", clientZeroValuesRoundTrip},
	{"DuplicateID", clientDuplicateID},
	{"NotFound", clientNotFound},
	{"NoAliasing", clientNoAliasing},
	{"InvalidScopeMayBeRefused", clientInvalidScopeMayBeRefused},
	{"ConcurrentCreateOneWinner", clientConcurrentCreateOneWinner},
	{"ConcurrentUse", clientConcurrentUse},
	{"ThroughIssuer", clientThroughIssuer},
}

// clientFixture makes up the records TestClientStore's subtests create.
type clientFixture struct {
	names
	// base is a past instant with a whole number of microseconds, in a
	// location other than UTC so that a store that returns UTC still
	// compares equal.
	base time.Time
}

func newClientFixture() *clientFixture {
	return &clientFixture{base: time.Now().Add(-time.Hour).Truncate(time.Second).In(time.FixedZone("UTC-3", -3*3600))}
}

// full returns a new record of a confidential client with every field
// set.
func (f *clientFixture) full(t *testing.T) *oauth.ClientRecord {
	return &oauth.ClientRecord{
		ID:   f.uniq(t, "client"),
		Name: f.uniq(t, "Orders") + " Ünïcode \"app\"",
		// In order; a space and non-ASCII are allowed by
		// oauth.RegisterClient, so a store must keep them.
		RedirectURIs: []string{
			"https://app.example/cb?x=1&y=2",
			"http://127.0.0.1:8080/cb",
			"com.example.app:/oauth2redirect",
			"https://app.example/café au lait",
		},
		SecretDigest: randomDigest(t),
		Subject:      f.uniq(t, "svc") + " Ünïcode",
		Tenant:       f.uniq(t, "tenant"),
		Scopes:       []apiauth.Scope{apiauth.Write, "orders:read", apiauth.Read, "z:last"},
		Tier:         "enterprise",
		CreatedAt:    f.base.Add(987654 * time.Microsecond),
		DisabledAt:   f.base.Add(30*time.Hour + 1*time.Microsecond),
	}
}

// fullPublic returns a new record of a public client with every field set
// but the secret digest, which is zero: a public client has no secret.
func (f *clientFixture) fullPublic(t *testing.T) *oauth.ClientRecord {
	c := f.full(t)
	c.Public = true
	c.SecretDigest = apiauth.KeyDigest{}
	c.RedirectURIs = []string{"com.example.app:/cb", "http://[::1]/cb"}
	return c
}

// minimal returns a new record with only an ID, a secret digest and the
// creation time set.
func (f *clientFixture) minimal(t *testing.T) *oauth.ClientRecord {
	return &oauth.ClientRecord{ID: f.uniq(t, "client"), SecretDigest: randomDigest(t), CreatedAt: f.base}
}

// clientCreateGet: GetClient gives back every field, every time.
func clientCreateGet(t *testing.T, s oauth.ClientStore, f *clientFixture) {
	ctx := context.Background()
	want := f.full(t)
	mustCreateClient(t, s, want)
	got, err := s.GetClient(ctx, want.ID)
	if err != nil {
		t.Fatalf("GetClient: %v", err)
	}
	checkClient(t, "GetClient", got, want)
	got, err = s.GetClient(ctx, want.ID)
	if err != nil {
		t.Fatalf("second GetClient: %v", err)
	}
	checkClient(t, "second GetClient", got, want)
}

// clientPublicCreateGet: a public client, with a zero secret digest,
// comes back public, its digest zero.
func clientPublicCreateGet(t *testing.T, s oauth.ClientStore, f *clientFixture) {
	want := f.fullPublic(t)
	mustCreateClient(t, s, want)
	got, err := s.GetClient(context.Background(), want.ID)
	if err != nil {
		t.Fatalf("GetClient: %v", err)
	}
	checkClient(t, "GetClient of a public client", got, want)
}

// clientZeroValuesRoundTrip: a zero time, empty strings, no scopes and no
// redirect URIs come back so.
func clientZeroValuesRoundTrip(t *testing.T, s oauth.ClientStore, f *clientFixture) {
	want := f.minimal(t)
	mustCreateClient(t, s, want)
	got, err := s.GetClient(context.Background(), want.ID)
	if err != nil {
		t.Fatalf("GetClient: %v", err)
	}
	checkClient(t, "GetClient", got, want)
}

// clientDuplicateID: a taken ID is refused with ErrClientExists, and the
// first client stays as it was.
func clientDuplicateID(t *testing.T, s oauth.ClientStore, f *clientFixture) {
	ctx := context.Background()
	first := f.full(t)
	mustCreateClient(t, s, first)
	dup := f.minimal(t)
	dup.ID = first.ID
	if err := s.CreateClient(ctx, dup); !errors.Is(err, oauth.ErrClientExists) {
		t.Fatalf("CreateClient with a taken ID: %v, want ErrClientExists", err)
	}
	got, err := s.GetClient(ctx, first.ID)
	if err != nil {
		t.Fatalf("GetClient: %v", err)
	}
	checkClient(t, "GetClient after a refused duplicate", got, first)
}

// clientNotFound: an unknown ID, even one that differs from a stored one
// only in case, gives ErrClientNotFound.
func clientNotFound(t *testing.T, s oauth.ClientStore, f *clientFixture) {
	ctx := context.Background()
	id := f.uniq(t, "missing")
	_, err := s.GetClient(ctx, id)
	if !errors.Is(err, oauth.ErrClientNotFound) {
		t.Fatalf("GetClient of an unknown ID: %v, want ErrClientNotFound", err)
	}
	// An ID that differs from a stored one only in case is another ID.
	c := f.minimal(t)
	c.ID = strings.ToUpper(id)
	mustCreateClient(t, s, c)
	if _, err := s.GetClient(ctx, id); !errors.Is(err, oauth.ErrClientNotFound) {
		t.Fatalf("GetClient(%q) with %q stored: %v, want ErrClientNotFound (IDs are case-sensitive)", id, c.ID, err)
	}
}

// clientNoAliasing: the store keeps its own copy of the record given to
// CreateClient.
func clientNoAliasing(t *testing.T, s oauth.ClientStore, f *clientFixture) {
	rec := f.full(t)
	want := cloneClient(rec)
	mustCreateClient(t, s, rec)
	// Change everything the caller still holds.
	rec.Scopes[0] = "changed"
	rec.RedirectURIs[0] = "https://evil.example/cb"
	rec.SecretDigest[0]++
	rec.Name, rec.Subject, rec.Tenant, rec.Tier = "changed", "changed", "changed", "changed"
	rec.Public = true
	rec.CreatedAt = f.base.Add(1000 * time.Hour)
	rec.DisabledAt = time.Time{}
	ctx := context.Background()
	got, err := s.GetClient(ctx, want.ID)
	if err != nil {
		t.Fatalf("GetClient: %v", err)
	}
	if got == rec {
		t.Fatal("GetClient returned the caller's own record")
	}
	checkClient(t, "GetClient after the caller changed its record", got, want)

	// oauth.RegisterClient returns the record it gave CreateClient:
	// changing that one changes nothing stored either.
	spec := oauth.ClientSpec{
		ID: f.uniq(t, "client"), Name: "app", Public: true, Tenant: f.uniq(t, "tenant"),
		RedirectURIs: []string{"https://app.example/cb", "com.example.app:/cb"},
		CreatedAt:    f.base, // the suite's times have whole microseconds
	}
	reg, err := oauth.RegisterClient(ctx, s, spec, "")
	if err != nil {
		t.Fatalf("RegisterClient of a public client: %v", err)
	}
	want = cloneClient(reg)
	reg.RedirectURIs[0] = "https://evil.example/cb"
	reg.RedirectURIs = append(reg.RedirectURIs, "https://evil.example/more")
	reg.Name, reg.Public = "changed", false
	if got, err = s.GetClient(ctx, spec.ID); err != nil {
		t.Fatalf("GetClient: %v", err)
	}
	if got == reg {
		t.Fatal("GetClient returned the record RegisterClient returned")
	}
	checkClient(t, "GetClient after the caller changed the record RegisterClient returned", got, want)
}

// clientInvalidScopeMayBeRefused: a client with an invalid scope is either
// refused, and then not found, or kept whole.
func clientInvalidScopeMayBeRefused(t *testing.T, s oauth.ClientStore, f *clientFixture) {
	ctx := context.Background()
	for _, bad := range []apiauth.Scope{"two words", "", `quote"`} {
		rec := f.minimal(t)
		rec.Scopes = []apiauth.Scope{apiauth.Read, bad}
		err := s.CreateClient(ctx, rec)
		if errors.Is(err, oauth.ErrClientExists) {
			t.Fatalf("CreateClient with scope %q: %v; an invalid scope is not a duplicate", bad, err)
		}
		got, gerr := s.GetClient(ctx, rec.ID)
		if err != nil {
			if !errors.Is(gerr, oauth.ErrClientNotFound) {
				t.Fatalf("CreateClient with scope %q refused (%v), yet GetClient: %v, want ErrClientNotFound", bad, err, gerr)
			}
			continue
		}
		if gerr != nil {
			t.Fatalf("CreateClient with scope %q accepted, yet GetClient: %v", bad, gerr)
		}
		checkClient(t, fmt.Sprintf("GetClient of a client with scope %q accepted", bad), got, rec)
	}
}

// clientConcurrentCreateOneWinner: of 16 concurrent creates of one ID,
// exactly one succeeds.
func clientConcurrentCreateOneWinner(t *testing.T, s oauth.ClientStore, f *clientFixture) {
	ctx := context.Background()
	id := f.uniq(t, "client")
	const n = 16
	var wins, exists atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		rec := f.minimal(t)
		rec.ID = id
		rec.Tenant = fmt.Sprint("tenant-", i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			switch err := s.CreateClient(ctx, rec); {
			case err == nil:
				wins.Add(1)
			case errors.Is(err, oauth.ErrClientExists):
				exists.Add(1)
			default:
				t.Errorf("CreateClient: %v", err)
			}
		}()
	}
	close(start)
	wg.Wait()
	if wins.Load() != 1 || exists.Load() != n-1 {
		t.Fatalf("concurrent creates of one ID: %d succeeded, %d ErrClientExists; want 1 and %d", wins.Load(), exists.Load(), n-1)
	}
	if _, err := s.GetClient(ctx, id); err != nil {
		t.Fatalf("GetClient of the winner: %v", err)
	}
}

// clientConcurrentUse: lookups by 4 goroutines, among creates of 8 other
// clients by others, are safe and never see a partial record.
func clientConcurrentUse(t *testing.T, s oauth.ClientStore, f *clientFixture) {
	const n = 8
	recs := make([]*oauth.ClientRecord, n)
	for i := range recs {
		recs[i] = f.full(t)
		mustCreateClient(t, s, recs[i])
	}
	fresh := make([]*oauth.ClientRecord, n)
	for i := range fresh {
		fresh[i] = f.minimal(t)
	}
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			getWhileCreated(t, s, recs, fresh)
		}()
	}
	for _, rec := range fresh {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.CreateClient(context.Background(), rec); err != nil {
				t.Errorf("CreateClient: %v", err)
			}
		}()
	}
	wg.Wait()
	for _, rec := range fresh {
		got, err := s.GetClient(context.Background(), rec.ID)
		if err != nil {
			t.Fatalf("GetClient of a client created concurrently: %v", err)
		}
		checkClient(t, "GetClient of a client created concurrently", got, rec)
	}
}

// getWhileCreated gets the clients recs and fresh 40 times in turn, while
// fresh are being created: each of recs must come back as itself, each of
// fresh not found or whole.
func getWhileCreated(t *testing.T, s oauth.ClientStore, recs, fresh []*oauth.ClientRecord) {
	ctx := context.Background()
	for i := 0; i < 40; i++ {
		rec := recs[i%len(recs)]
		got, err := s.GetClient(ctx, rec.ID)
		if err != nil {
			t.Errorf("GetClient: %v", err)
			return
		}
		if got.ID != rec.ID || got.SecretDigest != rec.SecretDigest || len(got.Scopes) != len(rec.Scopes) || len(got.RedirectURIs) != len(rec.RedirectURIs) {
			t.Errorf("GetClient(%s) under concurrency: another client's record", rec.ID)
			return
		}
		// A client being created is either not found yet or
		// found whole.
		f := fresh[i%len(fresh)]
		switch got, err := s.GetClient(ctx, f.ID); {
		case errors.Is(err, oauth.ErrClientNotFound):
		case err != nil:
			t.Errorf("GetClient of a client being created: %v", err)
			return
		case got.SecretDigest != f.SecretDigest || !got.CreatedAt.Equal(f.CreatedAt):
			t.Errorf("GetClient of a client being created: a partial record")
			return
		}
	}
}

// clientThroughIssuer: oauth.RegisterClient on the store, then real token
// requests to an oauth.Issuer on it: the right secret gets a token for the
// client, a wrong secret, an unknown or a disabled client get 401
// invalid_client.
func clientThroughIssuer(t *testing.T, s oauth.ClientStore, f *clientFixture) {
	tokenURL, verifier := serveTokens(t, s)
	secret := oauth.GenerateClientSecret()
	spec := oauth.ClientSpec{
		ID:      f.uniq(t, "client"),
		Subject: f.uniq(t, "svc"),
		Tenant:  f.uniq(t, "tenant"),
		Scopes:  []apiauth.Scope{apiauth.Write, "orders:read"},
		Tier:    "pro",
	}
	ctx := context.Background()
	if _, err := oauth.RegisterClient(ctx, s, spec, secret); err != nil {
		t.Fatalf("RegisterClient: %v", err)
	}
	if _, err := oauth.RegisterClient(ctx, s, spec, oauth.GenerateClientSecret()); !errors.Is(err, oauth.ErrClientExists) {
		t.Fatalf("RegisterClient of a taken ID: %v, want ErrClientExists", err)
	}

	// The right secret, by HTTP Basic and in the body.
	for _, basic := range []bool{true, false} {
		checkTokenGranted(t, tokenURL, verifier, spec, secret, basic)
	}

	// A wrong secret, an unknown client, a disabled client.
	disabled := f.minimal(t)
	disabledSecret := oauth.GenerateClientSecret()
	disabled.SecretDigest = apiauth.DigestKey(disabledSecret)
	disabled.DisabledAt = f.base
	mustCreateClient(t, s, disabled)
	for _, c := range []struct{ what, id, secret string }{
		{"a wrong secret", spec.ID, oauth.GenerateClientSecret()},
		{"the secret with one character changed", spec.ID, secret[:len(secret)-1] + flip(secret[len(secret)-1])},
		{"an unknown client", f.uniq(t, "unknown"), secret},
		{"a disabled client", disabled.ID, disabledSecret},
	} {
		status, body := tokenRequest(t, tokenURL, c.id, c.secret, true)
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(body, &e)
		if status != http.StatusUnauthorized || e.Error != "invalid_client" {
			t.Errorf("token request with %s: %d %s, want 401 invalid_client", c.what, status, body)
		}
	}
}

// serveTokens serves, until the test ends, the token endpoint of an issuer
// of client_credentials tokens on s, and returns its URL and a verifier of
// the issuer's tokens.
func serveTokens(t *testing.T, s oauth.ClientStore) (string, *apiauth.JWTVerifier) {
	signing, err := oauth.GenerateSigningKey("ES256")
	if err != nil {
		t.Fatal(err)
	}
	const issuerURL, audience = "https://auth.example.test", "https://api.example.test"
	is, err := oauth.NewIssuer(oauth.Config{Issuer: issuerURL, Audience: audience, Clients: s, SigningKey: &signing})
	if err != nil {
		t.Fatalf("NewIssuer: %v", err)
	}
	srv := httptest.NewServer(is.TokenHandler())
	t.Cleanup(srv.Close)
	verifier, err := apiauth.NewJWTVerifier(apiauth.JWTOptions{}, is.JWTIssuer())
	if err != nil {
		t.Fatalf("NewJWTVerifier: %v", err)
	}
	return srv.URL, verifier
}

// checkTokenGranted asks the token endpoint at tokenURL for a token with
// the client's right secret, by HTTP Basic or in the body, and checks that
// it gets one that verifier accepts, for the client's subject, tenant,
// scopes and tier.
func checkTokenGranted(t *testing.T, tokenURL string, verifier *apiauth.JWTVerifier, spec oauth.ClientSpec, secret string, basic bool) {
	status, body := tokenRequest(t, tokenURL, spec.ID, secret, basic)
	if status != http.StatusOK {
		t.Fatalf("basic=%v: token request with the right secret: %d %s, want 200", basic, status, body)
	}
	var resp struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int64  `json:"expires_in"`
		Scope       string `json:"scope"`
	}
	if err := json.Unmarshal(body, &resp); err != nil || resp.AccessToken == "" {
		t.Fatalf("basic=%v: token response %s: %v", basic, body, err)
	}
	if !strings.EqualFold(resp.TokenType, "Bearer") || resp.ExpiresIn <= 0 {
		t.Errorf("basic=%v: token_type %q, expires_in %d; want Bearer and a positive lifetime", basic, resp.TokenType, resp.ExpiresIn)
	}
	p, err := verifier.Verify(context.Background(), resp.AccessToken)
	if err != nil {
		t.Fatalf("basic=%v: the issued token does not verify: %v", basic, err)
	}
	if p.Subject != spec.Subject || p.Tenant != spec.Tenant || p.Tier != spec.Tier || !slices.Equal(p.Scopes, spec.Scopes) {
		t.Fatalf("basic=%v: token for %q tenant %q tier %q scopes %q; want the client's %q %q %q %q",
			basic, p.Subject, p.Tenant, p.Tier, p.Scopes, spec.Subject, spec.Tenant, spec.Tier, spec.Scopes)
	}
}

// tokenRequest asks the token endpoint at u for a client_credentials token
// and returns the status and body.
func tokenRequest(t *testing.T, u, id, secret string, basic bool) (int, []byte) {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}}
	if !basic {
		form.Set("client_id", id)
		form.Set("client_secret", secret)
	}
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic {
		// RFC 6749 §2.3.1: form-urlencoded, then Basic.
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("token request: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatalf("token response: %v", err)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("token response Cache-Control %q, want no-store", cc)
	}
	return resp.StatusCode, body
}

// flip returns another base62 character than c.
func flip(c byte) string {
	if c == 'a' {
		return "b"
	}
	return "a"
}

func mustCreateClient(t *testing.T, s oauth.ClientStore, c *oauth.ClientRecord) {
	t.Helper()
	if err := s.CreateClient(context.Background(), c); err != nil {
		t.Fatalf("CreateClient(%s): %v", c.ID, err)
	}
}

func cloneClient(c *oauth.ClientRecord) *oauth.ClientRecord {
	cp := *c
	cp.Scopes = slices.Clone(c.Scopes)
	cp.RedirectURIs = slices.Clone(c.RedirectURIs)
	return &cp
}

// checkClient compares every field of got with want.
func checkClient(t *testing.T, what string, got, want *oauth.ClientRecord) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: nil record", what)
	}
	str := func(field, g, w string) {
		if g != w {
			t.Errorf("%s: %s = %q, want %q", what, field, g, w)
		}
	}
	str("ID", got.ID, want.ID)
	str("Name", got.Name, want.Name)
	str("Subject", got.Subject, want.Subject)
	str("Tenant", got.Tenant, want.Tenant)
	str("Tier", got.Tier, want.Tier)
	if got.SecretDigest != want.SecretDigest {
		t.Errorf("%s: SecretDigest = %x, want %x", what, got.SecretDigest, want.SecretDigest)
	}
	if got.Public != want.Public {
		t.Errorf("%s: Public = %v, want %v", what, got.Public, want.Public)
	}
	if len(got.Scopes) != len(want.Scopes) || (len(want.Scopes) > 0 && !slices.Equal(got.Scopes, want.Scopes)) {
		t.Errorf("%s: Scopes = %q, want %q (order kept)", what, got.Scopes, want.Scopes)
	}
	if len(got.RedirectURIs) != len(want.RedirectURIs) || (len(want.RedirectURIs) > 0 && !slices.Equal(got.RedirectURIs, want.RedirectURIs)) {
		t.Errorf("%s: RedirectURIs = %q, want %q (order kept, each as given)", what, got.RedirectURIs, want.RedirectURIs)
	}
	tm := func(field string, g, w time.Time) {
		if !g.Equal(w) || g.IsZero() != w.IsZero() {
			t.Errorf("%s: %s = %v, want %v (microsecond precision, zero stays zero)", what, field, g, w)
		}
	}
	tm("CreatedAt", got.CreatedAt, want.CreatedAt)
	tm("DisabledAt", got.DisabledAt, want.DisabledAt)
}
