package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pilot-go/pilot/internal/registry/metrics"
)

// Request is one registry-protocol request frame handed to a Dispatcher.
// The server reuses it for the connection's next frame: like Body, it is
// only valid until Handle returns.
type Request struct {
	// Body is the frame body, 0..MaxFrame bytes, not validated in any way
	// (an empty or non-JSON body is the Dispatcher's to refuse). It is only
	// valid until Handle returns; copy it to keep it.
	Body []byte
	// Remote is the peer's address; RemoteIP (unmapped) keys IP-based rate
	// limits.
	Remote   netip.AddrPort
	RemoteIP netip.Addr
	// TLS reports whether the request arrived over TLS.
	TLS bool
	// ConnID identifies the connection (unique per process, from 1);
	// Seq numbers the requests of that connection from 1.
	ConnID uint64
	Seq    uint64
	// Received is when the whole frame had arrived.
	Received time.Time
}

// Response is a Dispatcher's answer.
type Response struct {
	// Body is the complete reply body: one JSON object of at most MaxFrame
	// bytes (a larger body is replaced by an `internal` error). It must not
	// be empty.
	Body []byte
	// Type is the request's `type` as the client sent it ("" when absent);
	// the server normalises it for the metrics labels.
	Type string
	// Code is the error code of an error reply, "" for success.
	Code string
}

// Dispatcher handles registry requests; the handler layer implements it.
//
// Handle is called from the connection's goroutine, one request at a time
// per connection and concurrently across connections. It must return a
// reply for every request (there are no request IDs: exactly one reply per
// frame). A panic is recovered by the server, logged with its stack and
// answered with an `internal` error; the connection stays open.
//
// The server records pilot_requests_total, pilot_request_duration_seconds
// and pilot_errors_total from Response.Type and Response.Code, so the
// Dispatcher must not count them again.
type Dispatcher interface {
	Handle(ctx context.Context, req *Request) Response
}

// DispatcherFunc adapts a function to Dispatcher.
type DispatcherFunc func(ctx context.Context, req *Request) Response

// Handle implements Dispatcher.
func (f DispatcherFunc) Handle(ctx context.Context, req *Request) Response { return f(ctx, req) }

// Health is the store side of /healthz, /readyz and the gauges.
type Health interface {
	// Gauges queries the store for the gauge values (also nodes_online and
	// networks_count of /healthz). It is called every ProbeInterval; an
	// error marks the registry degraded until the next successful probe.
	Gauges(ctx context.Context) (metrics.Gauges, error)
	// Ready returns nil when the store is reachable and its migrations are
	// applied, else an error whose text is the /readyz reason.
	Ready(ctx context.Context) error
}

// Defaults of Config.
const (
	DefaultMaxConns        = 10000
	DefaultMaxConnsPerIP   = 2000
	DefaultFrameTimeout    = 30 * time.Second
	DefaultIdleTimeout     = 5 * time.Minute
	DefaultWriteTimeout    = 30 * time.Second
	DefaultShutdownTimeout = 10 * time.Second
	DefaultProbeInterval   = 10 * time.Second
	HTTPIdleTimeout        = 30 * time.Second
)

// Config configures a Server. Zero values take the defaults above.
type Config struct {
	// Addr is the registry port (-listen), e.g. ":9000". Ignored when
	// Listener is set.
	Addr string
	// Listener, if set, is used instead of listening on Addr (tests).
	Listener net.Listener
	// HTTPAddr is the optional extra plain HTTP listener (-http).
	HTTPAddr string
	// TLS enables TLS on the registry port (-tls); nil means plaintext.
	TLS *tls.Config
	// AllowPlain accepts plaintext registry frames on a TLS registry
	// (-tls-allow-plain).
	AllowPlain bool
	// Dispatcher handles registry requests. Required.
	Dispatcher Dispatcher
	// Health feeds /healthz, /readyz and the gauges; nil reports an
	// always-healthy store with zero counts.
	Health Health
	// Metrics records the metrics and serves /metrics; nil creates one.
	Metrics *metrics.Metrics
	// MetricsToken is the bearer token non-loopback /metrics scrapers
	// must present (-metrics-token); empty means loopback only.
	MetricsToken string
	// Version is reported by /healthz (a leading "v" is removed).
	Version string
	// Logger receives operational logs; nil discards.
	Logger *slog.Logger

	MaxConns, MaxConnsPerIP                 int
	FrameTimeout, IdleTimeout, WriteTimeout time.Duration
	ShutdownTimeout, ProbeInterval          time.Duration
}

