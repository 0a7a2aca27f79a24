package rawsock

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func udpPair(t *testing.T, network, bind string) (a, b *UDP) {
	t.Helper()
	open := func() *UDP {
		c, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.MustParseAddrPort(bind)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		u, err := NewUDP(c)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	return open(), open()
}

// to returns the loopback address of u's port.
func to(u *UDP, ip string) netip.AddrPort {
	return netip.AddrPortFrom(netip.MustParseAddr(ip), u.LocalAddr().(*net.UDPAddr).AddrPort().Port())
}

// Datagrams go both ways with the sender's address reported as the net
// package reports it: plain IPv4 on an IPv4 socket, the mapped form on a
// dual-stack socket.
func TestUDP_RoundTrip(t *testing.T) {
	for _, tc := range []struct {
		network, bind, peer, want string
	}{
		{"udp4", "127.0.0.1:0", "127.0.0.1", "127.0.0.1"},
		{"udp", "[::]:0", "127.0.0.1", "::ffff:127.0.0.1"},
	} {
		a, b := udpPair(t, tc.network, tc.bind)
		if n, err := a.WriteToUDPAddrPort([]byte("hello"), to(b, tc.peer)); err != nil || n != 5 {
			t.Fatalf("%s write: %d, %v", tc.network, n, err)
		}
		buf := make([]byte, 64)
		n, from, err := b.ReadFromUDPAddrPort(buf)
		if err != nil || string(buf[:n]) != "hello" {
			t.Fatalf("%s read: %q, %v", tc.network, buf[:n], err)
		}
		if want := to(a, tc.want); from != want {
			t.Fatalf("%s: from %v, want %v", tc.network, from, want)
		}
		// the net package agrees on the form of the address
		if _, err := b.UDPConn.WriteToUDPAddrPort([]byte("back"), from); err != nil {
			t.Fatal(err)
		}
		if _, nfrom, err := a.UDPConn.ReadFromUDPAddrPort(buf); err != nil || nfrom != to(b, tc.want) {
			t.Fatalf("%s: net reply from %v, %v", tc.network, nfrom, err)
		}
	}
}

// An IPv6 destination on an IPv4 socket is refused before any system call.
func TestUDP_IPv6OnIPv4Socket(t *testing.T) {
	a, _ := udpPair(t, "udp4", "127.0.0.1:0")
	var ae *net.AddrError
	if _, err := a.WriteToUDPAddrPort([]byte("x"), netip.MustParseAddrPort("[2001:db8::1]:9")); !errors.As(err, &ae) {
		t.Fatalf("err %v, want *net.AddrError", err)
	}
}

// A read started before the datagram is sent waits for it (the EAGAIN
// path parks on the poller), and a read deadline still applies.
func TestUDP_ReadWaitsAndHonoursDeadline(t *testing.T) {
	a, b := udpPair(t, "udp4", "127.0.0.1:0")
	got := make(chan string, 1)
	go func() {
		buf := make([]byte, 64)
		n, _, err := b.ReadFromUDPAddrPort(buf)
		if err != nil {
			got <- err.Error()
			return
		}
		got <- string(buf[:n])
	}()
	if _, err := a.WriteToUDPAddrPort([]byte("late"), to(b, "127.0.0.1")); err != nil {
		t.Fatal(err)
	}
	if s := <-got; s != "late" {
		t.Fatalf("read %q", s)
	}
	b.SetReadDeadline(time.Now().Add(-time.Second))
	if _, _, err := b.ReadFromUDPAddrPort(make([]byte, 8)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("err %v, want a deadline error", err)
	}
	b.Close()
	if _, _, err := b.ReadFromUDPAddrPort(make([]byte, 8)); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read after close: %v", err)
	}
}

