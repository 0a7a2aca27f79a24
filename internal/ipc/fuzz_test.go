package ipc_test

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
)

// FuzzIntake feeds random bytes to a connected client: the server must not
// crash or hang, and another client must keep working.
func FuzzIntake(f *testing.F) {
	seeds := []ipcmsg.Message{
		ipcmsg.Hello{Client: "fuzz", Features: []string{"tagged", "datagram-bind", "close-reason"}},
		ipcmsg.Bind{Port: 0}, ipcmsg.Bind{Port: 80}, ipcmsg.Unbind{Port: 80},
		ipcmsg.Dial{Addr: ourNode, Port: 80}, ipcmsg.Send{Conn: 1, Data: []byte("x")},
		ipcmsg.Close{Conn: 1}, ipcmsg.SendTo{Addr: ourNode, Port: 5, Data: []byte("d")},
		ipcmsg.Info{}, ipcmsg.Health{}, ipcmsg.Handshake{Sub: ipcmsg.HandshakePending},
		ipcmsg.Tagged{Tag: 1, Inner: ipcmsg.Info{}}, ipcmsg.Tagged{Tag: 0, Inner: ipcmsg.Info{}},
		ipcmsg.ConnOpt{Conn: 1, Option: 1, Value: []byte{1}},
		ipcmsg.DialEx{Addr: ourNode, Port: 80, TimeoutMillis: 10},
		ipcmsg.Managed{Sub: ipcmsg.ManagedPolicy}, ipcmsg.SetTags{Tags: []string{"a"}},
	}
	for _, m := range seeds {
		f.Add(ipcmsg.AppendFrame(nil, m))
	}
	f.Add(ipcmsg.AppendFrame(ipcmsg.AppendFrame(nil, seeds[0]), ipcmsg.Tagged{Tag: 3, Inner: ipcmsg.Bind{Port: 0}}))
	f.Add([]byte{0, 0, 0, 0})
	f.Add([]byte{0xFF, 0xFF, 0xFF, 0xFF})
	f.Add([]byte{0, 0, 0, 2, 0x44})

	ts := startServer(f, nil)
	observer := ts.dial(f)
	observer.hello(ipcmsg.FeatureDatagramBind) // receives no stray datagrams
	f.Fuzz(func(t *testing.T, data []byte) {
		nc, err := net.Dial("unix", ts.path)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(ioTimeout))
		if _, err := nc.Write(data); err != nil {
			t.Fatal(err)
		}
		nc.(*net.UnixConn).CloseWrite()
		// The server closes its end after our EOF (or after an oversize
		// frame); drain until then.
		if _, err := io.Copy(io.Discard, nc); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("server did not close the connection")
			}
		}
		observer.t = t
		observer.info()
	})
}
