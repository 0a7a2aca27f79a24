package pilot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/rawsock"
	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
)

// DefaultSocket is the daemon socket used when neither WithSocket nor
// $PILOT_SOCKET names one.
const DefaultSocket = "/tmp/pilot.sock"

// ErrClientClosed is returned by operations on a closed Client, or after
// the daemon closed the IPC connection.
var ErrClientClosed = errors.New("pilot: client closed")

// Option configures Connect.
type Option func(*options)

type options struct {
	socket string
	name   string
}

// WithSocket sets the daemon's IPC socket path.
func WithSocket(path string) Option { return func(o *options) { o.socket = path } }

// WithClientName sets the client name sent in Hello ("name/version").
func WithClientName(name string) Option { return func(o *options) { o.name = name } }

// Client is one IPC connection to the local daemon. Connections, listeners
// and packet connections made through it share that socket; closing the
// Client closes them all (the daemon closes what the client owned). A
// Client is safe for concurrent use.
type Client struct {
	// set once in Connect
	nc     net.Conn
	rw     io.ReadWriter // nc, read and written with raw system calls where the platform has them
	tagged bool          // tagged mode negotiated (ipc.md §10.3)
	legacy bool          // the daemon is an original one: no 0x40–0x4F commands
	local  addr.Addr     // our node's address from HelloOK (unspecified in legacy mode)
	done   chan struct{}
	wg     sync.WaitGroup

	wmu  sync.Mutex // serialises frame writes (and legacy FIFO order)
	wbuf []byte     // guarded by wmu

	mu        sync.Mutex // guards the fields below
	err       error      // why the client stopped
	nextTag   ipcmsg.Tag
	pending   map[ipcmsg.Tag]*call
	fifo      []*call // legacy requests awaiting their reply, in send order
	conns     map[ipcmsg.ConnID]*Conn
	closing   map[ipcmsg.ConnID]struct{} // sent Close, reply not seen yet
	early     map[ipcmsg.ConnID]*earlyData
	listeners map[addr.Port]*Listener
	packets   map[addr.Port]*PacketConn

	// closedExtra (legacy mode, guarded by mu) lists the IDs we closed
	// whose CloseOK reply has come: the original daemon also sends an
	// unsolicited CloseOK for them (ipc.md §5.6), absorbed by the reader.
	// Oldest first, at most maxClosedExtra.
	closedExtra []ipcmsg.ConnID
}

// call is one request awaiting its reply. onReply runs on the reader
// goroutine before the reply is handed over (or instead, once abandoned).
type call struct {
	expect    ipcmsg.Cmd // legacy matching by command byte
	ch        chan ipcmsg.Reply
	onReply   func(r ipcmsg.Reply, abandoned bool)
	abandoned bool // guarded by Client.mu
	delivered bool // guarded by Client.mu
}

// earlyData is Recv data (and end of stream) for a connection ID whose
// DialOK or Accept has not been processed yet (ipc.md §11 rule 3).
type earlyData struct {
	data [][]byte
	eof  bool
}

const maxEarlyConns = 64

// maxClosedExtra bounds Client.closedExtra. Forgetting an ID early is
// harmless but for that ID: its extra CloseOK is then buffered as an early
// end of stream, as any CloseOK for an unknown ID.
const maxClosedExtra = 256

// Connect opens an IPC connection to the daemon and negotiates tagged
// mode, datagram-bind and close-reason; against an original daemon it
// falls back to the legacy protocol (ipc.md §11 rule 1).
func Connect(ctx context.Context, opts ...Option) (*Client, error) {
	o := options{socket: os.Getenv("PILOT_SOCKET"), name: "pilot-go/1"}
	if o.socket == "" {
		o.socket = DefaultSocket
	}
	for _, opt := range opts {
		opt(&o)
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", o.socket)
	if err != nil {
		return nil, fmt.Errorf("pilot: connect to daemon at %s: %w", o.socket, err)
	}
	c := newClient(nc)
	if err := c.hello(ctx, o.name); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// newClient starts the reader on nc.
func newClient(nc net.Conn) *Client {
	c := &Client{
		nc: nc, rw: rawsock.ReadWriter(nc), done: make(chan struct{}),
		pending: make(map[ipcmsg.Tag]*call), conns: make(map[ipcmsg.ConnID]*Conn),
		closing: make(map[ipcmsg.ConnID]struct{}), early: make(map[ipcmsg.ConnID]*earlyData),
		listeners: make(map[addr.Port]*Listener), packets: make(map[addr.Port]*PacketConn),
	}
	c.wg.Go(c.readLoop)
	return c
}

func (c *Client) hello(ctx context.Context, name string) error {
	r, err := c.roundTrip(ctx, ipcmsg.Hello{Client: name, Features: []string{
		ipcmsg.FeatureTagged, ipcmsg.FeatureDatagramBind, ipcmsg.FeatureCloseReason}}, ipcmsg.CmdHelloOK)
	var de *Error
	if errors.As(err, &de) && strings.HasPrefix(de.Message, "unknown command: 0x42") {
		c.legacy = true
		return nil
	}
	if err != nil {
		return fmt.Errorf("pilot: hello: %w", err)
	}
	var h ipcmsg.HelloReply
	if err := json.Unmarshal(r.(ipcmsg.HelloOK).Body, &h); err != nil {
		return fmt.Errorf("pilot: hello: bad reply: %w", err)
	}
	c.local = h.Address
	for _, f := range h.Features {
		if f == ipcmsg.FeatureTagged {
			c.tagged = true
		}
	}
	return nil
}

// Legacy reports whether the daemon is an original one (no extensions).
func (c *Client) Legacy() bool { return c.legacy }

// Close closes the IPC connection; the daemon then closes every
// connection, listener and datagram port of this client.
func (c *Client) Close() error {
	c.fail(ErrClientClosed)
	c.wg.Wait()
	return nil
}

// fail stops the client with err (first caller wins) and wakes every waiter.
func (c *Client) fail(err error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = err
	close(c.done)
	c.mu.Unlock()
	c.nc.Close()
}

func (c *Client) closedErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		return ErrClientClosed
	}
	return c.err
}

