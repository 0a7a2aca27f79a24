package stream

import (
	"bytes"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/pilot-go/pilot/internal/wire/packet"
	"github.com/pilot-go/pilot/internal/wire/sack"
)

var t0 = time.Unix(1_700_000_000, 0)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

func pk(flags packet.Flags, seq, ack uint32, win uint16, payload []byte) *packet.Packet {
	return &packet.Packet{Flags: flags, Protocol: packet.ProtoStream, Seq: seq, Ack: ack, Window: win, Payload: payload}
}

// origResponder is our responder accepting the original's SYN (ISN 0).
func origResponder(t *testing.T, cfg Config) *Conn {
	t.Helper()
	c, err := NewResponder(cfg, pk(packet.FlagSYN, 0, 0, 512, nil), at(0))
	if err != nil {
		t.Fatal(err)
	}
	out := c.Output(at(0), nil)
	if len(out) != 1 || out[0].Flags != packet.FlagSYN|packet.FlagACK || out[0].Ack != 1 || out[0].Seq != c.ISN() {
		t.Fatalf("SYN-ACK = %+v", out)
	}
	if c.State() != StateEstablished || c.Events()&EvEstablished == 0 {
		t.Fatalf("responder not ESTABLISHED after SYN-ACK: %v", c.State())
	}
	return c
}

// origDialer is our dialer completed by the original's SYN-ACK (seq 0).
func origDialer(t *testing.T, cfg Config) *Conn {
	t.Helper()
	c, err := NewDialer(cfg, at(0))
	if err != nil {
		t.Fatal(err)
	}
	out := c.Output(at(0), nil)
	if len(out) != 1 || out[0].Flags != packet.FlagSYN || out[0].Ack != 0 || out[0].Window == 0 {
		t.Fatalf("SYN = %+v", out)
	}
	c.Handle(pk(packet.FlagSYN|packet.FlagACK, 0, c.ISN()+1, 512, nil), at(1))
	if c.State() != StateEstablished {
		t.Fatalf("dial not complete: %v", c.State())
	}
	out = c.Output(at(1), nil)
	if len(out) != 1 || out[0].Flags != packet.FlagACK || out[0].Seq != c.ISN()+1 || out[0].Ack != 1 || len(out[0].Payload) != 0 {
		t.Fatalf("handshake ACK = %+v", out)
	}
	return c
}

// Conformance wire.md §14 item 16.
func TestWire_C16_RandomISNAndOriginalHandshake(t *testing.T) {
	a, _ := NewDialer(Config{}, at(0))
	b, _ := NewDialer(Config{}, at(0))
	if a.ISN() == b.ISN() && a.ISN() == 0 {
		t.Fatalf("ISNs not random: %d %d", a.ISN(), b.ISN())
	}
	// The original's SYN-ACK has seq 0: it completes our dial.
	d := origDialer(t, testConfig(1))
	if d.Events()&EvEstablished == 0 || d.PeerISN() != 0 {
		t.Fatal("no Established event")
	}
	// Our responder accepts the original's SYN (seq 0) and the application
	// can write before the final ACK arrives.
	r := origResponder(t, testConfig(2))
	if n, err := r.Write([]byte("hello")); n != 5 || err != nil {
		t.Fatalf("write before final ACK: %d %v", n, err)
	}
	out := r.Output(at(1), nil)
	if len(out) != 1 || string(out[0].Payload) != "hello" || out[0].Seq != r.ISN()+1 || out[0].Ack != 1 || out[0].Flags != packet.FlagACK {
		t.Fatalf("data before final ACK = %+v", out)
	}
}

