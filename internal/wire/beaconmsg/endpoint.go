package beaconmsg

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// Endpoint encoding (beacon.md §2):
//
//	+--------+----------------------+-----------+
//	| len u8 | IP (4 or 16 bytes)   | port u16  |
//	+--------+----------------------+-----------+
//
// IPv4 and IPv4-mapped IPv6 addresses are sent as 4 bytes, other IPv6 as 16.

// AppendEndpoint appends the encoding of ep. An IPv6 zone is not
// representable and is dropped; an invalid address is an error.
func AppendEndpoint(b []byte, ep netip.AddrPort) ([]byte, error) {
	ip := ep.Addr().Unmap()
	switch {
	case ip.Is4():
		a := ip.As4()
		b = append(append(b, 4), a[:]...)
	case ip.Is6():
		a := ip.As16()
		b = append(append(b, 16), a[:]...)
	default:
		return b, fmt.Errorf("%w: invalid address %v", ErrBadEndpoint, ep)
	}
	return binary.BigEndian.AppendUint16(b, ep.Port()), nil
}

// EndpointLen returns the encoded size of ep (7 or 19 bytes).
func EndpointLen(ep netip.AddrPort) int {
	if ep.Addr().Unmap().Is4() {
		return 1 + 4 + 2
	}
	return 1 + 16 + 2
}

// ParseEndpoint decodes an endpoint at the start of b and returns it with
// the number of bytes used. A length byte other than 4 or 16, or a
// truncated endpoint, is an error (receivers drop it). A 16-byte
// IPv4-mapped address is returned unmapped, as the sender should have
// written it.
func ParseEndpoint(b []byte) (netip.AddrPort, int, error) {
	if len(b) < 1 {
		return netip.AddrPort{}, 0, fmt.Errorf("%w: endpoint: missing length byte", ErrTruncated)
	}
	n := int(b[0])
	if n != 4 && n != 16 {
		return netip.AddrPort{}, 0, fmt.Errorf("%w: IP length %d (want 4 or 16)", ErrBadEndpoint, n)
	}
	if len(b) < 1+n+2 {
		return netip.AddrPort{}, 0, fmt.Errorf("%w: endpoint needs %d bytes, have %d", ErrTruncated, 1+n+2, len(b))
	}
	var ip netip.Addr
	if n == 4 {
		ip = netip.AddrFrom4([4]byte(b[1:5]))
	} else {
		ip = netip.AddrFrom16([16]byte(b[1:17])).Unmap()
	}
	return netip.AddrPortFrom(ip, binary.BigEndian.Uint16(b[1+n:])), 1 + n + 2, nil
}

func parseEndpointMsg(t Type, b []byte) (netip.AddrPort, error) {
	if len(b) < MinDiscoverReply { // same minimum for 0x02 and 0x04
		return netip.AddrPort{}, truncated(t, MinDiscoverReply, len(b))
	}
	ep, _, err := ParseEndpoint(b[1:])
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%v: %w", t, err)
	}
	return ep, nil
}

// DiscoverReply (0x02, beacon → daemon) carries the sender's endpoint as
// the beacon observed it.
type DiscoverReply struct{ Endpoint netip.AddrPort }

// PunchCommand (0x04, beacon → daemon) carries the endpoint the daemon
// should send PILP frames to.
type PunchCommand struct{ Endpoint netip.AddrPort }

// Type implements Message.
func (DiscoverReply) Type() Type { return TypeDiscoverReply }

// Type implements Message.
func (PunchCommand) Type() Type { return TypePunchCommand }

// AppendTo appends 02 ‖ endpoint (8 or 20 bytes).
func (m DiscoverReply) AppendTo(b []byte) ([]byte, error) {
	return AppendEndpoint(append(b, byte(TypeDiscoverReply)), m.Endpoint)
}

// AppendTo appends 04 ‖ endpoint (8 or 20 bytes).
func (m PunchCommand) AppendTo(b []byte) ([]byte, error) {
	return AppendEndpoint(append(b, byte(TypePunchCommand)), m.Endpoint)
}
