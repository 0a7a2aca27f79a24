package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/ipc"
	"github.com/pilot-go/pilot/internal/ipc/ipctest"
	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
	"github.com/pilot-go/pilot/pilot"
)

// testTimeout bounds every pilotctl run and socket operation of a test so
// that a bug fails the test instead of hanging it.
const testTimeout = 20 * time.Second

// fakeDaemon is the ipctest loopback backend plus what pilotctl needs on
// top: an Info object, hostnames, and RegistryOp answered by a shared
// fakeRegistry as this node.
type fakeDaemon struct {
	*ipctest.Backend
	reg   *fakeRegistry
	mu    sync.Mutex
	info  ipcmsg.NodeInfo
	hosts map[string]addr.Addr
	// originalReplies makes SetHostname, SetVisibility and SetTags answer
	// like an original registry (ipctest's shapes: no node_id, "public"
	// instead of "visibility", tags as sent) instead of registry.md §7.
	originalReplies atomic.Bool
	// dialErr, when set, fails every Dial with it (an unknown node…).
	dialErr atomic.Pointer[ipc.Error]
}

// SetHostname answers set_hostname_ok as registry.md §7 (node_id, hostname).
func (d *fakeDaemon) SetHostname(ctx context.Context, h string) (json.RawMessage, error) {
	if d.originalReplies.Load() {
		return d.Backend.SetHostname(ctx, h)
	}
	return jsonOf(obj{"type": "set_hostname_ok", "node_id": d.Node.Node, "hostname": h}), nil
}

// SetVisibility answers set_visibility_ok as registry.md §7 (node_id, visibility).
func (d *fakeDaemon) SetVisibility(ctx context.Context, public bool) (json.RawMessage, error) {
	if d.originalReplies.Load() {
		return d.Backend.SetVisibility(ctx, public)
	}
	vis := "private"
	if public {
		vis = "public"
	}
	return jsonOf(obj{"type": "set_visibility_ok", "node_id": d.Node.Node, "visibility": vis}), nil
}

// SetTags answers set_tags_ok as registry.md §7 (node_id, tags always an array).
func (d *fakeDaemon) SetTags(ctx context.Context, tags []string) (json.RawMessage, error) {
	if d.originalReplies.Load() {
		return d.Backend.SetTags(ctx, tags)
	}
	if tags == nil {
		tags = []string{}
	}
	return jsonOf(obj{"type": "set_tags_ok", "node_id": d.Node.Node, "tags": tags}), nil
}

func (d *fakeDaemon) Info(context.Context) (ipcmsg.NodeInfo, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.info, nil
}

func (d *fakeDaemon) Health(context.Context) (ipcmsg.HealthReport, error) {
	return ipcmsg.HealthReport{Status: "ok", UptimeSeconds: 3605, Connections: 1, Peers: 2, BytesSent: 5120,
		BytesRecv: 4880, Registry: "ok", Webhook: ipcmsg.WebhookCounters{Configured: true, Delivered: 10, LastEventID: 10}}, nil
}

func (d *fakeDaemon) RegistryOp(_ context.Context, m ipcmsg.RegistryOp) (json.RawMessage, error) {
	return d.reg.handle(d.Node.Node, m)
}

// setHost makes ResolveHostname answer name (under mu: an executor of an
// earlier command may still be resolving).
func (d *fakeDaemon) setHost(name string, a addr.Addr) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.hosts[name] = a
}

func (d *fakeDaemon) ResolveHostname(ctx context.Context, h string) (json.RawMessage, error) {
	d.mu.Lock()
	a, ok := d.hosts[h]
	d.mu.Unlock()
	if ok {
		return jsonOf(obj{"type": "resolve_hostname_ok", "node_id": a.Node, "address": a.String(), "public": true, "hostname": h}), nil
	}
	return d.Backend.ResolveHostname(ctx, h)
}

type testDaemon struct {
	be   *fakeDaemon
	path string
}

// harness runs pilotctl in-process against fake daemons that share one
// fake registry.
type harness struct {
	t        *testing.T
	reg      *fakeRegistry
	home     string
	dir      string
	daemons  map[addr.NodeID]*testDaemon
	terminal bool              // what Env.IsTerminal reports
	env      map[string]string // extra environment
	stdin    string
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	dir, err := os.MkdirTemp("", "pctl") // short: Unix socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	home := filepath.Join(dir, "home")
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, reg: newFakeRegistry(), home: home, dir: dir, daemons: map[addr.NodeID]*testDaemon{},
		env: map[string]string{}}
}