func TestHandshake_DuplicateSYNAndSYNACKRules(t *testing.T) {
	r := origResponder(t, testConfig(2))
	// A duplicate SYN (same ISN) is answered with the same SYN-ACK.
	r.Handle(pk(packet.FlagSYN, 0, 0, 512, nil), at(5))
	out := r.Output(at(5), nil)
	if len(out) != 1 || out[0].Flags != packet.FlagSYN|packet.FlagACK || out[0].Seq != r.ISN() || out[0].Ack != 1 {
		t.Fatalf("dup SYN answer = %+v", out)
	}
	// The original's duplicate-SYN SYN-ACK carries a stale seq: ignored.
	d := origDialer(t, testConfig(1))
	d.Handle(pk(packet.FlagSYN|packet.FlagACK, 77, d.ISN()+1, 512, nil), at(2))
	if out := d.Output(at(2), nil); len(out) != 0 {
		t.Fatalf("stale SYN-ACK answered: %+v", out)
	}
	// A SYN-ACK with the recorded peer ISN gets exactly one pure ACK.
	d.Handle(pk(packet.FlagSYN|packet.FlagACK, 0, d.ISN()+1, 512, nil), at(3))
	out = d.Output(at(3), nil)
	if len(out) != 1 || out[0].Flags != packet.FlagACK || len(out[0].Payload) != 0 || out[0].Ack != 1 {
		t.Fatalf("SYN-ACK re-ACK = %+v", out)
	}
	// A SYN with another ISN replaces the connection.
	r.Handle(pk(packet.FlagSYN, 999, 0, 512, nil), at(6))
	if r.State() != StateClosed || r.Reason() != ReasonNewSYN {
		t.Fatalf("state %v reason %v", r.State(), r.Reason())
	}
}

func TestHandshake_SYNRetransmissionAndDialTimeout(t *testing.T) {
	cfg := testConfig(1)
	cfg.DialTimeout = 20 * time.Second
	c, _ := NewDialer(cfg, at(0))
	var sends []time.Duration
	now := at(0)
	for i := 0; i < 100 && c.State() == StateSynSent; i++ {
		for _, p := range c.Output(now, nil) {
			if p.Flags != packet.FlagSYN {
				t.Fatalf("unexpected %v", p.Flags)
			}
			sends = append(sends, now.Sub(t0))
		}
		now = c.NextDeadline()
		if now.IsZero() {
			break
		}
		c.Tick(now)
	}
	want := []time.Duration{0, 1 * time.Second, 3 * time.Second, 7 * time.Second, 15 * time.Second}
	if len(sends) != len(want) {
		t.Fatalf("SYNs at %v, want %v", sends, want)
	}
	for i := range want {
		if sends[i] != want[i] {
			t.Fatalf("SYNs at %v, want %v", sends, want)
		}
	}
	if c.State() != StateClosed || c.Reason() != ReasonDialTimeout || now.Sub(t0) != 20*time.Second {
		t.Fatalf("state %v reason %v at %v", c.State(), c.Reason(), now.Sub(t0))
	}
	// An RST in SYN_SENT: connection refused.
	d, _ := NewDialer(testConfig(2), at(0))
	d.Output(at(0), nil)
	d.Handle(pk(packet.FlagRST, 0, 0, 0, nil), at(1))
	if d.State() != StateClosed || d.Reason() != ReasonRefused || d.Events()&EvReset == 0 {
		t.Fatalf("RST in SYN_SENT: %v %v", d.State(), d.Reason())
	}
}

// wire.md §7.5: when the path switches to the relay (after the third SYN,
// at 3 s), the SYN timer restarts at 1 s: the next SYN goes at 4 s, then
// 6 s, instead of 7 s; RestartSYN does nothing once the dial is over.
func TestHandshake_RestartSYNOnRelaySwitch(t *testing.T) {
	c, _ := NewDialer(testConfig(1), at(0))
	var sends []time.Duration
	now := at(0)
	for i := 0; i < 100 && len(sends) < 5; i++ {
		for range c.Output(now, nil) {
			sends = append(sends, now.Sub(t0))
		}
		if len(sends) == 3 && now.Sub(t0) == 3*time.Second {
			c.RestartSYN(now)
		}
		now = c.NextDeadline()
		c.Tick(now)
	}
	want := []time.Duration{0, 1 * time.Second, 3 * time.Second, 4 * time.Second, 6 * time.Second}
	for i := range want {
		if i >= len(sends) || sends[i] != want[i] {
			t.Fatalf("SYNs at %v, want %v", sends, want)
		}
	}
	r := origResponder(t, testConfig(2))
	dl := r.NextDeadline()
	r.RestartSYN(at(5))
	if r.NextDeadline() != dl {
		t.Fatal("RestartSYN changed a connection that is not dialing")
	}
}

