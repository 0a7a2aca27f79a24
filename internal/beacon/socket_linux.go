//go:build linux

package beacon

import (
	"net/netip"
	"strconv"

	"golang.org/x/sys/unix"
)

// enablePktinfo asks the kernel to report each datagram's destination
// address: IP_PKTINFO on an IPv4 socket, IPV6_RECVPKTINFO on an IPv6 or
// dual-stack one (IPv4 datagrams then arrive as IPv4-mapped addresses).
func (u *udpConn) enablePktinfo() error {
	rc, err := u.c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		sa, err := unix.Getsockname(int(fd))
		if err != nil {
			serr = err
			return
		}
		if _, ok := sa.(*unix.SockaddrInet6); ok {
			u.v6 = true
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, 1)
			return
		}
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_PKTINFO, 1)
	}); err != nil {
		return err
	}
	if serr != nil {
		return serr
	}
	u.pktinfo = true
	return nil
}

// parseLocal extracts the destination address from received control
// messages. Link-local IPv6 addresses carry the interface index as zone,
// so that replies leave through the same interface.
func parseLocal(oob []byte) netip.Addr {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return netip.Addr{}
	}
	for _, m := range msgs {
		switch {
		case m.Header.Level == unix.IPPROTO_IP && m.Header.Type == unix.IP_PKTINFO && len(m.Data) >= unix.SizeofInet4Pktinfo:
			var a [4]byte
			copy(a[:], m.Data[8:12]) // in_pktinfo.ipi_addr: header destination
			return netip.AddrFrom4(a)
		case m.Header.Level == unix.IPPROTO_IPV6 && m.Header.Type == unix.IPV6_PKTINFO && len(m.Data) >= unix.SizeofInet6Pktinfo:
			ip := netip.AddrFrom16([16]byte(m.Data[:16])).Unmap()
			if ip.Is6() && (ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast()) {
				idx := uint32(m.Data[16]) | uint32(m.Data[17])<<8 | uint32(m.Data[18])<<16 | uint32(m.Data[19])<<24
				ip = ip.WithZone(strconv.FormatUint(uint64(idx), 10))
			}
			return ip
		}
	}
	return netip.Addr{}
}

// sourceOOB builds the control message that makes the kernel send from
// local (IP_PKTINFO ipi_spec_dst, or IPV6_PKTINFO ipi6_addr, IPv4-mapped
// on a dual-stack socket).
func sourceOOB(local netip.Addr, v6 bool) []byte {
	if !v6 {
		info := unix.Inet4Pktinfo{Spec_dst: local.Unmap().As4()}
		return unix.PktInfo4(&info)
	}
	info := unix.Inet6Pktinfo{Addr: local.As16()}
	if z := local.Zone(); z != "" {
		if idx, err := strconv.ParseUint(z, 10, 32); err == nil {
			info.Ifindex = uint32(idx)
		}
	}
	return unix.PktInfo6(&info)
}
