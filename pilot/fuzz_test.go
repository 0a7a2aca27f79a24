package pilot

import (
	"net"
	"testing"

	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
)

// FuzzClientIntake feeds arbitrary daemon → client bytes to a client with
// a pending call, a connection, a listener and a packet connection: the
// reader must never panic and must stop cleanly at the end of the input.
func FuzzClientIntake(f *testing.F) {
	seeds := []ipcmsg.Message{
		ipcmsg.TaggedReply{Tag: 1, Inner: ipcmsg.DialOK{Conn: 5}},
		ipcmsg.TaggedReply{Tag: 1, Inner: ipcmsg.Error{Code: 3, Text: "x"}},
		ipcmsg.Accept{LocalPort: 80, Conn: 6, Remote: testNode, RemotePort: 9},
		ipcmsg.Recv{Conn: 5, Data: []byte("d")}, ipcmsg.Recv{Conn: 77, Data: []byte("early")},
		ipcmsg.CloseOK{Conn: 5}, ipcmsg.ConnClosed{Conn: 5, Reason: 2},
		ipcmsg.RecvFrom{Src: testNode, SrcPort: 1, DstPort: 90, Data: []byte("p")},
		ipcmsg.BindOK{Port: 3}, ipcmsg.Error{Code: 1, Text: "e"},
	}
	for _, m := range seeds {
		f.Add(ipcmsg.AppendFrame(nil, m))
	}
	f.Add([]byte{0xFF, 0xFF, 0xFF, 0xFF})
	f.Fuzz(func(t *testing.T, data []byte) {
		ours, theirs := net.Pipe()
		c := newClient(ours)
		c.tagged = true
		cn := c.newConn(5, &Addr{}, &Addr{})
		l := &Listener{c: c, addr: &Addr{Port: 80}, ready: make(chan struct{}, 1), closedCh: make(chan struct{})}
		pc := &PacketConn{c: c, local: &Addr{Port: 90}, ready: make(chan struct{}, 1), closedCh: make(chan struct{})}
		c.mu.Lock()
		c.listeners[80] = l
		c.packets[90] = pc
		cl := &call{ch: make(chan ipcmsg.Reply, 1)}
		c.pending[1] = cl
		c.fifo = append(c.fifo, &call{expect: ipcmsg.CmdBindOK, ch: make(chan ipcmsg.Reply, 1)})
		c.mu.Unlock()
		go func() {
			// Drain what the client writes (Close of unwanted connections).
			buf := make([]byte, 4096)
			for {
				if _, err := theirs.Read(buf); err != nil {
					return
				}
			}
		}()
		theirs.Write(data)
		theirs.Close()
		<-c.done
		c.Close()
		cn.Read(make([]byte, 8)) // never blocks: client closed
	})
}
