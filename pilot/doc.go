// Package pilot is the Go SDK of the Pilot overlay network: it talks to the
// local pilot-daemon over its IPC socket (ipc.md) and exposes Pilot streams
// and datagrams as the standard net.Conn, net.Listener and net.PacketConn.
//
//	conn, err := pilot.Dial(ctx, "pilot", "0:0000.0000.02AE:1000")
//	ln, err := pilot.Listen(ctx, "pilot", ":1000")
//	pc, err := pilot.ListenPacket(ctx, "pilot", ":0")
//
// Addresses are Pilot socket addresses "N:XXXX.XXXX.XXXX:port" (network in
// decimal, network and node in hex). The daemon socket is WithSocket's path,
// else $PILOT_SOCKET, else /tmp/pilot.sock. A Client (Connect) shares one
// IPC connection among many connections; the package-level functions give
// each returned object its own.
//
// Protocol (ipc.md §11): the client sends Hello asking for tagged,
// datagram-bind and close-reason. In tagged mode every request carries a
// fresh non-zero tag and replies are matched by tag, so a slow Dial never
// delays another request. Against an original daemon, which answers
// "unknown command: 0x42", it falls back to the legacy protocol (replies
// matched in order, no 0x40–0x4F commands). One goroutine reads the socket
// and files Accept by local port and Recv and CloseOK by connection ID
// into per-connection buffers, so a slow consumer of one connection never
// stops the others; writers are flow-controlled by the daemon's Send OKs
// (at most 8 chunks of 256 KiB outstanding per connection). Listener.Close
// sends Unbind; Conn.Close sends Close and does not wait. Read and write
// deadlines work; the write deadline bounds the wait for the Send's OK.
//
// Errors reported by the daemon are *Error values carrying its Code.
package pilot