// Conformance wire.md §14 item 21.
func TestWire_C21_FINACKNeverAnswered(t *testing.T) {
	// In ESTABLISHED: the peer's close, EOF, TIME_WAIT, and no packet.
	r := origResponder(t, testConfig(2))
	r.Handle(pk(packet.FlagACK, 1, r.ISN()+1, 512, []byte("abc")), at(1))
	r.Output(at(1), nil)
	r.Handle(pk(packet.FlagFIN|packet.FlagACK, 4, r.ISN()+1, 0, nil), at(2))
	if out := r.Output(at(2), nil); len(out) != 0 {
		t.Fatalf("FIN+ACK answered: %+v", out)
	}
	if r.State() != StateTimeWait || r.Events()&EvEOF == 0 {
		t.Fatalf("state %v", r.State())
	}
	buf := make([]byte, 10)
	if n, _ := r.Read(buf); string(buf[:n]) != "abc" {
		t.Fatalf("read %q", buf[:n])
	}
	if _, err := r.Read(buf); err != io.EOF {
		t.Fatalf("want EOF, got %v", err)
	}
	// Repeated FIN+ACKs in TIME_WAIT: still nothing.
	for i := range 5 {
		r.Handle(pk(packet.FlagFIN|packet.FlagACK, 4, r.ISN()+1, 0, nil), at(3+i))
		if out := r.Output(at(3+i), nil); len(out) != 0 {
			t.Fatalf("FIN+ACK in TIME_WAIT answered: %+v", out)
		}
	}
	// A FIN+ACK beyond a hole: EOF only after the missing data arrived,
	// and holding it sends nothing.
	h := origResponder(t, testConfig(3))
	h.Handle(pk(packet.FlagACK, 1, h.ISN()+1, 512, []byte("ab")), at(1))
	h.Output(at(1), nil)
	h.Events()
	h.Handle(pk(packet.FlagFIN|packet.FlagACK, 6, h.ISN()+1, 0, nil), at(2))
	if out := h.Output(at(2), nil); len(out) != 0 {
		t.Fatalf("held FIN+ACK answered: %+v", out)
	}
	if h.State() != StateEstablished || h.Events()&EvEOF != 0 {
		t.Fatal("EOF before the hole was filled")
	}
	h.Handle(pk(packet.FlagACK, 3, h.ISN()+1, 512, []byte("cde")), at(3))
	if h.State() != StateTimeWait || h.Events()&EvEOF == 0 {
		t.Fatalf("hole filled: state %v", h.State())
	}
	for _, p := range h.Output(at(3), nil) {
		if p.Flags&packet.FlagFIN != 0 {
			t.Fatalf("FIN-flagged answer to a FIN+ACK: %+v", p)
		}
	}
	all, _ := io.ReadAll(readerOf(h))
	if string(all) != "abcde" {
		t.Fatalf("read %q", all)
	}
	// A FIN+ACK in FIN_WAIT ends it without an answer.
	d := origDialer(t, testConfig(4))
	d.Close(at(2))
	out := d.Output(at(2), nil)
	if len(out) != 1 || out[0].Flags != packet.FlagFIN || out[0].Ack != 0 || out[0].Window != 0 || out[0].Seq != d.ISN()+1 {
		t.Fatalf("bare FIN = %+v", out)
	}
	d.Handle(pk(packet.FlagFIN|packet.FlagACK, 1, d.ISN()+2, 0, nil), at(3))
	if out := d.Output(at(3), nil); len(out) != 0 || d.State() != StateTimeWait {
		t.Fatalf("FIN_WAIT + FIN+ACK: %v %+v", d.State(), out)
	}
}

type connReader struct{ c *Conn }

func (r connReader) Read(b []byte) (int, error) {
	n, err := r.c.Read(b)
	if n == 0 && err == nil {
		return 0, io.EOF
	}
	return n, err
}

func readerOf(c *Conn) io.Reader { return connReader{c} }

