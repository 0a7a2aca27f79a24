package tunnel

import (
	"crypto/ecdh"
	"encoding/binary"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/netsim"
	"github.com/pilot-go/pilot/internal/tunnel/session"
	"github.com/pilot-go/pilot/internal/wire/beaconmsg"
	"github.com/pilot-go/pilot/internal/wire/frame"
)

func mustWrite(t testing.TB, c netsim.PacketConn, b []byte, to netip.AddrPort) {
	t.Helper()
	if _, err := c.WriteToUDPAddrPort(b, to); err != nil {
		t.Fatal(err)
	}
}

func epOf(ip netip.Addr) netip.AddrPort { return netip.AddrPortFrom(ip, 4000) }

// signedPILA builds a PILA for node signed by ident's key.
func signedPILA(t testing.TB, n *node, sender addr.NodeID) []byte {
	t.Helper()
	k, err := ecdh.X25519().GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	var pub [32]byte
	copy(pub[:], k.PublicKey().Bytes())
	f, err := session.SignPILA(n.ident.PrivateKey(), sender, pub)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := f.AppendTo(nil)
	return b
}

// TestWire_C6_RegistryKeyMismatchThenRotation: a PILA whose Ed25519 key is
// not the registry's is dropped; after the peer rotates its key, its next
// PILA is accepted after one registry refresh.
func TestWire_C6_RegistryKeyMismatchThenRotation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, netsim.LinkConfig{Delay: time.Millisecond})
		reg := newRegistry()
		a, b := pair(t, n, reg)

		// An impostor claims node 700, registered with another key.
		mustHost(t, n, pubX)
		raw := listen(t, n, pubX, 4000)
		impostor := &node{ident: newIdentity(t)}
		reg.set(700, newIdentity(t).PublicKey(), epOf(pubX))
		mustWrite(t, raw, signedPILA(t, impostor, 700), epOf(pubA))
		waitUntil(t, time.Second, "PILA rejected", func() bool { return a.m.Counters().KeyExchangeRejected == 1 })
		if _, ok := a.m.Peer(700); ok {
			t.Fatal("impostor got a crypto state")
		}

		establish(t, a, b)
		lookups := reg.lookups.Load()
		time.Sleep(KeyRefetch) // past the refetch limit (TestWire_C6_RotationResumesPromptly: inside it)

		// B rotates its identity: registry first, then the tunnel (trigger (e)).
		next := newIdentity(t)
		reg.set(b.id, next.PublicKey(), netip.AddrPort{})
		b.ident = next
		b.m.RotateIdentity(next)
		waitUntil(t, 2*time.Second, "rekey confirmed", func() bool {
			s, _ := b.m.Peer(a.id)
			return s.Rekeys == 1 && !b.m.lockedRekeyPending(a.id)
		})
		if got := reg.lookups.Load() - lookups; got != 1 {
			t.Fatalf("%d registry lookups for the rotation, want 1", got)
		}
		_ = b.m.Send(a.id, datagram(b.id, a.id, "rotated"))
		a.mustRecv("rotated", time.Second)
	})
}

