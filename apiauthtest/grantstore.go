package apiauthtest

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apiauth/apiauth"
	"github.com/apiauth/apiauth/oauth"
)

// TestGrantStore checks that a grant store implements oauth.GrantStore's
// contract, in the manner of testing/slogtest: run it from a test of your
// own with a function that returns the store to check.
//
// newStore is called once per subtest. It may return a fresh store or one
// shared with other subtests and earlier runs, or a store that sends each
// call to one of several instances on one database (with any per-instance
// cache of GetGrant off: the suite reads through one instance what it just
// changed through another, which a cache sees only when it learns of the
// change; the writes' atomicity across instances is what such a run
// checks): the suite makes up
// unique digests, IDs and tenants in every subtest, so it never depends on
// the store being empty. Its times are within a few days of the system
// clock's, its codes expire 10 minutes after the suite starts at the
// soonest, and its grants an hour after: a store that drops what expired
// (by both the time given and its own clock) drops nothing the suite
// still uses.
//
// Each part of the contract is one subtest, named in brackets below, so
// that a failure says which part a store breaks. The suite checks that:
//
//   - CreateCode, then RedeemCode, gives back every field of the code
//     exactly, with UsedAt the time of redemption; the grant it starts,
//     read by GetGrant and by LookupRefresh of its refresh token, has the
//     code's grant ID, client, subject, tenant, tier and scopes (in
//     order), was created then, expires at the code's GrantExpiresAt and,
//     idle, at oauth.IdleExpiry, is not revoked, and has the refresh token
//     as its current one. Strings may hold any UTF-8. Times are compared with
//     time.Equal, and the suite's have a whole number of microseconds, so
//     a store must keep at least microsecond precision and may return them
//     in any location. [RedeemCode]
//   - Empty strings and scopes come back empty. A grant may start without
//     a refresh token (the zero digest), and then the zero digest is no
//     refresh token: LookupRefresh and RotateRefresh of it get
//     ErrGrantNotFound. Without an idle time, the idle expiry is the
//     absolute one. [ZeroValuesRoundTrip]
//   - A code is redeemed once (RFC 6749 §4.1.2): every later RedeemCode
//     gets ErrCodeUsed with the code as stored, UsedAt the first
//     redemption's time, so that the caller can revoke its grant; the
//     replay changes nothing, and stores no refresh token. [CodeReplay]
//   - A code is redeemable until, not at, its ExpiresAt; then RedeemCode
//     gets ErrCodeExpired or ErrGrantNotFound, starts no grant and
//     changes nothing: the code is still redeemable at an earlier time.
//     [CodeExpiry]
//   - CreateCode refuses a code whose digest or grant ID is taken, by a
//     code or by a grant, with ErrGrantExists, and leaves the first
//     unchanged; it refuses a code oauth.CheckCode refuses with another
//     error, and stores nothing of it. [DuplicateCode, InvalidCode]
//   - RedeemCode and RotateRefresh refuse a refresh digest already taken
//     with ErrGrantExists and change nothing: the code stays redeemable,
//     the old token current. [RefreshTaken]
//   - Every method given an unknown code, refresh token or grant ID
//     returns ErrGrantNotFound, and creates nothing. [NotFound]
//   - RotateRefresh of the current token makes the new one current, sets
//     the idle expiry from the time given and changes nothing else; a
//     replaced token is still found by LookupRefresh, with the grant's
//     current token. [RotateRefresh]
//   - Reuse (RFC 9700 §4.14.2): RotateRefresh of any replaced token of a
//     grant gets ErrRefreshReused and revokes the grant at the time given;
//     from then on the current token gets ErrGrantRevoked, and another
//     replaced one ErrRefreshReused again, without postponing the
//     revocation. [ReuseRevokesFamily]
//   - Idle expiry: a grant whose token is not rotated for the idle time
//     expires (ErrGrantExpired, at and after the idle expiry, not before);
//     each rotation extends it. Absolute expiry: no rotation extends the
//     idle expiry past the absolute one, and at the absolute expiry the
//     grant expires. A refused rotation changes nothing.
//     [IdleExpiry, AbsoluteExpiry]
//   - RevokeGrant is monotonic: an earlier time replaces a later one, a
//     later one never postpones an earlier one, nothing undoes it, and it
//     changes nothing else; a rotation before a scheduled revocation
//     works and keeps it, one at or after it gets ErrGrantRevoked. The
//     zero time is refused. [RevokeIsMonotonic]
//   - The store keeps its own copy of the code given to CreateCode and of
//     the scopes given to SaveConsent; a record it returned does not
//     change when the grant later changes, nor when a replay is refused.
//     [NoAliasing]
//   - Consent returns the scopes SaveConsent saved for a tenant, subject
//     and client, in order, and nothing for any other; a save replaces an
//     earlier one, never a later one; RevokeConsent forgets it; none
//     saved is ErrConsentNotFound, for both. [Consent]
//   - Of 50 concurrent redemptions of one code, each with a refresh token
//     of its own, exactly one succeeds, and the grant has its token; the
//     49 others get ErrCodeUsed with the grant's ID, and their tokens are
//     unknown. [ConcurrentRedeemOneWinner]
//   - Of 50 concurrent rotations of one current token, each to a token of
//     its own, exactly one succeeds. The store orders them, so the 49
//     others all present a token the winner replaced: each gets
//     ErrRefreshReused and the grant ends revoked at their time, with the
//     winner's token current but refused (ErrGrantRevoked), and the
//     losers' tokens unknown. (A single rotation leaves the grant live
//     with its token: [RotateRefresh].) [ConcurrentRotateOneWinner]
//   - A rotation racing RevokeGrant, many times over, never loses the
//     revocation: afterwards the grant is revoked at the time given, and
//     the rotation either succeeded or got ErrGrantRevoked. The check of
//     the grant and the change in RotateRefresh are therefore one atomic
//     step. [RotateRacingRevoke]
//   - Concurrent redemptions, rotations of different grants, lookups and
//     consents are safe and every change is kept (run the suite with
//     -race). [ConcurrentUse]
//   - A call whose ctx is done fails, or succeeds whole: a redemption or
//     rotation that failed so can be done again. [CancelledContext]
func TestGrantStore(t *testing.T, newStore func(t *testing.T) oauth.GrantStore) {
	f := newGrantFixture()
	for _, c := range grantStoreCases {
		t.Run(c.name, func(t *testing.T) { c.run(t, newStore(t), f) })
	}
}

// grantStoreCase is one subtest of TestGrantStore: run checks one part of
// the contract on s, the store newStore returned for the subtest, with
// codes f makes up.
type grantStoreCase struct {
	name string
	run  func(t *testing.T, s oauth.GrantStore, f *grantFixture)
}

// grantStoreCases are TestGrantStore's subtests, in the order they run.
var grantStoreCases = []grantStoreCase{
	{"RedeemCode", grantRedeemCode},
	{"ZeroValuesRoundTrip", grantZeroValuesRoundTrip},
	{"CodeReplay", grantCodeReplay},
	{"CodeExpiry", grantCodeExpiry},
	{"DuplicateCode", grantDuplicateCode},
	{"InvalidCode", grantInvalidCode},
	{"RefreshTaken", grantRefreshTaken},
	{"NotFound", grantNotFound},
	{"RotateRefresh", grantRotateRefresh},
	{"ReuseRevokesFamily", grantReuseRevokesFamily},
	{"IdleExpiry", grantIdleExpiry},
	{"AbsoluteExpiry", grantAbsoluteExpiry},
	{"RevokeIsMonotonic", grantRevokeIsMonotonic},
	{"NoAliasing", grantNoAliasing},
	{"Consent", grantConsent},
	{"ConcurrentRedeemOneWinner", grantConcurrentRedeemOneWinner},
	{"ConcurrentRotateOneWinner", grantConcurrentRotateOneWinner},
	{"RotateRacingRevoke", grantRotateRacingRevoke},
	{"ConcurrentUse", grantConcurrentUse},
	{"CancelledContext", grantCancelledContext},
}

