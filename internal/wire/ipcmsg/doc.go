// Package ipcmsg encodes and decodes the messages of the local IPC between
// applications and pilot-daemon (ipc.md). Commands 0x01–0x24 are
// byte-compatible with the original implementation, so its driver and its
// pilotctl keep working; 0x40–0x4D are our extensions (ipc.md §10).
//
// Framing (ipc.md §2), both directions, integers big-endian:
//
//	+--------+--------+--------+--------+-------+------------------+
//	|        length (u32, bytes after it)  |  cmd  |  payload ...     |
//	+--------+--------+--------+--------+-------+------------------+
//
// length is at most MaxMessage (1,048,576); a zero length is ignored.
// Layouts of the payloads (addr6 = u16 network ‖ u32 node, wire.md §1.1):
//
//	0x01 Bind        u16 port                    0x02 BindOK      u16 port
//	0x03 Dial        addr6 ‖ u16 port            0x04 DialOK      u32 conn
//	0x05 Accept      u16 local port ‖ u32 conn ‖ addr6 remote ‖ u16 remote port
//	0x06 Send        u32 conn ‖ data             0x07 Recv        u32 conn ‖ 1..65,536 bytes
//	0x08 Close       u32 conn                    0x09 CloseOK     u32 conn
//	0x0A Error       u16 code ‖ UTF-8 text (§4)
//	0x0B SendTo      addr6 ‖ u16 dst port ‖ data
//	0x0C RecvFrom    addr6 src ‖ u16 src port ‖ u16 dst port ‖ data
//	0x0D Info        —                           0x0E InfoOK      JSON (§6)
//	0x0F Handshake   u8 sub ‖ …  (§5.10)         0x10 HandshakeOK JSON
//	0x11 ResolveHostname, 0x13 SetHostname, 0x1B SetWebhook: UTF-8 text
//	0x15 SetVisibility, 0x1D SetTaskExec: u8     0x17 Deregister, 0x21 Health: —
//	0x19 SetTags     JSON array of strings
//	0x1F Network     u8 sub ‖ …  (§5.18)         0x23 Managed     u8 sub ‖ … (§5.20)
//	0x12 … 0x24 (request + 1): JSON replies
//	0x40 RegistryOp  JSON {"op":…}               0x41 RegistryOpOK JSON
//	0x42 Hello       JSON                        0x43 HelloOK     JSON
//	0x44 Tagged      u32 tag ‖ inner request     0x45 TaggedReply u32 tag ‖ inner reply
//	0x46 OK          —                           0x47 ConnClosed  u32 conn ‖ u8 reason ‖ detail
//	0x48 Unbind      u16 port                    0x49 UnbindOK    u16 port
//	0x4A DialEx      addr6 ‖ u16 port ‖ u32 timeout ms ‖ u8 flags
//	0x4B ConnOpt     u32 conn ‖ u8 option ‖ value (0x4C ConnOptOK echoes it)
//	0x4D SendToFrom  addr6 ‖ u16 dst port ‖ u16 src port ‖ data
//
// DecodeRequest (client → daemon) and DecodeReply (daemon → client) are the
// two entry points; every message type also has Decode(payload) and an
// append-style AppendTo that writes cmd ‖ payload. A payload that is too
// short yields a *DecodeError whose text is exactly the original daemon's
// Error text for that command, so the daemon can send it back unchanged.
// Byte slices of decoded messages alias the input.
//
// The package is pure: no sockets, no clock, no goroutines. ReadFrame only
// reads from the io.Reader it is given.
package ipcmsg