// lockedRekeyPending reports whether a rekey with id awaits confirmation.
func (m *Manager) lockedRekeyPending(id addr.NodeID) bool {
	p := m.lookupPeer(id)
	if p == nil {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rekeyPending
}

// TestWire_C7_PILKFromRegisteredNode: a PILK from a registered node is
// answered with our PILA and changes nothing; a PILK never replaces an
// authenticated state. A PILK from an unregistered node builds an
// unauthenticated state.
func TestWire_C7_PILKFromRegisteredNode(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, netsim.LinkConfig{Delay: time.Millisecond})
		reg := newRegistry()
		a, b := pair(t, n, reg)
		mustHost(t, n, pubX)
		raw := listen(t, n, pubX, 4000)
		pilk := func(sender addr.NodeID) []byte {
			k, _ := ecdh.X25519().GenerateKey(nil)
			f := frame.PILK{Sender: sender}
			copy(f.X25519[:], k.PublicKey().Bytes())
			out, _ := f.AppendTo(nil)
			return out
		}
		reg.set(800, newIdentity(t).PublicKey(), netip.AddrPort{})
		mustWrite(t, raw, pilk(800), epOf(pubA))
		buf := make([]byte, 2048)
		_ = raw.SetReadDeadline(time.Now().Add(time.Second))
		nr, _, err := raw.ReadFromUDPAddrPort(buf)
		if err != nil || frame.Classify(buf[:nr]) != frame.KindPILA {
			t.Fatalf("PILK from a registered node: got %x, %v; want our PILA", buf[:nr], err)
		}
		if s, ok := a.m.Peer(800); ok && s.Encrypted {
			t.Fatal("PILK from a registered node built a state")
		}

		establish(t, a, b)
		mustWrite(t, raw, pilk(b.id), epOf(pubA)) // spoofed PILK for an authenticated peer
		synctest.Wait()
		time.Sleep(100 * time.Millisecond)
		if s, _ := a.m.Peer(b.id); !s.Authenticated || s.Endpoint != epOf(pubB) {
			t.Fatalf("PILK changed the authenticated state: %+v", s)
		}
		_ = b.m.Send(a.id, datagram(b.id, a.id, "still"))
		a.mustRecv("still", time.Second)

		mustWrite(t, raw, pilk(900), epOf(pubA)) // unregistered: unauthenticated state
		waitUntil(t, time.Second, "PILK state", func() bool {
			s, ok := a.m.Peer(900)
			return ok && s.Encrypted && !s.Authenticated && s.Auth == "pilk"
		})
	})
}

// TestWire_C9_ReplayAndForgery: a replayed PILS is dropped; a forged PILS
// with counter 2^63 does not make later genuine frames "too old"; garbage
// under a known sender gets at most a rate-limited recovery PILA.
func TestWire_C9_ReplayAndForgery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, netsim.LinkConfig{Delay: time.Millisecond})
		a, b := pair(t, n, newRegistry())
		establish(t, a, b)
		b.tap.mu.Lock()
		captured := append([]byte(nil), b.tap.frames[len(b.tap.frames)-1]...) // the "hello-a" PILS
		b.tap.mu.Unlock()

		mustHost(t, n, pubX)
		raw := listen(t, n, pubX, 4000)
		mustWrite(t, raw, captured, epOf(pubA))
		a.expectNone(200 * time.Millisecond)
		if c := a.m.Counters(); c.Replays != 1 {
			t.Fatalf("replays = %d, want 1", c.Replays)
		}
		select {
		case e, ok := <-waitEvent(a, EventNonceReplay):
			if !ok || e.Peer != b.id {
				t.Fatalf("replay event %+v", e)
			}
		case <-time.After(time.Second):
			t.Fatal("no security.nonce_replay event")
		}

		forged := append([]byte(nil), captured...)
		binary.BigEndian.PutUint64(forged[12:20], 1<<63)
		forged[len(forged)-1] ^= 1
		mustWrite(t, raw, forged, epOf(pubA))
		synctest.Wait()
		time.Sleep(10 * time.Millisecond)
		if c := a.m.Counters(); c.EncryptionFailure != 1 {
			t.Fatalf("forged frame: failures = %d, want 1", c.EncryptionFailure)
		}
		_ = b.m.Send(a.id, datagram(b.id, a.id, "genuine"))
		a.mustRecv("genuine", time.Second)
		if s, _ := a.m.Peer(b.id); s.Endpoint != epOf(pubB) {
			t.Fatalf("endpoint moved to %v by an injected frame", s.Endpoint)
		}
	})
}

