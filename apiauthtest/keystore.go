package apiauthtest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apiauth/apiauth"
)

// TestKeyStore checks that a key store implements apiauth.KeyStore's
// contract, in the manner of testing/slogtest: run it from a test of your
// own with a function that returns the store to check.
//
// newStore is called once per subtest. It may return a fresh store or one
// shared with other subtests and earlier runs: the suite makes up unique
// IDs, digests and tenants in every subtest, so it never depends on the
// store being empty.
//
// Each part of the contract is one subtest, named in brackets below, so
// that a failure says which part a store breaks. The suite checks that:
//
//   - CreateKey, then LookupKey by digest and GetKey by ID, give back every
//     field of the record exactly: ID, name, subject, tenant, scopes (in
//     order), tier, digest, and the created, expiry, revocation and
//     last-used times. Strings may hold any UTF-8. Times are compared with
//     time.Equal, and the suite's have a whole number of microseconds, so
//     a store must keep at least microsecond precision (PostgreSQL's
//     timestamptz does) and may return them in any location. A zero time
//     comes back zero, empty strings and scopes come back empty. A store
//     that tracks use (KeyRecord.LastUsedAt) may move LastUsedAt forward
//     after a lookup, never back. [CreateLookupGet, ZeroValuesRoundTrip]
//   - ListKeys returns a tenant's keys, revoked ones included, oldest
//     first, and never another tenant's; for a tenant without keys, none
//     and no error. [ListKeysByTenant]
//   - CreateKey refuses a second key with a taken ID or a taken digest with
//     an error matching apiauth.ErrKeyExists (errors.Is), stores nothing of
//     it, and leaves the first key unchanged. [DuplicateID, DuplicateDigest]
//   - LookupKey, GetKey, RevokeKey and ExpireKey of a key that does not
//     exist return an error matching apiauth.ErrKeyNotFound, and create
//     nothing. [NotFound]
//   - A change made through the store is seen by its next LookupKey at
//     once, including a key created after a lookup missed it: a store that
//     caches must invalidate its own cache on its own writes.
//     [CreatedAfterMiss, RevokeIsMonotonic, ExpireOnlyBringsForward]
//   - RevokeKey is monotonic: an earlier revocation time replaces a later
//     one, a later one never postpones an earlier one, nothing undoes it,
//     and it changes neither the expiry nor ReplacedBy. [RevokeIsMonotonic]
//   - ExpireKey only brings an expiry forward, records ReplacedBy, and never
//     touches RevokedAt. It refuses a key with a revocation time, past or
//     scheduled, with an error matching apiauth.ErrTokenRevoked, and then
//     changes nothing. [ExpireOnlyBringsForward, RevokeIsMonotonic]
//   - The store keeps its own copy of the record given to CreateKey
//     (changing it afterwards changes nothing), and a record it returned
//     does not change when the key later changes: records are replaced,
//     never modified in place. Records returned are shared and immutable
//     (see apiauth.KeyRecord), so the suite does not modify them.
//     [NoAliasing]
//   - Of concurrent creates of one ID, or of one digest, exactly one
//     succeeds and the others get ErrKeyExists; concurrent lookups, lists,
//     revocations, expiries and creates are safe and every change is kept
//     (run the suite with -race). [ConcurrentCreateOneWinner,
//     ConcurrentUse]
//   - apiauth.Keys.Rotate racing apiauth.Keys.Revoke of the same key, many
//     times over, never leaves a usable replacement of a revoked key: a
//     Rotate that fails leaves none, and a Rotate whose ExpireKey was
//     called after RevokeKey returned must fail. ExpireKey's check for a
//     revocation and its change must therefore be one atomic step (one
//     transaction, or one conditional update). [RotateRacingRevoke]
//   - End to end through apiauth.Keys: Create, Verify, Rotate with a grace
//     period, Revoke then ErrTokenRevoked, List, and unknown keys.
//     [ThroughKeys]
func TestKeyStore(t *testing.T, newStore func(t *testing.T) apiauth.KeyStore) {
	f := newKeyFixture()
	for _, c := range keyStoreCases {
		t.Run(c.name, func(t *testing.T) { c.run(t, newStore(t), f) })
	}
}

// keyStoreCase is one subtest of TestKeyStore: run checks one part of the
// contract on s, the store newStore returned for the subtest, with records
// f makes up.
type keyStoreCase struct {
	name string
	run  func(t *testing.T, s apiauth.KeyStore, f *keyFixture)
}

// keyStoreCases are TestKeyStore's subtests, in the order they run.
var keyStoreCases = []keyStoreCase{
	{"CreateLookupGet", keyCreateLookupGet},
	{"ZeroValuesRoundTrip", keyZeroValuesRoundTrip},
	{"ListKeysByTenant", keyListKeysByTenant},
	{"DuplicateID", keyDuplicateID},
	{"DuplicateDigest", keyDuplicateDigest},
	{"NotFound", keyNotFound},
	{"CreatedAfterMiss", keyCreatedAfterMiss},
	{"RevokeIsMonotonic", keyRevokeIsMonotonic},
	{"ExpireOnlyBringsForward", keyExpireOnlyBringsForward},
	{"NoAliasing", keyNoAliasing},
	{"ConcurrentCreateOneWinner", keyConcurrentCreateOneWinner},
	{"ConcurrentUse", keyConcurrentUse},
	{"RotateRacingRevoke", keyRotateRacingRevoke},
	{"ThroughKeys", keyThroughKeys},
}

