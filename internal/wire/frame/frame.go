// Package frame encodes and decodes the UDP tunnel frames exchanged between
// daemons (wire.md §4) and demultiplexes datagrams on the shared UDP socket.
//
// Every datagram received on the daemon's socket is classified by its first
// byte (§4.1): below 0x10 it is a beacon message (beacon.md); otherwise its
// first four bytes must be one of the magic values below. All magics start
// with ASCII 'P' (0x50), so the two spaces never collide.
//
// Frame layouts (§4.2, big-endian):
//
//	PILT plaintext      50 49 4C 54 | packet (34-byte header + payload)                      ≥ 38
//	PILS encrypted      50 49 4C 53 | sender u32 | nonce (12) | ciphertext | GCM tag (16)     ≥ 70
//	PILK key exchange   50 49 4C 4B | sender u32 | X25519 public key (32)                     40
//	PILA key exchange   50 49 4C 41 | sender u32 | X25519 (32) | Ed25519 (32) | signature (64) 136
//	PILP NAT punch      50 49 4C 50                                                           4
//
//	 0       4        8                  20                       end-16      end
//	+-------+--------+------------------+------------------------+-----------+
//	| PILS  | sender | prefix | counter |  ciphertext (= packet) |  GCM tag  |
//	+-------+--------+------------------+------------------------+-----------+
//	                  \_ nonce (12) ___/  \____________ Sealed ______________/
//
// The PILS nonce is a 4-byte prefix followed by a u64 counter; its AAD is the
// sender field (bytes 4–7). PILA signs exactly 40 bytes, "auth" ‖ sender u32 ‖
// X25519 key (§5.4); SignedMessage builds them.
//
// Decoding rules: frames shorter than the minimum sizes (PILT 38, PILS 70,
// PILK 40, PILA 136) are rejected; PILK and PILA frames longer than shown are
// accepted and the extra bytes ignored; PILP frames of any length are
// accepted. Encoders always produce the canonical size (PILP: exactly 4
// bytes). Frames larger than MaxDatagram, the largest UDP payload, are
// rejected both ways. Decoded byte slices alias the input buffer.
//
// The package is pure: no cryptography, no I/O, no clock, no goroutines. The
// sealing and opening of PILS and the PILA signature live in
// internal/tunnel/session.
package frame

import (
	"errors"
	"fmt"
)

// Kind is the classification of a datagram received on the tunnel socket.
type Kind uint8

const (
	// KindInvalid is a datagram to drop: empty, shorter than 4 bytes with a
	// first byte ≥ 0x10, or starting with an unknown magic.
	KindInvalid Kind = iota
	// KindBeacon is a beacon message (first byte < 0x10, beacon.md).
	KindBeacon
	KindPILT
	KindPILS
	KindPILK
	KindPILA
	KindPILP
)

