package addr

import (
	"fmt"
	"strconv"
	"strings"
)

// SocketAddr is a virtual address plus a port (wire.md §1.3).
type SocketAddr struct {
	Addr Addr
	Port Port
}

// String returns "<address>:<port>", for example "0:0000.0000.02AE:1000".
func (s SocketAddr) String() string {
	b := s.Addr.AppendText(make([]byte, 0, 27))
	b = append(b, ':')
	return string(strconv.AppendUint(b, uint64(s.Port), 10))
}

// ParseSocket parses "<address>:<port>", splitting at the last colon.
func ParseSocket(s string) (SocketAddr, error) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return SocketAddr{}, fmt.Errorf("%w %q: missing ':<port>'", ErrSyntax, s)
	}
	a, err := Parse(s[:i])
	if err != nil {
		return SocketAddr{}, err
	}
	p := s[i+1:]
	if len(p) == 0 || len(p) > 5 {
		return SocketAddr{}, fmt.Errorf("%w %q: port must be 1 to 5 decimal digits", ErrSyntax, s)
	}
	var v uint32
	for j := 0; j < len(p); j++ {
		c := p[j]
		if c < '0' || c > '9' {
			return SocketAddr{}, fmt.Errorf("%w %q: port contains %q; only decimal digits are allowed", ErrSyntax, s, c)
		}
		v = v*10 + uint32(c-'0')
	}
	if v > 0xFFFF {
		return SocketAddr{}, fmt.Errorf("%w %q: port %d is above 65535", ErrSyntax, s, v)
	}
	return SocketAddr{Addr: a, Port: Port(v)}, nil
}
