package apiauthtest_test

import (
	"testing"

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
