//go:build linux

package rawsock

import (
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// UDP is a *net.UDPConn whose datagram reads and writes are raw system
// calls made from the connection's RawConn callbacks.
type UDP struct {
	*net.UDPConn
	rc    syscall.RawConn
	inet6 bool // the socket is AF_INET6: IPv4 peers are written as mapped addresses
}

// NewUDP wraps c.
func NewUDP(c *net.UDPConn) (*UDP, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	u := &UDP{UDPConn: c, rc: rc}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		var sa unix.Sockaddr
		sa, serr = unix.Getsockname(int(fd))
		_, u.inet6 = sa.(*unix.SockaddrInet6)
	}); err != nil {
		return nil, err
	}
	if serr != nil {
		return nil, serr
	}
	return u, nil
}

// sockaddr is a raw sockaddr_in or sockaddr_in6.
type sockaddr [unix.SizeofSockaddrInet6]byte

func (u *UDP) encode(sa *sockaddr, to netip.AddrPort) (uint32, error) {
	a := to.Addr()
	if !u.inet6 {
		if !a.Unmap().Is4() {
			return 0, &net.AddrError{Err: "non-IPv4 address", Addr: a.String()}
		}
		binary.NativeEndian.PutUint16(sa[0:], unix.AF_INET)
		binary.BigEndian.PutUint16(sa[2:], to.Port())
		b := a.Unmap().As4()
		copy(sa[4:8], b[:])
		return unix.SizeofSockaddrInet4, nil
	}
	binary.NativeEndian.PutUint16(sa[0:], unix.AF_INET6)
	binary.BigEndian.PutUint16(sa[2:], to.Port())
	b := a.As16()
	copy(sa[8:24], b[:])
	if z := a.Zone(); z != "" {
		id, err := zoneIndex(z)
		if err != nil {
			return 0, err
		}
		binary.NativeEndian.PutUint32(sa[24:28], id)
	}
	return unix.SizeofSockaddrInet6, nil
}

// zoneIndex is the interface index of zone: a name or a decimal index.
func zoneIndex(zone string) (uint32, error) {
	if n, err := strconv.ParseUint(zone, 10, 32); err == nil {
		return uint32(n), nil
	}
	ifi, err := net.InterfaceByName(zone)
	if err != nil {
		return 0, err
	}
	return uint32(ifi.Index), nil
}

func decode(sa *sockaddr) netip.AddrPort {
	switch binary.NativeEndian.Uint16(sa[0:]) {
	case unix.AF_INET:
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(sa[4:8])), binary.BigEndian.Uint16(sa[2:]))
	case unix.AF_INET6:
		a := netip.AddrFrom16([16]byte(sa[8:24]))
		if id := binary.NativeEndian.Uint32(sa[24:28]); id != 0 {
			a = a.WithZone(zoneName(id)) // link-local: the interface, as the net package reports it
		}
		return netip.AddrPortFrom(a, binary.BigEndian.Uint16(sa[2:]))
	}
	return netip.AddrPort{}
}

// zoneNames caches interface names by index: a link-local peer's every
// datagram carries its scope ID, and looking a name up is a netlink dump.
var zoneNames sync.Map // uint32 → string

// zoneName is the name of interface index id, or the index in decimal.
func zoneName(id uint32) string {
	if v, ok := zoneNames.Load(id); ok {
		return v.(string)
	}
	name := strconv.FormatUint(uint64(id), 10)
	if ifi, err := net.InterfaceByIndex(int(id)); err == nil {
		name = ifi.Name
		zoneNames.Store(id, name) // unknown indexes are not cached: an interface may appear
	}
	return name
}

// WriteMsgUDPAddrPort is sendmsg(2).
func (u *UDP) WriteMsgUDPAddrPort(b, oob []byte, to netip.AddrPort) (n, oobn int, err error) {
	var sa sockaddr
	salen, err := u.encode(&sa, to)
	if err != nil {
		return 0, 0, err
	}
	var iov unix.Iovec
	msg := newMsghdr(&iov, b, oob, &sa, salen)
	var e unix.Errno
	raceReleaseIO()
	if werr := u.rc.Write(func(fd uintptr) bool {
		n, e = msgCall(unix.SYS_SENDMSG, fd, &msg)
		return e != unix.EAGAIN
	}); werr != nil {
		return 0, 0, werr
	}
	if e != 0 {
		return 0, 0, &net.OpError{Op: "write", Net: "udp", Source: u.LocalAddr(), Addr: net.UDPAddrFromAddrPort(to), Err: e}
	}
	return n, len(oob), nil
}

