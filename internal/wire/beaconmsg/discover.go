package beaconmsg

import (
	"crypto/ed25519"
	"encoding/binary"

	"github.com/pilot-go/pilot/addr"
)

// Discover sizes (beacon.md §2, §4, §10 rule 1).
const (
	DiscoverPlainLen  = 5
	DiscoverPaddedLen = 21
	DiscoverSignedLen = 78
	// SignedDiscoverLen is the length of the signed bytes of §4.
	SignedDiscoverLen = len(discoverContext) + 4 + 8
	// discoverExtSigned is the extension version byte at offset 5.
	discoverExtSigned = 0x01
)

// discoverContext prefixes the signed bytes of a signed Discover.
const discoverContext = "pilot-beacon-disc1"

// DiscoverForm is the shape of a Discover on the wire.
type DiscoverForm uint8

// Discover forms.
const (
	// DiscoverPlain is the original's 5-byte form.
	DiscoverPlain DiscoverForm = iota
	// DiscoverPadded is a plain Discover longer than 5 bytes; ours is
	// zero-padded to 21 bytes so the 20-byte reply never exceeds it.
	DiscoverPadded
	// DiscoverSigned is the 78-byte form of §4: at least 78 bytes with
	// byte 5 = 0x01.
	DiscoverSigned
)

// Discover (0x01, daemon → beacon). Timestamp (Unix milliseconds) and
// Signature are meaningful only in the signed form. Node 0 is allowed (a
// daemon before registration) but never recorded; see Records.
type Discover struct {
	Node      addr.NodeID
	Form      DiscoverForm
	Timestamp uint64
	Signature [ed25519.SignatureSize]byte
}

// Type implements Message.
func (Discover) Type() Type { return TypeDiscover }

// SignedDiscoverMessage returns the 30 bytes a signed Discover's signature
// covers: "pilot-beacon-disc1" ‖ node u32 ‖ timestamp u64 (beacon.md §4).
func SignedDiscoverMessage(node addr.NodeID, tsMillis uint64) []byte {
	b := make([]byte, 0, SignedDiscoverLen)
	b = append(b, discoverContext...)
	b = binary.BigEndian.AppendUint32(b, uint32(node))
	return binary.BigEndian.AppendUint64(b, tsMillis)
}

// NewSignedDiscover returns a signed Discover for node at tsMillis, signed
// with the node's identity key.
func NewSignedDiscover(node addr.NodeID, tsMillis uint64, key ed25519.PrivateKey) Discover {
	d := Discover{Node: node, Form: DiscoverSigned, Timestamp: tsMillis}
	copy(d.Signature[:], ed25519.Sign(key, SignedDiscoverMessage(node, tsMillis)))
	return d
}

// Verify reports whether d is signed and its signature verifies with pub.
// Freshness and replay checks (§4 step 2) are the beacon's.
func (d Discover) Verify(pub ed25519.PublicKey) bool {
	if d.Form != DiscoverSigned || len(pub) != ed25519.PublicKeySize {
		return false
	}
	return ed25519.Verify(pub, SignedDiscoverMessage(d.Node, d.Timestamp), d.Signature[:])
}

// Records reports whether the beacon may record the Discover's node (not 0
// or 0xFFFFFFFF, beacon.md §3.1 step 2). The beacon answers either way.
func (d Discover) Records() bool { return ValidNode(d.Node) }

// AppendTo appends the Discover in its form: 5, 21 (zero padding) or 78 bytes.
func (d Discover) AppendTo(b []byte) ([]byte, error) {
	b = binary.BigEndian.AppendUint32(append(b, byte(TypeDiscover)), uint32(d.Node))
	switch d.Form {
	case DiscoverPadded:
		b = append(b, make([]byte, DiscoverPaddedLen-DiscoverPlainLen)...)
	case DiscoverSigned:
		b = binary.BigEndian.AppendUint64(append(b, discoverExtSigned), d.Timestamp)
		b = append(b, d.Signature[:]...)
	}
	return b, nil
}

func parseDiscover(b []byte) (Message, error) {
	if len(b) < MinDiscover {
		return nil, truncated(TypeDiscover, MinDiscover, len(b))
	}
	d := Discover{Node: nodeAt(b[1:])}
	switch {
	case len(b) >= DiscoverSignedLen && b[5] == discoverExtSigned:
		d.Form = DiscoverSigned
		d.Timestamp = binary.BigEndian.Uint64(b[6:])
		copy(d.Signature[:], b[14:DiscoverSignedLen])
	case len(b) > DiscoverPlainLen:
		d.Form = DiscoverPadded
	}
	return d, nil
}
