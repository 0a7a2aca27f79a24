package pilot

import (
	"bufio"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
)

// originalDaemon imitates the original daemon: it knows no command above
// 0x24, answers Hello with `unknown command: 0x42` and replies in order.
// Every Dial gets connection 7. With doubleCloseOK it answers a Close like
// the original does (ipc.md §5.6): the CloseOK reply and an unsolicited
// CloseOK for the locally closed connection.
type originalDaemon struct {
	path string
	reqs chan ipcmsg.Request
	mu   sync.Mutex
	nc   net.Conn
}

func startOriginal(t *testing.T) *originalDaemon { return startOriginalWith(t, false) }

func startOriginalWith(t *testing.T, doubleCloseOK bool) *originalDaemon {
	dir, err := os.MkdirTemp("", "orig")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	d := &originalDaemon{path: filepath.Join(dir, "pilot.sock"), reqs: make(chan ipcmsg.Request, 100)}
	ln, err := net.Listen("unix", d.path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		t.Cleanup(func() { nc.Close() })
		d.mu.Lock()
		d.nc = nc
		d.mu.Unlock()
		br := bufio.NewReader(nc)
		for {
			msg, err := ipcmsg.ReadFrame(br)
			if err != nil {
				close(d.reqs)
				return
			}
			if msg[0] >= 0x40 {
				d.push(ipcmsg.Error{Code: 1, Text: "unknown command: 0x" + hex2(msg[0])})
			}
			req, err := ipcmsg.DecodeRequest(msg)
			if err != nil {
				continue
			}
			switch r := req.(type) {
			case ipcmsg.Dial:
				d.push(ipcmsg.DialOK{Conn: 7}, ipcmsg.Recv{Conn: 7, Data: []byte("hi")})
			case ipcmsg.Bind:
				d.push(ipcmsg.BindOK(r))
			case ipcmsg.Close:
				if doubleCloseOK {
					d.push(ipcmsg.CloseOK(r), ipcmsg.CloseOK(r))
				} else {
					d.push(ipcmsg.CloseOK(r))
				}
			}
			d.reqs <- req
		}
	}()
	return d
}

func hex2(b byte) string {
	const digits = "0123456789ABCDEF"
	return string([]byte{digits[b>>4], digits[b&15]})
}

func (d *originalDaemon) push(msgs ...ipcmsg.Message) {
	var b []byte
	for _, m := range msgs {
		b = ipcmsg.AppendFrame(b, m)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.nc.Write(b)
}

func (d *originalDaemon) next(t *testing.T) ipcmsg.Request {
	t.Helper()
	select {
	case r := <-d.reqs:
		return r
	case <-time.After(testTimeout):
		t.Fatal("no request reached the daemon")
		return nil
	}
}

func TestLegacyFallback(t *testing.T) {
	d := startOriginal(t)
	c, err := Connect(testCtx(t), WithSocket(d.path))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !c.Legacy() || c.tagged {
		t.Fatal("did not fall back to legacy mode")
	}
	if _, ok := d.next(t).(ipcmsg.Hello); !ok {
		t.Fatal("first request was not Hello")
	}
	conn, err := c.Dial(testCtx(t), "pilot", "0:0000.0000.02AF:7") // ctx has a deadline: still plain Dial
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := d.next(t).(ipcmsg.Dial); !ok || r.Port != 7 {
		t.Fatalf("daemon got %T %+v, want Dial", r, r)
	}
	conn.SetReadDeadline(time.Now().Add(testTimeout))
	buf := make([]byte, 10)
	if n, err := conn.Read(buf); err != nil || string(buf[:n]) != "hi" {
		t.Fatalf("Read %q %v", buf[:n], err)
	}
	if _, err := conn.Write([]byte("yo")); err != nil {
		t.Fatal(err)
	}
	if r := d.next(t); r.Cmd() != ipcmsg.CmdSend || string(r.(ipcmsg.Send).Data) != "yo" {
		t.Fatalf("daemon got %+v, want untagged Send", r)
	}

	// Accept with Recv that arrived before it (buffered by conn ID).
	ln, err := c.Listen(testCtx(t), "pilot", ":80")
	if err != nil {
		t.Fatal(err)
	}
	d.next(t) // Bind
	d.push(ipcmsg.Recv{Conn: 9, Data: []byte("early")}, ipcmsg.Accept{LocalPort: 80, Conn: 9, Remote: testNode, RemotePort: 50000}, ipcmsg.CloseOK{Conn: 9})
	in, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	in.SetReadDeadline(time.Now().Add(testTimeout))
	if b, err := io.ReadAll(in); err != nil || string(b) != "early" {
		t.Fatalf("accepted conn read %q %v", b, err)
	}
	ln.Close() // an original daemon gets no Unbind
	in.Close()
	if r := d.next(t); r != (ipcmsg.Close{Conn: 9}) {
		t.Fatalf("daemon got %+v, want Close 9 (and no Unbind)", r)
	}

	// Unsolicited CloseOK is end of stream; Close sends Close.
	d.push(ipcmsg.CloseOK{Conn: 7})
	if _, err := io.ReadAll(conn); err != nil {
		t.Fatalf("read to EOF: %v", err)
	}
	conn.Close()
	if r := d.next(t); r != (ipcmsg.Close{Conn: 7}) {
		t.Fatalf("daemon got %+v, want Close", r)
	}
}
