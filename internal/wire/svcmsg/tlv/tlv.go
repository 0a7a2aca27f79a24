// Package tlv is the frame layer shared by the data exchange (services.md
// §3.1, port 1001) and task submit (§7, port 1003) services: both frame
// their messages the same way and differ only in the meaning of the type.
//
//	 0               4               8
//	+---------------+---------------+-----------------
//	|  type (u32)   | length (u32)  | payload (length bytes) ...
//	+---------------+---------------+-----------------
//
// The length is at most MaxPayload (16 MiB). A larger length yields
// ErrTooLarge together with the frame type, so that a service can name the
// type in its refusal. The package is generic over the service's type so
// that errors and replies use the service's type names.
//
// Pure: no I/O ownership, no clock, no goroutines. ReadFrame only consumes
// an io.Reader the caller owns.
package tlv

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Kind is a service's frame type: a u32 with a name.
type Kind interface {
	~uint32
	String() string
}

const (
	// HeaderLen is the size of the frame header.
	HeaderLen = 8
	// MaxPayload is the largest payload length a frame may declare.
	MaxPayload = 16 << 20
)

var (
	// ErrTruncated means the input ends before the header or the declared
	// payload is complete.
	ErrTruncated = errors.New("frame truncated")
	// ErrTooLarge means a length exceeds MaxPayload (or a reader's limit).
	ErrTooLarge = errors.New("frame too large")
)

// Header is the fixed 8-byte frame header.
type Header[T Kind] struct {
	Type   T
	Length uint32
}

// Frame is one frame.
type Frame[T Kind] struct {
	Type    T
	Payload []byte
}

// ParseHeader decodes the header at the start of b. When the declared
// length exceeds MaxPayload it returns the header together with an error
// wrapping ErrTooLarge.
func ParseHeader[T Kind](b []byte) (Header[T], error) {
	if len(b) < HeaderLen {
		return Header[T]{}, fmt.Errorf("%w: header needs %d bytes, have %d", ErrTruncated, HeaderLen, len(b))
	}
	h := Header[T]{Type: T(binary.BigEndian.Uint32(b)), Length: binary.BigEndian.Uint32(b[4:])}
	if h.Length > MaxPayload {
		return h, fmt.Errorf("%w: %s frame of %d bytes (max %d)", ErrTooLarge, h.Type, h.Length, MaxPayload)
	}
	return h, nil
}

// Decode decodes the frame at the start of b and returns it with the number
// of bytes consumed. The payload aliases b. With ErrTruncated the caller
// should wait for more bytes; with ErrTooLarge the returned frame carries
// the type (and no payload).
func Decode[T Kind](b []byte) (Frame[T], int, error) {
	h, err := ParseHeader[T](b)
	if err != nil {
		return Frame[T]{Type: h.Type}, 0, err
	}
	end := HeaderLen + int(h.Length)
	if len(b) < end {
		return Frame[T]{Type: h.Type}, 0, fmt.Errorf("%w: %s payload needs %d bytes, have %d", ErrTruncated, h.Type, h.Length, len(b)-HeaderLen)
	}
	return Frame[T]{Type: h.Type, Payload: b[HeaderLen:end:end]}, end, nil
}

// AppendTo appends the encoded frame to b.
func (f Frame[T]) AppendTo(b []byte) ([]byte, error) {
	if len(f.Payload) > MaxPayload {
		return b, fmt.Errorf("%w: %s payload of %d bytes (max %d)", ErrTooLarge, f.Type, len(f.Payload), MaxPayload)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(f.Type))
	b = binary.BigEndian.AppendUint32(b, uint32(len(f.Payload)))
	return append(b, f.Payload...), nil
}

// Marshal returns the encoded frame.
func (f Frame[T]) Marshal() ([]byte, error) {
	return f.AppendTo(make([]byte, 0, HeaderLen+len(f.Payload)))
}

// readChunk bounds the memory committed ahead of the bytes actually
// received, so that a peer declaring 16 MiB and sending nothing cannot make
// the reader allocate 16 MiB.
const readChunk = 64 << 10

// ReadFrame reads one frame from r. maxLen limits the payload (0 or a value
// above MaxPayload means MaxPayload). It returns io.EOF when r ends cleanly
// before a frame, io.ErrUnexpectedEOF when it ends inside one, and an error
// wrapping ErrTooLarge, with the frame type set and without reading the
// payload, when the declared length exceeds the limit.
func ReadFrame[T Kind](r io.Reader, maxLen uint32) (Frame[T], error) {
	if maxLen == 0 || maxLen > MaxPayload {
		maxLen = MaxPayload
	}
	var hdr [HeaderLen]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return Frame[T]{}, err
	}
	h, err := ParseHeader[T](hdr[:])
	if err == nil && h.Length > maxLen {
		err = fmt.Errorf("%w: %s frame of %d bytes (limit %d)", ErrTooLarge, h.Type, h.Length, maxLen)
	}
	if err != nil {
		return Frame[T]{Type: h.Type}, err
	}
	n := int(h.Length)
	buf := make([]byte, 0, min(n, readChunk))
	for len(buf) < n {
		want := min(n-len(buf), readChunk)
		if cap(buf)-len(buf) < want {
			buf = append(buf, make([]byte, want)...)[:len(buf)]
		}
		got, err := io.ReadFull(r, buf[len(buf):len(buf)+want])
		buf = buf[:len(buf)+got]
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return Frame[T]{Type: h.Type}, err
		}
	}
	return Frame[T]{Type: h.Type, Payload: buf}, nil
}