// Server serves the registry port. Create it with New, start it with Run.
type Server struct {
	// set once in New
	cfg     Config
	log     *slog.Logger
	metrics *metrics.Metrics
	start   time.Time
	httpH   http.Handler

	nextConnID atomic.Uint64
	closing    atomic.Bool // set when shutdown starts
	listening  atomic.Bool // the accept loop is running
	addr       atomic.Pointer[net.TCPAddr]
	httpAddr   atomic.Pointer[net.TCPAddr]
	ready      chan struct{} // closed when the listeners are bound

	// Lock order: mu before conn.mu (shutdown calls conn.wakeIdle under mu).
	mu    sync.Mutex // guards the fields below
	total int
	perIP map[netip.Addr]int
	conns map[*conn]struct{}

	probeMu    sync.Mutex // guards probe and refreshing
	probe      probeResult
	refreshing chan struct{} // closed when the in-flight HTTP-triggered probe ends
}

type probeResult struct {
	err    error
	gauges metrics.Gauges
}

// New validates cfg and returns a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Dispatcher == nil {
		return nil, errors.New("server: no Dispatcher")
	}
	if cfg.Listener == nil && cfg.Addr == "" {
		return nil, errors.New("server: no listen address")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.FrameTimeout, DefaultFrameTimeout)
	def(&cfg.IdleTimeout, DefaultIdleTimeout)
	def(&cfg.WriteTimeout, DefaultWriteTimeout)
	def(&cfg.ShutdownTimeout, DefaultShutdownTimeout)
	def(&cfg.ProbeInterval, DefaultProbeInterval)
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.MaxConnsPerIP <= 0 {
		cfg.MaxConnsPerIP = DefaultMaxConnsPerIP
	}
	s := &Server{
		cfg:     cfg,
		log:     cfg.Logger,
		metrics: cfg.Metrics,
		start:   time.Now(),
		ready:   make(chan struct{}),
		perIP:   make(map[netip.Addr]int),
		conns:   make(map[*conn]struct{}),
	}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if s.metrics == nil {
		s.metrics = metrics.New()
	}
	s.httpH = s.httpHandler()
	return s, nil
}

// Metrics returns the server's metrics (for the Dispatcher's counters).
func (s *Server) Metrics() *metrics.Metrics { return s.metrics }

// Ready is closed once the listeners are bound; Addr and HTTPAddr are then
// valid.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Addr returns the bound registry address (nil before Ready).
func (s *Server) Addr() *net.TCPAddr { return s.addr.Load() }

// HTTPAddr returns the bound -http address (nil if none or before Ready).
func (s *Server) HTTPAddr() *net.TCPAddr { return s.httpAddr.Load() }

