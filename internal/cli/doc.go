// Package cli implements pilotctl, the operator's and agent's command line
// (cli.md §4). Every command talks to the local pilot-daemon over its IPC
// socket (ipc.md): control commands through a small one-request-at-a-time
// client (ipcclient.go), stream commands (ping, bench, connect, send, recv,
// send-file, send-message, subscribe, publish) through the pilot SDK.
//
// Output contract (cli.md §4.2): in text mode human output goes to stdout
// and errors to stderr as "error: <message>" plus an optional
// "hint: <what to do>" line; with --json (accepted anywhere on the command
// line) success is exactly one line {"status":"ok","data":…} on stdout
// (subscribe: one line per event) and failure one line
// {"status":"error","code":…,"message":…,"hint"?:…} on stderr. The exit
// status follows the code (cli.md §4.3): invalid_argument 2, not_running 3,
// permission_denied/unauthenticated/auth_required 4, not_found 5, timeout 6,
// every other failure 1.
//
// Files: root.go (cobra tree, global flags, Main), errors.go (codes and exit
// statuses), output.go (printer and tables), ipcclient.go (IPC command
// client), target.go (target resolution), config.go (~/.pilot/config.json),
// duration.go, progress.go, and one file per command group: status.go,
// stream.go, services.go, trust.go, keys.go, webhook.go, daemon.go,
// network.go (with network_text.go).
package cli
