package secure

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	svc "github.com/pilot-go/pilot/internal/wire/svcmsg/secure"
)

// streamConn is a net.Conn whose peer is a fixed byte string; writes are
// discarded.
type streamConn struct {
	r             io.Reader
	local, remote net.Addr
}

func (s *streamConn) Read(b []byte) (int, error)      { return s.r.Read(b) }
func (s *streamConn) Write(b []byte) (int, error)     { return len(b), nil }
func (s *streamConn) Close() error                    { return nil }
func (s *streamConn) LocalAddr() net.Addr             { return s.local }
func (s *streamConn) RemoteAddr() net.Addr            { return s.remote }
func (s *streamConn) SetDeadline(time.Time) error     { return nil }
func (s *streamConn) SetReadDeadline(time.Time) error { return nil }
func (s *streamConn) SetWriteDeadline(time.Time) error {
	return nil
}

var fuzzKey = [svc.KeyLen]byte{1, 2, 3}

func sealAll(t testing.TB, mode svc.Mode, pts ...[]byte) []byte {
	s, err := svc.NewSealer(fuzzKey, svc.ClientToServer, mode)
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	for _, p := range pts {
		if out, err = s.Seal(out, p); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// FuzzRecordStream feeds arbitrary bytes to a server Conn's record layer:
// it never panics, and every record it accepts re-seals to exactly the
// bytes consumed (decode → encode → equal).
func FuzzRecordStream(f *testing.F) {
	good := sealAll(f, svc.ModeV2, []byte("hello"), nil, bytes.Repeat([]byte{7}, 70_000))
	f.Add(good, false)
	f.Add(good[:len(good)-1], false)
	f.Add(append(bytes.Clone(good[:33]), good[:33]...), false) // replay
	f.Add(sealAll(f, svc.ModeOriginal, []byte("orig")), true)
	f.Add([]byte{0, 0, 0, 27}, false)
	f.Add([]byte{0xFF, 0xFF, 0xFF, 0xFF}, false)
	f.Fuzz(func(t *testing.T, in []byte, original bool) {
		mode := svc.ModeV2
		if original {
			mode = svc.ModeOriginal
		}
		c, err := newConn(&streamConn{r: bytes.NewReader(in)}, ModeV2, serverNode, true, fuzzKey, fuzzKey, svc.ServerToClient, mode)
		if err != nil {
			t.Fatal(err)
		}
		var pts [][]byte
		for {
			pt, err := c.readRecord()
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, ErrBadRecord) {
					t.Fatalf("unexpected error %v", err)
				}
				break
			}
			pts = append(pts, bytes.Clone(pt))
		}
		re := sealAll(t, mode, pts...)
		if !bytes.HasPrefix(in, re) {
			t.Fatal("accepted records do not re-seal to the input")
		}
	})
}

// FuzzServerHandshake feeds arbitrary client bytes to Server: it never
// panics and never completes (nobody can sign as the client).
func FuzzServerHandshake(f *testing.F) {
	ch := svc.ClientHello{Ephemeral: [32]byte{9}, NodeID: clientNode}.Marshal()
	f.Add(append(ch, make([]byte, 64)...), false)
	f.Add(ch[:20], false)
	f.Add(bytes.Repeat([]byte{9}, 32+28+92), true)
	f.Add([]byte("PSC1"), true)
	f.Fuzz(func(t *testing.T, in []byte, allowOriginal bool) {
		_, scfg := setup()
		scfg.AllowOriginal, scfg.OriginalAuth = allowOriginal, true
		ks := scfg.Keys.(*keyStore)
		p := ks.stale[clientNode]
		p.Capabilities = nil
		ks.stale[clientNode] = p
		raw := &streamConn{r: bytes.NewReader(in), local: pilotAddr(serverNode, Port), remote: pilotAddr(clientNode, 1)}
		if c, err := Server(context.Background(), raw, scfg); err == nil {
			t.Fatalf("handshake completed in mode %v from forged bytes", c.Mode())
		}
	})
}

// FuzzClientHandshake feeds arbitrary server bytes to Client.
func FuzzClientHandshake(f *testing.F) {
	sh := svc.ServerHello{Ephemeral: [32]byte{9}, NodeID: serverNode}.Marshal()
	f.Add(sh, false)
	f.Add(sh[:50], false)
	f.Add(bytes.Repeat([]byte{9}, 32+28+92), true)
	f.Fuzz(func(t *testing.T, in []byte, original bool) {
		ccfg, _ := setup()
		if original {
			ccfg.AllowOriginal, ccfg.OriginalAuth = true, true
			ks := ccfg.Keys.(*keyStore)
			p := ks.stale[serverNode]
			p.Capabilities = nil
			ks.stale[serverNode] = p
		}
		raw := &streamConn{r: bytes.NewReader(in), local: pilotAddr(clientNode, 1), remote: pilotAddr(serverNode, Port)}
		if c, err := Client(context.Background(), raw, ccfg); err == nil {
			t.Fatalf("handshake completed in mode %v from forged bytes", c.Mode())
		}
	})
}