// names makes up names that no other subtest, and no earlier run on the
// same store, uses.
type names struct{ seq atomic.Int64 }

func (n *names) uniq(t *testing.T, what string) string {
	return fmt.Sprintf("%s-%s-%d-%d", what, t.Name(), time.Now().UnixNano(), n.seq.Add(1))
}

// keyFixture makes up the records TestKeyStore's subtests create.
type keyFixture struct {
	names
	// base is a past instant with a whole number of microseconds, in a
	// location other than UTC so that a store that returns UTC still
	// compares equal.
	base time.Time
}

func newKeyFixture() *keyFixture {
	return &keyFixture{base: time.Now().Add(-time.Hour).Truncate(time.Second).In(time.FixedZone("UTC+2", 2*3600))}
}

// full returns a new record with every field set.
func (f *keyFixture) full(t *testing.T) *apiauth.KeyRecord {
	base := f.base
	return &apiauth.KeyRecord{
		Principal: apiauth.Principal{
			Subject:   f.uniq(t, "user") + " Ünïcode",
			Tenant:    f.uniq(t, "tenant"),
			Scopes:    []apiauth.Scope{apiauth.Write, "orders:read", apiauth.Read, "z:last"},
			Tier:      "pro",
			KeyID:     f.uniq(t, "key"),
			ExpiresAt: base.Add(48*time.Hour + 123456*time.Microsecond),
		},
		Name:       "billing integration ✓",
		Digest:     randomDigest(t),
		CreatedAt:  base.Add(987654 * time.Microsecond),
		RevokedAt:  base.Add(30*time.Hour + 1*time.Microsecond),
		ReplacedBy: f.uniq(t, "next"),
		LastUsedAt: base.Add(2*time.Hour + 999999*time.Microsecond),
	}
}

// minimal returns a new record of tenant with only an ID, one scope, a
// digest and the creation time set.
func (f *keyFixture) minimal(t *testing.T, tenant string, created time.Time) *apiauth.KeyRecord {
	return &apiauth.KeyRecord{
		Principal: apiauth.Principal{Tenant: tenant, KeyID: f.uniq(t, "key"), Scopes: []apiauth.Scope{apiauth.Read}},
		Digest:    randomDigest(t),
		CreatedAt: created,
	}
}

// keyCreateLookupGet: GetKey and LookupKey give back every field.
func keyCreateLookupGet(t *testing.T, s apiauth.KeyStore, f *keyFixture) {
	ctx := context.Background()
	want := f.full(t)
	mustCreate(t, s, want)
	got, err := s.GetKey(ctx, want.KeyID)
	if err != nil {
		t.Fatalf("GetKey: %v", err)
	}
	checkRecord(t, "GetKey", got, want, true)
	got, err = s.LookupKey(ctx, want.Digest)
	if err != nil {
		t.Fatalf("LookupKey: %v", err)
	}
	checkRecord(t, "LookupKey", got, want, false)
	got, err = s.GetKey(ctx, want.KeyID)
	if err != nil {
		t.Fatalf("GetKey after LookupKey: %v", err)
	}
	checkRecord(t, "GetKey after LookupKey", got, want, false)
}

// keyZeroValuesRoundTrip: zero times, empty strings and no scopes come
// back so.
func keyZeroValuesRoundTrip(t *testing.T, s apiauth.KeyStore, f *keyFixture) {
	ctx := context.Background()
	want := &apiauth.KeyRecord{
		Principal: apiauth.Principal{KeyID: f.uniq(t, "key"), Tenant: f.uniq(t, "tenant")},
		Digest:    randomDigest(t),
		CreatedAt: f.base,
	}
	mustCreate(t, s, want)
	got, err := s.GetKey(ctx, want.KeyID)
	if err != nil {
		t.Fatalf("GetKey: %v", err)
	}
	checkRecord(t, "GetKey", got, want, true)
	got, err = s.LookupKey(ctx, want.Digest)
	if err != nil {
		t.Fatalf("LookupKey: %v", err)
	}
	checkRecord(t, "LookupKey", got, want, false)
}

