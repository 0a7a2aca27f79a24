// Package svctest holds test helpers shared by the service packages: a
// goroutine leak check and a recorder of emitted webhook events.
package svctest

import (
	"runtime"
	"sync"
	"testing"
	"time"

	whmsg "github.com/pilot-go/pilot/internal/wire/svcmsg/webhook"
)

// WaitLimit bounds every wait of the service tests. It is generous because
// CI runs them under the race detector on a busy 2-core machine; it only
// matters when a test fails.
const WaitLimit = 30 * time.Second

// CheckLeaks fails t when more goroutines run at its end than at its
// start, after a bounded wait for them to exit. Call it first in a test so
// that its cleanup runs last.
func CheckLeaks(t testing.TB) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(WaitLimit)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				n := runtime.Stack(buf, true)
				t.Errorf("goroutine leak: %d before, %d after\n%s", before, runtime.NumGoroutine(), buf[:n])
				return
			}
			time.Sleep(5 * time.Millisecond) // polling a condition, not synchronising
		}
	})
}

// Event is one recorded webhook event.
type Event struct {
	Name string
	Data whmsg.Fields
}

// Events records emitted webhook events; Emit has the signature of the
// services' Emit hooks.
type Events struct {
	mu  sync.Mutex
	evs []Event
}

// Emit records one event.
func (e *Events) Emit(name string, data whmsg.Fields) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.evs = append(e.evs, Event{Name: name, Data: data})
}

// All returns the events recorded so far.
func (e *Events) All() []Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Event(nil), e.evs...)
}

// Named returns the recorded events called name.
func (e *Events) Named(name string) []Event {
	var out []Event
	for _, ev := range e.All() {
		if ev.Name == name {
			out = append(out, ev)
		}
	}
	return out
}

// WaitFor polls cond until it holds or WaitLimit passes.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(WaitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond) // polling a condition
	}
}