// Control data reaches the kernel: one write with UDP_SEGMENT arrives as
// three datagrams, and the receiver's control buffer is returned.
func TestUDP_ControlMessages(t *testing.T) {
	a, b := udpPair(t, "udp4", "127.0.0.1:0")
	oob := make([]byte, unix.CmsgSpace(2))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
	h.Level, h.Type = unix.SOL_UDP, unix.UDP_SEGMENT
	h.SetLen(unix.CmsgLen(2))
	binary.NativeEndian.PutUint16(oob[unix.CmsgLen(0):], 100) // segment size
	payload := bytes.Repeat([]byte("abc"), 100)               // 300 bytes
	n, oobn, err := a.WriteMsgUDPAddrPort(payload, oob, to(b, "127.0.0.1"))
	if err != nil || n != 300 || oobn != len(oob) {
		t.Fatalf("segmented write: %d, %d, %v", n, oobn, err)
	}
	buf := make([]byte, 1024)
	for i := range 3 {
		n, _, flags, _, err := b.ReadMsgUDPAddrPort(buf, make([]byte, 64))
		if err != nil || n != 100 || flags != 0 || !bytes.Equal(buf[:n], payload[100*i:100*(i+1)]) {
			t.Fatalf("segment %d: %d bytes, flags %d, %v", i, n, flags, err)
		}
	}
}

func streamPair(t *testing.T) (a, b *net.UnixConn) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "s.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	a, err = net.DialUnix("unix", nil, l.Addr().(*net.UnixAddr))
	if err != nil {
		t.Fatal(err)
	}
	b, err = l.AcceptUnix()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// A write larger than the socket buffers completes (the EAGAIN path waits
// for the reader to make room), every byte arrives in order, and the
// reader sees io.EOF after the writer closes.
func TestStream_BulkAndEOF(t *testing.T) {
	a, b := streamPair(t)
	wa, err := NewStream(a)
	if err != nil {
		t.Fatal(err)
	}
	rb, err := NewStream(b)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]byte, 8<<20)
	for i := range want {
		want[i] = byte(i * 7)
	}
	werr := make(chan error, 1)
	go func() {
		n, err := wa.Write(want)
		if err == nil && n != len(want) {
			err = io.ErrShortWrite
		}
		a.CloseWrite()
		werr <- err
	}()
	got, err := io.ReadAll(rb)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read %d of %d bytes, %v", len(got), len(want), err)
	}
	if err := <-werr; err != nil {
		t.Fatal(err)
	}
	if n, err := rb.Read(make([]byte, 8)); n != 0 || err != io.EOF {
		t.Fatalf("after EOF: %d, %v", n, err)
	}
}

// Deadlines set on the connection bound the raw reads; reads after Close
// fail.
func TestStream_DeadlineAndClose(t *testing.T) {
	a, _ := streamPair(t)
	s, err := NewStream(a)
	if err != nil {
		t.Fatal(err)
	}
	a.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, err := s.Read(make([]byte, 8)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("err %v, want a deadline error", err)
	}
	a.Close()
	if _, err := s.Read(make([]byte, 8)); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read after close: %v", err)
	}
	if _, err := s.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write after close: %v", err)
	}
}

// decode reads sockaddr_in and sockaddr_in6 as the net package reports
// them: IPv4 plain, IPv6 in 16-byte form, a scope ID as the zone (the
// interface name, or the index when there is no such interface).
func TestDecodeSockaddr(t *testing.T) {
	var sa sockaddr
	binary.NativeEndian.PutUint16(sa[0:], unix.AF_INET)
	binary.BigEndian.PutUint16(sa[2:], 4000)
	copy(sa[4:], []byte{192, 0, 2, 7})
	if got := decode(&sa); got != netip.MustParseAddrPort("192.0.2.7:4000") {
		t.Errorf("AF_INET: %v", got)
	}
	sa = sockaddr{}
	binary.NativeEndian.PutUint16(sa[0:], unix.AF_INET6)
	binary.BigEndian.PutUint16(sa[2:], 4001)
	ll := netip.MustParseAddr("fe80::1").As16()
	copy(sa[8:], ll[:])
	if got := decode(&sa); got != netip.MustParseAddrPort("[fe80::1]:4001") {
		t.Errorf("AF_INET6 without scope: %v", got)
	}
	binary.NativeEndian.PutUint32(sa[24:], 1) // loopback is index 1 on Linux
	lo, err := net.InterfaceByIndex(1)
	if err != nil {
		t.Fatal(err)
	}
	if got := decode(&sa); got.Addr().Zone() != lo.Name {
		t.Errorf("scope 1: %v, want zone %s", got, lo.Name)
	}
	binary.NativeEndian.PutUint32(sa[24:], 99999)
	if got := decode(&sa); got.Addr().Zone() != "99999" {
		t.Errorf("unknown scope: %v", got)
	}
	binary.NativeEndian.PutUint16(sa[0:], unix.AF_UNIX)
	if got := decode(&sa); got.IsValid() {
		t.Errorf("AF_UNIX: %v", got)
	}
}

