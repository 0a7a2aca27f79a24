package session

import (
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// Conformance wire.md §14 item 9 (first part): a replayed PILS is dropped.
func TestWire_Item9_ReplayDropped(t *testing.T) {
	fx := loadFixture(t)
	a := fx.stateA(t, [4]byte{1, 2, 3, 4})
	b := fx.stateB(t, [4]byte{5, 6, 7, 8})
	pkt := testPacket(t, 1, []byte("hello"))
	f1, _ := a.Seal(nil, pkt)
	f2, _ := a.Seal(nil, pkt)
	for _, f := range [][]byte{f1, f2} {
		if _, err := b.Open(nil, f); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range [][]byte{f1, f2, f1} {
		if _, err := b.Open(nil, f); !errors.Is(err, ErrReplay) {
			t.Fatalf("replay: %v", err)
		}
	}
	if b.Opened() != 2 {
		t.Fatalf("opened %d", b.Opened())
	}
}

// Conformance wire.md §14 item 9: a forged PILS with counter 2^63 (bad tag)
// does not make later genuine frames "too old".
func TestWire_Item9_ForgedHugeCounterDoesNotFreezeWindow(t *testing.T) {
	fx := loadFixture(t)
	a := fx.stateA(t, [4]byte{1, 2, 3, 4})
	b := fx.stateB(t, [4]byte{5, 6, 7, 8})
	pkt := testPacket(t, 1, nil)
	f1, _ := a.Seal(nil, pkt)
	if _, err := b.Open(nil, f1); err != nil {
		t.Fatal(err)
	}
	for _, c := range []uint64{1 << 63, 1<<64 - 1, 5000} {
		forged, _ := a.Seal(nil, pkt)
		binary.BigEndian.PutUint64(forged[12:20], c)
		if _, err := b.Open(nil, forged); !errors.Is(err, ErrAuth) {
			t.Fatalf("forged counter %d: %v", c, err)
		}
	}
	// An unseen prefix with a huge counter and a bad tag creates nothing.
	forged, _ := a.Seal(nil, pkt)
	forged[8] ^= 0xFF
	binary.BigEndian.PutUint64(forged[12:20], 1<<63)
	if _, err := b.Open(nil, forged); !errors.Is(err, ErrAuth) {
		t.Fatal(err)
	}
	if len(b.replay.windows) != 1 || b.replay.windows[0].max != 1 {
		t.Fatalf("window changed by forgeries: %+v", b.replay.windows[0].max)
	}
	for range 10 {
		f, _ := a.Seal(nil, pkt)
		if _, err := b.Open(nil, f); err != nil {
			t.Fatalf("genuine frame after forgeries: %v", err)
		}
	}
}

// Conformance wire.md §14 item 9: the window tolerates 1,024 frames of
// reordering (in fact W = 2,048: counters max−2,047 … max are accepted once).
func TestWire_Item9_WindowToleratesReordering(t *testing.T) {
	fx := loadFixture(t)
	a := fx.stateA(t, [4]byte{1, 2, 3, 4})
	b := fx.stateB(t, [4]byte{5, 6, 7, 8})
	pkt := testPacket(t, 1, nil)
	const n = WindowSize + 1
	frames := make([][]byte, n+1) // frames[c] has counter c
	for c := 1; c <= n; c++ {
		frames[c], _ = a.Seal(nil, pkt)
	}
	// Newest first, then the 1,024 frames before it in reverse order.
	if _, err := b.Open(nil, frames[n]); err != nil {
		t.Fatal(err)
	}
	for c := n - 1; c >= n-1024; c-- {
		if _, err := b.Open(nil, frames[c]); err != nil {
			t.Fatalf("counter %d after %d: %v", c, n, err)
		}
	}
	// The rest of the window, up to max − (W−1), still accepted.
	for c := n - 1025; c >= 2; c-- {
		if _, err := b.Open(nil, frames[c]); err != nil {
			t.Fatalf("counter %d after %d: %v", c, n, err)
		}
	}
	// max − c = W: too old.
	if _, err := b.Open(nil, frames[1]); !errors.Is(err, ErrReplay) || !errors.Is(err, errTooOld) {
		t.Fatalf("counter 1 after %d: %v", n, err)
	}
	for _, c := range []int{2, 1000, n} {
		if _, err := b.Open(nil, frames[c]); !errors.Is(err, errSeen) {
			t.Fatalf("replay of %d: %v", c, err)
		}
	}
}

// Conformance wire.md §14 item 9: once a 9th prefix has retired the least
// recently used window, a replayed frame under the retired prefix is dropped
// (and so is a late genuine one), and trigger (c) is raised.
func TestWire_Item9_NinthPrefixRetiresLRUWindow(t *testing.T) {
	fx := loadFixture(t)
	b := fx.stateB(t, [4]byte{0xEE, 0, 0, 0})
	pkt := testPacket(t, 1, nil)
	senders := make([]*State, 10)
	firsts := make([][]byte, 10)
	for i := 1; i <= 9; i++ {
		// The original rebuilds its state (new prefix, counter 1) under the
		// same key on every PILA.
		senders[i] = fx.stateA(t, [4]byte{0, 0, 0, byte(i)})
		firsts[i], _ = senders[i].Seal(nil, pkt)
	}
	now := b.Created()
	for i := 1; i <= 8; i++ {
		if _, err := b.Open(nil, firsts[i]); err != nil {
			t.Fatal(err)
		}
	}
	// Touch prefix 1 so that prefix 2 becomes least recently used.
	f, _ := senders[1].Seal(nil, pkt)
	if _, err := b.Open(nil, f); err != nil {
		t.Fatal(err)
	}
	if b.Triggers(now, 0) != 0 || len(b.replay.windows) != MaxWindows {
		t.Fatalf("8 windows: triggers %b, %d windows", b.Triggers(now, 0), len(b.replay.windows))
	}
	if _, err := b.Open(nil, firsts[9]); err != nil {
		t.Fatal(err)
	}
	if b.Triggers(now, 0) != TriggerWindowRetired {
		t.Fatalf("9th prefix: triggers %b", b.Triggers(now, 0))
	}
	if len(b.replay.windows) != MaxWindows {
		t.Fatalf("%d windows", len(b.replay.windows))
	}
	// Replayed frame under the retired prefix 2: dropped before decryption.
	if _, err := b.Open(nil, firsts[2]); !errors.Is(err, ErrReplay) || !errors.Is(err, errRetired) {
		t.Fatalf("replay under retired prefix: %v", err)
	}
	late, _ := senders[2].Seal(nil, pkt)
	if _, err := b.Open(nil, late); !errors.Is(err, errRetired) {
		t.Fatalf("late frame under retired prefix: %v", err)
	}
	// Prefix 1 is still live.
	f, _ = senders[1].Seal(nil, pkt)
	if _, err := b.Open(nil, f); err != nil {
		t.Fatalf("prefix 1: %v", err)
	}
	if _, err := b.Open(nil, firsts[1]); !errors.Is(err, errSeen) {
		t.Fatalf("replay under prefix 1: %v", err)
	}
}

// §6.7: the retired-prefix set keeps 1,024 prefixes, forgetting the oldest.
func TestReplay_RetiredSetForgetsOldest(t *testing.T) {
	var r replayTable
	for p := range noncePrefix(MaxWindows + MaxRetired + 1) {
		if r.check(p, 1) != nil {
			t.Fatalf("fresh prefix %d rejected", p)
		}
		retired := r.record(p, 1)
		if retired != (p >= MaxWindows) {
			t.Fatalf("prefix %d: retired %v", p, retired)
		}
	}
	if len(r.retired) != MaxRetired || len(r.retiredFIFO) != MaxRetired {
		t.Fatalf("retired set of %d", len(r.retired))
	}
	// Prefix 0 was retired first and forgotten when the 1,025th arrived.
	if err := r.check(0, 1); err != nil {
		t.Fatalf("prefix 0: %v", err)
	}
	for p := noncePrefix(1); p <= MaxRetired; p++ {
		if err := r.check(p, 1); !errors.Is(err, errRetired) {
			t.Fatalf("prefix %d: %v", p, err)
		}
	}
	for p := noncePrefix(MaxRetired + 1); p <= MaxRetired+MaxWindows; p++ {
		if err := r.check(p, 1); !errors.Is(err, errSeen) {
			t.Fatalf("live prefix %d: %v", p, err)
		}
	}
}

// replayModel is the §6.7 rules written naively: a set of seen counters per
// live prefix, the LRU order as a list and the retired prefixes as a list.
type replayModel struct {
	live    []noncePrefix // least recently used first
	max     map[noncePrefix]uint64
	seen    map[noncePrefix]map[uint64]bool
	retired []noncePrefix // oldest first
}

func (m *replayModel) check(p noncePrefix, c uint64) bool {
	if mx, ok := m.max[p]; ok {
		return c > mx || (mx-c < WindowSize && !m.seen[p][c])
	}
	for _, r := range m.retired {
		if r == p {
			return false
		}
	}
	return true
}

func (m *replayModel) record(p noncePrefix, c uint64) (retired bool) {
	if _, ok := m.max[p]; ok {
		m.max[p] = max(m.max[p], c)
		m.seen[p][c] = true
		for i, q := range m.live {
			if q == p {
				m.live = append(append(m.live[:i:i], m.live[i+1:]...), p)
				break
			}
		}
		return false
	}
	if len(m.live) == MaxWindows {
		old := m.live[0]
		m.live = m.live[1:]
		delete(m.max, old)
		delete(m.seen, old)
		m.retired = append(m.retired, old)
		if len(m.retired) > MaxRetired {
			m.retired = m.retired[1:]
		}
		retired = true
	}
	m.live = append(m.live, p)
	m.max[p] = c
	m.seen[p] = map[uint64]bool{c: true}
	return retired
}

// TestReplay_MatchesModel drives the window implementation and the naive
// model with the same random frames (some failing authentication, which must
// change nothing) and requires identical verdicts.
func TestReplay_MatchesModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var r replayTable
		m := &replayModel{max: map[noncePrefix]uint64{}, seen: map[noncePrefix]map[uint64]bool{}}
		nPrefixes := rapid.IntRange(1, 12).Draw(t, "prefixes")
		steps := rapid.IntRange(1, 200).Draw(t, "steps")
		step := func(p noncePrefix, c uint64, authentic bool) {
			if c == 0 {
				return // dropped by Open before the window
			}
			ok := r.check(p, c) == nil
			if want := m.check(p, c); ok != want {
				t.Fatalf("check(%d, %d) = %v, model %v (max %d)", p, c, ok, want, m.max[p])
			}
			if ok && authentic {
				if got, want := r.record(p, c), m.record(p, c); got != want {
					t.Fatalf("record(%d, %d) retired %v, model %v", p, c, got, want)
				}
			}
		}
		for range steps {
			p := noncePrefix(rapid.IntRange(0, nPrefixes-1).Draw(t, "p"))
			authentic := rapid.IntRange(0, 5).Draw(t, "auth") > 0
			switch rapid.IntRange(0, 5).Draw(t, "how") {
			case 0: // a burst of frames with small gaps, filling the window
				n := rapid.IntRange(1, 600).Draw(t, "burst")
				gaps := rapid.IntRange(1, 3).Draw(t, "gap")
				for i := range n {
					step(p, m.max[p]+1+uint64(i%gaps), true)
				}
			case 1: // near the current max of the prefix
				d := rapid.IntRange(-WindowSize-3, 40).Draw(t, "d")
				step(p, uint64(int64(m.max[p])+int64(d)), authentic)
			case 2: // at the edge of the window
				d := rapid.IntRange(-2, 2).Draw(t, "edge")
				step(p, uint64(int64(m.max[p])-WindowSize+int64(d)), authentic)
			case 3:
				step(p, rapid.Uint64Range(1, 64).Draw(t, "small"), authentic)
			case 4:
				step(p, rapid.Uint64Range(1, 1<<64-1).Draw(t, "any"), authentic)
			case 5: // a jump of up to about two windows
				step(p, m.max[p]+rapid.Uint64Range(0, 2*WindowSize+2).Draw(t, "jump"), authentic)
			}
		}
	})
}

// The windows are independent of the clock: Triggers(c) stays raised.
func TestReplay_RetiredTriggerIsSticky(t *testing.T) {
	fx := loadFixture(t)
	b := fx.stateB(t, [4]byte{0xEE, 0, 0, 0})
	pkt := testPacket(t, 1, nil)
	for i := range MaxWindows + 1 {
		a := fx.stateA(t, [4]byte{1, 0, 0, byte(i)})
		f, _ := a.Seal(nil, pkt)
		if _, err := b.Open(nil, f); err != nil {
			t.Fatal(err)
		}
	}
	later := b.Created().Add(time.Minute)
	for range 3 {
		if b.Triggers(later, 0)&TriggerWindowRetired == 0 {
			t.Fatal("trigger (c) not sticky")
		}
	}
}
