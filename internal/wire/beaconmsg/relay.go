package beaconmsg

import (
	"encoding/binary"
	"fmt"

	"github.com/pilot-go/pilot/addr"
)

// MaxRelayFrame is the largest tunnel frame a Relay may carry (beacon.md §6.1).
const MaxRelayFrame = 65535

// Relayable reports whether frame begins with a tunnel magic the beacon may
// relay: PILA, PILK, PILS or PILT (50 49 4C 41/4B/53/54). PILP (punch) and
// anything else are not relayable (beacon.md §6.1 step 2).
func Relayable(frame []byte) bool {
	if len(frame) < 4 || frame[0] != 'P' || frame[1] != 'I' || frame[2] != 'L' {
		return false
	}
	switch frame[3] {
	case 'A', 'K', 'S', 'T':
		return true
	}
	return false
}

// CheckRelayFrame applies the frame rules of beacon.md §6.1 steps 1–2 and
// §10 rule 3: at most MaxRelayFrame bytes and a relayable magic.
func CheckRelayFrame(frame []byte) error {
	if len(frame) > MaxRelayFrame {
		return fmt.Errorf("%w: %d bytes (max %d)", ErrFrameTooLarge, len(frame), MaxRelayFrame)
	}
	if !Relayable(frame) {
		return fmt.Errorf("%w: magic %q", ErrNotRelayable, frame[:min(len(frame), 4)])
	}
	return nil
}

// Relay (0x05, daemon → beacon, and beacon → peer beacon): sender ‖
// destination ‖ tunnel frame. Parse checks sizes and node IDs; the magic is
// checked separately with CheckRelayFrame so drops can be counted by reason.
type Relay struct {
	Sender addr.NodeID
	Dest   addr.NodeID
	Frame  []byte
}

// Type implements Message.
func (Relay) Type() Type { return TypeRelay }

// AppendTo appends 05 ‖ sender ‖ destination ‖ frame.
func (m Relay) AppendTo(b []byte) ([]byte, error) {
	if len(m.Frame) > MaxRelayFrame {
		return b, fmt.Errorf("%w: %d bytes (max %d)", ErrFrameTooLarge, len(m.Frame), MaxRelayFrame)
	}
	b = binary.BigEndian.AppendUint32(append(b, byte(TypeRelay)), uint32(m.Sender))
	b = binary.BigEndian.AppendUint32(b, uint32(m.Dest))
	return append(b, m.Frame...), nil
}

// Deliver returns the RelayDeliver the beacon sends to the destination:
// 06 ‖ sender ‖ frame, 4 bytes shorter than the Relay.
func (m Relay) Deliver() RelayDeliver { return RelayDeliver{Sender: m.Sender, Frame: m.Frame} }

func parseRelay(b []byte) (Message, error) {
	if len(b) < MinRelay {
		return nil, truncated(TypeRelay, MinRelay, len(b))
	}
	m := Relay{Sender: nodeAt(b[1:]), Dest: nodeAt(b[5:]), Frame: b[9:]}
	if len(m.Frame) > MaxRelayFrame {
		return nil, fmt.Errorf("%w: %d bytes (max %d)", ErrFrameTooLarge, len(m.Frame), MaxRelayFrame)
	}
	if err := checkNode(TypeRelay, "sender", m.Sender); err != nil {
		return nil, err
	}
	if err := checkNode(TypeRelay, "destination", m.Dest); err != nil {
		return nil, err
	}
	return m, nil
}

// RelayDeliver (0x06, beacon → daemon): sender ‖ tunnel frame. The daemon
// checks that the frame's own sender equals Sender (beacon.md §6.2).
type RelayDeliver struct {
	Sender addr.NodeID
	Frame  []byte
}

// Type implements Message.
func (RelayDeliver) Type() Type { return TypeRelayDeliver }

// AppendTo appends 06 ‖ sender ‖ frame.
func (m RelayDeliver) AppendTo(b []byte) ([]byte, error) {
	if len(m.Frame) > MaxRelayFrame {
		return b, fmt.Errorf("%w: %d bytes (max %d)", ErrFrameTooLarge, len(m.Frame), MaxRelayFrame)
	}
	b = binary.BigEndian.AppendUint32(append(b, byte(TypeRelayDeliver)), uint32(m.Sender))
	return append(b, m.Frame...), nil
}

func parseRelayDeliver(b []byte) (Message, error) {
	if len(b) < MinRelayDeliver {
		return nil, truncated(TypeRelayDeliver, MinRelayDeliver, len(b))
	}
	m := RelayDeliver{Sender: nodeAt(b[1:]), Frame: b[5:]}
	if len(m.Frame) > MaxRelayFrame {
		return nil, fmt.Errorf("%w: %d bytes (max %d)", ErrFrameTooLarge, len(m.Frame), MaxRelayFrame)
	}
	if err := checkNode(TypeRelayDeliver, "sender", m.Sender); err != nil {
		return nil, err
	}
	return m, nil
}
