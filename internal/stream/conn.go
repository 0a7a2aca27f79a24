package stream

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/pilot-go/pilot/internal/wire/packet"
	"github.com/pilot-go/pilot/internal/wire/sack"
)

// State is a connection state of wire.md §9.1.
type State uint8

// Connection states.
const (
	StateClosed State = iota
	StateSynSent
	StateSynRecv // in the vocabulary of §9.1; the engine's responder goes straight to ESTABLISHED
	StateEstablished
	StateFinWait
	StateTimeWait
)

func (s State) String() string {
	switch s {
	case StateClosed:
		return "CLOSED"
	case StateSynSent:
		return "SYN_SENT"
	case StateSynRecv:
		return "SYN_RECV"
	case StateEstablished:
		return "ESTABLISHED"
	case StateFinWait:
		return "FIN_WAIT"
	case StateTimeWait:
		return "TIME_WAIT"
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// Events is a set of things that happened since the last call to Events.
type Events uint8

// Event bits.
const (
	EvEstablished Events = 1 << iota // handshake complete (DialOK / Accept)
	EvReadable                       // in-order data (or EOF) can be read
	EvWritable                       // send buffer space freed after a short Write
	EvEOF                            // the peer closed cleanly; Read returns io.EOF after the data
	EvReset                          // the connection was reset; see Reason
	EvClosed                         // the connection reached CLOSED; the engine may be dropped
)

func (e Events) String() string {
	if e == 0 {
		return "none"
	}
	s := ""
	for i, n := range []string{"Established", "Readable", "Writable", "EOF", "Reset", "Closed"} {
		if e&(1<<i) != 0 {
			if s != "" {
				s += "|"
			}
			s += n
		}
	}
	return s
}

// Reason says why a connection was reset; values are the IPC ConnClosed
// reasons of ipc.md §10.7 where one exists.
type Reason uint8

// Reset reasons.
const (
	ReasonNone        Reason = 255
	ReasonPeerReset   Reason = 2 // RST received
	ReasonTimeout     Reason = 3 // retransmission or FIN give-up
	ReasonDeadPeer    Reason = 4 // idle timeout
	ReasonDataLost    Reason = 5 // peer abandoned data at close (§9.12 rule 3)
	ReasonRefused     Reason = 20
	ReasonDialTimeout Reason = 21
	ReasonNewSYN      Reason = 22 // a SYN with another ISN replaced the connection (§9.3)
	ReasonAborted     Reason = 23 // local Abort
)

func (r Reason) String() string {
	switch r {
	case ReasonNone:
		return "none"
	case ReasonPeerReset:
		return "reset by peer"
	case ReasonTimeout:
		return "timed out"
	case ReasonDeadPeer:
		return "dead peer"
	case ReasonDataLost:
		return "data lost"
	case ReasonRefused:
		return "connection refused"
	case ReasonDialTimeout:
		return "dial timeout"
	case ReasonNewSYN:
		return "replaced by new connection"
	case ReasonAborted:
		return "aborted"
	}
	return fmt.Sprintf("Reason(%d)", uint8(r))
}

// never marks a disarmed timer.
const never = time.Duration(math.MaxInt64)

// Fixed protocol timers (§9.3, §9.7, §9.9, §9.11, §9.15).
const (
	synRTOInitial = time.Second
	synRTOMax     = 8 * time.Second
	delAckTimeout = 40 * time.Millisecond
	nagleHold     = 40 * time.Millisecond
	giveUpAfter   = 60 * time.Second
	giveUpRTOs    = 6
	finMaxTx      = 8
	dupThresh     = 3
	initialWindow = 10 // segments (RFC 6928)
	maxCwnd       = 64 << 20
)

// Conn is one stream connection: a pure state machine. Feed it received
// packets (Handle), application calls (Write, Read, Close) and the time
// (Tick at NextDeadline); collect packets with Output. Not safe for
// concurrent use.
type Conn struct {
	cfg   Config
	epoch time.Time
	state State

	ev     Events
	reason Reason

	dialer bool
	iss    uint32 // our ISN
	irs    uint32 // peer ISN

	snd sender
	rcv receiver

	// Times below (and in sender/receiver) are offsets from epoch; the
	// value never means a disarmed timer.

	// handshake
	synTx      int
	synRTO     time.Duration
	synAt      time.Duration // next SYN (re)transmission
	dialEnd    time.Duration
	synSentAt  time.Duration
	sendSYN    bool
	sendSynAck bool
	synAckTx   int
	synAckAt   time.Duration
	finalAck   bool // responder: the handshake ACK (or later) arrived

	// close
	appClosed   bool // Close called
	finSent     bool
	finSeq      uint32
	finTx       int
	finAt       time.Duration
	sendFin     bool
	sendFinAck  bool
	finAckSeq   uint32 // ack of our FIN+ACK answer
	finAcks     int    // pure ACKs for old FINs in the current second (rule 4)
	finAckEpoch time.Duration
	timeWaitAt  time.Duration
	sendRST     bool

	// liveness
	lastRecv     time.Duration
	lastActivity time.Duration
	sendProbe    bool
	probeByte    [1]byte

	// memory
	charged int
	sackIn  [sack.MaxBlocks]sack.Block // parsed SACK blocks of the packet being handled

	stats Stats
}

func newConn(cfg Config, now time.Time, dialer bool) (*Conn, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	c := &Conn{cfg: cfg, epoch: now, dialer: dialer, reason: ReasonNone}
	var isn [4]byte
	if _, err := cfg.Rand.Read(isn[:]); err != nil {
		return nil, fmt.Errorf("stream: read ISN: %w", err)
	}
	c.iss = binary.BigEndian.Uint32(isn[:])
	recvBase := min(MinRecvCharge, cfg.RecvBuffer)
	sendBase := min(MinSendCharge, cfg.SendBuffer)
	if !c.acquireExact(recvBase + sendBase) {
		return nil, fmt.Errorf("stream: %w: connection needs %d bytes", ErrNoMemory, recvBase+sendBase)
	}
	c.snd.init(c, sendBase)
	c.rcv.init(c, recvBase)
	c.synAt, c.finAt, c.timeWaitAt = never, never, never
	return c, nil
}

// NewDialer starts an active open: the first Output carries the SYN.
func NewDialer(cfg Config, now time.Time) (*Conn, error) {
	c, err := newConn(cfg, now, true)
	if err != nil {
		return nil, err
	}
	c.state = StateSynSent
	c.snd.una, c.snd.nxt = c.iss, c.iss
	c.sendSYN = true
	c.synRTO = synRTOInitial
	c.synAt = 0
	c.dialEnd = c.cfg.DialTimeout
	return c, nil
}

// NewResponder accepts the SYN syn: the first Output carries the SYN-ACK and
// the connection is ESTABLISHED at once (§9.3), so the application may write
// before the peer's final ACK arrives. A payload on the SYN is ignored.
func NewResponder(cfg Config, syn *packet.Packet, now time.Time) (*Conn, error) {
	if !syn.Flags.Has(packet.FlagSYN) || syn.Flags.Has(packet.FlagACK) {
		return nil, fmt.Errorf("%w: responder needs a SYN, got %v", ErrConfig, syn.Flags)
	}
	c, err := newConn(cfg, now, false)
	if err != nil {
		return nil, err
	}
	c.irs = syn.Seq
	c.rcv.start(syn.Seq + 1)
	c.snd.una, c.snd.nxt, c.snd.highSack = c.iss+1, c.iss+1, c.iss+1
	c.snd.base = c.iss + 1
	c.snd.updateWindow(syn.Window)
	c.sendSynAck = true
	c.state = StateEstablished
	c.ev |= EvEstablished
	return c, nil
}

// State returns the current state.
func (c *Conn) State() State { return c.state }

// Events returns and clears the pending events.
func (c *Conn) Events() Events {
	e := c.ev
	c.ev = 0
	return e
}

// Reason returns why the connection was reset (ReasonNone otherwise).
func (c *Conn) Reason() Reason { return c.reason }

// ISN returns our initial sequence number.
func (c *Conn) ISN() uint32 { return c.iss }

// PeerISN returns the peer's initial sequence number (dialer: once known).
func (c *Conn) PeerISN() uint32 { return c.irs }

func (c *Conn) ts(now time.Time) time.Duration { return now.Sub(c.epoch) }

// NextDeadline returns when Tick must next be called (the zero Time when no
// timer is armed).
func (c *Conn) NextDeadline() time.Time {
	d := c.nextDeadline()
	if d == never {
		return time.Time{}
	}
	return c.epoch.Add(d)
}

func (c *Conn) nextDeadline() time.Duration {
	d := never
	switch c.state {
	case StateClosed:
		return never
	case StateSynSent:
		return min(c.synAt, c.dialEnd)
	case StateTimeWait:
		return c.timeWaitAt
	}
	d = min(d, c.snd.deadline(c), c.rcv.delAckAt, c.finAt, c.keepaliveDeadline(), c.lastRecv+c.cfg.IdleTimeout)
	return d
}

// RestartSYN restarts the SYN retransmission timer of a pending dial at
// its initial 1 s: the next SYN goes 1 s after now (wire.md §7.5, on the
// switch of the path to the relay). Outside SYN_SENT it does nothing.
func (c *Conn) RestartSYN(now time.Time) {
	if c.state != StateSynSent {
		return
	}
	// As right after the first SYN: 1 s to the next, doubling after it.
	c.synAt = min(c.ts(now)+synRTOInitial, c.dialEnd)
	c.synRTO = min(2*synRTOInitial, synRTOMax)
}

// Tick runs every timer that expired at now. Packets it makes are collected
// by the next Output.
func (c *Conn) Tick(now time.Time) {
	t := c.ts(now)
	switch c.state {
	case StateClosed:
		return
	case StateSynSent:
		c.tickHandshake(t)
		return
	case StateTimeWait:
		if t >= c.timeWaitAt {
			c.toClosed()
		}
		return
	}
	if t >= c.lastRecv+c.cfg.IdleTimeout {
		c.reset(ReasonDeadPeer, true)
		return
	}
	if c.rcv.delAckAt <= t {
		c.rcv.delAckAt = never
		c.rcv.ackNow = true
	}
	c.snd.tick(c, t)
	if c.state == StateClosed {
		return
	}
	c.tickFin(t)
	c.tickKeepalive(t)
}

// reset closes the connection with reason r, optionally sending an RST.
func (c *Conn) reset(r Reason, sendRST bool) {
	if c.state == StateClosed {
		return
	}
	c.reason = r
	c.ev |= EvReset
	c.sendRST = sendRST
	c.toClosed()
}

// Abort resets the connection locally and sends an RST.
// In TIME_WAIT the connection is simply reaped.
func (c *Conn) Abort() {
	if c.state == StateTimeWait {
		c.toClosed()
		return
	}
	c.reset(ReasonAborted, c.state != StateSynSent || c.synTx > 0)
}

func (c *Conn) toClosed() {
	c.state = StateClosed
	c.ev |= EvClosed
	c.releaseAll()
	c.freeBuffers()
}

// freeBuffers recycles the ring arrays a connection in TIME_WAIT or CLOSED
// no longer needs: it never sends data again (only bare ACKs and FIN+ACKs,
// §9.12) and never accepts data; the receive ring goes once read empty
// (Read frees it then).
func (c *Conn) freeBuffers() {
	if c.snd.buf.n > 0 {
		c.snd.lost = true
	}
	c.snd.buf.free()
	if c.rcv.buf.n == 0 {
		c.rcv.buf.free()
	}
}

func (c *Conn) acquireExact(n int) bool {
	if c.cfg.Budget == nil {
		c.charged += n
		return true
	}
	got := c.cfg.Budget.Acquire(n)
	if got < n {
		c.cfg.Budget.Release(got)
		return false
	}
	c.charged += n
	return true
}

// acquireUpTo asks the budget for up to n bytes and returns the grant.
func (c *Conn) acquireUpTo(n int) int {
	if n <= 0 {
		return 0
	}
	if c.cfg.Budget == nil {
		c.charged += n
		return n
	}
	got := c.cfg.Budget.Acquire(n)
	c.charged += got
	return got
}

func (c *Conn) releaseAll() {
	if c.cfg.Budget != nil && c.charged > 0 {
		c.cfg.Budget.Release(c.charged)
	}
	c.charged = 0
}

// Charged returns the bytes currently charged to the memory budget.
func (c *Conn) Charged() int { return c.charged }
