package rawsock

import (
	"io"
	"net"
	"syscall"
)

// ReadWriter returns c's reads and writes as raw system calls (a Stream)
// when the platform and c allow it, else c itself.
func ReadWriter(c net.Conn) io.ReadWriter {
	if sc, ok := c.(syscall.Conn); ok {
		if s, err := NewStream(sc); err == nil {
			return s
		}
	}
	return c
}
