// Package apiauthtest helps test code that uses apiauth: credentials and
// assertions for handler tests (MintKey, MintToken, Request,
// AssertProblem), and conformance suites that any rate-limit Store
// (TestStore), KeyStore (TestKeyStore) or ClientStore (TestClientStore)
// implementation can run.
package apiauthtest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apiauth/apiauth"
)

// TestStore checks that a rate-limit store implements apiauth.Store's
// contract, in the manner of testing/slogtest: run it from a test of your
// own with a function that returns the store to check.
//
// newStore is called once per subtest that runs, and returns a fresh,
// empty store. A store that keeps time by its own clock (such as Redis's)
// may ignore the time passed to Take; set serverClock so that the suite
// only checks what does not depend on the exact time.
//
// Each part of the contract is one subtest, named in brackets below, so
// that a failure says which part a store breaks. Every call to Take, Peek
// and Refund must succeed: an error fails the subtest. The suite checks
// that:
//
//   - Take counts by GCRA: a limit of n requests a window allows n
//     requests at once, each counting Remaining down by one and moving
//     Reset on by one emission interval (the window over n), then refuses
//     the next with Remaining 0 and a RetryAfter of at most one interval
//     (exactly one, and Reset exact, unless serverClock). [CountsDown]
//   - A spent limit allows a request again once one emission interval has
//     passed, not before, and is back to its full count after a whole
//     window. Skipped with serverClock. [RecoversAfterWaiting]
//   - Take is all-or-nothing: a request that one limit refuses consumes
//     nothing from the others, however often it is retried, and only a
//     limit that refused has a RetryAfter of its own. [AllOrNothing]
//   - Each key, and each limit of a key, has a bucket of its own: a spent
//     limit refuses neither another key nor another limit (one of another
//     count) of the same key. [SeparateBuckets]
//   - An unlimited limit (apiauth.Unlimited) never refuses, and the bound
//     limits beside it still bind. [Unlimited]
//   - Peek returns Take's decision without consuming: the full count on a
//     fresh key however often it is asked; on a spent limit a refusal with
//     Remaining 0 and a RetryAfter, and the other limits as Take left them.
//     [PeekDoesNotConsume]
//   - Refund gives back exactly one request to each bound limit of that
//     key, and nothing to another key: a spent key then allows one request
//     again, and one only. [RefundGivesBack]
//   - Refund never gives a limit more than its full count: refunds to a
//     key with no state leave it full, and more refunds than requests
//     taken give back only what was taken. [RefundNeverPastFull]
//   - Refund skips unlimited limits: beside one, it gives back to the
//     bound limits; with unlimited limits only, it succeeds.
//     [RefundUnlimited]
//   - Counts are exact under concurrency: of 50 concurrent requests against
//     a limit of 20, exactly 20 are allowed; 50 goroutines that take 10
//     times each and refund every request allowed leave the limit as they
//     found it (run the suite with -race). [ExactUnderConcurrency,
//     RefundUnderConcurrency]
func TestStore(t *testing.T, newStore func(t *testing.T) apiauth.Store, serverClock bool) {
	f := &storeFixture{base: time.Now().Truncate(time.Second), serverClock: serverClock}
	for _, c := range storeCases {
		t.Run(c.name, func(t *testing.T) {
			if c.suiteClock && serverClock {
				t.Skip("the store keeps its own time")
			}
			c.run(t, newStore(t), f)
		})
	}
}

// storeCase is one subtest of TestStore: run checks one part of the
// contract on s, the fresh store newStore returned for the subtest, at
// times and with keys f gives.
type storeCase struct {
	name string
	run  func(t *testing.T, s apiauth.Store, f *storeFixture)
	// suiteClock: the case needs the store to decide by the time passed to
	// it. With serverClock, it is skipped before newStore is called.
	suiteClock bool
}

