package daemon

import (
	"net/netip"
	"testing"
)

// beacon.md §3.2: -endpoint wins (it skips discovery); a public observed
// endpoint is used; a private, loopback or link-local one is not, and the
// socket's own address goes instead.
func TestChooseListenAddr(t *testing.T) {
	const local = "[::]:4000"
	for _, tc := range []struct {
		endpoint, observed, want string
	}{
		{"203.0.113.5:9000", "198.51.100.7:41000", "203.0.113.5:9000"},
		{"203.0.113.5:9000", "", "203.0.113.5:9000"},
		{"", "198.51.100.7:41000", "198.51.100.7:41000"},
		{"", "[::ffff:198.51.100.7]:41000", "198.51.100.7:41000"},
		{"", "[2001:db8::7]:41000", "[2001:db8::7]:41000"},
		{"", "10.1.2.3:41000", local},
		{"", "192.168.1.9:41000", local},
		{"", "127.0.0.1:41000", local},
		{"", "169.254.1.1:41000", local},
		{"", "[fe80::1]:41000", local},
		{"", "[fd00::1]:41000", local},
		{"", "", local},
	} {
		var observed netip.AddrPort
		if tc.observed != "" {
			observed = netip.MustParseAddrPort(tc.observed)
		}
		if got := chooseListenAddr(tc.endpoint, observed, local); got != tc.want {
			t.Errorf("chooseListenAddr(%q, %s) = %q, want %q", tc.endpoint, tc.observed, got, tc.want)
		}
	}
}
