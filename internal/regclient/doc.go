// Package regclient is the typed client of the registry protocol
// (shared/spec/registry.md), used by the daemon, by pilotctl through the
// daemon, by the beacon and by the registry's own tests. It owns one TCP
// (optionally TLS) connection to the registry and turns each call into one
// request frame and one reply frame:
//
//	client                                   registry
//	  | [u32 BE len]{"type":"heartbeat",...}    |   request 1
//	  | [u32 BE len]{"type":"lookup",...}       |   request 2 (pipelined)
//	  |    [u32 BE len]{"type":"heartbeat_ok",…}|   reply 1
//	  |    [u32 BE len]{"type":"error",…}       |   reply 2
//
// Framing and pipelining (§1). Requests and replies are framed by
// internal/wire/regmsg. The registry answers the frames of one connection in
// arrival order and has no request IDs, so the client matches replies to
// requests by position: one writeLoop takes requests from callers, appends
// each to the FIFO of pending calls and writes its frame; one readLoop reads
// reply frames and hands each to the oldest pending call. Calls from many
// goroutines therefore share one connection without waiting for each other's
// round trips. A connection that fails (read or write error, a call that got
// no reply before its deadline, a reply that breaks the protocol) is closed,
// every pending call fails, and the next call dials a new one.
//
// Call rules (cli.md §3.3). Every call has a deadline (Config.Timeout,
// default 10 s) covering all its attempts. A transport failure is retried
// once on a fresh connection after a backoff of 0.5 s that doubles on each
// consecutive failure up to 10 s and resets after a reply. Error replies are
// returned as *regmsg.Error, and only unavailable (with backoff) and
// rate_limited (after retry_after_ms) are retried, a bounded number of times
// and only while the deadline allows.
//
// Authentication (§5, cli.md §3.1). Each attempt is signed afresh: ts from
// Config.Clock in Unix milliseconds, a new 16-byte nonce, and an Ed25519
// signature over regmsg.CanonicalV2 by the signer of the message. register
// and reassign_key are proofs of possession (signer 0): the carried key
// signs, and they always use v2. rotate_key also carries new_key_signature
// by the new key over the same canonical string. In v1 mode the messages
// that have a legacy challenge (regmsg.V1Challenge) are signed over it
// without ts and nonce; the others keep v2. Auto mode uses v2 until a
// register_ok without "v2" in auth_versions says the registry is the
// original implementation.
//
// TLS (§2.1). With Config.TLS the client speaks TLS 1.2 or later. With a
// pin (SHA-256 of the leaf certificate's DER, 64 hex digits, any case,
// optional ':' separators) only the pin is checked; without one the chain
// and host name are verified against Config.RootCAs or the system roots.
//
// Nothing secret is logged: requests are never logged, and the log lines of
// the retry paths carry only the message type, the error and the delay.
package regclient
