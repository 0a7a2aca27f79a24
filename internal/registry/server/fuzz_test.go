package server

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"net"
	"testing"
	"time"
)

// memConn is a net.Conn whose peer sent exactly `in` and then closed; what
// the server writes is collected in out.
type memConn struct {
	in  *bytes.Reader
	out bytes.Buffer
}

func (m *memConn) Read(b []byte) (int, error)       { return m.in.Read(b) }
func (m *memConn) Write(b []byte) (int, error)      { return m.out.Write(b) }
func (m *memConn) Close() error                     { return nil }
func (m *memConn) LocalAddr() net.Addr              { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9000} }
func (m *memConn) RemoteAddr() net.Addr             { return &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 40000} }
func (m *memConn) SetDeadline(time.Time) error      { return nil }
func (m *memConn) SetReadDeadline(time.Time) error  { return nil }
func (m *memConn) SetWriteDeadline(time.Time) error { return nil }

// FuzzConnection feeds arbitrary client bytes to one registry-port
// connection (sniffing and framing) and checks that the server never panics
// and that everything it writes back is either an HTTP 405 or a sequence of
// well-formed frames, each carrying a JSON object of at most MaxFrame bytes.
func FuzzConnection(f *testing.F) {
	f.Add(frame(`{"type":"a"}`))
	f.Add(append(frame(``), frame(`{"type":"panic"}`)...))
	f.Add(append(frame(`{"type":"big"}`), frame(`[]`)...))
	f.Add([]byte{0, 1, 0, 1})
	f.Add([]byte{0, 0, 0})
	f.Add([]byte("PILT\x00\x00\x00\x00"))
	f.Add([]byte("POST / HTTP/1.1\r\n\r\n"))
	f.Add([]byte("\x16\x03\x01\x00"))
	srv, err := New(Config{Addr: ":0", Dispatcher: &stub{}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		mc := &memConn{in: bytes.NewReader(in)}
		c, _ := srv.admit(mc)
		sniffed := newChanListener(mc.LocalAddr())
		sniffed.Close() // HTTP hand-off is refused: the connection is just closed
		srv.serveConn(context.Background(), c, sniffed)
		b := mc.out.Bytes()
		if bytes.HasPrefix(b, []byte("HTTP/1.1 405 ")) {
			return
		}
		for len(b) > 0 {
			if len(b) < 4 {
				t.Fatalf("truncated reply header % x", b)
			}
			n := binary.BigEndian.Uint32(b)
			if n > MaxFrame || int(n) > len(b)-4 {
				t.Fatalf("bad reply length %d", n)
			}
			var m map[string]any
			if err := json.Unmarshal(b[4:4+n], &m); err != nil || m == nil {
				t.Fatalf("reply %q is not a JSON object", b[4:4+n])
			}
			b = b[4+n:]
		}
		if srv.OpenConns() != 0 {
			t.Fatal("connection slot leaked")
		}
	})
}