// Lifetimes of the suite's codes and grants.
const (
	codeTTL  = 10 * time.Minute
	grantTTL = 30 * 24 * time.Hour
	idleTTL  = time.Hour
)

// grantFixture makes up the codes TestGrantStore's subtests create.
type grantFixture struct {
	names
	// base is the time the suite started, with a whole number of
	// seconds, in a location other than UTC so that a store that returns
	// UTC still compares equal. Codes are issued at base, or later.
	base time.Time
}

func newGrantFixture() *grantFixture {
	return &grantFixture{base: time.Now().Truncate(time.Second).In(time.FixedZone("UTC+5:30", 5*3600+1800))}
}

// code returns a new code with every field but UsedAt set, issued at at
// (and a few microseconds): it expires codeTTL later, and its grant
// grantTTL later.
func (f *grantFixture) code(t *testing.T, at time.Time) *oauth.Code {
	return &oauth.Code{
		Digest:         randomDigest(t),
		GrantID:        f.uniq(t, "grant"),
		ClientID:       f.uniq(t, "client"),
		RedirectURI:    "https://app.example.test/callback?x=ü&y=1",
		Challenge:      pkceChallenge(t),
		Subject:        f.uniq(t, "user") + " Ünïcode",
		Tenant:         f.uniq(t, "tenant"),
		Tier:           "pro Ünïcode",
		Scopes:         []apiauth.Scope{apiauth.Write, "orders:read", apiauth.Read, "z:last"},
		CreatedAt:      at.Add(3 * time.Microsecond),
		ExpiresAt:      at.Add(codeTTL + 123456*time.Microsecond),
		GrantExpiresAt: at.Add(grantTTL + 7*time.Microsecond),
	}
}

// pkceChallenge returns a random S256 code_challenge: 43 base64url
// characters.
func pkceChallenge(t *testing.T) string {
	d := randomDigest(t)
	return base64.RawURLEncoding.EncodeToString(d[:])
}

func mustCreateCode(t *testing.T, s oauth.GrantStore, c *oauth.Code) {
	t.Helper()
	if err := s.CreateCode(context.Background(), c); err != nil {
		t.Fatalf("CreateCode(grant %s): %v", c.GrantID, err)
	}
}

// mustRedeem redeems c at now with a new refresh token and the idle time
// idleTTL, and returns the token's digest.
func mustRedeem(t *testing.T, s oauth.GrantStore, c *oauth.Code, now time.Time) apiauth.KeyDigest {
	t.Helper()
	refresh := randomDigest(t)
	if _, err := s.RedeemCode(context.Background(), c.Digest, refresh, now, idleTTL); err != nil {
		t.Fatalf("RedeemCode(grant %s) at %v: %v", c.GrantID, now, err)
	}
	return refresh
}

// newGrant creates a code issued at at, redeems it a minute later, and
// returns the code and its refresh token's digest.
func newGrant(t *testing.T, s oauth.GrantStore, f *grantFixture, at time.Time) (*oauth.Code, apiauth.KeyDigest) {
	t.Helper()
	c := f.code(t, at)
	mustCreateCode(t, s, c)
	return c, mustRedeem(t, s, c, at.Add(time.Minute))
}

// grantOf returns the grant a redemption of c at now with refresh and
// idle starts.
func grantOf(c *oauth.Code, refresh apiauth.KeyDigest, now time.Time, idle time.Duration) *oauth.Grant {
	return &oauth.Grant{
		ID:            c.GrantID,
		ClientID:      c.ClientID,
		Subject:       c.Subject,
		Tenant:        c.Tenant,
		Tier:          c.Tier,
		Scopes:        slices.Clone(c.Scopes),
		CreatedAt:     now,
		ExpiresAt:     c.GrantExpiresAt,
		IdleExpiresAt: oauth.IdleExpiry(now, idle, c.GrantExpiresAt),
		Refresh:       refresh,
	}
}

func mustGetGrant(t *testing.T, s oauth.GrantStore, id string) *oauth.Grant {
	t.Helper()
	g, err := s.GetGrant(context.Background(), id)
	if err != nil {
		t.Fatalf("GetGrant(%s): %v", id, err)
	}
	return g
}

func mustRotate(t *testing.T, s oauth.GrantStore, old apiauth.KeyDigest, now time.Time) (apiauth.KeyDigest, *oauth.Grant) {
	t.Helper()
	next := randomDigest(t)
	g, err := s.RotateRefresh(context.Background(), old, next, now, idleTTL)
	if err != nil {
		t.Fatalf("RotateRefresh at %v: %v", now, err)
	}
	return next, g
}

// checkGrantBoth checks the grant read by GetGrant of want.ID and by
// LookupRefresh of each of tokens against want.
func checkGrantBoth(t *testing.T, s oauth.GrantStore, what string, want *oauth.Grant, tokens ...apiauth.KeyDigest) {
	t.Helper()
	checkGrant(t, what+": GetGrant", mustGetGrant(t, s, want.ID), want)
	for i, d := range tokens {
		got, err := s.LookupRefresh(context.Background(), d)
		if err != nil {
			t.Fatalf("%s: LookupRefresh of token %d: %v", what, i, err)
		}
		checkGrant(t, fmt.Sprintf("%s: LookupRefresh of token %d", what, i), got, want)
	}
}

// grantRedeemCode: RedeemCode gives back every field of the code, and
// starts the grant it describes.
func grantRedeemCode(t *testing.T, s oauth.GrantStore, f *grantFixture) {
	ctx := context.Background()
	c := f.code(t, f.base)
	want := cloneCode(c)
	mustCreateCode(t, s, c)
	now := f.base.Add(time.Minute + 1*time.Microsecond)
	refresh := randomDigest(t)
	got, err := s.RedeemCode(ctx, c.Digest, refresh, now, idleTTL)
	if err != nil {
		t.Fatalf("RedeemCode: %v", err)
	}
	want.UsedAt = now
	checkCode(t, "RedeemCode", got, want)
	g := grantOf(c, refresh, now, idleTTL)
	checkGrantBoth(t, s, "the grant started", g, refresh)
	if err := mustGetGrant(t, s, c.GrantID).Check(now); err != nil {
		t.Fatalf("Check of a grant just started: %v", err)
	}
}

