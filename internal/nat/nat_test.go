package nat

import (
	"context"
	"crypto/ed25519"
	"errors"
	"net/netip"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/wire/beaconmsg"
	"github.com/pilot-go/pilot/internal/wire/frame"
)

var (
	beacon  = netip.MustParseAddrPort("192.0.2.10:9001")
	peerEP  = netip.MustParseAddrPort("198.51.100.2:4000")
	otherEP = netip.MustParseAddrPort("198.51.100.3:4000")
)

type sent struct {
	at time.Time
	b  []byte
	to netip.AddrPort
}

// recorder is Config.Send capturing every datagram.
type recorder struct {
	mu  sync.Mutex
	out []sent
}

func (r *recorder) send(b []byte, to netip.AddrPort) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.out = append(r.out, sent{time.Now(), append([]byte(nil), b...), to})
	return nil
}

func (r *recorder) take() []sent {
	r.mu.Lock()
	defer r.mu.Unlock()
	o := r.out
	r.out = nil
	return o
}

type harness struct {
	c     *Client
	rec   *recorder
	key   ed25519.PrivateKey
	mu    sync.Mutex
	moves [][2]netip.AddrPort
	cands map[addr.NodeID][]netip.AddrPort
}

// start builds a Client and runs it until the test ends (inside a bubble).
func start(t *testing.T) *harness {
	t.Helper()
	_, key, _ := ed25519.GenerateKey(nil)
	h := &harness{rec: &recorder{}, key: key, cands: map[addr.NodeID][]netip.AddrPort{}}
	c, err := New(Config{
		Beacon: beacon,
		Send:   h.rec.send,
		Key:    func() ed25519.PrivateKey { return key },
		OnEndpoint: func(old, cur netip.AddrPort) {
			h.mu.Lock()
			h.moves = append(h.moves, [2]netip.AddrPort{old, cur})
			h.mu.Unlock()
		},
		OnCandidate: func(p addr.NodeID, ep netip.AddrPort) {
			h.mu.Lock()
			h.cands[p] = append(h.cands[p], ep)
			h.mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	h.c = c
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return h
}

func msg(t *testing.T, m beaconmsg.Message) []byte {
	t.Helper()
	b, err := m.AppendTo(nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDiscover_StartUp: node-0 Discover padded to 21 bytes, 1 s wait, at
// most 3 attempts (beacon.md §3.2).
func TestDiscover_StartUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := start(t)
		t0 := time.Now()
		_, err := h.c.Discover(context.Background())
		if !errors.Is(err, ErrNoReply) || time.Since(t0) != 3*StartWait {
			t.Fatalf("err %v after %v, want ErrNoReply after 3 s", err, time.Since(t0))
		}
		out := h.rec.take()
		if len(out) != StartAttempts {
			t.Fatalf("%d discovers, want %d", len(out), StartAttempts)
		}
		for _, s := range out {
			if len(s.b) != beaconmsg.DiscoverPaddedLen || s.b[0] != 0x01 || s.to != beacon {
				t.Fatalf("discover %x to %v", s.b, s.to)
			}
		}

		go func() {
			time.Sleep(1500 * time.Millisecond) // the second attempt gets answered
			h.c.Handle(msg(t, beaconmsg.DiscoverReply{Endpoint: peerEP}), beacon)
		}()
		ep, err := h.c.Discover(context.Background())
		if err != nil || ep != peerEP || h.c.Observed() != peerEP {
			t.Fatalf("discover = %v, %v", ep, err)
		}
	})
}

// TestDiscover_SignedEvery25s: after SetNode, a signed Discover at once and
// then every 25 s ± 10 %.
func TestDiscover_SignedEvery25s(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := start(t)
		h.c.SetNode(686)
		time.Sleep(101 * time.Second)
		out := h.rec.take()
		if len(out) < 4 || len(out) > 5 {
			t.Fatalf("%d discovers in 101 s, want 4–5", len(out))
		}
		for i, s := range out {
			m, err := beaconmsg.Parse(s.b)
			d, ok := m.(beaconmsg.Discover)
			if err != nil || !ok || d.Form != beaconmsg.DiscoverSigned || d.Node != 686 || !d.Verify(h.key.Public().(ed25519.PublicKey)) {
				t.Fatalf("discover %d: %x (%v)", i, s.b, err)
			}
			if i > 0 {
				gap := s.at.Sub(out[i-1].at)
				if gap < DiscoverInterval*9/10 || gap > DiscoverInterval*11/10 {
					t.Fatalf("gap %v outside 25 s ± 10 %%", gap)
				}
			}
		}
	})
}

