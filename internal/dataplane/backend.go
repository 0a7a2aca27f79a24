package dataplane

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/ipc"
	"github.com/pilot-go/pilot/internal/stream"
	"github.com/pilot-go/pilot/internal/tunnel"
	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
)

var _ ipc.DataPlane = (*DataPlane)(nil)
var _ ipc.Conn = (*conn)(nil)

// Dial implements ipc.DataPlane (ipc.md §5.2, §10.6).
func (dp *DataPlane) Dial(ctx context.Context, req ipc.DialRequest, sink ipc.Sink) (ipc.Conn, error) {
	c, err := dp.dial(ctx, req.Addr, req.Port, req.Timeout, req.Nagle, sink)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// dial opens a connection and waits until it is ESTABLISHED or failed.
func (dp *DataPlane) dial(ctx context.Context, a addr.Addr, port addr.Port, timeout time.Duration, nagle bool, sink ipc.Sink) (*conn, error) {
	self := dp.self()
	if self == 0 {
		return nil, ipc.Errorf(ipcmsg.CodeUnavailable, "dial: node not registered")
	}
	if a.Node == 0 || a.IsBroadcast() {
		return nil, ipc.Errorf(ipcmsg.CodeInvalidArgument, "dial: invalid destination %s", a)
	}
	if err := dp.resolve(ctx, a.Node); err != nil {
		return nil, err
	}
	cfg := dp.cfg.Stream
	cfg.Budget, cfg.Nagle = dp.budget, nagle
	if timeout > 0 {
		cfg.DialTimeout = timeout
	}
	now := time.Now()
	dp.mu.Lock()
	if dp.closing {
		dp.mu.Unlock()
		return nil, ipc.Errorf(ipcmsg.CodeUnavailable, "dial: daemon shutting down")
	}
	if len(dp.conns) >= dp.cfg.MaxConnsTotal {
		dp.mu.Unlock()
		return nil, ipc.Errorf(ipcmsg.CodeResourceExhausted, "dial: too many connections")
	}
	lp := dp.ephemeralLocked(a.Node, port, now)
	if lp == 0 {
		dp.mu.Unlock()
		return nil, ipc.Errorf(ipcmsg.CodeResourceExhausted, "dial: no free ephemeral port")
	}
	eng, err := stream.NewDialer(cfg, now)
	if err != nil {
		dp.mu.Unlock()
		return nil, ipc.Errorf(ipcmsg.CodeResourceExhausted, "dial: %v", err)
	}
	// Source address: <network of the dialed address>:<own node> (§1.5).
	c := dp.newConnLocked(tupleKey{lp, a.Node, port}, addr.New(a.Network, self), a, eng, true)
	c.setSink(sink)
	dp.mu.Unlock()

	c.mu.Lock()
	n := c.pumpLocked(now) // the SYN
	sendErr := c.sendErr
	c.mu.Unlock()
	c.start()
	c.after(n)
	if sendErr != nil {
		c.abort(ipcmsg.ReasonOther)
		if isTooManyPending(sendErr) {
			return nil, ipc.Errorf(ipcmsg.CodeResourceExhausted, "too many pending key exchanges")
		}
		return nil, ipc.Errorf(ipcmsg.CodeConnectionFailed, "send SYN: %v", sendErr)
	}
	select {
	case <-c.estab:
	case <-ctx.Done():
		c.abort(ipcmsg.ReasonOther)
		return nil, ipc.Errorf(ipcmsg.CodeUnavailable, "dial: %v", ctx.Err())
	}
	c.mu.Lock()
	ok, reason, override := c.wasEstab, c.reason, c.override
	c.mu.Unlock()
	switch {
	case ok:
		return c, nil
	case override == ipcmsg.ReasonShutdown:
		return nil, ipc.Errorf(ipcmsg.CodeUnavailable, "dial: daemon shutting down")
	case reason == stream.ReasonDialTimeout:
		return nil, ipc.Errorf(ipcmsg.CodeTimeout, "dial timeout")
	}
	return nil, ipc.Errorf(ipcmsg.CodeConnectionFailed, "connection refused")
}

// resolve resolves a remote peer through the transport when it can.
func (dp *DataPlane) resolve(ctx context.Context, peer addr.NodeID) error {
	r, ok := dp.cfg.Transport.(Resolver)
	if !ok || peer == dp.self() {
		return nil
	}
	err := r.Resolve(ctx, peer)
	if err == nil {
		return nil
	}
	var ie *ipc.Error
	if errors.As(err, &ie) {
		return err
	}
	if isTooManyPending(err) {
		return ipc.Errorf(ipcmsg.CodeResourceExhausted, "too many pending key exchanges")
	}
	return resolveError(peer, err)
}

// resolveError maps a failed resolve to its IPC error (ipc.md §4, §5.2:
// "resolve node N: <reason>", registry code or 12). A registry refusal
// keeps the registry's code and its message, without the code name that
// regmsg.Error.Error puts in front; "node not found" from the tunnel is
// not_found; anything else (transport trouble) is connection_failed.
func resolveError(peer addr.NodeID, err error) *ipc.Error {
	prefix := "resolve node " + itoa(uint64(peer)) + ": "
	var re *regmsg.Error
	if errors.As(err, &re) {
		if code, ok := ipcmsg.CodeFromRegistry(string(re.Code)); ok {
			return &ipc.Error{Code: code, Text: prefix + re.Message}
		}
	}
	code := ipcmsg.CodeConnectionFailed
	if errors.Is(err, tunnel.ErrNotFound) {
		code = ipcmsg.CodeNotFound
	}
	text := err.Error()
	if !strings.HasPrefix(text, "resolve node ") {
		text = prefix + text
	}
	return &ipc.Error{Code: code, Text: text}
}

func isTooManyPending(err error) bool {
	return errors.Is(err, ErrTooManyPending) || strings.Contains(err.Error(), ErrTooManyPending.Error())
}

func itoa(v uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			return string(b[i:])
		}
	}
}

