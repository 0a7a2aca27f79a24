package secure

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"testing"
	"time"

	"github.com/pilot-go/pilot/addr"
	svc "github.com/pilot-go/pilot/internal/wire/svcmsg/secure"
)

func payload(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// exchange writes a to the client and b to the server concurrently and
// checks that each side reads exactly the other's bytes.
func exchange(t *testing.T, client, server *Conn, a, b []byte) {
	t.Helper()
	errs := make(chan error, 2)
	go func() { _, err := client.Write(a); errs <- err }()
	go func() { _, err := server.Write(b); errs <- err }()
	gotA, gotB := make([]byte, len(a)), make([]byte, len(b))
	readErr := make(chan error, 1)
	go func() { _, err := io.ReadFull(client, gotB); readErr <- err }()
	if _, err := io.ReadFull(server, gotA); err != nil {
		t.Fatalf("server read: %v", err)
	}
	if err := <-readErr; err != nil {
		t.Fatalf("client read: %v", err)
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("write: %v", err)
		}
	}
	if !bytes.Equal(gotA, a) || !bytes.Equal(gotB, b) {
		t.Fatal("bytes differ after the round trip")
	}
}

// records splits a raw byte stream into records, failing on a bad length.
func records(t *testing.T, b []byte) [][]byte {
	t.Helper()
	var out [][]byte
	for len(b) > 0 {
		n, err := svc.RecordLen(b)
		if err != nil || n > len(b) {
			t.Fatalf("record stream: length %d of %d bytes left: %v", n, len(b), err)
		}
		out = append(out, b[:n])
		b = b[n:]
	}
	return out
}

func TestSecure_C14_V2RoundTripExposesPeer(t *testing.T) {
	cl, sv := pipe()
	ccfg, scfg := setup()
	client, server := mustPair(t, cl, sv, ccfg, scfg)
	if got := client.PeerNodeID(); got != serverNode {
		t.Errorf("client PeerNodeID = %d, want %d", got, serverNode)
	}
	if got := server.PeerNodeID(); got != clientNode {
		t.Errorf("server PeerNodeID = %d, want %d", got, clientNode)
	}
	if client.Mode() != ModeV2 || server.Mode() != ModeV2 {
		t.Errorf("modes %v/%v, want v2", client.Mode(), server.Mode())
	}
	hs := len(cl.bytesWritten())
	if hs != svc.ClientHelloLen+svc.ClientFinishLen {
		t.Errorf("client handshake wrote %d bytes, want %d", hs, svc.ClientHelloLen+svc.ClientFinishLen)
	}
	a, b := payload(300_001, 1), payload(70_000, 2)
	exchange(t, client, server, a, b)
	exchange(t, client, server, []byte("x"), payload(MaxRecordPlaintext, 3))

	// The client's stream after the handshake is records of at most
	// 64 KiB plaintext with counters 1, 2, 3, ... and prefix c2s.
	recs := records(t, cl.bytesWritten()[hs:])
	want := (len(a)+MaxRecordPlaintext-1)/MaxRecordPlaintext + 1
	if len(recs) != want {
		t.Fatalf("client sent %d records, want %d", len(recs), want)
	}
	for i, r := range recs {
		if pt := len(r) - svc.LenFieldLen - svc.MinRecordLen; pt > MaxRecordPlaintext {
			t.Errorf("record %d carries %d plaintext bytes", i, pt)
		}
		if d := binary.BigEndian.Uint32(r[4:]); d != uint32(svc.ClientToServer) {
			t.Errorf("record %d prefix %d", i, d)
		}
		if c := binary.BigEndian.Uint64(r[8:]); c != uint64(i+1) {
			t.Errorf("record %d counter %d", i, c)
		}
	}
}

