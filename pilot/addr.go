package pilot

import (
	"fmt"
	"strings"

	"github.com/pilot-go/pilot/addr"
)

// Network is the network name accepted by Dial, Listen and ListenPacket and
// reported by Addr.Network.
const Network = "pilot"

// Addr is a Pilot socket address: a virtual address and a port. It
// implements net.Addr; String gives the text form "N:XXXX.XXXX.XXXX:port".
type Addr struct {
	Addr addr.Addr
	Port addr.Port
}

// Network returns "pilot".
func (a *Addr) Network() string { return Network }

// String returns the text form, for example "0:0000.0000.02AE:1000".
func (a *Addr) String() string {
	return addr.SocketAddr{Addr: a.Addr, Port: a.Port}.String()
}

// ParseAddr parses "N:XXXX.XXXX.XXXX:port".
func ParseAddr(s string) (*Addr, error) {
	sa, err := addr.ParseSocket(s)
	if err != nil {
		return nil, err
	}
	return &Addr{Addr: sa.Addr, Port: sa.Port}, nil
}

func checkNetwork(network string) error {
	if network != Network {
		return fmt.Errorf("pilot: unknown network %q (want %q)", network, Network)
	}
	return nil
}

// parseListenAddr accepts "", ":port" or a full socket address whose
// address part is ignored (a daemon listens on all of its addresses).
func parseListenAddr(s string) (addr.Port, error) {
	if s == "" {
		return 0, nil
	}
	if rest, ok := strings.CutPrefix(s, ":"); ok && !strings.Contains(rest, ":") {
		s = addr.Unspecified.String() + s
	}
	a, err := ParseAddr(s)
	if err != nil {
		return 0, err
	}
	return a.Port, nil
}

// toAddr converts a net.Addr given to WriteTo.
func toAddr(na any) (*Addr, error) {
	switch a := na.(type) {
	case *Addr:
		return a, nil
	case Addr:
		return &a, nil
	case interface{ String() string }:
		return ParseAddr(a.String())
	}
	return nil, fmt.Errorf("pilot: unsupported address type %T", na)
}