// A zone is written as the scope ID (by name or by index), and a zone
// that names no interface is refused; a zoned datagram to ::1 arrives.
func TestUDP_ZonedDestination(t *testing.T) {
	a, b := udpPair(t, "udp", "[::]:0")
	lo, err := net.InterfaceByIndex(1)
	if err != nil {
		t.Fatal(err)
	}
	for _, zone := range []string{lo.Name, "1"} {
		var sa sockaddr
		if _, err := a.encode(&sa, netip.MustParseAddrPort("[fe80::1%"+zone+"]:9")); err != nil {
			t.Fatal(err)
		}
		if id := binary.NativeEndian.Uint32(sa[24:28]); id != 1 {
			t.Errorf("zone %q: scope ID %d, want 1", zone, id)
		}
	}
	if _, err := a.WriteToUDPAddrPort([]byte("x"), netip.MustParseAddrPort("[fe80::1%no-such-if0]:9")); err == nil {
		t.Error("a zone naming no interface was accepted")
	}
	dst := netip.AddrPortFrom(netip.MustParseAddr("::1").WithZone(lo.Name), to(b, "::1").Port())
	if _, err := a.WriteToUDPAddrPort([]byte("zoned"), dst); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	n, _, err := b.ReadFromUDPAddrPort(buf)
	if err != nil || string(buf[:n]) != "zoned" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
}

// A write the kernel refuses comes back as a *net.OpError carrying the
// errno: a datagram above the UDP maximum is EMSGSIZE.
func TestUDP_KernelErrorReported(t *testing.T) {
	a, b := udpPair(t, "udp4", "127.0.0.1:0")
	_, err := a.WriteToUDPAddrPort(make([]byte, 70000), to(b, "127.0.0.1"))
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "write" || !errors.Is(err, unix.EMSGSIZE) {
		t.Fatalf("err %v, want a write *net.OpError with EMSGSIZE", err)
	}
}

// Writing to a stream whose peer has gone fails with EPIPE or ECONNRESET
// in a *net.OpError (the daemon keeps running: Go ignores SIGPIPE on
// sockets).
func TestStream_WriteAfterPeerClosed(t *testing.T) {
	a, b := streamPair(t)
	s, err := NewStream(a)
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	buf := make([]byte, 64<<10)
	for range 64 { // the first writes may still fit the socket buffer
		if _, err = s.Write(buf); err != nil {
			break
		}
	}
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Net != "unix" || !(errors.Is(err, unix.EPIPE) || errors.Is(err, unix.ECONNRESET)) {
		t.Fatalf("err %v, want a unix *net.OpError with EPIPE", err)
	}
}

// ReadWriter gives a Stream for sockets and the connection itself for
// anything else.
func TestReadWriterFallsBack(t *testing.T) {
	a, _ := streamPair(t)
	if _, ok := ReadWriter(a).(*Stream); !ok {
		t.Error("a Unix socket did not get raw system calls")
	}
	p, q := net.Pipe()
	defer p.Close()
	defer q.Close()
	if rw := ReadWriter(p); rw != io.ReadWriter(p) {
		t.Errorf("net.Pipe: %T, want the conn itself", rw)
	}
}
