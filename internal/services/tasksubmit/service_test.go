package tasksubmit

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/pilot-go/pilot/internal/services/internal/svctest"
	"github.com/pilot-go/pilot/internal/wire/svcmsg/task"
)

// TestServices_7_SubmitAccepted: a SUBMIT from a peer with a score ≥ 0 is
// answered 200 and stored under tasks/received/.
func TestServices_7_SubmitAccepted(t *testing.T) {
	svctest.CheckLeaks(t)
	s := newService(t, newRegistry())
	ss := open(t, s, submitter)
	ss.send(submitFrame(t, "t-1"))
	want := task.SubmitReply{TaskID: "t-1", Status: task.StatusAccepted, Message: MsgAccepted}
	if got := ss.reply(); got != want {
		t.Fatalf("reply %+v, want %+v", got, want)
	}
	if err := ss.finish(); err != nil {
		t.Fatalf("Serve = %v", err)
	}
	path := filepath.Join(s.StateDir, "tasks", "received", "00000007-t-1.json")
	rec := loadRecord(t, path)
	wantRec := Record{TaskID: "t-1", Peer: submitter.String(), Submission: &Submission{
		At: "2026-03-27T10:15:03.4127Z", TaskDescription: "add 1 and 2",
		FromAddr: submitter.String(), ToAddr: executor.String()}}
	if !reflect.DeepEqual(rec, wantRec) {
		t.Fatalf("record %+v, want %+v", rec, wantRec)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("record mode %v, %v", fi.Mode(), err)
	}
}

// TestServices_7_SubmitRegistryUnavailable: without a registry
// connection (or when the score cannot be read) a SUBMIT is refused with
// the original's exact message, and nothing is stored.
func TestServices_7_SubmitRegistryUnavailable(t *testing.T) {
	svctest.CheckLeaks(t)
	down := newRegistry()
	down.available = false
	failing := newRegistry()
	failing.scoreErr = errors.New("timeout")
	for name, reg := range map[string]Registry{"nil": nil, "disconnected": down, "score lookup fails": failing} {
		t.Run(name, func(t *testing.T) {
			s := newService(t, reg)
			ss := open(t, s, submitter)
			ss.send(submitFrame(t, "t-1"))
			got := ss.reply()
			want := task.SubmitReply{TaskID: "t-1", Status: 400, Message: "Registry unavailable, cannot verify polo score"}
			if got != want {
				t.Fatalf("reply %+v, want %+v", got, want)
			}
			if reg != failing {
				// Without a registry every SUBMIT gets this answer, as in
				// the original, even one with an unsafe task_id.
				ss.send(mustFrame(t, task.Submit{TaskID: "../x"}))
				if got := ss.reply(); got.Message != want.Message {
					t.Fatalf("unsafe task_id: reply %+v", got)
				}
			}
			if _, err := os.Stat(filepath.Join(s.StateDir, "tasks")); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("tasks/ exists after a refusal: %v", err)
			}
		})
	}
}

func TestSubmit_Refusals(t *testing.T) {
	svctest.CheckLeaks(t)
	reg := newRegistry()
	reg.scores[stranger.Node] = -3
	s := newService(t, reg)
	ss := open(t, s, submitter)
	ss.send(submitFrame(t, "dup"))
	if got := ss.reply(); got.Status != task.StatusAccepted {
		t.Fatalf("first submit: %+v", got)
	}
	tests := []struct {
		name string
		m    task.Submit
		want string
	}{
		{"traversal id", task.Submit{TaskID: "../../etc/passwd"}, MsgInvalidTaskID},
		{"empty id", task.Submit{}, MsgInvalidTaskID},
		{"slash id", task.Submit{TaskID: "a/b"}, MsgInvalidTaskID},
		{"from_addr of another node", task.Submit{TaskID: "x", FromAddr: executor.String()}, MsgFromMismatch},
		{"from_addr unparsable", task.Submit{TaskID: "x", FromAddr: "me"}, MsgFromMismatch},
		{"duplicate", task.Submit{TaskID: "dup"}, MsgDuplicate},
	}
	for _, tc := range tests {
		ss.send(mustFrame(t, tc.m))
		got := ss.reply()
		if got.Status != task.StatusRefused || got.Message != tc.want || got.TaskID != tc.m.TaskID {
			t.Errorf("%s: reply %+v, want 400 %q", tc.name, got, tc.want)
		}
	}
	// A submitter whose score is below the minimum.
	low := open(t, s, stranger)
	low.send(mustFrame(t, task.Submit{TaskID: "y"}))
	if got := low.reply(); got.Status != task.StatusRefused || got.Message != "Polo score -3 below the required 0" {
		t.Fatalf("low score: %+v", got)
	}
	assertOnlyUnderTasks(t, s.StateDir)
}

