package tasksubmit

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/services/internal/svctest"
	"github.com/pilot-go/pilot/internal/wire/svcmsg/task"
)

var (
	submitter = addr.MustParse("0:0000.0000.0007")
	executor  = addr.MustParse("0:0000.0000.0009")
	stranger  = addr.MustParse("0:0000.0000.000C")
)

// at is the fixed clock of these tests.
var at = time.Date(2026, 3, 27, 10, 15, 3, 412_700_000, time.UTC)

// fakeRegistry is a Registry with settable availability, scores and
// admin capability, recording every update.
type fakeRegistry struct {
	mu        sync.Mutex
	available bool
	admin     bool
	scoreErr  error
	scores    map[addr.NodeID]int
	updates   []scoreUpdate
}

type scoreUpdate struct {
	node  addr.NodeID
	delta int
}

func newRegistry() *fakeRegistry {
	return &fakeRegistry{available: true, admin: true, scores: map[addr.NodeID]int{}}
}

func (r *fakeRegistry) Available() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.available
}

func (r *fakeRegistry) PoloScore(_ context.Context, node addr.NodeID) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.scoreErr != nil {
		return 0, r.scoreErr
	}
	return r.scores[node], nil
}

func (r *fakeRegistry) UpdatePoloScore(_ context.Context, node addr.NodeID, delta int) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.admin {
		return ErrNoAdminToken
	}
	r.scores[node] += delta
	r.updates = append(r.updates, scoreUpdate{node, delta})
	return nil
}

func (r *fakeRegistry) Updates() []scoreUpdate {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]scoreUpdate(nil), r.updates...)
}

func newService(t *testing.T, reg Registry) *Service {
	t.Helper()
	return &Service{StateDir: t.TempDir(), Registry: reg, Now: func() time.Time { return at }}
}

// session is one connection to a Service under test.
type session struct {
	t      *testing.T
	client net.Conn
	done   chan error
	writes []<-chan error // pending sends, drained by finish
}

func open(t *testing.T, s *Service, from addr.Addr) *session {
	t.Helper()
	return openCtx(t, context.Background(), s, from)
}

func openCtx(t *testing.T, ctx context.Context, s *Service, from addr.Addr) *session {
	t.Helper()
	client, server := net.Pipe()
	ss := &session{t: t, client: client, done: make(chan error, 1)}
	go func() { ss.done <- s.Serve(ctx, server, from) }()
	t.Cleanup(func() { client.Close(); ss.wait() })
	return ss
}

// send writes frames from a goroutine (net.Pipe is unbuffered and the
// service may be writing a reply); finish waits for them.
func (ss *session) send(frames ...task.Frame) {
	var b []byte
	for _, f := range frames {
		var err error
		if b, err = f.AppendTo(b); err != nil {
			ss.t.Fatal(err)
		}
	}
	ss.sendRaw(b)
}

func (ss *session) sendRaw(b []byte) {
	done := make(chan error, 1)
	go func() {
		_ = ss.client.SetWriteDeadline(time.Now().Add(svctest.WaitLimit))
		_, err := ss.client.Write(b)
		done <- err
	}()
	ss.writes = append(ss.writes, done)
}

// reply reads one SUBMIT reply.
func (ss *session) reply() task.SubmitReply {
	ss.t.Helper()
	_ = ss.client.SetReadDeadline(time.Now().Add(svctest.WaitLimit))
	f, err := task.ReadFrame(ss.client)
	if err != nil {
		ss.t.Fatalf("read reply: %v", err)
	}
	if f.Type != task.TypeSubmit {
		ss.t.Fatalf("reply of type %s", f.Type)
	}
	r, err := task.ParseSubmitReply(f.Payload)
	if err != nil {
		ss.t.Fatalf("reply %s: %v", f.Payload, err)
	}
	return r
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

// expectClosed checks that the service closed the connection without
// writing anything more.
func (ss *session) expectClosed() {
	ss.t.Helper()
	_ = ss.client.SetReadDeadline(time.Now().Add(svctest.WaitLimit))
	if n, err := ss.client.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		ss.t.Fatalf("read after close = %d, %v; want EOF", n, err)
	}
}

// finish waits for the pending sends, closes the client side and returns
// Serve's result.
func (ss *session) finish() error {
	ss.t.Helper()
	for _, w := range ss.writes {
		if err := <-w; err != nil {
			ss.t.Fatalf("send: %v", err)
		}
	}
	ss.writes = nil
	ss.client.Close()
	return ss.wait()
}

func mustFrame(t *testing.T, m interface{ Frame() (task.Frame, error) }) task.Frame {
	t.Helper()
	f, err := m.Frame()
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func submitFrame(t *testing.T, id string) task.Frame {
	t.Helper()
	return mustFrame(t, task.Submit{TaskID: id, TaskDescription: "add 1 and 2", FromAddr: submitter.String(), ToAddr: executor.String()})
}

func loadRecord(t *testing.T, path string) Record {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}