// write sends one frame.
func (c *Client) write(m ipcmsg.Message) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.writeLocked(m)
}

func (c *Client) writeLocked(m ipcmsg.Message) error {
	c.wbuf = ipcmsg.AppendFrame(c.wbuf[:0], m)
	if _, err := c.rw.Write(c.wbuf); err != nil {
		c.fail(fmt.Errorf("pilot: daemon connection: %w", err))
		return c.closedErr()
	}
	return nil
}

// start sends req and registers its call: tagged in tagged mode (fresh
// non-zero tag), otherwise in the legacy FIFO.
func (c *Client) start(req ipcmsg.Request, expect ipcmsg.Cmd, onReply func(ipcmsg.Reply, bool)) (*call, error) {
	cl := &call{expect: expect, ch: make(chan ipcmsg.Reply, 1), onReply: onReply}
	_, isHello := req.(ipcmsg.Hello)
	if c.tagged && !isHello {
		c.mu.Lock()
		if c.err != nil {
			c.mu.Unlock()
			return nil, c.closedErr()
		}
		tag := c.freshTagLocked()
		c.pending[tag] = cl
		c.mu.Unlock()
		return cl, c.write(ipcmsg.Tagged{Tag: tag, Inner: req})
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return nil, c.closedErr()
	}
	c.fifo = append(c.fifo, cl)
	c.mu.Unlock()
	return cl, c.writeLocked(req)
}

func (c *Client) freshTagLocked() ipcmsg.Tag {
	for {
		c.nextTag++
		if _, used := c.pending[c.nextTag]; c.nextTag != 0 && !used {
			return c.nextTag
		}
	}
}

// wait waits for cl's reply. When ctx ends first the call is abandoned:
// its onReply still runs (with abandoned set) when the reply comes.
func (c *Client) wait(ctx context.Context, cl *call) (ipcmsg.Reply, error) {
	var r ipcmsg.Reply
	select {
	case r = <-cl.ch:
	case <-ctx.Done():
		c.mu.Lock()
		delivered := cl.delivered
		cl.abandoned = !delivered
		c.mu.Unlock()
		if !delivered {
			return nil, ctx.Err()
		}
		r = <-cl.ch // the reader has committed to delivering it
	case <-c.done:
		return nil, c.closedErr()
	}
	if e, ok := r.(ipcmsg.Error); ok {
		return nil, daemonError(e)
	}
	return r, nil
}

// roundTrip sends req and waits for its reply.
func (c *Client) roundTrip(ctx context.Context, req ipcmsg.Request, expect ipcmsg.Cmd) (ipcmsg.Reply, error) {
	cl, err := c.start(req, expect, nil)
	if err != nil {
		return nil, err
	}
	return c.wait(ctx, cl)
}

// complete hands a reply to its call (reader goroutine): onReply runs
// first, so what it sets up is visible to the waiter.
func (c *Client) complete(cl *call, r ipcmsg.Reply) {
	c.mu.Lock()
	abandoned := cl.abandoned
	cl.delivered = !abandoned
	c.mu.Unlock()
	if cl.onReply != nil {
		cl.onReply(r, abandoned)
	}
	if !abandoned {
		cl.ch <- r
	}
}

// goWrite sends m from a new goroutine: the reader never writes, so it
// cannot deadlock against a daemon that is not reading us.
func (c *Client) goWrite(m ipcmsg.Request) {
	c.wg.Go(func() {
		if c.tagged {
			c.start(m, 0, nil)
			return
		}
		c.write(m)
	})
}
