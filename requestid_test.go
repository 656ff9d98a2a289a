package apiauth

import (
	"context"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	ridUUIDv4  = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	ridInbound = regexp.MustCompile(`^[A-Za-z0-9+/=-]{20,200}$`)
)

func TestValidInboundID(t *testing.T) {
	tests := []struct {
		id   string
		want bool
	}{
		{strings.Repeat("a", 19), false},
		{strings.Repeat("a", 20), true},
		{strings.Repeat("a", 200), true},
		{strings.Repeat("a", 201), false},
		{"", false},
		{"0b6f3c1e-8d2a-4f7b-9c3d-5e6f7a8b9c0d", true}, // a UUID
		{"AZaz09+/=-AZaz09+/=-", true},                 // every allowed character
		{"YWJjZGVmZ2hpamtsbW5vcA==", true},             // base64
		{"01HZX3K4M5N6P7Q8R9S0T1V2W3", true},           // a ULID
		{"0b6f3c1e_8d2a_4f7b_9c3d", false},             // underscore
		{"0b6f3c1e.8d2a.4f7b.9c3d", false},
		{"0b6f3c1e 8d2a 4f7b 9c3d", false},
		{"0b6f3c1e-8d2a-4f7b-9c3d\r\nX-Evil: 1", false},
		{"0b6f3c1e-8d2a-4f7b-9c3d\n", false},
		{"0b6f3c1e-8d2a-4f7b-9c3d\x00", false},
		{"0b6f3c1e-8d2a-4f7b-9c3dé", false},
		{"0b6f3c1e-8d2a-4f7b-9c3d\xff", false},
		{`0b6f3c1e-8d2a-4f7b-9c3d"`, false},
		{"0b6f3c1e-8d2a-4f7b-9c3d%0a", false},
		{strings.Repeat("a", 199) + "_", false},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, validInboundID(tc.id), "%q", tc.id)
		assert.Equal(t, tc.want, ridInbound.MatchString(tc.id), "the test's regexp agrees on %q", tc.id)
	}
	// Every byte, in a string that is otherwise valid.
	for c := 0; c < 256; c++ {
		s := strings.Repeat("a", 19) + string([]byte{byte(c)})
		assert.Equal(t, ridInbound.MatchString(s), validInboundID(s), "byte %#x", c)
	}
}

func TestValidPluggedID(t *testing.T) {
	for _, id := range []string{"a", "req-1", "host/abc-000001", strings.Repeat("x", 200), "!~"} {
		assert.True(t, validPluggedID(id), "%q", id)
	}
	for _, id := range []string{"", strings.Repeat("x", 201), "a b", "a\tb", "a\nb", "a\x7f", "é", "\x00"} {
		assert.False(t, validPluggedID(id), "%q", id)
	}
}

func TestNewRequestID(t *testing.T) {
	const n = 10000
	seen := make(map[string]bool, n)
	var versionNibbles, variantNibbles [16]int
	for i := 0; i < n; i++ {
		id := newRequestID()
		require.Regexp(t, ridUUIDv4, id)
		require.False(t, seen[id], "duplicate request ID %s", id)
		seen[id] = true
		assert.True(t, validInboundID(id), "a generated ID is accepted back from a client")
		assert.True(t, validPluggedID(id))
		versionNibbles[hexNibble(id[14])]++
		variantNibbles[hexNibble(id[19])]++
	}
	assert.Equal(t, n, versionNibbles[4], "version 4 always")
	assert.Equal(t, n, variantNibbles[8]+variantNibbles[9]+variantNibbles[10]+variantNibbles[11], "RFC 9562 variant always")
	for v := 8; v < 12; v++ {
		assert.Greater(t, variantNibbles[v], n/8, "the variant's low bits stay random")
	}
}

func hexNibble(c byte) int { return strings.IndexByte("0123456789abcdef", c) }

func TestRequestIDLayer(t *testing.T) {
	const good = "client-id-0123456789abcdef"
	tests := []struct {
		name    string
		inbound []string
		from    func(context.Context) string
		want    string // "" means a fresh UUID
	}{
		{name: "none", want: ""},
		{name: "good inbound", inbound: []string{good}, want: good},
		{name: "short inbound", inbound: []string{"short"}, want: ""},
		{name: "injection", inbound: []string{good + "\r\nSet-Cookie: x"}, want: ""},
		{name: "two field lines", inbound: []string{good, good}, want: ""},
		{name: "plugged wins", inbound: []string{good}, from: func(context.Context) string { return "host/abc-000001" }, want: "host/abc-000001"},
		{name: "bad plugged falls back to inbound", inbound: []string{good}, from: func(context.Context) string { return "has space" }, want: good},
		{name: "empty plugged falls back", from: func(context.Context) string { return "" }, want: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var opts []Option
			if tc.from != nil {
				opts = append(opts, RequestIDFromContext(tc.from))
			}
			var seen string
			h := RequestID(opts...)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				seen = RequestIDFrom(r.Context())
			}))
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			for _, v := range tc.inbound {
				req.Header.Add("X-Request-Id", v)
			}
			rr := httptest.NewRecorder()
			h.ServeHTTP(rr, req)
			got := rr.Header().Values("X-Request-Id")
			require.Len(t, got, 1)
			assert.Equal(t, seen, got[0])
			if tc.want == "" {
				assert.Regexp(t, ridUUIDv4, got[0])
			} else {
				assert.Equal(t, tc.want, got[0])
			}
		})
	}
	assert.Equal(t, "", RequestIDFrom(context.Background()))
}
