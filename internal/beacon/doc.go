// Package beacon is pilot-beacon's server (beacon.md): endpoint discovery,
// signed discover verification, hole-punch coordination, relay between
// daemons and between clustered beacons.
//
// Messages (internal/wire/beaconmsg, beacon.md §2), first byte = type:
//
//	01 Discover      node u32 [‖ 01 ‖ ts u64 ‖ sig 64]   → 02 ‖ endpoint to the source
//	03 PunchRequest  requester u32 ‖ target u32          → 04 ‖ endpoint to each side
//	05 Relay         sender u32 ‖ dest u32 ‖ frame       → 06 ‖ sender ‖ frame to dest
//	                                                       (or 05 unchanged to one peer beacon)
//	07 Sync          beacon u32 ‖ count u16 ‖ IDs        from peer beacons only
//
// # Goroutines
//
// Run owns every goroutine and waits for all of them:
//
//   - readLoop (the caller of Run): the socket's only reader. It parses,
//     applies rate limits, updates the node table and sends the small
//     replies (DiscoverReply, PunchCommand). It never waits for anything
//     but the socket: relay jobs and signed discovers are queued with a
//     non-blocking send to bounded channels and dropped (counted) when full
//     (the relay queue holds at most -relay-queue jobs and 64 MiB).
//   - relayLoop × RelayWorkers: deliver or forward queued relay jobs.
//   - verifyLoop × VerifyWorkers: registry key lookups and Ed25519 checks.
//   - syncLoop (Sync to peers, 10 s), peerLoop (static peer resolution and
//     the registry directory, 30 s), reapLoop (expiry, ≤ 30 s), statsLoop
//     (INFO statistics, ≤ 1/min) and a watcher that closes the socket when
//     ctx ends.
//
// # Shared state and locks
//
// The node table and peer map share one mutex (table.mu); the key cache
// has its own (verifier.mu). Both are leaf locks: no code holds two locks.
// Rate limiters are owned by the read loop and need no lock. The peer set
// is an immutable snapshot behind an atomic pointer; counters are atomics.
//
// # Reply source
//
// Every message sent to a node leaves from the local address the node sent
// to (beacon.md §1). On a wildcard listener this uses per-packet source
// selection with IP_PKTINFO / IPV6_PKTINFO control messages (socket.go).
//
// # Clock
//
// Config.Now drives the node table, the peer map, the key cache, signed
// timestamp checks and the token buckets, so tests control expiry and
// refill without sleeping. Tickers (sync, reap, directory) use real time.
package beacon
