package tunnel

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/tunnel/session"
	"github.com/pilot-go/pilot/internal/wire/frame"
	"github.com/pilot-go/pilot/internal/wire/packet"
)

// Batched I/O. A stream connection produces several packets per engine
// pass and the reader of a bulk transfer finds many datagrams waiting; one
// system call per datagram was half of a bulk transfer's CPU time. On
// Linux the Manager therefore hands a run of equal-size frames to the
// kernel in one sendmsg with a UDP_SEGMENT control message (GSO), and
// reads with UDP_GRO so that one recvmsg returns several datagrams of a
// flow back to back. Both are kernel-side batching only: each UDP datagram
// on the wire is exactly the frame it is without them, and each datagram
// of a coalesced read goes through handleDatagram on its own, with the
// same authentication and replay checks. Sockets that are not a
// *net.UDPConn (netsim), Config.NoOffload, the relay path and other
// systems use one call per datagram.

// msgConn is the part of *net.UDPConn the offload paths use.
type msgConn interface {
	ReadMsgUDPAddrPort(b, oob []byte) (n, oobn, flags int, addr netip.AddrPort, err error)
	WriteMsgUDPAddrPort(b, oob []byte, addr netip.AddrPort) (n, oobn int, err error)
	SyscallConn() (syscall.RawConn, error)
}

// Limits of one segmented write: at most 64 segments (UDP_MAX_SEGMENTS of
// older kernels) and one IP packet of payload (64 KiB less the UDP and
// IPv6 headers).
const (
	gsoMaxSegments = 64
	gsoMaxBytes    = 65535 - 8 - 40
)

// heldRun bounds a run of frames held during a coalesced read: frames that
// several engine passes released a few microseconds apart leave together,
// so at most 10 of them go out back to back (wire.md §9.10).
const heldRun = 10

var batchPool = sync.Pool{New: func() any {
	return &gsoBatch{buf: make([]byte, 0, gsoMaxBytes+frame.MaxDatagram+16), oob: make([]byte, 0, max(gsoOOBSize, 1))}
}}

// getBatch returns an empty batch writing on m's socket.
func (m *Manager) getBatch() *gsoBatch {
	b := batchPool.Get().(*gsoBatch)
	b.m = m
	return b
}

// put recycles a flushed batch.
func (b *gsoBatch) put() {
	b.m, b.err, b.maxRun = nil, nil, 0
	batchPool.Put(b)
}

// initOffload enables GSO and GRO on a *net.UDPConn unless disabled.
func (m *Manager) initOffload() {
	mc, ok := m.cfg.Conn.(msgConn)
	if !ok || m.cfg.NoOffload {
		return
	}
	m.msg = mc
	m.gro = enableGRO(mc)
	m.gsoOn.Store(probeGSO(mc))
}

// SendBatch sends pks to peer in order. It is Send for each packet, but
// the packets are sealed under one lock and, on a direct encrypted path,
// consecutive frames of equal size leave in one segmented write (the last
// frame of a run may be shorter). Every packet is attempted; the first
// error is returned, as the caller's loop over Send would have seen it.
func (m *Manager) SendBatch(peerID addr.NodeID, pks []packet.Packet) error {
	switch len(pks) {
	case 0:
		return nil
	case 1:
		return m.Send(peerID, &pks[0])
	}
	if err := m.canSend(peerID); err != nil {
		return err
	}
	p := m.lockPeer(peerID)
	if p == nil {
		return ErrPeerTable
	}
	defer p.mu.Unlock()
	now := m.cfg.Now()
	b := p.txq // the reader holds P's frames until the end of its read
	if b == nil {
		b = m.getBatch()
		defer b.put()
	}
	var first error
	keep := func(err error) {
		if err != nil && first == nil {
			first = err
		}
	}
	for i := range pks {
		to := p.directTargetLocked()
		if p.cur != nil && !p.relay && to.IsValid() && m.gsoFor(to) {
			err := b.sealPacket(p.cur, &pks[i], to)
			if err == nil {
				m.sealedLocked(p, now)
				continue
			}
			if !errors.Is(err, session.ErrSendClosed) && !errors.Is(err, session.ErrExhausted) {
				keep(err)
				continue
			}
		}
		// Another path, or a state that cannot seal any more: the packet
		// takes Send's path (which appends to p.txq when set).
		if p.txq == nil {
			keep(b.flush())
		}
		keep(m.sendPacketLocked(p, &pks[i], now))
	}
	if p.txq == nil {
		keep(b.flush())
		keep(b.err)
	}
	return first
}

