package netsim

import (
	"net/netip"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// noNAT marks a peer on a public address in the punching matrix.
const noNAT NATType = 0

// punchOutcome is what the tunnel layer may expect from hole punching
// between two peers (beacon.md §5, §12.2, §12.3): direct works unless one
// side is symmetric and the other filters by port (port-restricted or
// symmetric), in which case the daemons must fall back to the relay.
func punchOutcome(a, b NATType) bool {
	if a == Symmetric {
		a, b = b, a
	}
	return !(b == Symmetric && (a == PortRestricted || a == Symmetric))
}

// TestPunchMatrix runs the STUN-like sequence for every pairing: each peer
// learns its observed endpoint from the beacon, the peers then send to each
// other's observed endpoint simultaneously, and each answers any punch it
// receives to the source it came from (wire.md §7.1: the source of the
// peer's first frame becomes its endpoint). The path is direct when both
// peers hear from each other.
func TestPunchMatrix(t *testing.T) {
	types := []NATType{noNAT, FullCone, AddressRestricted, PortRestricted, Symmetric}
	for _, ta := range types {
		for _, tb := range types {
			name := natName(ta) + "/" + natName(tb)
			t.Run(name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					aHeard, bHeard := punch(t, ta, tb)
					want := punchOutcome(ta, tb)
					if got := aHeard && bHeard; got != want {
						t.Fatalf("direct path = %v (A heard B: %v, B heard A: %v), want %v",
							got, aHeard, bHeard, want)
					}
				})
			})
		}
	}
}

func natName(t NATType) string {
	if t == noNAT {
		return "public"
	}
	return t.String()
}

// punch builds beacon + two peers on a 10 ms internet and runs one punching
// attempt, reporting whether each peer received anything from the other.
func punch(t *testing.T, ta, tb NATType) (aHeard, bHeard bool) {
	n := newNet(t, Config{Seed: 11, Link: LinkConfig{Delay: 10 * time.Millisecond}})
	mustHost(t, n, beaconIP)
	peer := func(typ NATType, pub, priv netip.Addr) *Conn {
		if typ == noNAT {
			mustHost(t, n, pub)
			return listen(t, n, pub, 4000)
		}
		mustNAT(t, n, NATConfig{Public: pub, Type: typ}, priv)
		return listen(t, n, priv, 4000)
	}
	a, b := peer(ta, natPubA, privA), peer(tb, natPubB, privB)
	bc := listen(t, n, beaconIP, 9001)
	ea, eb := discover(t, a, bc), discover(t, b, bc)

	var wg sync.WaitGroup
	run := func(c *Conn, target netip.AddrPort, otherIP netip.Addr, heard *bool) {
		defer wg.Done()
		for range 3 {
			send(t, c, "punch", target)
		}
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		buf := make([]byte, 16)
		for {
			got, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				if !isTimeout(err) {
					t.Errorf("read: %v", err)
				}
				return
			}
			if from.Addr() != otherIP {
				t.Errorf("datagram from unexpected %v", from)
				continue
			}
			*heard = true
			if string(buf[:got]) == "punch" {
				send(t, c, "ack", from)
			}
		}
	}
	wg.Add(2)
	go run(a, eb, eb.Addr(), &aHeard)
	go run(b, ea, ea.Addr(), &bHeard)
	wg.Wait()
	return aHeard, bHeard
}

// TestPunchOutcomeTable pins the expected pairings named in the design: the
// tunnel tests choose direct or relay from this table.
func TestPunchOutcomeTable(t *testing.T) {
	for _, tc := range []struct {
		a, b NATType
		want bool
	}{
		{FullCone, FullCone, true},
		{AddressRestricted, PortRestricted, true},
		{PortRestricted, PortRestricted, true},
		{Symmetric, FullCone, true},
		{Symmetric, AddressRestricted, true},
		{Symmetric, noNAT, true},
		{Symmetric, PortRestricted, false},
		{PortRestricted, Symmetric, false},
		{Symmetric, Symmetric, false},
	} {
		if got := punchOutcome(tc.a, tc.b); got != tc.want {
			t.Errorf("punchOutcome(%v, %v) = %v, want %v", natName(tc.a), natName(tc.b), got, tc.want)
		}
	}
}
