package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
)

// listRegistry is the fake registry plus list_nodes and get_audit_log over
// synthetic data, paged as registry.md §4.4 and §8.2 say: default 100
// items, at most 500, fewer when the encoded reply would pass 65,536
// bytes; the cursor is the index of the next item.
type listRegistry struct {
	*fakeRegistry
	members int // nodes of every network
	audit   int // audit entries

	mu   sync.Mutex
	seen []regmsg.Request // list_nodes and get_audit_log, in order
}

func newListRegistry(t *testing.T, members, audit int) *listRegistry {
	return &listRegistry{fakeRegistry: newFakeRegistry(t), members: members, audit: audit}
}

func (f *listRegistry) dial(ctx context.Context, network, address string) (net.Conn, error) {
	client, server := net.Pipe()
	go f.serve(server)
	return client, nil
}

func (f *listRegistry) serve(nc net.Conn) {
	defer nc.Close()
	for {
		body, err := regmsg.ReadFrame(nc, nil)
		if err != nil {
			return
		}
		req, err := regmsg.DecodeRequest(body)
		var re *regmsg.Error
		var reply []byte
		switch {
		case errors.As(err, &re):
			reply = regmsg.MarshalError(re)
		case err != nil:
			f.t.Errorf("list registry: invalid request %s: %v", body, err)
			return
		default:
			switch req.(type) {
			case *regmsg.ListNodes, *regmsg.GetAuditLog:
				reply = f.list(req)
			default:
				var drop bool
				if reply, drop = f.handle(req); drop {
					return
				}
			}
		}
		frame, err := regmsg.AppendFrame(nil, reply)
		if err != nil {
			f.t.Errorf("list registry: %v", err)
			return
		}
		if _, err := nc.Write(frame); err != nil {
			return
		}
	}
}

func (f *listRegistry) requests(typ string) []regmsg.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []regmsg.Request
	for _, r := range f.seen {
		if r.Type() == typ {
			out = append(out, r)
		}
	}
	return out
}

func (f *listRegistry) list(req regmsg.Request) []byte {
	f.mu.Lock()
	f.seen = append(f.seen, req)
	f.mu.Unlock()
	f.fakeRegistry.mu.Lock()
	bad := f.checkSigLocked(req)
	f.fakeRegistry.mu.Unlock()
	if bad != nil {
		return bad
	}
	var page regmsg.Page
	var total int
	var entry func(i int) any
	switch r := req.(type) {
	case *regmsg.ListNodes:
		page, total = r.Page, f.members
		entry = func(i int) any {
			id := addr.NodeID(1000 + i)
			return regmsg.NodeEntry{NodeID: id, Address: addr.New(r.NetworkID, id), Role: "member",
				LastSeen: "2026-03-27T10:15:03Z"}
		}
	case *regmsg.GetAuditLog:
		page, total = r.Page, f.audit
		entry = func(i int) any {
			return regmsg.AuditEntry{Timestamp: "2026-03-27T10:15:03Z", Action: "network.join", Details: "x",
				Seq: uint64(total - i), ActorNodeID: 4, AuthVia: "signature", Attrs: regmsg.RawObject(`{}`), Hash: "h"}
		}
	}
	from := 0
	if page.Cursor != "" {
		n, err := strconv.Atoi(page.Cursor)
		if err != nil || n < 0 || n > total {
			return fail(regmsg.CodeInvalidArgument, "invalid cursor")
		}
		from = n
	}
	limit := page.EffectiveLimit(100, 500)
	var items []json.RawMessage
	size := 100 // type, key, next_cursor
	i := from
	for ; i < total && len(items) < limit; i++ {
		b, _ := json.Marshal(entry(i))
		if size+len(b)+1 > 65536 {
			break
		}
		items = append(items, b)
		size += len(b) + 1
	}
	obj := map[string]any{"type": req.Type() + "_ok"}
	switch req.(type) {
	case *regmsg.ListNodes:
		obj["nodes"] = items
	default:
		obj["entries"] = items
	}
	if i < total {
		obj["next_cursor"] = strconv.Itoa(i)
	}
	b, _ := json.Marshal(obj)
	if len(b) > 65536 {
		f.t.Errorf("list registry: page of %d bytes", len(b))
	}
	return b
}

