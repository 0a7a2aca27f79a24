package beacon

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pilot-go/pilot/internal/wire/beaconmsg"
)

// peerSet is an immutable snapshot of the peer beacons: the static -peers
// list ∪ the registry directory (beacon.md §7.2).
type peerSet struct {
	accept  map[netip.AddrPort]struct{} // every resolved address of every peer
	targets []netip.AddrPort            // one address per peer, for Sync and forwards
}

// peerState publishes the current peerSet atomically (the read loop only
// loads it) and remembers on which local address each peer reaches us, so
// that what we send to a peer leaves from that address (§1).
type peerState struct {
	set   atomic.Pointer[peerSet]
	local sync.Map // netip.AddrPort → netip.Addr

	// Owned by peerLoop after init.
	static  []string         // configured host:port strings
	statics []netip.AddrPort // last successful resolution of static
	dynamic []netip.AddrPort // last successful directory listing
}

// init resolves literal static peers at once, so that a beacon with IP
// peers is clustered from its first datagram; host names wait for peerLoop.
func (p *peerState) init(static []string) {
	p.static = static
	for _, s := range static {
		if ap, err := netip.ParseAddrPort(s); err == nil {
			p.statics = append(p.statics, unmapAddrPort(ap))
		}
	}
	p.publish()
}

func (p *peerState) publish() {
	ps := &peerSet{accept: make(map[netip.AddrPort]struct{})}
	for _, ap := range slices.Concat(p.statics, p.dynamic) {
		if _, dup := ps.accept[ap]; !dup {
			ps.accept[ap] = struct{}{}
			ps.targets = append(ps.targets, ap)
		}
	}
	p.set.Store(ps)
}

func (p *peerState) has(src netip.AddrPort) bool {
	_, ok := p.set.Load().accept[src]
	return ok
}

func (p *peerState) targets() []netip.AddrPort { return p.set.Load().targets }

func (p *peerState) strings() []string {
	out := make([]string, 0, len(p.targets()))
	for _, ap := range p.targets() {
		out = append(out, ap.String())
	}
	return out
}

func (p *peerState) noteLocal(peer netip.AddrPort, local netip.Addr) {
	if !local.IsValid() {
		return
	}
	if old, ok := p.local.Load(peer); !ok || old.(netip.Addr) != local {
		p.local.Store(peer, local)
	}
}

func (p *peerState) localFor(peer netip.AddrPort) netip.Addr {
	if v, ok := p.local.Load(peer); ok {
		return v.(netip.Addr)
	}
	return netip.Addr{}
}

// resolve turns host:port into the UDP addresses it names.
func resolve(ctx context.Context, hostport string) ([]netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(hostport); err == nil {
		return []netip.AddrPort{unmapAddrPort(ap)}, nil
	}
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return nil, err
	}
	pn, err := net.DefaultResolver.LookupPort(ctx, "udp", port)
	if err != nil {
		return nil, err
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, err
	}
	out := make([]netip.AddrPort, 0, len(ips))
	for _, ip := range ips {
		out = append(out, netip.AddrPortFrom(ip.Unmap(), uint16(pn)))
	}
	return out, nil
}

// peerLoop refreshes the peer set every 30 s, first at start: it resolves
// static peers and, with a beacon ID and a Directory, registers and lists
// the directory. On any failure the previous addresses are kept.
func (s *Server) peerLoop(ctx context.Context) {
	t := time.NewTicker(directoryInterval)
	defer t.Stop()
	for {
		s.refreshPeers(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Server) refreshPeers(ctx context.Context) {
	p := &s.peers
	var statics []netip.AddrPort
	ok := true
	for _, hp := range p.static {
		aps, err := resolve(ctx, hp)
		if err != nil || len(aps) == 0 {
			ok = false
			s.log.Warn("cannot resolve peer beacon", "peer", hp, "err", err)
			break
		}
		statics = append(statics, aps...)
	}
	if ok {
		p.statics = statics
	}
	if d := s.cfg.Directory; d != nil && s.cfg.BeaconID != 0 {
		if dyn, err := s.listDirectory(ctx, d); err != nil {
			s.log.Warn("beacon directory update failed; keeping previous peers", "err", err)
		} else {
			p.dynamic = dyn
		}
	}
	p.publish()
}

// listDirectory registers this beacon and lists its peers (beacon.md
// §7.2: 10 s per exchange; the list may take several pages, each one
// exchange, so the listing as a whole is bounded by the round interval).
func (s *Server) listDirectory(ctx context.Context, d Directory) ([]netip.AddrPort, error) {
	rctx, cancel := context.WithTimeout(ctx, directoryExchange)
	err := d.Register(rctx, s.cfg.BeaconID, s.advertise(), s.cfg.RegistryToken)
	cancel()
	if err != nil {
		return nil, err
	}
	lctx, cancel := context.WithTimeout(ctx, directoryInterval)
	defer cancel()
	list, err := d.List(lctx)
	if err != nil {
		return nil, err
	}
	var out []netip.AddrPort
	for _, pe := range list {
		if pe.ID == s.cfg.BeaconID {
			continue
		}
		aps, err := resolve(ctx, pe.Addr)
		if err != nil {
			s.log.Debug("cannot resolve listed beacon", "addr", pe.Addr, "err", err)
			continue
		}
		out = append(out, aps...)
	}
	return out, nil
}

// advertise is the beacon_register address: -advertise, else the listen
// host (possibly a wildcard, which the Directory replaces) with the bound
// port.
func (s *Server) advertise() string {
	if s.cfg.Advertise != "" {
		return s.cfg.Advertise
	}
	host, _, err := net.SplitHostPort(s.cfg.Listen)
	if err != nil {
		host = ""
	}
	return net.JoinHostPort(host, strconv.Itoa(int(s.Addr().Port())))
}

// syncLoop sends the local table's node IDs to every peer every 10 s.
func (s *Server) syncLoop(ctx context.Context) {
	t := time.NewTicker(syncInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.sendSyncs()
		}
	}
}

// sendSyncs sends one round of Sync messages (§7.1), split at 16,000 IDs.
func (s *Server) sendSyncs() {
	targets := s.peers.targets()
	if len(targets) == 0 {
		return
	}
	ids := s.table.localIDs(s.cfg.Now())
	var msgs [][]byte
	for _, m := range beaconmsg.SplitSync(s.cfg.BeaconID, ids) {
		if b, err := m.AppendTo(nil); err == nil {
			msgs = append(msgs, b)
		}
	}
	for _, peer := range targets {
		for _, b := range msgs {
			s.send(b, peer, s.peers.localFor(peer))
		}
	}
}

// reapLoop frees expired entries, peer announcements and cached keys at
// least every 30 s (beacon.md §8).
func (s *Server) reapLoop(ctx context.Context) {
	t := time.NewTicker(min(maxReapInterval, max(s.cfg.NodeTTL/2, time.Second)))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			now := s.cfg.Now()
			s.table.reap(now)
			if s.verify != nil {
				s.verify.reap(now)
			}
		}
	}
}