// grantZeroValuesRoundTrip: empty strings and scopes come back empty; a
// grant without a refresh token or an idle time.
func grantZeroValuesRoundTrip(t *testing.T, s oauth.GrantStore, f *grantFixture) {
	ctx := context.Background()
	c := &oauth.Code{
		Digest:         randomDigest(t),
		GrantID:        f.uniq(t, "grant"),
		ClientID:       f.uniq(t, "client"),
		CreatedAt:      f.base,
		ExpiresAt:      f.base.Add(codeTTL),
		GrantExpiresAt: f.base.Add(grantTTL),
	}
	want := cloneCode(c)
	mustCreateCode(t, s, c)
	now := f.base.Add(time.Second)
	got, err := s.RedeemCode(ctx, c.Digest, apiauth.KeyDigest{}, now, 0)
	if err != nil {
		t.Fatalf("RedeemCode without a refresh token: %v", err)
	}
	want.UsedAt = now
	checkCode(t, "RedeemCode", got, want)
	g := grantOf(c, apiauth.KeyDigest{}, now, 0)
	if !g.IdleExpiresAt.Equal(c.GrantExpiresAt) {
		t.Fatalf("oauth.IdleExpiry without an idle time: %v, want the absolute expiry", g.IdleExpiresAt)
	}
	checkGrantBoth(t, s, "a grant without a refresh token", g)
	if _, err := s.LookupRefresh(ctx, apiauth.KeyDigest{}); !errors.Is(err, oauth.ErrGrantNotFound) {
		t.Errorf("LookupRefresh of the zero digest: %v, want ErrGrantNotFound", err)
	}
	next := randomDigest(t)
	if _, err := s.RotateRefresh(ctx, apiauth.KeyDigest{}, next, now, idleTTL); !errors.Is(err, oauth.ErrGrantNotFound) {
		t.Errorf("RotateRefresh of the zero digest: %v, want ErrGrantNotFound", err)
	}
	if _, err := s.LookupRefresh(ctx, next); !errors.Is(err, oauth.ErrGrantNotFound) {
		t.Errorf("RotateRefresh of the zero digest stored its new token: LookupRefresh: %v", err)
	}
	checkGrantBoth(t, s, "after RotateRefresh of the zero digest", g)
}

// grantCodeReplay: a second redemption gets ErrCodeUsed and the code, and
// changes nothing; the caller can then revoke the grant.
func grantCodeReplay(t *testing.T, s oauth.GrantStore, f *grantFixture) {
	ctx := context.Background()
	c := f.code(t, f.base)
	mustCreateCode(t, s, c)
	first := f.base.Add(time.Minute)
	refresh := mustRedeem(t, s, c, first)
	g := grantOf(c, refresh, first, idleTTL)
	want := cloneCode(c)
	want.UsedAt = first
	for i, at := range []time.Time{first, first.Add(time.Second), first.Add(time.Minute)} {
		again := randomDigest(t)
		got, err := s.RedeemCode(ctx, c.Digest, again, at, idleTTL)
		if !errors.Is(err, oauth.ErrCodeUsed) {
			t.Fatalf("redemption %d: %v, want ErrCodeUsed", i+2, err)
		}
		if got == nil {
			t.Fatalf("redemption %d: ErrCodeUsed without the code: the caller cannot revoke the grant it started (RFC 6749 §4.1.2)", i+2)
		}
		checkCode(t, fmt.Sprintf("the code returned with ErrCodeUsed by redemption %d", i+2), got, want)
		if _, err := s.LookupRefresh(ctx, again); !errors.Is(err, oauth.ErrGrantNotFound) {
			t.Errorf("redemption %d stored its refresh token: LookupRefresh: %v", i+2, err)
		}
	}
	checkGrantBoth(t, s, "after the replays", g, refresh)

	// What the caller does: revoke the grant, and every token with it.
	revoke := first.Add(2 * time.Minute)
	if err := s.RevokeGrant(ctx, c.GrantID, revoke); err != nil {
		t.Fatalf("RevokeGrant of the grant of a replayed code: %v", err)
	}
	if _, err := s.RotateRefresh(ctx, refresh, randomDigest(t), revoke, idleTTL); !errors.Is(err, oauth.ErrGrantRevoked) {
		t.Fatalf("RotateRefresh of the refresh token of a replayed code's grant: %v, want ErrGrantRevoked", err)
	}
}

// grantCodeExpiry: a code is redeemable until its expiry, not at it; an
// expired redemption changes nothing.
func grantCodeExpiry(t *testing.T, s oauth.GrantStore, f *grantFixture) {
	ctx := context.Background()
	early := f.code(t, f.base)
	mustCreateCode(t, s, early)
	mustRedeem(t, s, early, early.ExpiresAt.Add(-time.Microsecond))

	late := f.code(t, f.base)
	mustCreateCode(t, s, late)
	for _, at := range []time.Time{late.ExpiresAt, late.ExpiresAt.Add(time.Hour)} {
		refresh := randomDigest(t)
		got, err := s.RedeemCode(ctx, late.Digest, refresh, at, idleTTL)
		if !errors.Is(err, oauth.ErrCodeExpired) && !errors.Is(err, oauth.ErrGrantNotFound) {
			t.Fatalf("RedeemCode at %v, expiry %v: %v, %v; want ErrCodeExpired or ErrGrantNotFound", at, late.ExpiresAt, got, err)
		}
		if _, err := s.GetGrant(ctx, late.GrantID); !errors.Is(err, oauth.ErrGrantNotFound) {
			t.Fatalf("an expired redemption started the grant: GetGrant: %v", err)
		}
		if _, err := s.LookupRefresh(ctx, refresh); !errors.Is(err, oauth.ErrGrantNotFound) {
			t.Fatalf("an expired redemption stored its refresh token: LookupRefresh: %v", err)
		}
	}
	// Nothing changed: the code is not spent.
	mustRedeem(t, s, late, late.ExpiresAt.Add(-time.Second))
}

// grantDuplicateCode: a taken digest or grant ID is refused with
// ErrGrantExists, and the first code stays as it was.
func grantDuplicateCode(t *testing.T, s oauth.GrantStore, f *grantFixture) {
	ctx := context.Background()
	first := f.code(t, f.base)
	want := cloneCode(first)
	mustCreateCode(t, s, first)
	sameDigest := f.code(t, f.base)
	sameDigest.Digest = first.Digest
	if err := s.CreateCode(ctx, sameDigest); !errors.Is(err, oauth.ErrGrantExists) {
		t.Fatalf("CreateCode with a taken digest: %v, want ErrGrantExists", err)
	}
	sameGrant := f.code(t, f.base)
	sameGrant.GrantID = first.GrantID
	if err := s.CreateCode(ctx, sameGrant); !errors.Is(err, oauth.ErrGrantExists) {
		t.Fatalf("CreateCode with the grant ID of another code: %v, want ErrGrantExists", err)
	}
	if _, err := s.RedeemCode(ctx, sameGrant.Digest, randomDigest(t), f.base.Add(time.Minute), idleTTL); !errors.Is(err, oauth.ErrGrantNotFound) {
		t.Fatalf("RedeemCode of a refused duplicate: %v, want ErrGrantNotFound", err)
	}
	now := f.base.Add(time.Minute)
	got, err := s.RedeemCode(ctx, first.Digest, randomDigest(t), now, idleTTL)
	if err != nil {
		t.Fatalf("RedeemCode of the first code: %v", err)
	}
	want.UsedAt = now
	checkCode(t, "the first code after refused duplicates", got, want)

	// A grant's ID stays taken after its code is spent.
	again := f.code(t, f.base)
	again.GrantID = first.GrantID
	if err := s.CreateCode(ctx, again); !errors.Is(err, oauth.ErrGrantExists) {
		t.Fatalf("CreateCode with the ID of a grant started: %v, want ErrGrantExists", err)
	}
}

