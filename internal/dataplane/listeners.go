package dataplane

import (
	"fmt"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/ipc"
	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
)

// listener is a port that accepts stream connections: owned by an IPC
// client (sink) or by the daemon itself (bl, a built-in service).
type listener struct {
	port addr.Port
	sink ipc.Sink
	bl   *Listener
}

// queueFullLocked reports whether the accept queue is full (§9.15: checked
// before the SYN-ACK). IPC sinks take connections synchronously, so only
// built-in listeners queue.
func (l *listener) queueFullLocked() bool {
	return l.bl != nil && len(l.bl.queue) >= cap(l.bl.queue)
}

// Listen implements ipc.DataPlane: port becomes a listener of the client
// behind sink. Ports the daemon serves itself give ipc.ErrPortInUse.
func (dp *DataPlane) Listen(port addr.Port, sink ipc.Sink) error {
	dp.mu.Lock()
	defer dp.mu.Unlock()
	if dp.closing {
		return ipc.Errorf(ipcmsg.CodeUnavailable, "bind: daemon shutting down")
	}
	if l, ok := dp.listeners[port]; ok {
		if l.bl != nil {
			return fmt.Errorf("bind: port %d is a built-in service: %w", port, ipc.ErrPortInUse)
		}
		return fmt.Errorf("bind: port %d: %w", port, ipc.ErrPortInUse)
	}
	if _, held := dp.ports.held[port]; held {
		return fmt.Errorf("bind: port %d used by the daemon: %w", port, ipc.ErrPortInUse)
	}
	dp.listeners[port] = &listener{port: port, sink: sink}
	return nil
}

// Unlisten implements ipc.DataPlane. Established connections are not
// affected; IPC listeners hold no accept queue (Sink.Accept is synchronous).
func (dp *DataPlane) Unlisten(port addr.Port) {
	dp.mu.Lock()
	if l, ok := dp.listeners[port]; ok && l.bl == nil {
		delete(dp.listeners, port)
	}
	dp.mu.Unlock()
}

// handoff gives a new inbound connection to its listener. IPC: Sink.Accept,
// closing the connection when the client is gone. Built-in: the accept
// queue (capacity checked before the SYN-ACK, so this send cannot block).
func (dp *DataPlane) handoff(l *listener, c *conn) {
	if l.bl != nil {
		select {
		case l.bl.queue <- c:
		default:
			c.abort(ipcmsg.ReasonOther)
		}
		return
	}
	c.setSink(l.sink)
	if !l.sink.Accept(l.port, c, c.remote, c.key.rport) {
		c.abort(ipcmsg.ReasonOther) // nobody listens any more: RST
	}
}

// Ports returns the number of listening ports, built-in services included
// (IPC Info "ports").
func (dp *DataPlane) Ports() int {
	dp.mu.Lock()
	defer dp.mu.Unlock()
	return len(dp.listeners)
}
