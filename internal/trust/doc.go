// Package trust is the daemon's trust store and the trust handshake state
// machine of services.md §5 (port 444).
//
// Trust is consent-based (registry.md §7.3): each side records its own
// approval at the registry (report_trust, request_handshake,
// respond_handshake with accept); a trust pair exists when both did. The
// local store (trust.json) is what admission consults (wire.md §8 step 3,
// IsTrusted); it never blocks on I/O.
//
// Message path (receiver, §5.1 and §5.3):
//
//	stream from P ──ReadMessage (≤ 8 KiB, 10 s, one JSON object or EOF)──►
//	Verify: 1 shape (svcmsg/handshake.Parse)
//	        2 node_id == P (the tunnel-authenticated remote node)
//	        3 now−300 s ≤ timestamp ≤ now+30 s
//	        4 registry key of P (cached; one refresh on mismatch or failure);
//	          a non-empty public_key that differs → drop (WARN)
//	        5 sig_v2 set: verify v2 string; (P, nonce) unseen for 10 min
//	        6 sig_v2 empty: drop if P has handshake-v2 or compat is off;
//	          else v1 signature verifies; SHA-256(raw) unseen for 10 min
//	──► state machine (§5.4): onRequest / onAccept / onReject / onRevoke
//
// Relayed messages arrive through Poll (poll_handshakes, run after every
// successful heartbeat) and enter the same state machine. Operator events
// (Request, Approve, Reject, Revoke) come from IPC and return the reply
// shapes of ipc.md §5.10.
//
// Sending (§5.2): every message carries a fresh nonce and sig_v2; the v1
// signature is added only when the receiver's registry capabilities lack
// handshake-v2 (or cannot be learned); encodings of 4,096 bytes or more
// are refused. Direct delivery goes through the Sender the data plane
// provides; when it fails the registry relay is used as §5.4 says.
//
// trust.json (§5.6, original format), 0600, written atomically:
//
//	{"trusted":[{"node_id":686,"public_key":"<b64>","approved_at":"2026-03-27T10:15:03Z",
//	             "mutual":true,"network":1}],
//	 "pending":[{"node_id":687,"public_key":"<b64>","justification":"…",
//	             "received_at":"2026-03-27T10:15:03Z"}]}
//
// Outgoing requests and the "relayed" mark of pending entries are runtime
// state only (the original format has no place for them).
//
// Lock order: Manager.persistMu before Manager.mu; the peer and replay
// caches have leaf locks. No lock is held across a registry call or a send.
package trust
