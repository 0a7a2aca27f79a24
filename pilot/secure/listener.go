package secure

import (
	"context"
	"fmt"
	"net"
	"sync"

	"github.com/pilot-go/pilot/pilot"
)

// maxPending bounds the handshakes in progress plus the established
// connections not yet returned by Accept.
const maxPending = 64

// Dial opens a stream to address ("N:XXXX.XXXX.XXXX:port", port 443 by
// convention) with Config.Dial, pilot.Dial by default, and runs the client
// handshake. The server must prove it is the dialed node.
func Dial(ctx context.Context, address string, cfg *Config) (*Conn, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	dial := cfg.Dial
	if dial == nil {
		dial = func(ctx context.Context, address string) (net.Conn, error) {
			return pilot.Dial(ctx, pilot.Network, address)
		}
	}
	raw, err := dial(ctx, address)
	if err != nil {
		return nil, err
	}
	return Client(ctx, raw, cfg)
}

// Listener accepts secure channels over the streams of an inner listener
// (typically pilot.Listen on port 443). Handshakes run in their own
// goroutines, so a slow or silent client never delays the others;
// connections whose handshake fails are closed and never returned.
type Listener struct {
	inner net.Listener
	cfg   *Config

	ready    chan *Conn
	done     chan struct{} // closed by Close
	loopDone chan struct{} // closed when the accept loop ends
	slots    chan struct{} // maxPending semaphore
	wg       sync.WaitGroup

	mu        sync.Mutex
	active    map[net.Conn]struct{} // streams in handshake
	acceptErr error
	closeOnce sync.Once
	closeErr  error
}

// Listen returns a Listener running the server handshake on every stream
// inner accepts. Closing the Listener closes inner.
func Listen(inner net.Listener, cfg *Config) (*Listener, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	l := &Listener{inner: inner, cfg: cfg, ready: make(chan *Conn), done: make(chan struct{}),
		loopDone: make(chan struct{}), slots: make(chan struct{}, maxPending), active: make(map[net.Conn]struct{})}
	l.wg.Add(1)
	go l.loop()
	return l, nil
}

func (l *Listener) loop() {
	defer l.wg.Done()
	defer close(l.loopDone)
	for {
		select {
		case l.slots <- struct{}{}:
		case <-l.done:
			return
		}
		raw, err := l.inner.Accept()
		if err != nil {
			l.mu.Lock()
			l.acceptErr = err
			l.mu.Unlock()
			<-l.slots
			return
		}
		l.mu.Lock()
		select {
		case <-l.done:
			l.mu.Unlock()
			raw.Close()
			<-l.slots
			return
		default:
		}
		l.active[raw] = struct{}{}
		l.wg.Add(1)
		l.mu.Unlock()
		go l.serve(raw)
	}
}

func (l *Listener) serve(raw net.Conn) {
	defer l.wg.Done()
	defer func() { <-l.slots }()
	c, err := Server(context.Background(), raw, l.cfg)
	l.mu.Lock()
	delete(l.active, raw)
	l.mu.Unlock()
	if err != nil {
		if l.cfg.HandshakeError != nil {
			l.cfg.HandshakeError(raw.RemoteAddr(), err)
		}
		return
	}
	select {
	case l.ready <- c:
	case <-l.done:
		c.Close()
	}
}

// Accept returns the next connection whose handshake succeeded.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ready:
		return c, nil
	case <-l.done:
		return nil, &net.OpError{Op: "accept", Net: pilot.Network, Addr: l.inner.Addr(), Err: net.ErrClosed}
	case <-l.loopDone:
		select {
		case c := <-l.ready:
			return c, nil
		default:
		}
		l.mu.Lock()
		err := l.acceptErr
		l.mu.Unlock()
		if err == nil {
			err = net.ErrClosed
		}
		return nil, fmt.Errorf("secure: accept: %w", err)
	}
}

// Close closes the inner listener and the streams still in handshake, and
// waits for the handshake goroutines to end.
func (l *Listener) Close() error {
	l.closeOnce.Do(func() {
		l.mu.Lock()
		close(l.done)
		for raw := range l.active {
			raw.Close()
		}
		l.mu.Unlock()
		l.closeErr = l.inner.Close()
		l.wg.Wait()
	})
	return l.closeErr
}

// Addr returns the inner listener's address.
func (l *Listener) Addr() net.Addr { return l.inner.Addr() }
