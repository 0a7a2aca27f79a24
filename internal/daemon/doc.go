// Package daemon is pilot-daemon's composition root: configuration
// (cli.md §3.1), identity, registration with the registry, heartbeats and
// re-registration, fleet auto-join (§3.4), key rotation (§4.8), the
// admission cache (wire.md §8), the trust component (internal/trust), the
// webhook sink (internal/webhook), the UDP tunnel (internal/tunnel with
// its beacon client internal/nat), the data plane (internal/dataplane),
// the built-in services (internal/services/*) and the IPC socket
// (internal/ipc), whose Control half this package implements (control.go,
// registryop.go, pages.go).
//
// Wiring (wiring.go, adapters.go):
//
//	UDP socket (-listen, 4 MiB) ─ tunnel.Manager ─ Deliver ─► dataplane
//	      ▲ beacon discovery, punching, relay (-beacon)          │
//	      └──────────── tunnelTransport (Send, Resolve) ◄────────┤
//	admission: public ▸ trust store ▸ AdmissionCache (check_trust, policies)
//	dataplane ─ DeliverDatagram ─► ipc.Server ◄─ backend{DataPlane, control}
//	dataplane.ServeBuiltin: 444 trust (ReadMessage ▸ HandleMessage),
//	     7 echo, 1001 dataexchange, 1002 eventstream, 1003 tasksubmit
//	events: registrar, auto-join, trust, tunnel, dataplane, services ─► webhook
//
// Life of a daemon (cli.md §3.1):
//
//	Parse ─► New: state dir (0700), identity.json (created 0600 when
//	         missing, never replaced), regclient, webhook, trust.json,
//	         UDP socket, tunnel, data plane, IPC socket (0600)
//	Run:  tunnel, beacon endpoint discovery (≤ 3 s; -endpoint skips it)
//	      Registrar.Run ── register (auth v2 proof, capabilities, version,
//	      │                hostname, owner, lan_addrs, listen_addr)
//	      │                retry 1 s doubling to 30 s while unreachable
//	      ├─ OnRegistered ─► tunnel node ID, set_visibility (-public),
//	      │                  AutoJoiner.Trigger
//	      └─ every -heartbeat: heartbeat
//	           ok        ─► Health ok, key.expiring rule, policy_epoch
//	                        (admission and member caches dropped,
//	                        memberships synced), trust Poll
//	           not_found ─► re-register (same key → same node ID)
//	           3 failures ─► re-register (with backoff until it succeeds)
//	      IPC server and built-in services start without waiting for the
//	      registry (commands that need it answer unavailable meanwhile)
//	ctx cancelled ─► IPC closed (socket removed) ─► data plane shutdown
//	      (FINs, ≤ 2 s drain) ─► tunnel closed ─► webhooks drain ≤ 5 s;
//	      never deregister, never leave networks
//
// Key rotation (keys.go) stages the new key in identity.json.next and
// resolves an unknown outcome by asking the registry which key it holds:
// before each heartbeat at run time, and at start by registering with the
// current key first (the registry refuses a retired key) and with the
// pending one after such a refusal.
//
// Goroutines: Run starts and waits for the webhook worker, the tunnel,
// the auto-join loop, the poll loop, the registrar and the IPC server;
// admission misses run on short goroutines bounded by the data plane's
// parking limit (256) and by ParkTimeout. Nothing else is fire-and-forget.
// Lock order inside Registrar: opMu before mu.
package daemon
