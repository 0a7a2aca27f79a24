package tunnel

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/wire/beaconmsg"
	"github.com/pilot-go/pilot/internal/wire/packet"
)

// A daemon listening on ":0" (cli.md §3.1's default: a dual-stack IPv6
// socket) receives IPv4 datagrams with IPv4-mapped sources; the beacon's
// replies must still be recognised as the beacon's (wire.md §4.1: beacon
// messages are accepted only from the configured beacon, configured as
// 127.0.0.1:port), so start-up discovery learns the observed endpoint.
func TestDualStackSocketAcceptsTheBeacon(t *testing.T) {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{}) // ":0"
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	beacon, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { beacon.Close() })
	observed := netip.MustParseAddrPort("198.51.100.7:41000")
	go func() { // the beacon: answer every discover from the daemon
		buf := make([]byte, 2048)
		for {
			_, from, err := beacon.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			reply, _ := beaconmsg.DiscoverReply{Endpoint: observed}.AppendTo(nil)
			_, _ = beacon.WriteToUDPAddrPort(reply, from)
		}
	}()
	reg := newRegistry()
	m, err := New(Config{Conn: conn, Identity: newIdentity(t), Keys: reg, Resolver: reg, Deliver: func(addr.NodeID, bool, bool, *packet.Packet) {},
		Beacon: beacon.LocalAddr().(*net.UDPAddr).AddrPort()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = m.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	// Discover sends to the beacon's 127.0.0.1 address from the dual-stack
	// socket; the beacon answers to the daemon's port on 127.0.0.1.
	dctx, dcancel := context.WithTimeout(ctx, 10*time.Second)
	defer dcancel()
	got, err := m.Discover(dctx)
	if err != nil || got != observed {
		t.Fatalf("Discover = %v, %v; want %v (beacon replies dropped: %+v)", got, err, observed, m.NAT().Stats())
	}
}