// grantInvalidCode: codes oauth.CheckCode refuses are refused, not as
// duplicates, and not stored.
func grantInvalidCode(t *testing.T, s oauth.GrantStore, f *grantFixture) {
	ctx := context.Background()
	for _, bad := range []struct {
		what   string
		change func(c *oauth.Code)
	}{
		{"no grant ID", func(c *oauth.Code) { c.GrantID = "" }},
		{"no client ID", func(c *oauth.Code) { c.ClientID = "" }},
		{"no expiry", func(c *oauth.Code) { c.ExpiresAt = time.Time{} }},
		{"a grant that expires with the code", func(c *oauth.Code) { c.GrantExpiresAt = c.ExpiresAt }},
		{"a grant that expires before the code", func(c *oauth.Code) { c.GrantExpiresAt = c.ExpiresAt.Add(-time.Second) }},
		{"a time of use", func(c *oauth.Code) { c.UsedAt = c.CreatedAt }},
		{"an invalid scope", func(c *oauth.Code) { c.Scopes = []apiauth.Scope{apiauth.Read, "two words"} }},
	} {
		c := f.code(t, f.base)
		bad.change(c)
		if oauth.CheckCode(c) == nil {
			t.Fatalf("oauth.CheckCode accepts a code with %s", bad.what)
		}
		err := s.CreateCode(ctx, c)
		if err == nil || errors.Is(err, oauth.ErrGrantExists) {
			t.Errorf("CreateCode of a code with %s: %v, want an error other than ErrGrantExists", bad.what, err)
		}
		if _, err := s.RedeemCode(ctx, c.Digest, randomDigest(t), f.base.Add(time.Second), idleTTL); !errors.Is(err, oauth.ErrGrantNotFound) {
			t.Errorf("RedeemCode of a refused code with %s: %v, want ErrGrantNotFound", bad.what, err)
		}
	}
}

// grantRefreshTaken: a refresh digest already taken is refused, by
// RedeemCode and by RotateRefresh, and nothing changes.
func grantRefreshTaken(t *testing.T, s oauth.GrantStore, f *grantFixture) {
	ctx := context.Background()
	other, otherRefresh := newGrant(t, s, f, f.base)
	otherGrant := mustGetGrant(t, s, other.GrantID)

	c := f.code(t, f.base)
	mustCreateCode(t, s, c)
	now := f.base.Add(2 * time.Minute)
	if _, err := s.RedeemCode(ctx, c.Digest, otherRefresh, now, idleTTL); !errors.Is(err, oauth.ErrGrantExists) {
		t.Fatalf("RedeemCode with another grant's refresh token: %v, want ErrGrantExists", err)
	}
	if _, err := s.GetGrant(ctx, c.GrantID); !errors.Is(err, oauth.ErrGrantNotFound) {
		t.Fatalf("a refused RedeemCode started the grant: GetGrant: %v", err)
	}
	checkGrantBoth(t, s, "the other grant", otherGrant, otherRefresh)
	refresh := mustRedeem(t, s, c, now) // the code was not spent
	g := mustGetGrant(t, s, c.GrantID)

	for _, taken := range []apiauth.KeyDigest{otherRefresh, refresh} {
		if _, err := s.RotateRefresh(ctx, refresh, taken, now.Add(time.Minute), idleTTL); !errors.Is(err, oauth.ErrGrantExists) {
			t.Fatalf("RotateRefresh to a taken digest: %v, want ErrGrantExists", err)
		}
	}
	checkGrantBoth(t, s, "after refused rotations", g, refresh)
	checkGrantBoth(t, s, "the other grant", otherGrant, otherRefresh)
	mustRotate(t, s, refresh, now.Add(time.Minute)) // still current
}

// grantNotFound: unknown codes, tokens and grants are ErrGrantNotFound,
// and nothing is created.
func grantNotFound(t *testing.T, s oauth.GrantStore, f *grantFixture) {
	ctx := context.Background()
	now := f.base.Add(time.Minute)
	id := f.uniq(t, "missing")
	code, refresh, next := randomDigest(t), randomDigest(t), randomDigest(t)
	if _, err := s.RedeemCode(ctx, code, refresh, now, idleTTL); !errors.Is(err, oauth.ErrGrantNotFound) {
		t.Errorf("RedeemCode of an unknown code: %v, want ErrGrantNotFound", err)
	}
	if _, err := s.RotateRefresh(ctx, refresh, next, now, idleTTL); !errors.Is(err, oauth.ErrGrantNotFound) {
		t.Errorf("RotateRefresh of an unknown token: %v, want ErrGrantNotFound", err)
	}
	if _, err := s.LookupRefresh(ctx, refresh); !errors.Is(err, oauth.ErrGrantNotFound) {
		t.Errorf("LookupRefresh of an unknown token: %v, want ErrGrantNotFound", err)
	}
	if _, err := s.LookupRefresh(ctx, next); !errors.Is(err, oauth.ErrGrantNotFound) {
		t.Errorf("RotateRefresh of an unknown token stored the new one: LookupRefresh: %v", err)
	}
	if _, err := s.GetGrant(ctx, id); !errors.Is(err, oauth.ErrGrantNotFound) {
		t.Errorf("GetGrant of an unknown ID: %v, want ErrGrantNotFound", err)
	}
	if err := s.RevokeGrant(ctx, id, now); !errors.Is(err, oauth.ErrGrantNotFound) {
		t.Errorf("RevokeGrant of an unknown ID: %v, want ErrGrantNotFound", err)
	}
	if _, err := s.GetGrant(ctx, id); !errors.Is(err, oauth.ErrGrantNotFound) {
		t.Errorf("RevokeGrant of an unknown ID created it: GetGrant: %v", err)
	}
}

// grantRotateRefresh: each rotation makes the new token current and sets
// the idle expiry; replaced tokens are still found.
func grantRotateRefresh(t *testing.T, s oauth.GrantStore, f *grantFixture) {
	c := f.code(t, f.base)
	mustCreateCode(t, s, c)
	now := f.base.Add(time.Minute)
	refresh := mustRedeem(t, s, c, now)
	want := grantOf(c, refresh, now, idleTTL)
	tokens := []apiauth.KeyDigest{refresh}
	for i := 1; i <= 3; i++ {
		now = now.Add(time.Duration(i)*10*time.Minute + time.Microsecond)
		next, got := mustRotate(t, s, tokens[len(tokens)-1], now)
		tokens = append(tokens, next)
		want.Refresh = next
		want.IdleExpiresAt = now.Add(idleTTL)
		checkGrant(t, fmt.Sprintf("the grant returned by rotation %d", i), got, want)
		checkGrantBoth(t, s, fmt.Sprintf("after rotation %d", i), want, tokens...)
		if err := got.Check(now); err != nil {
			t.Fatalf("Check after rotation %d: %v", i, err)
		}
	}
}

