//go:build linux

package tunnel

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func udpLoopback(t testing.TB) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestGSOWriteGROReadSplitsExactly sends a run of equal frames and a
// shorter last one in one segmented write and checks that the coalesced
// read splits into exactly the frames sent, in order.
func TestGSOWriteGROReadSplitsExactly(t *testing.T) {
	tx, rx := udpLoopback(t), udpLoopback(t)
	if !probeGSO(tx) || !enableGRO(rx) {
		t.Fatal("this Linux kernel lacks UDP_SEGMENT or UDP_GRO on loopback")
	}
	const seg = 1200
	var frames [][]byte
	var run []byte
	for i := range 7 {
		n := seg
		if i == 6 {
			n = 300
		}
		f := bytes.Repeat([]byte{byte(i + 1)}, n)
		f[0], f[n-1] = 0xA0, byte(i)
		frames = append(frames, f)
		run = append(run, f...)
	}
	oob := gsoControl(nil, seg)
	to := rx.LocalAddr().(*net.UDPAddr).AddrPort()
	if n, _, err := tx.WriteMsgUDPAddrPort(run, oob, to); err != nil || n != len(run) {
		t.Fatalf("segmented write: %d, %v", n, err)
	}
	if err := rx.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1<<16)
	rb := make([]byte, groOOBSize)
	var got [][]byte
	for reads := 0; len(got) < len(frames) && reads < len(frames); reads++ {
		n, oobn, _, _, err := rx.ReadMsgUDPAddrPort(buf, rb)
		if err != nil {
			t.Fatalf("read after %d frames: %v", len(got), err)
		}
		size := groSegmentSize(rb[:oobn])
		if reads == 0 && size != seg {
			t.Errorf("first read: segment size %d, want %d (coalesced)", size, seg)
		}
		for b := buf[:n]; ; {
			d, rest := nextSegment(b, size)
			got = append(got, append([]byte(nil), d...))
			if len(rest) == 0 {
				break
			}
			b = rest
		}
	}
	if len(got) != len(frames) {
		t.Fatalf("got %d datagrams, want %d", len(got), len(frames))
	}
	for i := range frames {
		if !bytes.Equal(got[i], frames[i]) {
			t.Errorf("datagram %d: %d bytes %x…, want %d bytes %x…", i, len(got[i]), got[i][:2], len(frames[i]), frames[i][:2])
		}
	}
}

// TestGSOWithoutGROArrivesAsDatagrams: a receiver without UDP_GRO gets
// the segments as separate datagrams (the wire format is unchanged).
func TestGSOWithoutGROArrivesAsDatagrams(t *testing.T) {
	tx, rx := udpLoopback(t), udpLoopback(t)
	run := bytes.Repeat([]byte{7}, 3*500+20)
	to := rx.LocalAddr().(*net.UDPAddr).AddrPort()
	if _, _, err := tx.WriteMsgUDPAddrPort(run, gsoControl(nil, 500), to); err != nil {
		t.Fatal(err)
	}
	if err := rx.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1<<16)
	for i, want := range []int{500, 500, 500, 20} {
		n, _, err := rx.ReadFromUDPAddrPort(buf)
		if err != nil || n != want {
			t.Fatalf("datagram %d: %d bytes, %v; want %d", i, n, err, want)
		}
	}
}

// gsoFailConn fails segmented writes with err (only those to only, when
// set) and counts them.
type gsoFailConn struct {
	*net.UDPConn
	err   error
	only  netip.AddrPort
	mu    sync.Mutex
	fails int
}

func (c *gsoFailConn) WriteMsgUDPAddrPort(b, oob []byte, to netip.AddrPort) (int, int, error) {
	if len(oob) > 0 && (!c.only.IsValid() || to == c.only) {
		c.mu.Lock()
		c.fails++
		c.mu.Unlock()
		return 0, 0, c.err
	}
	return c.UDPConn.WriteMsgUDPAddrPort(b, oob, to)
}

