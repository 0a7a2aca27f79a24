package tunnel

import (
	"crypto/ed25519"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/netsim"
	"github.com/pilot-go/pilot/internal/wire/frame"
	"github.com/pilot-go/pilot/internal/wire/packet"
)

// TestWire_C6_RotationResumesPromptly (§6.3 step 6, §6.9 trigger (e),
// cli.md §4.8): B rotates its identity key right after A fetched B's key,
// well inside the 30 s refetch limit. B sends its new PILA, signed with the
// new key, to A at once; A refetches the key on this first mismatch instead
// of dropping the PILA until the limit ends, so A's pings to B are answered
// again within 1 s of virtual time, with one registry lookup and no PILA
// rejected.
func TestWire_C6_RotationResumesPromptly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, netsim.LinkConfig{Delay: time.Millisecond})
		reg := newRegistry()
		a, b := pair(t, n, reg)
		// B makes first contact: A, which never resolved B, looks B's key
		// up for B's first PILA, so the 30 s refetch limit is running.
		establish(t, b, a)
		lookups, rejected := reg.lookups.Load(), a.m.Counters().KeyExchangeRejected
		sent := b.tap.count(frame.KindPILA)

		next := newIdentity(t)
		reg.set(b.id, next.PublicKey(), netip.AddrPort{}) // registry first (cli.md §4.8)
		b.ident = next
		t0 := time.Now()
		b.m.RotateIdentity(next)

		// Trigger (e): the new PILA left during RotateIdentity, signed
		// with the new key.
		b.tap.mu.Lock()
		newPILAs := b.tap.kinds[frame.KindPILA] - sent
		lastID := b.tap.pilaID[len(b.tap.pilaID)-1]
		b.tap.mu.Unlock()
		if newPILAs != 1 || !next.PublicKey().Equal(ed25519.PublicKey(lastID[:])) {
			t.Fatalf("RotateIdentity sent %d PILAs (last signed by %x), want 1 with the new key", newPILAs, lastID)
		}

		// A pings B until a reply comes back (B answers under its new state).
		for seq := uint32(1); ; seq++ {
			ping := &packet.Packet{Protocol: packet.ProtoControl, Src: addr.New(0, a.id), Dst: addr.New(0, b.id),
				SrcPort: 1234, Seq: seq, Payload: []byte("echo")}
			if err := a.m.Send(b.id, ping); err != nil {
				t.Fatal(err)
			}
			in, ok := a.recv(100 * time.Millisecond)
			if ok && in.pk.Protocol == packet.ProtoControl && in.pk.Flags.Has(packet.FlagACK) {
				break
			}
			if d := time.Since(t0); d > 10*time.Second {
				t.Fatalf("no echo %v after the rotation (counters %+v)", d, a.m.Counters())
			}
		}
		if d := time.Since(t0); d > time.Second {
			t.Fatalf("echo resumed %v after the rotation, want ≤ 1 s", d)
		}
		if got := reg.lookups.Load() - lookups; got != 1 {
			t.Fatalf("%d registry lookups for the rotation, want 1", got)
		}
		if got := a.m.Counters().KeyExchangeRejected - rejected; got != 0 {
			t.Fatalf("%d PILAs rejected during the rotation, want 0", got)
		}
		if s, _ := a.m.Peer(b.id); !s.Authenticated {
			t.Fatalf("A's state with B after the rotation: %+v", s)
		}
	})
}
