package stream

import (
	"testing"

	"github.com/pilot-go/pilot/internal/wire/packet"
	"github.com/pilot-go/pilot/internal/wire/sack"
)

// §9.6 / §9.7: out-of-order data is held (partial overlaps used), the SACK
// list names the range of the most recent segment first, at most four
// blocks, and at most 1,024 ranges are held.
func TestReassemblyAndSACKOrder(t *testing.T) {
	r := origResponder(t, testConfig(2))
	data := modelPayload(0, 200)
	send := func(off, n int) []sack.Block {
		r.Handle(pk(packet.FlagACK, 1+uint32(off), r.ISN()+1, 512, data[off:off+n]), at(1))
		out := r.Output(at(1), nil)
		if len(out) != 1 {
			t.Fatalf("no immediate ACK for [%d,%d): %+v", off, off+n, out)
		}
		if len(out[0].Payload) == 0 {
			return nil
		}
		b, err := sack.Parse(out[0].Payload)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	rel := func(b sack.Block) [2]int { return [2]int{int(b.Left - 1), int(b.Right - 1)} }
	send(10, 10)
	send(30, 10)
	send(50, 10)
	send(70, 10)
	b := send(90, 10)
	if len(b) != 4 || rel(b[0]) != [2]int{90, 100} || rel(b[1]) != [2]int{70, 80} {
		t.Fatalf("SACK order %v", b)
	}
	// A partial overlap joins two ranges; the joined range is reported first.
	b = send(15, 20)
	if rel(b[0]) != [2]int{10, 40} {
		t.Fatalf("merged range first: %v", b)
	}
	// Filling the hole delivers everything up to the next hole.
	send(0, 12)
	buf := make([]byte, 300)
	n, _ := r.Read(buf)
	if string(buf[:n]) != string(data[:40]) {
		t.Fatalf("read %d bytes", n)
	}
	if st := r.Stats(); st.OOOBuf != 3 || st.SackSent == 0 {
		t.Fatalf("stats %+v", st)
	}
	// Range limit: 1,100 disjoint single bytes; at most 1,024 are held.
	h := origResponder(t, testConfig(3))
	for i := range 1100 {
		h.Handle(pk(packet.FlagACK, 1+uint32(2+2*i), h.ISN()+1, 512, modelPayload(uint32(2+2*i), 1)), at(1))
	}
	if n := len(h.rcv.ooo); n != MaxOOORanges {
		t.Fatalf("%d ranges held", n)
	}
}
