// Package dataplane is the daemon's data plane above the tunnel (wire.md
// §2, §8–§12): stream connections driven by the pure engine of
// internal/stream, listeners and ephemeral ports, datagrams, the control
// ping, broadcast expansion, admission hooks and the limits of §9.15. It
// implements the DataPlane half of ipc.Backend and offers net.Conn /
// net.Listener adapters for the daemon's built-in services.
//
// # Layering
//
//	IPC server ──ipc.DataPlane──►┐            ┌──ServeBuiltin / DialConn (net.Conn)
//	                             ▼            ▼
//	                  DataPlane (conn table, listeners, ports, limits)
//	                     │  one goroutine per connection driving a stream.Conn
//	                     ▼
//	Transport.Send ◄── packets ──► HandlePacket (tunnel Deliver callback)
//	     │ (own node ID: loopback, delivered back into HandlePacket, §9.1)
//
// The package defines the small interfaces it needs and the integration
// step adapts the real components to them: Transport (the tunnel manager),
// Admission (trust store + registry check_trust caches, §8), MemberLister
// (registry list_nodes, §12), Events (webhooks, services.md §8.3) and Self
// (our node ID). The integration step also passes IPC routing hooks:
// Config.DeliverDatagram (ipc.Server.DeliverDatagram) and Config.PortTaken
// (ports owned by IPC clients, for the ephemeral allocator).
//
// # Packet path (never blocks)
//
// HandlePacket runs on the tunnel's socket reader. It matches stream
// packets on (local port, peer node, peer port) — networks are ignored
// (§1.5). When nothing is queued for the connection and its mutex is free,
// the reader runs the engine itself (handleInline: no copy, no goroutine
// hand-off);
// otherwise it copies the packet into the connection's bounded mailbox,
// keeping the arrival order; a full mailbox drops the packet, which the
// stream engine recovers like any loss. SYNs and datagrams that need an admission
// verdict are parked (at most 256 daemon-wide, at most 5 s) while the
// Admission implementation decides; answers arrive through a callback.
//
// # Connection goroutine
//
// Each connection owns one goroutine (connloop.go) that feeds its
// stream.Conn with mailbox packets and timer ticks, calls Output after
// every Handle, Tick, Write, Read and Close, and reports events (dial
// complete, readable, writable, end of stream) to the IPC sink or the
// net.Conn adapter. Application calls (Send, Read, Close) and the inline
// packet path run the engine under the connection's mutex and re-arm the
// goroutine's timer themselves when the engine's next deadline moved
// earlier (settleLocked); the goroutine is woken only to exit. Waking it
// after every call cost two thread switches per packet.
//
// # Locks
//
// DataPlane.mu guards the connection table, listeners, port bookkeeping and
// the rate-limit maps. conn.mu guards one engine. Order: conn.mu may be held
// while taking DataPlane.mu (a connection removing itself from the table);
// never the reverse. Fields read across the two (state, peer ISN) are
// atomics. Transport.Send and Events.Emit may be called with conn.mu held
// and must not block; Sink methods are called with no lock held. Loopback
// packets go through their own goroutine, so a sender never re-enters the
// packet path while holding its lock.
//
// # Interpretations
//
//   - The accept queue of §9.15 exists only for built-in listeners: an IPC
//     listener's Sink.Accept takes a connection synchronously.
//   - "At most 10 broadcasts per second per IPC client": clients are told
//     apart by the datagram's source port (ipc.Datagram carries no client).
//   - Tuples count against the connection caps in every state, TIME_WAIT
//     included; a dial beyond the total cap fails with code 8.
//   - At shutdown, connections still in FIN_WAIT after the 1 s wait are
//     reset when the goroutines stop.
package dataplane
