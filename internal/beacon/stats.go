package beacon

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"
)

// Label values of the metrics of beacon.md §13. They are fixed sets, so
// metric cardinality is bounded.
var (
	// MessageTypes are the `type` labels of pilot_beacon_messages_total:
	// received datagrams by first byte; "invalid" counts unknown types,
	// beacon→daemon types and messages that do not parse.
	MessageTypes = [...]string{"discover", "punch_request", "relay", "sync", "invalid"}
	// RelayResults are the `result` labels of pilot_beacon_relay_total:
	// delivered to a local node, forwarded to a peer beacon, destination
	// not found, dropped before a worker (rate, source, magic, size, full).
	RelayResults = [...]string{"forwarded", "peer", "not_found", "dropped"}
	// DropReasons are the `reason` labels of pilot_beacon_drops_total.
	DropReasons = [...]string{"rate", "source", "magic", "size", "full", "auth"}
)

type msgType uint8

const (
	msgDiscover msgType = iota
	msgPunch
	msgRelay
	msgSync
	msgInvalid
)

type relayResult uint8

const (
	relayForwarded relayResult = iota
	relayPeer
	relayNotFound
	relayDropped
)

type dropReason uint8

const (
	dropRate dropReason = iota
	dropSource
	dropMagic
	dropSize
	dropFull
	dropAuth
)

// counters are updated lock-free from every goroutine.
type counters struct {
	messages [len(MessageTypes)]atomic.Uint64
	relay    [len(RelayResults)]atomic.Uint64
	drops    [len(DropReasons)]atomic.Uint64
}

func (c *counters) drop(r dropReason) { c.drops[r].Add(1) }

// Stats is a snapshot of the beacon's gauges and counters, keyed by the
// label values above.
type Stats struct {
	NodesPlain int // unauthenticated live entries
	NodesAuth  int // authenticated live entries
	PeerNodes  int // live peer announcements
	Messages   map[string]uint64
	Relay      map[string]uint64
	Drops      map[string]uint64
}

// Stats returns a snapshot; it scans the node table once.
func (s *Server) Stats() Stats {
	st := Stats{Messages: map[string]uint64{}, Relay: map[string]uint64{}, Drops: map[string]uint64{}}
	st.NodesPlain, st.NodesAuth, st.PeerNodes = s.table.counts(s.cfg.Now())
	for i, n := range MessageTypes {
		st.Messages[n] = s.ctr.messages[i].Load()
	}
	for i, n := range RelayResults {
		st.Relay[n] = s.ctr.relay[i].Load()
	}
	for i, n := range DropReasons {
		st.Drops[n] = s.ctr.drops[i].Load()
	}
	return st
}

// statsLoop logs relay and drop statistics at INFO at most once per
// minute, and only when they changed (beacon.md §10 rule 8).
func (s *Server) statsLoop(ctx context.Context) {
	t := time.NewTicker(statsLogInterval)
	defer t.Stop()
	var last [len(RelayResults) + len(DropReasons)]uint64
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var cur [len(last)]uint64
		for i := range s.ctr.relay {
			cur[i] = s.ctr.relay[i].Load()
		}
		for i := range s.ctr.drops {
			cur[len(RelayResults)+i] = s.ctr.drops[i].Load()
		}
		if cur == last {
			continue
		}
		attrs := make([]any, 0, 2*len(cur))
		for i, n := range RelayResults {
			attrs = append(attrs, slog.Uint64("relay_"+n, cur[i]-last[i]))
		}
		for i, n := range DropReasons {
			attrs = append(attrs, slog.Uint64("drop_"+n, cur[len(RelayResults)+i]-last[len(RelayResults)+i]))
		}
		s.log.Info("beacon relay statistics (last minute)", attrs...)
		last = cur
	}
}