// storeCases are TestStore's subtests, in the order they run.
var storeCases = []storeCase{
	{name: "CountsDown", run: storeCountsDown},
	{name: "RecoversAfterWaiting", run: storeRecoversAfterWaiting, suiteClock: true},
	{name: "AllOrNothing", run: storeAllOrNothing},
	{name: "SeparateBuckets", run: storeSeparateBuckets},
	{name: "Unlimited", run: storeUnlimited},
	{name: "PeekDoesNotConsume", run: storePeekDoesNotConsume},
	{name: "RefundGivesBack", run: storeRefundGivesBack},
	{name: "RefundNeverPastFull", run: storeRefundNeverPastFull},
	{name: "RefundUnlimited", run: storeRefundUnlimited},
	{name: "RefundUnderConcurrency", run: storeRefundUnderConcurrency},
	{name: "ExactUnderConcurrency", run: storeExactUnderConcurrency},
}

// storeFixture holds what TestStore's subtests share.
type storeFixture struct {
	// base is the time the subtests pass to the store: the suite's start,
	// to the second.
	base time.Time
	// serverClock is TestStore's: the store keeps its own time, so the
	// subtests check nothing that depends on the exact time.
	serverClock bool
}

// key returns a key that no other subtest, and no earlier run, uses.
func (f *storeFixture) key(t *testing.T) string {
	return "conformance/" + t.Name() + "/" + fmt.Sprint(time.Now().UnixNano())
}

// storeCountsDown: a limit of 5 a minute allows 5 requests, counting
// Remaining down and Reset on by 12s each, then refuses the sixth for 12s.
func storeCountsDown(t *testing.T, s apiauth.Store, f *storeFixture) {
	ctx := context.Background()
	base, k := f.base, f.key(t)
	limits := []apiauth.Limit{{Name: "minute", Requests: 5, Window: time.Minute}}
	for i := int64(1); i <= 5; i++ {
		d := take(t, s, ctx, k, limits, base)
		if !d.Allowed {
			t.Fatalf("request %d refused", i)
		}
		if got := d.Limits[0].Remaining; got != 5-i {
			t.Errorf("request %d: remaining %d, want %d", i, got, 5-i)
		}
		if !f.serverClock {
			if want := base.Add(time.Duration(i) * 12 * time.Second); !d.Limits[0].Reset.Equal(want) {
				t.Errorf("request %d: reset %v, want %v", i, d.Limits[0].Reset, want)
			}
		}
	}
	d := take(t, s, ctx, k, limits, base)
	if d.Allowed {
		t.Fatal("sixth request allowed")
	}
	if d.Limits[0].Remaining != 0 {
		t.Errorf("refused: remaining %d, want 0", d.Limits[0].Remaining)
	}
	if d.RetryAfter <= 0 || d.RetryAfter > 12*time.Second {
		t.Errorf("refused: retry after %v, want (0, 12s]", d.RetryAfter)
	}
	if !f.serverClock && d.RetryAfter != 12*time.Second {
		t.Errorf("refused: retry after %v, want 12s", d.RetryAfter)
	}
}

// storeRecoversAfterWaiting: a spent limit of 2 a second allows a request
// again after 500ms, not 499ms, and its full count after a whole window.
func storeRecoversAfterWaiting(t *testing.T, s apiauth.Store, f *storeFixture) {
	ctx := context.Background()
	base, k := f.base, f.key(t)
	limits := []apiauth.Limit{{Requests: 2, Window: time.Second}}
	take(t, s, ctx, k, limits, base)
	take(t, s, ctx, k, limits, base)
	if take(t, s, ctx, k, limits, base).Allowed {
		t.Fatal("third request allowed")
	}
	if take(t, s, ctx, k, limits, base.Add(499*time.Millisecond)).Allowed {
		t.Fatal("allowed before one interval passed")
	}
	if !take(t, s, ctx, k, limits, base.Add(500*time.Millisecond)).Allowed {
		t.Fatal("refused after one interval")
	}
	d := take(t, s, ctx, k, limits, base.Add(10*time.Second))
	if !d.Allowed || d.Limits[0].Remaining != 1 {
		t.Fatalf("after a full window: allowed %v, remaining %d; want true, 1", d.Allowed, d.Limits[0].Remaining)
	}
}

