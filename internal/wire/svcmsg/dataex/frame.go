// Package dataex encodes and decodes the frames of the data exchange
// service on port 1001 (services.md §3).
//
// A frame is an 8-byte header followed by the payload:
//
//	 0               4               8
//	+---------------+---------------+-----------------
//	|  type (u32)   | length (u32)  | payload (length bytes) ...
//	+---------------+---------------+-----------------
//
// Types are 1 TEXT, 2 BINARY, 3 JSON and 4 FILE; any other value is carried
// and named UNKNOWN(<n>). The length is at most MaxPayload (16 MiB); a
// larger length yields ErrTooLarge together with the frame type so that the
// service can answer "ERR <TYPE> too large" (§3.2 step 1).
//
// A FILE payload is itself structured (§3.1):
//
//	+------------------+-------------------+--------------
//	| name length u16  | name (UTF-8)      | file bytes ...
//	+------------------+-------------------+--------------
//
// The package also builds the reply texts (§3.2 step 5), sanitizes a
// received file name (§3.2 step 2) and formats the stored file names.
//
// The package is pure: no I/O ownership, no clock, no goroutines. ReadFrame
// only consumes an io.Reader the caller owns.
package dataex

import (
	"errors"
	"fmt"
	"github.com/pilot-go/pilot/internal/wire/svcmsg/tlv"
	"io"
	"strconv"
)

// Type is the frame type (u32).
type Type uint32

// Frame types (services.md §3.1).
const (
	TypeText   Type = 1
	TypeBinary Type = 2
	TypeJSON   Type = 3
	TypeFile   Type = 4
)

// String returns the type name used in replies and file names: TEXT,
// BINARY, JSON, FILE or UNKNOWN(<n>).
func (t Type) String() string {
	switch t {
	case TypeText:
		return "TEXT"
	case TypeBinary:
		return "BINARY"
	case TypeJSON:
		return "JSON"
	case TypeFile:
		return "FILE"
	}
	return "UNKNOWN(" + strconv.FormatUint(uint64(t), 10) + ")"
}

// Known reports whether t is one of the four defined types.
func (t Type) Known() bool { return t >= TypeText && t <= TypeFile }

// ParseType is the inverse of Type.String.
func ParseType(name string) (Type, error) {
	switch name {
	case "TEXT":
		return TypeText, nil
	case "BINARY":
		return TypeBinary, nil
	case "JSON":
		return TypeJSON, nil
	case "FILE":
		return TypeFile, nil
	}
	if len(name) > len("UNKNOWN()") && name[:8] == "UNKNOWN(" && name[len(name)-1] == ')' {
		digits := name[8 : len(name)-1]
		n, err := strconv.ParseUint(digits, 10, 32)
		if err == nil && strconv.FormatUint(n, 10) == digits && !Type(n).Known() {
			return Type(n), nil
		}
	}
	return 0, fmt.Errorf("%w: type name %q", ErrMalformed, name)
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
	// ErrTooLarge means a length exceeds MaxPayload (or the reader's limit).
	ErrTooLarge = tlv.ErrTooLarge
	// ErrMalformed means a structurally invalid FILE payload or reply.
	ErrMalformed = errors.New("dataex: malformed")
)

// Frame is one data exchange frame (the shared layout of package tlv).
type Frame = tlv.Frame[Type]

// Header is the fixed 8-byte frame header.
type Header = tlv.Header[Type]

// ParseHeader decodes the header at the start of b. When the declared
// length exceeds MaxPayload it returns the header together with an error
// wrapping ErrTooLarge, so that the caller can name the type in its reply.
func ParseHeader(b []byte) (Header, error) { return tlv.ParseHeader[Type](b) }

// Decode decodes the frame at the start of b and returns it with the number
// of bytes consumed. The payload aliases b. With ErrTruncated the caller
// should wait for more bytes; with ErrTooLarge the returned frame carries
// the type (and no payload).
func Decode(b []byte) (Frame, int, error) { return tlv.Decode[Type](b) }

// ReadFrame reads one frame from r. maxLen limits the payload (0 or a value
// above MaxPayload means MaxPayload). It returns io.EOF when r ends cleanly
// before a frame, io.ErrUnexpectedEOF when it ends inside one, and an error
// wrapping ErrTooLarge, with the frame type set and without reading the
// payload, when the declared length exceeds the limit.
func ReadFrame(r io.Reader, maxLen uint32) (Frame, error) { return tlv.ReadFrame[Type](r, maxLen) }
