package dataplane

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/identity"
	"github.com/pilot-go/pilot/internal/ipc"
	"github.com/pilot-go/pilot/internal/tunnel"
	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
	"github.com/pilot-go/pilot/internal/wire/packet"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
)

// resolvingCapture is a capture transport that also implements Resolver.
type resolvingCapture struct {
	*capture
	err error
}

func (r *resolvingCapture) Resolve(context.Context, addr.NodeID) error { return r.err }

// The resolve errors of a dial or datagram send keep the registry's code and
// message (ipc.md §4: "Registry errors keep the registry's code"; §5.2
// "resolve node N: <reason> (registry code or 12)"; §5.7).
func TestResolveErrorCodes(t *testing.T) {
	const peer addr.NodeID = 687
	private := &regmsg.Error{Code: regmsg.CodePermissionDenied, Message: "node 687 is private"}
	cases := []struct {
		name string
		err  error
		code ipcmsg.Code
		text string // without the "sendto: " of SendDatagram
	}{
		{"registry refusal", fmt.Errorf("resolve node %d: %w", peer, private),
			ipcmsg.CodePermissionDenied, "resolve node 687: node 687 is private"},
		{"registry refusal unwrapped", private,
			ipcmsg.CodePermissionDenied, "resolve node 687: node 687 is private"},
		{"registry rate limit", fmt.Errorf("resolve node %d: %w", peer,
			&regmsg.Error{Code: regmsg.CodeRateLimited, Message: "slow down", RetryAfterMS: 100}),
			ipcmsg.CodeRateLimited, "resolve node 687: slow down"},
		{"registry message_too_large", fmt.Errorf("resolve node %d: %w", peer,
			&regmsg.Error{Code: "message_too_large", Message: "too big"}),
			ipcmsg.CodeInvalidArgument, "resolve node 687: too big"},
		{"registry not_found", fmt.Errorf("resolve node %d: %w", peer,
			&regmsg.Error{Code: regmsg.CodeNotFound, Message: "node 687 not found"}),
			ipcmsg.CodeNotFound, "resolve node 687: node 687 not found"},
		{"tunnel not found", fmt.Errorf("resolve node %d: %w",
			peer, fmt.Errorf("%w: %s", tunnel.ErrNotFound, "node 687 not found")),
			ipcmsg.CodeNotFound, "resolve node 687: node not found: node 687 not found"},
		{"network error", fmt.Errorf("resolve node %d: %w", peer,
			&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}),
			ipcmsg.CodeConnectionFailed, "resolve node 687: dial tcp: connection refused"},
		{"network error without prefix", errors.New("no route to host"),
			ipcmsg.CodeConnectionFailed, "resolve node 687: no route to host"},
		{"unknown registry code", fmt.Errorf("resolve node %d: %w", peer,
			&regmsg.Error{Code: "bogus", Message: "what"}),
			ipcmsg.CodeConnectionFailed, "resolve node 687: bogus: what"},
		{"ipc error passes through", ipc.Errorf(ipcmsg.CodeUnavailable, "resolve node 687: shutting down"),
			ipcmsg.CodeUnavailable, "resolve node 687: shutting down"},
		{"too many pending", fmt.Errorf("resolve node %d: %w", peer, ErrTooManyPending),
			ipcmsg.CodeResourceExhausted, "too many pending key exchanges"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tr := &resolvingCapture{capture: newCapture(), err: tc.err}
			dp, _ := newCaptureDP(t, func(c *Config) { c.Transport = tr })
			ctx := context.Background()

			_, err := dp.Dial(ctx, ipc.DialRequest{Addr: addr.New(0, peer), Port: 7, Timeout: time.Second}, newFakeSink())
			checkIPCError(t, "Dial", err, tc.code, tc.text)

			err = dp.SendDatagram(ctx, ipc.Datagram{Dst: addr.New(0, peer), DstPort: 7, SrcPort: 49152, Data: []byte("x")})
			want := "sendto: " + tc.text
			if tc.code == ipcmsg.CodeResourceExhausted {
				want = "sendto: too many pending key exchanges"
			}
			checkIPCError(t, "SendDatagram", err, tc.code, want)
			if n := len(tr.all()); n != 0 {
				t.Fatalf("%d packets sent after a failed resolve", n)
			}
		})
	}
}

func checkIPCError(t *testing.T, op string, err error, code ipcmsg.Code, text string) {
	t.Helper()
	var ie *ipc.Error
	if !errors.As(err, &ie) {
		t.Fatalf("%s: error %T %v, want *ipc.Error", op, err, err)
	}
	if ie.Code != code || ie.Text != text {
		t.Fatalf("%s: error code %d %q, want code %d %q", op, ie.Code, ie.Text, code, text)
	}
}

// codesRegistry is a tunnel.KeyLookup and tunnel.Resolver that refuses as
// the daemon's registry adapter does (internal/daemon/adapters.go
// tunnelErr): not_found wraps tunnel.ErrNotFound, any other registry
// refusal is the *regmsg.Error itself.
type codesRegistry struct{ err map[addr.NodeID]error }

func (r codesRegistry) LookupKey(_ context.Context, id addr.NodeID) (ed25519.PublicKey, error) {
	return nil, r.err[id]
}

func (r codesRegistry) Resolve(_ context.Context, id addr.NodeID) (tunnel.Resolution, error) {
	return tunnel.Resolution{}, r.err[id]
}

// resolvingTunnel is tunnelTransport plus Resolve, as the daemon's adapter.
type resolvingTunnel struct{ tunnelTransport }

func (a resolvingTunnel) Resolve(ctx context.Context, peer addr.NodeID) error {
	return a.t.Resolve(ctx, peer)
}

// The same codes through a real tunnel manager, which wraps the refusal as
// "resolve node N: %w" and caches it.
func TestResolveErrorCodesThroughTunnel(t *testing.T) {
	reg := codesRegistry{err: map[addr.NodeID]error{
		687: &regmsg.Error{Code: regmsg.CodePermissionDenied, Message: "node 687 is private"},
		688: fmt.Errorf("%w: %s", tunnel.ErrNotFound, "node 688 not found"),
	}}
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	ident, err := identity.Generate(nil)
	if err != nil {
		t.Fatal(err)
	}
	tun, err := tunnel.New(tunnel.Config{Conn: conn, Identity: ident, Keys: reg, Resolver: reg,
		Deliver: func(addr.NodeID, bool, bool, *packet.Packet) {}})
	if err != nil {
		t.Fatal(err)
	}
	tun.SetNodeID(selfNode)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = tun.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	dp, _ := newCaptureDP(t, func(c *Config) { c.Transport = resolvingTunnel{tunnelTransport{tun}} })

	for _, tc := range []struct {
		peer addr.NodeID
		code ipcmsg.Code
		text string
	}{
		{687, ipcmsg.CodePermissionDenied, "resolve node 687: node 687 is private"},
		{688, ipcmsg.CodeNotFound, "resolve node 688: node not found: node 688 not found"},
	} {
		for range 2 { // the second answer comes from the tunnel's cache
			_, err := dp.Dial(context.Background(), ipc.DialRequest{Addr: addr.New(0, tc.peer), Port: 7,
				Timeout: time.Second}, newFakeSink())
			checkIPCError(t, "Dial", err, tc.code, tc.text)
			err = dp.SendDatagram(context.Background(), ipc.Datagram{Dst: addr.New(0, tc.peer), DstPort: 7,
				SrcPort: 49152, Data: []byte("x")})
			checkIPCError(t, "SendDatagram", err, tc.code, "sendto: "+tc.text)
		}
	}
}
