package dataplane

import (
	"context"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/ipc"
	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
)

// Broadcast limits of wire.md §12.
const (
	broadcastPace       = 1000 // unicasts per second, daemon-wide
	broadcastsPerSecond = 10   // per IPC client (per source port)
	memberCacheTTL      = 30 * time.Second
)

// Member is one member of a network as listed by the registry.
type Member struct {
	Node   addr.NodeID
	Online bool
}

// MemberLister lists the members of a network: the registry's list_nodes,
// every page (wire.md §12).
type MemberLister interface {
	ListMembers(ctx context.Context, network addr.NetworkID) ([]Member, error)
}

// memberCache caches member lists for 30 s; dropped on a new policy_epoch.
type memberCache struct {
	mu      sync.Mutex
	entries map[addr.NetworkID]memberEntry
}

type memberEntry struct {
	at      time.Time
	members []Member
}

func (m *memberCache) init() { m.entries = make(map[addr.NetworkID]memberEntry) }

// InvalidateMembers drops the broadcast member cache (a heartbeat_ok
// carried a new policy_epoch, or our memberships changed).
func (dp *DataPlane) InvalidateMembers() {
	dp.members.mu.Lock()
	clear(dp.members.entries)
	dp.members.mu.Unlock()
}

func (dp *DataPlane) listMembers(ctx context.Context, n addr.NetworkID) ([]Member, error) {
	now := time.Now()
	dp.members.mu.Lock()
	e, ok := dp.members.entries[n]
	dp.members.mu.Unlock()
	if ok && now.Sub(e.at) < memberCacheTTL {
		return e.members, nil
	}
	if dp.cfg.Members == nil {
		return nil, nil
	}
	ms, err := dp.cfg.Members.ListMembers(ctx, n)
	if err != nil {
		return nil, err
	}
	dp.members.mu.Lock()
	dp.members.entries[n] = memberEntry{at: now, members: ms}
	dp.members.mu.Unlock()
	return ms, nil
}

// broadcast expands a datagram to node 0xFFFFFFFF in network N into one
// unicast per online member other than ourselves, from N:<own node>, all
// with the same source port, paced at 1,000 per second daemon-wide, in the
// background (wire.md §12). At most 10 broadcasts per second per IPC
// client; clients are told apart by their datagram source port.
func (dp *DataPlane) broadcast(ctx context.Context, d ipc.Datagram) error {
	n := d.Dst.Network
	if n == addr.Backbone {
		return ipc.Errorf(ipcmsg.CodeInvalidArgument, "sendto: broadcast in network 0 is not allowed")
	}
	self := dp.self()
	ms, err := dp.listMembers(ctx, n)
	if err != nil {
		return ipc.Errorf(ipcmsg.CodeUnavailable, "sendto: list members of network %d: %v", n, err)
	}
	member := false
	targets := make([]addr.NodeID, 0, len(ms))
	seen := make(map[addr.NodeID]bool, len(ms))
	for _, m := range ms {
		switch {
		case m.Node == self && self != 0:
			member = true
		case m.Online && m.Node != 0 && m.Node != addr.BroadcastNode && !seen[m.Node]:
			seen[m.Node] = true
			targets = append(targets, m.Node)
		}
	}
	if !member {
		return ipc.Errorf(ipcmsg.CodePermissionDenied, "sendto: not a member of network %d", n)
	}
	now := time.Now()
	dp.mu.Lock()
	if dp.closing {
		dp.mu.Unlock()
		return ipc.Errorf(ipcmsg.CodeUnavailable, "sendto: daemon shutting down")
	}
	l := dp.bcast[d.SrcPort]
	if l == nil {
		if len(dp.bcast) >= maxTracked {
			clear(dp.bcast)
		}
		l = rate.NewLimiter(broadcastsPerSecond, broadcastsPerSecond)
		dp.bcast[d.SrcPort] = l
	}
	ok := l.AllowN(now, 1)
	if ok {
		dp.wg.Add(1)
	}
	dp.mu.Unlock()
	if !ok {
		return ipc.Errorf(ipcmsg.CodeRateLimited, "sendto: too many broadcasts (max %d per second)", broadcastsPerSecond)
	}
	go func() {
		defer dp.wg.Done()
		for _, t := range targets {
			if dp.pacer.Wait(dp.ctx) != nil {
				return
			}
			_ = dp.sendDatagram(self, addr.New(n, t), d.DstPort, d.SrcPort, d.Data)
		}
	}()
	return nil
}
