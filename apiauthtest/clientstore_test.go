package apiauthtest_test

import (
	"testing"

	"github.com/apiauth/apiauth"
	"github.com/apiauth/apiauth/apiauthtest"
)

func TestMemoryClientStore(t *testing.T) {
	apiauthtest.TestClientStore(t, func(*testing.T) apiauth.ClientStore { return apiauth.NewMemoryClientStore() })
}

func TestMemoryClientStoreShared(t *testing.T) {
	// The suite never depends on an empty store: one store for all subtests.
	s := apiauth.NewMemoryClientStore()
	apiauthtest.TestClientStore(t, func(*testing.T) apiauth.ClientStore { return s })
}

func TestMemoryClientStoreZeroValue(t *testing.T) {
	// The zero value is ready to use.
	apiauthtest.TestClientStore(t, func(*testing.T) apiauth.ClientStore { return new(apiauth.MemoryClientStore) })
}
