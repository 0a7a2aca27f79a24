package dataexchange

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pilot-go/pilot/internal/services/internal/svctest"
	"github.com/pilot-go/pilot/internal/wire/svcmsg/dataex"
)

const peer = "0:0000.0000.0007"

// at is the fixed receive time of these tests: stamp 20260327-101503.412.
var at = time.Date(2026, 3, 27, 10, 15, 3, 412_700_000, time.UTC)

// session is one connection to a Service under test.
type session struct {
	t      *testing.T
	client net.Conn
	done   chan error
}

func newService(t *testing.T) (*Service, *svctest.Events) {
	t.Helper()
	evs := &svctest.Events{}
	return &Service{
		StateDir:  t.TempDir(),
		Emit:      evs.Emit,
		Now:       func() time.Time { return at },
		FreeBytes: func(string) (uint64, error) { return 1 << 40, nil },
	}, evs
}

func open(t *testing.T, s *Service) *session {
	t.Helper()
	client, server := net.Pipe()
	ss := &session{t: t, client: client, done: make(chan error, 1)}
	go func() { ss.done <- s.Serve(context.Background(), server, peer) }()
	t.Cleanup(func() { client.Close(); ss.wait() })
	return ss
}

// send writes a frame, header and payload in separate writes as the
// original sender does.
func (ss *session) send(f dataex.Frame) {
	ss.t.Helper()
	b, err := f.Marshal()
	if err != nil {
		ss.t.Fatal(err)
	}
	_ = ss.client.SetWriteDeadline(time.Now().Add(svctest.WaitLimit))
	if _, err := ss.client.Write(b[:dataex.HeaderLen]); err != nil {
		ss.t.Fatal(err)
	}
	if len(b) == dataex.HeaderLen {
		return // a zero-length write on net.Pipe waits for a reader
	}
	if _, err := ss.client.Write(b[dataex.HeaderLen:]); err != nil {
		ss.t.Fatal(err)
	}
}

// reply reads one reply frame.
func (ss *session) reply() string {
	ss.t.Helper()
	_ = ss.client.SetReadDeadline(time.Now().Add(svctest.WaitLimit))
	f, err := dataex.ReadFrame(ss.client, 0)
	if err != nil {
		ss.t.Fatalf("read reply: %v", err)
	}
	if f.Type != dataex.TypeText {
		ss.t.Fatalf("reply of type %s", f.Type)
	}
	return string(f.Payload)
}

// roundTrip sends f and returns the reply.
func (ss *session) roundTrip(f dataex.Frame) string {
	ss.t.Helper()
	ss.send(f)
	return ss.reply()
}

// wait returns Serve's result, within the wait limit.
func (ss *session) wait() error {
	select {
	case err := <-ss.done:
		ss.done <- err
		return err
	case <-time.After(svctest.WaitLimit):
		ss.t.Fatal("Serve did not return")
		return nil
	}
}

// expectClosed checks that the service closed the connection.
func (ss *session) expectClosed() {
	ss.t.Helper()
	_ = ss.client.SetReadDeadline(time.Now().Add(svctest.WaitLimit))
	if n, err := ss.client.Read(make([]byte, 1)); err != io.EOF {
		ss.t.Fatalf("read after close = %d, %v; want EOF", n, err)
	}
}