// WriteToUDPAddrPort is WriteMsgUDPAddrPort without control data.
func (u *UDP) WriteToUDPAddrPort(b []byte, to netip.AddrPort) (int, error) {
	n, _, err := u.WriteMsgUDPAddrPort(b, nil, to)
	return n, err
}

// ReadMsgUDPAddrPort is recvmsg(2).
func (u *UDP) ReadMsgUDPAddrPort(b, oob []byte) (n, oobn, flags int, from netip.AddrPort, err error) {
	var sa sockaddr
	var iov unix.Iovec
	msg := newMsghdr(&iov, b, oob, &sa, uint32(len(sa)))
	var e unix.Errno
	if rerr := u.rc.Read(func(fd uintptr) bool {
		n, e = msgCall(unix.SYS_RECVMSG, fd, &msg)
		return e != unix.EAGAIN
	}); rerr != nil {
		return 0, 0, 0, netip.AddrPort{}, rerr
	}
	if e != 0 {
		return 0, 0, 0, netip.AddrPort{}, &net.OpError{Op: "read", Net: "udp", Source: u.LocalAddr(), Err: e}
	}
	raceAcquireIO()
	return n, int(msg.Controllen), int(msg.Flags), decode(&sa), nil
}

// newMsghdr points a msghdr at one buffer b (through iov), the control
// data oob and the address sa of salen bytes.
func newMsghdr(iov *unix.Iovec, b, oob []byte, sa *sockaddr, salen uint32) unix.Msghdr {
	var msg unix.Msghdr
	if len(b) > 0 {
		iov.Base = &b[0]
		iov.SetLen(len(b))
	}
	msg.Name, msg.Namelen = &sa[0], salen
	msg.Iov = iov
	msg.SetIovlen(1)
	if len(oob) > 0 {
		msg.Control = &oob[0]
		msg.SetControllen(len(oob))
	}
	return msg
}

// msgCall makes the sendmsg or recvmsg call trap on fd, again when a
// signal interrupted it.
func msgCall(trap, fd uintptr, msg *unix.Msghdr) (int, unix.Errno) {
	for {
		r, _, e := syscall.RawSyscall(trap, fd, uintptr(unsafe.Pointer(msg)), 0)
		if e != unix.EINTR {
			return int(r), unix.Errno(e)
		}
	}
}

// bufCall makes the read or write call trap on fd with the non-empty
// buffer p, again when a signal interrupted it.
func bufCall(trap, fd uintptr, p []byte) (int, unix.Errno) {
	for {
		r, _, e := syscall.RawSyscall(trap, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
		if e != unix.EINTR {
			return int(r), unix.Errno(e)
		}
	}
}

// ReadFromUDPAddrPort is ReadMsgUDPAddrPort without control data.
func (u *UDP) ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error) {
	n, _, _, from, err := u.ReadMsgUDPAddrPort(b, nil)
	return n, from, err
}

// Stream reads and writes a stream socket (a *net.UnixConn or
// *net.TCPConn) with raw read(2) and write(2) calls made from its RawConn
// callbacks; deadlines and Close stay with the connection.
type Stream struct {
	rc  syscall.RawConn
	net string // for errors: "unix", "tcp"…
}

// NewStream wraps c.
func NewStream(c syscall.Conn) (*Stream, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	s := &Stream{rc: rc, net: "unix"}
	if nc, ok := c.(net.Conn); ok {
		s.net = nc.LocalAddr().Network()
	}
	return s, nil
}

// Read is read(2); 0, io.EOF at the end of the stream.
func (s *Stream) Read(p []byte) (n int, err error) {
	if len(p) == 0 {
		return 0, nil
	}
	rerr := s.rc.Read(func(fd uintptr) bool {
		r, e := bufCall(unix.SYS_READ, fd, p)
		switch e {
		case unix.EAGAIN:
			return false
		case 0:
			n = r
		default:
			err = e
		}
		return true
	})
	if rerr != nil {
		return 0, rerr
	}
	if err != nil {
		return 0, &net.OpError{Op: "read", Net: s.net, Err: err}
	}
	if n == 0 {
		return 0, io.EOF
	}
	raceAcquireIO()
	return n, nil
}

// Write writes all of p with write(2), waiting while the socket is full.
func (s *Stream) Write(p []byte) (n int, err error) {
	raceReleaseIO()
	for n < len(p) && err == nil {
		rest := p[n:]
		werr := s.rc.Write(func(fd uintptr) bool {
			r, e := bufCall(unix.SYS_WRITE, fd, rest)
			switch e {
			case unix.EAGAIN:
				return false
			case 0:
				n += r
			default:
				err = &net.OpError{Op: "write", Net: s.net, Err: e}
			}
			return true
		})
		if werr != nil {
			return n, werr
		}
	}
	return n, err
}
