package ipc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
)

// Defaults of Config (ipc.md §1, §3, §10.3).
const (
	DefaultMaxClients     = 256
	DefaultMaxOutstanding = 1024
	DefaultSendBudget     = 16 << 20
	DefaultSendBuffer     = 4 << 20
	DefaultDatagramQueue  = 256
)

// Config configures a Server. Zero values select the defaults.
type Config struct {
	// SocketPath is where the Unix socket is created (required).
	SocketPath string
	// Backend is the daemon (required).
	Backend Backend
	// Logger receives connection-level events; nil discards.
	Logger *slog.Logger
	// Version is the daemon version reported in HelloOK.
	Version string
	// MaxClients is the number of concurrent clients; more are accepted
	// and closed at once.
	MaxClients int
	// MaxOutstanding caps a client's outstanding tagged requests; it also
	// caps its legacy requests whose reply is not yet written (the reader
	// then pauses); successful Sends, which have no reply, do not count.
	MaxOutstanding int
	// SendBudget is the per-client limit of data accepted by Send but not
	// yet transmitted; while it is exceeded the client's socket is not read.
	SendBudget int
	// SendBuffer is the per-connection untransmitted amount above which a
	// tagged Send's OK is delayed.
	SendBuffer int
	// DatagramQueue is the number of RecvFrom messages queued per client
	// before further datagrams for it are dropped.
	DatagramQueue int
}

// Server is the daemon side of the IPC socket. Create it with New (which
// creates the socket), serve with Run, stop with Close or by cancelling
// Run's context. The daemon's shutdown (cli.md §3) goes in steps instead:
// StopAccepting, then (once the data plane has ended every connection)
// CloseClients, and Close or the end of Run's context last, which removes
// the socket file.
type Server struct {
	// set once in New
	cfg      Config
	log      *slog.Logger
	backend  Backend
	ln       *net.UnixListener
	sockInfo os.FileInfo
	uid      uint32
	ctx      context.Context
	cancel   context.CancelFunc

	closeOnce sync.Once
	wg        sync.WaitGroup // client goroutines
	dropped   atomic.Uint64  // datagrams with no recipient or a full queue

	mu      sync.Mutex // guards the fields below; never held while calling the Backend or a Conn
	closed  bool       // Close ran
	refuse  bool       // StopAccepting ran: no new clients
	clients map[*client]struct{}
	ports   map[addr.Port]*client // bound and datagram ports of clients
	conns   map[ipcmsg.ConnID]*connEntry
}

// New validates cfg and creates the socket (ipc.md §1).
func New(cfg Config) (*Server, error) {
	if cfg.SocketPath == "" {
		return nil, errors.New("ipc: Config.SocketPath is required")
	}
	if cfg.Backend == nil {
		return nil, errors.New("ipc: Config.Backend is required")
	}
	setDefault(&cfg.MaxClients, DefaultMaxClients)
	setDefault(&cfg.MaxOutstanding, DefaultMaxOutstanding)
	setDefault(&cfg.SendBudget, DefaultSendBudget)
	setDefault(&cfg.SendBuffer, DefaultSendBuffer)
	setDefault(&cfg.DatagramQueue, DefaultDatagramQueue)
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	ln, fi, err := listenSocket(cfg.SocketPath)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{
		cfg: cfg, log: log, backend: cfg.Backend, ln: ln, sockInfo: fi,
		uid: uint32(os.Getuid()), ctx: ctx, cancel: cancel,
		clients: make(map[*client]struct{}),
		ports:   make(map[addr.Port]*client),
		conns:   make(map[ipcmsg.ConnID]*connEntry),
	}, nil
}

func setDefault(v *int, d int) {
	if *v <= 0 {
		*v = d
	}
}

// Addr returns the socket's address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Run accepts clients until ctx is cancelled or Close is called, then closes
// every client, removes the socket and waits for all goroutines. It returns
// nil after a requested shutdown. After StopAccepting it accepts no more
// clients but goes on serving the existing ones (and keeps the socket file)
// until ctx is cancelled or Close is called.
func (s *Server) Run(ctx context.Context) error {
	stop := make(chan struct{})
	var watch sync.WaitGroup
	watch.Go(func() {
		select {
		case <-ctx.Done():
			s.Close()
		case <-s.ctx.Done():
		case <-stop:
		}
	})
	err := s.acceptLoop()
	if err == nil {
		// The listener was closed: by Close or the end of ctx (both
		// already under way), or by StopAccepting, after which the
		// existing clients are served until one of them.
		select {
		case <-ctx.Done():
		case <-s.ctx.Done():
		}
	}
	close(stop)
	watch.Wait()
	s.Close()
	s.wg.Wait()
	return err
}