// keyListKeysByTenant: ListKeys returns the tenant's keys, revoked ones
// included, oldest first, and no other tenant's.
func keyListKeysByTenant(t *testing.T, s apiauth.KeyStore, f *keyFixture) {
	ctx := context.Background()
	base := f.base
	tenant, other := f.uniq(t, "tenant"), f.uniq(t, "other")
	if got, err := s.ListKeys(ctx, tenant); err != nil || len(got) != 0 {
		t.Fatalf("ListKeys of a tenant without keys: %d records, %v; want none, nil", len(got), err)
	}
	// Created out of order, to see that the list is sorted by time.
	var mine []*apiauth.KeyRecord
	for _, off := range []time.Duration{3, 1, 4, 2, 5} {
		rec := f.minimal(t, tenant, base.Add(off*time.Minute+7*time.Microsecond))
		mustCreate(t, s, rec)
		mine = append(mine, rec)
		mustCreate(t, s, f.minimal(t, other, base.Add(off*time.Minute)))
	}
	if err := s.RevokeKey(ctx, mine[2].KeyID, base.Add(time.Hour)); err != nil {
		t.Fatalf("RevokeKey: %v", err)
	}
	slices.SortFunc(mine, func(a, b *apiauth.KeyRecord) int { return a.CreatedAt.Compare(b.CreatedAt) })
	got, err := s.ListKeys(ctx, tenant)
	if err != nil {
		t.Fatalf("ListKeys: %v", err)
	}
	if len(got) != len(mine) {
		t.Fatalf("ListKeys: %d records, want %d (another tenant's included, or revoked left out?)", len(got), len(mine))
	}
	for i, rec := range got {
		if rec.Tenant != tenant {
			t.Errorf("ListKeys(%q) returned a key of tenant %q", tenant, rec.Tenant)
		}
		if rec.KeyID != mine[i].KeyID || !rec.CreatedAt.Equal(mine[i].CreatedAt) {
			t.Errorf("ListKeys[%d] = %s created %v, want %s created %v (oldest first)", i, rec.KeyID, rec.CreatedAt, mine[i].KeyID, mine[i].CreatedAt)
		}
	}
}

// keyDuplicateID: a taken ID is refused with ErrKeyExists, and the first
// key stays as it was.
func keyDuplicateID(t *testing.T, s apiauth.KeyStore, f *keyFixture) {
	ctx := context.Background()
	first := f.full(t)
	mustCreate(t, s, first)
	dup := f.minimal(t, f.uniq(t, "tenant"), f.base)
	dup.KeyID = first.KeyID
	if err := s.CreateKey(ctx, dup); !errors.Is(err, apiauth.ErrKeyExists) {
		t.Fatalf("CreateKey with a taken ID: %v, want ErrKeyExists", err)
	}
	got, err := s.GetKey(ctx, first.KeyID)
	if err != nil {
		t.Fatalf("GetKey: %v", err)
	}
	checkRecord(t, "GetKey after a refused duplicate", got, first, true)
	if _, err := s.LookupKey(ctx, dup.Digest); !errors.Is(err, apiauth.ErrKeyNotFound) {
		t.Fatalf("LookupKey of the refused duplicate's digest: %v, want ErrKeyNotFound", err)
	}
}

// keyDuplicateDigest: a taken digest is refused with ErrKeyExists, and the
// first key stays as it was.
func keyDuplicateDigest(t *testing.T, s apiauth.KeyStore, f *keyFixture) {
	ctx := context.Background()
	first := f.full(t)
	mustCreate(t, s, first)
	dup := f.minimal(t, f.uniq(t, "tenant"), f.base)
	dup.Digest = first.Digest
	if err := s.CreateKey(ctx, dup); !errors.Is(err, apiauth.ErrKeyExists) {
		t.Fatalf("CreateKey with a taken digest: %v, want ErrKeyExists", err)
	}
	if _, err := s.GetKey(ctx, dup.KeyID); !errors.Is(err, apiauth.ErrKeyNotFound) {
		t.Fatalf("GetKey of the refused duplicate: %v, want ErrKeyNotFound", err)
	}
	got, err := s.LookupKey(ctx, first.Digest)
	if err != nil {
		t.Fatalf("LookupKey: %v", err)
	}
	checkRecord(t, "LookupKey after a refused duplicate", got, first, false)
}

// keyNotFound: every method given an unknown key returns ErrKeyNotFound,
// and creates nothing.
func keyNotFound(t *testing.T, s apiauth.KeyStore, f *keyFixture) {
	ctx := context.Background()
	id := f.uniq(t, "missing")
	if _, err := s.LookupKey(ctx, randomDigest(t)); !errors.Is(err, apiauth.ErrKeyNotFound) {
		t.Errorf("LookupKey of an unknown digest: %v, want ErrKeyNotFound", err)
	}
	if _, err := s.GetKey(ctx, id); !errors.Is(err, apiauth.ErrKeyNotFound) {
		t.Errorf("GetKey of an unknown ID: %v, want ErrKeyNotFound", err)
	}
	if err := s.RevokeKey(ctx, id, f.base); !errors.Is(err, apiauth.ErrKeyNotFound) {
		t.Errorf("RevokeKey of an unknown ID: %v, want ErrKeyNotFound", err)
	}
	if err := s.ExpireKey(ctx, id, f.base, "x"); !errors.Is(err, apiauth.ErrKeyNotFound) {
		t.Errorf("ExpireKey of an unknown ID: %v, want ErrKeyNotFound", err)
	}
	if _, err := s.GetKey(ctx, id); !errors.Is(err, apiauth.ErrKeyNotFound) {
		t.Errorf("RevokeKey or ExpireKey of an unknown ID created it: GetKey: %v", err)
	}
}

// keyCreatedAfterMiss: a key created after a lookup missed it is found by
// the next lookup.
func keyCreatedAfterMiss(t *testing.T, s apiauth.KeyStore, f *keyFixture) {
	ctx := context.Background()
	rec := f.minimal(t, f.uniq(t, "tenant"), f.base)
	if _, err := s.LookupKey(ctx, rec.Digest); !errors.Is(err, apiauth.ErrKeyNotFound) {
		t.Fatalf("LookupKey before CreateKey: %v, want ErrKeyNotFound", err)
	}
	mustCreate(t, s, rec)
	if _, err := s.LookupKey(ctx, rec.Digest); err != nil {
		t.Fatalf("LookupKey right after CreateKey of a key that missed before: %v (a cached miss must not hide a key the store itself created)", err)
	}
}

