package apiauthtest_test

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/apiauth/apiauth/apiauthtest"
	"github.com/apiauth/apiauth/oauth"
)

func TestMemoryClientStore(t *testing.T) {
	apiauthtest.TestClientStore(t, func(*testing.T) oauth.ClientStore { return oauth.NewMemoryClientStore() })
}

func TestMemoryClientStoreShared(t *testing.T) {
	// The suite never depends on an empty store: one store for all subtests.
	s := oauth.NewMemoryClientStore()
	apiauthtest.TestClientStore(t, func(*testing.T) oauth.ClientStore { return s })
}

func TestMemoryClientStoreZeroValue(t *testing.T) {
	// The zero value is ready to use.
	apiauthtest.TestClientStore(t, func(*testing.T) oauth.ClientStore { return new(oauth.MemoryClientStore) })
}

// Stores broken on purpose: see brokenCase in keystore_test.go.
var brokenClientStores = map[string]brokenCase[oauth.ClientStore]{
	"CaseInsensitiveIDs": {
		wrap:     func(s oauth.ClientStore) oauth.ClientStore { return &caseInsensitiveIDs{ClientStore: s} },
		mustFail: []string{"NotFound"},
		mustPass: []string{"CreateGet", "DuplicateID"},
	},
	"ReturnsCallersClient": {
		wrap:     func(s oauth.ClientStore) oauth.ClientStore { return &returnsCallersClient{ClientStore: s} },
		mustFail: []string{"NoAliasing"},
		mustPass: []string{"CreateGet"},
	},
	"SharesRedirectURIs": {
		wrap:     func(s oauth.ClientStore) oauth.ClientStore { return &sharesRedirectURIs{ClientStore: s} },
		mustFail: []string{"NoAliasing"},
		mustPass: []string{"CreateGet", "PublicClientCreateGet"},
	},
	"DropsClientFields": {
		wrap:     func(s oauth.ClientStore) oauth.ClientStore { return dropsClientFields{s} },
		mustFail: []string{"CreateGet", "PublicClientCreateGet"},
		mustPass: []string{"ZeroValuesRoundTrip", "NotFound"},
	},
}

func TestClientStoreFailsBrokenStores(t *testing.T) {
	for name, b := range brokenClientStores {
		t.Run(name, func(t *testing.T) { checkBroken(t, "TestClientStoreOnBrokenStore", name, b.mustFail, b.mustPass) })
	}
}

// TestClientStoreOnBrokenStore runs the suite, in the child process that
// TestClientStoreFailsBrokenStores starts, on the broken store brokenEnv
// names.
func TestClientStoreOnBrokenStore(t *testing.T) {
	b, ok := brokenClientStores[os.Getenv(brokenEnv)]
	if !ok {
		t.Skip("run by TestClientStoreFailsBrokenStores in a child process")
	}
	apiauthtest.TestClientStore(t, func(*testing.T) oauth.ClientStore { return b.wrap(oauth.NewMemoryClientStore()) })
}

// caseInsensitiveIDs finds a client by its ID in any case, as a store on
// a case-insensitive database column would.
type caseInsensitiveIDs struct {
	oauth.ClientStore
	mu  sync.Mutex
	ids map[string]string // lower case to the ID as created
}

func (s *caseInsensitiveIDs) CreateClient(ctx context.Context, c *oauth.ClientRecord) error {
	err := s.ClientStore.CreateClient(ctx, c)
	if err == nil {
		s.mu.Lock()
		if s.ids == nil {
			s.ids = map[string]string{}
		}
		s.ids[strings.ToLower(c.ID)] = c.ID
		s.mu.Unlock()
	}
	return err
}

func (s *caseInsensitiveIDs) GetClient(ctx context.Context, id string) (*oauth.ClientRecord, error) {
	s.mu.Lock()
	if created, ok := s.ids[strings.ToLower(id)]; ok {
		id = created
	}
	s.mu.Unlock()
	return s.ClientStore.GetClient(ctx, id)
}

// returnsCallersClient keeps the record given to CreateClient, not a copy,
// and hands it back from GetClient.
type returnsCallersClient struct {
	oauth.ClientStore
	mu      sync.Mutex
	callers map[string]*oauth.ClientRecord
}

func (s *returnsCallersClient) CreateClient(ctx context.Context, c *oauth.ClientRecord) error {
	err := s.ClientStore.CreateClient(ctx, c)
	if err == nil {
		s.mu.Lock()
		if s.callers == nil {
			s.callers = map[string]*oauth.ClientRecord{}
		}
		s.callers[c.ID] = c
		s.mu.Unlock()
	}
	return err
}

func (s *returnsCallersClient) GetClient(ctx context.Context, id string) (*oauth.ClientRecord, error) {
	c, err := s.ClientStore.GetClient(ctx, id)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if own, ok := s.callers[id]; ok {
		return own, nil
	}
	return c, nil // created, but CreateClient has not returned yet
}

// sharesRedirectURIs copies the record given to CreateClient but not its
// RedirectURIs, whose array it shares with the caller.
type sharesRedirectURIs struct {
	oauth.ClientStore
	mu   sync.Mutex
	uris map[string][]string
}

func (s *sharesRedirectURIs) CreateClient(ctx context.Context, c *oauth.ClientRecord) error {
	err := s.ClientStore.CreateClient(ctx, c)
	if err == nil {
		s.mu.Lock()
		if s.uris == nil {
			s.uris = map[string][]string{}
		}
		s.uris[c.ID] = c.RedirectURIs
		s.mu.Unlock()
	}
	return err
}

func (s *sharesRedirectURIs) GetClient(ctx context.Context, id string) (*oauth.ClientRecord, error) {
	c, err := s.ClientStore.GetClient(ctx, id)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if uris, ok := s.uris[id]; ok {
		cp := *c
		cp.RedirectURIs = uris
		return &cp, nil
	}
	return c, nil // created, but CreateClient has not returned yet
}

// dropsClientFields forgets a client's name, public flag and redirect
// URIs, as a SQL store on a schema before version 4 would.
type dropsClientFields struct{ oauth.ClientStore }

func (s dropsClientFields) GetClient(ctx context.Context, id string) (*oauth.ClientRecord, error) {
	c, err := s.ClientStore.GetClient(ctx, id)
	if err != nil {
		return nil, err
	}
	cp := *c
	cp.Name, cp.Public, cp.RedirectURIs = "", false, nil
	return &cp, nil
}
