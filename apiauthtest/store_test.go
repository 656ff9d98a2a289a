package apiauthtest_test

import (
	"testing"

	"github.com/apiauth/apiauth"
	"github.com/apiauth/apiauth/apiauthtest"
)

func TestMemoryStore(t *testing.T) {
	apiauthtest.TestStore(t, func(*testing.T) apiauth.Store { return apiauth.NewMemoryStore() }, false)
}
