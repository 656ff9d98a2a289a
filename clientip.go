package apiauth

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ClientIP finds the address of the client that sent a request. Without
// trusted proxies it is the peer address (RemoteAddr). With them,
// X-Forwarded-For is walked from right to left through addresses inside
// TrustedProxies, starting at the peer; the first address outside them is
// the client. The leftmost X-Forwarded-For value, which any client can
// write, is believed only if every hop after it is trusted. The zero value
// trusts no proxy.
type ClientIP struct {
	// TrustedProxies are the networks of the proxies in front of the
	// server, such as 10.0.0.0/8 for a load balancer.
	TrustedProxies []netip.Prefix
}

func (c *ClientIP) trusted(a netip.Addr) bool {
	for _, p := range c.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Addr returns the client's address, or the zero Addr when RemoteAddr is
// not an IP address (a Unix socket, say).
func (c *ClientIP) Addr(r *http.Request) netip.Addr {
	addr := parseHostAddr(r.RemoteAddr)
	if !addr.IsValid() || len(c.TrustedProxies) == 0 || !c.trusted(addr) {
		return addr
	}
	xff := r.Header.Values("X-Forwarded-For")
	for i := len(xff) - 1; i >= 0; i-- {
		line := xff[i]
		for line != "" {
			j := strings.LastIndexByte(line, ',')
			hop := strings.TrimSpace(line[j+1:])
			line = line[:max(j, 0)]
			a := parseHostAddr(hop)
			if !a.IsValid() {
				return addr // garbage: stop at the last hop we could trust
			}
			addr = a
			if !c.trusted(a) {
				return a
			}
		}
	}
	return addr
}

// Key returns the rate-limit key of the client: its IPv4 address, or the
// /64 network of its IPv6 address, since one host usually holds a whole
// /64. It is "unknown" when there is no IP address.
func (c *ClientIP) Key(r *http.Request) string {
	a := c.Addr(r)
	switch {
	case !a.IsValid():
		return "unknown"
	case a.Is4():
		return a.String()
	}
	p, _ := a.Prefix(64)
	return p.String()
}

// parseHostAddr parses "ip", "ip:port" or "[ip]:port", unmapping
// IPv4-mapped IPv6 addresses and dropping zones.
func parseHostAddr(s string) netip.Addr {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().WithZone("")
	}
	host, _, err := net.SplitHostPort(s)
	if err != nil {
		return netip.Addr{}
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap().WithZone("")
}