func TestSecure_V2_KeyRotationRefreshesOnce(t *testing.T) {
	for _, side := range []string{"client", "server"} {
		t.Run(side, func(t *testing.T) {
			cl, sv := pipe()
			ccfg, scfg := setup()
			ks := ccfg.Keys.(*keyStore)
			node := serverNode
			if side == "server" {
				ks, node = scfg.Keys.(*keyStore), clientNode
			}
			// The cache still holds the peer's old key.
			ks.stale = map[addr.NodeID]PeerInfo{node: {PublicKey: testKey(9).Public().(ed25519.PublicKey), Capabilities: v2Caps}}
			client, server := mustPair(t, cl, sv, ccfg, scfg)
			if _, r := ks.counts(); r != 1 {
				t.Errorf("%d refreshes, want 1", r)
			}
			exchange(t, client, server, []byte("after rotation"), []byte("ok"))
		})
	}
}

func TestSecure_C14_BadServerSignatureNoDowngrade(t *testing.T) {
	cases := []struct {
		name          string
		caps          []string
		allowOriginal bool
	}{
		{"peer has secure-v2, original allowed", v2Caps, true},
		{"peer lacks secure-v2, original not allowed", nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ccfg, scfg := setup()
			scfg.AllowOriginal = true // the server would accept original mode
			wrong := PeerInfo{PublicKey: testKey(9).Public().(ed25519.PublicKey), Capabilities: tc.caps}
			ks := newKeyStore(map[addr.NodeID]PeerInfo{serverNode: wrong})
			ccfg.Keys, ccfg.AllowOriginal = ks, tc.allowOriginal
			scfg.Keys.(*keyStore).stale[clientNode] = PeerInfo{PublicKey: testKey(1).Public().(ed25519.PublicKey), Capabilities: tc.caps}

			var dials int
			var raw *pconn
			serverErr := make(chan error, 1)
			ccfg.Dial = func(ctx context.Context, address string) (net.Conn, error) {
				dials++
				cl, sv := pipe()
				raw = cl
				go func() {
					c, err := Server(ctx, sv, scfg)
					if c != nil {
						c.Close()
					}
					serverErr <- err
				}()
				return cl, nil
			}
			_, err := Dial(context.Background(), "0:0000.0000.1F00:443", ccfg)
			if !errors.Is(err, ErrAuthentication) {
				t.Fatalf("Dial error %v, want ErrAuthentication", err)
			}
			if dials != 1 {
				t.Errorf("%d dials, want 1 (no retry)", dials)
			}
			got := raw.bytesWritten()
			if len(got) != svc.ClientHelloLen || string(got[:4]) != svc.Magic {
				t.Errorf("client wrote %d bytes starting %q; want only the 40-byte ClientHello", len(got), got[:min(4, len(got))])
			}
			if !raw.closed.Load() {
				t.Error("the stream was not closed")
			}
			if _, r := ks.counts(); r != 1 {
				t.Errorf("%d key refreshes, want exactly 1", r)
			}
			if err := <-serverErr; err == nil {
				t.Error("server handshake succeeded")
			}
		})
	}
}

func TestSecure_V2_ServerNotDialedNode(t *testing.T) {
	cl, sv := pipe()
	ccfg, scfg := setup()
	scfg.NodeID = 0x77 // a different node answers
	c, s := handshakePair(t, cl, sv, ccfg, scfg)
	if !errors.Is(c.err, ErrAuthentication) {
		t.Fatalf("client error %v, want ErrAuthentication", c.err)
	}
	if s.err == nil {
		t.Fatal("server handshake succeeded")
	}
	if n := len(cl.bytesWritten()); n != svc.ClientHelloLen {
		t.Errorf("client wrote %d bytes after a bad ServerHello", n)
	}
}

func TestSecure_V2_ClientNodeMismatchServerCloses(t *testing.T) {
	cl, sv := pipe()
	ccfg, scfg := setup()
	ccfg.NodeID = 0x77 // claims a node other than the stream's remote
	c, s := handshakePair(t, cl, sv, ccfg, scfg)
	if !errors.Is(s.err, ErrAuthentication) {
		t.Fatalf("server error %v, want ErrAuthentication", s.err)
	}
	if c.err == nil {
		t.Fatal("client handshake succeeded")
	}
	if n := len(sv.bytesWritten()); n != 0 {
		t.Errorf("server wrote %d bytes to an impostor", n)
	}
	if !sv.closed.Load() {
		t.Error("server did not close the stream")
	}
}