// TestSendBatch_GSOFallback: a path that refuses segmentation (EIO: no
// checksum offload on its device) loses it for good after one attempt, the
// refused run is sent frame by frame, and other paths keep segmenting.
func TestSendBatch_GSOFallback(t *testing.T) {
	reg := newRegistry()
	bs := udpSocket(t)
	fc := &gsoFailConn{UDPConn: udpSocket(t), err: syscall.EIO, only: bs.LocalAddr().(*net.UDPAddr).AddrPort()}
	a := startUDPNode(t, 686, reg, fc, false)
	b := startUDPNode(t, 687, reg, bs, false)
	c := startUDPNode(t, 688, reg, udpSocket(t), false)
	if !a.m.gsoOn.Load() {
		t.Fatal("GSO not probed on a UDP socket")
	}
	if err := a.m.SendBatch(b.id, batchOf(a.id, b.id, 0, 12)); err != nil {
		t.Fatal(err)
	}
	b.payloads(t, 12)
	if err := a.m.SendBatch(b.id, batchOf(a.id, b.id, 12, 12)); err != nil {
		t.Fatalf("batch after the fallback: %v", err)
	}
	checkOrder(t, b.payloads(t, 24), 24)
	fc.mu.Lock()
	fails := fc.fails
	fc.mu.Unlock()
	if !a.m.gsoOn.Load() || fails != 1 || a.m.Counters().SegmentedWrites != 0 {
		t.Fatalf("gso %v after %d refused writes, counters %+v", a.m.gsoOn.Load(), fails, a.m.Counters())
	}
	if err := a.m.Send(c.id, datagram(a.id, c.id, "hello")); err != nil {
		t.Fatal(err)
	}
	c.payloads(t, 1) // keys established: the batch is sealed at once
	if err := a.m.SendBatch(c.id, batchOf(a.id, c.id, 0, 12)); err != nil {
		t.Fatal(err)
	}
	c.payloads(t, 13)
	if a.m.Counters().SegmentedWrites == 0 {
		t.Fatal("a path that never refused lost segmentation too")
	}
}

// A refusal that concerns the socket (no segmentation support at all)
// ends segmentation for every path; so do refusals on maxRefusedPaths
// distinct paths.
func TestRefuseGSO_SocketAndManyPaths(t *testing.T) {
	reg := newRegistry()
	a := startUDPNode(t, 686, reg, udpSocket(t), false)
	dst := netip.MustParseAddrPort("192.0.2.1:4000")
	a.m.refuseGSO(dst, syscall.EMSGSIZE)
	if !a.m.gsoOn.Load() || a.m.gsoFor(dst) || !a.m.gsoFor(netip.MustParseAddrPort("192.0.2.2:4000")) {
		t.Fatal("a path refusal must end segmentation for that path only")
	}
	a.m.refuseGSO(dst, syscall.EMSGSIZE) // the same path again counts once
	for i := 2; i < maxRefusedPaths; i++ {
		a.m.refuseGSO(netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), 4000), syscall.EINVAL)
		if !a.m.gsoOn.Load() {
			t.Fatalf("segmentation ended after %d refusing paths", i)
		}
	}
	a.m.refuseGSO(netip.MustParseAddrPort("198.51.100.1:4000"), syscall.EIO)
	if a.m.gsoOn.Load() {
		t.Fatalf("segmentation still on after %d refusing paths", maxRefusedPaths)
	}
	b := startUDPNode(t, 687, reg, udpSocket(t), false)
	b.m.refuseGSO(dst, syscall.EOPNOTSUPP)
	if b.m.gsoOn.Load() {
		t.Fatal("a socket-level refusal left segmentation on")
	}
}

// TestSendBatch_WriteErrorReported: a segmented write failing for another
// reason is reported to the caller and counted per datagram, like a failed
// write of each packet.
func TestSendBatch_WriteErrorReported(t *testing.T) {
	reg := newRegistry()
	fc := &gsoFailConn{UDPConn: udpSocket(t), err: syscall.ENOBUFS}
	a := startUDPNode(t, 686, reg, fc, false)
	b := startUDPNode(t, 687, reg, udpSocket(t), false)
	if err := a.m.Send(b.id, datagram(a.id, b.id, "hello")); err != nil {
		t.Fatal(err)
	}
	b.payloads(t, 1) // keys established: the next batch is sealed at once
	before := a.m.Counters().WriteErrors
	ps := batchOf(a.id, b.id, 0, 10) // ten full frames: one run
	if err := a.m.SendBatch(b.id, ps); !errors.Is(err, syscall.ENOBUFS) {
		t.Fatalf("SendBatch error %v, want ENOBUFS", err)
	}
	if got := a.m.Counters().WriteErrors - before; got != 10 {
		t.Fatalf("%d write errors counted, want 10", got)
	}
	if !a.m.gsoOn.Load() {
		t.Fatal("a transient error disabled GSO")
	}
}

