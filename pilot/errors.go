package pilot

import (
	"fmt"
	"net"
	"os"

	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
)

// Code is the daemon's machine-readable error code (ipc.md §4).
type Code uint16

// Error codes. The original daemon always sends CodeInternal.
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

// String returns the code's name, for example "not_found".
func (c Code) String() string { return ipcmsg.Code(c).String() }

// Error is an error reported by the daemon: its code, its message and the
// optional hint line.
type Error struct {
	Code    Code
	Message string
	Hint    string
}

func (e *Error) Error() string {
	if e.Hint != "" {
		return fmt.Sprintf("pilot: %s (%s; hint: %s)", e.Message, e.Code, e.Hint)
	}
	return fmt.Sprintf("pilot: %s (%s)", e.Message, e.Code)
}

// Timeout reports a daemon-side timeout (for example a dial timeout).
func (e *Error) Timeout() bool { return e.Code == CodeTimeout }

// Temporary is part of the deprecated net.Error interface; always false.
func (e *Error) Temporary() bool { return false }

func daemonError(m ipcmsg.Error) *Error {
	text, hint := m.Message()
	return &Error{Code: Code(m.Code), Message: text, Hint: hint}
}

var _ net.Error = (*Error)(nil)

// opError wraps err the way the standard library's network types do, so
// that errors.Is(err, os.ErrDeadlineExceeded) and net.ErrClosed work.
func opError(op string, local, remote net.Addr, err error) error {
	if err == nil {
		return nil
	}
	return &net.OpError{Op: op, Net: Network, Source: local, Addr: remote, Err: err}
}

var errTimeout = os.ErrDeadlineExceeded