// keyRevokeIsMonotonic: an earlier revocation replaces a later one, never
// the other way round, and a revoked key gets no replacement.
func keyRevokeIsMonotonic(t *testing.T, s apiauth.KeyStore, f *keyFixture) {
	ctx := context.Background()
	base := f.base
	rec := f.minimal(t, f.uniq(t, "tenant"), base)
	rec.ExpiresAt = base.Add(24 * time.Hour)
	mustCreate(t, s, rec)
	if _, err := s.LookupKey(ctx, rec.Digest); err != nil { // cache it, if the store caches
		t.Fatalf("LookupKey: %v", err)
	}
	at := base.Add(10 * time.Minute)
	revoke := func(when time.Time) {
		t.Helper()
		if err := s.RevokeKey(ctx, rec.KeyID, when); err != nil {
			t.Fatalf("RevokeKey(%v): %v", when, err)
		}
	}
	revoke(at)
	checkRevocation(t, s, rec, at, "a revocation is seen by the next lookup")
	revoke(at.Add(time.Hour))
	checkRevocation(t, s, rec, at, "a later revocation never postpones an earlier one")
	revoke(at.Add(-5 * time.Minute))
	checkRevocation(t, s, rec, at.Add(-5*time.Minute), "an earlier revocation time replaces a later one")
	if err := s.ExpireKey(ctx, rec.KeyID, base.Add(time.Hour), "k2"); !errors.Is(err, apiauth.ErrTokenRevoked) {
		t.Fatalf("ExpireKey of a revoked key: %v, want ErrTokenRevoked", err)
	}
	checkRevocation(t, s, rec, at.Add(-5*time.Minute), "a refused ExpireKey changes nothing")
}

// checkRevocation checks that LookupKey and GetKey of rec give RevokedAt
// want, and rec's own expiry and no ReplacedBy; why says what the check
// is about.
func checkRevocation(t *testing.T, s apiauth.KeyStore, rec *apiauth.KeyRecord, want time.Time, why string) {
	t.Helper()
	ctx := context.Background()
	for _, get := range []struct {
		name string
		fn   func() (*apiauth.KeyRecord, error)
	}{
		{"LookupKey", func() (*apiauth.KeyRecord, error) { return s.LookupKey(ctx, rec.Digest) }},
		{"GetKey", func() (*apiauth.KeyRecord, error) { return s.GetKey(ctx, rec.KeyID) }},
	} {
		got, err := get.fn()
		if err != nil {
			t.Fatalf("%s: %v", get.name, err)
		}
		if !got.RevokedAt.Equal(want) {
			t.Errorf("%s: RevokedAt %v, want %v: %s", get.name, got.RevokedAt, want, why)
		}
		if !got.ExpiresAt.Equal(rec.ExpiresAt) || got.ReplacedBy != "" {
			t.Errorf("%s: RevokeKey changed expiry or ReplacedBy: %v %q", get.name, got.ExpiresAt, got.ReplacedBy)
		}
	}
}

// keyExpireOnlyBringsForward: ExpireKey brings an expiry forward, never
// back, records ReplacedBy, and refuses a key with a revocation time.
func keyExpireOnlyBringsForward(t *testing.T, s apiauth.KeyStore, f *keyFixture) {
	ctx := context.Background()
	base := f.base
	never := f.minimal(t, f.uniq(t, "tenant"), base)
	mustCreate(t, s, never)
	if _, err := s.LookupKey(ctx, never.Digest); err != nil {
		t.Fatalf("LookupKey: %v", err)
	}
	expire := func(id string, at time.Time, by string) {
		t.Helper()
		if err := s.ExpireKey(ctx, id, at, by); err != nil {
			t.Fatalf("ExpireKey(%s, %v): %v", id, at, err)
		}
	}
	t1 := base.Add(2 * time.Hour)
	expire(never.KeyID, t1, "k2")
	checkExpiry(t, s, never, t1, time.Time{}, "k2", "a key without expiry gets one")
	expire(never.KeyID, t1.Add(time.Hour), "k3")
	checkExpiry(t, s, never, t1, time.Time{}, "k3", "a later expiry never extends an earlier one")
	expire(never.KeyID, t1.Add(-time.Hour), "k4")
	checkExpiry(t, s, never, t1.Add(-time.Hour), time.Time{}, "k4", "an earlier expiry is brought forward")

	// A key with a revocation, even a scheduled one, gets no
	// replacement: ExpireKey refuses it and changes nothing.
	revoked := f.minimal(t, f.uniq(t, "tenant"), base)
	revoked.ExpiresAt = base.Add(time.Hour)
	revoked.RevokedAt = base.Add(3 * time.Hour)
	mustCreate(t, s, revoked)
	if err := s.ExpireKey(ctx, revoked.KeyID, base.Add(30*time.Minute), "k5"); !errors.Is(err, apiauth.ErrTokenRevoked) {
		t.Fatalf("ExpireKey of a key with a revocation time: %v, want ErrTokenRevoked", err)
	}
	checkExpiry(t, s, revoked, revoked.ExpiresAt, revoked.RevokedAt, "", "a refused ExpireKey changes nothing")
}

