// Package pilottest runs a whole Pilot network inside one test process: a
// registry (internal/registry composition root, SQLite store in
// t.TempDir(), 127.0.0.1:0), a beacon (internal/beacon) and N daemons
// (internal/daemon) with real UDP tunnels and IPC sockets on loopback. It
// gives every daemon an SDK client (package pilot) on its socket, bounded
// condition-based wait helpers, and a cleanup that stops everything in
// order and then checks that no goroutine of this module outlived the
// network.
//
//	t ─► Start(t, n) ─► registry ◄─TCP─┐
//	                    beacon ◄──UDP──┤
//	                    Node[0..n) ────┘  each: daemon.Daemon + socket + state dir
//	     node.Client(t) ─► *pilot.Client (closed at cleanup)
//	     node.Call(ipcmsg.…) / node.Op(`{"op":…}`) ─► raw IPC (one request, one reply)
//
// Nodes can be stopped and restarted with the same state directory,
// identity and socket (Restart), to test what survives a restart.
package pilottest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/beacon"
	"github.com/pilot-go/pilot/internal/daemon"
	"github.com/pilot-go/pilot/internal/netsim"
	"github.com/pilot-go/pilot/internal/registry"
	"github.com/pilot-go/pilot/internal/registry/config"
	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
	whmsg "github.com/pilot-go/pilot/internal/wire/svcmsg/webhook"
	"github.com/pilot-go/pilot/pilot"
)

// AdminToken is the registry's global admin token. Daemons do not get it
// unless a test passes -admin-token itself.
const AdminToken = "pilottest-global-admin-token-0123456789"

// WaitTimeout bounds every wait of the harness (the machine may be loaded;
// on an idle machine conditions hold within milliseconds).
const WaitTimeout = 30 * time.Second

// Network is a registry, a beacon and the daemons of one test.
type Network struct {
	t            testing.TB
	RegistryAddr string
	BeaconAddr   string
	Nodes        []*Node
	stops        []func() // registry and beacon, in start order
	opts         Options
}

// Options adjust the daemons a Network starts.
type Options struct {
	// WrapConn, if set, wraps each daemon's UDP socket (daemon.Options.
	// WrapConn), e.g. with a LossyConn. It is called with the node's name
	// at every (re)start.
	WrapConn func(node string, c netsim.PacketConn) netsim.PacketConn
}

// Start runs a registry, a beacon and n daemons (each started with the
// extra daemon flags) and waits until every daemon is registered.
func Start(t testing.TB, n int, extra ...string) *Network {
	t.Helper()
	return StartWith(t, n, Options{}, extra...)
}

// StartWith is Start with options applied to every daemon.
func StartWith(t testing.TB, n int, opts Options, extra ...string) *Network {
	t.Helper()
	checkLeaks(t) // registered first: runs after every other cleanup
	nw := &Network{t: t, opts: opts}
	nw.startRegistry()
	nw.startBeacon()
	t.Cleanup(nw.stopInfra)
	for range n {
		nw.AddNode(extra...)
	}
	return nw
}

