package netsim

import (
	"fmt"
	"net/netip"
	"time"
)

// NATType selects mapping and filtering behaviour (RFC 4787 terms). The zero
// value is invalid: a test always says which NAT it means.
type NATType uint8

// NAT types.
const (
	// FullCone: endpoint-independent mapping, no filtering: once a mapping
	// exists anyone can send to it.
	FullCone NATType = iota + 1
	// AddressRestricted: endpoint-independent mapping, address-dependent
	// filtering: inbound only from IPs the mapping has sent to.
	AddressRestricted
	// PortRestricted: endpoint-independent mapping, address-and-port-dependent
	// filtering: inbound only from IP:ports the mapping has sent to.
	PortRestricted
	// Symmetric: address-and-port-dependent mapping (a new public port per
	// destination IP:port) and filtering (inbound only from that destination).
	Symmetric
)

func (t NATType) String() string {
	switch t {
	case FullCone:
		return "full-cone"
	case AddressRestricted:
		return "address-restricted"
	case PortRestricted:
		return "port-restricted"
	case Symmetric:
		return "symmetric"
	}
	return fmt.Sprintf("NATType(%d)", uint8(t))
}

const (
	// DefaultMappingTimeout is the idle timeout of a NAT mapping.
	DefaultMappingTimeout = 30 * time.Second
	natPortFirst          = 1024
	natPortLast           = 65535
)

// NATConfig describes a NAT device.
type NATConfig struct {
	// Public is the NAT's public IPv4 address, routable on the internet.
	Public netip.Addr
	// Type is the mapping and filtering behaviour (required).
	Type NATType
	// MappingTimeout drops a mapping that has carried no outbound datagram for
	// this long. Zero means DefaultMappingTimeout.
	MappingTimeout time.Duration
	// Hairpin lets a host behind the NAT reach a mapping of the same NAT
	// through the public address. Off: such datagrams drop (DropHairpin).
	Hairpin bool
	// LAN is the condition of datagrams between hosts behind this NAT.
	LAN LinkConfig
}

// NAT is a NAT device created by Network.AddNAT. Its methods are safe for
// concurrent use.
type NAT struct {
	// Set once in AddNAT.
	n       *Network
	cfg     NATConfig
	timeout time.Duration

	// Guarded by n.mu.
	lan      LinkConfig
	hosts    map[netip.Addr]*host
	byKey    map[mapKey]*mapping
	byPort   map[uint16]*mapping
	nextPort uint16 // next public port to try
	sweepAt  int    // sweep expired mappings when byPort grows to this
}

// mapKey identifies a mapping: the private endpoint, plus the destination for
// a symmetric NAT (zero otherwise).
type mapKey struct {
	priv, remote netip.AddrPort
}

type mapping struct {
	key     mapKey
	public  uint16
	lastOut time.Time
	// Destinations sent to through this mapping, kept for the filter.
	remotes   map[netip.AddrPort]struct{} // PortRestricted
	remoteIPs map[netip.Addr]struct{}     // AddressRestricted
}

// Mapping describes one live NAT mapping (for assertions and debugging).
type Mapping struct {
	Private netip.AddrPort
	Public  netip.AddrPort
	Remote  netip.AddrPort // the one destination of a Symmetric mapping; zero otherwise
	LastOut time.Time      // last outbound datagram
}

// AddNAT adds a NAT device with the given public address.
func (n *Network) AddNAT(cfg NATConfig) (*NAT, error) {
	if cfg.Type < FullCone || cfg.Type > Symmetric {
		return nil, fmt.Errorf("%w: NAT type %v", ErrInvalidParam, cfg.Type)
	}
	if cfg.MappingTimeout < 0 {
		return nil, fmt.Errorf("%w: MappingTimeout %v is negative", ErrInvalidParam, cfg.MappingTimeout)
	}
	if err := cfg.LAN.validate(); err != nil {
		return nil, fmt.Errorf("netsim: NAT %v LAN: %w", cfg.Public, err)
	}
	cfg.Public = cfg.Public.Unmap()
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.checkNewAddrLocked(cfg.Public); err != nil {
		return nil, err
	}
	nat := &NAT{
		n:        n,
		cfg:      cfg,
		timeout:  cfg.MappingTimeout,
		lan:      cfg.LAN,
		hosts:    make(map[netip.Addr]*host),
		byKey:    make(map[mapKey]*mapping),
		byPort:   make(map[uint16]*mapping),
		nextPort: natPortFirst + uint16(n.rng.IntN(natPortLast-natPortFirst+1)),
		sweepAt:  64,
	}
	if nat.timeout == 0 {
		nat.timeout = DefaultMappingTimeout
	}
	n.nats[cfg.Public] = nat
	return nat, nil
}

// AddHost adds a host behind the NAT. Its address (normally private, e.g.
// 10.0.0.2) must be unique in the whole Network; it is reachable directly
// only from hosts behind the same NAT.
func (nat *NAT) AddHost(ip netip.Addr) error {
	nat.n.mu.Lock()
	defer nat.n.mu.Unlock()
	h, err := nat.n.addHostLocked(ip, nat)
	if err != nil {
		return err
	}
	nat.hosts[h.ip] = h
	return nil
}

// Public returns the NAT's public address.
func (nat *NAT) Public() netip.Addr { return nat.cfg.Public }

// Type returns the NAT's type.
func (nat *NAT) Type() NATType { return nat.cfg.Type }