// TestServices_7_UpdatesAndResultsNoReply: STATUS_UPDATE and SEND_RESULTS
// are stored and get no reply: the next frame read is the answer to a
// later SUBMIT.
func TestServices_7_UpdatesAndResultsNoReply(t *testing.T) {
	svctest.CheckLeaks(t)
	s := newService(t, newRegistry())
	ss := open(t, s, executor)
	ss.send(
		mustFrame(t, task.StatusUpdate{TaskID: "t-1", Status: "ACCEPTED", Justification: "on it"}),
		mustFrame(t, task.Results{TaskID: "t-1", ResultType: "text", ResultText: "3", CompletedAt: "2026-03-27T10:15:00Z", TimeCPUMs: 5}),
		mustFrame(t, task.Results{TaskID: "t-1", ResultType: "file", Filename: "../../etc/passwd", FileData: []byte("root"), CompletedAt: "c"}),
		mustFrame(t, task.Submit{TaskID: "probe"}),
	)
	if got := ss.reply(); got.TaskID != "probe" {
		t.Fatalf("first reply is %+v, want the probe's", got)
	}
	if err := ss.finish(); err != nil {
		t.Fatalf("Serve = %v", err)
	}
	rec := loadRecord(t, RecordPath(s.StateDir, SubmittedDir, executor.Node, "t-1"))
	wantUpdates := []UpdateEntry{{ReceivedAt: "2026-03-27T10:15:03.4127Z", Status: "ACCEPTED", Justification: "on it"}}
	if !reflect.DeepEqual(rec.Updates, wantUpdates) {
		t.Fatalf("updates %+v", rec.Updates)
	}
	wantFile := filepath.Join("submitted", "00000009-t-1.files", "1-passwd")
	wantResults := []ResultEntry{
		{ReceivedAt: "2026-03-27T10:15:03.4127Z", ResultType: "text", ResultText: "3", CompletedAt: "2026-03-27T10:15:00Z", TimeCPUMs: 5},
		{ReceivedAt: "2026-03-27T10:15:03.4127Z", ResultType: "file", Filename: "../../etc/passwd", StoredFile: wantFile, FileBytes: 4, CompletedAt: "c"},
	}
	if !reflect.DeepEqual(rec.Results, wantResults) {
		t.Fatalf("results %+v\nwant %+v", rec.Results, wantResults)
	}
	if b, err := os.ReadFile(filepath.Join(s.StateDir, "tasks", wantFile)); err != nil || string(b) != "root" {
		t.Fatalf("result file %q, %v", b, err)
	}
	assertOnlyUnderTasks(t, s.StateDir)
}