// Conformance wire.md §14 item 20: a close with the original takes at most
// three FIN-flagged packets, and both ends are reaped within TIME_WAIT + 15 s.
func TestWire_C20_CloseWithOriginalAtMostThreeFINs(t *testing.T) {
	// Passive: the original closes with a FIN, we answer FIN+ACK once, the
	// original answers that FIN+ACK with a FIN+ACK, which we never answer.
	r := origResponder(t, testConfig(2))
	fins := 1 // the original's FIN
	r.Handle(pk(packet.FlagFIN, 1, r.ISN()+1, 0, nil), at(1))
	out := r.Output(at(1), nil)
	if len(out) != 1 || out[0].Flags != packet.FlagFIN|packet.FlagACK || out[0].Ack != 2 || out[0].Seq != r.ISN()+1 {
		t.Fatalf("FIN answer = %+v", out)
	}
	fins++
	r.Handle(pk(packet.FlagFIN|packet.FlagACK, 1, r.ISN()+1, 0, nil), at(2)) // the original's answer
	fins++
	for _, p := range r.Output(at(2), nil) {
		if p.Flags&packet.FlagFIN != 0 {
			fins++
		}
	}
	// A retransmitted bare FIN gets a pure ACK (rule 4), never FIN+ACK.
	r.Handle(pk(packet.FlagFIN, 1, r.ISN()+1, 0, nil), at(3))
	out = r.Output(at(3), nil)
	if len(out) != 1 || out[0].Flags != packet.FlagACK || out[0].Ack != 2 {
		t.Fatalf("rule 4 answer = %+v", out)
	}
	if fins > 3 {
		t.Fatalf("%d FIN-flagged packets", fins)
	}
	reap(t, r, 10*time.Second+15*time.Second)

	// Active: our bare FIN, the original's FIN+ACK, nothing more.
	d := origDialer(t, testConfig(4))
	d.Close(at(2))
	fins = 0
	for _, p := range d.Output(at(2), nil) {
		if p.Flags&packet.FlagFIN != 0 {
			fins++
		}
	}
	d.Handle(pk(packet.FlagFIN|packet.FlagACK, 1, d.ISN()+2, 0, nil), at(3))
	fins++
	for _, p := range d.Output(at(3), nil) {
		if p.Flags&packet.FlagFIN != 0 {
			fins++
		}
	}
	if fins > 3 {
		t.Fatalf("%d FIN-flagged packets", fins)
	}
	reap(t, d, 10*time.Second+15*time.Second)
}

// reap runs the engine's timers alone until CLOSED, within limit.
func reap(t *testing.T, c *Conn, limit time.Duration) {
	t.Helper()
	for i := 0; i < 1000 && c.State() != StateClosed; i++ {
		d := c.NextDeadline()
		if d.IsZero() || d.Sub(t0) > limit {
			break
		}
		c.Tick(d)
		c.Output(d, nil)
	}
	if c.State() != StateClosed || c.Events()&EvClosed == 0 {
		t.Fatalf("not reaped within %v: %v", limit, c.State())
	}
}

// Conformance wire.md §14 item 22.
func TestWire_C22_AbandonedDataIsReset(t *testing.T) {
	r := origResponder(t, testConfig(2))
	r.Handle(pk(packet.FlagACK, 1, r.ISN()+1, 512, []byte("ab")), at(1))
	// Bytes 3..4 are lost; the original's FIN at 5 arrives and is held.
	r.Handle(pk(packet.FlagFIN, 5, r.ISN()+1, 0, nil), at(2))
	out := r.Output(at(2), nil)
	if len(out) != 1 || out[0].Flags != packet.FlagACK || out[0].Ack != 3 {
		t.Fatalf("held FIN answer = %+v", out)
	}
	// It retransmits the FIN from its oldest unacked byte: abandoned.
	r.Handle(pk(packet.FlagFIN, 3, r.ISN()+1, 0, nil), at(300))
	if r.State() != StateClosed || r.Reason() != ReasonDataLost {
		t.Fatalf("state %v reason %v", r.State(), r.Reason())
	}
	ev := r.Events()
	if ev&EvReset == 0 || ev&EvEOF != 0 {
		t.Fatalf("events %b: want a reset, never EOF", ev)
	}
	out = r.Output(at(300), nil)
	if len(out) != 1 || out[0].Flags != packet.FlagRST || out[0].Seq != 0 || out[0].Ack != 0 || out[0].Window != 0 {
		t.Fatalf("RST = %+v", out)
	}
}

// Item 22 when our ACK of the first bytes was lost too: the original's
// retransmitted FIN then carries a seq below rcv.nxt, with a FIN held
// beyond a hole; the bytes in the hole are abandoned: a reset, never EOF.
func TestWire_C22_AbandonedDataBelowRcvNxtIsReset(t *testing.T) {
	r := origResponder(t, testConfig(2))
	r.Handle(pk(packet.FlagACK, 1, r.ISN()+1, 512, []byte("ab")), at(1)) // rcv.nxt = 3
	r.Handle(pk(packet.FlagACK, 5, r.ISN()+1, 512, []byte("ef")), at(1)) // 3..4 lost
	r.Handle(pk(packet.FlagFIN, 7, r.ISN()+1, 0, nil), at(2))            // held
	r.Output(at(2), nil)
	r.Handle(pk(packet.FlagFIN, 1, r.ISN()+1, 0, nil), at(300)) // from its oldest unacked byte
	if r.State() != StateClosed || r.Reason() != ReasonDataLost {
		t.Fatalf("state %v reason %v", r.State(), r.Reason())
	}
	if ev := r.Events(); ev&EvReset == 0 || ev&EvEOF != 0 {
		t.Fatalf("events %b: want a reset, never EOF", ev)
	}
}