func (nw *Network) startRegistry() {
	t := nw.t
	cfg, _, err := config.Load([]string{"-data-dir", t.TempDir(), "-admin-token", AdminToken,
		"-listen", "127.0.0.1:0", "-rate-limit", "off", "-reap-interval", "1s"}, func(string) string { return "" })
	if err != nil {
		t.Fatalf("registry config: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r, err := registry.New(ctx, cfg, registry.Options{Listener: ln, AuditWriter: io.Discard})
	if err != nil {
		cancel()
		ln.Close()
		t.Fatalf("registry: %v", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := r.Run(ctx); err != nil {
			t.Errorf("registry stopped: %v", err)
		}
	}()
	nw.RegistryAddr = ln.Addr().String()
	nw.stops = append(nw.stops, func() { cancel(); <-done })
}

func (nw *Network) startBeacon() {
	t := nw.t
	b, err := beacon.New(beacon.Config{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatalf("beacon: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = b.Run(ctx)
	}()
	nw.BeaconAddr = b.Addr().String()
	nw.stops = append(nw.stops, func() { cancel(); <-done })
}

// stopInfra stops the beacon, then the registry (after every node, whose
// cleanups were registered later and so run first).
func (nw *Network) stopInfra() {
	for i := len(nw.stops) - 1; i >= 0; i-- {
		nw.stops[i]()
	}
}

// Node is one in-process daemon.
type Node struct {
	nw       *Network
	t        testing.TB
	Name     string
	StateDir string
	Socket   string
	args     []string
	Events   *Recorder
	Logs     *LogBuffer

	mu     sync.Mutex
	d      *daemon.Daemon
	cancel context.CancelFunc
	done   chan struct{}
	client *pilot.Client
}

// AddNode starts one more daemon with the extra flags and waits until it
// is registered.
func (nw *Network) AddNode(extra ...string) *Node {
	t := nw.t
	t.Helper()
	dir := t.TempDir()
	n := &Node{nw: nw, t: t, Name: fmt.Sprintf("node%d", len(nw.Nodes)), StateDir: dir,
		Socket: filepath.Join(dir, "pilot.sock"), Events: &Recorder{}, Logs: &LogBuffer{}}
	n.args = append([]string{"-registry", nw.RegistryAddr, "-beacon", nw.BeaconAddr,
		"-listen", "127.0.0.1:0", "-socket", n.Socket, "-state-dir", dir, "-heartbeat", "300ms",
		"-log-level", "debug"}, extra...)
	nw.Nodes = append(nw.Nodes, n)
	n.start()
	t.Cleanup(func() {
		n.Stop()
		if t.Failed() {
			t.Logf("---- %s log (tail) ----\n%s", n.Name, n.Logs.Tail(40))
		}
	})
	return n
}

func (n *Node) start() {
	t := n.t
	t.Helper()
	cfg, err := daemon.Parse(n.args, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatalf("%s flags: %v", n.Name, err)
	}
	log := slog.New(slog.NewTextHandler(n.Logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts := daemon.Options{Logger: log, Events: n.Events, DiscoverTimeout: 2 * time.Second}
	if wrap := n.nw.opts.WrapConn; wrap != nil {
		opts.WrapConn = func(c netsim.PacketConn) netsim.PacketConn { return wrap(n.Name, c) }
	}
	d, err := daemon.New(cfg, opts)
	if err != nil {
		t.Fatalf("%s: %v", n.Name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := d.Run(ctx); err != nil {
			t.Errorf("%s stopped: %v", n.Name, err)
		}
	}()
	n.mu.Lock()
	n.d, n.cancel, n.done = d, cancel, done
	n.mu.Unlock()
	Eventually(t, n.Name+" to register", func() bool { return d.NodeID() != 0 })
}

// Daemon returns the running daemon (nil while stopped).
func (n *Node) Daemon() *daemon.Daemon {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.d
}

// ID is the node's ID.
func (n *Node) ID() addr.NodeID { return n.Daemon().NodeID() }

// Addr is the node's backbone address (network 0).
func (n *Node) Addr() addr.Addr { return addr.New(0, n.ID()) }

// SockAddr is "N:XXXX.XXXX.XXXX:port" of the node in network net.
func (n *Node) SockAddr(net addr.NetworkID, port addr.Port) string {
	return fmt.Sprintf("%s:%d", addr.New(net, n.ID()), port)
}

// Stop stops the daemon (closing its SDK client first) and waits for it.
// It is idempotent.
func (n *Node) Stop() {
	n.mu.Lock()
	c, cancel, done := n.client, n.cancel, n.done
	n.client, n.cancel, n.done, n.d = nil, nil, nil, nil
	n.mu.Unlock()
	if c != nil {
		c.Close()
	}
	if cancel == nil {
		return
	}
	cancel()
	select {
	case <-done:
	case <-time.After(WaitTimeout):
		n.t.Errorf("%s did not stop within %v", n.Name, WaitTimeout)
	}
}

// Restart stops the daemon and starts it again with the same flags, state
// directory (identity, trust store) and socket.
func (n *Node) Restart() {
	n.t.Helper()
	n.Stop()
	n.start()
}

// Client returns the node's SDK client, connected on first use and closed
// when the node stops.
func (n *Node) Client() *pilot.Client {
	n.t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.client == nil {
		ctx, cancel := context.WithTimeout(context.Background(), WaitTimeout)
		defer cancel()
		c, err := pilot.Connect(ctx, pilot.WithSocket(n.Socket), pilot.WithClientName("pilottest"))
		if err != nil {
			n.t.Fatalf("%s: SDK connect: %v", n.Name, err)
		}
		n.client = c
	}
	return n.client
}

// Call sends one IPC request on a fresh legacy-mode connection and returns
// the reply (an ipcmsg.Error reply is returned as is, not as an error).
func (n *Node) Call(m ipcmsg.Message) (ipcmsg.Reply, error) {
	c, err := net.Dial("unix", n.Socket)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(WaitTimeout)); err != nil {
		return nil, err
	}
	if _, err := c.Write(ipcmsg.AppendFrame(nil, m)); err != nil {
		return nil, err
	}
	body, err := ipcmsg.ReadFrame(c)
	if err != nil {
		return nil, err
	}
	return ipcmsg.DecodeReply(body)
}

// OpError is a daemon's IPC error reply.
type OpError struct {
	Code ipcmsg.Code
	Text string
}

func (e *OpError) Error() string { return fmt.Sprintf("ipc error %d: %s", e.Code, e.Text) }

// JSON sends m and decodes the JSON body of its reply; an Error reply is
// returned as *OpError.
func (n *Node) JSON(m ipcmsg.Message) (map[string]any, error) {
	rep, err := n.Call(m)
	if err != nil {
		return nil, err
	}
	if e, ok := rep.(ipcmsg.Error); ok {
		return nil, &OpError{Code: e.Code, Text: e.Text}
	}
	var body []byte
	switch r := rep.(type) {
	case ipcmsg.InfoOK:
		body = r.Body
	case ipcmsg.HandshakeOK:
		body = r.Body
	case ipcmsg.RegistryOpOK:
		body = r.Body
	case ipcmsg.HealthOK:
		body = r.Body
	default:
		return nil, fmt.Errorf("reply %T has no JSON body", rep)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var out map[string]any
	if err := dec.Decode(&out); err != nil {
		return nil, fmt.Errorf("reply %T: %v", rep, err)
	}
	return out, nil
}

// Op runs a RegistryOp given as a JSON object (cli.md §4.4).
func (n *Node) Op(js string) (map[string]any, error) {
	var m ipcmsg.RegistryOp
	if err := m.Decode([]byte(js)); err != nil {
		return nil, err
	}
	return n.JSON(m)
}

// MustOp runs a RegistryOp that must succeed.
func (n *Node) MustOp(js string) map[string]any {
	n.t.Helper()
	out, err := n.Op(js)
	if err != nil {
		n.t.Fatalf("%s: op %s: %v", n.Name, js, err)
	}
	return out
}

// Eventually polls cond every 10 ms until it holds, failing the test after
// WaitTimeout.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(WaitTimeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", WaitTimeout, what)
		}
		<-tick.C
	}
}

// Trust makes a and b trust each other: a requests, b approves (over IPC,
// as pilotctl does), and both trust stores end up holding the other.
func (nw *Network) Trust(a, b *Node) {
	t := nw.t
	t.Helper()
	if _, err := a.JSON(ipcmsg.Handshake{Sub: ipcmsg.HandshakeRequest, Node: b.ID(), Text: "pilottest"}); err != nil {
		t.Fatalf("handshake %s → %s: %v", a.Name, b.Name, err)
	}
	Eventually(t, b.Name+" to hold "+a.Name+"'s request", func() bool {
		for _, p := range b.Daemon().Trust().Pending().Pending {
			if p.NodeID == a.ID() {
				return true
			}
		}
		return false
	})
	if _, err := b.JSON(ipcmsg.Handshake{Sub: ipcmsg.HandshakeApprove, Node: a.ID()}); err != nil {
		t.Fatalf("approve %s by %s: %v", a.Name, b.Name, err)
	}
	Eventually(t, "mutual trust "+a.Name+"/"+b.Name, func() bool {
		return a.Daemon().Trust().IsTrusted(b.ID()) && b.Daemon().Trust().IsTrusted(a.ID())
	})
}

// Recorder is a daemon.Emitter that records every webhook event.
type Recorder struct {
	mu     sync.Mutex
	events []Event
}

// Event is one recorded webhook event.
type Event struct {
	Name string
	Data map[string]any
}

// Emit implements daemon.Emitter.
func (r *Recorder) Emit(event string, data whmsg.Fields) {
	m := make(map[string]any, len(data))
	for _, f := range data {
		m[f.Key] = f.Value
	}
	r.mu.Lock()
	r.events = append(r.events, Event{Name: event, Data: m})
	r.mu.Unlock()
}

// Named returns the recorded events called name.
func (r *Recorder) Named(name string) []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Event
	for _, e := range r.events {
		if e.Name == name {
			out = append(out, e)
		}
	}
	return out
}

// LogBuffer collects a daemon's log (safe for concurrent use).
type LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// Count returns how many log lines contain s.
func (l *LogBuffer) Count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), s)
}

// Tail returns the last n lines.
func (l *LogBuffer) Tail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	lines := strings.Split(strings.TrimRight(l.b.String(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
