package stream

// ring is a byte ring buffer addressed by offsets relative to its head. The
// send side appends at the tail and discards acknowledged bytes at the head;
// the receive side writes segments at arbitrary offsets (out-of-order data)
// and counts only the in-order prefix in n.
type ring struct {
	buf  []byte
	head int // index of offset 0
	n    int // bytes counted as held from head (send: all; receive: in order)
}

func (r *ring) cap() int { return len(r.buf) }

func (r *ring) pos(off int) int {
	p := r.head + off
	if p >= len(r.buf) {
		p -= len(r.buf)
	}
	return p
}

// grow reallocates the buffer to newCap bytes, keeping the first used bytes
// (from head, which may exceed n on the receive side) linearised at index 0.
func (r *ring) grow(newCap, used int) {
	if newCap <= len(r.buf) {
		return
	}
	nb := make([]byte, newCap)
	if len(r.buf) > 0 && used > 0 {
		first := min(used, len(r.buf)-r.head)
		copy(nb, r.buf[r.head:r.head+first])
		copy(nb[first:], r.buf[:used-first])
	}
	r.buf = nb
	r.head = 0
}

// appendTail copies p after the n held bytes; it returns how many fit.
func (r *ring) appendTail(p []byte) int {
	k := min(len(p), len(r.buf)-r.n)
	r.writeAt(r.n, p[:k])
	r.n += k
	return k
}

// writeAt copies p to offset off; off+len(p) must not exceed cap.
func (r *ring) writeAt(off int, p []byte) {
	for len(p) > 0 {
		at := r.pos(off)
		k := copy(r.buf[at:], p)
		p = p[k:]
		off += k
	}
}

// run returns the contiguous bytes starting at offset off, at most n of them
// (fewer when the buffer wraps there).
func (r *ring) run(off, n int) []byte {
	at := r.pos(off)
	end := min(at+n, len(r.buf))
	return r.buf[at:end:end]
}

// read copies up to len(p) in-order bytes to p and discards them.
func (r *ring) read(p []byte) int {
	k := min(len(p), r.n)
	done := 0
	for done < k {
		at := r.pos(0)
		c := copy(p[done:k], r.buf[at:])
		done += c
		r.discard(c)
	}
	return k
}

// discard drops k bytes from the head.
func (r *ring) discard(k int) {
	if k <= 0 {
		return
	}
	r.head = r.pos(k)
	r.n -= k
}

// byteAt returns the byte at offset off (which must be held).
func (r *ring) byteAt(off int) byte { return r.buf[r.pos(off)] }
