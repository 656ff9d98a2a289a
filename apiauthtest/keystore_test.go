package apiauthtest_test

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apiauth/apiauth"
	"github.com/apiauth/apiauth/apiauthtest"
)

func TestMemoryKeyStore(t *testing.T) {
	apiauthtest.TestKeyStore(t, func(*testing.T) apiauth.KeyStore { return apiauth.NewMemoryKeyStore() })
}

func TestMemoryKeyStoreShared(t *testing.T) {
	// The suite never depends on an empty store: one store for all subtests.
	s := apiauth.NewMemoryKeyStore()
	apiauthtest.TestKeyStore(t, func(*testing.T) apiauth.KeyStore { return s })
}

// A conformance suite that passes every store proves nothing. The tests
// below run a suite on stores broken on purpose, each in a child process
// (a failed subtest cannot be undone in this one), and check that the
// subtests for the broken contract fail while the plain round trip still
// passes, so that the failure is the contract's and not the wrapper's.

// brokenEnv names, in a child process, the broken store to run a suite on.
const brokenEnv = "APIAUTHTEST_BROKEN_STORE"

// brokenCase is a store broken on purpose, and what the suite must say
// about it: subtests that must fail, and subtests that must still pass.
type brokenCase[S any] struct {
	wrap     func(S) S
	mustFail []string
	mustPass []string
}

var brokenKeyStores = map[string]brokenCase[apiauth.KeyStore]{
	"RevokeIgnored": {
		wrap:     func(s apiauth.KeyStore) apiauth.KeyStore { return revokeIgnored{s} },
		mustFail: []string{"RevokeIsMonotonic"},
		mustPass: []string{"CreateLookupGet", "NotFound"},
	},
	"ReturnsCallersRecord": {
		wrap:     func(s apiauth.KeyStore) apiauth.KeyStore { return &returnsCallersRecord{KeyStore: s} },
		mustFail: []string{"NoAliasing"},
		mustPass: []string{"CreateLookupGet", "RevokeIsMonotonic"},
	},
	"CachesLookupsForever": {
		wrap:     func(s apiauth.KeyStore) apiauth.KeyStore { return &cachesLookupsForever{KeyStore: s} },
		mustFail: []string{"CreatedAfterMiss", "RevokeIsMonotonic"},
		mustPass: []string{"CreateLookupGet", "DuplicateID"},
	},
	"MillisecondTimes": {
		wrap:     func(s apiauth.KeyStore) apiauth.KeyStore { return millisecondTimes{s} },
		mustFail: []string{"CreateLookupGet"},
		mustPass: []string{"ZeroValuesRoundTrip", "NotFound"},
	},
}

func TestKeyStoreFailsBrokenStores(t *testing.T) {
	for name, b := range brokenKeyStores {
		t.Run(name, func(t *testing.T) { checkBroken(t, "TestKeyStoreOnBrokenStore", name, b.mustFail, b.mustPass) })
	}
}

// TestKeyStoreOnBrokenStore runs the suite, in the child process that
// TestKeyStoreFailsBrokenStores starts, on the broken store brokenEnv names.
func TestKeyStoreOnBrokenStore(t *testing.T) {
	b, ok := brokenKeyStores[os.Getenv(brokenEnv)]
	if !ok {
		t.Skip("run by TestKeyStoreFailsBrokenStores in a child process")
	}
	apiauthtest.TestKeyStore(t, func(*testing.T) apiauth.KeyStore { return b.wrap(apiauth.NewMemoryKeyStore()) })
}

var subtestResult = regexp.MustCompile(`(?m)^\s*--- (PASS|FAIL|SKIP): (\S+)`)

// checkBroken runs the test named child in a child process with brokenEnv
// set to broken, and checks that the subtests of child in mustFail failed
// and those in mustPass passed.
func checkBroken(t *testing.T, child, broken string, mustFail, mustPass []string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+child+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), brokenEnv+"="+broken)
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("the suite passed a store that is broken on purpose (%s):\n%s", broken, out)
	}
	results := map[string]string{}
	for _, m := range subtestResult.FindAllStringSubmatch(string(out), -1) {
		if sub, ok := strings.CutPrefix(m[2], child+"/"); ok {
			results[sub] = m[1]
		}
	}
	for _, sub := range mustFail {
		if results[sub] != "FAIL" {
			t.Errorf("%s: subtest %s: %q, want FAIL", broken, sub, results[sub])
		}
	}
	for _, sub := range mustPass {
		if results[sub] != "PASS" {
			t.Errorf("%s: subtest %s: %q, want PASS", broken, sub, results[sub])
		}
	}
	if t.Failed() {
		t.Logf("output of the child process:\n%s", out)
	}
}