// SetLAN replaces the conditions between hosts behind this NAT.
func (nat *NAT) SetLAN(cfg LinkConfig) error {
	if err := cfg.validate(); err != nil {
		return fmt.Errorf("netsim: NAT %v LAN: %w", nat.cfg.Public, err)
	}
	nat.n.mu.Lock()
	defer nat.n.mu.Unlock()
	nat.lan = cfg
	return nil
}

// Rebind drops every mapping of the NAT, as after a NAT reboot: inbound
// datagrams to the old public ports drop (DropNoMapping) and the next
// outbound datagram of each host gets a new public port.
func (nat *NAT) Rebind() {
	nat.n.mu.Lock()
	defer nat.n.mu.Unlock()
	for _, m := range nat.byPort {
		nat.removeLocked(m)
	}
}

// Rebind drops the NAT mappings of the host behind a NAT at address ip, so
// its next outbound datagram gets a new public port (beacon.md §12.4).
func (n *Network) Rebind(ip netip.Addr) error {
	ip = ip.Unmap()
	n.mu.Lock()
	defer n.mu.Unlock()
	h := n.hosts[ip]
	if h == nil {
		return fmt.Errorf("netsim: rebind %v: %w", ip, ErrUnknownHost)
	}
	if h.nat == nil {
		return fmt.Errorf("%w: rebind %v: host is not behind a NAT", ErrInvalidAddr, ip)
	}
	for _, m := range h.nat.byPort {
		if m.key.priv.Addr() == ip {
			h.nat.removeLocked(m)
		}
	}
	return nil
}

// Mappings returns the NAT's live mappings.
func (nat *NAT) Mappings() []Mapping {
	nat.n.mu.Lock()
	defer nat.n.mu.Unlock()
	now := time.Now()
	var out []Mapping
	for _, m := range nat.byPort {
		if nat.expiredLocked(m, now) {
			continue
		}
		out = append(out, Mapping{
			Private: m.key.priv,
			Public:  netip.AddrPortFrom(nat.cfg.Public, m.public),
			Remote:  m.key.remote,
			LastOut: m.lastOut,
		})
	}
	return out
}

func (nat *NAT) expiredLocked(m *mapping, now time.Time) bool {
	return now.Sub(m.lastOut) >= nat.timeout
}

func (nat *NAT) removeLocked(m *mapping) {
	delete(nat.byKey, m.key)
	delete(nat.byPort, m.public)
}

// outboundLocked translates the source of a datagram from priv to remote,
// creating or refreshing the mapping. It fails only when no port is free.
func (nat *NAT) outboundLocked(priv, remote netip.AddrPort, now time.Time) (netip.AddrPort, bool) {
	key := mapKey{priv: priv}
	if nat.cfg.Type == Symmetric {
		key.remote = remote
	}
	m := nat.byKey[key]
	if m != nil && nat.expiredLocked(m, now) {
		nat.removeLocked(m)
		m = nil
	}
	if m == nil {
		port, ok := nat.allocLocked(now)
		if !ok {
			return netip.AddrPort{}, false
		}
		m = &mapping{key: key, public: port}
		nat.byKey[key] = m
		nat.byPort[port] = m
	}
	m.lastOut = now
	switch nat.cfg.Type {
	case AddressRestricted:
		if m.remoteIPs == nil {
			m.remoteIPs = make(map[netip.Addr]struct{})
		}
		m.remoteIPs[remote.Addr()] = struct{}{}
	case PortRestricted:
		if m.remotes == nil {
			m.remotes = make(map[netip.AddrPort]struct{})
		}
		m.remotes[remote] = struct{}{}
	}
	return netip.AddrPortFrom(nat.cfg.Public, m.public), true
}

// allocLocked picks the next free public port after the last one handed out.
func (nat *NAT) allocLocked(now time.Time) (uint16, bool) {
	if len(nat.byPort) >= nat.sweepAt {
		for _, m := range nat.byPort {
			if nat.expiredLocked(m, now) {
				nat.removeLocked(m)
			}
		}
		nat.sweepAt = max(64, 2*len(nat.byPort))
	}
	for range natPortLast - natPortFirst + 1 {
		p := nat.nextPort
		if nat.nextPort == natPortLast {
			nat.nextPort = natPortFirst
		} else {
			nat.nextPort++
		}
		m := nat.byPort[p]
		if m != nil && nat.expiredLocked(m, now) {
			nat.removeLocked(m)
			m = nil
		}
		if m == nil {
			return p, true
		}
	}
	return 0, false
}

// inboundLocked applies the mapping and filter to a datagram from src to the
// public port, returning the private destination.
func (nat *NAT) inboundLocked(src netip.AddrPort, port uint16, now time.Time) (netip.AddrPort, DropReason, bool) {
	m := nat.byPort[port]
	if m == nil {
		return netip.AddrPort{}, DropNoMapping, false
	}
	if nat.expiredLocked(m, now) {
		nat.removeLocked(m)
		return netip.AddrPort{}, DropNoMapping, false
	}
	var pass bool
	switch nat.cfg.Type {
	case FullCone:
		pass = true
	case AddressRestricted:
		_, pass = m.remoteIPs[src.Addr()]
	case PortRestricted:
		_, pass = m.remotes[src]
	case Symmetric:
		pass = src == m.key.remote
	}
	if !pass {
		return netip.AddrPort{}, DropFiltered, false
	}
	return m.key.priv, 0, true
}

// peekLocked returns the private host owning the public port, or the zero
// address. It neither filters nor expires: it only labels the path.
func (nat *NAT) peekLocked(port uint16) netip.Addr {
	if m := nat.byPort[port]; m != nil {
		return m.key.priv.Addr()
	}
	return netip.Addr{}
}