// The original's SACK list (lowest four blocks) drives our recovery.
// The scoreboard works across the sequence-number wrap and for any ISN.
func TestInterop_OriginalSACKUsed(t *testing.T) {
	for _, isn := range []uint32{0, 0x7FFFFFF0, 0x80000000, 0xFFFFFFF0} {
		t.Run(fmt.Sprintf("%08x", isn), func(t *testing.T) { originalSACKUsed(t, isn) })
	}
}

func originalSACKUsed(t *testing.T, isn uint32) {
	cfg := testConfig(1)
	cfg.Rand = fixedISN(isn)
	cfg.DisableTLP = true
	d := origDialer(t, cfg)
	data := testData(10*4096, 3)
	d.Write(data)
	out := d.Output(at(2), nil)
	if len(out) != 10 {
		t.Fatalf("initial window: %d segments", len(out))
	}
	base := d.ISN() + 1
	// Segments 0 and 2 lost; the original SACKs the lowest four blocks
	// [1], [3], [4], [5] (each a separate block, as it reassembles per segment).
	var blocks []sack.Block
	for _, i := range []uint32{1, 3, 4, 5} {
		blocks = append(blocks, sack.Block{Left: base + i*4096, Right: base + (i+1)*4096})
	}
	payload, _ := sack.Append(nil, blocks)
	d.Handle(pk(packet.FlagACK, 1, base, 512, payload), at(3))
	out = d.Output(at(3), nil)
	var retx []uint32
	for _, p := range out {
		if seqLT(p.Seq, base+10*4096) {
			retx = append(retx, (p.Seq-base)/4096)
			if len(p.Payload) != 4096 {
				t.Fatalf("retransmission boundary changed: %d bytes", len(p.Payload))
			}
		}
	}
	if len(retx) < 2 || retx[0] != 0 || retx[1] != 2 {
		t.Fatalf("retransmitted segments %v, want 0 and 2 first", retx)
	}
	if st := d.Stats(); st.SackRecv != 1 || st.FastRetx < 2 || !st.InRecovery {
		t.Fatalf("stats %+v", st)
	}
}

// Conformance wire.md §14 item 19 (sender side): window 0 means no limit,
// but at most one segment in flight until a window > 0 arrives.
func TestWire_C19_PeerWindowZero(t *testing.T) {
	c, err := NewResponder(testConfig(2), pk(packet.FlagSYN, 0, 0, 0, nil), at(0))
	if err != nil {
		t.Fatal(err)
	}
	c.Output(at(0), nil)
	c.Write(testData(100*4096, 1))
	out := c.Output(at(1), nil)
	if len(out) != 1 {
		t.Fatalf("window 0: %d segments in flight", len(out))
	}
	// Acknowledged with window 0 again: one more.
	c.Handle(pk(packet.FlagACK, 1, c.ISN()+1+4096, 0, nil), at(2))
	if out := c.Output(at(2), nil); len(out) != 1 {
		t.Fatalf("window 0 after ACK: %d segments", len(out))
	}
	// Window 3 units: at most 3 segments and 3×4096 bytes in flight.
	c.Handle(pk(packet.FlagACK, 1, c.ISN()+1+2*4096, 3, nil), at(3))
	if out := c.Output(at(3), nil); len(out) != 3 {
		t.Fatalf("window 3: %d segments", len(out))
	}
}

// Conformance wire.md §14 item 19 (receiver side) and §9.8: never advertise 0.
func TestWire_C19_NeverAdvertiseZero(t *testing.T) {
	cfg := testConfig(2)
	cfg.RecvBuffer = 8192
	r, err := NewResponder(cfg, pk(packet.FlagSYN, 0, 0, 512, nil), at(0))
	if err != nil {
		t.Fatal(err)
	}
	r.Output(at(0), nil)
	seq := uint32(1)
	for i := range 6 {
		r.Handle(pk(packet.FlagACK, seq, r.ISN()+1, 512, bytes.Repeat([]byte{byte(i)}, 4096)), at(1+i))
		seq += 4096
		for _, p := range r.Output(at(1+i), nil) {
			if p.Window == 0 {
				t.Fatalf("advertised window 0: %+v", p)
			}
		}
	}
	if r.Readable() != 8192 {
		t.Fatalf("buffered %d, want 8192 (bytes beyond the buffer trimmed)", r.Readable())
	}
}

