package pilottest

import (
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/pilot-go/pilot/internal/netsim"
)

// LossyConn wraps a daemon's UDP socket and drops a fraction of the
// outgoing tunnel frames (those whose first byte is 'P': PILT, PILS,
// PILK, PILA, PILP, wire.md §4.2). Beacon traffic (first byte < 0x10) is
// never dropped, so registration and discovery stay deterministic; the
// loss applies to the peer-to-peer path only. The drop decisions come
// from a seeded math/rand source, so a failing run can be replayed
// (modulo goroutine scheduling, which orders the writes).
type LossyConn struct {
	netsim.PacketConn
	loss float64

	mu  sync.Mutex
	rng *rand.Rand

	sent, dropped atomic.Int64
}

// NewLossyConn wraps c, dropping each outgoing tunnel frame with
// probability loss (0 ≤ loss < 1), decided by a PCG seeded with seed.
func NewLossyConn(c netsim.PacketConn, loss float64, seed uint64) *LossyConn {
	return &LossyConn{PacketConn: c, loss: loss, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// WriteToUDPAddrPort sends b unless it is a tunnel frame picked for
// dropping; a dropped frame reports success, as a lossy network would.
func (l *LossyConn) WriteToUDPAddrPort(b []byte, to netip.AddrPort) (int, error) {
	if len(b) > 0 && b[0] == 'P' {
		l.sent.Add(1)
		l.mu.Lock()
		drop := l.rng.Float64() < l.loss
		l.mu.Unlock()
		if drop {
			l.dropped.Add(1)
			return len(b), nil
		}
	}
	return l.PacketConn.WriteToUDPAddrPort(b, to)
}

// SetReadBuffer forwards to the wrapped socket when it supports it, so
// the tunnel still gets its 4 MiB buffers (wire.md §13).
func (l *LossyConn) SetReadBuffer(n int) error {
	if b, ok := l.PacketConn.(interface{ SetReadBuffer(int) error }); ok {
		return b.SetReadBuffer(n)
	}
	return nil
}

// SetWriteBuffer forwards like SetReadBuffer.
func (l *LossyConn) SetWriteBuffer(n int) error {
	if b, ok := l.PacketConn.(interface{ SetWriteBuffer(int) error }); ok {
		return b.SetWriteBuffer(n)
	}
	return nil
}

// Stats returns how many tunnel frames were offered and how many dropped.
func (l *LossyConn) Stats() (frames, dropped int64) { return l.sent.Load(), l.dropped.Load() }
