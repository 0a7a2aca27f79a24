// Package e2e is the end-to-end suite of the four programs: it builds
// pilot-registry, pilot-beacon, pilot-daemon and pilotctl once (TestMain),
// starts them as real processes on loopback with temporary directories, and
// drives the daemons only through `pilotctl --json` (cli.md §4), checking
// the envelopes and exit statuses of cli.md §4.2–§4.3:
//
//	go test ──► pilotctl --json … ──IPC──► pilot-daemon ══UDP tunnel══ pilot-daemon
//	                                            │   └──── beacon (UDP) ───┘   │
//	                                            └──── pilot-registry (TCP) ───┘
//
// Covered: trust handshake, ping, echo, file transfer, pub/sub, and the
// enterprise features of `pilotctl network` (roles and their boundaries,
// policies enforced on real traffic, invites persisted across a registry
// restart, audit actors, key expiry, fleet auto-join across daemon
// restarts, webhooks). The registry's own process tests live in
// e2e/registry. Every wait polls a condition under a deadline.
package e2e
