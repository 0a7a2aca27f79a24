//go:build !linux

package rawsock

import (
	"errors"
	"net"
	"syscall"
)

var errUnsupported = errors.New("rawsock: not supported on this platform")

// UDP is unavailable off Linux: NewUDP always fails and callers keep the
// *net.UDPConn.
type UDP struct{ *net.UDPConn }

// NewUDP reports errUnsupported.
func NewUDP(*net.UDPConn) (*UDP, error) { return nil, errUnsupported }

// Stream is unavailable off Linux: NewStream always fails.
type Stream struct{}

// NewStream reports errUnsupported.
func NewStream(syscall.Conn) (*Stream, error) { return nil, errUnsupported }

// Read is never called.
func (*Stream) Read([]byte) (int, error) { return 0, errUnsupported }

// Write is never called.
func (*Stream) Write([]byte) (int, error) { return 0, errUnsupported }
