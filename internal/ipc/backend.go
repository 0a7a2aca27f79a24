package ipc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
)

// Backend is what the daemon provides to the IPC server: its data plane
// (listeners, stream connections, datagrams) and the local and
// registry-backed control commands. The server calls every method from
// per-request goroutines, concurrently, so implementations must be safe for
// concurrent use. A method may block (Dial, registry calls); ctx is
// cancelled when the requesting client disconnects or the server closes.
//
// Errors: return an *Error to choose the code and text sent to the client
// (texts start with the original's label, ipc.md §4); any other error is
// sent as code 1 (internal) with err.Error() as text.
type Backend interface {
	DataPlane
	Control
}

// DataPlane is the part of Backend that moves data.
type DataPlane interface {
	// Listen makes port a stream listener owned by the client behind sink:
	// the backend announces inbound connections established on it with
	// sink.Accept. The server has already checked that no other client
	// holds the port; Listen returns an error wrapping ErrPortInUse when the
	// daemon itself uses it (an enabled built-in service port), which the
	// server reports as `port N already bound` (code 4).
	Listen(port addr.Port, sink Sink) error
	// Unlisten removes a listener made by Listen: connections waiting in
	// its accept queue (not yet passed to sink.Accept) are reset;
	// established connections are unaffected (ipc.md §10.5).
	Unlisten(port addr.Port)
	// Dial opens a stream connection and returns once it is ESTABLISHED
	// (or already closed by the peer after establishing), ipc.md §5.2. The
	// client behind sink owns it. Destination node 0 and broadcast are
	// refused by the server before Dial is called.
	Dial(ctx context.Context, req DialRequest, sink Sink) (Conn, error)
	// SendDatagram sends one datagram (wire.md §10). The server has checked
	// the payload size, the source port's ownership and broadcast in
	// network 0; errors use the `sendto: …` texts of ipc.md §5.7.
	SendDatagram(ctx context.Context, d Datagram) error
}

// Control is the part of Backend that answers control commands. Replies
// documented as "verbatim" are the registry's JSON object as received.
type Control interface {
	// Identity returns our node ID and backbone address for HelloOK.
	Identity() (addr.NodeID, addr.Addr)
	// Info and Health answer from local state only (ipc.md §5.9, §5.19).
	Info(ctx context.Context) (ipcmsg.NodeInfo, error)
	Health(ctx context.Context) (ipcmsg.HealthReport, error)
	// Handshake runs one trust sub-command (ipc.md §5.10); the reply JSON
	// is one of the shapes listed there.
	Handshake(ctx context.Context, m ipcmsg.Handshake) (json.RawMessage, error)
	ResolveHostname(ctx context.Context, hostname string) (json.RawMessage, error)
	SetHostname(ctx context.Context, hostname string) (json.RawMessage, error)
	SetVisibility(ctx context.Context, public bool) (json.RawMessage, error)
	Deregister(ctx context.Context) (json.RawMessage, error)
	SetTags(ctx context.Context, tags []string) (json.RawMessage, error)
	SetTaskExec(ctx context.Context, enable bool) (json.RawMessage, error)
	// SetWebhook validates and stores url ("" disables) without waiting
	// for delivery; the server wraps the result as {"webhook":"<url>"}.
	SetWebhook(ctx context.Context, url string) error
	Network(ctx context.Context, m ipcmsg.Network) (json.RawMessage, error)
	// RegistryOp runs one op of ipc.md §10.4 and returns its data object.
	RegistryOp(ctx context.Context, m ipcmsg.RegistryOp) (json.RawMessage, error)
}

// DialRequest is a Dial or DialEx.
type DialRequest struct {
	Addr addr.Addr
	Port addr.Port
	// Timeout is 0 for the daemon's -dial-timeout.
	Timeout time.Duration
	Nagle   bool
}

// Datagram is a SendTo or SendToFrom with its source port resolved (the
// client's datagram port for SendTo).
type Datagram struct {
	Dst     addr.Addr
	DstPort addr.Port
	SrcPort addr.Port
	Data    []byte // owned by the backend after the call
}

// Conn is one stream connection of the backend, identified by an ID that is
// unique across the daemon while the connection exists. Methods are called
// concurrently (the server's writer reads while executors send) and must not
// block on the network.
type Conn interface {
	ID() ipcmsg.ConnID
	// Read copies received data into p without blocking and returns the
	// number of bytes copied. It returns 0, nil when no data is buffered
	// now, and 0 and an *EndOfStream once the receive side has ended and
	// every byte before the end has been read. Data the server has not
	// read stays in the connection's receive buffer and closes its window:
	// that is how a client that stops reading slows its peers (ipc.md §3.3).
	Read(p []byte) (int, error)
	// Send queues data without waiting for the peer's window (ipc.md §3.1
	// rule 4). It does not keep data after it returns: the caller may
	// reuse the buffer (the server reads Sends into one). Errors:
	// `send: connection not established` or `send: connection closed`
	// (code 7).
	Send(data []byte) error
	// Unsent returns the bytes queued but not yet transmitted.
	Unsent() int
	// SetNagle switches Nagle's algorithm and returns the value in effect.
	SetNagle(on bool) bool
	// Close starts a graceful close (FIN, wire.md §9.12). Idempotent.
	Close()
}

// Sink is the per-client handle the server gives the backend with Listen
// and Dial. Its methods are safe for concurrent use and never block: they
// only record the event and wake the client's writer.
type Sink interface {
	// Accept hands an inbound connection established on local port to the
	// client that listens there. It returns false when the client is gone
	// or no longer owns the port; the backend then closes the connection.
	Accept(localPort addr.Port, c Conn, remote addr.Addr, remotePort addr.Port) bool
	// Readable reports that c has new data to Read or that its receive
	// side has ended. Spurious calls are harmless.
	Readable(id ipcmsg.ConnID)
	// Writable reports that c's Unsent dropped: data was transmitted, or
	// queued data was discarded because the connection reset, was aborted
	// or finished. Waiters for buffer space depend on it.
	Writable(id ipcmsg.ConnID)
}

// EndOfStream is the error Conn.Read returns when the receive side of a
// connection has ended. The server then sends the owner one unsolicited
// CloseOK, preceded by ConnClosed for close-reason clients, unless the
// owner has sent Close itself (ipc.md §5.6, §10.7).
type EndOfStream struct {
	Reason ipcmsg.CloseReason
	Detail string
}

func (e *EndOfStream) Error() string {
	if e.Detail == "" {
		return fmt.Sprintf("end of stream (reason %d)", e.Reason)
	}
	return fmt.Sprintf("end of stream (reason %d): %s", e.Reason, e.Detail)
}

// ErrPortInUse is wrapped by Listen errors for ports the daemon uses itself.
var ErrPortInUse = errors.New("port in use")

// Error is a failure with the code and text sent to the client (ipc.md §4).
type Error struct {
	Code ipcmsg.Code
	Text string
}

func (e *Error) Error() string { return e.Text }

// Errorf returns an *Error with a formatted text.
func Errorf(code ipcmsg.Code, format string, args ...any) *Error {
	return &Error{Code: code, Text: fmt.Sprintf(format, args...)}
}

// errorReply converts err into the Error message sent to the client.
func errorReply(err error) ipcmsg.Error {
	var e *Error
	if errors.As(err, &e) {
		return ipcmsg.Error{Code: e.Code, Text: e.Text}
	}
	var de *ipcmsg.DecodeError
	if errors.As(err, &de) {
		return de.Reply()
	}
	return ipcmsg.Error{Code: ipcmsg.CodeInternal, Text: err.Error()}
}
