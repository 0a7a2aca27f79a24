// Package session is the cryptographic half of a tunnel between two daemons:
// tunnel key derivation (wire.md §5.2), sealing and opening of PILS frames
// with AES-256-GCM (§5.3), replay windows per peer nonce prefix (§6.7), the
// rekey signals of §6.9 and the PILA signature (§5.4).
//
// It is pure: no I/O, no goroutines and no clock of its own (the creation
// time and the current time are passed in). Framing lives in
// internal/wire/frame; the key-exchange rules of §6.2–§6.4, timers, queues
// and rate limits belong to the daemon's tunnel layer.
//
// # Key
//
//	shared = X25519(local private key, peer public key)   (all-zero → ErrLowOrder)
//	PRK    = HMAC-SHA256(key = 32 zero bytes, shared)
//	key    = HMAC-SHA256(key = PRK, "pilot-tunnel-v1" ‖ 0x01)
//
// DeriveKey computes it and zeroes shared and PRK afterwards.
//
// # State
//
// A State is one crypto state of §6.1 (cur[P] or prev[P]): the AES-GCM
// cipher built once from the key, our send prefix and counter, the receive
// windows keyed by the peer's prefix and the retired-prefix set, counters
// and the rekey triggers. New(Config) builds it with a random 4-byte send
// prefix read from Config.Rand (crypto/rand when nil).
//
// Sealing (§5.3): Seal appends a PILS frame
//
//	"PILS" ‖ our node ID ‖ prefix ‖ counter u64 ‖ AES-256-GCM(packet, AAD = our node ID)
//
// with counter 1 for the first frame and +1 per frame. It refuses to seal
// more than 2^32 frames (ErrExhausted), after CloseSend (a state moved to
// prev[P] is receive only), and after the peer was seen using our prefix
// (trigger (d)); all three wrap ErrSendClosed or ErrExhausted.
//
// Opening (§6.6 steps 1–6): Open checks the length and magic, the sender
// (must be the state's peer), counter ≠ 0, then the replay rules BEFORE
// decrypting: a prefix in the retired set, or a counter that is too old or
// already marked in the prefix's window, is ErrReplay. Then AES-256-GCM opens
// with AAD = frame bytes 4–7 (ErrAuth on failure), and only then is the
// counter recorded. A window for an unseen prefix is created only by an
// authenticated frame; when 8 windows exist, the least recently used one is
// retired (its prefix joins the retired set, at most 1,024 prefixes, oldest
// forgotten first) and TriggerWindowRetired is raised. A frame carrying our
// own send prefix that authenticates raises TriggerOwnPrefix and closes the
// state for sending at once.
//
// # Use by the tunnel layer
//
// The daemon keeps cur and prev per peer. Sending uses cur.Seal. Receiving
// calls OpenFirst(dst, frame, cur, prev) (prev nil once past its deadline),
// which tries the candidates in order and reports which state
// authenticated the frame (rekey confirmation when it is the new cur). After
// each successful open, and periodically, the daemon asks
// cur.Triggers(now, rekeyInterval) for the pending rekey reasons (a)–(d).
// When rekeying it calls cur.CloseSend(), moves it to prev and builds a new
// State.
//
// Concurrency: Seal, CloseSend, Triggers and the read-only accessors may be
// called from any goroutine, concurrently with each other and with Open.
// Open (and OpenFirst) mutate the replay windows and must be serialised by
// the caller (the single socket reader, or a per-peer lock).
//
// PILA (§5.4): SignPILA builds a frame signed by our identity key over
// "auth" ‖ node ID ‖ X25519 key; VerifyPILA checks a received frame against
// the Ed25519 key it carries. Matching that key against the registry is the
// daemon's job (§6.3 step 6).
package session
