package ipcmsg

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// Code is the u16 error code of an Error message (ipc.md §4, cli.md §4.4).
// The original daemon always sends CodeInternal; its clients read only the text.
type Code uint16

// Error codes of ipc.md §4.
const (
	CodeInternal           Code = 1
	CodeInvalidArgument    Code = 2
	CodeNotFound           Code = 3
	CodeAlreadyExists      Code = 4
	CodePermissionDenied   Code = 5
	CodeUnauthenticated    Code = 6
	CodeFailedPrecondition Code = 7
	CodeResourceExhausted  Code = 8
	CodeRateLimited        Code = 9
	CodeUnavailable        Code = 10
	CodeTimeout            Code = 11
	CodeConnectionFailed   Code = 12
	CodeAuthRequired       Code = 13
)

var codeNames = [...]string{
	CodeInternal:           "internal",
	CodeInvalidArgument:    "invalid_argument",
	CodeNotFound:           "not_found",
	CodeAlreadyExists:      "already_exists",
	CodePermissionDenied:   "permission_denied",
	CodeUnauthenticated:    "unauthenticated",
	CodeFailedPrecondition: "failed_precondition",
	CodeResourceExhausted:  "resource_exhausted",
	CodeRateLimited:        "rate_limited",
	CodeUnavailable:        "unavailable",
	CodeTimeout:            "timeout",
	CodeConnectionFailed:   "connection_failed",
	CodeAuthRequired:       "auth_required",
}

// String returns the machine code name (for example "not_found"), or
// "code(N)" for a value outside the table.
func (c Code) String() string {
	if int(c) < len(codeNames) && codeNames[c] != "" {
		return codeNames[c]
	}
	return fmt.Sprintf("code(%d)", uint16(c))
}

// ParseCode returns the Code named s ("internal" … "auth_required").
func ParseCode(s string) (Code, bool) {
	for i, n := range codeNames {
		if n != "" && n == s {
			return Code(i), true
		}
	}
	return 0, false
}

// CodeFromRegistry maps a registry error code string (registry.md §4.2) to
// its IPC code: one to one, except message_too_large, which becomes
// CodeInvalidArgument (ipc.md §4). An unknown string maps to CodeInternal
// and false.
func CodeFromRegistry(s string) (Code, bool) {
	if s == "message_too_large" {
		return CodeInvalidArgument, true
	}
	if s == "timeout" || s == "connection_failed" || s == "auth_required" {
		// IPC-only codes: the registry never sends them.
		return CodeInternal, false
	}
	if c, ok := ParseCode(s); ok {
		return c, true
	}
	return CodeInternal, false
}

// Error is message 0x0A (daemon → client): u16 code ‖ UTF-8 text. The text
// is one sentence, optionally followed by a line "hint: <what to do>".
type Error struct {
	Code Code
	Text string
}

// Cmd implements Message.
func (Error) Cmd() Cmd { return CmdError }
func (Error) isReply() {}

// AppendTo appends 0A ‖ code ‖ text.
func (m Error) AppendTo(b []byte) []byte {
	b = append(b, byte(CmdError))
	b = binary.BigEndian.AppendUint16(b, uint16(m.Code))
	return append(b, m.Text...)
}

// Decode parses the payload after the command byte.
func (m *Error) Decode(p []byte) error {
	if len(p) < 2 {
		return shortErr("error: missing code")
	}
	m.Code = Code(binary.BigEndian.Uint16(p))
	m.Text = string(p[2:])
	return nil
}

// Message splits Text into the human sentence and the optional hint line.
func (m Error) Message() (text, hint string) {
	text, rest, ok := strings.Cut(m.Text, "\n")
	if ok {
		if h, found := strings.CutPrefix(rest, "hint: "); found {
			return text, h
		}
		return m.Text, ""
	}
	return text, ""
}

// Sentinel errors wrapped by every *DecodeError.
var (
	// ErrShortPayload: the payload is shorter than the command needs.
	ErrShortPayload = errors.New("ipc: short payload")
	// ErrUnknownCommand: the command byte is not defined for this direction.
	ErrUnknownCommand = errors.New("ipc: unknown command")
	// ErrUnknownSubCommand: a Handshake, Network or Managed sub-command (or
	// action) is not defined.
	ErrUnknownSubCommand = errors.New("ipc: unknown sub-command")
	// ErrInvalidPayload: a field is present but its value is not acceptable
	// (bad JSON, out-of-range value, reserved bits set).
	ErrInvalidPayload = errors.New("ipc: invalid payload")
	// ErrFrameTooLarge: a frame's length exceeds MaxMessage (see FrameTooLargeError).
	ErrFrameTooLarge = errors.New("ipc: frame too large")
)

// DecodeError is returned by the decoders. Error() is exactly the text the
// daemon sends back in an Error message with Code; Unwrap gives the sentinel.
type DecodeError struct {
	Code Code
	Text string
	Err  error
}

func (e *DecodeError) Error() string { return e.Text }
func (e *DecodeError) Unwrap() error { return e.Err }

// Reply returns the Error message that answers the failed request.
func (e *DecodeError) Reply() Error { return Error{Code: e.Code, Text: e.Text} }

func shortErr(text string) error {
	return &DecodeError{Code: CodeInvalidArgument, Text: text, Err: ErrShortPayload}
}

func invalidErr(format string, args ...any) error {
	return &DecodeError{Code: CodeInvalidArgument, Text: fmt.Sprintf(format, args...), Err: ErrInvalidPayload}
}

func unknownSubErr(format string, args ...any) error {
	return &DecodeError{Code: CodeInvalidArgument, Text: fmt.Sprintf(format, args...), Err: ErrUnknownSubCommand}
}

func unknownCmdErr(c Cmd) error {
	return &DecodeError{
		Code: CodeInvalidArgument,
		Text: fmt.Sprintf("unknown command: 0x%02X", uint8(c)),
		Err:  ErrUnknownCommand,
	}
}
