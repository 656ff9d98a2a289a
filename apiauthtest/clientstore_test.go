package apiauthtest_test

import (
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
