package netsim

import (
	"net/netip"
	"testing"
	"testing/synctest"
	"time"
)

var (
	server1 = netip.MustParseAddr("192.0.2.11")
	server2 = netip.MustParseAddr("192.0.2.12")
)

// TestNATFiltering: host A behind each NAT type sends one datagram to S1:1000.
// Which senders can then reach A through the public endpoint S1 observed?
func TestNATFiltering(t *testing.T) {
	type senders struct{ sameEndpoint, samePortOtherIP, sameIPOtherPort, otherIPOtherPort bool }
	for _, tc := range []struct {
		typ  NATType
		want senders
	}{
		{FullCone, senders{true, true, true, true}},
		{AddressRestricted, senders{true, false, true, false}},
		{PortRestricted, senders{true, false, false, false}},
		{Symmetric, senders{true, false, false, false}},
	} {
		t.Run(tc.typ.String(), func(t *testing.T) {
			n := newNet(t, Config{})
			mustHost(t, n, server1, server2)
			nat := mustNAT(t, n, NATConfig{Public: natPubA, Type: tc.typ}, privA)
			a := listen(t, n, privA, 4000)
			s1a, s1b := listen(t, n, server1, 1000), listen(t, n, server1, 2000)
			s2a, s2b := listen(t, n, server2, 1000), listen(t, n, server2, 2000)

			send(t, a, "out", s1a.LocalAddrPort())
			_, observed := recv(t, s1a)
			if observed.Addr() != nat.Public() {
				t.Fatalf("observed %v, want the NAT's address %v", observed, nat.Public())
			}
			for _, probe := range []struct {
				name string
				from *Conn
				want bool
			}{
				{"S1:1000 (contacted endpoint)", s1a, tc.want.sameEndpoint},
				{"S2:1000 (other IP, same port)", s2a, tc.want.samePortOtherIP},
				{"S1:2000 (same IP, other port)", s1b, tc.want.sameIPOtherPort},
				{"S2:2000 (other IP and port)", s2b, tc.want.otherIPOtherPort},
			} {
				before := a.Stats().Received
				filtered := n.PathStats(probe.from.LocalAddrPort().Addr(), nat.Public()).Dropped[DropFiltered]
				send(t, probe.from, "in", observed)
				got := a.Stats().Received == before+1
				if got != probe.want {
					t.Errorf("inbound from %s delivered = %v, want %v", probe.name, got, probe.want)
				}
				if !got && n.PathStats(probe.from.LocalAddrPort().Addr(), nat.Public()).Dropped[DropFiltered] != filtered+1 {
					t.Errorf("inbound from %s not counted as filtered", probe.name)
				}
				if got {
					if _, from := recv(t, a); from != probe.from.LocalAddrPort() {
						t.Errorf("A saw source %v, want %v", from, probe.from.LocalAddrPort())
					}
				}
			}
			// A public port the NAT never handed out reaches nobody.
			send(t, s1a, "in", netip.AddrPortFrom(nat.Public(), observed.Port()+1))
			if got := n.Stats().Dropped[DropNoMapping]; got != 1 {
				t.Errorf("no-mapping drops %d, want 1", got)
			}
		})
	}
}

// TestNATMapping: endpoint-independent types reuse the public port for every
// destination; a symmetric NAT allocates one per destination IP:port.
func TestNATMapping(t *testing.T) {
	for _, typ := range []NATType{FullCone, AddressRestricted, PortRestricted, Symmetric} {
		t.Run(typ.String(), func(t *testing.T) {
			n := newNet(t, Config{Seed: 3})
			mustHost(t, n, server1, server2)
			nat := mustNAT(t, n, NATConfig{Public: natPubA, Type: typ}, privA)
			a := listen(t, n, privA, 4000)
			dsts := []*Conn{listen(t, n, server1, 1000), listen(t, n, server1, 2000), listen(t, n, server2, 1000)}
			ports := map[uint16]bool{}
			for _, d := range dsts {
				ports[discover(t, a, d).Port()] = true
			}
			// Repeating a destination reuses its mapping.
			ports[discover(t, a, dsts[0]).Port()] = true
			want := 1
			if typ == Symmetric {
				want = len(dsts)
			}
			if len(ports) != want {
				t.Fatalf("%d distinct public ports for %d destinations, want %d", len(ports), len(dsts), want)
			}
			if got := len(nat.Mappings()); got != want {
				t.Fatalf("%d mappings, want %d", got, want)
			}
			for _, m := range nat.Mappings() {
				if m.Private != a.LocalAddrPort() || m.Public.Addr() != nat.Public() {
					t.Fatalf("mapping %+v", m)
				}
				if (typ == Symmetric) != m.Remote.IsValid() {
					t.Fatalf("mapping %+v: Remote set only for symmetric NATs", m)
				}
			}
		})
	}
}

