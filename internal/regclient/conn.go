package regclient

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/pilot-go/pilot/internal/wire/regmsg"
)

// conn is one connection to the registry with pipelined calls (§1: replies
// come in request order, so the oldest pending call owns the next reply).
//
// Goroutines: writeLoop (the only writer of nc) and readLoop (the only
// reader), both started by newConn and waited for by wait. fail closes nc,
// which ends both.
type conn struct {
	// Set once in newConn.
	nc   net.Conn
	reqs chan *call    // unbuffered: a send succeeds only when writeLoop takes the call
	done chan struct{} // closed by fail
	wg   sync.WaitGroup

	mu      sync.Mutex
	pending []*call // guarded by mu: calls whose frame is being or was written, oldest first
	err     error   // guarded by mu: why the connection failed; nil while alive
}

// call is one request frame waiting for its reply.
type call struct {
	frame    []byte
	deadline time.Time   // write deadline (zero = none)
	res      chan result // capacity 1, so the loops never block on an abandoned call
}

type result struct {
	body []byte
	err  error
}

func newConn(nc net.Conn) *conn {
	c := &conn{nc: nc, reqs: make(chan *call), done: make(chan struct{})}
	c.wg.Add(2)
	go c.writeLoop()
	go c.readLoop()
	return c
}

// roundTrip hands cl to writeLoop and waits for its reply. sent reports
// whether writeLoop took the frame, after which the registry may have
// processed it even when no reply arrives. A call whose deadline passes
// without a reply fails the connection: the registry is unresponsive or the
// path is dead, and later replies could no longer be matched usefully.
func (c *conn) roundTrip(ctx context.Context, cl *call) (body []byte, sent bool, err error) {
	select {
	case c.reqs <- cl:
	case <-c.done:
		return nil, false, c.failure()
	case <-ctx.Done():
		return nil, false, ctx.Err()
	}
	select {
	case r := <-cl.res:
		return r.body, true, r.err
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			c.fail(fmt.Errorf("%w: no reply before the call deadline", ErrTransport))
		}
		return nil, true, ctx.Err()
	}
}

func (c *conn) writeLoop() {
	defer c.wg.Done()
	for {
		select {
		case <-c.done:
			return
		case cl := <-c.reqs:
			if !c.enqueue(cl) {
				return
			}
			c.nc.SetWriteDeadline(cl.deadline)
			if _, err := c.nc.Write(cl.frame); err != nil {
				c.fail(fmt.Errorf("%w: write: %w", ErrTransport, err))
				return
			}
		}
	}
}

func (c *conn) readLoop() {
	defer c.wg.Done()
	br := bufio.NewReader(c.nc)
	for {
		body, err := regmsg.ReadFrame(br, nil)
		if err != nil {
			if errors.Is(err, regmsg.ErrFrameTooLarge) {
				c.fail(fmt.Errorf("%w: reply %w", ErrProtocol, err))
			} else {
				c.fail(fmt.Errorf("%w: read: %w", ErrTransport, err))
			}
			return
		}
		cl := c.dequeue()
		if cl == nil {
			c.fail(fmt.Errorf("%w: reply frame without a pending request", ErrProtocol))
			return
		}
		cl.res <- result{body: body}
	}
}

// enqueue appends cl to the pending calls; on a failed connection it gives
// cl the failure instead and returns false.
func (c *conn) enqueue(cl *call) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		cl.res <- result{err: c.err}
		return false
	}
	c.pending = append(c.pending, cl)
	return true
}

// dequeue removes and returns the oldest pending call, nil when none.
func (c *conn) dequeue() *call {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.pending) == 0 {
		return nil
	}
	cl := c.pending[0]
	c.pending[0] = nil
	c.pending = c.pending[1:]
	return cl
}

// fail marks the connection failed (the first error wins), closes it and
// hands err to every pending call. It does not wait for the loops.
func (c *conn) fail(err error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = err
	pending := c.pending
	c.pending = nil
	close(c.done)
	c.mu.Unlock()
	c.nc.Close()
	for _, cl := range pending {
		cl.res <- result{err: err}
	}
}

func (c *conn) failure() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *conn) alive() bool { return c.failure() == nil }

// wait waits for both loops to end (after fail).
func (c *conn) wait() { c.wg.Wait() }