// ID implements ipc.Conn.
func (c *conn) ID() ipcmsg.ConnID { return c.id }

// Read implements ipc.Conn: never blocks; *ipc.EndOfStream after the last
// byte once the receive side has ended.
func (c *conn) Read(p []byte) (int, error) {
	c.mu.Lock()
	n, err := c.eng.Read(p)
	if n > 0 {
		nt := c.pumpLocked(time.Now()) // a window update may be due
		c.unlockAfter(nt &^ nReadable)
		return n, nil
	}
	defer c.mu.Unlock()
	if err == nil {
		return 0, nil
	}
	return 0, c.endOfStreamLocked()
}

// Send implements ipc.Conn: data is queued without waiting for the peer's
// window; the engine takes it as its send buffer frees up.
func (c *conn) Send(data []byte) error {
	c.mu.Lock()
	st := c.eng.State()
	switch {
	case st == stream.StateSynSent:
		c.mu.Unlock()
		return ipc.Errorf(ipcmsg.CodeFailedPrecondition, "send: connection not established")
	case c.finished || c.closeReq || c.eofSeen || st != stream.StateEstablished:
		c.mu.Unlock()
		return ipc.Errorf(ipcmsg.CodeFailedPrecondition, "send: connection closed")
	}
	if len(data) > 0 {
		c.pend = append(c.pend, data)
		c.pendN += len(data)
	}
	n := c.pumpLocked(time.Now())
	if k := len(c.pend); k > 0 && len(data) > 0 {
		// data is the last entry; what the engine has not taken yet is
		// copied, since the caller reuses its buffer (ipc.Conn.Send).
		c.pend[k-1] = bytes.Clone(c.pend[k-1])
	}
	c.unlockAfter(n)
	return nil
}

// Unsent implements ipc.Conn: bytes queued but not yet taken by the engine.
func (c *conn) Unsent() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pendN
}

// SetNagle implements ipc.Conn.
func (c *conn) SetNagle(on bool) bool {
	c.mu.Lock()
	c.eng.SetNagle(on)
	c.unlockAfter(c.pumpLocked(time.Now()))
	return on
}

// Close implements ipc.Conn: queued data is still sent, then a bare FIN
// (§9.12). Idempotent.
func (c *conn) Close() {
	c.mu.Lock()
	if c.closeReq || c.finished {
		c.mu.Unlock()
		return
	}
	c.closeReq = true
	c.unlockAfter(c.pumpLocked(time.Now()))
}

// Stats are the data plane's figures for IPC Info (ipc.md §6).
type Stats struct {
	// Connections counts connections in SYN_SENT, SYN_RECV or ESTABLISHED.
	Connections int
	// Ports counts listening ports, built-in services included.
	Ports int
	// ConnList has one entry per connection in any state.
	ConnList []ipcmsg.InfoConn
}

// Stats returns a snapshot for IPC Info.
func (dp *DataPlane) Stats() Stats {
	cs := dp.allConns()
	st := Stats{Ports: dp.Ports(), ConnList: make([]ipcmsg.InfoConn, 0, len(cs))}
	for _, c := range cs {
		c.mu.Lock()
		s := c.eng.Stats()
		c.mu.Unlock()
		switch s.State {
		case ipcmsg.StateSynSent, ipcmsg.StateSynRecv, ipcmsg.StateEstablished:
			st.Connections++
		}
		st.ConnList = append(st.ConnList, ipcmsg.InfoConn{
			ID: c.id, LocalPort: c.key.local, RemoteAddr: c.remote, RemotePort: c.key.rport,
			State: s.State, CongWin: u64(s.CongWin), SSThresh: u64(s.SSThresh), InFlight: u64(s.InFlight),
			SRTTMillis: u64(s.SRTTms), RTTVarMillis: u64(s.RTTVarms), Unacked: u64(s.Unacked),
			OOOBuf: u64(s.OOOBuf), PeerRecvWin: u64(s.PeerRecvWin), RecvWin: u64(s.RecvWin),
			InRecovery: s.InRecovery, BytesSent: u64(s.BytesSent), BytesRecv: u64(s.BytesRecv),
			SegsSent: u64(s.SegsSent), SegsRecv: u64(s.SegsRecv), Retransmits: u64(s.Retransmits),
			FastRetx: u64(s.FastRetx), SackRecv: u64(s.SackRecv), SackSent: u64(s.SackSent),
			DupAcks: u64(s.DupAcks),
		})
	}
	return st
}

func u64[T int | int64](v T) uint64 {
	if v < 0 {
		return 0
	}
	return uint64(v)
}
