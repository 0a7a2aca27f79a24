package pilottest

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// fakeTB captures Cleanup and Errorf so the leak check can be tested.
type fakeTB struct {
	testing.TB
	cleanups []func()
	errors   []string
}

func (f *fakeTB) Cleanup(fn func()) { f.cleanups = append(f.cleanups, fn) }
func (f *fakeTB) Errorf(format string, args ...any) {
	f.errors = append(f.errors, fmt.Sprintf(format, args...))
}

// The leak check reports a goroutine of this module that outlives the
// network, and stays quiet once it has returned.
func TestCheckLeaks_ReportsLeftoverGoroutine(t *testing.T) {
	defer func(d time.Duration) { leakWait = d }(leakWait)
	leakWait = 200 * time.Millisecond
	f := &fakeTB{TB: t}
	checkLeaks(f)
	release := make(chan struct{})
	done := make(chan struct{})
	go func() { // the "leak"
		defer close(done)
		<-release
	}()
	f.cleanups[0]()
	if len(f.errors) != 1 || !strings.Contains(f.errors[0], "TestCheckLeaks_ReportsLeftoverGoroutine") {
		t.Fatalf("leak not reported: %q", f.errors)
	}
	close(release)
	<-done
	g := &fakeTB{TB: t}
	checkLeaks(g)
	g.cleanups[0]()
	if len(g.errors) != 0 {
		t.Fatalf("false report: %q", g.errors)
	}
}
