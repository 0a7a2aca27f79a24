package pilot

import (
	"context"
	"net"
	"sync"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
)

// unbindTimeout bounds the wait for UnbindOK in Listener.Close and
// PacketConn.Close.
const unbindTimeout = 10 * time.Second

// Listener accepts stream connections on a port bound by this client. It
// implements net.Listener.
type Listener struct {
	// set once
	c          *Client
	addr       *Addr
	ownsClient bool
	ready      chan struct{}
	closedCh   chan struct{}

	mu     sync.Mutex
	queue  []*Conn
	closed bool
}

// bind sends Bind and runs register on the reader goroutine as soon as the
// BindOK arrives, so that no Accept or datagram for the port is missed.
func (c *Client) bind(ctx context.Context, port addr.Port, register func(addr.Port)) (addr.Port, error) {
	var bound addr.Port
	cl, err := c.start(ipcmsg.Bind{Port: port}, ipcmsg.CmdBindOK, func(r ipcmsg.Reply, abandoned bool) {
		ok, isOK := r.(ipcmsg.BindOK)
		if !isOK {
			return
		}
		if abandoned {
			if !c.legacy {
				c.goWrite(ipcmsg.Unbind(ok))
			}
			return
		}
		bound = ok.Port
		register(bound)
	})
	if err != nil {
		return 0, err
	}
	if _, err := c.wait(ctx, cl); err != nil {
		return 0, err
	}
	return bound, nil
}

// unbind releases a port (not against an original daemon, which does not
// know Unbind: there the port stays bound until the client disconnects).
func (c *Client) unbind(port addr.Port) error {
	if c.legacy {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), unbindTimeout)
	defer cancel()
	_, err := c.roundTrip(ctx, ipcmsg.Unbind{Port: port}, ipcmsg.CmdUnbindOK)
	return err
}

// Listen binds a port and returns a Listener for it. address is ":port",
// "" or a full Pilot socket address (its address part is ignored); port 0
// asks the daemon for an ephemeral port.
func (c *Client) Listen(ctx context.Context, network, address string) (*Listener, error) {
	l := &Listener{c: c, ready: make(chan struct{}, 1), closedCh: make(chan struct{})}
	err := c.bindAddress(ctx, network, address, func(p addr.Port) {
		l.addr = &Addr{Addr: c.local, Port: p}
		c.mu.Lock()
		c.listeners[p] = l
		c.mu.Unlock()
	})
	if err != nil {
		return nil, err
	}
	return l, nil
}

// bindAddress is the common part of Listen and ListenPacket: it checks
// network, parses address (":port", "" or a full socket address) and binds
// the port, running register with the bound port as bind does.
func (c *Client) bindAddress(ctx context.Context, network, address string, register func(addr.Port)) error {
	if err := checkNetwork(network); err != nil {
		return err
	}
	port, err := parseListenAddr(address)
	if err != nil {
		return err
	}
	if _, err := c.bind(ctx, port, register); err != nil {
		return opError("listen", nil, &Addr{Addr: c.local, Port: port}, err)
	}
	return nil
}

func (l *Listener) enqueue(cn *Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.queue = append(l.queue, cn)
	signal(l.ready)
	return true
}

// Accept waits for the next inbound connection.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			return nil, opError("accept", l.addr, nil, net.ErrClosed)
		}
		if len(l.queue) > 0 {
			cn := l.queue[0]
			l.queue[0] = nil
			l.queue = l.queue[1:]
			if len(l.queue) > 0 {
				signal(l.ready)
			}
			l.mu.Unlock()
			return cn, nil
		}
		l.mu.Unlock()
		select {
		case <-l.ready:
		case <-l.closedCh:
		case <-l.c.done:
			return nil, opError("accept", l.addr, nil, net.ErrClosed)
		}
	}
}

// Close stops listening: it sends Unbind and waits for the daemon's answer,
// so the port can be bound again at once. Connections not yet accepted are
// closed.
func (l *Listener) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return opError("close", l.addr, nil, net.ErrClosed)
	}
	l.closed = true
	queue := l.queue
	l.queue = nil
	l.mu.Unlock()
	close(l.closedCh)
	for _, cn := range queue {
		cn.Close()
	}
	c := l.c
	c.mu.Lock()
	if c.listeners[l.addr.Port] == l {
		delete(c.listeners, l.addr.Port)
	}
	c.mu.Unlock()
	var err error
	if uerr := c.unbind(l.addr.Port); uerr != nil {
		err = opError("close", l.addr, nil, uerr)
	}
	if l.ownsClient {
		c.Close()
	}
	return err
}

// Addr returns the listening address (our node, the bound port).
func (l *Listener) Addr() net.Addr { return l.addr }
