// Package daemon is the control plane of pilot-daemon and its composition
// root: configuration (cli.md §3.1), identity, registration with the
// registry, heartbeats and re-registration, fleet auto-join (§3.4), key
// rotation (§4.8), the admission cache (wire.md §8) and the wiring of the
// trust component (internal/trust) and the webhook sink
// (internal/webhook). The data plane (tunnel, streams, IPC, services) is
// wired by the integration step at the seams marked SEAM(integration) in
// daemon.go.
//
// Life of a daemon (cli.md §3.1):
//
//	Parse ─► New: state dir (0700), identity.json (created 0600 when
//	         missing, never replaced), regclient, webhook, trust.json
//	Run:  Registrar.Run ── register (auth v2 proof, capabilities, version,
//	      │                hostname, owner, lan_addrs, listen_addr)
//	      │                retry 1 s doubling to 30 s while unreachable
//	      ├─ OnRegistered ─► set_visibility (-public), AutoJoiner.Trigger
//	      └─ every -heartbeat: heartbeat
//	           ok        ─► Health ok, key.expiring rule, policy_epoch
//	                        (admission cache dropped, memberships synced),
//	                        trust Poll (poll_handshakes)
//	           not_found ─► re-register (same key → same node ID)
//	           3 failures ─► re-register (with backoff until it succeeds)
//	      re-registration re-applies hostname, visibility and auto-join
//	ctx cancelled ─► webhooks drain ≤ 5 s; never deregister, never leave
//
// Key rotation (keys.go) stages the new key in identity.json.next and
// resolves an unknown outcome by asking the registry which key it holds:
// before each heartbeat at run time, and at start by registering with the
// current key first (the registry refuses a retired key) and with the
// pending one after such a refusal.
//
// Goroutines: Run starts and waits for the webhook worker, the auto-join
// loop, the poll loop and the registrar; nothing is fire-and-forget.
// Lock order inside Registrar: opMu before mu.
package daemon
