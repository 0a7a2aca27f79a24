// Package registrye2e is the black-box proof campaign of pilot-registry
// (shared/spec/registry.md): its tests build the real binary once per test
// run, start it the way an operator does (fresh -data-dir, -admin-token,
// -log-format json, a loopback -listen address), kill and restart it, and
// drive it over TCP with internal/regclient or with raw frames.
//
//	go build ./cmd/pilot-registry ──► Proc (os/exec) ──stderr──► "registry listening" addr
//	                                     ▲   │ SIGKILL / SIGTERM, restart on the same
//	regclient / raw [u32 len]{json} ─────┘   │ -data-dir and port
//	                                         ▼
//	                           audit verify, lookup, list_* checks
//
// The non-test files hold the harness (process control, signed raw frames,
// small request helpers) so that bench/registry can reuse it; the tests
// are the spec items they prove:
//
//   - crash_test.go: §13.2 guarantee 2 and §14 item 70 (acknowledged =
//     durable under SIGKILL), item 17 (replay refused across a restart),
//     item 54 (poll_handshakes drains once across a crash), item 45
//     (pending invites survive a restart), and `audit verify` afterwards.
//   - property_test.go: item 33, the invariants of §6.3 after random
//     operation sequences across graceful and SIGKILL restarts, checked
//     against a model kept by the test.
//   - fuzz_test.go: random frames and bodies on the request path never
//     crash the registry, never get an `internal` reply and never change
//     its state (audit chain head unchanged).
//   - harness_test.go: the checks above can fail (false facts are
//     reported, a real mutation moves the audit head).
//
// Longer variants run with PILOT_LONG=1 (and without -short); PILOT_SEED
// replays a logged seed.
package registrye2e
