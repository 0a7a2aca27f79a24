package session

import (
	"bytes"
	"crypto/ecdh"
	"encoding/binary"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/wire/frame"
	"github.com/pilot-go/pilot/internal/wire/packet"
)

// testPacket returns a marshalled packet from 686 to 687 carrying payload.
func testPacket(t testing.TB, seq uint32, payload []byte) []byte {
	t.Helper()
	p := packet.Packet{Flags: packet.FlagACK, Protocol: packet.ProtoStream,
		Src: addr.New(0, nodeA), Dst: addr.New(0, nodeB), SrcPort: 1000, DstPort: 2000,
		Seq: seq, Window: 64, Payload: payload}
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func counterOf(t testing.TB, b []byte) uint64 {
	t.Helper()
	var f frame.PILS
	if err := f.Decode(b); err != nil {
		t.Fatal(err)
	}
	return f.Counter()
}

// Conformance wire.md §14 item 4: the first PILS sealed under a new crypto
// state has counter 1, and counters never repeat, also under concurrent Seal.
func TestWire_Item4_CountersStartAtOneAndNeverRepeat(t *testing.T) {
	fx := loadFixture(t)
	a := fx.stateA(t, [4]byte{1, 2, 3, 4})
	pkt := testPacket(t, 1, []byte("x"))
	first, err := a.Seal(nil, pkt)
	if err != nil {
		t.Fatal(err)
	}
	if c := counterOf(t, first); c != 1 {
		t.Fatalf("first counter %d, want 1", c)
	}
	var f frame.PILS
	_ = f.Decode(first)
	if f.Sender != nodeA || f.Prefix() != [4]byte{1, 2, 3, 4} {
		t.Fatalf("sender %d prefix %x", f.Sender, f.Prefix())
	}

	const workers, each = 4, 500
	var mu sync.Mutex
	seen := map[uint64]bool{1: true}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			buf := make([]byte, 0, 256)
			for range each {
				out, err := a.Seal(buf[:0], pkt)
				if err != nil {
					t.Error(err)
					return
				}
				c := binary.BigEndian.Uint64(out[12:20])
				mu.Lock()
				if seen[c] {
					t.Errorf("counter %d repeated", c)
				}
				seen[c] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != workers*each+1 || a.Sealed() != workers*each+1 {
		t.Fatalf("%d distinct counters, %d sealed", len(seen), a.Sealed())
	}
	for c := uint64(1); c <= workers*each+1; c++ {
		if !seen[c] {
			t.Fatalf("counter %d skipped", c)
		}
	}
}

// §6.9: no more than 2^32 frames per key, and the counter never wraps.
func TestSeal_CounterExhaustion(t *testing.T) {
	fx := loadFixture(t)
	a := fx.stateA(t, [4]byte{1, 2, 3, 4})
	b := fx.stateB(t, [4]byte{5, 6, 7, 8})
	pkt := testPacket(t, 1, nil)
	a.counter.Store(MaxSealed - 1)
	last, err := a.Seal(nil, pkt)
	if err != nil {
		t.Fatal(err)
	}
	if c := counterOf(t, last); c != MaxSealed {
		t.Fatalf("last counter %d", c)
	}
	if _, err := b.Open(nil, last); err != nil {
		t.Fatalf("receiver rejects counter 2^32: %v", err)
	}
	for range 3 {
		if out, err := a.Seal(nil, pkt); !errors.Is(err, ErrExhausted) || len(out) != 0 {
			t.Fatalf("beyond 2^32: %d bytes, %v", len(out), err)
		}
	}
	if a.Sealed() != MaxSealed {
		t.Fatalf("Sealed %d", a.Sealed())
	}
}

func TestSeal_RejectsBadPacketSizesAndClosedState(t *testing.T) {
	fx := loadFixture(t)
	a := fx.stateA(t, [4]byte{1, 2, 3, 4})
	for _, n := range []int{0, 33, frame.MaxDatagram - frame.PILSOverhead + 1} {
		if _, err := a.Seal(nil, make([]byte, n)); !errors.Is(err, ErrPacketSize) {
			t.Errorf("%d-byte packet: %v", n, err)
		}
	}
	out, err := a.Seal(nil, make([]byte, frame.MaxDatagram-frame.PILSOverhead))
	if err != nil || len(out) != frame.MaxDatagram {
		t.Errorf("largest packet: %d %v", len(out), err)
	}
	a.CloseSend()
	if _, err := a.Seal(nil, testPacket(t, 1, nil)); !errors.Is(err, ErrSendClosed) {
		t.Errorf("receive-only state sealed: %v", err)
	}
	if a.Sealed() != 1 {
		t.Errorf("sealed %d", a.Sealed())
	}
}

// Sealing in place and opening in place give the same bytes as with
// separate buffers.
func TestSealOpenInPlace(t *testing.T) {
	fx := loadFixture(t)
	a := fx.stateA(t, [4]byte{1, 2, 3, 4})
	a2 := fx.stateA(t, [4]byte{1, 2, 3, 4})
	b := fx.stateB(t, [4]byte{5, 6, 7, 8})
	pkt := testPacket(t, 7, bytes.Repeat([]byte("abc"), 100))
	want, _ := a2.Seal(nil, pkt)

	buf := make([]byte, frame.PILSHeaderSize+len(pkt), frame.PILSHeaderSize+len(pkt)+frame.TagSize)
	copy(buf[frame.PILSHeaderSize:], pkt)
	got, err := a.Seal(buf[:0], buf[frame.PILSHeaderSize:])
	if err != nil || !bytes.Equal(got, want) || &got[0] != &buf[0] {
		t.Fatalf("in-place seal: %v, equal %v", err, bytes.Equal(got, want))
	}
	plain, err := b.Open(got[frame.PILSHeaderSize:][:0], got)
	if err != nil || !bytes.Equal(plain, pkt) {
		t.Fatalf("in-place open: %v", err)
	}
}

func TestOpen_RejectsBeforeDecrypting(t *testing.T) {
	fx := loadFixture(t)
	a := fx.stateA(t, [4]byte{1, 2, 3, 4})
	b := fx.stateB(t, [4]byte{5, 6, 7, 8})
	good, _ := a.Seal(nil, testPacket(t, 1, nil))
	mod := func(f func([]byte)) []byte {
		c := append([]byte(nil), good...)
		f(c)
		return c
	}
	for _, c := range []struct {
		name string
		in   []byte
		want error
	}{
		{"short", good[:69], ErrFrame},
		{"magic", mod(func(c []byte) { c[3] = 'T' }), ErrFrame},
		{"sender", mod(func(c []byte) { c[7]++ }), ErrSender},
		{"zero counter", mod(func(c []byte) { clear(c[12:20]) }), ErrZeroCounter},
		{"tag", mod(func(c []byte) { c[len(c)-1] ^= 1 }), ErrAuth},
		{"ciphertext", mod(func(c []byte) { c[30] ^= 1 }), ErrAuth},
		{"prefix", mod(func(c []byte) { c[8] ^= 1 }), ErrAuth},
	} {
		if _, err := b.Open(nil, c.in); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	if b.Opened() != 0 || len(b.replay.windows) != 0 {
		t.Fatal("a rejected frame changed the state")
	}
	if _, err := b.Open(nil, good); err != nil {
		t.Fatal(err)
	}
}

// §5.3, §6.9 trigger (d): an authenticated frame carrying our own send prefix
// stops sealing at once and asks for a rekey.
func TestOpen_OwnPrefixStopsSealing(t *testing.T) {
	fx := loadFixture(t)
	a := fx.stateA(t, [4]byte{7, 7, 7, 7})
	b := fx.stateB(t, [4]byte{7, 7, 7, 7})
	pkt := testPacket(t, 1, nil)
	if _, err := b.Seal(nil, pkt); err != nil {
		t.Fatal(err)
	}
	f, _ := a.Seal(nil, pkt)
	if _, err := b.Open(nil, f); err != nil {
		t.Fatal(err)
	}
	if tr := b.Triggers(time.Unix(1000, 0), time.Hour); tr != TriggerOwnPrefix {
		t.Fatalf("triggers %b", tr)
	}
	if _, err := b.Seal(nil, pkt); !errors.Is(err, ErrSendClosed) {
		t.Fatalf("sealed after own prefix seen: %v", err)
	}
	// A forged frame with our prefix does nothing.
	c := fx.stateB(t, [4]byte{1, 1, 1, 1})
	forged := append([]byte(nil), f...)
	copy(forged[8:12], []byte{1, 1, 1, 1})
	if _, err := c.Open(nil, forged); !errors.Is(err, ErrAuth) {
		t.Fatal(err)
	}
	if c.Triggers(time.Unix(1000, 0), 0) != 0 {
		t.Fatal("forged frame raised a trigger")
	}
}

func TestTriggers_FramesAndAge(t *testing.T) {
	fx := loadFixture(t)
	a := fx.stateA(t, [4]byte{1, 2, 3, 4})
	t0 := a.Created()
	if tr := a.Triggers(t0.Add(2*time.Hour-1), 2*time.Hour); tr != 0 {
		t.Fatalf("fresh state triggers %b", tr)
	}
	if tr := a.Triggers(t0.Add(2*time.Hour), 2*time.Hour); tr != TriggerAge {
		t.Fatalf("aged state triggers %b", tr)
	}
	a.counter.Store(RekeyFrames - 10)
	a.opened.Store(9)
	if tr := a.Triggers(t0, 0); tr != 0 {
		t.Fatalf("triggers %b below 2^24", tr)
	}
	a.opened.Store(10)
	if tr := a.Triggers(t0, 0); tr != TriggerFrames {
		t.Fatalf("triggers %b at 2^24", tr)
	}
	if !a.Authenticated() || a.LocalNode() != nodeA || a.PeerNode() != nodeB || a.Prefix() != [4]byte{1, 2, 3, 4} {
		t.Fatal("accessors")
	}
}

// §6.6: candidates are tried in order; the one that authenticates is
// reported; a replay under a candidate drops the frame.
func TestOpenFirst(t *testing.T) {
	fx := loadFixture(t)
	a := fx.stateA(t, [4]byte{1, 0, 0, 0})
	prev := fx.stateB(t, [4]byte{2, 0, 0, 0})
	// cur holds another key: B rekeyed with a fresh local key.
	priv, err := ecdh.X25519().NewPrivateKey(bytes.Repeat([]byte{0x33}, 32))
	if err != nil {
		t.Fatal(err)
	}
	cur, err := New(Config{LocalNode: nodeB, PeerNode: nodeA, Private: priv, PeerPublic: fx.aPub, Rand: bytes.NewReader([]byte{3, 0, 0, 0})})
	if err != nil {
		t.Fatal(err)
	}
	pkt := testPacket(t, 1, nil)

	if _, s, err := OpenFirst(nil, pkt, nil, nil); !errors.Is(err, ErrNoState) || s != nil {
		t.Fatalf("no candidates: %v", err)
	}
	f1, _ := a.Seal(nil, pkt)
	if _, s, err := OpenFirst(nil, f1, cur, prev); err != nil || s != prev {
		t.Fatalf("old key: state %p (prev %p) err %v", s, prev, err)
	}
	if _, s, err := OpenFirst(nil, f1, cur, prev); !errors.Is(err, ErrReplay) || s != prev {
		t.Fatalf("replay under prev: %v", err)
	}
	if _, s, err := OpenFirst(nil, f1, prev, cur); !errors.Is(err, ErrReplay) || s != prev {
		t.Fatalf("replay under cur position: %v", err)
	}
	if cur.Opened() != 0 || prev.Opened() != 1 {
		t.Fatalf("opened cur %d prev %d", cur.Opened(), prev.Opened())
	}
	// A frame under the new key authenticates under cur.
	aNew, err := New(Config{LocalNode: nodeA, PeerNode: nodeB, Private: fx.aPriv, PeerPublic: [32]byte(priv.PublicKey().Bytes()), Rand: bytes.NewReader([]byte{4, 0, 0, 0})})
	if err != nil {
		t.Fatal(err)
	}
	f2, _ := aNew.Seal(nil, pkt)
	if got, s, err := OpenFirst(nil, f2, cur, prev); err != nil || s != cur || !bytes.Equal(got, pkt) {
		t.Fatalf("new key: state %p err %v", s, err)
	}
	bad, _ := a.Seal(nil, pkt)
	bad[len(bad)-1] ^= 1
	if _, s, err := OpenFirst(nil, bad, cur, nil, prev); !errors.Is(err, ErrAuth) || s != nil {
		t.Fatalf("forged: %v", err)
	}
	if _, _, err := OpenFirst(nil, bad[:40], cur); !errors.Is(err, ErrFrame) {
		t.Fatalf("short: %v", err)
	}
}

// Seal may run concurrently with Open and Triggers on the same state (run
// with -race).
func TestConcurrentSealAndOpen(t *testing.T) {
	fx := loadFixture(t)
	a := fx.stateA(t, [4]byte{1, 2, 3, 4})
	b := fx.stateB(t, [4]byte{5, 6, 7, 8})
	pkt := testPacket(t, 1, []byte("concurrent"))
	frames := make([][]byte, 300)
	for i := range frames {
		frames[i], _ = a.Seal(nil, pkt)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for range 300 {
			if _, err := b.Seal(nil, pkt); err != nil {
				t.Error(err)
				return
			}
			_ = b.Triggers(time.Unix(2000, 0), time.Hour)
		}
	})
	for _, f := range frames {
		if _, err := b.Open(nil, f); err != nil {
			t.Error(err)
		}
	}
	wg.Wait()
	if b.Sealed() != 300 || b.Opened() != 300 {
		t.Fatalf("sealed %d opened %d", b.Sealed(), b.Opened())
	}
}

// Seal and Open append to dst: a relay header in front is kept.
func TestSealOpenAppend(t *testing.T) {
	fx := loadFixture(t)
	a := fx.stateA(t, [4]byte{1, 2, 3, 4})
	b := fx.stateB(t, [4]byte{5, 6, 7, 8})
	pkt := testPacket(t, 3, []byte("appended"))
	relay := []byte{0x05, 0, 0, 2, 0xAE, 0, 0, 2, 0xAF}
	for _, dst := range [][]byte{relay, append(make([]byte, 0, 200), relay...)} {
		out, err := a.Seal(slices.Clone(dst), pkt)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out[:len(relay)], relay) || len(out) != len(relay)+len(pkt)+frame.PILSOverhead {
			t.Fatalf("Seal lost the prefix or length: %x", out)
		}
		got, err := b.Open([]byte("hdr"), out[len(relay):])
		if err != nil || string(got[:3]) != "hdr" || !bytes.Equal(got[3:], pkt) {
			t.Fatalf("Open append: %v %x", err, got)
		}
	}
}
