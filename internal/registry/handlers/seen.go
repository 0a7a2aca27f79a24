package handlers

import (
	"context"
	"sync"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/registry/store"
)

// The last_seen overlay (registry.md §7.1.2): "last_seen is liveness state:
// it MAY be written to the store in batches (at most 30 s late) and is not
// audited". A heartbeat therefore only records its time here, in memory,
// and nothing on its path touches the store. Every read that depends on
// online status takes the later of the stored last_seen and the overlay's
// (lastSeen): resolve and punch online checks, list_nodes, the -node-ttl
// purge and the nodes_online gauge (the last two flush first and then read
// the store). The flusher writes the dirty entries with Tx.TouchNodes
// (each node's last_seen becomes the later of the two) every
// SeenFlushInterval (≤ 30 s), before a purge or a gauge read, and once
// more at shutdown. A crash loses at most one interval of heartbeats: the
// stored last_seen is then at most SeenFlushInterval (plus one flush)
// stale, which the spec allows.
//
// Entries stay after they are flushed (clean) so that a read whose store
// snapshot predates the flush still sees the newest time; clean entries
// older than twice -stale-after are dropped by the flusher, so the overlay
// holds at most the nodes that heartbeat recently.

// Flush interval bounds of the overlay.
const (
	DefaultSeenFlushInterval = 10 * time.Second
	MaxSeenFlushInterval     = 30 * time.Second
)

const seenShards = 32

type seenEntry struct {
	ms    int64 // last heartbeat, Unix milliseconds
	dirty bool  // not yet written to the store
}

type seenShard struct {
	mu sync.Mutex
	m  map[addr.NodeID]seenEntry
}

// seenOverlay is the in-memory last_seen of recent heartbeats.
type seenOverlay struct {
	shards  [seenShards]seenShard
	flushMu sync.Mutex // one flush at a time
}

func newSeenOverlay() *seenOverlay {
	o := &seenOverlay{}
	for i := range o.shards {
		o.shards[i].m = make(map[addr.NodeID]seenEntry)
	}
	return o
}

func (o *seenOverlay) shard(id addr.NodeID) *seenShard { return &o.shards[uint32(id)%seenShards] }

// touch records a heartbeat of id at t (never moving last_seen back).
func (o *seenOverlay) touch(id addr.NodeID, t time.Time) {
	ms := t.UnixMilli()
	s := o.shard(id)
	s.mu.Lock()
	if e, ok := s.m[id]; !ok || ms > e.ms {
		s.m[id] = seenEntry{ms: ms, dirty: true}
	}
	s.mu.Unlock()
}

// get returns the overlay's last_seen of id (zero when absent).
func (o *seenOverlay) get(id addr.NodeID) time.Time {
	s := o.shard(id)
	s.mu.Lock()
	e, ok := s.m[id]
	s.mu.Unlock()
	if !ok {
		return time.Time{}
	}
	return time.UnixMilli(e.ms).UTC()
}

// dirty returns the entries not yet written to the store.
func (o *seenOverlay) dirty() []store.LastSeen {
	var out []store.LastSeen
	for i := range o.shards {
		s := &o.shards[i]
		s.mu.Lock()
		for id, e := range s.m {
			if e.dirty {
				out = append(out, store.LastSeen{ID: id, Seen: time.UnixMilli(e.ms).UTC()})
			}
		}
		s.mu.Unlock()
	}
	return out
}

// flushed marks the written entries clean unless a newer heartbeat came
// in meanwhile, and drops clean entries last seen before prune.
func (o *seenOverlay) flushed(done []store.LastSeen, prune time.Time) {
	for _, d := range done {
		s := o.shard(d.ID)
		s.mu.Lock()
		if e, ok := s.m[d.ID]; ok && e.ms == d.Seen.UnixMilli() {
			e.dirty = false
			s.m[d.ID] = e
		}
		s.mu.Unlock()
	}
	cut := prune.UnixMilli()
	for i := range o.shards {
		s := &o.shards[i]
		s.mu.Lock()
		for id, e := range s.m {
			if !e.dirty && e.ms < cut {
				delete(s.m, id)
			}
		}
		s.mu.Unlock()
	}
}

// size returns the number of entries (tests).
func (o *seenOverlay) size() int {
	n := 0
	for i := range o.shards {
		s := &o.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}

// lastSeen is n's effective last_seen: the later of the stored value and
// the overlay's.
func (h *Handler) lastSeen(n store.Node) time.Time {
	if t := h.seen.get(n.ID); t.After(n.LastSeen) {
		return t
	}
	return n.LastSeen
}

// FlushSeen writes the heartbeats recorded in memory to the store in one
// transaction (§7.1.2). It is safe to call at any time; the registry calls
// it every SeenFlushInterval, before a purge or a gauge read, and at
// shutdown.
func (h *Handler) FlushSeen(ctx context.Context) error {
	h.seen.flushMu.Lock()
	defer h.seen.flushMu.Unlock()
	batch := h.seen.dirty()
	if len(batch) > 0 {
		if err := h.st.Update(ctx, func(tx store.Tx) error {
			_, err := tx.TouchNodes(batch)
			return err
		}); err != nil {
			return err
		}
	}
	h.seen.flushed(batch, h.now().Add(-2*h.cfg.StaleAfter))
	return nil
}

// RunSeenFlusher flushes the overlay every SeenFlushInterval until ctx
// ends, then flushes once more (graceful shutdown). Errors are logged.
func (h *Handler) RunSeenFlusher(ctx context.Context) {
	t := time.NewTicker(h.cfg.SeenFlushInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if err := h.FlushSeen(context.WithoutCancel(ctx)); err != nil {
				h.log.Warn("final last_seen flush failed", "err", err)
			}
			return
		case <-t.C:
			if err := h.FlushSeen(ctx); err != nil && ctx.Err() == nil {
				h.log.Warn("last_seen flush failed", "err", err)
			}
		}
	}
}

// Stats flushes the overlay and computes the gauges of §3 at the handler's
// clock (/healthz nodes_online uses the effective last_seen).
func (h *Handler) Stats(ctx context.Context) (store.Stats, error) {
	if err := h.FlushSeen(ctx); err != nil {
		return store.Stats{}, err
	}
	now := h.now()
	var s store.Stats
	err := h.st.View(ctx, func(tx store.ReadTx) error {
		var err error
		s, err = tx.Stats(now, now.Add(-h.cfg.StaleAfter))
		return err
	})
	return s, err
}
