package beaconmsg

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/pilot-go/pilot/addr"
)

// Type is the first byte of a beacon message (beacon.md §2).
type Type uint8

// Message types. 0x00 and 0x08–0x0F are unassigned and dropped.
const (
	TypeDiscover      Type = 0x01
	TypeDiscoverReply Type = 0x02
	TypePunchRequest  Type = 0x03
	TypePunchCommand  Type = 0x04
	TypeRelay         Type = 0x05
	TypeRelayDeliver  Type = 0x06
	TypeSync          Type = 0x07
)

var typeNames = [...]string{
	TypeDiscover: "Discover", TypeDiscoverReply: "DiscoverReply", TypePunchRequest: "PunchRequest",
	TypePunchCommand: "PunchCommand", TypeRelay: "Relay", TypeRelayDeliver: "RelayDeliver", TypeSync: "Sync",
}

func (t Type) String() string {
	if int(t) < len(typeNames) && typeNames[t] != "" {
		return typeNames[t]
	}
	return fmt.Sprintf("type(0x%02X)", uint8(t))
}

// Minimum lengths of beacon.md §2 (type byte included).
const (
	MinDiscover      = 5
	MinDiscoverReply = 8
	MinPunchRequest  = 9
	MinPunchCommand  = 8
	MinRelay         = 13
	MinRelayDeliver  = 9
	MinSync          = 7
)

// Sentinel errors; every Parse error wraps one of them, so the beacon can
// count drops by reason.
var (
	ErrTruncated     = errors.New("beacon: truncated message")
	ErrUnknownType   = errors.New("beacon: unknown message type")
	ErrInvalidNode   = errors.New("beacon: invalid node ID")
	ErrBadEndpoint   = errors.New("beacon: bad endpoint")
	ErrFrameTooLarge = errors.New("beacon: relay frame too large")
	ErrNotRelayable  = errors.New("beacon: frame is not relayable")
	ErrTooManyIDs    = errors.New("beacon: too many node IDs in one Sync")
)

// ValidNode reports whether id can name a node: 0 and 0xFFFFFFFF never do
// (beacon.md §2; node 0 is allowed in Discover but never recorded).
func ValidNode(id addr.NodeID) bool { return id != 0 && id != addr.BroadcastNode }

// Message is any beacon message. AppendTo appends the whole datagram; it
// fails only for values that have no encoding (an invalid endpoint, an
// oversized frame, too many Sync IDs).
type Message interface {
	Type() Type
	AppendTo(b []byte) ([]byte, error)
}

// Marshal returns m's datagram in a new slice.
func Marshal(m Message) ([]byte, error) { return m.AppendTo(nil) }

func truncated(t Type, need, have int) error {
	return fmt.Errorf("%w: %v needs %d bytes, have %d", ErrTruncated, t, need, have)
}

func nodeAt(b []byte) addr.NodeID { return addr.NodeID(binary.BigEndian.Uint32(b)) }

func checkNode(t Type, field string, id addr.NodeID) error {
	if !ValidNode(id) {
		return fmt.Errorf("%w: %v %s %d", ErrInvalidNode, t, field, uint32(id))
	}
	return nil
}

// Parse decodes one datagram received from the beacon socket.
func Parse(b []byte) (Message, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty datagram", ErrTruncated)
	}
	switch t := Type(b[0]); t {
	case TypeDiscover:
		return parseDiscover(b)
	case TypeDiscoverReply:
		ep, err := parseEndpointMsg(t, b)
		if err != nil {
			return nil, err
		}
		return DiscoverReply{Endpoint: ep}, nil
	case TypePunchRequest:
		return parsePunchRequest(b)
	case TypePunchCommand:
		ep, err := parseEndpointMsg(t, b)
		if err != nil {
			return nil, err
		}
		return PunchCommand{Endpoint: ep}, nil
	case TypeRelay:
		return parseRelay(b)
	case TypeRelayDeliver:
		return parseRelayDeliver(b)
	case TypeSync:
		return parseSync(b)
	default:
		return nil, fmt.Errorf("%w: 0x%02X", ErrUnknownType, uint8(t))
	}
}