// checkExpiry checks that LookupKey and GetKey of rec give ExpiresAt
// expires, RevokedAt revoked and ReplacedBy by; why says what the check is
// about.
func checkExpiry(t *testing.T, s apiauth.KeyStore, rec *apiauth.KeyRecord, expires, revoked time.Time, by, why string) {
	t.Helper()
	ctx := context.Background()
	for name, get := range map[string]func() (*apiauth.KeyRecord, error){
		"LookupKey": func() (*apiauth.KeyRecord, error) { return s.LookupKey(ctx, rec.Digest) },
		"GetKey":    func() (*apiauth.KeyRecord, error) { return s.GetKey(ctx, rec.KeyID) },
	} {
		got, err := get()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !got.ExpiresAt.Equal(expires) {
			t.Errorf("%s: ExpiresAt %v, want %v: %s", name, got.ExpiresAt, expires, why)
		}
		if got.ReplacedBy != by {
			t.Errorf("%s: ReplacedBy %q, want %q", name, got.ReplacedBy, by)
		}
		if !got.RevokedAt.Equal(revoked) {
			t.Errorf("%s: RevokedAt %v, want %v: ExpireKey never touches a revocation", name, got.RevokedAt, revoked)
		}
	}
}

// keyNoAliasing: the store keeps its own copy of the record given to
// CreateKey, and a record it returned does not change afterwards.
func keyNoAliasing(t *testing.T, s apiauth.KeyStore, f *keyFixture) {
	ctx := context.Background()
	base := f.base
	rec := f.full(t)
	want := cloneRecord(rec)
	mustCreate(t, s, rec)
	// Change everything the caller still holds.
	rec.Scopes[0] = "changed"
	rec.Name, rec.Subject, rec.Tier = "changed", "changed", "changed"
	rec.RevokedAt = time.Time{}
	rec.ExpiresAt = base.Add(1000 * time.Hour)
	got, err := s.GetKey(ctx, want.KeyID)
	if err != nil {
		t.Fatalf("GetKey: %v", err)
	}
	checkRecord(t, "GetKey after the caller changed its record", got, want, true)
	looked, err := s.LookupKey(ctx, want.Digest)
	if err != nil {
		t.Fatalf("LookupKey: %v", err)
	}
	checkRecord(t, "LookupKey after the caller changed its record", looked, want, false)
	if looked == rec || got == rec {
		t.Fatal("the store returned the caller's own record")
	}
	// A record handed out earlier is not changed under its holder.
	before := cloneRecord(looked)
	if err := s.ExpireKey(ctx, want.KeyID, base, "other"); !errors.Is(err, apiauth.ErrTokenRevoked) {
		t.Fatalf("ExpireKey of a key with a revocation time: %v, want ErrTokenRevoked", err)
	}
	if err := s.RevokeKey(ctx, want.KeyID, base); err != nil {
		t.Fatalf("RevokeKey: %v", err)
	}
	checkRecord(t, "a record returned before RevokeKey", looked, before, true)
	unrevoked := f.full(t)
	unrevoked.RevokedAt = time.Time{}
	mustCreate(t, s, unrevoked)
	looked, err = s.LookupKey(ctx, unrevoked.Digest)
	if err != nil {
		t.Fatalf("LookupKey: %v", err)
	}
	before = cloneRecord(looked)
	if err := s.ExpireKey(ctx, unrevoked.KeyID, base, "other"); err != nil {
		t.Fatalf("ExpireKey: %v", err)
	}
	checkRecord(t, "a record returned before ExpireKey", looked, before, true)
}

// keyConcurrentCreateOneWinner: of 16 concurrent creates of one ID, and 16
// of one digest, exactly one each succeeds.
func keyConcurrentCreateOneWinner(t *testing.T, s apiauth.KeyStore, f *keyFixture) {
	ctx := context.Background()
	id := f.uniq(t, "key")
	digest := randomDigest(t)
	const n = 16
	var wins, exists atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(2)
		sameID := f.minimal(t, f.uniq(t, "tenant"), f.base)
		sameID.KeyID = id
		sameDigest := f.minimal(t, f.uniq(t, "tenant"), f.base)
		sameDigest.Digest = digest
		for _, rec := range []*apiauth.KeyRecord{sameID, sameDigest} {
			go func() {
				defer wg.Done()
				<-start
				switch err := s.CreateKey(ctx, rec); {
				case err == nil:
					wins.Add(1)
				case errors.Is(err, apiauth.ErrKeyExists):
					exists.Add(1)
				default:
					t.Errorf("CreateKey: %v", err)
				}
			}()
		}
	}
	close(start)
	wg.Wait()
	// One record may hold both the contested ID and the contested
	// digest only if created so; here none does, so exactly one of
	// each group wins.
	if wins.Load() != 2 || exists.Load() != 2*n-2 {
		t.Fatalf("concurrent creates: %d succeeded, %d ErrKeyExists; want 2 and %d", wins.Load(), exists.Load(), 2*n-2)
	}
}

