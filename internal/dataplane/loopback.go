package dataplane

import (
	"github.com/pilot-go/pilot/internal/wire/packet"
)

// loopbackQueue bounds packets in flight to our own node.
const loopbackQueue = 4096

// loopback delivers a packet addressed to our own node inside the daemon
// (wire.md §9.1): same ports, listeners and ordering rules, no tunnel and
// no admission. Delivery goes through a queue served by its own goroutine
// so a sender never re-enters the packet path while holding its
// connection's lock; a full queue drops the packet like a lossy path.
func (dp *DataPlane) loopback(p *packet.Packet) {
	q := clonePacket(p)
	select {
	case dp.loop <- q:
	default:
	}
}

func (dp *DataPlane) loopbackLoop() {
	defer dp.wg.Done()
	for {
		select {
		case p := <-dp.loop:
			dp.HandlePacket(p.Src.Node, p)
		case <-dp.ctx.Done():
			return
		}
	}
}
