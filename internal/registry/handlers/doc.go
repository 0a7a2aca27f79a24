// Package handlers implements the request handling layer of pilot-registry
// (shared/spec/registry.md §5–§12): it turns one decoded request into one
// reply, reading and writing the store, and it owns the order of checks of
// §6.4, which every message follows literally:
//
//	body ─► 1 shape (regmsg.DecodeRequest) ─► 2 rate limits (IP keyed)
//	     ─► 3 authentication (§5.2, or legacy v1 §5.5) ─► 2' rate limits (signer keyed)
//	     ─► 4 relations within the request ─► 5 the named network
//	     ─► 6 authorization (§6.1 chain, §6.2 matrix) ─► 7 state rules (§7)
//	     ─► one store transaction: state change + audit rows + nonce + policy_epoch
//	     ─► commit ─► audit log records (§9.1) ─► reply
//
// Files: handler.go (Handler, Handle, the pipeline), route.go (message →
// handler), auth.go (§5.2, §5.5), sigbatch.go (the Ed25519 checks of
// concurrent requests verified together in one batch, edbatch),
// nonces.go (in-memory replay cache),
// ratelimit.go (§12), authz.go (§6.1, §6.2), txn.go (transactions and audit
// emission, §9.1, §13.2), page.go (§4.4), and one file per message domain
// of §7: nodes.go, keys.go, attrs.go, trust.go, handshakes.go,
// networks.go, lists.go, members.go, policies.go, invites.go, audit.go,
// reputation.go, directory.go; sweeper.go is the reaper of §11; seen.go
// keeps heartbeats' last_seen in memory and writes it in batches (§7.1.2),
// so that a heartbeat touches no store write.
//
// Errors are *regmsg.Error values whose messages are specific sentences;
// they never contain tokens, nonces or signatures. Store errors that no rule
// explains become `unavailable` (store closed, context ended) or `internal`
// (logged).
package handlers