// keyConcurrentUse: lookups and lists by 4 goroutines, among revocations,
// expiries and a create of other goroutines, are safe, and every change is
// kept.
func keyConcurrentUse(t *testing.T, s apiauth.KeyStore, f *keyFixture) {
	ctx := context.Background()
	base := f.base
	tenant := f.uniq(t, "tenant")
	const n = 8
	recs := make([]*apiauth.KeyRecord, n)
	for i := range recs {
		recs[i] = f.minimal(t, tenant, base.Add(time.Duration(i)*time.Second))
		mustCreate(t, s, recs[i])
	}
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lookUpAndList(t, s, recs, tenant)
		}()
	}
	for i, rec := range recs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if i%2 == 0 {
				err = s.RevokeKey(ctx, rec.KeyID, base.Add(time.Minute))
			} else {
				err = s.ExpireKey(ctx, rec.KeyID, base.Add(time.Minute), "next")
			}
			if err != nil {
				t.Errorf("update: %v", err)
			}
		}()
	}
	// A new key created among all this is found.
	extra := f.minimal(t, tenant, base.Add(time.Hour))
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := s.CreateKey(ctx, extra); err != nil {
			t.Errorf("CreateKey: %v", err)
		}
	}()
	wg.Wait()
	checkConcurrentUpdates(t, s, recs, base.Add(time.Minute))
	if _, err := s.LookupKey(ctx, extra.Digest); err != nil {
		t.Fatalf("LookupKey of the key created concurrently: %v", err)
	}
}

// lookUpAndList looks up the keys recs 50 times in turn, reading what a
// request reads, and lists tenant's keys after each lookup.
func lookUpAndList(t *testing.T, s apiauth.KeyStore, recs []*apiauth.KeyRecord, tenant string) {
	ctx := context.Background()
	for i := 0; i < 50; i++ {
		rec := recs[i%len(recs)]
		got, err := s.LookupKey(ctx, rec.Digest)
		if err != nil {
			t.Errorf("LookupKey: %v", err)
			return
		}
		_ = got.Scopes[0] // read what a request reads
		_ = got.RevokedAt.IsZero()
		if _, err := s.ListKeys(ctx, tenant); err != nil {
			t.Errorf("ListKeys: %v", err)
			return
		}
	}
}

// checkConcurrentUpdates checks that the even keys of recs were revoked at
// at, and the odd ones expire at at.
func checkConcurrentUpdates(t *testing.T, s apiauth.KeyStore, recs []*apiauth.KeyRecord, at time.Time) {
	for i, rec := range recs {
		got, err := s.LookupKey(context.Background(), rec.Digest)
		if err != nil {
			t.Fatalf("LookupKey: %v", err)
		}
		if i%2 == 0 && !got.RevokedAt.Equal(at) {
			t.Errorf("key %d: RevokedAt %v after concurrent use", i, got.RevokedAt)
		}
		if i%2 == 1 && !got.ExpiresAt.Equal(at) {
			t.Errorf("key %d: ExpiresAt %v after concurrent use", i, got.ExpiresAt)
		}
	}
}

// keyRotateRacingRevoke: 4 goroutines of 32 rounds each rotate a key while
// revoking it; see rotateRacingRevoke.
func keyRotateRacingRevoke(t *testing.T, s apiauth.KeyStore, f *keyFixture) {
	const workers, rounds = 4, 32
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := 0; r < rounds && !t.Failed(); r++ {
				rotateRacingRevoke(t, s, f.base, f.uniq(t, "tenant"), r%2 == 1, r/2%4, r/8%4)
			}
		}()
	}
	wg.Wait()
}

// keyThroughKeys: apiauth.Keys on the store creates, verifies, rotates,
// revokes and lists keys.
func keyThroughKeys(t *testing.T, s apiauth.KeyStore, f *keyFixture) {
	ctx := context.Background()
	keys := apiauth.NewKeys(s)
	clock := &manualClock{now: f.base}
	keys.Now = clock.Now
	tenant := f.uniq(t, "tenant")

	key, rec := createAndVerify(t, keys, tenant)

	// Rotate: the old key works during the grace period, then expires.
	clock.advance(time.Minute)
	newKey, newRec := rotateWithGrace(t, s, keys, clock, key, rec.KeyID)

	// Revoke: refused on the very next request.
	if err := keys.Revoke(ctx, newRec.KeyID); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	if _, err := keys.Verify(ctx, newKey); !errors.Is(err, apiauth.ErrTokenRevoked) {
		t.Fatalf("Verify after Revoke: %v, want ErrTokenRevoked", err)
	}
	if _, _, err := keys.Rotate(ctx, newRec.KeyID, time.Hour); !errors.Is(err, apiauth.ErrTokenRevoked) {
		t.Fatalf("Rotate of a revoked key: %v, want ErrTokenRevoked", err)
	}
	list, err := keys.List(ctx, tenant)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(list) != 2 || list[0].KeyID != rec.KeyID || list[1].KeyID != newRec.KeyID {
		t.Fatalf("List: %d records, want the old key then the new one", len(list))
	}
}