// storeAllOrNothing: 5 requests refused by a burst limit of 3 take nothing
// from an hourly limit of 100, and only the burst limit has a retry after.
func storeAllOrNothing(t *testing.T, s apiauth.Store, f *storeFixture) {
	ctx := context.Background()
	base, k := f.base, f.key(t)
	limits := []apiauth.Limit{{Name: "hour", Requests: 100, Window: time.Hour}, {Name: "burst", Requests: 3, Window: time.Hour}}
	for i := 0; i < 3; i++ {
		if !take(t, s, ctx, k, limits, base).Allowed {
			t.Fatalf("request %d refused", i+1)
		}
	}
	for i := 0; i < 5; i++ {
		d := take(t, s, ctx, k, limits, base)
		if d.Allowed {
			t.Fatal("burst exceeded but allowed")
		}
		if d.Limits[0].Remaining != 97 {
			t.Fatalf("refusal consumed from the other limit: remaining %d, want 97", d.Limits[0].Remaining)
		}
		if d.Limits[0].RetryAfter != 0 || d.Limits[1].RetryAfter <= 0 {
			t.Fatalf("retry after: %v for the limit that allowed, %v for the one that refused", d.Limits[0].RetryAfter, d.Limits[1].RetryAfter)
		}
	}
}

// storeSeparateBuckets: a spent limit of one refuses neither another key
// nor another limit of the same key.
func storeSeparateBuckets(t *testing.T, s apiauth.Store, f *storeFixture) {
	ctx := context.Background()
	base, k := f.base, f.key(t)
	one := []apiauth.Limit{{Requests: 1, Window: time.Hour}}
	two := []apiauth.Limit{{Requests: 2, Window: time.Hour}}
	if !take(t, s, ctx, k, one, base).Allowed || take(t, s, ctx, k, one, base).Allowed {
		t.Fatal("limit of one: want allowed then refused")
	}
	if !take(t, s, ctx, k+"/other", one, base).Allowed {
		t.Fatal("another key shares the bucket")
	}
	if !take(t, s, ctx, k, two, base).Allowed {
		t.Fatal("another limit for the same key shares the bucket")
	}
}

// storeUnlimited: beside an unlimited limit, a burst limit of 3 still
// binds; unlimited alone allows 100 requests at once.
func storeUnlimited(t *testing.T, s apiauth.Store, f *storeFixture) {
	ctx := context.Background()
	base, k := f.base, f.key(t)
	limits := []apiauth.Limit{{Name: "hour", Requests: apiauth.Unlimited, Window: time.Hour}, {Name: "burst", Requests: 3, Window: time.Hour}}
	for i := 0; i < 3; i++ {
		if !take(t, s, ctx, k, limits, base).Allowed {
			t.Fatalf("request %d refused", i+1)
		}
	}
	if take(t, s, ctx, k, limits, base).Allowed {
		t.Fatal("the bound limit did not bind")
	}
	only := []apiauth.Limit{{Requests: apiauth.Unlimited, Window: time.Second}}
	for i := 0; i < 100; i++ {
		if !take(t, s, ctx, k+"/u", only, base).Allowed {
			t.Fatal("unlimited refused")
		}
	}
}

// storePeekDoesNotConsume: 5 peeks at a fresh key leave its full count;
// once the key is spent, a peek says refused and changes no limit.
func storePeekDoesNotConsume(t *testing.T, s apiauth.Store, f *storeFixture) {
	ctx := context.Background()
	base, k := f.base, f.key(t)
	limits := []apiauth.Limit{{Name: "hour", Requests: 2, Window: time.Hour}, {Name: "burst", Requests: 100, Window: time.Hour}}
	for i := 0; i < 5; i++ {
		d, err := s.Peek(ctx, k, limits, base)
		if err != nil {
			t.Fatal(err)
		}
		if !d.Allowed || d.Limits[0].Remaining != 2 {
			t.Fatalf("peek on a fresh key: allowed %v, remaining %d; want true, 2", d.Allowed, d.Limits[0].Remaining)
		}
	}
	take(t, s, ctx, k, limits, base)
	take(t, s, ctx, k, limits, base)
	d, err := s.Peek(ctx, k, limits, base)
	if err != nil {
		t.Fatal(err)
	}
	if d.Allowed || d.RetryAfter <= 0 || d.Limits[0].Remaining != 0 {
		t.Fatalf("peek when spent: allowed %v, retry %v, remaining %d; want false, > 0, 0", d.Allowed, d.RetryAfter, d.Limits[0].Remaining)
	}
	if d.Limits[1].Remaining != 98 {
		t.Fatalf("peek changed another limit: remaining %d, want 98", d.Limits[1].Remaining)
	}
}

