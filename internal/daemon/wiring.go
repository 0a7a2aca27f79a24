package daemon

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/dataplane"
	"github.com/pilot-go/pilot/internal/identity"
	"github.com/pilot-go/pilot/internal/ipc"
	"github.com/pilot-go/pilot/internal/netsim"
	"github.com/pilot-go/pilot/internal/rawsock"
	"github.com/pilot-go/pilot/internal/stream"
	"github.com/pilot-go/pilot/internal/tunnel"
	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
	"github.com/pilot-go/pilot/internal/wire/packet"
)

// Data-plane wiring (wire.md §4–§12):
//
//	UDP socket (-listen, 4 MiB buffers) ── tunnel.Manager (+ nat beacon client)
//	   Deliver ──► dataplane.Deliver ──► streams / datagrams / ping
//	   dataplane.Transport ◄── tunnelTransport (Send, SuspectPeerLoss, Resolve)
//	   dataplane.Admission ◄── admission (public, trust store, admission cache)
//	   dataplane.DeliverDatagram ──► ipc.Server.DeliverDatagram
//	ipc.Server ◄── backend{DataPlane, control}

// SocketBuffer is the UDP buffer size requested (wire.md §13).
const SocketBuffer = 4 << 20

// backend is the ipc.Backend: the data plane plus the control commands.
type backend struct {
	*dataplane.DataPlane
	control
}

var _ ipc.Backend = backend{}

// bindUDP opens the tunnel socket on -listen.
func (d *Daemon) bindUDP() error {
	ua, err := net.ResolveUDPAddr("udp", d.cfg.Listen)
	if err != nil {
		return fmt.Errorf("-listen %s: %w", d.cfg.Listen, err)
	}
	d.udp, err = net.ListenUDP("udp", ua)
	if err != nil {
		return fmt.Errorf("bind UDP %s: %w", d.cfg.Listen, err)
	}
	return nil
}

// buildDataPlane creates the tunnel manager and the data plane on the
// bound socket.
func (d *Daemon) buildDataPlane(id *identity.Identity) error {
	cfg := d.cfg
	var beacon netip.AddrPort
	if cfg.Beacon != "" {
		ua, err := net.ResolveUDPAddr("udp", cfg.Beacon)
		if err != nil {
			return fmt.Errorf("-beacon %s: %w", cfg.Beacon, err)
		}
		beacon = ua.AddrPort()
		beacon = netip.AddrPortFrom(beacon.Addr().Unmap(), beacon.Port())
	}
	keys := registryKeys{d.client}
	var conn netsim.PacketConn = d.udp
	if r, err := rawsock.NewUDP(d.udp); err == nil {
		conn = r
	}
	if d.opts.WrapConn != nil {
		conn = d.opts.WrapConn(d.udp) // test-only hook (Options.WrapConn)
	}
	tun, err := tunnel.New(tunnel.Config{
		Conn: conn, Identity: id, Plaintext: !cfg.Encrypt, Beacon: beacon,
		Keys: keys, Resolver: keys, LANAddrs: localAddrs(d.UDPAddr()),
		IsMember: func(n addr.NetworkID) bool { return d.Memberships().Has(n) },
		Deliver:  d.deliver,
		Events:   tunnelEvents(d.events),
		EndpointChanged: func(old, cur netip.AddrPort) {
			d.log.Info("public endpoint changed; re-registering", "old", old.String(), "new", cur.String())
			d.registrar.Reregister()
		},
		RekeyInterval: cfg.RekeyInterval, Logger: d.log, SocketBuffer: SocketBuffer,
	})
	if err != nil {
		d.udp.Close()
		return err
	}
	d.tun = tun
	dp, err := dataplane.New(dataplane.Config{
		Self: d.registrar, Transport: tunnelTransport{tun}, Admission: d.admit,
		Events: dpEvents{d.events}, Members: registryMembers{d.client},
		DeliverDatagram: d.deliverDatagram,
		Stream: stream.Config{MSS: cfg.MSS, RecvBuffer: cfg.RecvBuffer, CC: cfg.CC, Nagle: cfg.Nagle,
			Keepalive: cfg.Keepalive, IdleTimeout: cfg.IdleTimeout, TimeWait: cfg.TimeWait,
			DialTimeout: cfg.DialTimeout},
		MaxBufferMemory: int(min(cfg.MaxBufferMemory, int64(^uint(0)>>1))),
		MaxConnsPerPort: cfg.MaxConnsPerPort, MaxConnsTotal: cfg.MaxConnsTotal,
		SYNRate: cfg.SynRateLimit, Logger: d.log,
	})
	if err != nil {
		return err
	}
	d.dp = dp
	d.sender.dp.Store(dp)
	return nil
}

// deliver is the tunnel's Deliver callback (runs on its socket reader).
func (d *Daemon) deliver(from addr.NodeID, viaRelay, auth bool, p *packet.Packet) {
	if dp := d.dp; dp != nil {
		dp.Deliver(from, viaRelay, auth, p)
	}
}

// deliverDatagram hands an inbound datagram to the IPC clients.
func (d *Daemon) deliverDatagram(m ipcmsg.RecvFrom) int {
	if s := d.ipc; s != nil {
		return s.DeliverDatagram(m)
	}
	return 0
}

// listenAddr is register's listen_addr (chooseListenAddr).
func (d *Daemon) listenAddr() string {
	var observed netip.AddrPort
	if d.tun != nil {
		observed = d.tun.ObservedEndpoint()
	}
	local := ""
	if d.udp != nil {
		local = d.udp.LocalAddr().String()
	}
	return chooseListenAddr(d.cfg.Endpoint, observed, local)
}

// chooseListenAddr is register's listen_addr (beacon.md §3.2): the fixed
// -endpoint when set (it skips discovery, cli.md §3.1); else the beacon's
// observed endpoint when its IP is public; else the socket's own address
// (the registry pairs its port with the connection's source IP). A
// private, loopback or link-local observed IP is not a public endpoint.
func chooseListenAddr(endpoint string, observed netip.AddrPort, local string) string {
	if endpoint != "" {
		return endpoint
	}
	if a := observed.Addr().Unmap(); observed.IsValid() && a.IsGlobalUnicast() && !a.IsPrivate() {
		return netip.AddrPortFrom(a, observed.Port()).String()
	}
	return local
}

// lanAddrs is register's lan_addrs: the host's addresses with the socket's
// port (at most regmsg.MaxLANAddrs are sent).
func (d *Daemon) lanAddrs() []string {
	ua := d.UDPAddr()
	if ua == nil {
		return nil
	}
	var out []string
	for _, ip := range localAddrs(ua) {
		out = append(out, net.JoinHostPort(ip.String(), strconv.Itoa(ua.Port)))
	}
	return out
}
