package stream

import (
	"math/bits"
	"sync"
)

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
	nb := getRing(newCap)
	if len(r.buf) > 0 && used > 0 {
		first := min(used, len(r.buf)-r.head)
		copy(nb, r.buf[r.head:r.head+first])
		copy(nb[first:], r.buf[:used-first])
	}
	putRing(r.buf)
	r.buf = nb
	r.head = 0
}

// free hands the buffer back for reuse; the held count n stays (for
// statistics) but no byte may be accessed afterwards. Only for a CLOSED
// connection, on which nothing reads or writes the ring any more.
func (r *ring) free() {
	putRing(r.buf)
	r.buf, r.head = nil, 0
}

// Ring arrays are recycled by power-of-two capacity. A connection's
// buffers double from 64 KiB towards 4 MiB; allocating each step anew
// costs zeroing plus a page fault per 4 KiB on first touch (about 1 GB/s
// here against 50 GB/s for a warm copy), which dominated the CPU profile
// of a bulk transfer. The cache keeps at most ringCacheBytes of idle
// arrays across garbage collections (a sync.Pool would be emptied by the
// collections the transfer itself causes). Recycled arrays may hold
// another connection's old bytes: a ring only ever exposes bytes written
// to it since (the in-order prefix n, segments written at their offsets).
const (
	minPoolShift   = 16 // 64 KiB
	maxPoolShift   = 24 // 16 MiB
	ringCacheBytes = 32 << 20
)

var ringCache struct {
	mu    sync.Mutex
	bytes int
	free  [maxPoolShift + 1][][]byte
}

// poolShift returns the class of an array of capacity n (false: not
// pooled).
func poolShift(n int) (int, bool) {
	if n <= 0 {
		return 0, false
	}
	k := bits.Len(uint(n - 1))
	return k, k >= minPoolShift && k <= maxPoolShift
}

// getRing returns a byte slice of length n whose contents are undefined.
func getRing(n int) []byte {
	k, ok := poolShift(n)
	if !ok {
		return make([]byte, n)
	}
	rc := &ringCache
	rc.mu.Lock()
	if l := len(rc.free[k]); l > 0 {
		b := rc.free[k][l-1]
		rc.free[k][l-1] = nil
		rc.free[k] = rc.free[k][:l-1]
		rc.bytes -= cap(b)
		rc.mu.Unlock()
		return b[:n]
	}
	rc.mu.Unlock()
	return make([]byte, n, 1<<k)
}

// putRing keeps b for reuse when it came from getRing's classes and the
// cache has room.
func putRing(b []byte) {
	c := cap(b)
	k, ok := poolShift(c)
	if !ok || c != 1<<k {
		return
	}
	rc := &ringCache
	rc.mu.Lock()
	if rc.bytes+c <= ringCacheBytes {
		rc.free[k] = append(rc.free[k], b[:0])
		rc.bytes += c
	}
	rc.mu.Unlock()
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
