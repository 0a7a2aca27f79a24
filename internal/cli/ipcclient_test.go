package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
)

// rawDaemon accepts one client and answers each request with the messages
// script returns, written as frames.
func rawDaemon(t *testing.T, script func(req []byte) []ipcmsg.Message) string {
	t.Helper()
	path := filepath.Join(newHarness(t).dir, "raw.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(testTimeout))
		for {
			req, err := ipcmsg.ReadFrame(c)
			if err != nil {
				return
			}
			msgs := script(req)
			if msgs == nil {
				return // close without answering
			}
			var b []byte
			for _, m := range msgs {
				b = ipcmsg.AppendFrame(b, m)
			}
			b = append([]byte{0, 0, 0, 0}, b...) // a zero-length frame is ignored
			c.Write(b)
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return path
}

func TestIPCClient_SkipsUnsolicitedAndMapsErrors(t *testing.T) {
	info := json.RawMessage(`{"node_id":7}`)
	path := rawDaemon(t, func(req []byte) []ipcmsg.Message {
		switch ipcmsg.Cmd(req[0]) {
		case ipcmsg.CmdInfo:
			return []ipcmsg.Message{
				ipcmsg.RecvFrom{Src: addr.New(0, 9), SrcPort: 1, DstPort: 2, Data: []byte("x")},
				ipcmsg.ConnClosed{Conn: 4},
				ipcmsg.CloseOK{Conn: 4},
				ipcmsg.InfoOK{Body: info},
			}
		case ipcmsg.CmdHealth:
			return []ipcmsg.Message{ipcmsg.Error{Code: ipcmsg.CodeNotFound, Text: "gone\nhint: look elsewhere"}}
		case ipcmsg.CmdRegistryOp:
			if strings.Contains(string(req), `"lookup"`) { // an original daemon
				return []ipcmsg.Message{ipcmsg.Error{Code: ipcmsg.CodeInternal, Text: "unknown command: 0x40"}}
			}
			return []ipcmsg.Message{ipcmsg.BindOK{Port: 1}} // not the expected reply
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c, err := dialDaemon(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	body, err := c.callJSON(ctx, ipcmsg.Info{}, ipcmsg.CmdInfoOK)
	if err != nil || !bytes.Equal(body, info) {
		t.Fatalf("info: %s %v", body, err)
	}
	_, err = c.call(ctx, ipcmsg.Health{}, ipcmsg.CmdHealthOK)
	e, ok := err.(*Error)
	if !ok || e.Code != "not_found" || e.Message != "gone" || e.Hint != "look elsewhere" {
		t.Fatalf("health: %#v", err)
	}
	_, err = c.registryOp(ctx, ipcmsg.OpPeers, map[string]any{"search": "x"}, "")
	if e, ok := err.(*Error); !ok || e.Code != "internal" || !strings.Contains(e.Message, "unexpected reply BindOK") {
		t.Fatalf("wrong reply: %#v", err)
	}
	_, err = c.registryOp(ctx, ipcmsg.OpLookup, map[string]any{"node_id": 1}, "")
	if e, ok := err.(*Error); !ok || e.Code != "internal" || !strings.Contains(e.Hint, "upgrade pilot-daemon") {
		t.Fatalf("original daemon: %#v", err)
	}
	_, err = c.call(ctx, ipcmsg.Deregister{}, ipcmsg.CmdDeregisterOK)
	if e, ok := err.(*Error); !ok || e.Code != "unavailable" {
		t.Fatalf("closed connection: %#v", err)
	}
}

func TestIPCClient_Deadline(t *testing.T) {
	block := make(chan struct{})
	path := rawDaemon(t, func([]byte) []ipcmsg.Message { <-block; return nil })
	defer close(block)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	c, err := dialDaemon(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.call(ctx, ipcmsg.Info{}, ipcmsg.CmdInfoOK)
	if e, ok := err.(*Error); !ok || e.Code != "timeout" || ExitCode(e.Code) != 6 {
		t.Fatalf("deadline: %#v", err)
	}
}

func TestProgress_RateLimitedAndFinal(t *testing.T) {
	var buf bytes.Buffer
	now := time.Unix(100, 0)
	p := newProgress(&buf, 1000, func() time.Time { return now })
	p.update(100)
	now = now.Add(50 * time.Millisecond)
	p.update(200) // within 100 ms: not printed
	now = now.Add(60 * time.Millisecond)
	p.update(300)
	p.update(1000) // the final update is always printed
	p.finish()
	lines := strings.Split(buf.String(), "\r")
	if len(lines) != 4 || !strings.HasPrefix(lines[3], "1000 / 1000 bytes (100.0%)") || !strings.HasSuffix(buf.String(), "\n") {
		t.Errorf("progress output %q", buf.String())
	}
	var nilp *progress
	nilp.update(1)
	nilp.finish()
}
