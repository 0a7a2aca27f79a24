// Package tunnel is the daemon's UDP I/O owner (wire.md §4–§8, beacon.md
// §11–§12): it owns the one UDP socket, runs the key exchange, seals and
// opens PILS frames, learns endpoints, punches holes through the beacon and
// falls back to (and returns from) the relay. The crypto state itself
// (key derivation, Seal/Open with per-prefix replay windows, PILA
// signatures) is internal/tunnel/session; the beacon messages are handled
// by internal/nat; frames are internal/wire/frame.
//
// # Datagrams (§4.1, §4.2)
//
//	first byte < 0x10   beacon message, only from Config.Beacon → nat.Client.Handle
//	                    (06 RelayDeliver: the inner frame is processed "via relay",
//	                    its own sender field must equal the relay sender)
//	50 49 4C 53 PILS    sender u32 ‖ prefix (4) ‖ counter u64 ‖ AES-GCM(packet) ‖ tag   ≥ 70
//	50 49 4C 41 PILA    sender u32 ‖ X25519 (32) ‖ Ed25519 (32) ‖ signature (64)           136
//	50 49 4C 4B PILK    sender u32 ‖ X25519 (32)                                            40
//	50 49 4C 54 PILT    packet (dropped and answered with a PILA unless -encrypt=false)
//	50 49 4C 50 PILP    ignored (punch)
//
// # API for the layer above
//
// New(Config) then Run(ctx). Discover (start-up discovery through the
// tunnel socket) gives the endpoint to register; SetNodeID after
// registration releases key exchange (no PILA before it, §6.2) and starts
// signed discovers. Send never waits for the network: without keys the
// packet is queued (§6.5) and T1 runs. Inbound packets that passed §6.6
// steps 1–8 go to Config.Deliver on the reader goroutine. Resolve resolves
// a peer for a dial (the error "resolve node P: …"; nil at once for a peer
// with an authenticated state and a known path); InvalidateResolve and
// InvalidateAllResolves drop cached answers when trust forms or a new
// policy_epoch arrives; SuspectPeerLoss is the
// stream layer's hook for §6.9 (f) and the relay switch of §7.5; Teardown
// is §6.11; PeerStats, Counters and ObservedEndpoint feed IPC Info.
// Admission (§8) is the caller's: Deliver says whether the peer is
// authenticated. Control pings (§11) are delivered like any packet and
// answered by the layer above; the tunnel's own direct-path probes (§7.6)
// are pings from Config.ProbePort whose replies it consumes.
//
// # Paths (§7)
//
// First contact resolves P (successes cached 60 s, refusals 5 s — a
// private peer becomes resolvable when trust forms; the last known
// endpoint when the registry is unreachable), requests a punch when a beacon is configured,
// and sends T1 to every candidate; the source of P's first authenticated
// direct frame becomes endpoint[P]. The path switches to the relay after
// 3 s of unanswered T1, on SuspectPeerLoss(LossSYN) without recent direct
// evidence, or when P's authenticated frames arrive only through the relay
// (30 s). A relayed peer is probed directly every 5 min ± 10 %, at once when
// our observed endpoint or P's real_addr changes, and (ours) as soon as P
// reaches us directly; the probe's reply restores the direct path.
//
// # Goroutines
//
// Run starts and waits for all of them:
//
//   - readLoop: the socket's only reader. It demultiplexes, opens PILS
//     (serialising Open per peer under peer.mu), delivers packets, and
//     hands PILA/PILK to the worker pool after the cheap checks and rate
//     limits; it never waits for the registry or a signature check.
//   - workerLoop × Config.Workers: key exchange (signature check,
//     single-flight registry key fetch, state building), resolves and the
//     re-register hook. Jobs come through a bounded channel; a full pool
//     drops the job (the peer retransmits).
//   - tickLoop: the timers of every peer, every Config.Tick while a peer
//     has a short timer running (else every second at most; never without
//     peers, so an idle daemon stays asleep): T1 resend
//     with fresh keys and the 3 s relay switch, T5 retransmission, prev[P]
//     expiry, rekey triggers, queue ageing, direct retry, idle removal.
//   - nat.Client.Run: signed discovers every 25 s ± 10 % and PILP bursts.
//
// Senders (Send, SendBatch, from any goroutine) seal under peer.mu and
// write to the socket directly.
//
// # Batched I/O (batch.go, offload_linux.go)
//
// On a *net.UDPConn under Linux (unless Config.NoOffload), SendBatch seals
// a connection's packets back to back and hands each run of equal-size
// frames (the last may be shorter) to the kernel in one sendmsg with
// UDP_SEGMENT; the reader enables UDP_GRO and splits a coalesced read at
// the segment size, each datagram then taking the normal path (§6.6 steps
// 1–9, replay window and AEAD included). While the reader processes a
// coalesced read, a peer that sent in it gets a reply queue (peer.txq):
// frames sealed for it wait there and leave in segmented writes when the
// read is done (acknowledgements of a burst go out as one write; a held
// run is written as soon as it reaches 10 frames, §9.10). A lone datagram
// never waits. A segmented write refused with EIO, EINVAL,
// EMSGSIZE, ENOPROTOOPT or EOPNOTSUPP turns GSO off for good and the run is
// written frame by frame; other write errors are returned and counted per
// datagram, as Send would have. The relay path and other sockets write
// one datagram per call. The bytes on the wire are the same either way.
//
// # State and locks
//
// Manager.mu guards the peer table (peers map). Each peer's state of §6.1
// is guarded by its own peer.mu. Lock order: Manager.mu, then one peer.mu;
// never two peer locks at once; keyCache.mu and nat.Client's lock are leaves
// (the key cache is never called with a peer lock held, because a lookup
// can wait on the registry). Methods that need peer.mu held end in Locked.
// The reader owns the receive rate-limit maps, the plaintext buffer and
// the list of peers whose replies it holds (flushed under each peer.mu
// before the next read).
// Counters, our node ID and the identity are atomics. A peer removed from
// the table (Teardown, idle) is marked dead under its lock, so a goroutine
// that still holds the pointer re-fetches the entry (lockPeer).
package tunnel
