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
	"errors"
	"github.com/pilot-go/pilot/internal/wire/svcmsg/tlv"
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
	HeaderLen = tlv.HeaderLen
	// MaxPayload is the largest payload length a frame may declare.
	MaxPayload = tlv.MaxPayload
)

var (
	// ErrTruncated means the input ends before the header or the declared
	// payload is complete.
	ErrTruncated = tlv.ErrTruncated
	// ErrTooLarge means a length exceeds MaxPayload.
	ErrTooLarge = tlv.ErrTooLarge
	// ErrMalformed means a payload that is not the expected JSON object or
	// a field of the wrong type or out of range.
	ErrMalformed = errors.New("task: malformed")
)

// Frame is one task-submit frame (the shared layout of package tlv, the
// same as data exchange frames).
type Frame = tlv.Frame[Type]

// Header is the fixed 8-byte frame header.
type Header = tlv.Header[Type]

// ParseHeader decodes the header at the start of b; a length above
// MaxPayload is returned with an error wrapping ErrTooLarge.
func ParseHeader(b []byte) (Header, error) { return tlv.ParseHeader[Type](b) }

// Decode decodes the frame at the start of b and returns it with the number
// of bytes consumed. The payload aliases b.
func Decode(b []byte) (Frame, int, error) { return tlv.Decode[Type](b) }

// ReadFrame reads one frame from r. It returns io.EOF when r ends cleanly
// before a frame, io.ErrUnexpectedEOF when it ends inside one, and an error
// wrapping ErrTooLarge (with the type set, the payload unread) when the
// declared length exceeds MaxPayload.
func ReadFrame(r io.Reader) (Frame, error) { return tlv.ReadFrame[Type](r, 0) }