// grantReuseRevokesFamily: presenting a replaced token revokes the grant;
// then the current token is refused too.
func grantReuseRevokesFamily(t *testing.T, s oauth.GrantStore, f *grantFixture) {
	ctx := context.Background()
	c := f.code(t, f.base)
	mustCreateCode(t, s, c)
	now := f.base.Add(time.Minute)
	t0 := mustRedeem(t, s, c, now)
	t1, _ := mustRotate(t, s, t0, now.Add(time.Minute))
	t2, want := mustRotate(t, s, t1, now.Add(2*time.Minute))
	want = cloneGrant(want)

	reuse := now.Add(3*time.Minute + time.Microsecond)
	stolen := randomDigest(t)
	if g, err := s.RotateRefresh(ctx, t0, stolen, reuse, idleTTL); !errors.Is(err, oauth.ErrRefreshReused) {
		t.Fatalf("RotateRefresh of a replaced token: %v, %v; want ErrRefreshReused", g, err)
	}
	want.RevokedAt = reuse
	checkGrantBoth(t, s, "after reuse", want, t0, t1, t2)
	if _, err := s.LookupRefresh(ctx, stolen); !errors.Is(err, oauth.ErrGrantNotFound) {
		t.Fatalf("the reuse stored its new token: LookupRefresh: %v", err)
	}
	if _, err := s.RotateRefresh(ctx, t2, randomDigest(t), reuse.Add(time.Second), idleTTL); !errors.Is(err, oauth.ErrGrantRevoked) {
		t.Fatalf("RotateRefresh of the current token after reuse: %v, want ErrGrantRevoked", err)
	}
	if _, err := s.RotateRefresh(ctx, t1, randomDigest(t), reuse.Add(time.Minute), idleTTL); !errors.Is(err, oauth.ErrRefreshReused) {
		t.Fatalf("RotateRefresh of another replaced token after reuse: %v, want ErrRefreshReused", err)
	}
	checkGrantBoth(t, s, "after a second reuse, later (the revocation is not postponed)", want, t0, t1, t2)
	if err := mustGetGrant(t, s, c.GrantID).Check(reuse); !errors.Is(err, oauth.ErrGrantRevoked) {
		t.Fatalf("Check after reuse: %v, want ErrGrantRevoked", err)
	}
}

// grantIdleExpiry: a grant whose token is not rotated for the idle time
// expires; each rotation extends it.
func grantIdleExpiry(t *testing.T, s oauth.GrantStore, f *grantFixture) {
	ctx := context.Background()
	c := f.code(t, f.base)
	mustCreateCode(t, s, c)
	start := f.base.Add(time.Minute)
	t0 := mustRedeem(t, s, c, start)
	if g := mustGetGrant(t, s, c.GrantID); !g.IdleExpiresAt.Equal(start.Add(idleTTL)) {
		t.Fatalf("IdleExpiresAt after RedeemCode at %v with idle %v: %v", start, idleTTL, g.IdleExpiresAt)
	}
	// Rotated just before it idles: extended from then.
	at := start.Add(idleTTL - time.Microsecond)
	t1, g := mustRotate(t, s, t0, at)
	if want := at.Add(idleTTL); !g.IdleExpiresAt.Equal(want) {
		t.Fatalf("IdleExpiresAt after a rotation at %v: %v, want %v", at, g.IdleExpiresAt, want)
	}
	want := cloneGrant(g)
	if err := want.Check(want.IdleExpiresAt.Add(-time.Microsecond)); err != nil {
		t.Fatalf("Check just before the idle expiry: %v", err)
	}
	for _, late := range []time.Time{want.IdleExpiresAt, want.IdleExpiresAt.Add(time.Hour)} {
		if _, err := s.RotateRefresh(ctx, t1, randomDigest(t), late, idleTTL); !errors.Is(err, oauth.ErrGrantExpired) {
			t.Fatalf("RotateRefresh at %v, idle expiry %v: %v, want ErrGrantExpired", late, want.IdleExpiresAt, err)
		}
		if err := want.Check(late); !errors.Is(err, oauth.ErrGrantExpired) {
			t.Fatalf("Check at the idle expiry: %v, want ErrGrantExpired", err)
		}
	}
	checkGrantBoth(t, s, "after refused rotations (nothing changes)", want, t0, t1)
}

// grantAbsoluteExpiry: no rotation extends a grant past its absolute
// expiry.
func grantAbsoluteExpiry(t *testing.T, s oauth.GrantStore, f *grantFixture) {
	ctx := context.Background()
	c := f.code(t, f.base)
	c.GrantExpiresAt = f.base.Add(3*time.Hour + 5*time.Microsecond)
	mustCreateCode(t, s, c)
	const idle = 2 * time.Hour
	rotate := func(old apiauth.KeyDigest, at time.Time, wantIdle time.Time) apiauth.KeyDigest {
		t.Helper()
		next := randomDigest(t)
		g, err := s.RotateRefresh(ctx, old, next, at, idle)
		if err != nil {
			t.Fatalf("RotateRefresh at %v: %v", at, err)
		}
		if !g.IdleExpiresAt.Equal(wantIdle) || !g.ExpiresAt.Equal(c.GrantExpiresAt) {
			t.Fatalf("after a rotation at %v: expires %v, idle %v; want %v, %v", at, g.ExpiresAt, g.IdleExpiresAt, c.GrantExpiresAt, wantIdle)
		}
		return next
	}
	start := f.base.Add(time.Minute)
	t0 := randomDigest(t)
	if _, err := s.RedeemCode(ctx, c.Digest, t0, start, idle); err != nil {
		t.Fatalf("RedeemCode: %v", err)
	}
	t1 := rotate(t0, start.Add(50*time.Minute), start.Add(50*time.Minute+idle))
	t2 := rotate(t1, start.Add(90*time.Minute), c.GrantExpiresAt)               // now+idle is past it
	t3 := rotate(t2, c.GrantExpiresAt.Add(-time.Microsecond), c.GrantExpiresAt) // the last moment
	want := cloneGrant(mustGetGrant(t, s, c.GrantID))
	if _, err := s.RotateRefresh(ctx, t3, randomDigest(t), c.GrantExpiresAt, idle); !errors.Is(err, oauth.ErrGrantExpired) {
		t.Fatalf("RotateRefresh at the absolute expiry: %v, want ErrGrantExpired", err)
	}
	checkGrantBoth(t, s, "after a refused rotation", want, t3)
	if err := want.Check(c.GrantExpiresAt); !errors.Is(err, oauth.ErrGrantExpired) {
		t.Fatalf("Check at the absolute expiry: %v, want ErrGrantExpired", err)
	}
}

// grantRevokeIsMonotonic: an earlier revocation replaces a later one,
// never the other way round; rotations before a scheduled revocation
// keep it.
func grantRevokeIsMonotonic(t *testing.T, s oauth.GrantStore, f *grantFixture) {
	ctx := context.Background()
	c, t0 := newGrant(t, s, f, f.base)
	want := cloneGrant(mustGetGrant(t, s, c.GrantID))
	at := f.base.Add(time.Hour)
	revoke := func(when time.Time, wantAt time.Time, why string) {
		t.Helper()
		if err := s.RevokeGrant(ctx, c.GrantID, when); err != nil {
			t.Fatalf("RevokeGrant(%v): %v", when, err)
		}
		want.RevokedAt = wantAt
		checkGrantBoth(t, s, why, want, t0)
	}
	revoke(at, at, "a revocation is seen at once")
	revoke(at.Add(time.Hour), at, "a later revocation never postpones an earlier one")

	// A rotation before the (scheduled) revocation works, and keeps it.
	before := at.Add(-20 * time.Minute)
	t1, g := mustRotate(t, s, t0, before)
	if !g.RevokedAt.Equal(at) {
		t.Fatalf("a rotation before a scheduled revocation: RevokedAt %v, want %v kept", g.RevokedAt, at)
	}
	want.Refresh, want.IdleExpiresAt = t1, g.IdleExpiresAt
	revoke(at.Add(-5*time.Minute), at.Add(-5*time.Minute), "an earlier revocation time replaces a later one")
	for _, when := range []time.Time{at.Add(-5 * time.Minute), at} {
		if _, err := s.RotateRefresh(ctx, t1, randomDigest(t), when, idleTTL); !errors.Is(err, oauth.ErrGrantRevoked) {
			t.Fatalf("RotateRefresh at %v of a grant revoked at %v: %v, want ErrGrantRevoked", when, want.RevokedAt, err)
		}
	}
	if err := s.RevokeGrant(ctx, c.GrantID, time.Time{}); err == nil {
		t.Fatal("RevokeGrant with the zero time succeeded")
	}
	checkGrantBoth(t, s, "refused calls change nothing", want, t0, t1)
}