// daemon returns (starting it on first use) the fake daemon of node.
func (h *harness) daemon(node addr.NodeID) *testDaemon {
	if d, ok := h.daemons[node]; ok {
		return d
	}
	t := h.t
	self := addr.New(0, node)
	be := &fakeDaemon{Backend: &ipctest.Backend{Node: self}, reg: h.reg, hosts: map[string]addr.Addr{},
		info: ipcmsg.NodeInfo{NodeID: node, Address: self, Hostname: "", UptimeSecs: 3605, Encrypt: true,
			Identity: true, PublicKey: "JUO5L/EJVRFHatyDadtt3JM2ZaEZeN2hQE7hBmypVZ0=", Version: "1.5.0"}}
	be.OnDial = func(context.Context, ipc.DialRequest) error {
		if e := be.dialErr.Load(); e != nil {
			return e
		}
		return nil
	}
	path := filepath.Join(h.dir, itoa(uint64(node))+".sock")
	ipctest.Serve(t, ipc.Config{SocketPath: path, Backend: be, Version: "1.5.0"}, be.Backend)
	d := &testDaemon{be: be, path: path}
	h.daemons[node] = d
	return d
}

type result struct {
	out, err string
	code     int
}

// run runs pilotctl as node (its socket in PILOT_SOCKET).
func (h *harness) run(node addr.NodeID, args ...string) result {
	h.t.Helper()
	return h.runSocket(h.daemon(node).path, args...)
}

func (h *harness) runSocket(socket string, args ...string) result {
	h.t.Helper()
	env := map[string]string{"HOME": h.home, "PILOT_SOCKET": socket}
	for k, v := range h.env {
		env[k] = v
	}
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	code := Main(ctx, args, Env{
		Stdin: strings.NewReader(h.stdin), Stdout: &out, Stderr: &errb,
		Getenv:     func(k string) string { return env[k] },
		IsTerminal: func(io.Writer) bool { return h.terminal },
		Executable: func() (string, error) { return filepath.Join(h.dir, "bin", "pilotctl"), nil },
	})
	if ctx.Err() != nil {
		h.t.Fatalf("pilotctl %v did not finish within %v", args, testTimeout)
	}
	return result{out: out.String(), err: errb.String(), code: code}
}

// ok asserts success and returns stdout.
func (r result) ok(t *testing.T) string {
	t.Helper()
	if r.code != 0 || r.err != "" {
		t.Fatalf("exit %d, stderr %q, stdout %q", r.code, r.err, r.out)
	}
	return r.out
}

// okJSON asserts one {"status":"ok","data":…} line and decodes data.
func (r result) okJSON(t *testing.T) map[string]any {
	t.Helper()
	out := r.ok(t)
	if strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "\n") {
		t.Fatalf("want exactly one JSON line, got %q", out)
	}
	var env struct {
		Status string         `json:"status"`
		Data   map[string]any `json:"data"`
	}
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&env); err != nil || env.Status != "ok" || env.Data == nil {
		t.Fatalf("bad envelope %q: %v", out, err)
	}
	return env.Data
}

// failJSON asserts a --json failure: nothing on stdout, one error line on
// stderr with code and exit status.
func (r result) failJSON(t *testing.T, code string, exit int) errEnvelope {
	t.Helper()
	if r.out != "" {
		t.Errorf("stdout must be empty on failure, got %q", r.out)
	}
	if r.code != exit {
		t.Errorf("exit %d, want %d (stderr %q)", r.code, exit, r.err)
	}
	if strings.Count(r.err, "\n") != 1 {
		t.Fatalf("want one JSON line on stderr, got %q", r.err)
	}
	var e errEnvelope
	dec := json.NewDecoder(strings.NewReader(r.err))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		t.Fatalf("bad error envelope %q: %v", r.err, err)
	}
	if e.Status != "error" || e.Code != code || e.Message == "" {
		t.Errorf("error envelope %+v, want code %s", e, code)
	}
	return e
}

// serve runs handler for every connection accepted on port of d, through
// the SDK (as a service would), until the test ends.
func (h *harness) serve(d *testDaemon, port addr.Port, handler func(net.Conn)) {
	t := h.t
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	ln, err := pilot.Listen(ctx, pilot.Network, ":"+itoa(uint64(port)), pilot.WithSocket(d.path))
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
			wg.Go(func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(testTimeout))
				handler(c)
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
}

// echo copies everything back (services.md §2).
func echo(c net.Conn) { io.Copy(c, c) }
