package dataplane

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/ipc"
	"github.com/pilot-go/pilot/internal/stream"
	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
	"github.com/pilot-go/pilot/internal/wire/packet"
)

// tupleKey identifies a connection: (local port, peer node, peer port).
// Networks are not part of it (wire.md §1.5, §9.1).
type tupleKey struct {
	local addr.Port
	peer  addr.NodeID
	rport addr.Port
}

// conn is one stream connection: a stream.Conn, its addresses and the
// goroutine that drives it (connloop.go).
type conn struct {
	dp     *DataPlane
	id     ipcmsg.ConnID
	key    tupleKey
	local  addr.Addr // source address of every packet we send (§1.5)
	remote addr.Addr // the peer's address as dialed or as seen on the SYN
	dialer bool

	mbox    chan *packet.Packet // inbound packets, bounded
	kick    chan struct{}       // cap 1: the connection finished, the goroutine must exit
	done    chan struct{}       // closed when the goroutine exits
	estab   chan struct{}       // closed on ESTABLISHED or CLOSED (dialer wait)
	rcvSig  chan struct{}       // cap 1: readable / end of stream (net.Conn)
	wrSig   chan struct{}       // cap 1: send space freed (net.Conn)
	stateCh chan struct{}       // closed and replaced (under mu) when the engine's state changes

	state   atomic.Int32  // stream.State, updated after every engine call
	peerISN atomic.Uint32 // valid once ESTABLISHED (responder: at once)
	queued  atomic.Int32  // packets in mbox or being handled from it
	sink    atomic.Value  // sinkRef: the IPC sink, set once at dial or accept; none for net.Conn users

	mu        sync.Mutex // guards everything below
	eng       *stream.Conn
	pend      [][]byte // IPC data not yet taken by the engine
	pendN     int
	closeReq  bool // Close requested; FIN after pend drains
	finished  bool // EvClosed processed, removed from the table
	wasEstab  bool
	eofSeen   bool
	reason    stream.Reason
	override  ipcmsg.CloseReason // shutdown / trust revoked; 0 = none
	lastRTOs  int64
	lastSegs  int64
	suspected bool
	synHinted bool
	out       []packet.Packet
	timer     *time.Timer // the goroutine's engine timer, re-armed under mu by whoever ran the engine
	armed     time.Time   // deadline timer is set for (zero: none, or it fired)
	sendErr   error       // first Transport error (a dial's SYN)
	estabOpen bool
}

// allocIDLocked returns the next free connection ID (u32 from 1, skipping 0
// on wrap, §9.1).
func (dp *DataPlane) allocIDLocked() ipcmsg.ConnID {
	for {
		dp.nextID++
		if dp.nextID == 0 {
			continue
		}
		if _, used := dp.byID[dp.nextID]; !used {
			return dp.nextID
		}
	}
}

// newConnLocked creates a connection around eng and inserts it in the
// table. The caller starts its goroutine with start.
func (dp *DataPlane) newConnLocked(key tupleKey, local, remote addr.Addr, eng *stream.Conn, dialer bool) *conn {
	c := &conn{
		dp: dp, key: key, local: local, remote: remote, dialer: dialer, eng: eng,
		mbox:    make(chan *packet.Packet, dp.cfg.Mailbox),
		kick:    make(chan struct{}, 1),
		done:    make(chan struct{}),
		estab:   make(chan struct{}),
		rcvSig:  make(chan struct{}, 1),
		wrSig:   make(chan struct{}, 1),
		stateCh: make(chan struct{}),
		reason:  stream.ReasonNone,
		timer:   time.NewTimer(time.Hour),
	}
	c.timer.Stop()
	c.id = dp.allocIDLocked()
	c.state.Store(int32(eng.State()))
	if !dialer {
		c.peerISN.Store(eng.PeerISN())
	}
	dp.conns[key] = c
	dp.byID[c.id] = c
	dp.portConns[key.local]++
	return c
}

// removeLocked drops c from the table and remembers its tuple for the
// ephemeral allocator's 60 s rule (§2.3).
func (dp *DataPlane) removeLocked(c *conn, now time.Time) {
	if dp.conns[c.key] == c {
		delete(dp.conns, c.key)
		if dp.portConns[c.key.local]--; dp.portConns[c.key.local] <= 0 {
			delete(dp.portConns, c.key.local)
		}
		dp.ports.closed(c.key, now)
	}
	if dp.byID[c.id] == c {
		delete(dp.byID, c.id)
	}
}

// allConns returns a snapshot of the table.
func (dp *DataPlane) allConns() []*conn {
	dp.mu.Lock()
	defer dp.mu.Unlock()
	cs := make([]*conn, 0, len(dp.conns))
	for _, c := range dp.conns {
		cs = append(cs, c)
	}
	return cs
}

// packetFor completes an engine packet with our addresses and ports.
func (c *conn) packetFor(p *packet.Packet) {
	p.Src, p.Dst = c.local, c.remote
	p.SrcPort, p.DstPort = c.key.local, c.key.rport
}

// rst sends an RST answering p "from the address the offending packet was
// sent to" (§9.14).
func (dp *DataPlane) rst(from addr.NodeID, p *packet.Packet) {
	r := packet.Packet{Flags: packet.FlagRST, Protocol: packet.ProtoStream,
		Src: p.Dst, Dst: p.Src, SrcPort: p.DstPort, DstPort: p.SrcPort}
	_ = dp.send(from, &r)
}

// closeReason maps the engine's end of a connection to the IPC reason.
func (c *conn) endOfStreamLocked() *ipc.EndOfStream {
	if c.override != 0 {
		return &ipc.EndOfStream{Reason: c.override, Detail: c.overrideDetail()}
	}
	switch c.reason {
	case stream.ReasonNone:
		return &ipc.EndOfStream{Reason: ipcmsg.ReasonPeerClosed}
	case stream.ReasonPeerReset:
		return &ipc.EndOfStream{Reason: ipcmsg.ReasonReset}
	case stream.ReasonTimeout:
		return &ipc.EndOfStream{Reason: ipcmsg.ReasonTimeout}
	case stream.ReasonDeadPeer:
		return &ipc.EndOfStream{Reason: ipcmsg.ReasonIdle}
	case stream.ReasonDataLost:
		return &ipc.EndOfStream{Reason: ipcmsg.ReasonDataLost}
	case stream.ReasonNewSYN:
		return &ipc.EndOfStream{Reason: ipcmsg.ReasonReset, Detail: c.reason.String()}
	}
	return &ipc.EndOfStream{Reason: ipcmsg.ReasonOther, Detail: c.reason.String()}
}

func (c *conn) overrideDetail() string {
	switch c.override {
	case ipcmsg.ReasonShutdown:
		return "daemon shutting down"
	case ipcmsg.ReasonTrustRevoked:
		return "trust revoked or tunnel torn down"
	}
	return ""
}

// AbortPeer resets every connection with peer (trust revoked or tunnel torn
// down): RST to the peer, IPC reason 7.
func (dp *DataPlane) AbortPeer(peer addr.NodeID) {
	for _, c := range dp.allConns() {
		if c.key.peer == peer {
			c.abort(ipcmsg.ReasonTrustRevoked)
		}
	}
}
