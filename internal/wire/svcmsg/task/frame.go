// Package task encodes and decodes the frames and JSON messages of the
// task-submit service on port 1003 (services.md §7), kept in the original
// implementation's format for interoperability.
//
// A frame is an 8-byte header followed by a JSON payload:
//
//	 0               4               8
//	+---------------+---------------+------------------------
//	|  type (u32)   | length (u32)  | JSON (length bytes) ...
//	+---------------+---------------+------------------------
//
// Integers are big-endian; the length is at most MaxPayload (16 MiB).
// Types: 1 SUBMIT, 2 RESULT, 3 STATUS_UPDATE, 4 SEND_RESULTS. Other types
// are carried and named UNKNOWN(<n>). The JSON objects are:
//
//	SUBMIT (1)          {task_id, task_description, from_addr, to_addr}
//	reply (type 1)      {task_id, status: 200|400, message}
//	STATUS_UPDATE (3)   {task_id, status, justification}           no reply
//	SEND_RESULTS (4)    {task_id, result_type, result_text?, filename?,
//	                     file_data? (base64), completed_at, time_idle_ms?,
//	                     time_staged_ms?, time_cpu_ms?}            no reply
//
// §7 defines no payload for RESULT (2); the package carries it as an
// opaque frame. A task ID is free text on the wire; ValidTaskID says
// whether it is safe to use as part of a file name.
//
// The package is pure: no I/O ownership, no clock, no goroutines. ReadFrame
// only consumes an io.Reader the caller owns.
package task

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// Type is the frame type (u32).
type Type uint32

// Frame types (services.md §7).
const (
	TypeSubmit       Type = 1
	TypeResult       Type = 2
	TypeStatusUpdate Type = 3
	TypeSendResults  Type = 4
)

// String returns the type's name: SUBMIT, RESULT, STATUS_UPDATE,
// SEND_RESULTS or UNKNOWN(<n>).
func (t Type) String() string {
	switch t {
	case TypeSubmit:
		return "SUBMIT"
	case TypeResult:
		return "RESULT"
	case TypeStatusUpdate:
		return "STATUS_UPDATE"
	case TypeSendResults:
		return "SEND_RESULTS"
	}
	return "UNKNOWN(" + strconv.FormatUint(uint64(t), 10) + ")"
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
	ErrTruncated = errors.New("task: truncated")
	// ErrTooLarge means a length exceeds MaxPayload.
	ErrTooLarge = errors.New("task: too large")
	// ErrMalformed means a payload that is not the expected JSON object or
	// a field of the wrong type or out of range.
	ErrMalformed = errors.New("task: malformed")
)

// Frame is one task-submit frame.
type Frame struct {
	Type    Type
	Payload []byte
}

// Header is the fixed 8-byte frame header.
type Header struct {
	Type   Type
	Length uint32
}

// ParseHeader decodes the header at the start of b; a length above
// MaxPayload is returned with an error wrapping ErrTooLarge.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderLen {
		return Header{}, fmt.Errorf("%w: header needs %d bytes, have %d", ErrTruncated, HeaderLen, len(b))
	}
	h := Header{Type: Type(binary.BigEndian.Uint32(b)), Length: binary.BigEndian.Uint32(b[4:])}
	if h.Length > MaxPayload {
		return h, fmt.Errorf("%w: %s frame of %d bytes (max %d)", ErrTooLarge, h.Type, h.Length, MaxPayload)
	}
	return h, nil
}

// Decode decodes the frame at the start of b and returns it with the number
// of bytes consumed. The payload aliases b.
func Decode(b []byte) (Frame, int, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return Frame{Type: h.Type}, 0, err
	}
	end := HeaderLen + int(h.Length)
	if len(b) < end {
		return Frame{Type: h.Type}, 0, fmt.Errorf("%w: %s payload needs %d bytes, have %d", ErrTruncated, h.Type, h.Length, len(b)-HeaderLen)
	}
	return Frame{Type: h.Type, Payload: b[HeaderLen:end:end]}, end, nil
}

// AppendTo appends the encoded frame to b.
func (f Frame) AppendTo(b []byte) ([]byte, error) {
	if len(f.Payload) > MaxPayload {
		return b, fmt.Errorf("%w: %s payload of %d bytes (max %d)", ErrTooLarge, f.Type, len(f.Payload), MaxPayload)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(f.Type))
	b = binary.BigEndian.AppendUint32(b, uint32(len(f.Payload)))
	return append(b, f.Payload...), nil
}

// Marshal returns the encoded frame.
func (f Frame) Marshal() ([]byte, error) {
	return f.AppendTo(make([]byte, 0, HeaderLen+len(f.Payload)))
}

// readChunk bounds the memory committed ahead of the bytes received, so a
// peer declaring 16 MiB and sending nothing cannot make the reader
// allocate 16 MiB.
const readChunk = 64 << 10

// ReadFrame reads one frame from r. It returns io.EOF when r ends cleanly
// before a frame, io.ErrUnexpectedEOF when it ends inside one, and an error
// wrapping ErrTooLarge (with the type set, the payload unread) when the
// declared length exceeds MaxPayload.
func ReadFrame(r io.Reader) (Frame, error) {
	var hdr [HeaderLen]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return Frame{}, err
	}
	h, err := ParseHeader(hdr[:])
	if err != nil {
		return Frame{Type: h.Type}, err
	}
	buf := make([]byte, 0, min(int(h.Length), readChunk))
	for len(buf) < int(h.Length) {
		want := min(int(h.Length)-len(buf), readChunk)
		if cap(buf)-len(buf) < want {
			buf = append(buf, make([]byte, want)...)[:len(buf)]
		}
		got, err := io.ReadFull(r, buf[len(buf):len(buf)+want])
		buf = buf[:len(buf)+got]
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return Frame{Type: h.Type}, err
		}
	}
	return Frame{Type: h.Type, Payload: buf}, nil
}
