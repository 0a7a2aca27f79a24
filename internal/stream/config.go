package stream

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"time"
)

// Defaults of wire.md §9 and cli.md §3.1.
const (
	DefaultMSS         = 4096
	MinMSS             = 512
	MaxMSS             = 16384
	DefaultRecvBuffer  = 4 << 20
	DefaultSendBuffer  = 4 << 20
	DefaultKeepalive   = 30 * time.Second
	DefaultIdleTimeout = 120 * time.Second
	DefaultTimeWait    = 10 * time.Second
	DefaultDialTimeout = 30 * time.Second

	// WindowUnit is the unit of the header's window field (§9.8).
	WindowUnit = 4096
	// MinRecvCharge and MinSendCharge are what every connection is charged
	// against the daemon-wide budget from the moment it exists (§9.15).
	MinRecvCharge = 64 << 10
	MinSendCharge = 64 << 10
	// MaxOOORanges bounds the out-of-order ranges a receiver holds (§9.6).
	MaxOOORanges = 1024
)

// Congestion controllers selectable with Config.CC (§9.10).
const (
	CCCubic   = "cubic"
	CCNewReno = "newreno"
)

// Errors returned by the constructors and by Read/Write.
var (
	ErrConfig   = errors.New("invalid stream config")
	ErrNoMemory = errors.New("buffer memory cap reached")
	ErrClosed   = errors.New("connection closed")
	ErrReset    = errors.New("connection reset")
)

// MemoryBudget is the daemon-wide buffer memory cap of §9.15, shared by all
// connections. The engine charges its receive and send buffer capacities to
// it: the minimum (MinRecvCharge + MinSendCharge) at creation and more as a
// connection's buffers grow toward Config.RecvBuffer and Config.SendBuffer.
// Everything is released when the connection reaches CLOSED. The daemon
// implements it (safely for concurrent use if engines run concurrently).
type MemoryBudget interface {
	// Acquire asks for n more bytes and returns how many were granted, 0 … n.
	Acquire(n int) int
	// Release returns n previously granted bytes.
	Release(n int)
}

// Config configures one connection. The zero value means the defaults.
type Config struct {
	// MSS is the largest payload of a data segment (512 … 16,384; default 4,096).
	MSS int
	// RecvBuffer and SendBuffer are the per-connection maximums (default 4 MiB).
	RecvBuffer, SendBuffer int
	// CC selects the congestion controller: "cubic" (default) or "newreno".
	CC string
	// Nagle holds a sub-MSS tail for up to 40 ms while data is unacknowledged.
	Nagle bool
	// Keepalive is the idle time before a probe (5 … 60 s; default 30 s).
	Keepalive time.Duration
	// IdleTimeout aborts a connection that received nothing for this long
	// (default 120 s; at least 3 × Keepalive).
	IdleTimeout time.Duration
	// TimeWait is how long TIME_WAIT lasts (default 10 s).
	TimeWait time.Duration
	// DialTimeout bounds the handshake of a dialer (default 30 s).
	DialTimeout time.Duration
	// Rand supplies the ISN (default crypto/rand).
	Rand io.Reader
	// Budget is the daemon-wide memory cap (nil = unlimited).
	Budget MemoryBudget
	// DisablePacing replaces pacing by a plain burst limit: at most 10
	// segments (64 KiB) leave at one instant; the next burst may leave at
	// any later instant. A diagnostic knob: the default paces.
	DisablePacing bool
	// DisableTLP turns off tail loss probes (RFC 8985 §7).
	DisableTLP bool
}

func (c Config) withDefaults() (Config, error) {
	if c.MSS == 0 {
		c.MSS = DefaultMSS
	}
	if c.MSS < MinMSS || c.MSS > MaxMSS {
		return c, fmt.Errorf("%w: MSS %d outside %d … %d", ErrConfig, c.MSS, MinMSS, MaxMSS)
	}
	if c.RecvBuffer == 0 {
		c.RecvBuffer = DefaultRecvBuffer
	}
	if c.SendBuffer == 0 {
		c.SendBuffer = DefaultSendBuffer
	}
	if c.RecvBuffer < WindowUnit || c.SendBuffer < c.MSS {
		return c, fmt.Errorf("%w: buffers %d/%d too small", ErrConfig, c.RecvBuffer, c.SendBuffer)
	}
	switch c.CC {
	case "":
		c.CC = CCCubic
	case CCCubic, CCNewReno:
	default:
		return c, fmt.Errorf("%w: unknown congestion controller %q", ErrConfig, c.CC)
	}
	if c.Keepalive == 0 {
		c.Keepalive = DefaultKeepalive
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = max(DefaultIdleTimeout, 3*c.Keepalive)
	}
	if c.Keepalive < 0 || c.IdleTimeout < 3*c.Keepalive {
		return c, fmt.Errorf("%w: idle timeout %v must be at least 3 × keepalive %v", ErrConfig, c.IdleTimeout, c.Keepalive)
	}
	if c.TimeWait <= 0 {
		c.TimeWait = DefaultTimeWait
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.Rand == nil {
		c.Rand = rand.Reader
	}
	return c, nil
}
