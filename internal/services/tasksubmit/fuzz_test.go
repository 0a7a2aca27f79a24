package tasksubmit

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/pilot-go/pilot/internal/services/internal/svctest"
	"github.com/pilot-go/pilot/internal/wire/svcmsg/task"
)

// FuzzServe feeds arbitrary bytes to one connection: the service never
// panics, answers only with well-formed SUBMIT replies, never writes
// outside tasks/ and always returns.
func FuzzServe(f *testing.F) {
	seed := func(ms ...interface{ Frame() (task.Frame, error) }) []byte {
		var b []byte
		for _, m := range ms {
			fr, err := m.Frame()
			if err != nil {
				f.Fatal(err)
			}
			b, _ = fr.AppendTo(b)
		}
		return b
	}
	f.Add(seed(task.Submit{TaskID: "t-1", TaskDescription: "d", FromAddr: "0:0000.0000.0007"}, task.Submit{TaskID: "../x"}))
	f.Add(seed(task.StatusUpdate{TaskID: "t-1", Status: "ACCEPTED"}, task.Results{TaskID: "t-1", Filename: "../../etc/passwd", FileData: []byte{1}}))
	f.Add(seed(task.Results{TaskID: "t-1", ResultType: "text", ResultText: "r"}, task.Submit{TaskID: "t-1"}))
	f.Add([]byte{0, 0, 0, 1, 0, 0, 0, 2, '{', '}'})
	f.Add([]byte{0, 0, 0, 3, 0, 0, 0, 1, '{'})
	f.Add([]byte{0, 0, 0, 2, 0, 0, 0, 1, 'x', 0, 0, 0, 1, 0xFF, 0xFF, 0xFF, 0xFF})
	dir := f.TempDir()
	reg := newRegistry()
	reg.admin = false
	s := &Service{StateDir: dir, Registry: reg, IdleTimeout: time.Second}
	f.Fuzz(func(t *testing.T, in []byte) {
		client, server := net.Pipe()
		done := make(chan error, 1)
		go func() { done <- s.Serve(context.Background(), server, submitter) }()
		wrote := make(chan struct{})
		go func() {
			defer close(wrote)
			_, _ = client.Write(in)
			_ = client.Close() // net.Pipe has no half-close: end the session
		}()
		for {
			fr, err := task.ReadFrame(client)
			if err != nil {
				break
			}
			if _, perr := task.ParseSubmitReply(fr.Payload); perr != nil || fr.Type != task.TypeSubmit {
				t.Fatalf("bad reply %s %q: %v", fr.Type, fr.Payload, perr)
			}
		}
		<-wrote
		select {
		case <-done:
		case <-time.After(svctest.WaitLimit):
			t.Fatal("Serve did not return")
		}
		assertOnlyUnderTasks(t, dir)
	})
}
