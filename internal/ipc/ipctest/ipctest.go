// Package ipctest provides a fake ipc.Backend that loops connections and
// datagrams back inside one process: a Dial to a port that some IPC client
// listens on produces a connected pair (the dialer's end and an Accept for
// the listener), and a datagram is handed back to the IPC server's
// DeliverDatagram. Tests of the IPC server and of the pilot SDK use it in
// place of the daemon. It records the calls tests assert on (listeners,
// closed connections) and lets them hold a Dial or inject peer events.
package ipctest

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/ipc"
	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
)

// Backend is a loopback ipc.Backend. Set the exported hooks before the
// server starts; the zero value plus Node is usable.
type Backend struct {
	// Node is our address (HelloOK, Accept remotes, datagram sources).
	Node addr.Addr
	// OnDial, if set, runs first in every Dial; a non-nil error fails it.
	// Tests block in it to model a slow dial.
	OnDial func(ctx context.Context, req ipc.DialRequest) error
	// Deliver receives looped-back datagrams; set it to the server's
	// DeliverDatagram.
	Deliver func(m ipcmsg.RecvFrom) int
	// BuiltinPorts are refused by Listen with ErrPortInUse.
	BuiltinPorts []addr.Port

	nextID   atomic.Uint32
	nextPort atomic.Uint32

	mu        sync.Mutex
	listeners map[addr.Port]ipc.Sink
	conns     map[ipcmsg.ConnID]*Conn
	closed    []ipcmsg.ConnID
	sent      []ipc.Datagram
	changed   chan struct{} // closed and replaced on every recorded change
}

func (b *Backend) init() {
	if b.listeners == nil {
		b.listeners = make(map[addr.Port]ipc.Sink)
		b.conns = make(map[ipcmsg.ConnID]*Conn)
		b.changed = make(chan struct{})
	}
}

func (b *Backend) notifyLocked() {
	close(b.changed)
	b.changed = make(chan struct{})
}

// Changed returns a channel closed at the next recorded change (Listen,
// Unlisten, Close, datagram); tests wait on it instead of sleeping.
func (b *Backend) Changed() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.init()
	return b.changed
}

// Listening reports whether port has a listener.
func (b *Backend) Listening(port addr.Port) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, ok := b.listeners[port]
	return ok
}

// ClosedConns returns the IDs whose Close was called, in call order.
func (b *Backend) ClosedConns() []ipcmsg.ConnID {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]ipcmsg.ConnID(nil), b.closed...)
}

// Conn returns connection id, or nil.
func (b *Backend) Conn(id ipcmsg.ConnID) *Conn {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.conns[id]
}

// Sent returns the datagrams sent so far.
func (b *Backend) Sent() []ipc.Datagram {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]ipc.Datagram(nil), b.sent...)
}