// TestNATIdleExpiry runs on the bubble's virtual clock: a mapping lives for
// the idle timeout after its last outbound datagram, inbound traffic does not
// refresh it, and after expiry the host gets a new public port.
func TestNATIdleExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, Config{})
		mustHost(t, n, server1)
		nat := mustNAT(t, n, NATConfig{Public: natPubA, Type: PortRestricted}, privA)
		a, s := listen(t, n, privA, 4000), listen(t, n, server1, 1000)
		e1 := discover(t, a, s)
		inbound := func() bool {
			before := a.Stats().Received
			send(t, s, "in", e1)
			return a.Stats().Received == before+1
		}

		advance(DefaultMappingTimeout - time.Second)
		if !inbound() {
			t.Fatal("mapping gone before its idle timeout")
		}
		advance(time.Second) // inbound traffic did not refresh it
		if inbound() {
			t.Fatal("mapping alive after its idle timeout without outbound traffic")
		}
		if got := n.Stats().Dropped[DropNoMapping]; got != 1 {
			t.Fatalf("no-mapping drops %d, want 1", got)
		}
		if len(nat.Mappings()) != 0 {
			t.Fatalf("expired mapping still listed: %+v", nat.Mappings())
		}
		e2 := discover(t, a, s)
		if e2 == e1 {
			t.Fatalf("new mapping reused the expired public endpoint %v", e1)
		}

		// Outbound traffic refreshes: 20 s + 20 s of idleness never reaches 30 s.
		e1 = e2
		advance(20 * time.Second)
		send(t, a, "keepalive", s.LocalAddrPort())
		recv(t, s)
		advance(20 * time.Second)
		if !inbound() {
			t.Fatal("mapping expired although refreshed by outbound traffic")
		}
	})
}

// TestNATMappingTimeoutConfig: a configured timeout replaces the default.
func TestNATMappingTimeoutConfig(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, Config{})
		mustHost(t, n, server1)
		mustNAT(t, n, NATConfig{Public: natPubA, Type: FullCone, MappingTimeout: 5 * time.Second}, privA)
		a, s := listen(t, n, privA, 4000), listen(t, n, server1, 1000)
		e := discover(t, a, s)
		advance(5 * time.Second)
		send(t, s, "in", e)
		if got := n.Stats().Dropped[DropNoMapping]; got != 1 {
			t.Fatalf("no-mapping drops %d after the 5 s timeout, want 1", got)
		}
	})
}

// TestRebind: forcing a NAT rebinding changes the endpoint the beacon
// observes and kills the old one (beacon.md §12.4).
func TestRebind(t *testing.T) {
	n := newNet(t, Config{Seed: 5})
	mustHost(t, n, beaconIP, pubB)
	nat := mustNAT(t, n, NATConfig{Public: natPubA, Type: FullCone}, privA, privA2)
	bc, peer := listen(t, n, beaconIP, 9001), listen(t, n, pubB, 1)
	a, a2 := listen(t, n, privA, 4000), listen(t, n, privA2, 4000)

	e1, other := discover(t, a, bc), discover(t, a2, bc)
	if err := n.Rebind(privA); err != nil {
		t.Fatal(err)
	}
	send(t, peer, "old", e1)
	if got := n.Stats().Dropped[DropNoMapping]; got != 1 {
		t.Fatalf("datagram to the old endpoint: no-mapping drops %d, want 1", got)
	}
	e2 := discover(t, a, bc)
	if e2.Addr() != e1.Addr() || e2.Port() == e1.Port() {
		t.Fatalf("after rebind observed %v, before %v: want same IP, new port", e2, e1)
	}
	// The other host behind the same NAT kept its mapping.
	if got := discover(t, a2, bc); got != other {
		t.Fatalf("other host's endpoint moved from %v to %v", other, got)
	}
	// NAT.Rebind drops all of them.
	nat.Rebind()
	if got := discover(t, a2, bc); got == other {
		t.Fatalf("NAT.Rebind kept %v", got)
	}
	if err := n.Rebind(pubB); err == nil {
		t.Fatal("Rebind of a public host succeeded")
	}
	if err := n.Rebind(pubC); err == nil {
		t.Fatal("Rebind of an unknown host succeeded")
	}
}