// storeRefundGivesBack: a refund to a spent key gives back one request to
// each of its limits, and nothing to another key.
func storeRefundGivesBack(t *testing.T, s apiauth.Store, f *storeFixture) {
	ctx := context.Background()
	base, k := f.base, f.key(t)
	limits := []apiauth.Limit{{Name: "hour", Requests: 3, Window: time.Hour}, {Name: "burst", Requests: 100, Window: time.Hour}}
	for i := 0; i < 3; i++ {
		if !take(t, s, ctx, k, limits, base).Allowed {
			t.Fatalf("request %d refused", i+1)
		}
	}
	if !take(t, s, ctx, k+"/other", limits[:1], base).Allowed {
		t.Fatal("another key refused")
	}
	if take(t, s, ctx, k, limits, base).Allowed {
		t.Fatal("fourth request allowed")
	}
	refund(t, s, ctx, k, limits, base)
	d := peek(t, s, ctx, k, limits, base)
	if !d.Allowed || d.Limits[0].Remaining != 1 || d.Limits[1].Remaining != 98 {
		t.Fatalf("after a refund: allowed %v, remaining %d and %d; want true, 1 and 98", d.Allowed, d.Limits[0].Remaining, d.Limits[1].Remaining)
	}
	if d := take(t, s, ctx, k, limits, base); !d.Allowed || d.Limits[0].Remaining != 0 || d.Limits[1].Remaining != 97 {
		t.Fatalf("the request refunded: allowed %v, remaining %d and %d; want true, 0 and 97", d.Allowed, d.Limits[0].Remaining, d.Limits[1].Remaining)
	}
	if take(t, s, ctx, k, limits, base).Allowed {
		t.Fatal("one refund gave back more than one request")
	}
	if d := peek(t, s, ctx, k+"/other", limits[:1], base); d.Limits[0].Remaining != 2 {
		t.Fatalf("a refund reached another key: remaining %d, want 2", d.Limits[0].Remaining)
	}
}

// storeRefundNeverPastFull: 3 refunds to a fresh key, and 3 refunds of the
// one request taken, leave a limit of 2 at 2.
func storeRefundNeverPastFull(t *testing.T, s apiauth.Store, f *storeFixture) {
	ctx := context.Background()
	base, k := f.base, f.key(t)
	limits := []apiauth.Limit{{Requests: 2, Window: time.Hour}}
	for i := 0; i < 3; i++ {
		refund(t, s, ctx, k, limits, base) // a key with no state
	}
	if d := peek(t, s, ctx, k, limits, base); !d.Allowed || d.Limits[0].Remaining != 2 {
		t.Fatalf("refunds to a fresh key: allowed %v, remaining %d; want true, 2", d.Allowed, d.Limits[0].Remaining)
	}
	take(t, s, ctx, k, limits, base)
	for i := 0; i < 3; i++ {
		refund(t, s, ctx, k, limits, base)
	}
	if d := peek(t, s, ctx, k, limits, base); d.Limits[0].Remaining != 2 {
		t.Fatalf("three refunds of one request: remaining %d, want 2", d.Limits[0].Remaining)
	}
	for i := 0; i < 2; i++ {
		if !take(t, s, ctx, k, limits, base).Allowed {
			t.Fatalf("request %d refused", i+1)
		}
	}
	if take(t, s, ctx, k, limits, base).Allowed {
		t.Fatal("refunds gave a limit more than its full count")
	}
}