// grantNoAliasing: the store keeps its own copies, and records it
// returned do not change.
func grantNoAliasing(t *testing.T, s oauth.GrantStore, f *grantFixture) {
	ctx := context.Background()
	c := f.code(t, f.base)
	want := cloneCode(c)
	mustCreateCode(t, s, c)
	// Change everything the caller still holds.
	c.Scopes[0] = "changed"
	c.ClientID, c.RedirectURI, c.Challenge, c.Subject, c.Tenant, c.Tier = "changed", "changed", "changed", "changed", "changed", "changed"
	c.ExpiresAt = f.base.Add(-time.Hour)
	c.GrantExpiresAt = f.base.Add(1000 * time.Hour)
	now := f.base.Add(time.Minute)
	refresh := randomDigest(t)
	redeemed, err := s.RedeemCode(ctx, want.Digest, refresh, now, idleTTL)
	if err != nil {
		t.Fatalf("RedeemCode after the caller changed its code: %v", err)
	}
	want.UsedAt = now
	checkCode(t, "RedeemCode after the caller changed its code", redeemed, want)
	if redeemed == c {
		t.Fatal("RedeemCode returned the caller's own code")
	}
	g := grantOf(want, refresh, now, idleTTL)
	checkGrantBoth(t, s, "the grant of a code the caller changed", g, refresh)

	// Records handed out earlier do not change under their holders.
	got := mustGetGrant(t, s, want.GrantID)
	looked, err := s.LookupRefresh(ctx, refresh)
	if err != nil {
		t.Fatalf("LookupRefresh: %v", err)
	}
	codeBefore, gotBefore, lookedBefore := cloneCode(redeemed), cloneGrant(got), cloneGrant(looked)
	if _, err := s.RedeemCode(ctx, want.Digest, randomDigest(t), now.Add(time.Second), idleTTL); !errors.Is(err, oauth.ErrCodeUsed) {
		t.Fatalf("a second RedeemCode: %v, want ErrCodeUsed", err)
	}
	mustRotate(t, s, refresh, now.Add(time.Minute))
	if err := s.RevokeGrant(ctx, want.GrantID, now.Add(2*time.Minute)); err != nil {
		t.Fatalf("RevokeGrant: %v", err)
	}
	if _, err := s.RotateRefresh(ctx, refresh, randomDigest(t), now.Add(time.Minute), idleTTL); !errors.Is(err, oauth.ErrRefreshReused) {
		t.Fatalf("RotateRefresh of a replaced token: %v, want ErrRefreshReused", err)
	}
	checkCode(t, "a code returned before a replay", redeemed, codeBefore)
	checkGrant(t, "a grant returned by GetGrant before changes", got, gotBefore)
	checkGrant(t, "a grant returned by LookupRefresh before changes", looked, lookedBefore)

	// Consents: the scopes given and returned are the caller's.
	tenant, subject, client := f.uniq(t, "tenant"), f.uniq(t, "user"), f.uniq(t, "client")
	scopes := []apiauth.Scope{apiauth.Read, apiauth.Write}
	if err := s.SaveConsent(ctx, tenant, subject, client, scopes, now); err != nil {
		t.Fatalf("SaveConsent: %v", err)
	}
	scopes[0] = "changed"
	got1, err := s.Consent(ctx, tenant, subject, client)
	if err != nil {
		t.Fatalf("Consent: %v", err)
	}
	if !slices.Equal(got1, []apiauth.Scope{apiauth.Read, apiauth.Write}) {
		t.Fatalf("Consent after the caller changed its scopes: %q", got1)
	}
	got1[0] = "changed too"
	if got2, err := s.Consent(ctx, tenant, subject, client); err != nil || !slices.Equal(got2, []apiauth.Scope{apiauth.Read, apiauth.Write}) {
		t.Fatalf("Consent after the caller changed the scopes returned before: %q, %v", got2, err)
	}
}

// grantConsent: consents are saved, replaced by later ones only, kept
// apart per tenant, subject and client, and revoked.
func grantConsent(t *testing.T, s oauth.GrantStore, f *grantFixture) {
	ctx := context.Background()
	tenant, subject, client := f.uniq(t, "tenant"), f.uniq(t, "user")+" Ünïcode", f.uniq(t, "client")
	consent := func(tenant, subject, client string, want []apiauth.Scope, why string) {
		t.Helper()
		got, err := s.Consent(ctx, tenant, subject, client)
		if want == nil {
			if !errors.Is(err, oauth.ErrConsentNotFound) {
				t.Fatalf("Consent: %q, %v; want ErrConsentNotFound: %s", got, err, why)
			}
			return
		}
		if err != nil {
			t.Fatalf("Consent: %v: %s", err, why)
		}
		if len(got) != len(want) || (len(want) > 0 && !slices.Equal(got, want)) {
			t.Fatalf("Consent: %q, want %q (order kept): %s", got, want, why)
		}
	}
	save := func(scopes []apiauth.Scope, at time.Time) {
		t.Helper()
		if err := s.SaveConsent(ctx, tenant, subject, client, scopes, at); err != nil {
			t.Fatalf("SaveConsent: %v", err)
		}
	}
	consent(tenant, subject, client, nil, "none saved")
	first := []apiauth.Scope{"orders:read", apiauth.Write, apiauth.Read}
	save(first, f.base)
	consent(tenant, subject, client, first, "saved")
	for _, other := range [][3]string{{"x" + tenant, subject, client}, {tenant, "x" + subject, client}, {tenant, subject, "x" + client}} {
		consent(other[0], other[1], other[2], nil, "another tenant, subject or client")
	}
	second := []apiauth.Scope{apiauth.Read}
	save(second, f.base.Add(time.Minute))
	consent(tenant, subject, client, second, "a later save replaces an earlier one")
	save(first, f.base.Add(30*time.Second))
	consent(tenant, subject, client, second, "an earlier save never replaces a later one")
	save([]apiauth.Scope{}, f.base.Add(2*time.Minute))
	consent(tenant, subject, client, []apiauth.Scope{}, "a consent to no scope is a consent")
	if err := s.RevokeConsent(ctx, tenant, subject, client); err != nil {
		t.Fatalf("RevokeConsent: %v", err)
	}
	consent(tenant, subject, client, nil, "revoked")
	if err := s.RevokeConsent(ctx, tenant, subject, client); !errors.Is(err, oauth.ErrConsentNotFound) {
		t.Fatalf("RevokeConsent of none: %v, want ErrConsentNotFound", err)
	}
	save(first, f.base.Add(3*time.Minute))
	consent(tenant, subject, client, first, "saved again after a revocation")
}