// revokeIgnored drops every revocation: RevokeKey of a key that exists
// succeeds and changes nothing.
type revokeIgnored struct{ apiauth.KeyStore }

func (s revokeIgnored) RevokeKey(ctx context.Context, id string, at time.Time) error {
	_, err := s.KeyStore.GetKey(ctx, id)
	return err
}

// returnsCallersRecord keeps the record given to CreateKey, not a copy,
// and hands it back from GetKey and LookupKey until the key changes, as a
// store that forgot to copy on CreateKey but replaces records on updates
// would.
type returnsCallersRecord struct {
	apiauth.KeyStore
	mu      sync.Mutex
	callers map[string]*apiauth.KeyRecord // by ID: the caller's record
	created map[string]apiauth.KeyRecord  // by ID: the key as created
}

func (s *returnsCallersRecord) CreateKey(ctx context.Context, rec *apiauth.KeyRecord) error {
	err := s.KeyStore.CreateKey(ctx, rec)
	if err == nil {
		s.mu.Lock()
		if s.callers == nil {
			s.callers, s.created = map[string]*apiauth.KeyRecord{}, map[string]apiauth.KeyRecord{}
		}
		s.callers[rec.KeyID], s.created[rec.KeyID] = rec, *rec
		s.mu.Unlock()
	}
	return err
}

func (s *returnsCallersRecord) callersIfUnchanged(rec *apiauth.KeyRecord, err error) (*apiauth.KeyRecord, error) {
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.created[rec.KeyID]
	if ok && c.RevokedAt.Equal(rec.RevokedAt) && c.ExpiresAt.Equal(rec.ExpiresAt) && c.ReplacedBy == rec.ReplacedBy {
		return s.callers[rec.KeyID], nil
	}
	return rec, nil
}

func (s *returnsCallersRecord) GetKey(ctx context.Context, id string) (*apiauth.KeyRecord, error) {
	return s.callersIfUnchanged(s.KeyStore.GetKey(ctx, id))
}

func (s *returnsCallersRecord) LookupKey(ctx context.Context, d apiauth.KeyDigest) (*apiauth.KeyRecord, error) {
	return s.callersIfUnchanged(s.KeyStore.LookupKey(ctx, d))
}

// cachesLookupsForever remembers every answer of LookupKey, a miss
// included, and never forgets one: its own writes do not invalidate it.
type cachesLookupsForever struct {
	apiauth.KeyStore
	mu    sync.Mutex
	cache map[apiauth.KeyDigest]lookupAnswer
}

type lookupAnswer struct {
	rec *apiauth.KeyRecord
	err error
}

func (s *cachesLookupsForever) LookupKey(ctx context.Context, d apiauth.KeyDigest) (*apiauth.KeyRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.cache[d]; ok {
		return a.rec, a.err
	}
	rec, err := s.KeyStore.LookupKey(ctx, d)
	if s.cache == nil {
		s.cache = map[apiauth.KeyDigest]lookupAnswer{}
	}
	s.cache[d] = lookupAnswer{rec, err}
	return rec, err
}

// millisecondTimes gives back times to the millisecond only, as a
// database column of too coarse a type would.
type millisecondTimes struct{ apiauth.KeyStore }

func (s millisecondTimes) coarse(rec *apiauth.KeyRecord, err error) (*apiauth.KeyRecord, error) {
	if err != nil {
		return nil, err
	}
	c := *rec
	for _, tm := range []*time.Time{&c.CreatedAt, &c.ExpiresAt, &c.RevokedAt, &c.LastUsedAt} {
		*tm = tm.Truncate(time.Millisecond)
	}
	return &c, nil
}

func (s millisecondTimes) GetKey(ctx context.Context, id string) (*apiauth.KeyRecord, error) {
	return s.coarse(s.KeyStore.GetKey(ctx, id))
}

func (s millisecondTimes) LookupKey(ctx context.Context, d apiauth.KeyDigest) (*apiauth.KeyRecord, error) {
	return s.coarse(s.KeyStore.LookupKey(ctx, d))
}