// manualClock is a clock that moves only when told to.
type manualClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// createAndVerify creates a key of tenant with keys, checks that it
// verifies, twice, to its principal and that an unknown key does not, and
// returns the key and its record.
func createAndVerify(t *testing.T, keys *apiauth.Keys, tenant string) (string, *apiauth.KeyRecord) {
	ctx := context.Background()
	key, rec, err := keys.Create(ctx, apiauth.KeySpec{Subject: "alice", Tenant: tenant, Scopes: []apiauth.Scope{apiauth.Write}, Tier: "pro"})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	p, err := keys.Verify(ctx, key)
	if err != nil {
		t.Fatalf("Verify of a new key: %v", err)
	}
	if p.KeyID != rec.KeyID || p.Subject != "alice" || p.Tenant != tenant || p.Tier != "pro" || !slices.Equal(p.Scopes, []apiauth.Scope{apiauth.Write}) {
		t.Fatalf("Verify: principal %+v does not match the key created", p)
	}
	if _, err := keys.Verify(ctx, key); err != nil { // a second time: from a cache, if any
		t.Fatalf("second Verify: %v", err)
	}
	unknown, err := apiauth.GenerateKey("")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := keys.Verify(ctx, unknown); !errors.Is(err, apiauth.ErrUnknownToken) {
		t.Fatalf("Verify of an unknown key: %v, want ErrUnknownToken", err)
	}
	return key, rec
}

// rotateWithGrace rotates key, of ID id, with an hour's grace and checks
// that both keys verify, that the old key's record says so, and that after
// the hour only the new key verifies. It returns the new key and its
// record.
func rotateWithGrace(t *testing.T, s apiauth.KeyStore, keys *apiauth.Keys, clock *manualClock, key, id string) (string, *apiauth.KeyRecord) {
	ctx := context.Background()
	newKey, newRec, err := keys.Rotate(ctx, id, time.Hour)
	if err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	if _, err := keys.Verify(ctx, key); err != nil {
		t.Fatalf("Verify of the old key during the grace period: %v", err)
	}
	if _, err := keys.Verify(ctx, newKey); err != nil {
		t.Fatalf("Verify of the new key: %v", err)
	}
	old, err := s.GetKey(ctx, id)
	if err != nil {
		t.Fatalf("GetKey: %v", err)
	}
	if wantExpiry := clock.Now().Add(time.Hour); old.ReplacedBy != newRec.KeyID || !old.ExpiresAt.Equal(wantExpiry) {
		t.Fatalf("after Rotate: old key ReplacedBy %q, ExpiresAt %v; want %q, %v", old.ReplacedBy, old.ExpiresAt, newRec.KeyID, wantExpiry)
	}
	clock.advance(time.Hour)
	if _, err := keys.Verify(ctx, key); !errors.Is(err, apiauth.ErrTokenExpired) {
		t.Fatalf("Verify of the old key after the grace period: %v, want ErrTokenExpired", err)
	}
	if _, err := keys.Verify(ctx, newKey); err != nil {
		t.Fatalf("Verify of the new key after the grace period: %v", err)
	}
	return newKey, newRec
}

// raceProbe is a KeyStore that records, for the key id, when RevokeKey
// returned and when ExpireKey was called, on one counter; notes when GetKey
// of id returned (read); and yields slow times before each CreateKey after
// that, as a store slower to write would take.
type raceProbe struct {
	apiauth.KeyStore
	id                      string
	slow                    int
	read                    atomic.Bool
	seq                     atomic.Int64
	revokeDone, expireStart atomic.Int64
}

func (p *raceProbe) GetKey(ctx context.Context, id string) (*apiauth.KeyRecord, error) {
	rec, err := p.KeyStore.GetKey(ctx, id)
	if id == p.id {
		p.read.Store(true)
	}
	return rec, err
}

func (p *raceProbe) CreateKey(ctx context.Context, rec *apiauth.KeyRecord) error {
	if p.read.Load() {
		for range p.slow {
			runtime.Gosched()
		}
	}
	return p.KeyStore.CreateKey(ctx, rec)
}

func (p *raceProbe) RevokeKey(ctx context.Context, id string, at time.Time) error {
	err := p.KeyStore.RevokeKey(ctx, id, at)
	if id == p.id {
		p.revokeDone.Store(p.seq.Add(1))
	}
	return err
}

func (p *raceProbe) ExpireKey(ctx context.Context, id string, at time.Time, replacedBy string) error {
	if id == p.id {
		p.expireStart.Store(p.seq.Add(1))
	}
	return p.KeyStore.ExpireKey(ctx, id, at, replacedBy)
}

