// Package stream is the reliable, ordered byte stream of wire.md §9
// (protocol 0x01) as a pure, deterministic state machine: received
// packets, application calls and the current time go in; packets to send
// and the next deadline come out. It has no goroutines, sockets or clock of
// its own; the daemon drives one Conn per connection:
//
//	c, _ := stream.NewDialer(cfg, now)          // or NewResponder(cfg, syn, now)
//	out = c.Output(now, out[:0])                // send these (fill addresses/ports)
//	c.Handle(pkt, now); out = c.Output(now, out[:0])
//	c.Write(b); c.Read(b); c.Close(now)         // then Output again
//	at := c.NextDeadline(); ... c.Tick(at)      // then Output again
//	ev := c.Events()                            // Established, Readable, Writable, EOF, Reset, Closed
//
// # States (§9.1)
//
//	 NewDialer                          NewResponder (SYN)
//	     |                                    |
//	     v    SYN-ACK (ack = ISN+1)           | send SYN-ACK
//	SYN_SENT ------------------------> ESTABLISHED <-----+
//	  |  RST: refused                   |   |   |        |
//	  |  dial timeout                   |   |   | dup SYN: same SYN-ACK
//	  v                                 |   |   +--------+
//	CLOSED <----- RST, give-up, --------+   |
//	  ^           dead peer, abandoned      | Close: data acked, bare FIN
//	  |           data (rule 3)             v
//	  |                                  FIN_WAIT --- 8 FINs unanswered: RST
//	  |                                     | ACK ≥ FIN+1, any FIN+ACK,
//	  |    -time-wait (10 s)                | bare FIN (answered by pure ACK)
//	  +------------------ TIME_WAIT <-------+
//	                         ^
//	                         +--- ESTABLISHED: FIN at rcv.nxt (bare: one FIN+ACK
//	                              answer; FIN+ACK: no answer); a FIN beyond a hole
//	                              is held until the hole fills
//
// SYN_RECV exists only while the SYN-ACK is being built: a responder is
// ESTABLISHED from the start and may send data before the final ACK.
//
// # Timers
//
//	SYN retransmission   1 s doubling, cap 8 s; Config.DialTimeout (30 s) → dial timeout
//	RTO (RFC 6298)       initial 1 s, min 200 ms, max 10 s, Karn, backoff (reset on progress)
//	give-up              60 s without progress and ≥ 6 RTOs → RST, reset (timeout)
//	FIN retransmission   RTO schedule, 8 transmissions, then RST
//	delayed ACK          every 2nd segment or ≤ 40 ms (min(40 ms, SRTT/2) once an RTT is known)
//	RACK reordering      a hole is lost once a segment sent ≥ minRTT/4 after it was delivered
//	                     and an RTT plus that window has passed (RFC 8985)
//	tail loss probe      2·SRTT (+40 ms with one segment in flight); ours: repeated with
//	                     doubling until the RTO, resending the first hole
//	pacing               gain × cwnd / SRTT (2 in slow start, 1.2 after), bursts ≤ 10 segments
//	Nagle (off)          40 ms hold of a sub-MSS tail while data is unacknowledged
//	keepalive            Config.Keepalive (30 s) of silence → probe (seq snd.una−1, 1 byte)
//	idle / dead peer     Config.IdleTimeout (120 s) without any packet → RST, reset
//	TIME_WAIT            Config.TimeWait (10 s)
//
// # Compatible with the original, and ours
//
// Compatible (§9.16): the SYN / SYN-ACK / ACK layout and the responder's
// immediate ESTABLISHED; the SYN-ACK with seq 0 and the stale-seq duplicate
// SYN-ACK of the original; data segments with ACK, at most MSS, exact
// original boundaries on retransmission and no overlap; the in-payload SACK
// encoding; the window in 4,096-byte units with 0 meaning no limit; the
// bare FIN to close, FIN+ACK to answer, never an answer to a FIN+ACK (so a
// close takes at most three FIN-flagged packets).
//
// Ours: random ISNs; SACK-pattern avoidance (a segment starting "SACK" n is
// cut to 4 + 8·n bytes); strict SACK parsing and SACK as duplicate ACK;
// RFC 6675 recovery (scoreboard, pipe, NextSeg) with proportional rate
// reduction (RFC 6937) and RACK-TLP; detection of spurious fast
// retransmissions on reordering paths, which undoes the episode's window
// reduction and widens RACK's reordering window (undo.go); CUBIC (RFC
// 9438, fast convergence) or
// NewReno; initial window 10; cwnd 1 segment on RTO; pacing; window never
// advertised as 0, the segment-count limit and persist behaviour on a peer
// window of 0; reassembly that uses partial overlaps and holds up to 1,024
// out-of-order ranges; per-connection buffers charged to a daemon-wide
// MemoryBudget (§9.15); window updates; abandoned-data detection; answerable
// keepalive probes; Nagle off by default.
//
// Left to the daemon: matching packets to connections, admission, caps and
// rate limits; a SYN on a TIME_WAIT tuple (drop the old Conn and start a
// NewResponder); RSTs for unknown connections; the relay switch after two
// SYN timeouts (SYNTransmissions); the 2 s drain bound at shutdown (Abort);
// calling Output after every Handle, Tick, Write, Read and Close. Packet
// payloads returned by Output alias the engine's buffers until the next
// call. A connection's memory is released to the MemoryBudget when it
// reaches CLOSED; bytes still unread stay readable.
//
// Interpretations: a FIN below rcv.nxt with no FIN held is taken as the
// close at rcv.nxt; rule 3 (abandoned data) triggered by a FIN+ACK resets
// without sending an RST (a FIN+ACK is never answered); an ACK after
// snd.nxt is ignored but its payload is still processed as data.
package stream