func TestHairpin(t *testing.T) {
	for _, hairpin := range []bool{false, true} {
		n := newNet(t, Config{})
		mustHost(t, n, beaconIP)
		mustNAT(t, n, NATConfig{Public: natPubA, Type: FullCone, Hairpin: hairpin}, privA, privA2)
		bc := listen(t, n, beaconIP, 9001)
		a, b := listen(t, n, privA, 4000), listen(t, n, privA2, 4000)
		ea, eb := discover(t, a, bc), discover(t, b, bc)
		send(t, a, "hairpin", eb)
		if !hairpin {
			if ps := n.PathStats(privA, natPubA); ps.Dropped[DropHairpin] != 1 {
				t.Fatalf("hairpin off: %+v", ps)
			}
			continue
		}
		msg, from := recv(t, b)
		if msg != "hairpin" || from != ea {
			t.Fatalf("hairpin on: got %q from %v, want from %v", msg, from, ea)
		}
	}
}

// TestLAN: hosts behind the same NAT reach each other directly by private
// address (the lan_addrs candidate of wire.md §7.1); nobody else can.
func TestLAN(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, Config{Link: LinkConfig{Delay: 40 * time.Millisecond}})
		mustHost(t, n, pubC)
		mustNAT(t, n, NATConfig{Public: natPubA, Type: Symmetric, LAN: LinkConfig{Delay: time.Millisecond}}, privA, privA2)
		mustNAT(t, n, NATConfig{Public: natPubB, Type: FullCone}, privB)
		a, a2 := listen(t, n, privA, 4000), listen(t, n, privA2, 4000)
		b, c := listen(t, n, privB, 4000), listen(t, n, pubC, 4000)

		start := time.Now()
		send(t, a, "lan", a2.LocalAddrPort())
		msg, from := recv(t, a2)
		if msg != "lan" || from != a.LocalAddrPort() {
			t.Fatalf("got %q from %v", msg, from)
		}
		if got := time.Since(start); got != time.Millisecond {
			t.Fatalf("LAN delivery took %v, want the LAN's 1 ms", got)
		}
		send(t, b, "x", a2.LocalAddrPort())
		send(t, c, "x", a2.LocalAddrPort())
		if s := n.Stats(); s.Dropped[DropNoRoute] != 2 {
			t.Fatalf("private address reached from outside its LAN: %+v", s)
		}
		// Cut applies inside the LAN too (forces the public path).
		n.Cut(privA, privA2)
		send(t, a, "lan", a2.LocalAddrPort())
		if s := n.PathStats(privA, privA2); s.Dropped[DropDown] != 1 {
			t.Fatalf("LAN cut: %+v", s)
		}
	})
}

// TestFleetBehindOneNAT: several hosts share one public address with
// distinct ports, and the beacon can answer each of them.
func TestFleetBehindOneNAT(t *testing.T) {
	n := newNet(t, Config{})
	mustHost(t, n, beaconIP)
	mustNAT(t, n, NATConfig{Public: natPubA, Type: PortRestricted}, privA, privA2, privA3)
	bc := listen(t, n, beaconIP, 9001)
	seen := map[netip.AddrPort]netip.Addr{}
	for _, ip := range []netip.Addr{privA, privA2, privA3} {
		c := listen(t, n, ip, 4000) // same private port on every host
		e := discover(t, c, bc)
		if e.Addr() != natPubA {
			t.Fatalf("%v observed as %v", ip, e)
		}
		if prev, dup := seen[e]; dup {
			t.Fatalf("%v and %v share public endpoint %v", prev, ip, e)
		}
		seen[e] = ip
		send(t, bc, "reply", e)
		if msg, _ := recv(t, c); msg != "reply" {
			t.Fatalf("%v got %q", ip, msg)
		}
	}
}