func TestSecure_V2_BadClientSignature(t *testing.T) {
	cl, sv := pipe()
	ccfg, scfg := setup()
	ccfg.Signer = Ed25519Signer(testKey(9)) // not the registry key of clientNode
	_, s := handshakePair(t, cl, sv, ccfg, scfg)
	if !errors.Is(s.err, ErrAuthentication) {
		t.Fatalf("server error %v, want ErrAuthentication", s.err)
	}
	if _, r := scfg.Keys.(*keyStore).counts(); r != 1 {
		t.Errorf("%d refreshes, want 1", r)
	}
	if n := len(sv.bytesWritten()); n != svc.ServerHelloLen {
		t.Errorf("server wrote %d bytes, want only the ServerHello", n)
	}
}

func TestSecure_V2_UnknownPeerKey(t *testing.T) {
	cl, sv := pipe()
	ccfg, scfg := setup()
	ccfg.Keys = StaticKeys{}
	c, _ := handshakePair(t, cl, sv, ccfg, scfg)
	if !errors.Is(c.err, ErrKeyLookup) {
		t.Fatalf("client error %v, want ErrKeyLookup", c.err)
	}
	if n := len(cl.bytesWritten()); n != 0 {
		t.Errorf("client wrote %d bytes without the peer's key", n)
	}
}

func TestSecure_C15_BadRecordClosesChannel(t *testing.T) {
	var first []byte
	cases := []struct {
		name string
		// second rewrites the second record; first is the first one.
		second func(rec []byte) []byte
		// dropFirst suppresses the first record.
		dropFirst bool
	}{
		{"repeated counter", func([]byte) []byte { return first }, false},
		{"skipped counter", func(rec []byte) []byte { return rec }, true},
		{"tampered ciphertext", func(rec []byte) []byte { rec[len(rec)-20] ^= 1; return rec }, false},
		{"tampered tag", func(rec []byte) []byte { rec[len(rec)-1] ^= 0x80; return rec }, false},
		{"tampered length", func(rec []byte) []byte { rec[3]--; return rec[:len(rec)-1] }, false},
		{"wrong prefix", func(rec []byte) []byte { rec[7] = 1; return rec }, false},
		{"oversized length", func(rec []byte) []byte { binary.BigEndian.PutUint32(rec, svc.MaxRecordLen+1); return rec }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cl, sv := pipe()
			ccfg, scfg := setup()
			client, server := mustPair(t, cl, sv, ccfg, scfg)
			n := 0
			cl.setHook(func(b []byte) []byte {
				n++
				switch n {
				case 1:
					first = b
					if tc.dropFirst {
						return nil
					}
					return b
				case 2:
					return tc.second(b)
				}
				return b
			})
			go func() {
				client.Write([]byte("one"))
				client.Write([]byte("two"))
			}()
			buf := make([]byte, 16)
			if !tc.dropFirst {
				if k, err := server.Read(buf); err != nil || string(buf[:k]) != "one" {
					t.Fatalf("first record: %q, %v", buf[:k], err)
				}
			}
			_, err := server.Read(buf)
			if !errors.Is(err, ErrBadRecord) {
				t.Fatalf("Read error %v, want ErrBadRecord", err)
			}
			if !sv.closed.Load() {
				t.Error("stream not closed after a bad record")
			}
			if _, err2 := server.Read(buf); !errors.Is(err2, ErrBadRecord) {
				t.Errorf("later Read error %v, want the same failure", err2)
			}
			// The peer sees the end of the stream.
			if _, err := client.Read(buf); err == nil {
				t.Error("client still reads after the server closed")
			}
		})
	}
}

func TestSecure_V2_TruncatedStream(t *testing.T) {
	cl, sv := pipe()
	ccfg, scfg := setup()
	client, server := mustPair(t, cl, sv, ccfg, scfg)
	cl.setHook(func(b []byte) []byte { return b[:len(b)-5] })
	go func() {
		client.Write([]byte("hello"))
		cl.Conn.Close()
	}()
	if _, err := server.Read(make([]byte, 8)); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("Read error %v, want io.ErrUnexpectedEOF", err)
	}
}

