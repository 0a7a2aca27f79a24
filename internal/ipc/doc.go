// Package ipc is the daemon side of the local IPC socket (ipc.md): it owns
// the Unix socket, the clients and their goroutines, and implements every
// rule of the protocol that does not need the network — socket creation and
// peer checks (§1), framing (§2), the execution and reply-order model (§3),
// Hello, Tagged mode and the outstanding-request cap (§10.2–10.3), port
// ownership (Bind, Unbind, datagram ports), datagram routing (§5.8),
// CloseOK/ConnClosed rules (§5.6, §10.7) and Managed (§5.20). Everything
// else is forwarded to a Backend, which the daemon implements.
//
// Goroutines per client (all waited for by Server.Run):
//
//	readLoop ──decode──► handle ──► one executor per request ──► Backend
//	   │ (legacy: reserve a reply slot in arrival order)      │
//	   │ (same conn ID / port: chained in arrival order)      ▼
//	   ▼                                         slot filled / tagged reply
//	pauses while unsent data ≥ 16 MiB                         │
//	(a Send that cannot wait runs inline: sendInline)         ▼
//	Backend ──Sink.Accept/Readable──► writeLoop (single writer of the socket):
//	  legacy slots in order, tagged replies, Accept/RecvFrom, then one
//	  ≤ 64 KiB Recv chunk per readable connection, round-robin
//
// Stream data is pulled: the writer calls Conn.Read only when the client's
// socket takes data, so a client that stops reading leaves the data in the
// connection's receive buffer and closes its window, affecting only itself
// (§3.3). A connection becomes readable only after the DialOK or Accept that
// introduces it has been written, and its end of stream (the *EndOfStream
// returned by Read after the last byte) produces the unsolicited
// ConnClosed/CloseOK, so both §3.2 order guarantees hold by construction.
//
// readLoop reads every Send frame into one reused buffer
// (ipcmsg.ReadFrameReusing): the inline path hands the bytes to Conn.Send,
// which does not keep them, and a Send that must wait for an executor is
// copied first. Bulk data thus costs no allocation per frame.
//
// Datagram routing lives here because the server knows the bindings: the
// daemon hands every inbound datagram for a client port to
// Server.DeliverDatagram.
//
// Locks: Server.mu and client.mu are never held together and never while
// calling the Backend or a Conn, so the Backend may call Sink methods while
// holding its own locks.
package ipc