// rotateRacingRevoke rotates and revokes one new key of tenant at once, and
// checks the outcome: the old key is revoked; a Rotate that failed did so
// with ErrTokenRevoked and left every other key of the tenant revoked; a
// Rotate that succeeded called ExpireKey before Revoke returned (else it
// replaced a key already revoked), and its key works, as after any
// rotation followed by a revocation of the old key.
//
// Revoke starts with Rotate, or once Rotate has read the old key when
// afterRead, then after delay yields of the processor; Rotate's CreateKey
// yields slow times: across rounds, Revoke lands before, within and after
// Rotate.
func rotateRacingRevoke(t *testing.T, s apiauth.KeyStore, now time.Time, tenant string, afterRead bool, delay, slow int) {
	ctx := context.Background()
	p := &raceProbe{KeyStore: s, slow: slow}
	keys := apiauth.NewKeys(p)
	keys.Now = func() time.Time { return now }
	oldKey, old, err := keys.Create(ctx, apiauth.KeySpec{Tenant: tenant, Scopes: []apiauth.Scope{apiauth.Read}})
	if err != nil {
		t.Errorf("Create: %v", err)
		return
	}
	p.id = old.KeyID

	var (
		wg             sync.WaitGroup
		start          = make(chan struct{})
		newKey         string
		newRec         *apiauth.KeyRecord
		rotErr, revErr error
	)
	wg.Add(2)
	go func() {
		defer wg.Done()
		<-start
		newKey, newRec, rotErr = keys.Rotate(ctx, old.KeyID, time.Hour)
	}()
	go func() {
		defer wg.Done()
		<-start
		for afterRead && !p.read.Load() { // spin: waking up would take longer than Rotate
			runtime.Gosched()
		}
		for range delay { // to land within Rotate in some rounds
			runtime.Gosched()
		}
		revErr = keys.Revoke(ctx, old.KeyID)
	}()
	close(start)
	wg.Wait()

	if revErr != nil {
		t.Errorf("Revoke: %v", revErr)
		return
	}
	if _, err := keys.Verify(ctx, oldKey); !errors.Is(err, apiauth.ErrTokenRevoked) {
		t.Errorf("Verify of the revoked key: %v, want ErrTokenRevoked", err)
	}
	if rotErr != nil {
		if !errors.Is(rotErr, apiauth.ErrTokenRevoked) {
			t.Errorf("Rotate racing Revoke: %v, want success or ErrTokenRevoked", rotErr)
		}
		list, err := s.ListKeys(ctx, tenant)
		if err != nil {
			t.Errorf("ListKeys: %v", err)
			return
		}
		for _, rec := range list {
			if rec.KeyID != old.KeyID && (rec.RevokedAt.IsZero() || now.Before(rec.RevokedAt)) {
				t.Errorf("Rotate failed (%v) but left the replacement %s usable", rotErr, rec.KeyID)
			}
		}
		return
	}
	if done, expire := p.revokeDone.Load(), p.expireStart.Load(); done < expire {
		t.Errorf("Rotate succeeded, yet Revoke had returned before it called ExpireKey: a live replacement of a revoked key")
	}
	if _, err := keys.Verify(ctx, newKey); err != nil {
		t.Errorf("Verify of the key of a Rotate that succeeded: %v", err)
	}
	got, err := s.GetKey(ctx, old.KeyID)
	if err != nil {
		t.Errorf("GetKey: %v", err)
	} else if got.ReplacedBy != newRec.KeyID {
		t.Errorf("old key ReplacedBy %q, want %q", got.ReplacedBy, newRec.KeyID)
	}
}

// randomDigest returns a digest no other test uses.
func randomDigest(t *testing.T) apiauth.KeyDigest {
	var d apiauth.KeyDigest
	if _, err := rand.Read(d[:]); err != nil {
		t.Fatal(err)
	}
	return d
}

func mustCreate(t *testing.T, s apiauth.KeyStore, rec *apiauth.KeyRecord) {
	t.Helper()
	if err := s.CreateKey(context.Background(), rec); err != nil {
		t.Fatalf("CreateKey(%s): %v", rec.KeyID, err)
	}
}

func cloneRecord(rec *apiauth.KeyRecord) *apiauth.KeyRecord {
	c := *rec
	c.Scopes = slices.Clone(rec.Scopes)
	return &c
}

// checkRecord compares every field of got with want. With exactLastUsed
// false, got.LastUsedAt may be later than want's: a store that tracks use
// may have recorded the lookup.
func checkRecord(t *testing.T, what string, got, want *apiauth.KeyRecord, exactLastUsed bool) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: nil record", what)
	}
	str := func(field, g, w string) {
		if g != w {
			t.Errorf("%s: %s = %q, want %q", what, field, g, w)
		}
	}
	str("KeyID", got.KeyID, want.KeyID)
	str("ID()", got.ID(), want.KeyID)
	str("Name", got.Name, want.Name)
	str("Subject", got.Subject, want.Subject)
	str("Tenant", got.Tenant, want.Tenant)
	str("Tier", got.Tier, want.Tier)
	str("ReplacedBy", got.ReplacedBy, want.ReplacedBy)
	if len(got.Scopes) != len(want.Scopes) || (len(want.Scopes) > 0 && !slices.Equal(got.Scopes, want.Scopes)) {
		t.Errorf("%s: Scopes = %q, want %q (order kept)", what, got.Scopes, want.Scopes)
	}
	if got.Digest != want.Digest {
		t.Errorf("%s: Digest = %x, want %x", what, got.Digest, want.Digest)
	}
	tm := func(field string, g, w time.Time) {
		if !g.Equal(w) || g.IsZero() != w.IsZero() {
			t.Errorf("%s: %s = %v, want %v (microsecond precision, zero stays zero)", what, field, g, w)
		}
	}
	tm("CreatedAt", got.CreatedAt, want.CreatedAt)
	tm("ExpiresAt", got.ExpiresAt, want.ExpiresAt)
	tm("RevokedAt", got.RevokedAt, want.RevokedAt)
	if exactLastUsed {
		tm("LastUsedAt", got.LastUsedAt, want.LastUsedAt)
	} else if got.LastUsedAt.Before(want.LastUsedAt) {
		t.Errorf("%s: LastUsedAt = %v went back from %v", what, got.LastUsedAt, want.LastUsedAt)
	}
	if got.Claims != nil {
		t.Errorf("%s: Claims = %s, want nil for an API key", what, got.Claims)
	}
}