func (k Kind) String() string {
	switch k {
	case KindInvalid:
		return "invalid"
	case KindBeacon:
		return "beacon"
	case KindPILT:
		return "PILT"
	case KindPILS:
		return "PILS"
	case KindPILK:
		return "PILK"
	case KindPILA:
		return "PILA"
	case KindPILP:
		return "PILP"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Magic values (§4.2).
var (
	MagicPILT = [4]byte{'P', 'I', 'L', 'T'}
	MagicPILS = [4]byte{'P', 'I', 'L', 'S'}
	MagicPILK = [4]byte{'P', 'I', 'L', 'K'}
	MagicPILA = [4]byte{'P', 'I', 'L', 'A'}
	MagicPILP = [4]byte{'P', 'I', 'L', 'P'}
)

// Sizes (§4.2, §13).
const (
	MagicSize = 4
	// BeaconLimit: datagrams whose first byte is below it are beacon messages.
	BeaconLimit = 0x10
	// MaxDatagram is the largest UDP payload (IPv6, §13); no frame is larger.
	MaxDatagram = 65527

	PacketHeaderSize = 34 // the packet header carried by PILT and PILS (wire.md §3)
	NonceSize        = 12
	NoncePrefixSize  = 4
	TagSize          = 16
	X25519KeySize    = 32
	Ed25519KeySize   = 32
	SignatureSize    = 64

	MinPILT  = MagicSize + PacketHeaderSize                           // 38
	MinPILS  = MagicSize + 4 + NonceSize + PacketHeaderSize + TagSize // 70
	SizePILK = MagicSize + 4 + X25519KeySize                          // 40
	SizePILA = SizePILK + Ed25519KeySize + SignatureSize              // 136
	SizePILP = MagicSize                                              // 4

	// PILSOverhead is the size of a PILS frame minus its packet: header
	// fields and the GCM tag.
	PILSOverhead = MinPILS - PacketHeaderSize // 36
	// PILSHeaderSize is the part of a PILS frame before the ciphertext.
	PILSHeaderSize = MagicSize + 4 + NonceSize // 20
	// SignedMessageSize is the size of the PILA signed message (§5.4).
	SignedMessageSize = 40
)

// Errors returned by the decoders and encoders; every failure wraps one.
var (
	ErrTruncated = errors.New("frame truncated")
	ErrOversized = errors.New("frame oversized")
	ErrMagic     = errors.New("wrong frame magic")
)

// Classify demultiplexes a datagram received on the tunnel socket (§4.1). It
// looks only at the first four bytes; the per-frame decoders enforce the
// minimum sizes.
func Classify(b []byte) Kind {
	if len(b) == 0 {
		return KindInvalid
	}
	if b[0] < BeaconLimit {
		return KindBeacon
	}
	if len(b) < MagicSize || b[0] != 'P' || b[1] != 'I' || b[2] != 'L' {
		return KindInvalid
	}
	switch b[3] {
	case 'T':
		return KindPILT
	case 'S':
		return KindPILS
	case 'K':
		return KindPILK
	case 'A':
		return KindPILA
	case 'P':
		return KindPILP
	}
	return KindInvalid
}

// Frame is any decoded tunnel frame.
type Frame interface {
	Kind() Kind
	// Size is the encoded size of the frame.
	Size() int
	// AppendTo appends the encoded frame to b.
	AppendTo(b []byte) ([]byte, error)
}

// Parse classifies b and decodes it into the matching frame type. Beacon
// messages and invalid datagrams yield an error wrapping ErrMagic. Hot paths
// should call Classify and decode into a reused value instead.
func Parse(b []byte) (Frame, error) {
	var (
		f   Frame
		err error
	)
	switch k := Classify(b); k {
	case KindPILT:
		v := new(PILT)
		f, err = v, v.Decode(b)
	case KindPILS:
		v := new(PILS)
		f, err = v, v.Decode(b)
	case KindPILK:
		v := new(PILK)
		f, err = v, v.Decode(b)
	case KindPILA:
		v := new(PILA)
		f, err = v, v.Decode(b)
	case KindPILP:
		v := new(PILP)
		f, err = v, v.Decode(b)
	default:
		if len(b) < MagicSize && (len(b) == 0 || b[0] >= BeaconLimit) {
			return nil, fmt.Errorf("%w: %d-byte datagram, a frame needs a 4-byte magic", ErrTruncated, len(b))
		}
		return nil, fmt.Errorf("%w: datagram classified as %v", ErrMagic, k)
	}
	if err != nil {
		return nil, err
	}
	return f, nil
}

// check validates the magic and the size bounds shared by every decoder.
func check(b []byte, magic [4]byte, name string, min int) error {
	if len(b) < min {
		return fmt.Errorf("%w: %s of %d bytes, minimum %d", ErrTruncated, name, len(b), min)
	}
	if len(b) > MaxDatagram {
		return fmt.Errorf("%w: %s of %d bytes, maximum %d", ErrOversized, name, len(b), MaxDatagram)
	}
	if [4]byte(b[:4]) != magic {
		return fmt.Errorf("%w: want %q, got %x", ErrMagic, magic[:], b[:4])
	}
	return nil
}
