package frame

import (
	"encoding/binary"
	"fmt"

	"github.com/pilot-go/pilot/addr"
)

// PILT is a plaintext frame: the magic followed by a marshalled packet.
type PILT struct {
	// Packet is the marshalled packet (header with checksum, then payload);
	// it is not validated here (packet.Decode does that).
	Packet []byte
}

// Kind implements Frame.
func (*PILT) Kind() Kind { return KindPILT }

// Size implements Frame.
func (f *PILT) Size() int { return MagicSize + len(f.Packet) }

// Decode parses a PILT frame; f.Packet aliases b.
func (f *PILT) Decode(b []byte) error {
	if err := check(b, MagicPILT, "PILT", MinPILT); err != nil {
		return err
	}
	f.Packet = b[MagicSize:len(b):len(b)]
	return nil
}

// AppendTo appends the frame to b. It fails when the packet is shorter than a
// packet header or the frame would exceed MaxDatagram.
func (f *PILT) AppendTo(b []byte) ([]byte, error) {
	if len(f.Packet) < PacketHeaderSize {
		return b, fmt.Errorf("%w: PILT packet of %d bytes, minimum %d", ErrTruncated, len(f.Packet), PacketHeaderSize)
	}
	if n := f.Size(); n > MaxDatagram {
		return b, fmt.Errorf("%w: PILT of %d bytes, maximum %d", ErrOversized, n, MaxDatagram)
	}
	b = append(b, MagicPILT[:]...)
	return append(b, f.Packet...), nil
}

// PILS is an encrypted frame. Sealed is the AES-256-GCM output: ciphertext (as
// long as the packet) followed by the 16-byte tag.
type PILS struct {
	Sender addr.NodeID
	Nonce  [NonceSize]byte
	Sealed []byte
}

// Kind implements Frame.
func (*PILS) Kind() Kind { return KindPILS }

// Size implements Frame.
func (f *PILS) Size() int { return PILSHeaderSize + len(f.Sealed) }

// Prefix returns the nonce prefix (nonce bytes 0–3).
func (f *PILS) Prefix() [NoncePrefixSize]byte { return [4]byte(f.Nonce[:4]) }

// Counter returns the nonce counter (nonce bytes 4–11).
func (f *PILS) Counter() uint64 { return binary.BigEndian.Uint64(f.Nonce[4:]) }

// SetNonce sets the nonce to prefix ‖ counter.
func (f *PILS) SetNonce(prefix [NoncePrefixSize]byte, counter uint64) {
	copy(f.Nonce[:4], prefix[:])
	binary.BigEndian.PutUint64(f.Nonce[4:], counter)
}

// Decode parses a PILS frame; f.Sealed aliases b.
func (f *PILS) Decode(b []byte) error {
	if err := check(b, MagicPILS, "PILS", MinPILS); err != nil {
		return err
	}
	f.Sender = addr.NodeID(binary.BigEndian.Uint32(b[4:8]))
	f.Nonce = [NonceSize]byte(b[8:PILSHeaderSize])
	f.Sealed = b[PILSHeaderSize:len(b):len(b)]
	return nil
}

// AppendTo appends the frame to b. It fails when Sealed is shorter than a
// packet header plus tag or the frame would exceed MaxDatagram.
func (f *PILS) AppendTo(b []byte) ([]byte, error) {
	if least := PacketHeaderSize + TagSize; len(f.Sealed) < least {
		return b, fmt.Errorf("%w: PILS sealed part of %d bytes, minimum %d", ErrTruncated, len(f.Sealed), least)
	}
	if n := f.Size(); n > MaxDatagram {
		return b, fmt.Errorf("%w: PILS of %d bytes, maximum %d", ErrOversized, n, MaxDatagram)
	}
	b = append(b, MagicPILS[:]...)
	b = binary.BigEndian.AppendUint32(b, uint32(f.Sender))
	b = append(b, f.Nonce[:]...)
	return append(b, f.Sealed...), nil
}