// Run binds the listeners, serves until ctx is cancelled, then shuts down
// gracefully (see the package doc). It returns nil after a clean shutdown.
func (s *Server) Run(ctx context.Context) error {
	ln := s.cfg.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", s.cfg.Addr); err != nil {
			return fmt.Errorf("listen %s: %w", s.cfg.Addr, err)
		}
	}
	var httpLn net.Listener
	if s.cfg.HTTPAddr != "" {
		var err error
		if httpLn, err = net.Listen("tcp", s.cfg.HTTPAddr); err != nil {
			ln.Close()
			return fmt.Errorf("listen -http %s: %w", s.cfg.HTTPAddr, err)
		}
		if a, ok := httpLn.Addr().(*net.TCPAddr); ok {
			s.httpAddr.Store(a)
		}
	}
	if a, ok := ln.Addr().(*net.TCPAddr); ok {
		s.addr.Store(a)
	}

	// handlerCtx outlives ctx by the shutdown grace period.
	handlerCtx, cancelHandlers := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelHandlers()
	s.runProbe(handlerCtx)

	sniffed := newChanListener(ln.Addr())
	hs := s.newHTTPServer()
	var wg sync.WaitGroup
	var extra *http.Server
	wg.Go(func() { _ = hs.Serve(sniffed) })
	if httpLn != nil {
		extra = s.newHTTPServer()
		wg.Go(func() { _ = extra.Serve(httpLn) })
	}
	probeCtx, stopProbe := context.WithCancel(handlerCtx)
	wg.Go(func() { s.probeLoop(probeCtx) })

	acceptErr := make(chan error, 1)
	var connWG sync.WaitGroup
	s.listening.Store(true)
	close(s.ready)
	wg.Go(func() { acceptErr <- s.acceptLoop(handlerCtx, ln, sniffed, &connWG) })

	var runErr error
	acceptReturned := false
	select {
	case <-ctx.Done():
	case runErr = <-acceptErr:
		acceptReturned = true
	}
	// Shutdown: stop accepting, release idle connections, let in-flight
	// requests finish within the grace period.
	s.listening.Store(false)
	s.closing.Store(true)
	ln.Close()
	if !acceptReturned {
		// The accept loop ends on the closed listener; after it returns
		// no connection is added to connWG, which is waited for below
		// (an Add racing with that Wait is a WaitGroup misuse).
		<-acceptErr
	}
	stopProbe()
	s.mu.Lock()
	for c := range s.conns {
		c.wakeIdle()
	}
	s.mu.Unlock()
	graceCtx, cancelGrace := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancelGrace()
	httpDone := make(chan struct{})
	go func() {
		defer close(httpDone)
		_ = hs.Shutdown(graceCtx)
		if extra != nil {
			_ = extra.Shutdown(graceCtx)
		}
	}()
	connsDone := make(chan struct{})
	go func() { connWG.Wait(); close(connsDone) }()
	select {
	case <-connsDone:
	case <-graceCtx.Done():
		s.log.Warn("shutdown grace period over; closing remaining connections")
		cancelHandlers()
		s.mu.Lock()
		for c := range s.conns {
			c.nc.Close()
		}
		s.mu.Unlock()
		<-connsDone
	}
	<-httpDone
	_ = hs.Close()
	if extra != nil {
		_ = extra.Close()
	}
	wg.Wait()
	if runErr != nil && !errors.Is(runErr, net.ErrClosed) {
		return runErr
	}
	return nil
}

// acceptLoop accepts until ln is closed, enforcing the connection caps.
func (s *Server) acceptLoop(ctx context.Context, ln net.Listener, sniffed *chanListener, wg *sync.WaitGroup) error {
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.closing.Load() || errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log.Warn("accept failed; retrying", "err", err, "backoff", backoff)
				t := time.NewTimer(backoff)
				select {
				case <-t.C:
				case <-ctx.Done():
					t.Stop()
				}
				continue
			}
			return fmt.Errorf("accept: %w", err)
		}
		backoff = 0
		c, reason := s.admit(nc)
		if c == nil {
			s.metrics.ConnRejected(reason)
			nc.Close()
			continue
		}
		wg.Go(func() { s.serveConn(ctx, c, sniffed) })
	}
}

// admit applies the connection caps and registers the connection.
func (s *Server) admit(nc net.Conn) (*conn, string) {
	ap := addrPort(nc.RemoteAddr())
	ip := ap.Addr().Unmap()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.total >= s.cfg.MaxConns {
		return nil, metrics.RejectMaxConns
	}
	if s.perIP[ip] >= s.cfg.MaxConnsPerIP {
		return nil, metrics.RejectPerIP
	}
	s.total++
	s.perIP[ip]++
	c := &conn{s: s, nc: nc, remote: ap, ip: ip, id: s.nextConnID.Add(1)}
	s.conns[c] = struct{}{}
	s.metrics.ConnOpened()
	return c, ""
}

// release undoes admit; it runs exactly once per admitted connection.
func (s *Server) release(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
	s.total--
	if s.perIP[c.ip]--; s.perIP[c.ip] <= 0 {
		delete(s.perIP, c.ip)
	}
	s.metrics.ConnClosed()
}

// OpenConns returns the number of open registry-port connections.
func (s *Server) OpenConns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}

func addrPort(a net.Addr) netip.AddrPort {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.AddrPort()
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}
