package beaconmsg

import (
	"encoding/binary"
	"fmt"

	"github.com/pilot-go/pilot/addr"
)

// PunchRequestPaddedLen is the size of our zero-padded PunchRequest
// (beacon.md §5.2, §10 rule 1); the original sends 9 bytes.
const PunchRequestPaddedLen = 21

// PunchRequest (0x03, daemon → beacon): requester ‖ target, asking the
// beacon to send each side the other's endpoint. Padded is true for any
// request longer than 9 bytes and encodes as 21 bytes.
type PunchRequest struct {
	Requester addr.NodeID
	Target    addr.NodeID
	Padded    bool
}

// Type implements Message.
func (PunchRequest) Type() Type { return TypePunchRequest }

// AppendTo appends 03 ‖ requester ‖ target, zero-padded to 21 bytes when Padded.
func (m PunchRequest) AppendTo(b []byte) ([]byte, error) {
	b = binary.BigEndian.AppendUint32(append(b, byte(TypePunchRequest)), uint32(m.Requester))
	b = binary.BigEndian.AppendUint32(b, uint32(m.Target))
	if m.Padded {
		b = append(b, make([]byte, PunchRequestPaddedLen-MinPunchRequest)...)
	}
	return b, nil
}

// parsePunchRequest enforces beacon.md §5.1 step 1: both node IDs valid and
// different.
func parsePunchRequest(b []byte) (Message, error) {
	if len(b) < MinPunchRequest {
		return nil, truncated(TypePunchRequest, MinPunchRequest, len(b))
	}
	m := PunchRequest{Requester: nodeAt(b[1:]), Target: nodeAt(b[5:]), Padded: len(b) > MinPunchRequest}
	if err := checkNode(TypePunchRequest, "requester", m.Requester); err != nil {
		return nil, err
	}
	if err := checkNode(TypePunchRequest, "target", m.Target); err != nil {
		return nil, err
	}
	if m.Requester == m.Target {
		return nil, fmt.Errorf("%w: PunchRequest requester and target are both %d", ErrInvalidNode, uint32(m.Target))
	}
	return m, nil
}