// storeRefundUnlimited: beside an unlimited limit, a refund gives back to
// the bound one; with unlimited limits only, it succeeds.
func storeRefundUnlimited(t *testing.T, s apiauth.Store, f *storeFixture) {
	ctx := context.Background()
	base, k := f.base, f.key(t)
	limits := []apiauth.Limit{{Name: "hour", Requests: apiauth.Unlimited, Window: time.Hour}, {Name: "burst", Requests: 1, Window: time.Hour}}
	take(t, s, ctx, k, limits, base)
	if take(t, s, ctx, k, limits, base).Allowed {
		t.Fatal("the bound limit did not bind")
	}
	refund(t, s, ctx, k, limits, base)
	if !take(t, s, ctx, k, limits, base).Allowed {
		t.Fatal("refused after a refund")
	}
	refund(t, s, ctx, k+"/u", []apiauth.Limit{{Requests: apiauth.Unlimited, Window: time.Second}}, base)
}

// storeRefundUnderConcurrency: with 5 requests kept, 50 goroutines each
// take 10 times and refund every request allowed; see takeAndRefund. A
// limit of 20 is left at 15.
func storeRefundUnderConcurrency(t *testing.T, s apiauth.Store, f *storeFixture) {
	ctx := context.Background()
	base, k := f.base, f.key(t)
	limits := []apiauth.Limit{{Requests: 20, Window: time.Hour}}
	for i := 0; i < 5; i++ {
		take(t, s, ctx, k, limits, base) // kept
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			takeAndRefund(t, s, k, limits, base)
		}()
	}
	close(start)
	wg.Wait()
	if d := peek(t, s, ctx, k, limits, base); d.Limits[0].Remaining != 15 {
		t.Fatalf("every request taken concurrently refunded, 5 kept: remaining %d, want 15", d.Limits[0].Remaining)
	}
}

// takeAndRefund takes a request for key 10 times, and refunds each one
// allowed at once. It runs in a goroutine of its own: on an error it
// reports it with t.Error and returns.
func takeAndRefund(t *testing.T, s apiauth.Store, key string, limits []apiauth.Limit, now time.Time) {
	ctx := context.Background()
	for j := 0; j < 10; j++ {
		d, err := s.Take(ctx, key, limits, now)
		if err != nil {
			t.Error(err)
			return
		}
		if d.Allowed {
			if err := s.Refund(ctx, key, limits, now); err != nil {
				t.Error(err)
				return
			}
		}
	}
}

// storeExactUnderConcurrency: of 50 concurrent requests against a limit of
// 20 (and one of 1000), exactly 20 are allowed.
func storeExactUnderConcurrency(t *testing.T, s apiauth.Store, f *storeFixture) {
	ctx := context.Background()
	base, k := f.base, f.key(t)
	limits := []apiauth.Limit{{Requests: 20, Window: time.Hour}, {Requests: 1000, Window: time.Hour}}
	var allowed atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			d, err := s.Take(ctx, k, limits, base)
			if err != nil {
				t.Error(err)
				return
			}
			if d.Allowed {
				allowed.Add(1)
			}
		}()
	}
	close(start)
	wg.Wait()
	if got := allowed.Load(); got != 20 {
		t.Fatalf("50 concurrent requests against a limit of 20: %d allowed", got)
	}
}

func refund(t *testing.T, s apiauth.Store, ctx context.Context, key string, limits []apiauth.Limit, now time.Time) {
	t.Helper()
	if err := s.Refund(ctx, key, limits, now); err != nil {
		t.Fatal(err)
	}
}

func peek(t *testing.T, s apiauth.Store, ctx context.Context, key string, limits []apiauth.Limit, now time.Time) apiauth.Decision {
	t.Helper()
	d, err := s.Peek(ctx, key, limits, now)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func take(t *testing.T, s apiauth.Store, ctx context.Context, key string, limits []apiauth.Limit, now time.Time) apiauth.Decision {
	t.Helper()
	d, err := s.Take(ctx, key, limits, now)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