// sealedLocked counts a frame sealed for P.
func (m *Manager) sealedLocked(p *peer, now time.Time) {
	m.ctr.sealed.Add(1)
	p.framesSent++
	p.lastTx = now
	m.wakeOnTraffic()
}

// sendPacketLocked is Send with p.mu held.
func (m *Manager) sendPacketLocked(p *peer, pk *packet.Packet, now time.Time) error {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	raw, err := pk.AppendTo((*bp)[:0])
	if err != nil {
		return fmt.Errorf("tunnel: marshal packet: %w", err)
	}
	*bp = raw[:0]
	return m.sendRawLocked(p, raw, now)
}

// deferTxLocked makes P's frames wait in p.txq until the reader finishes
// the coalesced read it is processing (flushDeferred): the acknowledgements
// and data that the read's segments trigger then leave in a few segmented
// writes instead of one write each. Only the reader calls it, and only
// during a coalesced read, so a lone datagram is never delayed.
func (m *Manager) deferTxLocked(p *peer) {
	if p.txq != nil || p.relay || !m.gsoOn.Load() {
		return
	}
	p.txq = m.getBatch()
	p.txq.maxRun = heldRun
	m.deferred = append(m.deferred, p)
}

// flushDeferred writes the frames held during a coalesced read (reader).
func (m *Manager) flushDeferred() {
	for i, p := range m.deferred {
		p.mu.Lock()
		if b := p.txq; b != nil {
			p.txq = nil
			_ = b.flush() // counted in writeErrors; the senders saw nil, as for a lost datagram
			b.put()
		}
		p.mu.Unlock()
		m.deferred[i] = nil
	}
	m.deferred = m.deferred[:0]
}

// gsoBatch collects sealed frames back to back in buf; the pending run is
// buf[start:], n frames of seg bytes (the last possibly shorter) for to.
type gsoBatch struct {
	m      *Manager
	buf    []byte
	oob    []byte
	start  int
	seg    int
	n      int
	short  bool // the run ends with a shorter frame: nothing joins it
	to     netip.AddrPort
	maxRun int   // a run of this many frames is written at once (0: gsoMaxSegments)
	err    error // first write error
}

// sealPacket marshals pk at the end of buf and seals it in place, adding
// the frame to the pending run.
func (b *gsoBatch) sealPacket(st *session.State, pk *packet.Packet, to netip.AddrPort) error {
	b.reserve()
	off := len(b.buf)
	raw, err := pk.AppendTo(b.buf[:off+frame.PILSHeaderSize])
	if err != nil {
		return fmt.Errorf("tunnel: marshal packet: %w", err)
	}
	return b.sealAt(st, raw[:off], raw[off+frame.PILSHeaderSize:], to)
}

// sealRaw seals a marshalled packet at the end of buf, adding the frame to
// the pending run.
func (b *gsoBatch) sealRaw(st *session.State, raw []byte, to netip.AddrPort) error {
	b.reserve()
	return b.sealAt(st, b.buf, raw, to)
}

// reserve makes room for one more frame of any size.
func (b *gsoBatch) reserve() {
	if cap(b.buf)-len(b.buf) < frame.MaxDatagram+16 {
		b.keep(b.flush())
	}
}

// sealAt seals raw after dst (buf up to its end) and adds the frame to the
// pending run, writing the run first when the frame cannot join it.
func (b *gsoBatch) sealAt(st *session.State, dst, raw []byte, to netip.AddrPort) error {
	off := len(dst)
	out, err := st.Seal(dst, raw)
	if err != nil {
		return err
	}
	size := len(out) - off
	switch {
	case b.n == 0:
	case to == b.to && !b.short && b.n < gsoMaxSegments && len(out)-b.start <= gsoMaxBytes && size <= b.seg:
		b.n++
		b.short = size < b.seg
		b.buf = out
		if b.n == b.maxRun {
			b.keep(b.flush())
		}
		return nil
	default:
		b.keep(b.m.writeRun(b.buf[b.start:off], b.seg, b.n, b.to, &b.oob))
	}
	b.start, b.seg, b.n, b.short, b.to = off, size, 1, false, to
	b.buf = out
	return nil
}

