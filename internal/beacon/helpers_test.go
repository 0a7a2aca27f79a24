package beacon

import (
	"bytes"
	"context"
	"encoding/binary"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/wire/beaconmsg"
)

// readTimeout bounds every read in these tests; a correct beacon answers
// within microseconds on loopback.
const readTimeout = 5 * time.Second

// fakeClock is an injectable clock; it only moves when a test advances it.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.UnixMilli(1774606503000).UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// startServer binds conn (or cfg.Listen, default 127.0.0.1:0), applies
// hooks, and runs the server until the test ends; cleanup checks that Run
// returned nil.
func startServer(t *testing.T, cfg Config, hooks testHooks) *Server {
	t.Helper()
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	conn, err := listenUDP(cfg.Listen)
	if err != nil {
		t.Fatal(err)
	}
	return runServer(t, cfg, conn, hooks)
}

func runServer(t *testing.T, cfg Config, conn packetConn, hooks testHooks) *Server {
	t.Helper()
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	s := newServer(cfg, conn)
	s.hooks = hooks
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(readTimeout):
			t.Errorf("Run did not return after cancel")
		}
	})
	return s
}

// client is a daemon stand-in: one UDP socket.
type client struct {
	t *testing.T
	c *net.UDPConn
}

func newClient(t *testing.T, ip string) *client {
	t.Helper()
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(ip), 0)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &client{t: t, c: c}
}

func (c *client) addr() netip.AddrPort {
	return unmapAddrPort(c.c.LocalAddr().(*net.UDPAddr).AddrPort())
}

func (c *client) send(to netip.AddrPort, b []byte) {
	c.t.Helper()
	if _, err := c.c.WriteToUDPAddrPort(b, to); err != nil {
		c.t.Fatal(err)
	}
}

// recv returns the next datagram and its source, failing after readTimeout.
func (c *client) recv() ([]byte, netip.AddrPort) {
	c.t.Helper()
	b, src, err := c.tryRecv(readTimeout)
	if err != nil {
		c.t.Fatalf("no datagram within %v: %v", readTimeout, err)
	}
	return b, src
}

func (c *client) tryRecv(d time.Duration) ([]byte, netip.AddrPort, error) {
	buf := make([]byte, 70000)
	_ = c.c.SetReadDeadline(time.Now().Add(d))
	n, src, err := c.c.ReadFromUDPAddrPort(buf)
	return buf[:n], unmapAddrPort(src), err
}

// discover sends a 5-byte plain Discover and returns the reply.
func (c *client) discover(to netip.AddrPort, node addr.NodeID) []byte {
	c.t.Helper()
	c.send(to, mustMarshal(c.t, beaconmsg.Discover{Node: node}))
	b, src := c.recv()
	if src != to {
		c.t.Fatalf("reply from %v, want %v", src, to)
	}
	return b
}

// expectNothing proves that nothing was sent to c before now: it sends a
// node-0 Discover (which the beacon answers in order, from its read loop)
// and requires the next datagram to be that reply. Use it only for
// messages the read loop itself would have sent.
func (c *client) expectNothing(to netip.AddrPort) {
	c.t.Helper()
	c.send(to, mustMarshal(c.t, beaconmsg.Discover{Node: 0, Form: beaconmsg.DiscoverPadded}))
	b, _ := c.recv()
	want := mustMarshal(c.t, beaconmsg.DiscoverReply{Endpoint: c.addr()})
	if !bytes.Equal(b, want) {
		c.t.Fatalf("unexpected datagram % x before the sentinel reply", b)
	}
}

func mustMarshal(t *testing.T, m beaconmsg.Message) []byte {
	t.Helper()
	b, err := beaconmsg.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func replyFor(t *testing.T, ep netip.AddrPort) []byte {
	return mustMarshal(t, beaconmsg.DiscoverReply{Endpoint: ep})
}

func punchCmd(t *testing.T, ep netip.AddrPort) []byte {
	return mustMarshal(t, beaconmsg.PunchCommand{Endpoint: ep})
}

func relayMsg(sender, dest addr.NodeID, frame []byte) []byte {
	b := binary.BigEndian.AppendUint32([]byte{byte(beaconmsg.TypeRelay)}, uint32(sender))
	b = binary.BigEndian.AppendUint32(b, uint32(dest))
	return append(b, frame...)
}

func deliverMsg(sender addr.NodeID, frame []byte) []byte {
	b := binary.BigEndian.AppendUint32([]byte{byte(beaconmsg.TypeRelayDeliver)}, uint32(sender))
	return append(b, frame...)
}

// events is a buffered channel fed by hooks, with a bounded wait.
type events[T any] chan T

func newEvents[T any]() events[T] { return make(chan T, 1024) }

func (e events[T]) next(t *testing.T) T {
	t.Helper()
	select {
	case v := <-e:
		return v
	case <-time.After(readTimeout):
		t.Fatalf("no event within %v", readTimeout)
		panic("unreachable")
	}
}

// waitFor consumes events until ok returns true.
func (e events[T]) waitFor(t *testing.T, ok func(T) bool) {
	t.Helper()
	for range 10000 {
		if ok(e.next(t)) {
			return
		}
	}
	t.Fatal("condition not met after 10000 events")
}

type handledEvent struct {
	typ byte
	src netip.AddrPort
}

// logBuffer collects log output safely across goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// memConn is an in-memory packetConn for handler-level tests: it records
// what the beacon sends and never delivers anything to ReadFrom.
type memConn struct {
	laddr  netip.AddrPort
	mu     sync.Mutex
	sent   []sentPacket
	closed chan struct{}
	once   sync.Once
}

type sentPacket struct {
	b     []byte
	to    netip.AddrPort
	local netip.Addr
}

func newMemConn() *memConn {
	return &memConn{laddr: netip.MustParseAddrPort("192.0.2.1:9001"), closed: make(chan struct{})}
}

func (m *memConn) ReadFrom([]byte) (int, netip.AddrPort, netip.Addr, error) {
	<-m.closed
	return 0, netip.AddrPort{}, netip.Addr{}, net.ErrClosed
}

func (m *memConn) WriteTo(b []byte, to netip.AddrPort, local netip.Addr) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sent = append(m.sent, sentPacket{b: append([]byte(nil), b...), to: to, local: local})
	return nil
}

func (m *memConn) LocalAddr() netip.AddrPort { return m.laddr }

func (m *memConn) Close() error {
	m.once.Do(func() { close(m.closed) })
	return nil
}

func (m *memConn) take() []sentPacket {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := m.sent
	m.sent = nil
	return out
}

// newMemServer returns a Server over a memConn that is not running: tests
// call handle directly, as the read loop would.
func newMemServer(t testing.TB, cfg Config) (*Server, *memConn) {
	t.Helper()
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	mc := newMemConn()
	return newServer(cfg, mc), mc
}

// ipv6Loopback reports whether ::1 can be bound on this machine.
func ipv6Loopback() bool {
	c, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		return false
	}
	c.Close()
	return true
}
