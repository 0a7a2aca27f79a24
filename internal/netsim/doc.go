// Package netsim is an in-memory IPv4 UDP "internet" for in-process tests of
// the daemon's tunnel layer, the beacon (spec beacon.md §3 discovery, §5 hole
// punching, §6 relay, §12 sequences) and the whole-system harness.
//
// A daemon, a beacon or a test program owns one UDP socket and programs
// against the [PacketConn] interface, which *net.UDPConn also satisfies; in a
// test the socket comes from [Network.Listen] instead of net.ListenUDP.
//
// # Topology
//
//	public host 192.0.2.10 (beacon)        public host 192.0.2.20
//	           │                                   │
//	═══════════╧══════════ internet ═══════════════╧══════════════
//	  paths: default LinkConfig, per-prefix rules (SetLink/SetPath), cuts
//	           │                                   │
//	  NAT 203.0.113.1 (PortRestricted)     NAT 203.0.113.2 (Symmetric)
//	    LAN: NATConfig.LAN                   LAN: NATConfig.LAN
//	  ┌────────┴────────┐                          │
//	10.0.0.2        10.0.0.3                   10.1.0.2
//
// Every host has a unique IPv4 address. Public hosts ([Network.AddHost]) and
// NAT public addresses ([Network.AddNAT]) are routable on the internet;
// hosts behind a NAT ([NAT.AddHost]) are reachable only from their own LAN
// (direct LAN delivery, source = private address, as used for the lan_addrs
// candidate of wire.md §7.1) or through the NAT's mappings. Datagrams
// addressed to any other address are dropped ([DropNoRoute]).
//
// # NAT model (RFC 4787 terms)
//
//	type               mapping                      inbound filter on a mapping
//	FullCone           endpoint-independent         none
//	AddressRestricted  endpoint-independent         IPs the mapping has sent to
//	PortRestricted     endpoint-independent         IP:ports the mapping has sent to
//	Symmetric          per destination IP:port      that one destination IP:port
//
// Public ports are allocated sequentially from a seeded random start, so a
// new mapping never reuses the port of a mapping just dropped: [NAT.Rebind]
// and [Network.Rebind] therefore change the observed endpoint (beacon.md
// §12.4). Mappings expire after NATConfig.MappingTimeout (default 30 s)
// without outbound traffic; inbound traffic does not refresh them. NAT
// processing of an inbound datagram happens when it arrives at the NAT, so
// two peers sending "simultaneously" open a path exactly as real NATs do.
//
// # Delivery pipeline
//
// A datagram written by a Conn is copied, translated by the sender's NAT,
// checked against cuts, then subject to the path's [LinkConfig] in this order:
// loss, bandwidth queue (drop when full), duplication, delay + jitter +
// reorder hold-back. Datagrams due now are delivered synchronously inside the
// write; later ones wait in a time-ordered queue served by one scheduler
// goroutine owned by the Network and stopped by [Network.Close]. Each Conn has
// a bounded receive queue (drop when full). Every drop is counted by reason in
// [Stats], network-wide and per path ([Network.PathStats]).
//
// # Determinism and time
//
// All random choices come from one generator seeded by Config.Seed and are
// drawn under the Network's lock, so a single goroutine sending a fixed
// sequence gets the same losses, duplicates and ports on every run. The
// package uses only time.Now, time.AfterFunc, timers and channels, so a
// Network created inside a testing/synctest bubble runs on the bubble's
// virtual clock: delays, deadlines and NAT idle timeouts can then be tested
// exactly and instantly. Such a Network belongs to its bubble (create, use and
// Close it there, e.g. with t.Cleanup inside synctest.Test); the bubble then
// also proves that Close stopped the scheduler goroutine.
//
// # Concurrency
//
// One mutex (Network.mu) guards topology, rules, NAT tables, path state, the
// random generator, the event queue and the counters. Receive queues are
// channels written without blocking under that lock and read by any number
// of readers without it. Lock order: Network.mu, then a Conn's deadline mutex
// (closing a Conn stops its deadline timer under Network.mu); deadline timer
// callbacks take only the deadline mutex. The only goroutine is
// schedulerLoop, started by New and waited for by Close.
package netsim