// The keepalive probe of §9.13 is answered, and ours has the right shape.
func TestWire_C23_KeepaliveProbe(t *testing.T) {
	cfg := testConfig(2)
	cfg.Keepalive = 5 * time.Second
	cfg.IdleTimeout = 15 * time.Second
	r := origResponder(t, cfg)
	r.Handle(pk(packet.FlagACK, 1, r.ISN()+1, 512, []byte("xyz")), at(1))
	r.Output(at(1), nil)
	r.Write([]byte("hi"))
	r.Output(at(2), nil)
	r.Handle(pk(packet.FlagACK, 4, r.ISN()+3, 512, nil), at(3))
	// A probe from the peer (seq = rcv.nxt − 1, one byte) gets a pure ACK.
	r.Handle(pk(packet.FlagACK, 3, r.ISN()+3, 512, []byte("z")), at(4))
	out := r.Output(at(4), nil)
	if len(out) != 1 || out[0].Flags != packet.FlagACK || out[0].Ack != 4 || len(out[0].Payload) != 0 {
		t.Fatalf("probe answer = %+v", out)
	}
	// Idle: our probe after the keepalive interval.
	d := r.NextDeadline()
	if d.Sub(at(4)) != 5*time.Second {
		t.Fatalf("keepalive deadline %v", d.Sub(at(4)))
	}
	r.Tick(d)
	out = r.Output(d, nil)
	if len(out) != 1 || out[0].Seq != r.ISN()+2 || string(out[0].Payload) != "i" || out[0].Ack != 4 || out[0].Window == 0 {
		t.Fatalf("probe = %+v", out)
	}
	// Nobody answers: dead peer after the idle timeout, with an RST.
	for i := 0; i < 10 && r.State() != StateClosed; i++ {
		d = r.NextDeadline()
		r.Tick(d)
		out = r.Output(d, nil)
	}
	if r.State() != StateClosed || r.Reason() != ReasonDeadPeer || d.Sub(at(4)) != 15*time.Second {
		t.Fatalf("state %v reason %v at %v", r.State(), r.Reason(), d.Sub(at(4)))
	}
	if len(out) != 1 || out[0].Flags != packet.FlagRST {
		t.Fatalf("dead peer: %+v", out)
	}
}

func TestRSTClosesAnyState(t *testing.T) {
	r := origResponder(t, testConfig(2))
	r.Handle(pk(packet.FlagRST, 0, 0, 0, nil), at(1))
	if r.State() != StateClosed || r.Reason() != ReasonPeerReset {
		t.Fatalf("%v %v", r.State(), r.Reason())
	}
	if out := r.Output(at(1), nil); len(out) != 0 {
		t.Fatalf("answered an RST: %+v", out)
	}
	if _, err := r.Write([]byte("x")); err == nil {
		t.Fatal("write after reset")
	}
}

// Delivered (behind the data plane's CloseWait, services.md §5.1): true once
// every written byte is acknowledged; false when the peer's FIN arrives
// while data is still unsent (the engine discards it), or when a reset
// discards written data.
func TestDelivered(t *testing.T) {
	c := origResponder(t, testConfig(2))
	c.Write([]byte("hello"))
	out := c.Output(at(1), nil)
	if len(out) != 1 || c.Delivered() {
		t.Fatalf("after sending: %d packets, delivered %v", len(out), c.Delivered())
	}
	c.Handle(pk(packet.FlagACK, 1, out[0].Seq+5, 512, nil), at(2))
	if !c.Delivered() {
		t.Fatal("all acknowledged, not delivered")
	}

	// The peer's FIN while written data is still unsent.
	f := origResponder(t, testConfig(2))
	f.Write(make([]byte, 10000))
	f.Handle(pk(packet.FlagFIN, 1, f.ISN()+1, 512, nil), at(2))
	if f.Delivered() {
		t.Fatal("unsent data discarded by the peer's FIN counted as delivered")
	}

	// A reset with written data not yet acknowledged.
	r := origResponder(t, testConfig(2))
	r.Write([]byte("lost"))
	r.Handle(pk(packet.FlagRST, 0, 0, 0, nil), at(2))
	if r.Delivered() {
		t.Fatal("data discarded at a reset counted as delivered")
	}
}
