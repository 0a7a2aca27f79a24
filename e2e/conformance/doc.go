// Package conformance is an independent black-box conformance suite for
// pilot-registry, written from shared/spec/registry.md alone: it builds
// ./cmd/pilot-registry once, starts it as an operator would (fresh
// -data-dir, -admin-token, -log-format json, a free loopback port) and
// speaks the wire protocol with raw frames,
//
//	[u32 big-endian body length][UTF-8 JSON object]
//
// signing requests itself (Ed25519 over the §5.1 canonical string, built in
// the test from the spec text, never with internal/wire/regmsg). HTTP checks
// use net/http; audit checks parse the JSON log lines on stderr. Timers are
// exercised with short flag values (-stale-after, -reap-interval,
// -invite-ttl, -handshake-ttl, -node-ttl, -idle-timeout, -frame-timeout).
//
// Test files and the spec sections they cover:
//
//   - harness_test.go: process control (start, SIGKILL restart), raw frames,
//     the §5.1 canonical strings of table 5.4, the §4.1 envelope checks that
//     every reply goes through.
//   - framing_test.go: §1 caps, malformed bodies, pipelining, timeouts,
//     connection caps; §1.1 sniffing; §3 /healthz, /readyz, /metrics.
//   - envelope_test.go: §4.3 value rules, §5.2 verification order and
//     messages, §5.5 v1 refusal, §5.1 absent optional parameters, key expiry.
//   - authz_test.go: §6.2 matrix cells, §6.4 order of checks, §6.1 caller
//     fields, create_network and join_network rules.
//   - messages_test.go, messages2_test.go, invites_test.go, lists_test.go,
//     capacity_test.go: §7 replies, rules, exact messages, pagination, §8 caps.
//   - audit_test.go, events_test.go: §9 records (attribute order, exact
//     attribute sets, -log-level error), get_audit_log details and the hash
//     chain recomputed with RFC 8785, attribution of §6.1.
//   - ratelimit_test.go: §12 buckets; legacy_test.go: §5.5; misc_test.go:
//     §2 TLS, start-up log, -audit-file, beacons, purge; cli_test.go and
//     durability_test.go: §13 and cli.md §1.2 subcommands, SIGKILL durability.
//   - sec*_test.go (statement-by-statement audit, named after the section):
//     sec1_framing2 (slow-loris, idle per request, split sniff bytes, escaped
//     keys, HTTP details), sec1_ordering (pipelined read-your-writes),
//     sec1_writetimeout (30 s write timeout: the test takes about 30 s), sec2_tls
//     (generated certificate, operator certificate, missing key, TLS
//     versions, sniffing inside TLS), sec3_1_metric_values, sec4_values
//     (every node-ID field, bools, nulls, foreign fields, control characters,
//     secrets never in error texts, unsupported types), sec5_auth (nonce
//     rules, strict Ed25519, skew flag, limit/cursor unsigned, rotate and
//     reassign details, spec vectors), sec5_5_legacy, sec6_2_matrix (every
//     cell of table 6.2), sec6_3_invariants, sec6_3_concurrency, sec6_4_step5,
//     sec7_nodes, sec7_more, sec7_values2, sec7_1_10_reassign, sec9_3_values,
//     sec10_expiry, sec12_limits (buckets per IP and per signer, label sets,
//     page sizes), sec13_store (modes, -store, clear-text tokens, restore
//     refusals), cli1_flags (aliases, token sources, -config, warnings,
//     -http, -rate-limit, -integrity/-migrate).
package conformance
