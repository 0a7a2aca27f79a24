package daemon

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/dataplane"
	"github.com/pilot-go/pilot/internal/identity"
	"github.com/pilot-go/pilot/internal/regclient"
	"github.com/pilot-go/pilot/internal/tunnel"
	"github.com/pilot-go/pilot/internal/wire/packet"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
	whmsg "github.com/pilot-go/pilot/internal/wire/svcmsg/webhook"
)

// Adapters between the tunnel, the data plane and the control plane. Each
// is a thin translation; the policies live in the components.

// tunnelTransport adapts *tunnel.Manager to dataplane.Transport and
// dataplane.Resolver.
type tunnelTransport struct{ t *tunnel.Manager }

func (a tunnelTransport) Send(peer addr.NodeID, p *packet.Packet) error {
	err := a.t.Send(peer, p)
	if errors.Is(err, tunnel.ErrTooManyPending) {
		return fmt.Errorf("%w: %w", dataplane.ErrTooManyPending, err)
	}
	return err
}

// SendBatch sends a connection's packets of one engine pass together
// (dataplane.BatchTransport).
func (a tunnelTransport) SendBatch(peer addr.NodeID, ps []packet.Packet) error {
	err := a.t.SendBatch(peer, ps)
	if errors.Is(err, tunnel.ErrTooManyPending) {
		return fmt.Errorf("%w: %w", dataplane.ErrTooManyPending, err)
	}
	return err
}

func (a tunnelTransport) SuspectPeerLoss(peer addr.NodeID, why dataplane.LossReason) bool {
	r := tunnel.LossRTO
	if why == dataplane.LossSYN {
		r = tunnel.LossSYN
	}
	return a.t.SuspectPeerLoss(peer, r)
}

// Resolve resolves peer before a dial or datagram. The tunnel answers at
// once for a peer with an authenticated session and caches registry
// refusals only briefly (and drops them on trust or policy changes).
func (a tunnelTransport) Resolve(ctx context.Context, peer addr.NodeID) error {
	return a.t.Resolve(ctx, peer)
}

// registryKeys adapts the registry client to tunnel.KeyLookup and
// tunnel.Resolver.
type registryKeys struct{ c *regclient.Client }

func tunnelErr(err error) error {
	var re *regmsg.Error
	if errors.As(err, &re) {
		if re.Code == regmsg.CodeNotFound {
			return fmt.Errorf("%w: %s", tunnel.ErrNotFound, re.Message)
		}
		return re
	}
	return fmt.Errorf("%w: %w", tunnel.ErrUnreachable, err)
}

func (k registryKeys) LookupKey(ctx context.Context, node addr.NodeID) (ed25519.PublicKey, error) {
	rep, err := k.c.Lookup(ctx, node)
	if err != nil {
		return nil, tunnelErr(err)
	}
	pub, err := identity.ParsePublicKey(rep.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("node %d: registered key: %w", node, err)
	}
	return pub, nil
}

func (k registryKeys) Resolve(ctx context.Context, node addr.NodeID) (tunnel.Resolution, error) {
	rep, err := k.c.Resolve(ctx, node)
	if err != nil {
		return tunnel.Resolution{}, tunnelErr(err)
	}
	var res tunnel.Resolution
	if ap, err := netip.ParseAddrPort(rep.RealAddr); err == nil {
		res.RealAddr = ap
	}
	for _, s := range rep.LANAddrs {
		if ap, err := netip.ParseAddrPort(s); err == nil {
			res.LANAddrs = append(res.LANAddrs, ap)
		}
	}
	if rep.PublicKey != "" {
		if pub, err := identity.ParsePublicKey(rep.PublicKey); err == nil {
			res.PublicKey = pub
		}
	}
	return res, nil
}

// registryMembers adapts the registry client to dataplane.MemberLister.
type registryMembers struct{ c *regclient.Client }

func (m registryMembers) ListMembers(ctx context.Context, n addr.NetworkID) ([]dataplane.Member, error) {
	nodes, err := m.c.ListNodesAll(ctx, n, MaxListItems)
	if err != nil {
		return nil, err
	}
	out := make([]dataplane.Member, 0, len(nodes))
	for _, e := range nodes {
		out = append(out, dataplane.Member{Node: e.NodeID, Online: !e.Offline})
	}
	return out, nil
}

// dpEvents adapts the webhook Emitter to dataplane.Events (alternating
// keys and values).
type dpEvents struct{ e Emitter }

func (a dpEvents) Emit(event string, kv ...any) {
	f := make(whmsg.Fields, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		k, _ := kv[i].(string)
		f = append(f, whmsg.Field{Key: k, Value: kv[i+1]})
	}
	a.e.Emit(event, f)
}

// tunnelEvents forwards the tunnel's events to the webhook Emitter with
// the data keys of services.md §8.3.
func tunnelEvents(e Emitter) func(tunnel.Event) {
	return func(ev tunnel.Event) {
		peer := whmsg.Field{Key: "peer_node_id", Value: uint64(ev.Peer)}
		switch ev.Name {
		case tunnel.EventEstablished:
			e.Emit(ev.Name, whmsg.Fields{peer, {Key: "authenticated", Value: ev.Authenticated},
				{Key: "relay", Value: ev.Relay}, {Key: "rekeyed", Value: ev.Rekeyed}})
		case tunnel.EventPeerAdded:
			ep := ""
			if ev.Endpoint.IsValid() {
				ep = ev.Endpoint.String()
			}
			e.Emit(ev.Name, whmsg.Fields{peer, {Key: "endpoint", Value: ep}})
		case tunnel.EventNonceReplay:
			e.Emit(ev.Name, whmsg.Fields{peer, {Key: "counter", Value: ev.Counter}})
		default:
			e.Emit(ev.Name, whmsg.Fields{peer})
		}
	}
}

