// Package identity holds a node's Ed25519 identity: key generation, the
// identity file of the daemon's state directory, signing and strict
// verification, the registry auth v2 nonce, and the RFC 8785 (JCS)
// canonicalisation behind the registry's audit hash chain.
//
// # Identity file (cli.md §3.2, §3.1 -identity)
//
// <state-dir>/identity.json, mode 0600 in a 0700 directory, is the original
// implementation's format, indented with two spaces:
//
//	{
//	  "private_key": "<std base64 of 64 bytes: 32-byte seed ‖ 32-byte public key>",
//	  "public_key": "<std base64 of the 32-byte public key>"
//	}
//
// Load checks both copies of the public key against the one derived from the
// seed, so a file edited by hand or half-copied is a start-up error naming
// the file, never a silently different node. Save is atomic (temporary file in
// the same directory, fsync, rename, fsync of the directory). LoadOrCreate
// creates a file only when none exists and never replaces an existing one,
// even a corrupt one. identity.json.next is the staging file of a key
// rotation (cli.md §4.8): SaveNext, LoadNext, CommitNext, DiscardNext.
//
// # Signatures (registry.md §5, services.md §5.2)
//
// Sign produces pure Ed25519 (RFC 8032) signatures over bytes that other
// packages build (the auth v2 canonical string, handshake strings). Verify is
// strict: wrong lengths and non-canonical S fail. NewNonce returns the
// 16-byte, base64-encoded nonce of an auth v2 request.
//
// # Audit chain (registry.md §9.2)
//
//	hash_0 = 32 zero bytes
//	hash_n = SHA-256(hash_{n-1} ‖ canonical(row_n))
//	row    = {"seq":…,"time":…,"action":…,"actor_node_id":…,"auth_via":…,"attrs":{…}}
//
// canonical is RFC 8785: object keys sorted by UTF-16 code units, no
// whitespace, only '"', '\' and U+0000–U+001F escaped (\b \f \n \r \t, else
// \u00xx), everything else (including '<', '>', '&', U+2028, U+2029 and all
// non-ASCII) written as is, integers in decimal. CanonicalJSON is the general
// serializer; CanonicalAuditRow and AuditHash apply it to audit rows.
package identity
