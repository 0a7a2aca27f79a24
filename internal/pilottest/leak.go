package pilottest

import (
	"bytes"
	"runtime"
	"strings"
	"testing"
	"time"
)

// leakWait bounds how long the leak check waits for goroutines to end.
var leakWait = WaitTimeout

// modulePrefix marks the frames of this module's code in goroutine stacks.
const modulePrefix = "github.com/pilot-go/pilot/"

// checkLeaks records the goroutines alive now and registers a cleanup that
// fails the test if, after everything else has been cleaned up, goroutines
// running this module's code remain that were not there at the start. The
// check polls (bounded) because stopped components may take a moment to
// let their last goroutines return.
func checkLeaks(t testing.TB) {
	before := goroutines()
	t.Cleanup(func() {
		var leaked []string
		deadline := time.Now().Add(leakWait)
		for {
			leaked = leaked[:0]
			for id, stack := range goroutines() {
				if _, old := before[id]; !old && strings.Contains(stack, modulePrefix) &&
					!strings.Contains(stack, "pilottest.checkLeaks") {
					leaked = append(leaked, stack)
				}
			}
			if len(leaked) == 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond) // polling a condition under a deadline
		}
		if len(leaked) > 0 {
			t.Errorf("%d goroutine(s) leaked by the network:\n\n%s", len(leaked), strings.Join(leaked, "\n\n"))
		}
	})
}

// goroutines returns every goroutine's stack by its "goroutine N" header.
func goroutines() map[string]string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	out := map[string]string{}
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		s := string(g)
		head, _, _ := strings.Cut(s, " [")
		if strings.HasPrefix(head, "goroutine ") {
			out[head] = s
		}
	}
	return out
}
