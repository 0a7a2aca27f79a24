// Package svcmsg groups the byte formats of the daemon's built-in services
// and of the SDK's secure channel (services.md). It holds no code itself;
// each format lives in a small pure subpackage:
//
//   - dataex: data exchange frames on port 1001, FILE payloads, reply texts
//     and stored file names (services.md §3).
//   - events: event stream events on port 1002 (services.md §4).
//   - handshake: the trust handshake JSON message on port 444 with its v1
//     and v2 signature strings (services.md §5.2, §5.3 step 1).
//   - secure: the secure channel v2 handshake messages, transcripts, key
//     schedule and AES-256-GCM records, and the original mode's key and
//     auth record (services.md §6).
//   - webhook: the webhook JSON envelope and Standard Webhooks signing
//     (services.md §8.2, §8.5).
//
// Every subpackage is pure: bytes in, typed values out and back, with no
// sockets, clock, logging or goroutines. Callers that own a connection use
// the io.Reader helpers where offered.
package svcmsg
