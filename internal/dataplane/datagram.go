package dataplane

import (
	"context"
	"errors"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/ipc"
	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
	"github.com/pilot-go/pilot/internal/wire/packet"
)

// MaxDatagram is the largest datagram payload (wire.md §10, §13).
const MaxDatagram = ipcmsg.MaxDatagramPayload

// handleDatagram is the receive path of wire.md §10: empty → drop;
// admission (§8); per-source rate limit; webhook data.datagram; delivery
// through the IPC server's routing. Datagrams to ports the daemon serves
// itself are dropped. Never blocks. MaxDatagram bounds what we send; a
// received payload may be up to the largest packet payload (§13), and
// RecvFrom carries it (daemon → client messages go up to 1 MiB).
func (dp *DataPlane) handleDatagram(from addr.NodeID, auth bool, p *packet.Packet) {
	if len(p.Payload) == 0 {
		return
	}
	q := clonePacket(p)
	dp.admit(from, auth, q, func() { dp.deliverDatagram(from, q) })
}

func (dp *DataPlane) deliverDatagram(from addr.NodeID, p *packet.Packet) {
	now := time.Now()
	dp.mu.Lock()
	if from != dp.self() {
		if l := limiterFor(dp.dgramSrc, from, dgramRate, dgramBurst); l == nil || !l.AllowN(now, 1) {
			dp.mu.Unlock()
			return
		}
	}
	l := dp.listeners[p.DstPort]
	builtin := l != nil && l.bl != nil
	deliver := dp.cfg.DeliverDatagram
	dp.mu.Unlock()
	dp.emit("data.datagram", "src_addr", p.Src.String(), "src_port", int(p.SrcPort),
		"dst_port", int(p.DstPort), "size", len(p.Payload))
	if builtin || deliver == nil {
		return
	}
	deliver(ipcmsg.RecvFrom{Src: p.Src, SrcPort: p.SrcPort, DstPort: p.DstPort, Data: p.Payload})
}

// SendDatagram implements ipc.DataPlane (wire.md §10, §12; ipc.md §5.7).
// The source address is <destination network>:<own node>. Broadcasts are
// expanded and paced in the background.
func (dp *DataPlane) SendDatagram(ctx context.Context, d ipc.Datagram) error {
	switch {
	case len(d.Data) == 0:
		return ipc.Errorf(ipcmsg.CodeInvalidArgument, "sendto: empty payload")
	case len(d.Data) > MaxDatagram:
		return ipc.Errorf(ipcmsg.CodeInvalidArgument, "sendto: payload too large (max %d bytes)", MaxDatagram)
	case d.Dst.IsBroadcast():
		return dp.broadcast(ctx, d)
	case d.Dst.Node == 0:
		return ipc.Errorf(ipcmsg.CodeInvalidArgument, "sendto: invalid destination %s", d.Dst)
	}
	self := dp.self()
	if self == 0 {
		return ipc.Errorf(ipcmsg.CodeUnavailable, "sendto: node not registered")
	}
	if err := dp.resolve(ctx, d.Dst.Node); err != nil {
		var ie *ipc.Error
		if errors.As(err, &ie) {
			return &ipc.Error{Code: ie.Code, Text: "sendto: " + ie.Text}
		}
		return err
	}
	return dp.sendDatagram(self, d.Dst, d.DstPort, d.SrcPort, d.Data)
}

func (dp *DataPlane) sendDatagram(self addr.NodeID, dst addr.Addr, dstPort, srcPort addr.Port, data []byte) error {
	p := packet.Packet{Protocol: packet.ProtoDatagram, Src: addr.New(dst.Network, self), Dst: dst,
		SrcPort: srcPort, DstPort: dstPort, Payload: data}
	if err := dp.send(dst.Node, &p); err != nil {
		if isTooManyPending(err) {
			return ipc.Errorf(ipcmsg.CodeResourceExhausted, "sendto: too many pending key exchanges")
		}
		return ipc.Errorf(ipcmsg.CodeConnectionFailed, "sendto: %v", err)
	}
	return nil
}
