// Package regmsg is the typed codec of the registry protocol
// (shared/spec/registry.md): frames, the strict request decoder, one struct
// per request and reply message, and the auth v2 canonical strings and
// legacy v1 challenges that signatures cover.
//
// A frame (§1) is a big-endian u32 body length followed by the body, one
// UTF-8 JSON object of at most 65,536 bytes:
//
//	+--------+--------+--------+--------+----------------------------+
//	|          body length (u32 BE)     | body: {"type":"…", …}      |
//	+--------+--------+--------+--------+----------------------------+
//
// Requests are decoded by a strict parser of its own rather than by
// encoding/json struct decoding, because §4.1 demands exact case-sensitive
// keys, invalid_argument for duplicate keys and for null, and ignoring
// unknown keys whatever they hold. DecodeRequest checks the whole shape of
// §6.4 step 1 (types, ranges, regexes and limits of §4.3, §7 and §8), so
// the server only applies rules that depend on the signer or on state.
// Signed parameters follow table 5.4; CanonicalV2 builds the exact bytes of
// §5.1:
//
//	pilot-reg-v2 LF type LF signer LF ts LF nonce [LF p1 … LF pn]
//
// Replies are plain structs marshalled with MarshalReply (type first, no
// HTML escaping, never an "error" key in a success reply).
//
// Files and the spec sections they implement:
//
//	framing.go           §1    frames, 65,536-byte cap
//	strictjson.go        §4.1  strict JSON parser (duplicates, depth, UTF-8)
//	fields.go            §4.3, §4.4  value rules, pagination
//	errors.go            §4.2  error codes, *Error
//	names.go             §8    name rules, limits, expiry parsing
//	request.go           §4.1, §6.4 step 1  Request, DecodeRequest, MarshalRequest
//	encode.go            —     request encoder (client side)
//	auth.go              §5.1, §5.5  canonical string, v1 challenges, AuthVersion
//	nodes.go             §7.1  node lifecycle requests
//	attrs.go             §7.2  node attribute requests
//	trust.go             §7.3  trust and handshake requests
//	networks.go          §7.4  network requests
//	members.go           §7.5, §7.6  roles and policies
//	invites.go           §7.7  invites
//	audit.go             §7.8, §9.3  audit query, action names
//	directory.go         §7.9, §7.10  polo score, beacons
//	replies*.go          §4.1, §7  reply envelope and reply structs
//
// Interpretations where the specification leaves room are marked in the
// comments of the fields concerned. Pure package: no I/O, no clock, no
// goroutines.
package regmsg
