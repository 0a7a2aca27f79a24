package stream

import (
	"bytes"
	"testing"
)

// Ring arrays are recycled by power-of-two class within a bounded cache,
// and a recycled array never shows its old bytes: only what was written
// since is readable.
func TestRing_Recycling(t *testing.T) {
	const n = 100 << 10 // class 128 KiB
	var r ring
	r.grow(n, 0)
	if len(r.buf) != n || cap(r.buf) != 128<<10 {
		t.Fatalf("len %d cap %d, want %d and %d", len(r.buf), cap(r.buf), n, 128<<10)
	}
	for i := range r.buf {
		r.buf[i] = 0xAA
	}
	old := &r.buf[:1][0]
	r.free()
	if r.buf != nil || r.head != 0 {
		t.Fatal("free kept the array")
	}
	var q ring
	q.grow(n, 0)
	if &q.buf[:1][0] != old {
		t.Fatal("the freed array of the same class was not reused")
	}
	if k := q.appendTail([]byte("fresh")); k != 5 {
		t.Fatalf("appendTail took %d", k)
	}
	got := make([]byte, 64)
	if k := q.read(got); !bytes.Equal(got[:k], []byte("fresh")) {
		t.Fatalf("read %q, want only the new bytes", got[:k])
	}
	q.free()

	// Outside the classes (below 64 KiB) nothing is cached.
	putRing(make([]byte, 1000))
	if s, ok := poolShift(1000); ok {
		t.Fatalf("1000 bytes pooled in class %d", s)
	}
	// The cache is bounded.
	var big [][]byte
	for range ringCacheBytes/(4<<20) + 4 {
		big = append(big, getRing(4<<20))
	}
	for _, b := range big {
		putRing(b)
	}
	ringCache.mu.Lock()
	held := ringCache.bytes
	ringCache.mu.Unlock()
	if held > ringCacheBytes {
		t.Fatalf("cache holds %d bytes, limit %d", held, ringCacheBytes)
	}
}