// TestServices_7_TwoFramesOneConnection: both frames on one connection are
// processed (the original loses the second).
func TestServices_7_TwoFramesOneConnection(t *testing.T) {
	svctest.CheckLeaks(t)
	s := newService(t, newRegistry())
	ss := open(t, s, submitter)
	ss.send(submitFrame(t, "a"), submitFrame(t, "b"))
	for _, id := range []string{"a", "b"} {
		if got := ss.reply(); got.TaskID != id || got.Status != task.StatusAccepted {
			t.Fatalf("reply %+v, want %s accepted", got, id)
		}
		if _, err := os.Stat(RecordPath(s.StateDir, ReceivedDir, submitter.Node, id)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestServices_7_MalformedClosesOnlyThatConnection: a payload that is not
// JSON closes its connection without a reply; another connection keeps
// working.
func TestServices_7_MalformedClosesOnlyThatConnection(t *testing.T) {
	svctest.CheckLeaks(t)
	s := newService(t, newRegistry())
	other := open(t, s, executor)
	for _, typ := range []task.Type{task.TypeSubmit, task.TypeStatusUpdate, task.TypeSendResults} {
		bad := open(t, s, submitter)
		bad.send(task.Frame{Type: typ, Payload: []byte(`{"task_id":`)})
		bad.expectClosed()
		if err := bad.wait(); !errors.Is(err, ErrMalformed) {
			t.Fatalf("%s: Serve = %v, want ErrMalformed", typ, err)
		}
	}
	other.send(mustFrame(t, task.Submit{TaskID: "still-ok"}))
	if got := other.reply(); got.Status != task.StatusAccepted {
		t.Fatalf("other connection: %+v", got)
	}
}

// TestServices_7_FrameTooLarge: a length above 16 MiB closes the
// connection without reading the payload or replying.
func TestServices_7_FrameTooLarge(t *testing.T) {
	svctest.CheckLeaks(t)
	s := newService(t, newRegistry())
	ss := open(t, s, submitter)
	ss.sendRaw([]byte{0, 0, 0, 1, 0x01, 0, 0, 1})
	ss.expectClosed()
	if err := ss.wait(); !errors.Is(err, task.ErrTooLarge) {
		t.Fatalf("Serve = %v, want ErrTooLarge", err)
	}
}

// TestServe_OtherTypesDiscarded: RESULT (2) and unknown types are read and
// discarded; the connection goes on.
func TestServe_OtherTypesDiscarded(t *testing.T) {
	svctest.CheckLeaks(t)
	s := newService(t, newRegistry())
	ss := open(t, s, submitter)
	ss.send(task.Frame{Type: task.TypeResult, Payload: []byte("not json")}, task.Frame{Type: 77}, submitFrame(t, "t"))
	if got := ss.reply(); got.TaskID != "t" {
		t.Fatalf("reply %+v", got)
	}
}

// TestServe_TraversalInUpdates: STATUS_UPDATE and SEND_RESULTS with an
// unsafe task_id are dropped without touching the file system; the
// connection goes on.
func TestServe_TraversalInUpdates(t *testing.T) {
	svctest.CheckLeaks(t)
	s := newService(t, newRegistry())
	ss := open(t, s, executor)
	ss.send(
		mustFrame(t, task.StatusUpdate{TaskID: "../../../escape", Status: "x"}),
		mustFrame(t, task.Results{TaskID: "..", FileData: []byte("x"), Filename: "f"}),
		mustFrame(t, task.StatusUpdate{TaskID: "ok", Status: "x"}),
	)
	if err := ss.finish(); err != nil {
		t.Fatalf("Serve = %v", err)
	}
	if rec := loadRecord(t, RecordPath(s.StateDir, SubmittedDir, executor.Node, "ok")); len(rec.Updates) != 1 {
		t.Fatalf("valid update after refused ones: %+v", rec)
	}
	var names []string
	_ = filepath.WalkDir(s.StateDir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			names = append(names, strings.TrimPrefix(p, s.StateDir))
		}
		return nil
	})
	if want := []string{"/tasks/submitted/00000009-ok.json"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("files %v, want %v", names, want)
	}
	assertOnlyUnderTasks(t, s.StateDir)
}

// TestServe_ContextEnd: cancelling ctx closes the connection and Serve
// returns ctx.Err().
func TestServe_ContextEnd(t *testing.T) {
	svctest.CheckLeaks(t)
	ctx, cancel := context.WithCancel(context.Background())
	s := newService(t, newRegistry())
	ss := openCtx(t, ctx, s, submitter)
	cancel()
	ss.expectClosed()
	if err := ss.wait(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Serve = %v", err)
	}
}

// TestServe_IdleDeadline: a silent peer is dropped after IdleTimeout.
func TestServe_IdleDeadline(t *testing.T) {
	svctest.CheckLeaks(t)
	s := newService(t, newRegistry())
	s.IdleTimeout = 1 // the first read already times out
	ss := open(t, s, submitter)
	ss.expectClosed()
	var ne interface{ Timeout() bool }
	if err := ss.wait(); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("Serve = %v, want a timeout", err)
	}
}

// assertOnlyUnderTasks fails when anything exists in dir outside tasks/.
func assertOnlyUnderTasks(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "tasks" {
			t.Fatalf("unexpected %s in the state directory", e.Name())
		}
	}
	parent, err := os.ReadDir(filepath.Dir(dir))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range parent {
		if e.Name() == "etc" || e.Name() == "escape" {
			t.Fatalf("%s written outside the state directory", e.Name())
		}
	}
}
