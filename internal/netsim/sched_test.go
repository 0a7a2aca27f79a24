package netsim

import (
	"slices"
	"testing"
	"time"
)

// FuzzEventQueue checks the hand-written heap against a sorted model: ops
// bytes push an event (delay = byte value, low bit clear) or pop one (low bit
// set); every pop must return the earliest event, ties in push order.
func FuzzEventQueue(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{4, 2, 2, 8, 1, 1, 1, 1})
	f.Add([]byte{10, 10, 10, 0, 1, 1, 6, 1, 1, 1})
	f.Add([]byte{254, 252, 250, 248, 246, 244, 1, 1, 1, 1, 1, 1, 1})
	base := time.Unix(0, 0)
	f.Fuzz(func(t *testing.T, ops []byte) {
		var q eventQueue
		var model []event
		var seq uint64
		for _, op := range ops {
			if op&1 == 0 {
				seq++
				e := event{at: base.Add(time.Duration(op)), seq: seq}
				q.push(e)
				model = append(model, e)
				continue
			}
			if len(model) == 0 {
				continue
			}
			slices.SortFunc(model, func(a, b event) int {
				if c := a.at.Compare(b.at); c != 0 {
					return c
				}
				return int(a.seq) - int(b.seq)
			})
			want := model[0]
			model = model[1:]
			if got := q.pop(); got.seq != want.seq {
				t.Fatalf("pop = event %d at %v, want event %d at %v", got.seq, got.at, want.seq, want.at)
			}
		}
		if len(q) != len(model) {
			t.Fatalf("queue holds %d events, model %d", len(q), len(model))
		}
	})
}