// startListDaemon runs a control-plane daemon against reg inside the
// calling synctest bubble.
func startListDaemon(t *testing.T, reg *listRegistry) (*Daemon, func()) {
	t.Helper()
	cfg, err := Parse([]string{"-state-dir", t.TempDir()}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(cfg, Options{RegistryDialer: reg.dial, Events: &recorder{}, ControlPlaneOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		d.Run(ctx)
		close(done)
	}()
	synctest.Wait()
	if d.NodeID() == 0 {
		t.Fatal("daemon did not register")
	}
	return d, func() {
		cancel()
		<-done
	}
}

func registryOp(t *testing.T, js string) ipcmsg.RegistryOp {
	t.Helper()
	var m ipcmsg.RegistryOp
	if err := m.Decode([]byte(js)); err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	return m
}

// ipc.md §2, §10.4: a network.members reply stays under the 1 MiB IPC cap
// counting the entries as sent (with online, hostname and tags added),
// and when it stops early it carries next_cursor, which continues the
// list without skipping or repeating a member. 10,000 minimal members
// are ~1.45 MB from the registry and ~1.8 MB decorated.
func TestIPC_MembersReplyWithinCap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const members = 10000
		reg := newListRegistry(t, members, 0)
		d, stop := startListDaemon(t, reg)
		defer stop()
		c := control{d}
		seen := map[float64]bool{}
		cursor := ""
		for call := 0; ; call++ {
			if call == 5 {
				t.Fatalf("no end after %d calls, %d members", call, len(seen))
			}
			js := `{"op":"network.members","network_id":1}`
			if cursor != "" {
				js = fmt.Sprintf(`{"op":"network.members","network_id":1,"cursor":%q}`, cursor)
			}
			out, err := c.RegistryOp(context.Background(), registryOp(t, js))
			if err != nil {
				t.Fatalf("call %d: %v", call, err)
			}
			if n := len(ipcmsg.AppendFrame(nil, ipcmsg.RegistryOpOK{Body: out})) - ipcmsg.FrameHeaderLen; n > ipcmsg.MaxMessage {
				t.Fatalf("call %d: RegistryOpOK of %d bytes, over the %d-byte IPC cap", call, n, ipcmsg.MaxMessage)
			}
			if len(out) > MaxListBytes {
				t.Errorf("call %d: %d bytes, over MaxListBytes %d", call, len(out), MaxListBytes)
			}
			var data struct {
				NetworkID  *int             `json:"network_id"`
				Nodes      []map[string]any `json:"nodes"`
				NextCursor *string          `json:"next_cursor"`
				Type       *string          `json:"type"`
			}
			if err := json.Unmarshal(out, &data); err != nil {
				t.Fatal(err)
			}
			if data.NetworkID == nil || *data.NetworkID != 1 || data.Type != nil {
				t.Errorf("call %d: network_id %v, type %v", call, data.NetworkID, data.Type)
			}
			for _, n := range data.Nodes {
				id := n["node_id"].(float64)
				if seen[id] {
					t.Fatalf("call %d: node %v listed twice", call, id)
				}
				seen[id] = true
				if n["online"] != true || n["hostname"] != "" || n["tags"] == nil {
					t.Fatalf("call %d: entry not decorated: %v", call, n)
				}
			}
			t.Logf("call %d: %d nodes, %d bytes", call, len(data.Nodes), len(out))
			if call == 0 && (data.NextCursor == nil || *data.NextCursor == "") {
				t.Fatalf("first reply: %d of %d members without next_cursor", len(data.Nodes), members)
			}
			if data.NextCursor == nil {
				break
			}
			if *data.NextCursor == "" || len(data.Nodes) == 0 {
				t.Fatalf("call %d: next_cursor %q after %d nodes", call, *data.NextCursor, len(data.Nodes))
			}
			cursor = *data.NextCursor
		}
		if len(seen) != members {
			t.Errorf("%d distinct members over all replies, want %d", len(seen), members)
		}
	})
}

// ipc.md §5.18: the legacy Network members reply (registry objects
// verbatim) keeps the same cap and next_cursor.
func TestIPC_LegacyNetworkMembersWithinCap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := newListRegistry(t, 9000, 0)
		d, stop := startListDaemon(t, reg)
		defer stop()
		out, err := control{d}.Network(context.Background(), ipcmsg.Network{Sub: ipcmsg.NetworkMembers, Network: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(out) > MaxListBytes {
			t.Fatalf("Network members reply of %d bytes, over MaxListBytes %d", len(out), MaxListBytes)
		}
		var data struct {
			Type       string            `json:"type"`
			Nodes      []json.RawMessage `json:"nodes"`
			NextCursor string            `json:"next_cursor"`
		}
		if err := json.Unmarshal(out, &data); err != nil {
			t.Fatal(err)
		}
		t.Logf("%d nodes, %d bytes", len(data.Nodes), len(out))
		if data.Type != "list_nodes_ok" || data.NextCursor != strconv.Itoa(len(data.Nodes)) {
			t.Fatalf("type %q, %d nodes, next_cursor %q: want list_nodes_ok and the cursor of the first member left out",
				data.Type, len(data.Nodes), data.NextCursor)
		}
	})
}

// cli.md §4.10 (`audit` returns one page): network.audit sends exactly one
// get_audit_log, without a limit unless the op has one, and returns the
// registry's page with its next_cursor.
func TestIPC_AuditIsOnePage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := newListRegistry(t, 0, 250)
		d, stop := startListDaemon(t, reg)
		defer stop()
		c := control{d}
		for i, tc := range []struct {
			js      string
			limit   int
			entries int
			next    string
		}{
			{`{"op":"network.audit","network_id":1}`, 0, 100, "100"},
			{`{"op":"network.audit","network_id":1,"cursor":"200"}`, 0, 50, ""},
			{`{"op":"network.audit","network_id":1,"limit":7,"cursor":"3"}`, 7, 7, "10"},
		} {
			before := len(reg.requests(regmsg.TypeGetAuditLog))
			out, err := c.RegistryOp(context.Background(), registryOp(t, tc.js))
			if err != nil {
				t.Fatalf("%s: %v", tc.js, err)
			}
			reqs := reg.requests(regmsg.TypeGetAuditLog)[before:]
			if len(reqs) != 1 {
				t.Fatalf("%s: %d get_audit_log requests, want exactly 1", tc.js, len(reqs))
			}
			if got := reqs[0].(*regmsg.GetAuditLog).Page.Limit; got != tc.limit {
				t.Errorf("%s: request limit %d, want %d", tc.js, got, tc.limit)
			}
			var data struct {
				Entries    []json.RawMessage `json:"entries"`
				NextCursor string            `json:"next_cursor"`
			}
			if err := json.Unmarshal(out, &data); err != nil {
				t.Fatal(err)
			}
			if len(data.Entries) != tc.entries || data.NextCursor != tc.next {
				t.Errorf("case %d: %d entries, next_cursor %q; want %d, %q", i, len(data.Entries), data.NextCursor,
					tc.entries, tc.next)
			}
		}
	})
}