// flush writes the pending run and empties buf.
func (b *gsoBatch) flush() error {
	var err error
	if b.n > 0 {
		err = b.m.writeRun(b.buf[b.start:], b.seg, b.n, b.to, &b.oob)
	}
	b.buf, b.start, b.n = b.buf[:0], 0, 0
	return err
}

func (b *gsoBatch) keep(err error) {
	if err != nil && b.err == nil {
		b.err = err
	}
}

// writeRun writes n frames of seg bytes held back to back in run: one
// segmented write when possible, else one write per frame. A socket that
// refuses segmentation loses it for good and the run is written frame by
// frame.
func (m *Manager) writeRun(run []byte, seg, n int, to netip.AddrPort, oob *[]byte) error {
	if n > 1 && m.gsoFor(to) {
		*oob = gsoControl((*oob)[:0], seg)
		_, _, err := m.msg.WriteMsgUDPAddrPort(run, *oob, to)
		if err == nil {
			m.ctr.pktsSent.Add(uint64(n))
			m.ctr.bytesSent.Add(uint64(len(run)))
			m.ctr.segmentedWrites.Add(1)
			return nil
		}
		if !isOffloadErr(err) {
			m.ctr.writeErrors.Add(uint64(n))
			return err
		}
		m.refuseGSO(to, err)
	}
	var first error
	for len(run) > 0 {
		d := run[:min(seg, len(run))]
		run = run[len(d):]
		if err := m.write(d, to); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// maxRefusedPaths is how many destinations may refuse segmentation before
// the socket stops segmenting altogether: past that, refusals are the
// host's, not the paths'.
const maxRefusedPaths = 16

// gsoFor reports whether runs to `to` are written segmented.
func (m *Manager) gsoFor(to netip.AddrPort) bool {
	if !m.gsoOn.Load() {
		return false
	}
	_, refused := m.noGSO.Load(to)
	return !refused
}

// refuseGSO records a segmented write that failed for want of offload
// support. A socket-level refusal (no support at all) ends segmentation
// on the socket; a path-level one (a segment above the path MTU, no
// checksum offload on the route's device) ends it for that destination
// only, so one odd path does not cost every peer its batching. Both are
// for good: the datagrams go out one write each.
func (m *Manager) refuseGSO(to netip.AddrPort, err error) {
	if !socketOffloadErr(err) {
		if _, dup := m.noGSO.LoadOrStore(to, struct{}{}); dup {
			return
		}
		m.cfg.Logger.Info("UDP segmentation offload refused on a path, one write per datagram to it", "to", to, "err", err)
		if m.noGSOPaths.Add(1) < maxRefusedPaths {
			return
		}
	}
	if m.gsoOn.CompareAndSwap(true, false) {
		m.cfg.Logger.Info("UDP segmentation offload unavailable, one write per datagram", "err", err)
	}
}

// nextSegment cuts the first datagram off a coalesced read of segments of
// seg bytes (the last may be shorter); seg ≤ 0 means b is one datagram.
func nextSegment(b []byte, seg int) (d, rest []byte) {
	if seg <= 0 || seg >= len(b) {
		return b, nil
	}
	return b[:seg], b[seg:]
}

// read reads one datagram, or several coalesced ones when the socket
// has GRO: it returns the bytes, the segment size (0: one datagram) and
// the source. A dual-stack socket (-listen ":0") reports IPv4 sources as
// IPv4-mapped IPv6 addresses; they are unmapped here, so that every
// comparison with a configured or registered IPv4 endpoint (the beacon's
// above all, wire.md §4.1) sees the same address.
func (m *Manager) read(buf, oob []byte) (int, int, netip.AddrPort, error) {
	if !m.gro {
		n, src, err := m.conn.ReadFromUDPAddrPort(buf)
		return n, 0, unmapped(src), err
	}
	n, oobn, _, src, err := m.msg.ReadMsgUDPAddrPort(buf, oob)
	if err != nil {
		return n, 0, src, err
	}
	seg := groSegmentSize(oob[:oobn])
	if seg > 0 && seg < n {
		m.ctr.coalescedReads.Add(1)
	}
	return n, seg, unmapped(src), nil
}

// unmapped is a with an IPv4-mapped IPv6 address in its IPv4 form.
func unmapped(a netip.AddrPort) netip.AddrPort {
	if !a.Addr().Is4In6() {
		return a
	}
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}
