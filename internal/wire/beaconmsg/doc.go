// Package beaconmsg encodes and decodes the UDP messages exchanged between
// daemons and pilot-beacon, and between clustered beacons (beacon.md §2).
//
// There are no length fields: the datagram length is authoritative and
// fields sit at fixed offsets after the type byte (always < 0x10, so a
// daemon can tell beacon messages from tunnel frames, which start with
// 0x50). Integers are big-endian.
//
//	0x01 Discover      node u32                                  5 bytes (plain)
//	                   node u32 ‖ 16 zero bytes                  21 bytes (padded, §10 rule 1)
//	                   node u32 ‖ 01 ‖ ts u64 ms ‖ sig [64]      78 bytes (signed, §4)
//	0x02 DiscoverReply endpoint                                  8 / 20 bytes
//	0x03 PunchRequest  requester u32 ‖ target u32 [‖ zeros]      9 / 21 bytes
//	0x04 PunchCommand  endpoint                                  8 / 20 bytes
//	0x05 Relay         sender u32 ‖ destination u32 ‖ frame      9 + frame (frame ≥ 4)
//	0x06 RelayDeliver  sender u32 ‖ frame                        5 + frame
//	0x07 Sync          beacon u32 ‖ count u16 ‖ count × node u32 7 + 4·count
//
// An endpoint is u8 IP length (4 or 16) ‖ IP ‖ u16 UDP port; IPv4 and
// IPv4-mapped IPv6 addresses travel as 4 bytes. A signed Discover's
// signature covers the 30 bytes "pilot-beacon-disc1" ‖ node ‖ timestamp
// (SignedDiscoverMessage).
//
// Parse is the single entry point; every message type has an append-style
// AppendTo. Parse enforces the minimum lengths of §2, rejects unknown types
// and node IDs that can never be valid where the spec says to drop them;
// everything that needs state (rate limits, tables, signature freshness)
// belongs to the beacon. Byte slices of parsed messages alias the input.
//
// The package is pure: no sockets, no clock, no goroutines.
package beaconmsg
