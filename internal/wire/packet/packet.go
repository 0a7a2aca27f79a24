// Package packet encodes and decodes the 34-byte Pilot packet header and its
// payload (wire.md §3).
//
//	 0               1               2               3
//	+-------+-------+---------------+-------------------------------+
//	|version| flags |   protocol    |        payload length         |
//	+-------+-------+---------------+-------------------------------+
//	|                source address (6 bytes) ...                   |
//	+                               +-------------------------------+
//	|                               |                               |
//	+-------------------------------+                               +
//	|              destination address (6 bytes)                    |
//	+-------------------------------+-------------------------------+
//	|          source port          |       destination port        |
//	+-------------------------------+-------------------------------+
//	|                       sequence number                         |
//	+---------------------------------------------------------------+
//	|                    acknowledgement number                     |
//	+-------------------------------+-------------------------------+
//	|            window             |      checksum (CRC-32) ...    |
//	+-------------------------------+-------------------------------+
//	|     ... checksum              |  payload ...
//	+-------------------------------+
//
// The checksum is the IEEE CRC-32 of the header with bytes 30–33 zeroed,
// followed by exactly the declared payload. Decoding applies the checks of
// §3.3 in order: length, checksum, version, protocol.
//
// The package is pure: no I/O, no clock, no goroutines.
package packet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/pilot-go/pilot/addr"
)

// HeaderSize is the size of the fixed header.
const HeaderSize = 34

// MaxPayload is the largest payload the 16-bit length field can describe.
const MaxPayload = 0xFFFF

// Version is the only packet version (wire.md §3.4).
const Version = 1

// Flags of the low nibble of byte 0.
type Flags uint8

const (
	FlagSYN Flags = 0x1
	FlagACK Flags = 0x2
	FlagFIN Flags = 0x4
	FlagRST Flags = 0x8
)

// Has reports whether every bit of m is set in f.
func (f Flags) Has(m Flags) bool { return f&m == m }

func (f Flags) String() string {
	if f == 0 {
		return "0"
	}
	s := ""
	for _, n := range []struct {
		f    Flags
		name string
	}{{FlagSYN, "SYN"}, {FlagACK, "ACK"}, {FlagFIN, "FIN"}, {FlagRST, "RST"}} {
		if f&n.f != 0 {
			if s != "" {
				s += "+"
			}
			s += n.name
		}
	}
	return s
}

// Protocol is byte 1 of the header.
type Protocol uint8

const (
	ProtoStream   Protocol = 0x01
	ProtoDatagram Protocol = 0x02
	ProtoControl  Protocol = 0x03
)

func (p Protocol) String() string {
	switch p {
	case ProtoStream:
		return "stream"
	case ProtoDatagram:
		return "datagram"
	case ProtoControl:
		return "control"
	}
	return fmt.Sprintf("protocol(%d)", uint8(p))
}

// Packet is a decoded packet. Payload aliases the buffer it was decoded from.
type Packet struct {
	Flags    Flags
	Protocol Protocol
	Src, Dst addr.Addr
	SrcPort  addr.Port
	DstPort  addr.Port
	Seq      uint32
	Ack      uint32
	Window   uint16
	Payload  []byte
}

// Errors returned by Decode; each failure wraps one of them.
var (
	ErrTruncated       = errors.New("packet truncated")
	ErrChecksum        = errors.New("packet checksum mismatch")
	ErrVersion         = errors.New("unsupported protocol version")
	ErrProtocol        = errors.New("unknown protocol")
	ErrPayloadTooLarge = errors.New("payload too large")
)

var (
	zeroHeader   [HeaderSize]byte
	zeroChecksum [4]byte
)

// Size returns the encoded size of p.
func (p *Packet) Size() int { return HeaderSize + len(p.Payload) }

// AppendTo appends the encoded packet to b. It fails only when the payload is
// longer than MaxPayload.
func (p *Packet) AppendTo(b []byte) ([]byte, error) {
	if len(p.Payload) > MaxPayload {
		return b, fmt.Errorf("%w: %d bytes (max %d)", ErrPayloadTooLarge, len(p.Payload), MaxPayload)
	}
	start := len(b)
	b = append(b, zeroHeader[:]...)
	h := b[start:]
	h[0] = Version<<4 | byte(p.Flags&0x0F)
	h[1] = byte(p.Protocol)
	binary.BigEndian.PutUint16(h[2:4], uint16(len(p.Payload)))
	p.Src.PutBinary(h[4:10])
	p.Dst.PutBinary(h[10:16])
	binary.BigEndian.PutUint16(h[16:18], uint16(p.SrcPort))
	binary.BigEndian.PutUint16(h[18:20], uint16(p.DstPort))
	binary.BigEndian.PutUint32(h[20:24], p.Seq)
	binary.BigEndian.PutUint32(h[24:28], p.Ack)
	binary.BigEndian.PutUint16(h[28:30], p.Window)
	crc := crc32.Update(crc32.ChecksumIEEE(h), crc32.IEEETable, p.Payload)
	binary.BigEndian.PutUint32(h[30:34], crc)
	return append(b, p.Payload...), nil
}

// Marshal returns the encoded packet in a new buffer.
func (p *Packet) Marshal() ([]byte, error) {
	return p.AppendTo(make([]byte, 0, p.Size()))
}

// Decode parses b into p, applying the checks of wire.md §3.3 in order. Bytes
// beyond the declared payload are ignored. On success p.Payload aliases b.
func Decode(b []byte, p *Packet) error {
	if len(b) < HeaderSize {
		return fmt.Errorf("%w: %d bytes, header needs %d", ErrTruncated, len(b), HeaderSize)
	}
	n := int(binary.BigEndian.Uint16(b[2:4]))
	if len(b) < HeaderSize+n {
		return fmt.Errorf("%w: header declares %d payload bytes, %d present", ErrTruncated, n, len(b)-HeaderSize)
	}
	want := binary.BigEndian.Uint32(b[30:34])
	crc := crc32.ChecksumIEEE(b[:30])
	crc = crc32.Update(crc, crc32.IEEETable, zeroChecksum[:])
	crc = crc32.Update(crc, crc32.IEEETable, b[HeaderSize:HeaderSize+n])
	if crc != want {
		return fmt.Errorf("%w: computed %08x, header carries %08x", ErrChecksum, crc, want)
	}
	if v := b[0] >> 4; v != Version {
		return fmt.Errorf("%w %d", ErrVersion, v)
	}
	proto := Protocol(b[1])
	if proto < ProtoStream || proto > ProtoControl {
		return fmt.Errorf("%w 0x%02x", ErrProtocol, b[1])
	}
	*p = Packet{
		Flags:    Flags(b[0] & 0x0F),
		Protocol: proto,
		SrcPort:  addr.Port(binary.BigEndian.Uint16(b[16:18])),
		DstPort:  addr.Port(binary.BigEndian.Uint16(b[18:20])),
		Seq:      binary.BigEndian.Uint32(b[20:24]),
		Ack:      binary.BigEndian.Uint32(b[24:28]),
		Window:   binary.BigEndian.Uint16(b[28:30]),
		Payload:  b[HeaderSize : HeaderSize+n : HeaderSize+n],
	}
	p.Src, _ = addr.FromBinary(b[4:10])
	p.Dst, _ = addr.FromBinary(b[10:16])
	return nil
}

// Unmarshal is Decode returning a new Packet.
func Unmarshal(b []byte) (*Packet, error) {
	p := new(Packet)
	if err := Decode(b, p); err != nil {
		return nil, err
	}
	return p, nil
}