// grantConcurrentRedeemOneWinner: of 50 concurrent redemptions of one
// code, exactly one succeeds.
func grantConcurrentRedeemOneWinner(t *testing.T, s oauth.GrantStore, f *grantFixture) {
	ctx := context.Background()
	c := f.code(t, f.base)
	mustCreateCode(t, s, c)
	const n = 50
	now := f.base.Add(time.Minute)
	tokens := make([]apiauth.KeyDigest, n)
	errs := make([]error, n)
	codes := make([]*oauth.Code, n)
	for i := range tokens {
		tokens[i] = randomDigest(t)
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			codes[i], errs[i] = s.RedeemCode(ctx, c.Digest, tokens[i], now, idleTTL)
		}()
	}
	close(start)
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil:
			if winner >= 0 {
				t.Errorf("redemptions %d and %d both succeeded: one code, two grants (RFC 6749 §4.1.2)", winner, i)
			}
			winner = i
		case errors.Is(err, oauth.ErrCodeUsed):
			if codes[i] == nil || codes[i].GrantID != c.GrantID {
				t.Errorf("redemption %d: ErrCodeUsed without the code of grant %s: %+v", i, c.GrantID, codes[i])
			}
		default:
			t.Errorf("redemption %d: %v, want success or ErrCodeUsed", i, err)
		}
	}
	if t.Failed() {
		return
	}
	if winner < 0 {
		t.Fatal("no redemption succeeded")
	}
	checkGrantBoth(t, s, "the grant of the winner", grantOf(c, tokens[winner], now, idleTTL), tokens[winner])
	for i, d := range tokens {
		if _, err := s.LookupRefresh(ctx, d); i != winner && !errors.Is(err, oauth.ErrGrantNotFound) {
			t.Errorf("a refused redemption's refresh token was stored: LookupRefresh: %v", err)
		}
	}
}

// grantConcurrentRotateOneWinner: of 50 concurrent rotations of one
// token, exactly one succeeds, and the 49 others are reuse.
func grantConcurrentRotateOneWinner(t *testing.T, s oauth.GrantStore, f *grantFixture) {
	ctx := context.Background()
	_, t0 := newGrant(t, s, f, f.base)
	const n = 50
	now := f.base.Add(10 * time.Minute)
	tokens := make([]apiauth.KeyDigest, n)
	grants := make([]*oauth.Grant, n)
	errs := make([]error, n)
	for i := range tokens {
		tokens[i] = randomDigest(t)
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			grants[i], errs[i] = s.RotateRefresh(ctx, t0, tokens[i], now, idleTTL)
		}()
	}
	close(start)
	wg.Wait()
	winner, reused := -1, 0
	for i, err := range errs {
		switch {
		case err == nil:
			if winner >= 0 {
				t.Errorf("rotations %d and %d of one token both succeeded", winner, i)
			}
			winner = i
		case errors.Is(err, oauth.ErrRefreshReused):
			reused++
		default:
			t.Errorf("rotation %d: %v, want success or ErrRefreshReused (every loser presents a replaced token)", i, err)
		}
	}
	if t.Failed() {
		return
	}
	if winner < 0 {
		t.Fatal("no rotation succeeded")
	}
	if g := grants[winner]; g.Refresh != tokens[winner] || !g.RevokedAt.IsZero() {
		t.Errorf("the winner's grant: Refresh %x, RevokedAt %v; want its token, not revoked yet", g.Refresh[:4], g.RevokedAt)
	}
	want := cloneGrant(grants[winner])
	want.RevokedAt = now
	checkGrantBoth(t, s, fmt.Sprintf("after %d reuses", reused), want, t0, tokens[winner])
	if _, err := s.RotateRefresh(ctx, tokens[winner], randomDigest(t), now.Add(time.Second), idleTTL); !errors.Is(err, oauth.ErrGrantRevoked) {
		t.Errorf("RotateRefresh of the winner's token after the reuses: %v, want ErrGrantRevoked", err)
	}
	for i, d := range tokens {
		if _, err := s.LookupRefresh(ctx, d); i != winner && !errors.Is(err, oauth.ErrGrantNotFound) {
			t.Errorf("a refused rotation's token was stored: LookupRefresh: %v", err)
		}
	}
}

// grantRotateRacingRevoke: 4 goroutines of 8 rounds each rotate a grant's
// token while revoking the grant; the revocation is never lost.
func grantRotateRacingRevoke(t *testing.T, s oauth.GrantStore, f *grantFixture) {
	const workers, rounds = 4, 8
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := 0; r < rounds && !t.Failed(); r++ {
				rotateWhileRevoking(t, s, f, (w+r)%4)
			}
		}()
	}
	wg.Wait()
}

// rotateWhileRevoking starts a grant, then rotates its token and revokes
// it at the same time, the revocation after delay yields of the
// processor, and checks the outcome.
func rotateWhileRevoking(t *testing.T, s oauth.GrantStore, f *grantFixture, delay int) {
	ctx := context.Background()
	c := f.code(t, f.base)
	if err := s.CreateCode(ctx, c); err != nil {
		t.Errorf("CreateCode: %v", err)
		return
	}
	t0 := randomDigest(t)
	if _, err := s.RedeemCode(ctx, c.Digest, t0, f.base.Add(time.Minute), idleTTL); err != nil {
		t.Errorf("RedeemCode: %v", err)
		return
	}
	now := f.base.Add(2 * time.Minute)
	t1 := randomDigest(t)
	var (
		wg             sync.WaitGroup
		start          = make(chan struct{})
		rotErr, revErr error
	)
	wg.Add(2)
	go func() {
		defer wg.Done()
		<-start
		_, rotErr = s.RotateRefresh(ctx, t0, t1, now, idleTTL)
	}()
	go func() {
		defer wg.Done()
		<-start
		for range delay {
			runtime.Gosched()
		}
		revErr = s.RevokeGrant(ctx, c.GrantID, now)
	}()
	close(start)
	wg.Wait()
	if revErr != nil {
		t.Errorf("RevokeGrant: %v", revErr)
		return
	}
	g, err := s.GetGrant(ctx, c.GrantID)
	if err != nil {
		t.Errorf("GetGrant: %v", err)
		return
	}
	if !g.RevokedAt.Equal(now) {
		t.Errorf("a rotation racing RevokeGrant lost the revocation: RevokedAt %v, want %v", g.RevokedAt, now)
	}
	current := t1
	if rotErr != nil {
		if !errors.Is(rotErr, oauth.ErrGrantRevoked) {
			t.Errorf("RotateRefresh racing RevokeGrant: %v, want success or ErrGrantRevoked", rotErr)
		}
		current = t0
	}
	if g.Refresh != current {
		t.Errorf("rotation %v, yet the current token is %x", rotErr, g.Refresh[:4])
	}
	if _, err := s.RotateRefresh(ctx, current, randomDigest(t), now, idleTTL); !errors.Is(err, oauth.ErrGrantRevoked) {
		t.Errorf("RotateRefresh after RevokeGrant: %v, want ErrGrantRevoked", err)
	}
}

