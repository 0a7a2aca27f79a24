package beaconmsg

import (
	"encoding/binary"
	"fmt"

	"github.com/pilot-go/pilot/addr"
)

// MaxSyncIDs is the most node IDs one Sync carries (64,007 bytes, beacon.md §7.1).
const MaxSyncIDs = 16000

// BeaconID identifies a beacon of a cluster (u32).
type BeaconID uint32

// Sync (0x07, beacon → peer beacon): beacon ID ‖ count u16 ‖ count × node
// ID, the node IDs of the sender's local table. Nodes is kept as sent:
// receivers skip IDs for which ValidNode is false.
type Sync struct {
	Beacon BeaconID
	Nodes  []addr.NodeID
}

// Type implements Message.
func (Sync) Type() Type { return TypeSync }

// AppendTo appends 07 ‖ beacon ‖ count ‖ IDs; more than MaxSyncIDs IDs is
// an error (use SplitSync).
func (m Sync) AppendTo(b []byte) ([]byte, error) {
	if len(m.Nodes) > MaxSyncIDs {
		return b, fmt.Errorf("%w: %d (max %d)", ErrTooManyIDs, len(m.Nodes), MaxSyncIDs)
	}
	b = binary.BigEndian.AppendUint32(append(b, byte(TypeSync)), uint32(m.Beacon))
	b = binary.BigEndian.AppendUint16(b, uint16(len(m.Nodes)))
	for _, id := range m.Nodes {
		b = binary.BigEndian.AppendUint32(b, uint32(id))
	}
	return b, nil
}

// SplitSync returns the Sync messages announcing ids: one per MaxSyncIDs
// IDs, and a single empty Sync when ids is empty. The messages share ids'
// backing array.
func SplitSync(beacon BeaconID, ids []addr.NodeID) []Sync {
	if len(ids) == 0 {
		return []Sync{{Beacon: beacon}}
	}
	out := make([]Sync, 0, (len(ids)+MaxSyncIDs-1)/MaxSyncIDs)
	for len(ids) > 0 {
		n := min(len(ids), MaxSyncIDs)
		out = append(out, Sync{Beacon: beacon, Nodes: ids[:n:n]})
		ids = ids[n:]
	}
	return out
}

// parseSync requires length ≥ 7 + 4·count (beacon.md §7.1); extra bytes are ignored.
func parseSync(b []byte) (Message, error) {
	if len(b) < MinSync {
		return nil, truncated(TypeSync, MinSync, len(b))
	}
	m := Sync{Beacon: BeaconID(binary.BigEndian.Uint32(b[1:]))}
	count := int(binary.BigEndian.Uint16(b[5:]))
	if need := MinSync + 4*count; len(b) < need {
		return nil, fmt.Errorf("%w: Sync announces %d IDs and needs %d bytes, have %d", ErrTruncated, count, need, len(b))
	}
	if count > 0 {
		m.Nodes = make([]addr.NodeID, count)
		for i := range m.Nodes {
			m.Nodes[i] = nodeAt(b[MinSync+4*i:])
		}
	}
	return m, nil
}
