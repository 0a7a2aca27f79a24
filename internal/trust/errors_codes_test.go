package trust

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/regclient"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
)

// ipc.md §4: registry errors keep the registry's code, an unreachable
// registry is unavailable, and internal is used only for internal errors
// (§14 item 14).
func TestCodeOf(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}}
	for _, tc := range []struct {
		name string
		err  error
		want regmsg.Code
	}{
		{"operator error", opErrorf(regmsg.CodeInvalidArgument, nil, "bad"), regmsg.CodeInvalidArgument},
		{"operator error over transport cause", opErrorf(regmsg.CodeNotFound, io.EOF, "gone"), regmsg.CodeNotFound},
		{"registry refusal", &regmsg.Error{Code: regmsg.CodePermissionDenied, Message: "no"}, regmsg.CodePermissionDenied},
		{"wrapped registry refusal", fmt.Errorf("x: %w", &regmsg.Error{Code: regmsg.CodeRateLimited, Message: "slow"}), regmsg.CodeRateLimited},
		{"regclient dial failure", fmt.Errorf("%w: dial 127.0.0.1:9000: %w", regclient.ErrTransport, refused), regmsg.CodeUnavailable},
		{"regclient deadline", fmt.Errorf("%w: no reply before the call deadline", regclient.ErrTransport), regmsg.CodeUnavailable},
		{"regclient read EOF", fmt.Errorf("%w: read: %w", regclient.ErrTransport, io.EOF), regmsg.CodeUnavailable},
		{"regclient protocol violation (the registry answered: not unreachable)", fmt.Errorf("registry request_handshake: %w: bad frame", regclient.ErrProtocol), regmsg.CodeInternal},
		{"regclient closed", regclient.ErrClosed, regmsg.CodeUnavailable},
		{"net.OpError", refused, regmsg.CodeUnavailable},
		{"net.DNSError", &net.DNSError{Err: "no such host", Name: "registry.invalid", IsNotFound: true}, regmsg.CodeUnavailable},
		{"net.ErrClosed", fmt.Errorf("write: %w", net.ErrClosed), regmsg.CodeUnavailable},
		{"io.EOF", io.EOF, regmsg.CodeUnavailable},
		{"io.ErrUnexpectedEOF", fmt.Errorf("read reply: %w", io.ErrUnexpectedEOF), regmsg.CodeUnavailable},
		{"ECONNREFUSED", syscall.ECONNREFUSED, regmsg.CodeUnavailable},
		{"ECONNRESET", fmt.Errorf("read: %w", syscall.ECONNRESET), regmsg.CodeUnavailable},
		{"EPIPE", fmt.Errorf("write: %w", syscall.EPIPE), regmsg.CodeUnavailable},
		{"EHOSTUNREACH", syscall.EHOSTUNREACH, regmsg.CodeUnavailable},
		{"context deadline", fmt.Errorf("request: %w", context.DeadlineExceeded), regmsg.CodeUnavailable},
		{"context canceled", context.Canceled, regmsg.CodeUnavailable},
		{"os deadline", os.ErrDeadlineExceeded, regmsg.CodeUnavailable},
		{"plain bug", errors.New("nil map"), regmsg.CodeInternal},
		{"other errno", syscall.EINVAL, regmsg.CodeInternal},
		{"regclient no identity", regclient.ErrNoIdentity, regmsg.CodeInternal},
		{"not trusted sentinel alone", ErrNotTrusted, regmsg.CodeInternal},
	} {
		if got := CodeOf(tc.err); got != tc.want {
			t.Errorf("%s: CodeOf(%v) = %q, want %q", tc.name, tc.err, got, tc.want)
		}
	}
}

// unreachableRegistry is the world's registry for one node whose relay
// call (request_handshake) fails like the registry client does when the
// registry cannot be reached.
type unreachableRegistry struct {
	*nodeRegistry
	err error
}

func (r *unreachableRegistry) RequestHandshake(_ context.Context, to addr.NodeID, _ string) (*regmsg.RequestHandshakeOK, error) {
	r.w.record("%d request_handshake %d", r.self, to)
	return nil, r.err
}

// A handshake request that reaches neither the peer directly nor the
// registry relay fails with unavailable, not internal (ipc.md §4, §14
// item 14); the text is the relay's error after the label.
func TestRequestRegistryUnreachableIsUnavailable(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		text string
	}{
		{"dial refused", fmt.Errorf("%w: dial 127.0.0.1:9000: %w", regclient.ErrTransport,
			&net.OpError{Op: "dial", Net: "tcp", Err: &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}}),
			"handshake request: registry transport failure: dial 127.0.0.1:9000: dial tcp: connect: connection refused"},
		{"no reply", fmt.Errorf("%w: no reply before the call deadline", regclient.ErrTransport),
			"handshake request: registry transport failure: no reply before the call deadline"},
		{"deadline", fmt.Errorf("registry request_handshake: %w", context.DeadlineExceeded),
			"handshake request: registry request_handshake: context deadline exceeded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			a := w.add(1, true, func(c *Config) {
				c.Registry = &unreachableRegistry{nodeRegistry: &nodeRegistry{w: w, self: 1}, err: tc.err}
			})
			w.add(2, true, nil)
			w.unreachable[2] = true // the direct send fails too
			_, err := a.m.Request(ctx, 2, "hello")
			if err == nil {
				t.Fatal("request succeeded with the peer and the registry unreachable")
			}
			if got := CodeOf(err); got != regmsg.CodeUnavailable {
				t.Errorf("code %q, want unavailable (err %v)", got, err)
			}
			if err.Error() != tc.text {
				t.Errorf("text %q, want %q", err.Error(), tc.text)
			}
			if w.called("1 request_handshake 2") != 1 {
				t.Errorf("relay not tried: calls %q", w.calls)
			}
		})
	}
}