func fileFrame(t *testing.T, name string, data []byte) dataex.Frame {
	t.Helper()
	f, err := dataex.File{Name: name, Data: data}.Frame()
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestServices_2_FileNameTraversal: ../../etc/passwd is stored as
// passwd-<timestamp> under received/ and answered ACK FILE <n> bytes.
func TestServices_2_FileNameTraversal(t *testing.T) {
	svctest.CheckLeaks(t)
	s, evs := newService(t)
	ss := open(t, s)
	if got := ss.roundTrip(fileFrame(t, "../../etc/passwd", []byte("root:x:0:0"))); got != "ACK FILE 10 bytes" {
		t.Fatalf("reply %q", got)
	}
	path := filepath.Join(s.StateDir, "received", "passwd-20260327-101503.412")
	if got := readFile(t, path); got != "root:x:0:0" {
		t.Fatalf("stored %q", got)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("stored file mode %v, %v", fi.Mode(), err)
	}
	ev := evs.Named("file.received")
	if len(ev) != 1 || ev[0].Data[0].Value != "passwd" || ev[0].Data[1].Value != uint32(10) || ev[0].Data[2].Value != path {
		t.Fatalf("webhooks %+v", evs.All())
	}
	ss.client.Close()
	if err := ss.wait(); err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

// TestFileCollisionsAndExtension: the same name at the same millisecond
// gets -1, -2 before the extension.
func TestFileCollisionsAndExtension(t *testing.T) {
	svctest.CheckLeaks(t)
	s, _ := newService(t)
	ss := open(t, s)
	for range 3 {
		if got := ss.roundTrip(fileFrame(t, `C:\docs\report.pdf`, []byte("%PDF"))); got != "ACK FILE 4 bytes" {
			t.Fatalf("reply %q", got)
		}
	}
	if got := ss.roundTrip(fileFrame(t, "...", nil)); got != "ACK FILE 0 bytes" {
		t.Fatalf("reply %q", got)
	}
	entries, err := os.ReadDir(filepath.Join(s.StateDir, "received"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	want := "file-20260327-101503.412 report-20260327-101503.412-1.pdf report-20260327-101503.412-2.pdf report-20260327-101503.412.pdf"
	if got := strings.Join(names, " "); got != want {
		t.Fatalf("received/ = %s\nwant       %s", got, want)
	}
}

// TestServices_3_TooLarge: a frame longer than 16 MiB gets ERR <TYPE> too
// large and the connection closes; exactly 16 MiB is accepted.
func TestServices_3_TooLarge(t *testing.T) {
	svctest.CheckLeaks(t)
	for _, typ := range []dataex.Type{dataex.TypeText, dataex.TypeFile, 9} {
		s, _ := newService(t)
		ss := open(t, s)
		var hdr [8]byte
		binary.BigEndian.PutUint32(hdr[:], uint32(typ))
		binary.BigEndian.PutUint32(hdr[4:], dataex.MaxPayload+1)
		if _, err := ss.client.Write(hdr[:]); err != nil {
			t.Fatal(err)
		}
		if got, want := ss.reply(), "ERR "+typ.String()+" too large"; got != want {
			t.Fatalf("reply %q, want %q", got, want)
		}
		ss.expectClosed()
		if err := ss.wait(); !errors.Is(err, dataex.ErrTooLarge) {
			t.Fatalf("Serve = %v", err)
		}
	}

	s, _ := newService(t)
	ss := open(t, s)
	data := bytes.Repeat([]byte{0xA5}, dataex.MaxPayload-2-len("big.bin"))
	if got := ss.roundTrip(fileFrame(t, "big.bin", data)); got != "ACK FILE 16777207 bytes" {
		t.Fatalf("reply %q", got)
	}
}

// TestServices_4_UnknownType: type 9 is acknowledged and discarded.
func TestServices_4_UnknownType(t *testing.T) {
	svctest.CheckLeaks(t)
	s, evs := newService(t)
	ss := open(t, s)
	if got := ss.roundTrip(dataex.Frame{Type: 9, Payload: []byte("hello")}); got != "ACK UNKNOWN(9) 5 bytes" {
		t.Fatalf("reply %q", got)
	}
	for _, d := range []string{"received", "inbox"} {
		if _, err := os.Stat(filepath.Join(s.StateDir, d)); !os.IsNotExist(err) {
			t.Errorf("%s/ created for an unknown frame: %v", d, err)
		}
	}
	if len(evs.All()) != 0 {
		t.Fatalf("webhooks %+v", evs.All())
	}
}

// TestInboxMessages: TEXT, BINARY and JSON are stored as inbox records in
// order; invalid JSON is refused and the connection stays usable.
func TestInboxMessages(t *testing.T) {
	svctest.CheckLeaks(t)
	s, evs := newService(t)
	ss := open(t, s)
	bin := []byte{0, 1, 2, 0xFF}
	steps := []struct {
		f     dataex.Frame
		reply string
		file  string
		rec   string
	}{
		{dataex.Frame{Type: dataex.TypeText, Payload: []byte("hi <b> & \"q\"")}, "ACK TEXT 12 bytes", "TEXT-20260327-101503.412.json",
			`{"type":"TEXT","from":"0:0000.0000.0007","data":"hi <b> & \"q\"","bytes":12,"received_at":"2026-03-27T10:15:03.4127Z"}`},
		{dataex.Frame{Type: dataex.TypeBinary, Payload: bin}, "ACK BINARY 4 bytes", "BINARY-20260327-101503.412.json",
			`{"type":"BINARY","from":"0:0000.0000.0007","data":"` + base64.StdEncoding.EncodeToString(bin) + `","bytes":4,"received_at":"2026-03-27T10:15:03.4127Z"}`},
		{dataex.Frame{Type: dataex.TypeJSON, Payload: []byte("{ \"a\" : [1, 2] }")}, "ACK JSON 16 bytes", "JSON-20260327-101503.412.json",
			`{"type":"JSON","from":"0:0000.0000.0007","data":{"a":[1,2]},"bytes":16,"received_at":"2026-03-27T10:15:03.4127Z"}`},
		{dataex.Frame{Type: dataex.TypeJSON, Payload: []byte("{nope")}, "ERR JSON invalid json", "", ""},
		{dataex.Frame{Type: dataex.TypeJSON, Payload: nil}, "ERR JSON invalid json", "", ""},
		{dataex.Frame{Type: dataex.TypeText, Payload: []byte("again")}, "ACK TEXT 5 bytes", "TEXT-20260327-101503.412-1.json", ""},
	}
	for i, st := range steps {
		if got := ss.roundTrip(st.f); got != st.reply {
			t.Fatalf("step %d reply %q, want %q", i, got, st.reply)
		}
		if st.rec != "" {
			if got := readFile(t, filepath.Join(s.StateDir, "inbox", st.file)); got != st.rec {
				t.Errorf("step %d record\n got %s\nwant %s", i, got, st.rec)
			}
		}
	}
	ev := evs.Named("message.received")
	if len(ev) != 4 || ev[2].Data[0].Value != "JSON" || ev[2].Data[1].Value != peer || ev[2].Data[2].Value != 16 {
		t.Fatalf("webhooks %+v", ev)
	}
}

// TestDiskFull: a save that would leave less than MinFreeBytes is
// refused; exactly MinFreeBytes left is fine.
func TestDiskFull(t *testing.T) {
	svctest.CheckLeaks(t)
	s, evs := newService(t)
	s.FreeBytes = func(string) (uint64, error) { return DefaultMinFreeBytes + 10, nil }
	ss := open(t, s)
	if got := ss.roundTrip(fileFrame(t, "a", make([]byte, 11))); got != "ERR FILE disk full" {
		t.Fatalf("reply %q", got)
	}
	if got := ss.roundTrip(fileFrame(t, "a", make([]byte, 10))); got != "ACK FILE 10 bytes" {
		t.Fatalf("reply %q", got)
	}
	if got := ss.roundTrip(dataex.Frame{Type: dataex.TypeText, Payload: []byte("x")}); got != "ERR TEXT disk full" {
		t.Fatalf("reply %q (the record is larger than 10 bytes)", got)
	}
	if n := len(evs.All()); n != 1 {
		t.Fatalf("%d webhooks, want 1", n)
	}
	// The default probe measures the real file system.
	if _, err := freeBytes(s.StateDir); err != nil && !errors.Is(err, errUnsupported) {
		t.Fatalf("freeBytes: %v", err)
	}
}

// TestSaveFailed: a storage error is answered save failed without the
// daemon's paths, and the connection continues.
func TestSaveFailed(t *testing.T) {
	svctest.CheckLeaks(t)
	s, _ := newService(t)
	if err := os.WriteFile(filepath.Join(s.StateDir, "received"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	ss := open(t, s)
	got := ss.roundTrip(fileFrame(t, "a.txt", []byte("x")))
	if !strings.HasPrefix(got, "ERR FILE save failed: ") || strings.Contains(got, s.StateDir) {
		t.Fatalf("reply %q", got)
	}
	if got := ss.roundTrip(dataex.Frame{Type: dataex.TypeText, Payload: []byte("ok")}); got != "ACK TEXT 2 bytes" {
		t.Fatalf("reply %q", got)
	}
}

// TestMalformedClosesConnection: a FILE payload shorter than its name
// length closes that connection only; another connection keeps working.
func TestMalformedClosesConnection(t *testing.T) {
	svctest.CheckLeaks(t)
	s, _ := newService(t)
	bad := open(t, s)
	good := open(t, s)
	bad.send(dataex.Frame{Type: dataex.TypeFile, Payload: []byte{0, 9, 'a'}})
	bad.expectClosed()
	if err := bad.wait(); !errors.Is(err, ErrMalformed) {
		t.Fatalf("Serve = %v", err)
	}
	if got := good.roundTrip(dataex.Frame{Type: dataex.TypeText, Payload: []byte("ok")}); got != "ACK TEXT 2 bytes" {
		t.Fatalf("reply %q", got)
	}
	// A connection ending inside a frame is an error too.
	part := open(t, s)
	if _, err := part.client.Write([]byte{0, 0, 0, 1, 0, 0, 0, 5, 'a'}); err != nil {
		t.Fatal(err)
	}
	part.client.Close()
	if err := part.wait(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("Serve = %v", err)
	}
}

// TestIdleTimeoutAndCancel: a silent peer is cut at the idle deadline;
// cancelling ctx closes the connection.
func TestIdleTimeoutAndCancel(t *testing.T) {
	svctest.CheckLeaks(t)
	s, _ := newService(t)
	s.IdleTimeout = 20 * time.Millisecond
	ss := open(t, s)
	var ne net.Error
	if err := ss.wait(); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("Serve = %v, want a timeout", err)
	}

	s2, _ := newService(t)
	client, server := net.Pipe()
	defer client.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s2.Serve(ctx, server, peer) }()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Serve = %v", err)
		}
	case <-time.After(svctest.WaitLimit):
		t.Fatal("Serve ignored ctx")
	}
}
