package tunnel

import (
	"net/netip"
	"sync"
	"testing"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/netsim"
	"github.com/pilot-go/pilot/internal/wire/beaconmsg"
)

// fakeBeacon is a minimal beacon on netsim (beacon.md §3.1, §5.1, §6.1
// without rate limits or authentication): discovery replies, punch
// commands and relay. internal/beacon needs a real socket, so the tunnel
// tests use this one.
type fakeBeacon struct {
	conn netsim.PacketConn
	mu   sync.Mutex
	eps  map[addr.NodeID]netip.AddrPort
	relayed,
	punches int
}

func startBeacon(t testing.TB, n *netsim.Network) *fakeBeacon {
	t.Helper()
	mustHost(t, n, beaconIP)
	b := &fakeBeacon{conn: listen(t, n, beaconIP, beaconEP.Port()), eps: map[addr.NodeID]netip.AddrPort{}}
	done := make(chan struct{})
	go func() { defer close(done); b.loop() }()
	t.Cleanup(func() { _ = b.conn.Close(); <-done })
	return b
}

func (b *fakeBeacon) loop() {
	buf := make([]byte, 1<<16)
	for {
		nr, src, err := b.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		m, err := beaconmsg.Parse(buf[:nr])
		if err != nil {
			continue
		}
		switch m := m.(type) {
		case beaconmsg.Discover:
			if m.Records() {
				b.mu.Lock()
				b.eps[m.Node] = src
				b.mu.Unlock()
			}
			out, _ := beaconmsg.DiscoverReply{Endpoint: src}.AppendTo(nil)
			_, _ = b.conn.WriteToUDPAddrPort(out, src)
		case beaconmsg.PunchRequest:
			b.mu.Lock()
			b.eps[m.Requester] = src
			target, ok := b.eps[m.Target]
			b.punches++
			b.mu.Unlock()
			if !ok {
				continue
			}
			toR, _ := beaconmsg.PunchCommand{Endpoint: target}.AppendTo(nil)
			toT, _ := beaconmsg.PunchCommand{Endpoint: src}.AppendTo(nil)
			_, _ = b.conn.WriteToUDPAddrPort(toR, src)
			_, _ = b.conn.WriteToUDPAddrPort(toT, target)
		case beaconmsg.Relay:
			if beaconmsg.CheckRelayFrame(m.Frame) != nil {
				continue
			}
			b.mu.Lock()
			dst, ok := b.eps[m.Dest]
			b.relayed++
			b.mu.Unlock()
			if ok {
				out, _ := m.Deliver().AppendTo(nil)
				_, _ = b.conn.WriteToUDPAddrPort(out, dst)
			}
		}
	}
}

func (b *fakeBeacon) relayCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.relayed
}
