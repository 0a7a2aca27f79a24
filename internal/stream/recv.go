package stream

import (
	"io"
	"time"

	"github.com/pilot-go/pilot/internal/wire/sack"
)

// receiver is the receiving half: the receive buffer (in-order bytes for
// the application, out-of-order ranges held in place), ACK scheduling and
// the SACK list (§9.6, §9.7).
type receiver struct {
	nxt      uint32 // rcv.nxt
	readSeq  uint32 // sequence number of the next byte the application reads
	buf      ring   // n = in-order unread bytes; OOO bytes sit at their offsets
	capLimit int    // receive buffer capacity currently charged
	maxCap   int
	total    int64 // in-order bytes received

	ooo  []seqRange // out-of-order ranges, sorted, disjoint, non-adjacent
	mru  [sack.MaxBlocks]uint32
	mruN int

	ackNow      bool
	delAckAt    time.Duration
	unackedSegs int
	maxSeg      int
	lastAdv     int // last advertised window, bytes

	finHeld     bool // a FIN beyond a hole (§9.12 rules 2–3)
	finHeldSeq  uint32
	finHeldBare bool
	eof         bool   // the peer's FIN was accepted
	finSeq      uint32 // the accepted FIN's sequence number
	discard     bool   // application closed: acknowledge and drop

	blocks  [sack.MaxBlocks]sack.Block
	sackBuf [5 + 8*sack.MaxBlocks]byte
}

func (r *receiver) init(c *Conn, charged int) {
	r.capLimit = charged
	r.maxCap = c.cfg.RecvBuffer
	r.delAckAt = never
	r.lastAdv = charged
}

// start sets rcv.nxt after the peer's SYN.
func (r *receiver) start(nxt uint32) {
	r.nxt, r.readSeq = nxt, nxt
}

func (r *receiver) used() int { return int(r.nxt - r.readSeq) }

// window is the advertised window in units: clamp(floor(free/4096), 1,
// 65535); never 0 (§9.8).
func (r *receiver) window() uint16 {
	free := r.capLimit - r.used()
	r.lastAdv = free
	return uint16(min(max(free/WindowUnit, 1), 65535))
}

// ackSent records that a packet carrying rcv.nxt left.
func (r *receiver) ackSent() {
	r.ackNow = false
	r.unackedSegs = 0
	r.delAckAt = never
}

// onData places a data segment (§9.6) and schedules the ACK (§9.7).
func (c *Conn) onData(seq uint32, data []byte, t time.Duration) {
	r := &c.rcv
	if len(data) > r.maxSeg {
		r.maxSeg = len(data)
	}
	short := len(data) < r.maxSeg
	end := seq + uint32(len(data))
	if seqLE(end, r.nxt) {
		r.ackNow = true // duplicate (or keepalive probe)
		return
	}
	if seqLT(seq, r.nxt) {
		data = data[r.nxt-seq:]
		seq = r.nxt
	}
	limit := r.readSeq + uint32(r.capLimit)
	if r.finHeld && seqLT(r.finHeldSeq, limit) {
		limit = r.finHeldSeq
	}
	if !seqLT(seq, limit) {
		r.ackNow = true // beyond the window: trimmed entirely
		return
	}
	if seqGT(end, limit) {
		data = data[:limit-seq]
		end = limit
	}
	if r.buf.cap() < r.capLimit {
		r.buf.grow(r.capLimit, r.extent())
	}
	if seq != r.nxt {
		if !r.insert(seqRange{seq, end}) {
			r.ackNow = true
			return
		}
		r.buf.writeAt(int(seq-r.readSeq), data)
		r.pushMRU(seq)
		r.ackNow = true
		return
	}
	r.buf.writeAt(int(seq-r.readSeq), data)
	r.nxt = end
	filled := false
	for len(r.ooo) > 0 && seqLE(r.ooo[0].l, r.nxt) {
		r.nxt = seqMax(r.nxt, r.ooo[0].r)
		r.ooo = r.ooo[:copy(r.ooo, r.ooo[1:])]
		filled = true
	}
	got := int(r.nxt - r.readSeq - uint32(r.buf.n))
	r.buf.n += got
	r.total += int64(got)
	c.stats.BytesRecv += int64(got)
	if r.discard {
		r.buf.discard(r.buf.n)
		r.readSeq = r.nxt
	} else {
		c.ev |= EvReadable
	}
	switch {
	case filled || short:
		r.ackNow = true
	default:
		r.unackedSegs++
		if r.unackedSegs >= 2 {
			r.ackNow = true
		} else if r.delAckAt == never {
			r.delAckAt = t + c.delAck()
		}
	}
	c.growRecv()
	if r.finHeld && r.nxt == r.finHeldSeq {
		c.acceptFin(r.finHeldSeq, r.finHeldBare, t)
	}
}