// TestPunch_RequestAndCommand: a punch request is preceded by a fresh
// discover when the last is older than 10 s and is 21 bytes; a punch
// command yields 3 PILP 20 ms apart and, within 5 s of our request, a
// candidate for the requested peer.
func TestPunch_RequestAndCommand(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := start(t)
		h.c.SetNode(686)
		synctest.Wait()
		h.rec.take()
		if err := h.c.RequestPunch(687, peerEP.Addr()); err != nil {
			t.Fatal(err)
		}
		if out := h.rec.take(); len(out) != 1 || len(out[0].b) != beaconmsg.PunchRequestPaddedLen || out[0].b[0] != 0x03 {
			t.Fatalf("fresh discover: got %d datagrams %v", len(out), out)
		}
		time.Sleep(FreshDiscover + time.Second)
		_ = h.c.RequestPunch(687, peerEP.Addr())
		out := h.rec.take()
		if len(out) != 2 || out[0].b[0] != 0x01 || out[1].b[0] != 0x03 {
			t.Fatalf("stale discover: %v", out)
		}
		h.c.Handle(msg(t, beaconmsg.PunchCommand{Endpoint: peerEP}), beacon)
		time.Sleep(time.Second)
		out = h.rec.take()
		if len(out) != PunchBurst {
			t.Fatalf("%d PILP, want %d", len(out), PunchBurst)
		}
		for i, s := range out {
			if string(s.b) != string(frame.MagicPILP[:]) || s.to != peerEP {
				t.Fatalf("PILP %x to %v", s.b, s.to)
			}
			if i > 0 && s.at.Sub(out[i-1].at) != PunchGap {
				t.Fatalf("PILP gap %v", s.at.Sub(out[i-1].at))
			}
		}
		time.Sleep(PunchWindow)
		h.c.Handle(msg(t, beaconmsg.PunchCommand{Endpoint: otherEP}), beacon) // too late
		h.mu.Lock()
		defer h.mu.Unlock()
		if got := h.cands[687]; len(got) != 1 || got[0] != peerEP {
			t.Fatalf("candidates %v, want [%v]", got, peerEP)
		}
	})
}

// TestPunch_RateLimit: at most 10 punch commands are handled per second.
func TestPunch_RateLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := start(t)
		for range 25 {
			h.c.Handle(msg(t, beaconmsg.PunchCommand{Endpoint: peerEP}), beacon)
		}
		time.Sleep(2 * time.Second)
		if n := len(h.rec.take()); n != PunchRate*PunchBurst {
			t.Fatalf("%d PILP, want %d", n, PunchRate*PunchBurst)
		}
		if s := h.c.Stats(); s.PunchesDropped != 15 {
			t.Fatalf("dropped %d, want 15", s.PunchesDropped)
		}
	})
}

// TestHandle_OnlyFromBeacon: beacon messages from any other source, and
// types a daemon never receives, are dropped; 0x06 is returned; a changed
// observed endpoint is reported.
func TestHandle_OnlyFromBeacon(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := start(t)
		inner := append(frame.MagicPILS[:], make([]byte, 70)...)
		deliver := msg(t, beaconmsg.RelayDeliver{Sender: 687, Frame: inner})
		if _, ok := h.c.Handle(deliver, otherEP); ok {
			t.Fatal("relay delivery from a stranger accepted")
		}
		if _, ok := h.c.Handle(msg(t, beaconmsg.DiscoverReply{Endpoint: otherEP}), otherEP); ok || h.c.Observed().IsValid() {
			t.Fatal("discover reply from a stranger recorded")
		}
		d, ok := h.c.Handle(deliver, beacon)
		if !ok || d.Sender != 687 || string(d.Frame) != string(inner) {
			t.Fatalf("relay delivery: %v %+v", ok, d)
		}
		for _, m := range []beaconmsg.Message{
			beaconmsg.Discover{Node: 5},
			beaconmsg.PunchRequest{Requester: 1, Target: 2},
			beaconmsg.Relay{Sender: 1, Dest: 2, Frame: inner},
			beaconmsg.Sync{Beacon: 1},
		} {
			if _, ok := h.c.Handle(msg(t, m), beacon); ok {
				t.Fatalf("%v accepted", m.Type())
			}
		}
		h.c.Handle(msg(t, beaconmsg.DiscoverReply{Endpoint: peerEP}), beacon)
		h.c.Handle(msg(t, beaconmsg.DiscoverReply{Endpoint: peerEP}), beacon)
		h.c.Handle(msg(t, beaconmsg.DiscoverReply{Endpoint: otherEP}), beacon)
		h.mu.Lock()
		defer h.mu.Unlock()
		if len(h.moves) != 1 || h.moves[0] != [2]netip.AddrPort{peerEP, otherEP} {
			t.Fatalf("endpoint moves %v", h.moves)
		}
		if s := h.c.Stats(); s.NotFromBeacon != 2 || s.MalformedOrType != 4 {
			t.Fatalf("stats %+v", s)
		}
	})
}

// TestRelay_Encapsulation: 05 ‖ own ID ‖ peer ‖ frame to the beacon.
func TestRelay_Encapsulation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := start(t)
		h.c.SetNode(686)
		synctest.Wait()
		h.rec.take()
		fr := append(frame.MagicPILA[:], make([]byte, 132)...)
		if err := h.c.Relay(make([]byte, 0, 256), 687, fr); err != nil {
			t.Fatal(err)
		}
		out := h.rec.take()
		want := msg(t, beaconmsg.Relay{Sender: 686, Dest: 687, Frame: fr})
		if len(out) != 1 || string(out[0].b) != string(want) || out[0].to != beacon {
			t.Fatalf("relay %v", out)
		}
	})
}

// FuzzHandle: arbitrary datagrams from the beacon never panic, and a
// returned relay delivery re-encodes to the input.
func FuzzHandle(f *testing.F) {
	for _, m := range []beaconmsg.Message{
		beaconmsg.DiscoverReply{Endpoint: peerEP},
		beaconmsg.PunchCommand{Endpoint: peerEP},
		beaconmsg.RelayDeliver{Sender: 687, Frame: frame.MagicPILS[:]},
		beaconmsg.Discover{Node: 1},
	} {
		b, _ := m.AppendTo(nil)
		f.Add(b)
	}
	c, err := New(Config{Beacon: beacon, Send: func([]byte, netip.AddrPort) error { return nil }})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, ok := c.Handle(b, beacon)
		if !ok {
			return
		}
		again, err := d.AppendTo(nil)
		if err != nil || string(again) != string(b) {
			t.Fatalf("relay delivery %x re-encodes to %x (%v)", b, again, err)
		}
	})
}
