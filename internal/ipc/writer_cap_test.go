package ipc_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/pilot-go/pilot/internal/ipc"
	"github.com/pilot-go/pilot/internal/ipc/ipctest"
	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
)

// sizedBackend answers RegistryOp "peers" with a JSON body of
// size[search] bytes (search is the op's "search" argument).
type sizedBackend struct {
	*ipctest.Backend
	size map[string]int
}

func (b sizedBackend) RegistryOp(ctx context.Context, m ipcmsg.RegistryOp) (json.RawMessage, error) {
	search, _, _ := m.String("search")
	n, ok := b.size[search]
	if m.Op != ipcmsg.OpPeers || !ok {
		return b.Backend.RegistryOp(ctx, m)
	}
	return jsonOfSize(n), nil
}

// jsonOfSize is a JSON object of exactly n bytes (n ≥ 8).
func jsonOfSize(n int) json.RawMessage {
	return json.RawMessage(`{"a":"` + strings.Repeat("x", n-8) + `"}`)
}

func peersOp(search string) ipcmsg.RegistryOp {
	q, _ := json.Marshal(search)
	return ipcmsg.RegistryOp{Op: ipcmsg.OpPeers, Args: map[string]json.RawMessage{"search": q}}
}

func wantOversizedError(t *testing.T, r ipcmsg.Reply) {
	t.Helper()
	e, ok := r.(ipcmsg.Error)
	if !ok {
		t.Fatalf("got %v, want an Error in place of the oversized reply", r.Cmd())
	}
	if e.Code != ipcmsg.CodeInternal || !strings.Contains(e.Text, "exceeded the 1 MiB IPC limit") {
		t.Fatalf("Error %d %q, want internal saying the reply exceeded the 1 MiB IPC limit", e.Code, e.Text)
	}
}

// ipc.md §2: daemon → client messages never exceed 1 MiB. A reply that
// would (a daemon bug) is replaced by an Error in its place, legacy or
// tagged; the connection stays usable, and a reply of exactly 1 MiB
// still goes out whole.
func TestIPC_OversizedReplyBecomesError(t *testing.T) {
	// RegistryOpOK = 0x41 ‖ JSON: a body of MaxMessage-1 bytes is exactly
	// MaxMessage; tagged adds 0x45 ‖ u32 tag.
	sizes := map[string]int{
		"max":         ipcmsg.MaxMessage - 1,
		"over":        ipcmsg.MaxMessage,
		"huge":        ipcmsg.MaxMessage + 300<<10,
		"tagged-max":  ipcmsg.MaxMessage - 1 - 5,
		"tagged-over": ipcmsg.MaxMessage - 5,
	}
	ts := startServer(t, func(cfg *ipc.Config, be *ipctest.Backend) {
		cfg.Backend = sizedBackend{Backend: be, size: sizes}
	})

	c := ts.dial(t)
	c.send(peersOp("over"))
	wantOversizedError(t, c.recv())
	c.info() // still in sync and open
	c.send(peersOp("huge"), ipcmsg.Info{})
	wantOversizedError(t, c.recv())
	if r := c.recv(); r.Cmd() != ipcmsg.CmdInfoOK {
		t.Fatalf("after the replaced reply: %v, want InfoOK", r.Cmd())
	}
	c.send(peersOp("max"))
	msg := c.recvRaw()
	if len(msg) != ipcmsg.MaxMessage || msg[0] != byte(ipcmsg.CmdRegistryOpOK) ||
		!bytes.Equal(msg[1:], jsonOfSize(sizes["max"])) {
		t.Fatalf("reply of exactly MaxMessage: %d bytes, cmd %#x", len(msg), msg[0])
	}

	tc := ts.dial(t)
	tc.hello(ipcmsg.FeatureTagged)
	tc.send(ipcmsg.Tagged{Tag: 7, Inner: peersOp("tagged-over")})
	tr, ok := tc.recv().(ipcmsg.TaggedReply)
	if !ok || tr.Tag != 7 {
		t.Fatalf("tagged oversized reply: want TaggedReply with tag 7, got %+v", tr)
	}
	wantOversizedError(t, tr.Inner)
	tc.send(ipcmsg.Tagged{Tag: 8, Inner: peersOp("tagged-max")})
	msg = tc.recvRaw()
	if len(msg) != ipcmsg.MaxMessage || msg[0] != byte(ipcmsg.CmdTaggedReply) {
		t.Fatalf("tagged reply of exactly MaxMessage: %d bytes, cmd %#x", len(msg), msg[0])
	}
	tc.send(ipcmsg.Tagged{Tag: 9, Inner: ipcmsg.Info{}})
	if tr, ok := tc.recv().(ipcmsg.TaggedReply); !ok || tr.Tag != 9 || tr.Inner.Cmd() != ipcmsg.CmdInfoOK {
		t.Fatalf("after the replaced tagged reply: %+v, want TaggedReply 9 InfoOK", tr)
	}
}