// PILK is an anonymous key exchange frame.
type PILK struct {
	Sender addr.NodeID
	X25519 [X25519KeySize]byte
}

// Kind implements Frame.
func (*PILK) Kind() Kind { return KindPILK }

// Size implements Frame.
func (*PILK) Size() int { return SizePILK }

// Decode parses a PILK frame; bytes beyond the 40 shown in §4.2 are ignored.
func (f *PILK) Decode(b []byte) error {
	if err := check(b, MagicPILK, "PILK", SizePILK); err != nil {
		return err
	}
	f.Sender = addr.NodeID(binary.BigEndian.Uint32(b[4:8]))
	f.X25519 = [X25519KeySize]byte(b[8:40])
	return nil
}

// AppendTo appends the 40-byte frame to b; it never fails.
func (f *PILK) AppendTo(b []byte) ([]byte, error) {
	b = append(b, MagicPILK[:]...)
	b = binary.BigEndian.AppendUint32(b, uint32(f.Sender))
	return append(b, f.X25519[:]...), nil
}

// PILA is an authenticated key exchange frame. Sig is the Ed25519 signature
// by Ed25519 over SignedMessage (§5.4).
type PILA struct {
	Sender  addr.NodeID
	X25519  [X25519KeySize]byte
	Ed25519 [Ed25519KeySize]byte
	Sig     [SignatureSize]byte
}

// Kind implements Frame.
func (*PILA) Kind() Kind { return KindPILA }

// Size implements Frame.
func (*PILA) Size() int { return SizePILA }

// Decode parses a PILA frame; bytes beyond the 136 shown in §4.2 are ignored.
func (f *PILA) Decode(b []byte) error {
	if err := check(b, MagicPILA, "PILA", SizePILA); err != nil {
		return err
	}
	f.Sender = addr.NodeID(binary.BigEndian.Uint32(b[4:8]))
	f.X25519 = [X25519KeySize]byte(b[8:40])
	f.Ed25519 = [Ed25519KeySize]byte(b[40:72])
	f.Sig = [SignatureSize]byte(b[72:136])
	return nil
}

// AppendTo appends the 136-byte frame to b; it never fails.
func (f *PILA) AppendTo(b []byte) ([]byte, error) {
	b = append(b, MagicPILA[:]...)
	b = binary.BigEndian.AppendUint32(b, uint32(f.Sender))
	b = append(b, f.X25519[:]...)
	b = append(b, f.Ed25519[:]...)
	return append(b, f.Sig[:]...), nil
}

// SignedMessage returns the 40 bytes the PILA signature covers.
func (f *PILA) SignedMessage() [SignedMessageSize]byte {
	return SignedMessage(f.Sender, f.X25519)
}

// SignedMessage returns "auth" ‖ sender u32 ‖ X25519 public key (§5.4).
func SignedMessage(sender addr.NodeID, x25519 [X25519KeySize]byte) [SignedMessageSize]byte {
	var m [SignedMessageSize]byte
	copy(m[:4], "auth")
	binary.BigEndian.PutUint32(m[4:8], uint32(sender))
	copy(m[8:], x25519[:])
	return m
}

// PILP is a NAT punch frame. It carries nothing: the original's documented
// sender ID is neither sent nor read by any release (§4.2).
type PILP struct{}

// Kind implements Frame.
func (*PILP) Kind() Kind { return KindPILP }

// Size implements Frame.
func (*PILP) Size() int { return SizePILP }

// Decode checks the magic; any length from 4 to MaxDatagram is accepted and
// the bytes after the magic are ignored.
func (f *PILP) Decode(b []byte) error {
	return check(b, MagicPILP, "PILP", SizePILP)
}

// AppendTo appends exactly the 4-byte magic to b; it never fails.
func (f *PILP) AppendTo(b []byte) ([]byte, error) {
	return append(b, MagicPILP[:]...), nil
}
