package beacon

import (
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"github.com/pilot-go/pilot/internal/rawsock"
)

// packetConn is the beacon's datagram socket. ReadFrom returns, besides
// the source, the local address the datagram was sent to (zero when the
// socket is bound to a specific address, or the platform cannot tell);
// WriteTo sends from that local address. Only the read loop calls
// ReadFrom; WriteTo is safe for concurrent use.
type packetConn interface {
	ReadFrom(b []byte) (n int, src netip.AddrPort, local netip.Addr, err error)
	WriteTo(b []byte, dst netip.AddrPort, local netip.Addr) error
	LocalAddr() netip.AddrPort
	Close() error
}

// udpConn implements packetConn over one UDP socket.
//
// Reply source (beacon.md §1): a socket bound to a specific IP sends from
// it. A wildcard socket (":9001", "0.0.0.0:9001", "[::]:9001") selects the
// source per packet: IP_PKTINFO / IPV6_RECVPKTINFO report the destination
// address of every datagram and the same control message on send makes
// the kernel use it as the source (socket_linux.go). We chose this over
// one socket per interface address because it also covers addresses added
// after start and keeps a single read loop. On other platforms a wildcard
// listen address is refused (socket_other.go).
type udpConn struct {
	c       udpIO
	pktinfo bool      // per-packet source selection is active
	v6      bool      // AF_INET6 socket (send control messages at SOL_IPV6)
	oob     [128]byte // read-side control buffer, owned by the read loop
}

// udpIO is the beacon's socket: a *net.UDPConn, or on Linux the same
// socket read and written with raw system calls (internal/rawsock): relay
// traffic is one read and one write per datagram.
type udpIO interface {
	ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error)
	ReadMsgUDPAddrPort(b, oob []byte) (n, oobn, flags int, addr netip.AddrPort, err error)
	WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error)
	WriteMsgUDPAddrPort(b, oob []byte, addr netip.AddrPort) (n, oobn int, err error)
	LocalAddr() net.Addr
	SyscallConn() (syscall.RawConn, error)
	Close() error
}

func listenUDP(listen string) (*udpConn, error) {
	laddr, err := net.ResolveUDPAddr("udp", listen)
	if err != nil {
		return nil, fmt.Errorf("resolve listen address %q: %w", listen, err)
	}
	c, err := net.ListenUDP("udp", laddr)
	if err != nil {
		return nil, fmt.Errorf("listen %q: %w", listen, err)
	}
	_ = c.SetReadBuffer(socketBufferSize) // best effort (beacon.md §1 SHOULD)
	u := &udpConn{c: c}
	if raw, err := rawsock.NewUDP(c); err == nil {
		u.c = raw
	}
	if laddr.IP == nil || laddr.IP.IsUnspecified() {
		if err := u.enablePktinfo(); err != nil {
			c.Close()
			return nil, fmt.Errorf("listen %q: enable per-packet source selection: %w", listen, err)
		}
	}
	return u, nil
}

func (u *udpConn) ReadFrom(b []byte) (int, netip.AddrPort, netip.Addr, error) {
	if !u.pktinfo {
		n, src, err := u.c.ReadFromUDPAddrPort(b)
		return n, unmapAddrPort(src), netip.Addr{}, err
	}
	n, oobn, _, src, err := u.c.ReadMsgUDPAddrPort(b, u.oob[:])
	if err != nil {
		return n, unmapAddrPort(src), netip.Addr{}, err
	}
	return n, unmapAddrPort(src), parseLocal(u.oob[:oobn]), nil
}

func (u *udpConn) WriteTo(b []byte, dst netip.AddrPort, local netip.Addr) error {
	if u.v6 && dst.Addr().Is4() {
		dst = netip.AddrPortFrom(netip.AddrFrom16(dst.Addr().As16()), dst.Port())
	}
	if !u.pktinfo || !local.IsValid() {
		_, err := u.c.WriteToUDPAddrPort(b, dst)
		return err
	}
	_, _, err := u.c.WriteMsgUDPAddrPort(b, sourceOOB(local, u.v6), dst)
	return err
}

func (u *udpConn) LocalAddr() netip.AddrPort {
	return unmapAddrPort(u.c.LocalAddr().(*net.UDPAddr).AddrPort())
}

func (u *udpConn) Close() error { return u.c.Close() }

// unmapAddrPort turns IPv4-mapped IPv6 addresses (dual-stack sockets) into
// IPv4, so that endpoints compare and encode the same way (beacon.md §2).
func unmapAddrPort(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