// waitEvent returns a channel yielding the first event named name within
// 5 s (closed without a value otherwise).
func waitEvent(n *node, name string) <-chan Event {
	ch := make(chan Event, 1)
	go func() {
		defer close(ch)
		deadline := time.After(5 * time.Second)
		for {
			select {
			case e := <-n.events:
				if e.Name == name {
					ch <- e
					return
				}
			case <-deadline:
				return
			}
		}
	}()
	return ch
}

// TestWire_C12_InnerSourceMismatch: a PILS whose inner source node differs
// from its sender field is dropped after decryption; so is one addressed
// to another node or to a network we are not a member of.
func TestWire_C12_InnerSourceMismatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, netsim.LinkConfig{Delay: time.Millisecond})
		a, b := pair(t, n, newRegistry())
		establish(t, a, b)
		_ = b.m.Send(a.id, datagram(999, a.id, "spoofed-source"))
		_ = b.m.Send(a.id, datagram(b.id, 555, "other-destination"))
		bad := datagram(b.id, a.id, "foreign-network")
		bad.Dst = addr.New(7, a.id)
		_ = b.m.Send(a.id, bad)
		a.expectNone(200 * time.Millisecond)
		if c := a.m.Counters(); c.InnerDrops != 3 || c.Opened < 4 {
			t.Fatalf("inner drops %d (opened %d), want 3", c.InnerDrops, c.Opened)
		}
	})
}

// TestWire_RelayAndBeaconSourceChecks: a relay delivery whose inner sender
// differs from the relay sender is dropped (§7.5), and beacon messages from
// anyone but the configured beacon are dropped (§4.1).
func TestWire_RelayAndBeaconSourceChecks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, netsim.LinkConfig{Delay: time.Millisecond})
		reg := newRegistry()
		mustHost(t, n, pubA, pubB, pubX, beaconIP)
		bcn := listen(t, n, beaconIP, beaconEP.Port())
		a := startNode(t, listen(t, n, pubA, 4000), 686, reg, nodeOpts{beacon: true, noDiscov: true})
		b := startNode(t, listen(t, n, pubB, 4000), 687, reg, nodeOpts{})
		establish(t, a, b)
		_ = b.m.Send(a.id, datagram(b.id, a.id, "fresh"))
		a.mustRecv("fresh", time.Second)
		b.tap.mu.Lock()
		fr := append([]byte(nil), b.tap.frames[len(b.tap.frames)-1]...)
		b.tap.mu.Unlock()

		before := a.m.Counters()
		spoofed, _ := beaconmsg.RelayDeliver{Sender: 999, Frame: fr}.AppendTo(nil)
		mustWrite(t, bcn, spoofed, epOf(pubA))
		raw := listen(t, n, pubX, 4000)
		genuine, _ := beaconmsg.RelayDeliver{Sender: b.id, Frame: fr}.AppendTo(nil)
		mustWrite(t, raw, genuine, epOf(pubA)) // not from the beacon
		reply, _ := beaconmsg.DiscoverReply{Endpoint: epOf(pubX)}.AppendTo(nil)
		mustWrite(t, raw, reply, epOf(pubA))
		a.expectNone(200 * time.Millisecond)
		after := a.m.Counters()
		if after.Dropped != before.Dropped+1 || after.Replays != before.Replays || a.m.ObservedEndpoint().IsValid() {
			t.Fatalf("before %+v\nafter %+v observed %v", before, after, a.m.ObservedEndpoint())
		}
		if s := a.m.NAT().Stats(); s.NotFromBeacon != 2 {
			t.Fatalf("nat stats %+v", s)
		}
		if relayed(a, b.id) {
			t.Fatal("spoofed relay delivery switched the path")
		}
	})
}