// grantConcurrentUse: 8 goroutines rotate 8 grants 6 times each, while 4
// others look them up, redeem codes and save consents; every change is
// kept.
func grantConcurrentUse(t *testing.T, s oauth.GrantStore, f *grantFixture) {
	ctx := context.Background()
	const n, rotations = 8, 6
	codes := make([]*oauth.Code, n)
	chains := make([][]apiauth.KeyDigest, n)
	for i := range codes {
		var t0 apiauth.KeyDigest
		codes[i], t0 = newGrant(t, s, f, f.base)
		chains[i] = []apiauth.KeyDigest{t0}
	}
	fresh := make([]*oauth.Code, n)
	for i := range fresh {
		fresh[i] = f.code(t, f.base)
		mustCreateCode(t, s, fresh[i])
	}
	tenant, client := f.uniq(t, "tenant"), f.uniq(t, "client")
	var wg sync.WaitGroup
	var rotated atomic.Int32
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := 1; r <= rotations; r++ {
				next := randomDigest(t)
				at := f.base.Add(time.Duration(r) * time.Minute)
				if _, err := s.RotateRefresh(ctx, chains[i][r-1], next, at, idleTTL); err != nil {
					t.Errorf("RotateRefresh of grant %d, rotation %d: %v", i, r, err)
					return
				}
				chains[i] = append(chains[i], next)
				rotated.Add(1)
			}
		}()
	}
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range n {
				if _, err := s.GetGrant(ctx, codes[(i+w)%n].GrantID); err != nil {
					t.Errorf("GetGrant: %v", err)
				}
				if _, err := s.RedeemCode(ctx, fresh[(i+w)%n].Digest, randomDigest(t), f.base.Add(time.Minute), idleTTL); err != nil && !errors.Is(err, oauth.ErrCodeUsed) {
					t.Errorf("RedeemCode: %v", err)
				}
				subject := fmt.Sprint("user-", i)
				if err := s.SaveConsent(ctx, tenant, subject, client, []apiauth.Scope{apiauth.Scope(fmt.Sprint("s", w))}, f.base.Add(time.Duration(w)*time.Second)); err != nil {
					t.Errorf("SaveConsent: %v", err)
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for i, c := range codes {
		g := mustGetGrant(t, s, c.GrantID)
		if last := chains[i][len(chains[i])-1]; g.Refresh != last || !g.RevokedAt.IsZero() {
			t.Errorf("grant %d after %d rotations: a rotation was lost, or the grant revoked (RevokedAt %v)", i, len(chains[i])-1, g.RevokedAt)
		}
	}
	for _, c := range fresh {
		if _, err := s.GetGrant(ctx, c.GrantID); err != nil {
			t.Errorf("a code redeemed concurrently: GetGrant: %v", err)
		}
	}
	for i := range n {
		// The latest save, that of worker 3, wins whatever the order.
		got, err := s.Consent(ctx, tenant, fmt.Sprint("user-", i), client)
		if err != nil || !slices.Equal(got, []apiauth.Scope{"s3"}) {
			t.Errorf("Consent of user-%d after concurrent saves: %q, %v; want [s3], the latest", i, got, err)
		}
	}
}

// grantCancelledContext: a call whose ctx is done fails, or succeeds
// whole.
func grantCancelledContext(t *testing.T, s oauth.GrantStore, f *grantFixture) {
	done, cancel := context.WithCancel(context.Background())
	cancel()
	c := f.code(t, f.base)
	mustCreateCode(t, s, c)
	now := f.base.Add(time.Minute)
	t0 := randomDigest(t)
	if _, err := s.RedeemCode(done, c.Digest, t0, now, idleTTL); err != nil {
		if errors.Is(err, oauth.ErrCodeUsed) || errors.Is(err, oauth.ErrGrantNotFound) {
			t.Fatalf("RedeemCode with a done ctx: %v, a verdict on the code rather than a failure", err)
		}
		t0 = mustRedeem(t, s, c, now) // nothing was spent
	}
	t1 := randomDigest(t)
	if _, err := s.RotateRefresh(done, t0, t1, now.Add(time.Minute), idleTTL); err != nil {
		if errors.Is(err, oauth.ErrRefreshReused) || errors.Is(err, oauth.ErrGrantNotFound) {
			t.Fatalf("RotateRefresh with a done ctx: %v, a verdict on the token rather than a failure", err)
		}
		t1, _ = mustRotate(t, s, t0, now.Add(time.Minute)) // still current
	}
	if g := mustGetGrant(t, s, c.GrantID); g.Refresh != t1 || !g.RevokedAt.IsZero() {
		t.Fatalf("after calls with a done ctx: Refresh %x, RevokedAt %v", g.Refresh[:4], g.RevokedAt)
	}
	if _, err := s.GetGrant(done, c.GrantID); err != nil && errors.Is(err, oauth.ErrGrantNotFound) {
		t.Fatalf("GetGrant with a done ctx: %v, a verdict rather than a failure", err)
	}
}

func cloneCode(c *oauth.Code) *oauth.Code {
	cp := *c
	cp.Scopes = slices.Clone(c.Scopes)
	return &cp
}

func cloneGrant(g *oauth.Grant) *oauth.Grant {
	cp := *g
	cp.Scopes = slices.Clone(g.Scopes)
	return &cp
}

// checkCode compares every field of got with want.
func checkCode(t *testing.T, what string, got, want *oauth.Code) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: nil code", what)
	}
	str := func(field, g, w string) {
		if g != w {
			t.Errorf("%s: %s = %q, want %q", what, field, g, w)
		}
	}
	if got.Digest != want.Digest {
		t.Errorf("%s: Digest = %x, want %x", what, got.Digest, want.Digest)
	}
	str("GrantID", got.GrantID, want.GrantID)
	str("ClientID", got.ClientID, want.ClientID)
	str("RedirectURI", got.RedirectURI, want.RedirectURI)
	str("Challenge", got.Challenge, want.Challenge)
	str("Subject", got.Subject, want.Subject)
	str("Tenant", got.Tenant, want.Tenant)
	str("Tier", got.Tier, want.Tier)
	checkScopes(t, what, got.Scopes, want.Scopes)
	checkTime(t, what, "CreatedAt", got.CreatedAt, want.CreatedAt)
	checkTime(t, what, "ExpiresAt", got.ExpiresAt, want.ExpiresAt)
	checkTime(t, what, "GrantExpiresAt", got.GrantExpiresAt, want.GrantExpiresAt)
	checkTime(t, what, "UsedAt", got.UsedAt, want.UsedAt)
}

// checkGrant compares every field of got with want.
func checkGrant(t *testing.T, what string, got, want *oauth.Grant) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: nil grant", what)
	}
	str := func(field, g, w string) {
		if g != w {
			t.Errorf("%s: %s = %q, want %q", what, field, g, w)
		}
	}
	str("ID", got.ID, want.ID)
	str("ClientID", got.ClientID, want.ClientID)
	str("Subject", got.Subject, want.Subject)
	str("Tenant", got.Tenant, want.Tenant)
	str("Tier", got.Tier, want.Tier)
	checkScopes(t, what, got.Scopes, want.Scopes)
	checkTime(t, what, "CreatedAt", got.CreatedAt, want.CreatedAt)
	checkTime(t, what, "ExpiresAt", got.ExpiresAt, want.ExpiresAt)
	checkTime(t, what, "IdleExpiresAt", got.IdleExpiresAt, want.IdleExpiresAt)
	checkTime(t, what, "RevokedAt", got.RevokedAt, want.RevokedAt)
	if got.Refresh != want.Refresh {
		t.Errorf("%s: Refresh = %x…, want %x… (the current refresh token)", what, got.Refresh[:4], want.Refresh[:4])
	}
}

func checkScopes(t *testing.T, what string, got, want []apiauth.Scope) {
	t.Helper()
	if len(got) != len(want) || (len(want) > 0 && !slices.Equal(got, want)) {
		t.Errorf("%s: Scopes = %q, want %q (order kept)", what, got, want)
	}
}

func checkTime(t *testing.T, what, field string, got, want time.Time) {
	t.Helper()
	if !got.Equal(want) || got.IsZero() != want.IsZero() {
		t.Errorf("%s: %s = %v, want %v (microsecond precision, zero stays zero)", what, field, got, want)
	}
}
