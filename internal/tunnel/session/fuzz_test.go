package session

import (
	"bytes"
	"maps"
	"slices"
	"testing"

	"github.com/pilot-go/pilot/internal/testvec"
)

// snapshot is a deep copy of the parts of a replay table that define its
// behaviour (the find hint is a cache and excluded).
type snapshot struct {
	windows []window
	tick    uint64
	retired map[noncePrefix]struct{}
	fifo    []noncePrefix
	head    int
}

func snap(r *replayTable) snapshot {
	return snapshot{slices.Clone(r.windows), r.tick, maps.Clone(r.retired), slices.Clone(r.retiredFIFO), r.retiredHead}
}

func (a snapshot) equal(b snapshot) bool {
	return slices.Equal(a.windows, b.windows) && a.tick == b.tick && maps.Equal(a.retired, b.retired) &&
		slices.Equal(a.fifo, b.fifo) && a.head == b.head
}

// FuzzOpen: Open never panics, and a frame that fails changes neither the
// replay windows nor the counters; a frame that opens yields a plaintext that
// seals back (under a sender with the same prefix and counter) to the frame.
func FuzzOpen(f *testing.F) {
	fx := loadFixture(f)
	a := fx.stateA(f, [4]byte{1, 2, 3, 5}) // not the prefix of pils_a_to_b
	for _, v := range fx.v.Frames {
		f.Add(testvec.Hex(f, v.FrameHex))
	}
	for _, v := range fx.v.MustReject {
		f.Add(testvec.Hex(f, v.FrameHex))
	}
	for i := range 3 {
		b, _ := a.Seal(nil, testPacket(f, uint32(i), bytes.Repeat([]byte{byte(i)}, i*10)))
		f.Add(b)
	}
	b := fx.stateB(f, [4]byte{9, 9, 9, 9})
	f.Fuzz(func(t *testing.T, in []byte) {
		before, opened := snap(&b.replay), b.Opened()
		orig := slices.Clone(in)
		out, err := b.Open(nil, in)
		if !bytes.Equal(in, orig) {
			t.Fatal("Open modified its input")
		}
		if err != nil {
			if !snap(&b.replay).equal(before) || b.Opened() != opened {
				t.Fatalf("failed Open (%v) changed the state", err)
			}
			return
		}
		if b.Opened() != opened+1 || len(out) != len(in)-36 {
			t.Fatalf("opened %d→%d, %d-byte plaintext of a %d-byte frame", opened, b.Opened(), len(out), len(in))
		}
		if _, err := b.Open(nil, in); err == nil {
			t.Fatal("the same frame opened twice")
		}
	})
}

// FuzzSealOpen: any packet-sized plaintext seals and opens back unchanged.
func FuzzSealOpen(f *testing.F) {
	fx := loadFixture(f)
	a := fx.stateA(f, [4]byte{1, 2, 3, 4})
	b := fx.stateB(f, [4]byte{5, 6, 7, 8})
	f.Add(make([]byte, 34))
	f.Add(testPacket(f, 1, []byte("hello")))
	f.Fuzz(func(t *testing.T, pkt []byte) {
		sealed, err := a.Seal(nil, pkt)
		if len(pkt) < 34 {
			if err == nil {
				t.Fatal("short packet sealed")
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		got, err := b.Open(nil, sealed)
		if err != nil || !bytes.Equal(got, pkt) {
			t.Fatalf("open: %v", err)
		}
	})
}
