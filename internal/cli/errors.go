package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"

	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
	"github.com/pilot-go/pilot/pilot"
)

// Codes of cli.md §4.3 that have no IPC u16 value.
const (
	codeNotRunning         = "not_running"
	codeInvalidArgument    = "invalid_argument"
	codeInternal           = "internal"
	codeTimeout            = "timeout"
	codeAuthRequired       = "auth_required"
	codeNotFound           = "not_found"
	codeConnFailed         = "connection_failed"
	codeFailedPrecondition = "failed_precondition"
	codeUnavailable        = "unavailable"
)

// Error is a pilotctl failure: a machine code of cli.md §4.3, the human
// message and an optional hint. Usage marks bad command-line usage, for
// which text mode also prints the command's usage line.
type Error struct {
	Code    string
	Message string
	Hint    string
	Usage   bool
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// ExitCode returns the exit status for code (cli.md §4.3).
func ExitCode(code string) int {
	switch code {
	case codeInvalidArgument:
		return 2
	case codeNotRunning:
		return 3
	case "permission_denied", "unauthenticated", codeAuthRequired:
		return 4
	case codeNotFound:
		return 5
	case codeTimeout:
		return 6
	}
	return 1
}

func errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// usageErr is an invalid_argument failure caused by the command line.
func usageErr(format string, args ...any) *Error {
	return &Error{Code: codeInvalidArgument, Message: fmt.Sprintf(format, args...), Usage: true}
}

func notRunning(socket string) *Error {
	return &Error{
		Code:    codeNotRunning,
		Message: fmt.Sprintf("daemon is not running (socket %s)", socket),
		Hint:    "pilotctl daemon start",
	}
}

// codeName maps an IPC u16 code to its string; values outside the table
// (the original daemon's 1 included) are internal.
func codeName(c ipcmsg.Code) string {
	if c < ipcmsg.CodeInternal || c > ipcmsg.CodeAuthRequired {
		return codeInternal
	}
	return c.String()
}

// fromIPC converts a daemon Error message (ipc.md §4): the optional second
// line "hint: …" becomes the hint.
func fromIPC(m ipcmsg.Error) *Error {
	text, hint := m.Message()
	return &Error{Code: codeName(m.Code), Message: text, Hint: hint}
}

// mapErr converts any error of a command into an *Error. socket names the
// daemon socket for not_running; what describes the operation for timeouts.
func mapErr(err error, socket, what string) *Error {
	var ce *Error
	if errors.As(err, &ce) {
		return ce
	}
	var pe *pilot.Error
	if errors.As(err, &pe) {
		return &Error{Code: codeName(ipcmsg.Code(pe.Code)), Message: pe.Message, Hint: pe.Hint}
	}
	var closed *pilot.ClosedError
	if errors.As(err, &closed) {
		// The daemon ended the stream (ipc.md §10.7): the peer reset it,
		// stopped answering or revoked trust, or the daemon is stopping.
		code := codeConnFailed
		if closed.Reason == uint8(ipcmsg.ReasonShutdown) {
			code = codeUnavailable
		}
		return errorf(code, "%s: %s", what, strings.TrimPrefix(closed.Error(), "pilot: "))
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return errorf(codeTimeout, "%s: deadline exceeded", what)
	}
	if errors.Is(err, context.Canceled) {
		return errorf(codeInternal, "%s: interrupted", what)
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "dial" && oe.Net == "unix" {
		return notRunning(socket)
	}
	if daemonConnLost(err) {
		// As ipcClient.ioErr: the daemon accepted the IPC connection and
		// closed it (at its client cap, ipc.md §1) or went away.
		return errorf(codeUnavailable, "%s: the connection to the daemon was closed", what)
	}
	msg := strings.TrimPrefix(err.Error(), "pilot: ")
	return errorf(codeInternal, "%s: %s", what, msg)
}

// daemonConnLost reports whether err is the SDK's IPC connection ending:
// the client was closed (by the daemon closing the socket, or locally), or
// a read or write on the daemon's Unix socket failed. A failed dial of the
// socket is not_running and is checked first.
func daemonConnLost(err error) bool {
	if errors.Is(err, pilot.ErrClientClosed) {
		return true
	}
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Net == "unix" && oe.Op != "dial"
}

// sdkConnectErr maps a pilot.Connect failure: a connection the daemon
// closes before answering Hello (EOF, reset, broken pipe) is unavailable,
// as for control commands (ipcClient.ioErr); anything else as mapErr.
func sdkConnectErr(err error, socket string) *Error {
	const what = "connect to the daemon"
	var ce *Error
	var pe *pilot.Error
	if errors.As(err, &ce) || errors.As(err, &pe) {
		return mapErr(err, socket, what)
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "dial" && oe.Net == "unix" {
		return notRunning(socket)
	}
	if daemonConnLost(err) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return errorf(codeUnavailable, "%s: the daemon closed the connection before answering %s", what, ipcmsg.CmdHello)
	}
	return mapErr(err, socket, what)
}
