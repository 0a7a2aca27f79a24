package handlers

import (
	"context"
	"testing"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/registry/store"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
)

// storedLastSeen reads last_seen as the store has it (no overlay).
func (e *env) storedLastSeen(id addr.NodeID) time.Time {
	e.t.Helper()
	var n store.Node
	if err := e.st.View(context.Background(), func(tx store.ReadTx) error {
		var err error
		n, err = tx.Node(id)
		return err
	}); err != nil {
		e.t.Fatal(err)
	}
	return n.LastSeen
}

func ms(t time.Time) time.Time { return time.UnixMilli(t.UnixMilli()).UTC() }

// A heartbeat makes its node online at once for resolve, without a store
// write on its path (§7.1.2: last_seen MAY be written in batches).
func TestSeen_HeartbeatOnlineAtOnceWithoutStoreWrite(t *testing.T) {
	e := newEnv(t)
	a := e.register()
	b := e.register()
	e.ok(e.signed(&regmsg.SetVisibility{NodeID: a.ID, Public: true}, a.id), "set_visibility")
	registered := e.storedLastSeen(a.ID)
	e.clk.Add(DefaultStaleAfter + time.Second)
	e.fail(e.signed(&regmsg.Resolve{RequesterID: b.ID, NodeID: a.ID}, b.id), regmsg.CodeFailedPrecondition)

	head := e.head()
	e.ok(e.signed(&regmsg.Heartbeat{NodeID: a.ID}, a.id), "heartbeat")
	e.ok(e.signed(&regmsg.Resolve{RequesterID: b.ID, NodeID: a.ID}, b.id), "resolve")
	if got := e.storedLastSeen(a.ID); !got.Equal(registered) {
		t.Fatalf("heartbeat wrote last_seen %v to the store; want it kept in memory (stored %v)", got, registered)
	}
	if e.head() != head {
		t.Fatal("heartbeat appended an audit row")
	}
	// list_nodes reports the overlay's last_seen and online status.
	r := e.send(tok(&regmsg.ListNodes{NetworkID: 0}, globalToken))
	e.ok(r, "list_nodes")
	var nodes []regmsg.NodeEntry
	r.get(t, "nodes", &nodes)
	for _, n := range nodes {
		if n.NodeID == a.ID && (n.Offline || n.LastSeen != fmtTime(e.clk.Now())) {
			t.Fatalf("list_nodes entry of the heartbeating node: %+v", n)
		}
		if n.NodeID == b.ID && !n.Offline {
			t.Fatalf("node %d signed a resolve only, it should be offline: %+v", b.ID, n)
		}
	}
}

// A crash (restart without flush) loses at most the heartbeats of one
// flush interval; a flush writes them.
func TestSeen_CrashLosesAtMostOneFlushInterval(t *testing.T) {
	e := newEnv(t)
	a := e.register()
	e.clk.Add(time.Minute)
	t1 := e.clk.Now()
	e.ok(e.signed(&regmsg.Heartbeat{NodeID: a.ID}, a.id), "heartbeat")
	if err := e.h.FlushSeen(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := e.storedLastSeen(a.ID); !got.Equal(ms(t1)) {
		t.Fatalf("after flush stored last_seen = %v, want %v", got, t1)
	}
	e.clk.Add(e.h.cfg.SeenFlushInterval - time.Second)
	e.ok(e.signed(&regmsg.Heartbeat{NodeID: a.ID}, a.id), "heartbeat")
	t2 := e.clk.Now()
	e.reopen() // kill: the overlay is lost
	got := e.storedLastSeen(a.ID)
	if t2.Sub(got) > e.h.cfg.SeenFlushInterval {
		t.Fatalf("after a crash last_seen %v is more than one flush interval (%v) behind the last heartbeat %v",
			got, e.h.cfg.SeenFlushInterval, t2)
	}
	if !got.Equal(ms(t1)) {
		t.Fatalf("after a crash stored last_seen = %v, want the flushed %v", got, t1)
	}
}

// Graceful shutdown: the flusher writes the overlay once more when its
// context ends.
func TestSeen_FlushOnShutdown(t *testing.T) {
	e := newEnv(t)
	a := e.register()
	e.clk.Add(time.Minute)
	e.ok(e.signed(&regmsg.Heartbeat{NodeID: a.ID}, a.id), "heartbeat")
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.h.RunSeenFlusher(ctx)
	}()
	cancel()
	<-done
	if got := e.storedLastSeen(a.ID); !got.Equal(ms(e.clk.Now())) {
		t.Fatalf("after shutdown stored last_seen = %v, want %v", got, e.clk.Now())
	}
}

