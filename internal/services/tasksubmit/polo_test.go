package tasksubmit

import (
	"context"
	"reflect"
	"testing"

	"github.com/pilot-go/pilot/internal/services/internal/svctest"
	"github.com/pilot-go/pilot/internal/wire/svcmsg/task"
)

func resultsFrame(t *testing.T, id string) task.Frame {
	t.Helper()
	return mustFrame(t, task.Results{TaskID: id, ResultType: "text", ResultText: "done", CompletedAt: "c"})
}

// TestServices_7_PoloRewardWithAdminToken: the executor of a task this
// node submitted earns RewardDelta once, for its first results; results
// from other nodes or for tasks never submitted change nothing.
func TestServices_7_PoloRewardWithAdminToken(t *testing.T) {
	svctest.CheckLeaks(t)
	reg := newRegistry()
	s := newService(t, reg)
	if err := s.RecordSubmitted(executor, task.Submit{TaskID: "job", TaskDescription: "d"}); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordSubmitted(executor, task.Submit{TaskID: "job"}); err == nil {
		t.Fatal("RecordSubmitted accepted a duplicate")
	}
	if err := s.RecordSubmitted(executor, task.Submit{TaskID: "../job"}); err == nil {
		t.Fatal("RecordSubmitted accepted an unsafe task_id")
	}
	// A stranger's results for the same ID and the executor's for an
	// unknown ID earn nothing.
	st := open(t, s, stranger)
	st.send(resultsFrame(t, "job"))
	if err := st.finish(); err != nil {
		t.Fatal(err)
	}
	ex := open(t, s, executor)
	ex.send(resultsFrame(t, "never-submitted"), resultsFrame(t, "job"), resultsFrame(t, "job"))
	if err := ex.finish(); err != nil {
		t.Fatal(err)
	}
	want := []scoreUpdate{{executor.Node, RewardDelta}}
	if got := reg.Updates(); !reflect.DeepEqual(got, want) {
		t.Fatalf("updates %+v, want %+v", got, want)
	}
	rec := loadRecord(t, RecordPath(s.StateDir, SubmittedDir, executor.Node, "job"))
	if !rec.Rewarded || len(rec.Results) != 2 {
		t.Fatalf("record %+v", rec)
	}
}

// TestServices_7_NoAdminTokenNoScoreChange: without the admin token the
// results are stored, no score changes, and the reward stays unclaimed.
func TestServices_7_NoAdminTokenNoScoreChange(t *testing.T) {
	svctest.CheckLeaks(t)
	reg := newRegistry()
	reg.admin = false
	s := newService(t, reg)
	if err := s.RecordSubmitted(executor, task.Submit{TaskID: "job"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Results(context.Background(), task.Results{TaskID: "job", ResultType: "text"}, executor); err != nil {
		t.Fatalf("Results = %v (ErrNoAdminToken is expected and silent)", err)
	}
	if got := reg.Updates(); len(got) != 0 || reg.scores[executor.Node] != 0 {
		t.Fatalf("score changed: %+v", got)
	}
	rec := loadRecord(t, RecordPath(s.StateDir, SubmittedDir, executor.Node, "job"))
	if rec.Rewarded || len(rec.Results) != 1 {
		t.Fatalf("record %+v", rec)
	}
	// A submitter is still accepted: tasks run without the admin token.
	if r := s.Submit(context.Background(), task.Submit{TaskID: "in"}, submitter); r.Status != task.StatusAccepted {
		t.Fatalf("submit %+v", r)
	}
}

// TestResults_RegistryDownReleasesReward: a failed update leaves the
// reward for the next results.
func TestResults_RegistryDownReleasesReward(t *testing.T) {
	reg := newRegistry()
	reg.available = false
	s := newService(t, reg)
	if err := s.RecordSubmitted(executor, task.Submit{TaskID: "job"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Results(context.Background(), task.Results{TaskID: "job"}, executor); err == nil {
		t.Fatal("Results hid the failed update")
	}
	reg.mu.Lock()
	reg.available = true
	reg.mu.Unlock()
	if err := s.Results(context.Background(), task.Results{TaskID: "job"}, executor); err != nil {
		t.Fatal(err)
	}
	if got := reg.Updates(); len(got) != 1 {
		t.Fatalf("updates %+v", got)
	}
}

// TestResults_Bounded: updates and results beyond the per-task limits are
// dropped.
func TestResults_Bounded(t *testing.T) {
	s := newService(t, nil)
	for i := 0; i < MaxResults; i++ {
		if err := s.Results(context.Background(), task.Results{TaskID: "j"}, executor); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Results(context.Background(), task.Results{TaskID: "j"}, executor); err == nil {
		t.Fatal("result beyond MaxResults stored")
	}
	for i := 0; i < MaxUpdates; i++ {
		if err := s.StatusUpdate(task.StatusUpdate{TaskID: "j"}, executor); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.StatusUpdate(task.StatusUpdate{TaskID: "j"}, executor); err == nil {
		t.Fatal("update beyond MaxUpdates stored")
	}
}