func TestSecure_CleanEOF(t *testing.T) {
	cl, sv := pipe()
	ccfg, scfg := setup()
	client, server := mustPair(t, cl, sv, ccfg, scfg)
	go func() {
		client.Write([]byte("bye"))
		client.Close()
	}()
	got, err := io.ReadAll(server)
	if err != nil || string(got) != "bye" {
		t.Fatalf("ReadAll = %q, %v", got, err)
	}
}

func TestSecure_ReadDeadlineKeepsChannel(t *testing.T) {
	cl, sv := pipe()
	ccfg, scfg := setup()
	client, server := mustPair(t, cl, sv, ccfg, scfg)
	server.SetReadDeadline(time.Now().Add(-time.Second))
	if _, err := server.Read(make([]byte, 4)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read error %v, want deadline exceeded", err)
	}
	server.SetReadDeadline(time.Time{})
	exchange(t, client, server, []byte("still alive"), []byte("yes"))
}

func TestSecure_EmptyWrite(t *testing.T) {
	cl, sv := pipe()
	ccfg, scfg := setup()
	client, _ := mustPair(t, cl, sv, ccfg, scfg)
	before := len(cl.bytesWritten())
	if n, err := client.Write(nil); n != 0 || err != nil {
		t.Fatalf("Write(nil) = %d, %v", n, err)
	}
	if len(cl.bytesWritten()) != before {
		t.Error("an empty Write sent a record")
	}
}

func TestSecure_ConfigRequired(t *testing.T) {
	ccfg, _ := setup()
	for name, cfg := range map[string]*Config{
		"nil":       nil,
		"no signer": {Keys: ccfg.Keys},
		"no keys":   {Signer: ccfg.Signer},
	} {
		cl, _ := pipe()
		if _, err := Client(context.Background(), cl, cfg); err == nil {
			t.Errorf("%s: Client accepted the config", name)
		}
		if !cl.closed.Load() {
			t.Errorf("%s: stream left open", name)
		}
	}
}

func TestSecure_V2_OverTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	tc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	ts, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	cl := &pconn{Conn: tc, local: pilotAddr(clientNode, 49152), remote: pilotAddr(serverNode, Port)}
	sv := &pconn{Conn: ts, local: pilotAddr(serverNode, Port), remote: pilotAddr(clientNode, 49152)}
	ccfg, scfg := setup()
	client, server := mustPair(t, cl, sv, ccfg, scfg)
	exchange(t, client, server, payload(1<<20, 6), payload(200_000, 7))
	// A read deadline passes through and leaves the channel usable.
	server.SetReadDeadline(time.Now().Add(-time.Second))
	if _, err := server.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read error %v, want deadline exceeded", err)
	}
	server.SetReadDeadline(time.Time{})
	exchange(t, client, server, []byte("again"), []byte("fine"))
}

func TestSecure_ReadDeadlineMidRecord(t *testing.T) {
	cl, sv := pipe()
	ccfg, scfg := setup()
	client, server := mustPair(t, cl, sv, ccfg, scfg)
	var rec []byte
	cl.setHook(func(b []byte) []byte { rec = b; return nil })
	if _, err := client.Write([]byte("split record")); err != nil {
		t.Fatal(err)
	}
	cl.setHook(nil)

	readErr := make(chan error, 1)
	go func() {
		_, err := server.Read(make([]byte, 32))
		readErr <- err
	}()
	if _, err := cl.Conn.Write(rec[:10]); err != nil { // consumed by the Read
		t.Fatal(err)
	}
	server.SetReadDeadline(time.Now())
	if err := <-readErr; !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read error %v, want deadline exceeded", err)
	}
	server.SetReadDeadline(time.Time{})
	go cl.Conn.Write(rec[10:])
	buf := make([]byte, 32)
	n, err := server.Read(buf)
	if err != nil || string(buf[:n]) != "split record" {
		t.Fatalf("Read = %q, %v", buf[:n], err)
	}
}