// The -node-ttl purge and the nodes_online gauge see heartbeats kept in
// memory.
func TestSeen_PurgeAndGaugesUseOverlay(t *testing.T) {
	e := newEnv(t)
	e.cfg.NodeTTL = time.Hour
	e.reopen()
	alive, gone := e.register(), e.register()
	e.clk.Add(2 * time.Hour)
	e.ok(e.signed(&regmsg.Heartbeat{NodeID: alive.ID}, alive.id), "heartbeat")
	s, err := e.h.Stats(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if s.NodesOnline != 1 || s.NodesTotal != 2 {
		t.Fatalf("stats: online %d total %d, want 1 and 2", s.NodesOnline, s.NodesTotal)
	}
	e.clk.Add(time.Minute)
	e.ok(e.signed(&regmsg.Heartbeat{NodeID: alive.ID}, alive.id), "heartbeat")
	if err := e.h.Sweep(t.Context()); err != nil {
		t.Fatal(err)
	}
	e.ok(e.send(&regmsg.Lookup{NodeID: alive.ID}), "lookup")
	e.fail(e.send(&regmsg.Lookup{NodeID: gone.ID}), regmsg.CodeNotFound)
	if got := e.storedLastSeen(alive.ID); !got.Equal(ms(e.clk.Now())) {
		t.Fatalf("purge did not flush first: stored last_seen %v", got)
	}
}

// The overlay never moves last_seen back, keeps entries newer than the
// flush, and drops old clean ones.
func TestSeen_OverlayEntries(t *testing.T) {
	o := newSeenOverlay()
	t0 := time.Date(2026, 3, 27, 10, 0, 0, 0, time.UTC)
	o.touch(7, t0.Add(time.Second))
	o.touch(7, t0) // older: ignored
	if got := o.get(7); !got.Equal(t0.Add(time.Second)) {
		t.Fatalf("get = %v", got)
	}
	batch := o.dirty()
	if len(batch) != 1 {
		t.Fatalf("dirty = %v", batch)
	}
	o.touch(7, t0.Add(2*time.Second)) // arrives during the flush
	o.flushed(batch, t0.Add(-time.Hour))
	if d := o.dirty(); len(d) != 1 || !d[0].Seen.Equal(t0.Add(2*time.Second)) {
		t.Fatalf("a heartbeat newer than the flush must stay dirty: %v", d)
	}
	o.flushed(o.dirty(), t0.Add(-time.Hour))
	if o.size() != 1 || len(o.dirty()) != 0 {
		t.Fatalf("clean recent entry: size %d dirty %v", o.size(), o.dirty())
	}
	o.flushed(nil, t0.Add(time.Hour))
	if o.size() != 0 {
		t.Fatalf("old clean entry not pruned: size %d", o.size())
	}
}

func TestSeen_FlushIntervalBounded(t *testing.T) {
	e := newEnv(t)
	cfg := e.h.cfg
	cfg.SeenFlushInterval = MaxSeenFlushInterval + time.Second
	if _, err := New(cfg); err == nil {
		t.Fatal("a flush interval over 30 s was accepted (§7.1.2: at most 30 s late)")
	}
}