func TestGROSegmentSizeParsing(t *testing.T) {
	var oob []byte
	if groSegmentSize(oob) != 0 {
		t.Fatal("empty oob")
	}
	// An unrelated message first, then UDP_GRO.
	other := make([]byte, unix.CmsgSpace(4))
	putCmsgLen(other, unix.CmsgLen(4))
	other[cmsgLenSize] = 0 // level SOL_IP
	gro := make([]byte, unix.CmsgSpace(4))
	putCmsgLen(gro, unix.CmsgLen(4))
	binary.NativeEndian.PutUint32(gro[cmsgLenSize:], unix.SOL_UDP)
	binary.NativeEndian.PutUint32(gro[cmsgLenSize+4:], unix.UDP_GRO)
	binary.NativeEndian.PutUint32(gro[unix.CmsgLen(0):], 1400)
	oob = append(other, gro...)
	if got := groSegmentSize(oob); got != 1400 {
		t.Fatalf("segment size %d, want 1400", got)
	}
	if got := groSegmentSize(oob[:len(other)+unix.CmsgLen(4)-1]); got != 0 {
		t.Fatalf("truncated message: %d, want 0", got)
	}
	binary.NativeEndian.PutUint32(gro[unix.CmsgLen(0):], 0xFFFFFFFF)
	if got := groSegmentSize(gro); got != 0 {
		t.Fatalf("negative size read as %d", got)
	}
	// A UDP_SEGMENT message is not a GRO size.
	if got := groSegmentSize(gsoControl(nil, 999)); got != 0 {
		t.Fatalf("UDP_SEGMENT read as GRO: %d", got)
	}
}

// FuzzGROSegmentSize: the control-message parser never panics and never
// returns a negative size.
func FuzzGROSegmentSize(f *testing.F) {
	f.Add([]byte{})
	f.Add(gsoControl(nil, 1200))
	f.Add(make([]byte, unix.CmsgSpace(4)))
	f.Fuzz(func(t *testing.T, oob []byte) {
		if n := groSegmentSize(oob); n < 0 {
			t.Fatalf("negative size %d", n)
		}
	})
}

// runConn records the frame count of every segmented write.
type runConn struct {
	*net.UDPConn
	mu   sync.Mutex
	runs []int
}

func (c *runConn) WriteMsgUDPAddrPort(b, oob []byte, to netip.AddrPort) (int, int, error) {
	if len(oob) >= unix.CmsgLen(2) {
		seg := int(binary.NativeEndian.Uint16(oob[unix.CmsgLen(0):]))
		c.mu.Lock()
		c.runs = append(c.runs, (len(b)+seg-1)/seg)
		c.mu.Unlock()
	}
	return c.UDPConn.WriteMsgUDPAddrPort(b, oob, to)
}

// TestHeldRepliesBurstLimit: replies held during a coalesced read of 30
// frames leave in segmented writes of at most 10 frames (§9.10), in order.
func TestHeldRepliesBurstLimit(t *testing.T) {
	reg := newRegistry()
	a := startUDPNode(t, 686, reg, udpSocket(t), false)
	rc := &runConn{UDPConn: udpSocket(t)}
	b := startUDPNode(t, 687, reg, rc, false)
	b.echo = true
	if err := a.m.Send(b.id, datagram(a.id, b.id, "\x00\x00\x00\x00")); err != nil {
		t.Fatal(err)
	}
	a.payloads(t, 1) // keys in place: the batches below are sealed at once
	a.mu.Lock()
	a.got = nil
	a.mu.Unlock()
	total := 0
	for range 3 {
		ps := batchOf(a.id, b.id, total, 30)
		for i := range ps { // equal sizes: one run of 30 frames
			ps[i].Payload = ps[i].Payload[:min(len(ps[i].Payload), 8)]
		}
		if err := a.m.SendBatch(b.id, ps); err != nil {
			t.Fatal(err)
		}
		total += 30
		a.payloads(t, total)
	}
	checkOrder(t, a.payloads(t, total), total)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.runs) == 0 {
		t.Fatal("no held replies were written as a run")
	}
	for _, n := range rc.runs {
		if n > heldRun {
			t.Fatalf("a held run of %d frames left back to back (runs %v)", n, rc.runs)
		}
	}
}
