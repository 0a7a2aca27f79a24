package beacon

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/pilot-go/pilot/internal/testvec"
	"github.com/pilot-go/pilot/internal/wire/beaconmsg"
)

// FuzzHandle: the datagram handler never panics, never sends to the source
// more bytes than the datagram carried (except one bounded DiscoverReply
// or PunchCommand of ≤ 20 bytes), and every queued relay job delivers a
// datagram 4 bytes shorter than the Relay (or forwards it unchanged).
func FuzzHandle(f *testing.F) {
	seeds := []string{
		"01000002ae",
		"01000002ae" + "00000000000000000000000000000000",
		"01000002ae010000019d2eca4c5859104a3fae11ff0c984dd65e55ca2721cc3c8380e2a2f27f7a1875dc85" +
			"0f45087acc8c3580c25ef26da6cb074d1f12f44cb5fae91ce9a12e9d4b2ef9b0518806",
		"03000002ae000002af",
		"0300000001" + "00000002" + "000000000000000000000000",
		"05 00000001 00000002 50494c53 0102",
		"05 00000002 00000001 50494c41",
		"05 00000001 00000001 50494c50 00",
		"07 00000001 0002 00000001 00000002",
		"02 04 c6336407 a028",
		"04 10 fe800000000000000000000000000002 0001",
		"06 000002ae 50494c53",
		"00", "08", "0f00000000", "50494c53",
	}
	for _, s := range seeds {
		f.Add(testvec.Hex(f, strings.ReplaceAll(s, " ", "")), uint8(0))
		f.Add(testvec.Hex(f, strings.ReplaceAll(s, " ", "")), uint8(1))
	}
	srcs := []netip.AddrPort{
		netip.MustParseAddrPort("198.51.100.7:41000"),  // node 1's endpoint
		netip.MustParseAddrPort("[2001:db8::7]:41000"), // node 2's endpoint
		netip.MustParseAddrPort("203.0.113.1:1"),       // a peer beacon
		netip.MustParseAddrPort("192.0.2.99:9"),        // a stranger
	}
	f.Fuzz(func(t *testing.T, b []byte, which uint8) {
		s, mc := newMemServer(t, Config{Peers: []string{srcs[2].String()}})
		s.handle([]byte{0x01, 0, 0, 0, 1}, srcs[0], netip.Addr{})
		s.handle([]byte{0x01, 0, 0, 0, 2}, srcs[1], netip.Addr{})
		mc.take()
		src := srcs[int(which)%len(srcs)]
		in := append([]byte(nil), b...)
		s.handle(in, src, netip.Addr{})
		checkAmplification(t, b, src, mc.take())
		for len(s.relayQ) > 0 {
			j := <-s.relayQ
			s.relay(j)
			for _, p := range mc.take() {
				if len(p.b) != len(b) && len(p.b) != len(b)-4 {
					t.Fatalf("relay sent %d bytes for a %d-byte Relay", len(p.b), len(b))
				}
				if p.b[0] == byte(beaconmsg.TypeRelay) && src == srcs[2] {
					t.Fatal("a Relay from a peer beacon was forwarded again")
				}
			}
		}
	})
}
