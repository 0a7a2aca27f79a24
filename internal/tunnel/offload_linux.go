//go:build linux

package tunnel

import (
	"encoding/binary"
	"errors"

	"golang.org/x/sys/unix"
)

// Linux UDP segmentation offload (UDP_SEGMENT, 4.18) and receive
// coalescing (UDP_GRO, 5.0). Both are kernel-side batching only: every
// datagram on the wire is exactly the frame it would be without them.

// cmsgLenSize is the size of cmsghdr.cmsg_len (a size_t).
const cmsgLenSize = unix.SizeofCmsghdr - 8

// gsoOOBSize and groOOBSize are the ancillary buffers of one UDP_SEGMENT
// control message (a u16) and of the reader (one UDP_GRO int, with room
// for a few unrelated messages).
var (
	gsoOOBSize = unix.CmsgSpace(2)
	groOOBSize = 4 * unix.CmsgSpace(4)
)

// enableGRO asks the kernel to hand the reader coalesced datagrams with a
// UDP_GRO control message giving the segment size.
func enableGRO(c msgConn) bool {
	return setsockopt(c, unix.UDP_GRO, 1) == nil
}

// probeGSO reports whether the socket accepts UDP_SEGMENT (ENOPROTOOPT on
// kernels without it).
func probeGSO(c msgConn) bool {
	rc, err := c.SyscallConn()
	if err != nil {
		return false
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		_, serr = unix.GetsockoptInt(int(fd), unix.SOL_UDP, unix.UDP_SEGMENT)
	}); err != nil {
		return false
	}
	return serr == nil
}

func setsockopt(c msgConn, opt, v int) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_UDP, opt, v)
	}); err != nil {
		return err
	}
	return serr
}

// gsoControl appends to b a UDP_SEGMENT control message cutting the
// payload into seg-byte datagrams.
func gsoControl(b []byte, seg int) []byte {
	start := len(b)
	b = append(b, make([]byte, unix.CmsgSpace(2))...)
	h := b[start:]
	putCmsgLen(h, unix.CmsgLen(2))
	binary.NativeEndian.PutUint32(h[cmsgLenSize:], unix.SOL_UDP)
	binary.NativeEndian.PutUint32(h[cmsgLenSize+4:], unix.UDP_SEGMENT)
	binary.NativeEndian.PutUint16(h[unix.CmsgLen(0):], uint16(seg))
	return b
}

func putCmsgLen(h []byte, n int) {
	if cmsgLenSize == 8 {
		binary.NativeEndian.PutUint64(h, uint64(n))
	} else {
		binary.NativeEndian.PutUint32(h, uint32(n))
	}
}

func cmsgLen(h []byte) uint64 {
	if cmsgLenSize == 8 {
		return binary.NativeEndian.Uint64(h)
	}
	return uint64(binary.NativeEndian.Uint32(h))
}

// groSegmentSize returns the segment size of a UDP_GRO control message in
// oob (the ancillary data of one read), or 0 when there is none: the read
// returned a single datagram. It never panics on malformed input.
func groSegmentSize(oob []byte) int {
	for len(oob) >= unix.SizeofCmsghdr {
		n := cmsgLen(oob)
		if n < uint64(unix.SizeofCmsghdr) || n > uint64(len(oob)) {
			return 0
		}
		level := int32(binary.NativeEndian.Uint32(oob[cmsgLenSize:]))
		typ := int32(binary.NativeEndian.Uint32(oob[cmsgLenSize+4:]))
		data := oob[unix.CmsgLen(0):n]
		if level == unix.SOL_UDP && typ == unix.UDP_GRO && len(data) >= 4 {
			return max(int(int32(binary.NativeEndian.Uint32(data))), 0)
		}
		next := unix.CmsgSpace(int(n) - unix.CmsgLen(0))
		if next >= len(oob) {
			return 0
		}
		oob = oob[next:]
	}
	return 0
}

// isOffloadErr reports whether a segmented write failed because the path
// or the socket cannot segment (no checksum offload on the route's device:
// EIO; a segment above the path MTU or too many segments: EINVAL,
// EMSGSIZE; no support: ENOPROTOOPT, EOPNOTSUPP). The caller falls back to
// one write per datagram for good (refuseGSO).
func isOffloadErr(err error) bool {
	return errors.Is(err, unix.EIO) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EMSGSIZE) ||
		socketOffloadErr(err)
}

// socketOffloadErr reports a refusal that concerns the socket, not a path.
func socketOffloadErr(err error) bool {
	return errors.Is(err, unix.ENOPROTOOPT) || errors.Is(err, unix.EOPNOTSUPP)
}
