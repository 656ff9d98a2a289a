package apiauth_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/apiauth/apiauth"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestScopeGrants(t *testing.T) {
	tests := []struct {
		have, want apiauth.Scope
		grants     bool
	}{
		// The ladder.
		{apiauth.Admin, apiauth.Admin, true},
		{apiauth.Admin, apiauth.Write, true},
		{apiauth.Admin, apiauth.Read, true},
		{apiauth.Write, apiauth.Admin, false},
		{apiauth.Write, apiauth.Write, true},
		{apiauth.Write, apiauth.Read, true},
		{apiauth.Read, apiauth.Admin, false},
		{apiauth.Read, apiauth.Write, false},
		{apiauth.Read, apiauth.Read, true},
		// Custom scopes match only themselves, in both directions.
		{"orders:write", "orders:write", true},
		{"orders:write", "orders:read", false},
		{"orders:write", apiauth.Write, false},
		{"orders:write", apiauth.Read, false},
		{apiauth.Admin, "orders:write", false},
		{apiauth.Admin, "orders:read", false},
		{apiauth.Write, "orders:write", false},
		{"orders:admin", "orders:read", false},
		// Case-sensitive (RFC 6749 §3.3): "Read" is a custom scope.
		{"Read", apiauth.Read, false},
		{apiauth.Read, "Read", false},
		{"ADMIN", apiauth.Read, false},
		{"Admin", apiauth.Write, false},
		{apiauth.Admin, "Read", false},
		{"Read", "Read", true},
		{" read", apiauth.Read, false},
		{"read ", apiauth.Read, false},
		// The empty scope grants nothing but itself.
		{"", apiauth.Read, false},
		{apiauth.Admin, "", false},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.grants, tc.have.Grants(tc.want), "%q grants %q", tc.have, tc.want)
	}
	assert.Equal(t, apiauth.Scope("read"), apiauth.Read)
	assert.Equal(t, apiauth.Scope("write"), apiauth.Write)
	assert.Equal(t, apiauth.Scope("admin"), apiauth.Admin)
}

func TestHasScope(t *testing.T) {
	var nilP *apiauth.Principal
	for _, s := range []apiauth.Scope{apiauth.Read, apiauth.Write, apiauth.Admin, "x", ""} {
		assert.False(t, nilP.HasScope(s), "nil principal has no %q", s)
		assert.False(t, (&apiauth.Principal{}).HasScope(s), "no scopes, no %q", s)
	}
	p := &apiauth.Principal{Scopes: []apiauth.Scope{"orders:read", apiauth.Write}}
	assert.True(t, p.HasScope(apiauth.Read))
	assert.True(t, p.HasScope(apiauth.Write))
	assert.False(t, p.HasScope(apiauth.Admin))
	assert.True(t, p.HasScope("orders:read"))
	assert.False(t, p.HasScope("orders:write"))
	assert.False(t, p.HasScope("Write"))
}

func TestParseScopes(t *testing.T) {
	tests := []struct {
		in   string
		want []apiauth.Scope
		err  bool
	}{
		{"", nil, true},
		{"   ", nil, true},
		{"read", []apiauth.Scope{apiauth.Read}, false},
		{"read write admin", []apiauth.Scope{apiauth.Read, apiauth.Write, apiauth.Admin}, false},
		{"orders:write billing.read", []apiauth.Scope{"orders:write", "billing.read"}, false},
		{"orders:write  billing.read", nil, true}, // RFC 6749 §3.3: single spaces
		{" read", nil, true},
		{"read ", nil, true},
		{" read ", nil, true},
		{"read read", []apiauth.Scope{apiauth.Read, apiauth.Read}, false},
		{"Read", []apiauth.Scope{"Read"}, false},
		{"!#$%&'()*+,-./:;<=>?@[]^_`{|}~", []apiauth.Scope{"!#$%&'()*+,-./:;<=>?@[]^_`{|}~"}, false},
		{`read "write"`, nil, true},
		{`read wr\ite`, nil, true},
		{"read é", nil, true},
		{"read \x7f", nil, true},
		{"read \x00", nil, true},
		{"read \xff", nil, true},
		{"read\twrite", nil, true},     // only SP separates scopes
		{"read\u00a0admin", nil, true}, // a no-break space is not SP
		{"read\nadmin", nil, true},
	}
	for _, tc := range tests {
		got, err := apiauth.ParseScopes(tc.in)
		if tc.err {
			assert.Error(t, err, "%q", tc.in)
			assert.Nil(t, got, "%q", tc.in)
			continue
		}
		require.NoError(t, err, "%q", tc.in)
		assert.Equal(t, tc.want, got, "%q", tc.in)
	}
}

func TestScopeValid(t *testing.T) {
	for _, s := range []apiauth.Scope{"read", "orders:write", "a", "!", "~", "#[]", "https://api.example.com/orders.read"} {
		assert.True(t, s.Valid(), "%q", s)
	}
	for _, s := range []apiauth.Scope{"", " ", "a b", `a"b`, `a\b`, "a\tb", "a\nb", "a\x7f", "é", "\x00", "\xff", "read "} {
		assert.False(t, s.Valid(), "%q", s)
	}
	// Every byte on its own: RFC 6749 §3.3's %x21 / %x23-5B / %x5D-7E.
	for c := 0; c < 256; c++ {
		want := c == 0x21 || c >= 0x23 && c <= 0x5b || c >= 0x5d && c <= 0x7e
		assert.Equal(t, want, apiauth.Scope([]byte{byte(c)}).Valid(), "byte %#x", c)
	}
}

// RequireMethodScope needs Read for the safe methods and Write for every
// other: a read-only principal passes exactly the Read ones.
func TestRequireMethodScope(t *testing.T) {
	tests := map[string]apiauth.Scope{
		http.MethodGet:     apiauth.Read,
		http.MethodHead:    apiauth.Read,
		http.MethodOptions: apiauth.Read,
		http.MethodPost:    apiauth.Write,
		http.MethodPut:     apiauth.Write,
		http.MethodPatch:   apiauth.Write,
		http.MethodDelete:  apiauth.Write,
		http.MethodConnect: apiauth.Write,
		http.MethodTrace:   apiauth.Write,
		"QUERY":            apiauth.Write,
		"PROPFIND":         apiauth.Write,
		// Methods are case-sensitive (RFC 9110 §9.1): "get" is not GET.
		"get":  apiauth.Write,
		"Head": apiauth.Write,
	}
	h := principalLayer(&apiauth.Principal{Subject: "u", Tenant: "acme", Scopes: []apiauth.Scope{apiauth.Read}})(apiauth.RequireMethodScope()(echo))
	for method, want := range tests {
		rr := httptest.NewRecorder()
		h.ServeHTTP(rr, httptest.NewRequest(method, "/", nil))
		if want == apiauth.Read {
			assert.Equal(t, http.StatusOK, rr.Code, "%q", method)
		} else {
			assert.Equal(t, http.StatusForbidden, rr.Code, "%q", method)
		}
	}
}
