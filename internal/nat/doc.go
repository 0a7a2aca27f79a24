// Package nat is the daemon side of the beacon protocol (beacon.md §3, §5,
// §6; wire.md §7.2–§7.5): discovery of our own public mapping, hole-punch
// requests and commands, and relay encapsulation. It owns no socket: every
// message leaves through the daemon's tunnel socket (Config.Send), so the
// beacon observes the tunnel's own mapping (beacon.md §11 obligation 1),
// and every beacon message arrives through the tunnel layer's single socket
// reader, which hands datagrams whose first byte is below 0x10 to
// Client.Handle.
//
// Messages sent and accepted (internal/wire/beaconmsg):
//
//	sent      01 Discover      node 0, zero-padded to 21 bytes (start-up, 1 s × 3)
//	                           signed, 78 bytes (once registered, every 25 s ± 10 %,
//	                           and before a punch request when the last is > 10 s old)
//	          03 PunchRequest  own ID ‖ target, zero-padded to 21 bytes
//	          05 Relay         own ID ‖ peer ‖ tunnel frame
//	accepted  02 DiscoverReply observed endpoint → Observed; a change calls OnEndpoint
//	          04 PunchCommand  3 × PILP 20 ms apart (≤ 10 commands/s); within 5 s
//	                           of our request for P: candidate for P (OnCandidate)
//	          06 RelayDeliver  returned to the tunnel layer for processing
//
// Only datagrams whose UDP source equals Config.Beacon are accepted
// (wire.md §4.1); everything else is dropped by Handle.
//
// # Goroutines and locks
//
// Run owns the two goroutines of the package and waits for them: the
// discovery loop (signed Discover every 25 s ± 10 % once SetNode was
// called) and the punch loop (PILP bursts, fed by a bounded channel so the
// socket reader never waits). Handle runs on the caller's goroutine (the
// tunnel's socket reader) and never blocks: callbacks it makes must not
// block either. Client.mu guards the discovery and punch-request state; it
// is a leaf lock and is never held while a callback runs.
package nat
