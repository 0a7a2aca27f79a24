package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
	"github.com/pilot-go/pilot/pilot"
)

// closingDaemon listens on a Unix socket and closes every accepted client
// at once, as the daemon does past its client cap or for a foreign UID
// (ipc.md §1). With readFirst it first reads the client's first frame
// (the SDK's Hello), so the client sees the close as EOF on read rather
// than, possibly, a failed write.
func closingDaemon(t *testing.T, readFirst bool) string {
	t.Helper()
	path := filepath.Join(newHarness(t).dir, "cap.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if readFirst {
				c.SetDeadline(time.Now().Add(testTimeout))
				ipcmsg.ReadFrame(c)
			}
			c.Close()
		}
	})
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return path
}

// cli.md §4.3: a daemon that accepts the IPC connection and closes it at
// once makes every command fail with unavailable (exit 1), stream commands
// built on the SDK as well as control commands.
func TestCLI_DaemonClosesConnection_Unavailable(t *testing.T) {
	for _, readFirst := range []bool{false, true} {
		t.Run(fmt.Sprintf("readFirst=%v", readFirst), func(t *testing.T) {
			h := newHarness(t)
			sock := closingDaemon(t, readFirst)
			for _, args := range [][]string{
				{"--json", "ping", "687", "--count", "1"},
				{"--json", "bench", "687", "1"},
				{"--json", "connect", "687", "--message", "hi"},
				{"--json", "send", "687", "1000", "--data", "hello"},
				{"--json", "send-message", "687", "--data", "hi"},
				{"--json", "--timeout", "2s", "recv", "2000"},
				{"--json", "info"}, // a control command, for consistency
			} {
				r := h.runSocket(sock, args...)
				e := r.failJSON(t, "unavailable", 1)
				if strings.Contains(e.Message, "pilot: ") {
					t.Errorf("%v: message %q repeats the SDK's prefix", args, e.Message)
				}
			}
			// Text mode: the same failure on stderr, exit 1.
			r := h.runSocket(sock, "ping", "687", "--count", "1")
			if r.code != 1 || !strings.HasPrefix(r.err, "error: ") || r.out != "" {
				t.Errorf("text ping: exit %d, stdout %q, stderr %q", r.code, r.out, r.err)
			}
		})
	}
}

// The connection errors the SDK returns when the daemon closes the IPC
// socket, or when the client is closed, map to unavailable; a socket that
// cannot be dialled stays not_running.
func TestSDKConnectErr_ConnectionClosed(t *testing.T) {
	sock := "/tmp/x.sock"
	closedRead := fmt.Errorf("%w: daemon connection: %v", pilot.ErrClientClosed, io.EOF) // pilot/reader.go
	writeErr := fmt.Errorf("pilot: daemon connection: %w", &net.OpError{Op: "write", Net: "unix",
		Err: &os.SyscallError{Syscall: "write", Err: syscall.EPIPE}}) // pilot/client.go writeLocked
	hello := "connect to the daemon: the daemon closed the connection before answering Hello"
	for _, tc := range []struct {
		name      string
		err       error
		code, msg string
	}{
		{"hello EOF", fmt.Errorf("pilot: hello: %w", closedRead), "unavailable", hello},
		{"hello EOF wrapped", fmt.Errorf("pilot: hello: %w", io.EOF), "unavailable", hello},
		{"hello unexpected EOF", fmt.Errorf("pilot: hello: %w", io.ErrUnexpectedEOF), "unavailable", hello},
		{"hello write EPIPE", fmt.Errorf("pilot: hello: %w", writeErr), "unavailable", hello},
		{"hello ECONNRESET", fmt.Errorf("pilot: hello: %w", syscall.ECONNRESET), "unavailable", hello},
		{"socket missing", fmt.Errorf("pilot: connect to daemon at %s: %w", sock,
			&net.OpError{Op: "dial", Net: "unix", Err: &os.SyscallError{Syscall: "connect", Err: syscall.ENOENT}}),
			codeNotRunning, "daemon is not running (socket /tmp/x.sock)"},
		{"socket refused", fmt.Errorf("pilot: connect to daemon at %s: %w", sock,
			&net.OpError{Op: "dial", Net: "unix", Err: &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}}),
			codeNotRunning, "daemon is not running (socket /tmp/x.sock)"},
		{"daemon error", fmt.Errorf("pilot: hello: %w", &pilot.Error{Code: pilot.CodeResourceExhausted, Message: "too many clients"}),
			"resource_exhausted", "too many clients"},
		{"deadline", fmt.Errorf("pilot: hello: %w", context.DeadlineExceeded), codeTimeout,
			"connect to the daemon: deadline exceeded"},
		{"bad hello reply", errors.New("pilot: hello: bad reply: invalid character"), codeInternal,
			"connect to the daemon: hello: bad reply: invalid character"},
	} {
		got := sdkConnectErr(tc.err, sock)
		if got.Code != tc.code || got.Message != tc.msg {
			t.Errorf("%s: sdkConnectErr(%v) = %s %q, want %s %q", tc.name, tc.err, got.Code, got.Message, tc.code, tc.msg)
		}
	}
	if ExitCode("unavailable") != 1 {
		t.Errorf("unavailable exits %d, want 1 (cli.md §4.3)", ExitCode("unavailable"))
	}
}

// mapErr, used by stream commands after connecting: the SDK client closed
// (the daemon went away) is unavailable, not internal.
func TestMapErr_ClientClosed(t *testing.T) {
	closedRead := fmt.Errorf("%w: daemon connection: %v", pilot.ErrClientClosed, io.EOF)
	for _, tc := range []struct {
		name string
		err  error
		code string
	}{
		{"client closed", pilot.ErrClientClosed, "unavailable"},
		{"dial on a lost client", &net.OpError{Op: "dial", Net: pilot.Network, Err: closedRead}, "unavailable"},
		{"write to the daemon socket", fmt.Errorf("pilot: daemon connection: %w",
			&net.OpError{Op: "write", Net: "unix", Err: syscall.EPIPE}), "unavailable"},
		{"stream reset", &pilot.ClosedError{Reason: uint8(ipcmsg.ReasonOther)}, codeConnFailed},
		{"unix socket dial", &net.OpError{Op: "dial", Net: "unix", Err: syscall.ENOENT}, codeNotRunning},
		{"other", errors.New("echo mismatch"), codeInternal},
	} {
		if got := mapErr(tc.err, "/tmp/x.sock", "ping"); got.Code != tc.code {
			t.Errorf("%s: mapErr(%v) = %s %q, want %s", tc.name, tc.err, got.Code, got.Message, tc.code)
		}
	}
}