// Listen implements ipc.Backend.
func (b *Backend) Listen(port addr.Port, sink ipc.Sink) error {
	for _, p := range b.BuiltinPorts {
		if p == port {
			return fmt.Errorf("port %d: %w", port, ipc.ErrPortInUse)
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.init()
	if _, ok := b.listeners[port]; ok {
		return fmt.Errorf("port %d: %w", port, ipc.ErrPortInUse)
	}
	b.listeners[port] = sink
	b.notifyLocked()
	return nil
}

// Unlisten implements ipc.Backend.
func (b *Backend) Unlisten(port addr.Port) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.init()
	delete(b.listeners, port)
	b.notifyLocked()
}

// Dial implements ipc.Backend: it connects to a listener of this backend
// whatever the destination node (all nodes are us).
func (b *Backend) Dial(ctx context.Context, req ipc.DialRequest, sink ipc.Sink) (ipc.Conn, error) {
	if b.OnDial != nil {
		if err := b.OnDial(ctx, req); err != nil {
			return nil, err
		}
	}
	b.mu.Lock()
	b.init()
	ls, ok := b.listeners[req.Port]
	b.mu.Unlock()
	if !ok {
		return nil, ipc.Errorf(ipcmsg.CodeConnectionFailed, "connection refused")
	}
	local := addr.Port(49152 + b.nextPort.Add(1)%16384)
	dialer := b.newConn(sink, req.Nagle)
	acceptor := b.newConn(ls, false)
	dialer.peer, acceptor.peer = acceptor, dialer
	if !ls.Accept(req.Port, acceptor, b.Node, local) {
		acceptor.Close()
		dialer.Close()
		return nil, ipc.Errorf(ipcmsg.CodeConnectionFailed, "connection refused")
	}
	return dialer, nil
}

func (b *Backend) newConn(sink ipc.Sink, nagle bool) *Conn {
	c := &Conn{b: b, id: ipcmsg.ConnID(b.nextID.Add(1)), sink: sink, nagle: nagle}
	b.mu.Lock()
	b.init()
	b.conns[c.id] = c
	b.mu.Unlock()
	return c
}

// SendDatagram implements ipc.Backend: datagrams to our own node (or a
// broadcast) are looped back through Deliver.
func (b *Backend) SendDatagram(_ context.Context, d ipc.Datagram) error {
	b.mu.Lock()
	b.init()
	b.sent = append(b.sent, d)
	b.notifyLocked()
	deliver := b.Deliver
	b.mu.Unlock()
	if deliver != nil && (d.Dst.Node == b.Node.Node || d.Dst.IsBroadcast()) {
		deliver(ipcmsg.RecvFrom{Src: b.Node, SrcPort: d.SrcPort, DstPort: d.DstPort, Data: d.Data})
	}
	return nil
}

// Identity implements ipc.Backend.
func (b *Backend) Identity() (addr.NodeID, addr.Addr) { return b.Node.Node, b.Node }

// Info implements ipc.Backend.
func (b *Backend) Info(context.Context) (ipcmsg.NodeInfo, error) {
	return ipcmsg.NodeInfo{NodeID: b.Node.Node, Address: b.Node, Version: "test"}, nil
}

// Health implements ipc.Backend.
func (b *Backend) Health(context.Context) (ipcmsg.HealthReport, error) {
	return ipcmsg.HealthReport{Status: ipcmsg.HealthStatusOK, Registry: ipcmsg.RegistryStatusOK}, nil
}

func status(s string, node addr.NodeID) (json.RawMessage, error) {
	return ipcmsg.EncodeJSON(ipcmsg.HandshakeStatus{Status: s, NodeID: node})
}

// Handshake implements ipc.Backend with canned replies.
func (b *Backend) Handshake(_ context.Context, m ipcmsg.Handshake) (json.RawMessage, error) {
	switch m.Sub {
	case ipcmsg.HandshakeRequest:
		return status(ipcmsg.HandshakeSent, m.Node)
	case ipcmsg.HandshakeApprove:
		return status(ipcmsg.HandshakeApproved, m.Node)
	case ipcmsg.HandshakeReject:
		return status(ipcmsg.HandshakeRejected, m.Node)
	case ipcmsg.HandshakePending:
		return ipcmsg.EncodeJSON(ipcmsg.HandshakePendingList{})
	case ipcmsg.HandshakeTrusted:
		return ipcmsg.EncodeJSON(ipcmsg.HandshakeTrustedList{})
	}
	return nil, ipc.Errorf(ipcmsg.CodeNotFound, "handshake revoke: node %d was not trusted", m.Node)
}

func verbatim(typ string, kv string) json.RawMessage {
	return json.RawMessage(`{"type":"` + typ + `"` + kv + `}`)
}

// ResolveHostname implements ipc.Backend: every name is unknown.
func (b *Backend) ResolveHostname(_ context.Context, h string) (json.RawMessage, error) {
	return nil, ipc.Errorf(ipcmsg.CodeNotFound, "resolve_hostname: hostname %q not found", h)
}

// SetHostname implements ipc.Backend.
func (b *Backend) SetHostname(_ context.Context, h string) (json.RawMessage, error) {
	q, _ := json.Marshal(h)
	return verbatim("set_hostname_ok", `,"hostname":`+string(q)), nil
}

// SetVisibility implements ipc.Backend.
func (b *Backend) SetVisibility(_ context.Context, public bool) (json.RawMessage, error) {
	return verbatim("set_visibility_ok", fmt.Sprintf(`,"public":%t`, public)), nil
}

// Deregister implements ipc.Backend.
func (b *Backend) Deregister(context.Context) (json.RawMessage, error) {
	return verbatim("deregister_ok", ""), nil
}

// SetTags implements ipc.Backend.
func (b *Backend) SetTags(_ context.Context, tags []string) (json.RawMessage, error) {
	q, _ := json.Marshal(tags)
	return verbatim("set_tags_ok", `,"tags":`+string(q)), nil
}

// SetTaskExec implements ipc.Backend.
func (b *Backend) SetTaskExec(_ context.Context, on bool) (json.RawMessage, error) {
	return verbatim("set_task_exec_ok", fmt.Sprintf(`,"task_exec":%t`, on)), nil
}

// SetWebhook implements ipc.Backend.
func (b *Backend) SetWebhook(context.Context, string) error { return nil }

// Network implements ipc.Backend: the registry is unreachable.
func (b *Backend) Network(_ context.Context, m ipcmsg.Network) (json.RawMessage, error) {
	return nil, ipc.Errorf(ipcmsg.CodeUnavailable, "network %s: registry unreachable", m.Sub.Label())
}

// RegistryOp implements ipc.Backend: the registry is unreachable.
func (b *Backend) RegistryOp(_ context.Context, m ipcmsg.RegistryOp) (json.RawMessage, error) {
	return nil, ipc.Errorf(ipcmsg.CodeUnavailable, "%s: registry unreachable", m.Op)
}

// Serve runs an IPC server with cfg until the test ends; be is the fake
// backend behind cfg.Backend (possibly wrapped), whose looped-back
// datagrams the server delivers. The cleanup fails the test when Run
// returns an error or does not return within 10 s of the cancel.
func Serve(t testing.TB, cfg ipc.Config, be *Backend) *ipc.Server {
	t.Helper()
	srv, err := ipc.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	be.Deliver = srv.DeliverDatagram
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("IPC server Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("IPC server did not stop within 10 s of the cancel")
		}
	})
	return srv
}
