// Package addr implements Pilot virtual addresses (wire.md §1) and virtual
// socket addresses (§1.3).
//
// A virtual address is 48 bits: a 16-bit network ID followed by a 32-bit node
// ID, six bytes on the wire:
//
//	+--------+--------+--------+--------+--------+--------+
//	|  network (u16)  |           node (u32)              |
//	+--------+--------+--------+--------+--------+--------+
//
// Its text form is "<net-decimal>:<NNNN>.<HHHH>.<LLLL>" where NNNN repeats the
// network in hex and HHHH/LLLL are the high and low halves of the node ID, for
// example "1:0001.F291.0004". Emitters write uppercase hex; parsers accept
// either case and reject everything else with an error that names the problem.
//
// The package is a leaf: it imports nothing of this module, so wire codecs,
// the SDK and the CLI can all share it.
package addr

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// NodeID identifies a node (u32). 0 is "unspecified"; 0xFFFFFFFF is the
// broadcast node of a network.
type NodeID uint32

// NetworkID identifies a network (u16). 0 is the backbone.
type NetworkID uint16

// Port is a virtual port (u16).
type Port uint16

const (
	// Backbone is network 0: every registered node is a member.
	Backbone NetworkID = 0
	// BroadcastNode is the node ID that addresses every member of a network
	// in a datagram send request (wire.md §12). It never appears on the wire.
	BroadcastNode NodeID = 0xFFFFFFFF
	// Size is the length of a binary address.
	Size = 6
)

// Addr is a 48-bit virtual address.
type Addr struct {
	Network NetworkID
	Node    NodeID
}

// Unspecified is 0:0000.0000.0000.
var Unspecified = Addr{}

// New returns the address of node in network.
func New(network NetworkID, node NodeID) Addr { return Addr{Network: network, Node: node} }

// IsUnspecified reports whether the node half is 0 (wire.md §1.4: node 0 in
// any network is unspecified).
func (a Addr) IsUnspecified() bool { return a.Node == 0 }

// IsBroadcast reports whether a addresses every member of its network.
func (a Addr) IsBroadcast() bool { return a.Node == BroadcastNode }

// String returns the canonical text form with uppercase hex.
func (a Addr) String() string {
	return string(a.AppendText(make([]byte, 0, 21)))
}

// AppendText appends the canonical text form to b.
func (a Addr) AppendText(b []byte) []byte {
	b = strconv.AppendUint(b, uint64(a.Network), 10)
	b = append(b, ':')
	b = appendHex4(b, uint16(a.Network))
	b = append(b, '.')
	b = appendHex4(b, uint16(a.Node>>16))
	b = append(b, '.')
	return appendHex4(b, uint16(a.Node))
}

// MarshalText implements encoding.TextMarshaler.
func (a Addr) MarshalText() ([]byte, error) { return a.AppendText(nil), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (a *Addr) UnmarshalText(b []byte) error {
	v, err := Parse(string(b))
	if err != nil {
		return err
	}
	*a = v
	return nil
}

const hexDigits = "0123456789ABCDEF"

func appendHex4(b []byte, v uint16) []byte {
	return append(b, hexDigits[v>>12], hexDigits[(v>>8)&0xF], hexDigits[(v>>4)&0xF], hexDigits[v&0xF])
}

// AppendBinary appends the 6-byte wire form of a to b.
func (a Addr) AppendBinary(b []byte) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(a.Network))
	return binary.BigEndian.AppendUint32(b, uint32(a.Node))
}

// PutBinary writes the 6-byte wire form of a into b, which must hold at least
// Size bytes.
func (a Addr) PutBinary(b []byte) {
	_ = b[5]
	binary.BigEndian.PutUint16(b[0:2], uint16(a.Network))
	binary.BigEndian.PutUint32(b[2:6], uint32(a.Node))
}

// FromBinary decodes the first 6 bytes of b.
func FromBinary(b []byte) (Addr, error) {
	if len(b) < Size {
		return Addr{}, fmt.Errorf("address: need %d bytes, have %d", Size, len(b))
	}
	return Addr{
		Network: NetworkID(binary.BigEndian.Uint16(b[0:2])),
		Node:    NodeID(binary.BigEndian.Uint32(b[2:6])),
	}, nil
}

// ErrSyntax is wrapped by every text parsing error.
var ErrSyntax = errors.New("invalid address")

func syntaxErr(s, why string) error {
	return fmt.Errorf("%w %q: %s", ErrSyntax, s, why)
}

// Parse parses the text form of an address (wire.md §1.2).
func Parse(s string) (Addr, error) {
	colon := strings.IndexByte(s, ':')
	if colon < 0 {
		return Addr{}, syntaxErr(s, "missing ':' between network and node")
	}
	netPart, rest := s[:colon], s[colon+1:]
	if netPart == "" {
		return Addr{}, syntaxErr(s, "missing network number before ':'")
	}
	if len(netPart) > 5 {
		return Addr{}, syntaxErr(s, "network number has more than 5 digits")
	}
	var network uint32
	for i := 0; i < len(netPart); i++ {
		c := netPart[i]
		if c < '0' || c > '9' {
			return Addr{}, syntaxErr(s, fmt.Sprintf("network number contains %q; only decimal digits are allowed", c))
		}
		network = network*10 + uint32(c-'0')
	}
	if network > 0xFFFF {
		return Addr{}, syntaxErr(s, fmt.Sprintf("network %d is above 65535", network))
	}
	groups := strings.Split(rest, ".")
	if len(groups) != 3 {
		return Addr{}, syntaxErr(s, fmt.Sprintf("need 3 dot-separated hex groups after ':', found %d", len(groups)))
	}
	var vals [3]uint16
	for i, g := range groups {
		if len(g) != 4 {
			return Addr{}, syntaxErr(s, fmt.Sprintf("group %d %q is not exactly 4 hex digits", i+1, g))
		}
		for j := 0; j < 4; j++ {
			d := hexVal(g[j])
			if d < 0 {
				return Addr{}, syntaxErr(s, fmt.Sprintf("group %d contains non-hex character %q", i+1, g[j]))
			}
			vals[i] = vals[i]<<4 | uint16(d)
		}
	}
	if uint32(vals[0]) != network {
		return Addr{}, syntaxErr(s, fmt.Sprintf("hex network group %04X does not match decimal network %d", vals[0], network))
	}
	return Addr{Network: NetworkID(network), Node: NodeID(uint32(vals[1])<<16 | uint32(vals[2]))}, nil
}

// MustParse is Parse for constants in tests and examples; it panics on error.
func MustParse(s string) Addr {
	a, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return a
}

func hexVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}
