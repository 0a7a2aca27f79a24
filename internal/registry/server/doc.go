// Package server is the registry's network front end (registry.md §1–§3):
// one TCP port that carries the binary registry protocol, TLS and a small
// HTTP surface, told apart by sniffing the first bytes of each connection.
//
// # Framing (§1)
//
//	+----------------------------+---------------------------------+
//	| length u32 big-endian (4)  | body: one UTF-8 JSON object     |
//	+----------------------------+---------------------------------+
//	  0..65,536 accepted; larger → one message_too_large error frame,
//	  the body is never read, then the connection is closed.
//
// Each connection is served by one goroutine that reads a frame, hands its
// body to the Dispatcher, writes the reply and only then reads the next
// frame: requests of one connection are handled one at a time and replies go
// out in arrival order, so clients may pipeline. Malformed bodies (empty,
// not JSON, not an object) are the Dispatcher's business; the server only
// enforces framing, sizes and timeouts:
//
//	first byte of a frame      must arrive within IdleTimeout (default 5 min)
//	rest of the frame          within FrameTimeout of the first byte (30 s)
//	reply write                within WriteTimeout (30 s)
//
// # Sniffing (§1.1)
//
//	first 4 bytes              action
//	00 …                       registry frames (refused with failed_precondition
//	                           on a TLS registry without AllowPlain)
//	16 …                       TLS handshake (when TLS is on), then sniff again
//	"GET " "HEAD"              HTTP surface (§3), served by net/http
//	POST PUT  DELE PATC OPTI   "405 Method Not Allowed", close
//	"PILT", anything else      close without reply
//
// The server waits FrameTimeout (default 30 s, the spec's sniff wait) for
// the four bytes.
//
// # Connection caps
//
// Over MaxConns total or MaxConnsPerIP per source IP a connection is
// accepted and closed at once, before any byte is read, and counted in
// pilot_connections_rejected_total{reason="max_conns"|"per_ip"}.
//
// # Shutdown
//
// When Run's context is cancelled the listeners close, idle connections are
// closed, requests being handled finish and get their reply (for up to
// ShutdownTimeout, 10 s), then every remaining connection is closed and Run
// returns. Dispatchers receive a context that is cancelled only when that
// grace period ends.
package server