func (s *Server) acceptLoop() error {
	for {
		nc, err := s.ln.AcceptUnix()
		if err != nil {
			if s.ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			s.log.Warn("ipc accept failed", "err", err)
			return fmt.Errorf("ipc accept: %w", err)
		}
		s.admit(nc)
	}
}

// admit applies the peer check and the client cap, then starts the client.
func (s *Server) admit(nc *net.UnixConn) {
	if uid, ok := peerUID(nc); ok && !peerAllowed(uid, s.uid) {
		s.log.Warn("ipc client refused: foreign uid", "uid", uid)
		nc.Close()
		return
	}
	s.mu.Lock()
	if s.closed || s.refuse || len(s.clients) >= s.cfg.MaxClients {
		full := !s.closed && !s.refuse
		s.mu.Unlock()
		if full {
			s.log.Warn("ipc client refused: too many clients", "max", s.cfg.MaxClients)
		}
		nc.Close()
		return
	}
	c := newClient(s, nc)
	s.clients[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	go c.run()
}

// Close stops accepting, closes every client and removes the socket file.
// It is idempotent and does not wait; Run returns once everything stopped.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		clients := make([]*client, 0, len(s.clients))
		for c := range s.clients {
			clients = append(clients, c)
		}
		s.mu.Unlock()
		s.cancel()
		s.ln.Close()
		for _, c := range clients {
			c.nc.Close()
		}
		if fi, err := os.Lstat(s.cfg.SocketPath); err == nil && os.SameFile(fi, s.sockInfo) {
			os.Remove(s.cfg.SocketPath)
		}
	})
	return nil
}

// StopAccepting closes the listener: clients that connect from now on are
// refused, while the existing clients are served as before and the socket
// file stays in place (first step of the daemon's shutdown, cli.md §3). It
// is idempotent and does not wait.
func (s *Server) StopAccepting() {
	s.mu.Lock()
	s.refuse = true
	s.mu.Unlock()
	s.ln.Close()
}

// CloseClients ends the existing clients gracefully (daemon shutdown, after
// the data plane has ended their connections, cli.md §3, ipc.md §10.7): it
// stops accepting (StopAccepting), waits until the writer of every client
// has written out everything queued for it before the call (replies,
// unsolicited messages, Recv data, and the ConnClosed and CloseOK of
// connections that ended), or until ctx ends, whichever comes first, and
// then closes every client's connection. The socket file stays until Close
// (or the end of Run's context). It does not wait for the clients'
// goroutines; Run does.
func (s *Server) CloseClients(ctx context.Context) {
	s.StopAccepting()
	s.mu.Lock()
	clients := make([]*client, 0, len(s.clients))
	for c := range s.clients {
		clients = append(clients, c)
	}
	s.mu.Unlock()
	flushed := make([]<-chan struct{}, len(clients))
	for i, c := range clients {
		flushed[i] = c.flushed()
	}
	for i, c := range clients {
		select {
		case <-flushed[i]:
		case <-c.ctx.Done(): // the client is going away: its writer is done
		case <-ctx.Done():
		}
	}
	for _, c := range clients {
		c.stop()
	}
}

// DroppedDatagrams returns the number of datagrams that had no recipient
// or found the recipient's queue full (ipc.md §3.3, §5.8).
func (s *Server) DroppedDatagrams() uint64 { return s.dropped.Load() }

// builtinPort reports the daemon's service ports (ipc.md §5.1).
func builtinPort(p addr.Port) bool {
	return p == 7 || p == 444 || (p >= 1001 && p <= 1003)
}

// DeliverDatagram routes an inbound datagram to IPC clients (ipc.md §5.8):
// to the client that bound m.DstPort or owns it as its datagram port, else
// to every client that has not negotiated datagram-bind. Datagrams to
// built-in service ports that no client bound are dropped. It never blocks
// and returns the number of clients that queued it; 0 counts as dropped.
// m.Data is retained: the caller must not reuse it.
func (s *Server) DeliverDatagram(m ipcmsg.RecvFrom) int {
	s.mu.Lock()
	var targets []*client
	if owner, ok := s.ports[m.DstPort]; ok {
		targets = append(targets, owner)
	} else if !builtinPort(m.DstPort) {
		for c := range s.clients {
			if !c.dgramBind.Load() {
				targets = append(targets, c)
			}
		}
	}
	s.mu.Unlock()
	n := 0
	for _, c := range targets {
		if c.enqueueDatagram(m) {
			n++
		}
	}
	if n == 0 {
		s.dropped.Add(1)
	}
	return n
}
