// Package secure is the secure channel of services.md §6: an end-to-end
// encrypted, mutually authenticated byte stream over one Pilot stream
// connection (port 443 by convention). Tunnels are already encrypted hop
// to hop; the secure channel adds application-level peer authentication,
// so that after the handshake Conn.PeerNodeID names the node that proved
// possession of its registry identity key.
//
//	conn, err := secure.Dial(ctx, "0:0000.0000.02AE:443", cfg)
//	ln, err := secure.Listen(pilotListener, cfg)
//
// v2 handshake (§6.2, the default), all integers big-endian:
//
//	client → server  ClientHello   "PSC2" | X25519 ephemeral (32) | client node (u32)        40 bytes
//	server → client  ServerHello   "PSC2" | X25519 ephemeral (32) | server node (u32) | sig_s 104 bytes
//	client → server  ClientFinish  sig_c (64)                                                 64 bytes
//
// sig_s and sig_c are Ed25519 signatures by the nodes' identity keys over
// the transcript; each side verifies the other's under the key the
// registry publishes for that node (KeyStore), refreshed once on failure
// so that key rotations work. The client requires the server to be the
// node it dialed, the server requires the client to be the stream's
// remote node. The whole handshake has a 10 s deadline and any failure
// closes the stream without sending anything further.
//
// Records (§6.3), in both directions after the handshake:
//
//	length (u32) = 12 + n + 16 | prefix (4) | counter (u64) | AES-256-GCM ciphertext (n) | tag (16)
//
// Writes are cut into records of at most 64 KiB of plaintext. The receiver
// requires the right direction prefix and exactly the next counter; a
// tampered, repeated, skipped or reordered record closes the channel.
//
// No silent downgrade (§6.1): the original mode (§6.4, one shared key, no
// or optional weak authentication) is used only when Config.AllowOriginal
// is set and the peer's registry capabilities lack "secure-v2". A dialer
// that sees "secure-v2" never tries it, and a failed v2 handshake is an
// error, never a retry in original mode. A listener reads the first 4
// bytes: "PSC2" selects v2, anything else is accepted as the start of an
// original 32-byte key only under the same two conditions.
//
// The byte formats and cryptography live in the pure codec
// internal/wire/svcmsg/secure; this package adds the I/O, deadlines and
// key lookups.
//
// The keys come from the registry through the application's KeyStore. The
// SDK (package pilot) does not yet expose the daemon's registry lookup
// (ipc.md §10.4, RegistryOp "lookup"), so an application supplies a
// KeyStore backed by its own lookup; NewCache adds the caching and the
// forced refresh of §6.2 around any lookup function.
package secure
