package apiauthtest_test

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/apiauth/apiauth"
	"github.com/apiauth/apiauth/apiauthtest"
)

func TestMemoryStore(t *testing.T) {
	apiauthtest.TestStore(t, func(*testing.T) apiauth.Store { return apiauth.NewMemoryStore() }, false)
}

// Stores broken on purpose: see brokenCase in keystore_test.go.
var brokenStores = map[string]brokenCase[apiauth.Store]{
	"TakeConsumesWhenRefused": {
		wrap:     func(s apiauth.Store) apiauth.Store { return limitsOneByOne{s} },
		mustFail: []string{"AllOrNothing", "RefundGivesBack"},
		mustPass: []string{"CountsDown", "SeparateBuckets", "ExactUnderConcurrency"},
	},
	"PeekConsumes": {
		wrap:     func(s apiauth.Store) apiauth.Store { return peekConsumes{s} },
		mustFail: []string{"PeekDoesNotConsume", "RefundGivesBack", "RefundNeverPastFull", "RefundUnderConcurrency"},
		mustPass: []string{"CountsDown", "AllOrNothing", "ExactUnderConcurrency"},
	},
	"RefundIgnored": {
		wrap:     func(s apiauth.Store) apiauth.Store { return refundIgnored{s} },
		mustFail: []string{"RefundGivesBack", "RefundNeverPastFull", "RefundUnlimited", "RefundUnderConcurrency"},
		mustPass: []string{"CountsDown", "PeekDoesNotConsume"},
	},
	"RefundGivesTwo": {
		wrap:     func(s apiauth.Store) apiauth.Store { return refundGivesTwo{s} },
		mustFail: []string{"RefundGivesBack", "RefundUnderConcurrency"},
		mustPass: []string{"CountsDown", "RefundNeverPastFull", "RefundUnlimited"},
	},
	"OneBucketForAllKeys": {
		wrap:     func(s apiauth.Store) apiauth.Store { return oneBucketForAllKeys{s} },
		mustFail: []string{"SeparateBuckets"},
		mustPass: []string{"CountsDown", "AllOrNothing"},
	},
}

func TestStoreFailsBrokenStores(t *testing.T) {
	for name, b := range brokenStores {
		t.Run(name, func(t *testing.T) { checkBroken(t, "TestStoreOnBrokenStore", name, b.mustFail, b.mustPass) })
	}
}

// TestStoreOnBrokenStore runs the suite, in the child process that
// TestStoreFailsBrokenStores starts, on the broken store brokenEnv names.
func TestStoreOnBrokenStore(t *testing.T) {
	b, ok := brokenStores[os.Getenv(brokenEnv)]
	if !ok {
		t.Skip("run by TestStoreFailsBrokenStores in a child process")
	}
	apiauthtest.TestStore(t, func(*testing.T) apiauth.Store { return b.wrap(apiauth.NewMemoryStore()) }, false)
}

// limitsOneByOne checks and consumes each limit on its own, as a store
// that counts each limit with a command of its own would: a request one
// limit refuses is still taken from the limits that allow it.
type limitsOneByOne struct{ apiauth.Store }

// each calls op for each of limits alone, under a key of its own, and
// gathers the answers into one decision: allowed if every limit allowed.
func (s limitsOneByOne) each(key string, limits []apiauth.Limit, op func(key string, limits []apiauth.Limit) (apiauth.Decision, error)) (apiauth.Decision, error) {
	d := apiauth.Decision{Allowed: true}
	for i, l := range limits {
		one, err := op(limitKey(key, i), []apiauth.Limit{l})
		if err != nil {
			return apiauth.Decision{}, err
		}
		d.Limits[i] = one.Limits[0]
		if !one.Allowed {
			d.Allowed = false
			d.RetryAfter = max(d.RetryAfter, one.RetryAfter)
		}
	}
	return d, nil
}

func (s limitsOneByOne) Take(ctx context.Context, key string, limits []apiauth.Limit, now time.Time) (apiauth.Decision, error) {
	return s.each(key, limits, func(key string, limits []apiauth.Limit) (apiauth.Decision, error) {
		return s.Store.Take(ctx, key, limits, now)
	})
}

func (s limitsOneByOne) Peek(ctx context.Context, key string, limits []apiauth.Limit, now time.Time) (apiauth.Decision, error) {
	return s.each(key, limits, func(key string, limits []apiauth.Limit) (apiauth.Decision, error) {
		return s.Store.Peek(ctx, key, limits, now)
	})
}

func (s limitsOneByOne) Refund(ctx context.Context, key string, limits []apiauth.Limit, now time.Time) error {
	for i, l := range limits {
		if err := s.Store.Refund(ctx, limitKey(key, i), []apiauth.Limit{l}, now); err != nil {
			return err
		}
	}
	return nil
}

// limitKey is the key of the i-th limit of key's requests, alone.
func limitKey(key string, i int) string { return key + "#" + strconv.Itoa(i) }

// peekConsumes answers Peek with Take.
type peekConsumes struct{ apiauth.Store }

func (s peekConsumes) Peek(ctx context.Context, key string, limits []apiauth.Limit, now time.Time) (apiauth.Decision, error) {
	return s.Store.Take(ctx, key, limits, now)
}

// refundIgnored drops every refund: Refund succeeds and changes nothing.
type refundIgnored struct{ apiauth.Store }

func (refundIgnored) Refund(context.Context, string, []apiauth.Limit, time.Time) error { return nil }

// refundGivesTwo gives back two requests for each refund, though never
// more than a limit's full count.
type refundGivesTwo struct{ apiauth.Store }

func (s refundGivesTwo) Refund(ctx context.Context, key string, limits []apiauth.Limit, now time.Time) error {
	if err := s.Store.Refund(ctx, key, limits, now); err != nil {
		return err
	}
	return s.Store.Refund(ctx, key, limits, now)
}

// oneBucketForAllKeys ignores the key: every key shares one bucket per
// limit.
type oneBucketForAllKeys struct{ apiauth.Store }

func (s oneBucketForAllKeys) Take(ctx context.Context, _ string, limits []apiauth.Limit, now time.Time) (apiauth.Decision, error) {
	return s.Store.Take(ctx, "shared", limits, now)
}

func (s oneBucketForAllKeys) Peek(ctx context.Context, _ string, limits []apiauth.Limit, now time.Time) (apiauth.Decision, error) {
	return s.Store.Peek(ctx, "shared", limits, now)
}

func (s oneBucketForAllKeys) Refund(ctx context.Context, _ string, limits []apiauth.Limit, now time.Time) error {
	return s.Store.Refund(ctx, "shared", limits, now)
}