// delAck is the delayed-ACK timeout: at most 40 ms (§9.7), shorter on
// paths whose RTT is known to be short so that an odd last segment of a
// flight does not stall a fast sender.
func (c *Conn) delAck() time.Duration {
	if e := &c.snd.rtt; e.has {
		return min(delAckTimeout, max(e.srtt/2, time.Millisecond))
	}
	return delAckTimeout
}

// extent is how many bytes from readSeq the buffer holds, OOO included.
func (r *receiver) extent() int {
	if len(r.ooo) > 0 {
		return int(r.ooo[len(r.ooo)-1].r - r.readSeq)
	}
	return r.used()
}

// growRecv lets the receive buffer follow the connection's demand: its
// capacity may reach twice the bytes received so far, up to RecvBuffer,
// out of what the daemon-wide budget grants (§9.15).
func (c *Conn) growRecv() {
	r := &c.rcv
	if r.capLimit >= r.maxCap || 2*r.total <= int64(r.capLimit) {
		return
	}
	want := min(r.maxCap, 2*r.capLimit) - r.capLimit
	if got := c.acquireUpTo(want); got > 0 {
		r.capLimit += got
		r.buf.grow(r.capLimit, r.extent())
	}
}

// insert adds an out-of-order range, merging neighbours; false when the
// range limit of §9.6 would be exceeded.
func (r *receiver) insert(s seqRange) bool {
	lo, hi := 0, len(r.ooo)
	for lo < hi { // first range whose right edge reaches s.l
		m := int(uint(lo+hi) >> 1)
		if seqLT(r.ooo[m].r, s.l) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	j := lo
	for j < len(r.ooo) && seqLE(r.ooo[j].l, s.r) {
		if seqLT(r.ooo[j].l, s.l) {
			s.l = r.ooo[j].l
		}
		s.r = seqMax(s.r, r.ooo[j].r)
		j++
	}
	if j == lo {
		if len(r.ooo) >= MaxOOORanges {
			return false
		}
		r.ooo = append(r.ooo, seqRange{})
		copy(r.ooo[lo+1:], r.ooo[lo:])
		r.ooo[lo] = s
		return true
	}
	r.ooo[lo] = s
	r.ooo = append(r.ooo[:lo+1], r.ooo[j:]...)
	return true
}

func (r *receiver) pushMRU(seq uint32) {
	copy(r.mru[1:], r.mru[:len(r.mru)-1])
	r.mru[0] = seq
	r.mruN = min(r.mruN+1, len(r.mru))
}

// rangeOf returns the index of the OOO range containing seq, or -1.
func (r *receiver) rangeOf(seq uint32) int {
	for i := range r.ooo { // callers use it for at most 4 lookups
		if seqLE(r.ooo[i].l, seq) && seqLT(seq, r.ooo[i].r) {
			return i
		}
		if seqGT(r.ooo[i].l, seq) {
			break
		}
	}
	return -1
}

// sackPayload builds the SACK list: the range of the most recent segment
// first, then other recently reported ranges, then the lowest (RFC 2018).
func (r *receiver) sackPayload() []byte {
	if len(r.ooo) == 0 {
		return nil
	}
	n := 0
	var used [sack.MaxBlocks]int
	add := func(i int) {
		for k := 0; k < n; k++ {
			if used[k] == i {
				return
			}
		}
		used[n] = i
		r.blocks[n] = sack.Block{Left: r.ooo[i].l, Right: r.ooo[i].r}
		n++
	}
	for k := 0; k < r.mruN && n < sack.MaxBlocks; k++ {
		if i := r.rangeOf(r.mru[k]); i >= 0 {
			add(i)
		}
	}
	for i := 0; i < len(r.ooo) && n < sack.MaxBlocks; i++ {
		add(i)
	}
	b, _ := sack.Append(r.sackBuf[:0], r.blocks[:n])
	return b
}

// Read copies in-order received data to b. It returns io.EOF once the
// peer's FIN has been reached and ErrReset after a reset.
func (c *Conn) Read(b []byte) (int, error) {
	r := &c.rcv
	if r.buf.n == 0 {
		switch {
		case r.eof:
			return 0, io.EOF
		case c.state == StateClosed && c.reason != ReasonNone:
			return 0, ErrReset
		case c.state == StateClosed:
			return 0, io.EOF
		}
		return 0, nil
	}
	n := r.buf.read(b)
	r.readSeq += uint32(n)
	if c.state == StateClosed || c.state == StateTimeWait {
		if r.buf.n == 0 {
			r.buf.free()
		}
		return n, nil
	}
	// Window update (§9.7): free space grew by max(2 units, 25 %) after the
	// last advertised window was below 25 % of the buffer.
	free := r.capLimit - r.used()
	if r.lastAdv < r.capLimit/4 && free-r.lastAdv >= max(2*WindowUnit, r.capLimit/4) && !r.eof {
		r.ackNow = true
	}
	return n, nil
}

// Readable returns the number of in-order bytes waiting for Read.
func (c *Conn) Readable() int { return c.rcv.buf.n }