// TestWire_ReceiveRateLimits: at most 20 PILA/s per source IP (burst 40)
// reach the worker pool, and undecryptable PILS get at most one recovery
// PILA per peer per 2 s.
func TestWire_ReceiveRateLimits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, netsim.LinkConfig{})
		reg := newRegistry()
		mustHost(t, n, pubA, pubX)
		a := startNode(t, listen(t, n, pubA, 4000), 686, reg, nodeOpts{})
		raw := listen(t, n, pubX, 4000)
		imp := &node{ident: newIdentity(t)}
		for i := range 60 {
			mustWrite(t, raw, signedPILA(t, imp, addr.NodeID(2000+i)), epOf(pubA))
		}
		synctest.Wait()
		if c := a.m.Counters(); c.RateLimited != 60-srcBurst {
			t.Fatalf("rate limited %d, want %d", c.RateLimited, 60-srcBurst)
		}
		garbage := make([]byte, 100)
		copy(garbage, frame.MagicPILS[:])
		binary.BigEndian.PutUint32(garbage[4:8], 3000)
		garbage[19] = 1
		for range 10 {
			mustWrite(t, raw, garbage, epOf(pubA))
		}
		synctest.Wait()
		if c := a.m.Counters(); c.Recoveries != 1 || c.EncryptionFailure != 10 {
			t.Fatalf("recoveries %d failures %d, want 1 and 10", c.Recoveries, c.EncryptionFailure)
		}
		time.Sleep(2 * time.Second)
		mustWrite(t, raw, garbage, epOf(pubA))
		synctest.Wait()
		if c := a.m.Counters(); c.Recoveries != 2 {
			t.Fatalf("recoveries %d after 2 s, want 2", c.Recoveries)
		}
	})
}

// TestWire_QueueBytesBound: a peer's queue holds at most 256 KiB.
func TestWire_QueueBytesBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, netsim.LinkConfig{})
		mustHost(t, n, pubA)
		reg := newRegistry()
		a := startNode(t, listen(t, n, pubA, 4000), 686, reg, nodeOpts{})
		reg.mu.Lock()
		reg.unreachable = true
		reg.mu.Unlock()
		pk := datagram(686, 5000, string(make([]byte, 8192)))
		for range 40 {
			_ = a.m.Send(5000, pk)
		}
		s, _ := a.m.Peer(5000)
		if want := QueueBytes / (8192 + 34); s.Queued != want {
			t.Fatalf("queued %d, want %d", s.Queued, want)
		}
	})
}

// §6.4 step 4 "A later valid PILA replaces the state": a peer that was
// accepted unauthenticated (PILK, not registered) registers and sends a
// valid PILA over the same X25519 key, as the original does (one key for
// its whole life, §5.1): the state becomes authenticated.
func TestWire_PILAAfterPILKWithTheSameKeyAuthenticates(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, netsim.LinkConfig{Delay: time.Millisecond})
		reg := newRegistry()
		a, _ := pair(t, n, reg)
		mustHost(t, n, pubX)
		raw := listen(t, n, pubX, 4000)
		k, _ := ecdh.X25519().GenerateKey(nil)
		var x [32]byte
		copy(x[:], k.PublicKey().Bytes())
		f := frame.PILK{Sender: 900, X25519: x}
		pk, _ := f.AppendTo(nil)
		mustWrite(t, raw, pk, epOf(pubA))
		waitUntil(t, time.Second, "PILK state", func() bool {
			s, ok := a.m.Peer(900)
			return ok && s.Encrypted && !s.Authenticated && s.Auth == "pilk"
		})
		id := newIdentity(t)
		reg.set(900, id.PublicKey(), netip.AddrPort{})
		time.Sleep(KeyRefetch + time.Second) // past the cached not_found
		pa, _ := session.SignPILA(id.PrivateKey(), 900, x)
		b, _ := pa.AppendTo(nil)
		mustWrite(t, raw, b, epOf(pubA))
		waitUntil(t, time.Second, "authenticated by the PILA", func() bool {
			s, _ := a.m.Peer(900)
			return s.Authenticated && s.Auth == "pila"
		})
	})
}