// admission implements dataplane.Admission and AuthAdmission with wire.md
// §8 steps 2–4: public mode, the trust store, then the cached registry
// answers; a miss is resolved off the packet path (the data plane bounds
// the parked packets).
type admission struct {
	d   *Daemon
	ctx atomic.Pointer[context.Context] // Run's context; nil before Run
}

func (a *admission) Admit(peer addr.NodeID, port addr.Port, proto packet.Protocol, done func(dataplane.Verdict)) {
	a.AdmitAuth(peer, true, port, proto, done)
}

func (a *admission) AdmitAuth(peer addr.NodeID, auth bool, port addr.Port, _ packet.Protocol, done func(dataplane.Verdict)) {
	d := a.d
	if d.registrar.Public() {
		done(dataplane.Verdict{Admit: true})
		return
	}
	if !auth && d.cfg.Encrypt {
		// Unauthenticated tunnel state: rejected at steps 3–4.
		done(dataplane.Verdict{})
		return
	}
	if d.trust.IsTrusted(peer) {
		done(dataplane.Verdict{Admit: true})
		return
	}
	if dec, ok := d.admission.Cached(peer, port); ok {
		done(verdict(dec))
		return
	}
	ctx := context.Background()
	if p := a.ctx.Load(); p != nil {
		ctx = *p
	}
	go func() {
		dec, ok := d.admission.Resolve(ctx, peer, port)
		if !ok {
			done(dataplane.Verdict{})
			return
		}
		done(verdict(dec))
	}()
}

func verdict(d Decision) dataplane.Verdict {
	switch d.Verdict {
	case Admit:
		return dataplane.Verdict{Admit: true}
	case RejectPort:
		return dataplane.Verdict{PortRejected: true, Network: d.Network}
	}
	return dataplane.Verdict{}
}

// handshakeSender implements trust.Sender over the data plane: one fresh
// stream to 0:<peer>:444, one write, then a graceful close (services.md
// §5.1). It is bound to the data plane after New.
type handshakeSender struct {
	dp atomic.Pointer[dataplane.DataPlane]
}

// HandshakeTimeout bounds a direct handshake send (dial, write and close);
// the trust manager falls back to the registry relay after it.
const HandshakeTimeout = 5 * time.Second

func (s *handshakeSender) SendHandshake(ctx context.Context, peer addr.NodeID, msg []byte) error {
	dp := s.dp.Load()
	if dp == nil {
		return errors.New("data plane not running")
	}
	ctx, cancel := context.WithTimeout(ctx, HandshakeTimeout)
	defer cancel()
	c, err := dp.DialConn(ctx, addr.New(addr.Backbone, peer), TrustPort)
	if err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetWriteDeadline(dl)
	}
	if _, err := c.Write(msg); err != nil {
		c.Close()
		return err
	}
	// Sent only once the peer acknowledged it (services.md §5.1: close
	// once the data is acknowledged, at most 5 s); else the caller falls
	// back to the registry relay.
	cw, ok := c.(interface{ CloseWait(context.Context) error })
	if !ok { // every data-plane connection has it
		c.Close()
		return errors.New("handshake: the connection cannot confirm delivery")
	}
	return cw.CloseWait(ctx)
}

// dataplaneTunnels implements trust.Tunnels: a revoked peer loses its
// connections and its tunnel state.
type dataplaneTunnels struct{ d *Daemon }

func (t dataplaneTunnels) Teardown(peer addr.NodeID) {
	if t.d.dp != nil {
		t.d.dp.AbortPeer(peer)
	}
	if t.d.tun != nil {
		t.d.tun.Teardown(peer)
	}
}

// localAddrs returns the addresses the UDP socket is reachable at on this
// host: its own IP when bound to one, else the host's unicast interface
// addresses (loopback and link-local excluded).
func localAddrs(la *net.UDPAddr) []netip.Addr {
	if ip, ok := netip.AddrFromSlice(la.IP); ok && !ip.Unmap().IsUnspecified() {
		return []netip.Addr{ip.Unmap()}
	}
	ifs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []netip.Addr
	for _, a := range ifs {
		pfx, err := netip.ParsePrefix(a.String())
		if err != nil {
			continue
		}
		ip := pfx.Addr().Unmap()
		if ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsMulticast() || !ip.Is4() {
			continue
		}
		out = append(out, ip)
	}
	return out
}

// trustEvents forwards the trust manager's events and reacts to new trust
// relations: admission caches are dropped and a peer whose first contact
// failed (resolve refused while untrusted, cached by the tunnel) is
// forgotten so that the next send resolves it afresh.
type trustEvents struct{ d *Daemon }

func (e trustEvents) Emit(event string, data whmsg.Fields) {
	e.d.events.Emit(event, data)
	switch event {
	case "handshake.approved", "handshake.auto_approved":
		for _, f := range data {
			if f.Key == "peer_node_id" {
				if v, ok := f.Value.(uint64); ok {
					e.d.trustChanged(addr.NodeID(v))
				}
			}
		}
	}
}

// trustChanged is called when peer became trusted.
func (d *Daemon) trustChanged(peer addr.NodeID) {
	d.admission.Invalidate()
	if d.tun == nil {
		return
	}
	// A resolve refused while the peer was untrusted must not outlive the
	// trust: drop cached answers, keep sessions and learnt endpoints.
	d.tun.InvalidateResolve(peer)
}
