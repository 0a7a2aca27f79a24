package server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"runtime/debug"
	"sync"
	"time"

	"github.com/pilot-go/pilot/internal/rawsock"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
)

// conn is one accepted registry-port connection.
type conn struct {
	// set once in admit
	s      *Server
	nc     net.Conn
	remote netip.AddrPort
	ip     netip.Addr
	id     uint64

	mu       sync.Mutex // guards the fields below
	rw       net.Conn   // the stream deadlines apply to (nc, or the TLS conn)
	idle     bool       // waiting for the first byte of a frame or sniff
	handedTo bool       // given to the HTTP server, which now owns it
}

// wakeIdle makes an idle connection's pending read fail at once; called at
// shutdown after closing is set.
func (c *conn) wakeIdle() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.idle && !c.handedTo && c.rw != nil {
		_ = c.rw.SetReadDeadline(time.Unix(1, 0))
	}
}

// waitStart marks the connection idle and arms deadline d. It reports false
// when the server is shutting down (the caller then stops).
func (c *conn) waitStart(d time.Duration) bool {
	c.mu.Lock()
	c.idle = true
	_ = c.rw.SetReadDeadline(time.Now().Add(d))
	c.mu.Unlock()
	return !c.s.closing.Load()
}

func (c *conn) waitEnd() {
	c.mu.Lock()
	c.idle = false
	c.mu.Unlock()
}

func (c *conn) setRW(rw net.Conn) {
	c.mu.Lock()
	c.rw = rw
	c.mu.Unlock()
}

// prefixConn replays already-sniffed bytes before reading from Conn. Its
// reads and writes go through rw: raw system calls for an accepted TCP
// connection (rawsock; on a VM the scheduler's bookkeeping of a system call
// costs more than a small request's handling), the TLS connection itself
// over it.
type prefixConn struct {
	net.Conn
	prefix []byte
	rw     io.ReadWriter
}

func newPrefixConn(c net.Conn, prefix []byte) *prefixConn {
	return &prefixConn{Conn: c, prefix: prefix, rw: rawsock.ReadWriter(c)}
}

func (p *prefixConn) Read(b []byte) (int, error) {
	if len(p.prefix) > 0 {
		n := copy(b, p.prefix)
		p.prefix = p.prefix[n:]
		return n, nil
	}
	return p.rw.Read(b)
}

func (p *prefixConn) Write(b []byte) (int, error) { return p.rw.Write(b) }

// trackedConn is a connection owned by the HTTP server; closing it
// releases its connection slot once.
type trackedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (t *trackedConn) Close() error {
	err := t.Conn.Close()
	t.once.Do(t.release)
	return err
}

// serveConn sniffs the connection and serves it.
func (s *Server) serveConn(ctx context.Context, c *conn, sniffed *chanListener) {
	handedOff := false
	defer func() {
		if !handedOff {
			c.nc.Close()
			s.release(c)
		}
	}()
	c.setRW(c.nc)
	first, firstAt, ok := c.sniff(c.nc)
	if !ok {
		return
	}
	rw := net.Conn(newPrefixConn(c.nc, first[:]))
	isTLS := false
	if first[0] == 0x16 {
		if s.cfg.TLS == nil {
			s.metrics.ConnRejected("protocol")
			return
		}
		tc := tls.Server(rw, s.cfg.TLS)
		c.setRW(tc)
		if !c.waitStart(s.cfg.FrameTimeout) {
			return
		}
		err := tc.HandshakeContext(ctx)
		c.waitEnd()
		if err != nil {
			s.log.Debug("tls handshake failed", "addr", c.remote, "err", err)
			return
		}
		if first, firstAt, ok = c.sniff(tc); !ok {
			return
		}
		if first[0] == 0x16 {
			s.metrics.ConnRejected("protocol")
			return
		}
		rw, isTLS = newPrefixConn(tc, first[:]), true
	}
	switch kind := classify(first); kind {
	case kindFrames:
		if s.cfg.TLS != nil && !isTLS && !s.cfg.AllowPlain {
			s.metrics.ObserveRequest("", 0)
			s.metrics.Error("", CodeFailedPrecondition)
			c.writeAndClose(rw, appendFrame(nil, ErrorBody(CodeFailedPrecondition, msgTLSRequired)))
			return
		}
		// The sniffed bytes are the first frame's header: that frame must
		// be whole within FrameTimeout of its first byte (§1), not of the
		// end of the sniff.
		c.serveFrames(ctx, rw, isTLS, firstAt.Add(s.cfg.FrameTimeout))
	case kindHTTP:
		tc := &trackedConn{Conn: rw, release: func() { s.release(c) }}
		c.mu.Lock()
		c.handedTo = true
		c.mu.Unlock()
		_ = c.rw.SetDeadline(time.Time{})
		if sniffed.deliver(tc) {
			handedOff = true
			return
		}
		c.mu.Lock()
		c.handedTo = false
		c.mu.Unlock()
	case kindHTTPRefused:
		c.writeAndClose(rw, []byte("HTTP/1.1 405 Method Not Allowed\r\nAllow: GET, HEAD\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 36\r\nConnection: close\r\n\r\nonly GET and HEAD are allowed here.\n"))
	default:
		s.metrics.ConnRejected("protocol")
	}
}

type kind int

const (
	kindOther kind = iota
	kindFrames
	kindHTTP
	kindHTTPRefused
)

// classify applies the sniffing table of registry.md §1.1 (0x16 is handled
// by the caller).
func classify(b [4]byte) kind {
	switch {
	case b[0] == 0x00:
		return kindFrames
	case string(b[:]) == "GET " || string(b[:]) == "HEAD":
		return kindHTTP
	}
	switch string(b[:]) {
	case "POST", "PUT ", "DELE", "PATC", "OPTI":
		return kindHTTPRefused
	}
	return kindOther
}

// sniff reads the first four bytes within the frame timeout. at is when the
// first of them arrived.
func (c *conn) sniff(r net.Conn) (b [4]byte, at time.Time, ok bool) {
	if !c.waitStart(c.s.cfg.FrameTimeout) {
		return b, at, false
	}
	n, err := io.ReadAtLeast(r, b[:], 1)
	at = time.Now()
	if err == nil {
		_, err = io.ReadFull(r, b[n:])
	}
	c.waitEnd()
	return b, at, err == nil
}

// writeAndClose writes a final message and half-closes, so the peer reads
// it before the connection goes away.
func (c *conn) writeAndClose(rw net.Conn, msg []byte) {
	_ = rw.SetWriteDeadline(time.Now().Add(c.s.cfg.WriteTimeout))
	if _, err := rw.Write(msg); err != nil {
		return
	}
	if cw, ok := rw.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	} else if pc, ok := rw.(*prefixConn); ok {
		if cw, ok := pc.Conn.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
	}
}

// serveFrames is the registry-protocol loop: one frame at a time, replies
// in order. firstDeadline bounds the first frame, whose first byte the
// sniff saw arrive.
func (c *conn) serveFrames(ctx context.Context, rw net.Conn, isTLS bool, firstDeadline time.Time) {
	s := c.s
	br := bufio.NewReaderSize(rw, 4096)
	var body, out []byte
	// One Request per connection, refilled for every frame: it is only
	// valid until Handle returns (see Request).
	req := &Request{Remote: c.remote, RemoteIP: c.ip, TLS: isTLS, ConnID: c.id}
	for seq := uint64(1); ; seq++ {
		if !c.waitStart(s.cfg.IdleTimeout) {
			return
		}
		_, err := br.ReadByte()
		c.waitEnd()
		if err != nil {
			return
		}
		_ = br.UnreadByte()
		// The first byte is here: the whole frame must follow in time.
		// A frame that arrived whole (the usual case) needs no deadline:
		// reading it cannot block.
		if !frameBuffered(br) {
			deadline := time.Now().Add(s.cfg.FrameTimeout)
			if seq == 1 {
				deadline = firstDeadline
			}
			_ = c.rw.SetReadDeadline(deadline)
		}
		body, err = regmsg.ReadFrame(br, body[:0])
		if errors.Is(err, regmsg.ErrFrameTooLarge) {
			s.metrics.ObserveRequest("", 0)
			s.metrics.Error("", CodeMessageTooLarge)
			s.log.Debug("request frame too large", "addr", c.remote, "err", err)
			c.writeAndClose(rw, appendFrame(out[:0], ErrorBody(CodeMessageTooLarge, msgTooLarge)))
			return
		}
		if err != nil {
			return
		}
		*req = Request{Body: body, Remote: c.remote, RemoteIP: c.ip, TLS: isTLS,
			ConnID: c.id, Seq: seq, Received: time.Now()}
		reply := c.dispatch(ctx, req)
		out = appendFrame(out[:0], reply)
		_ = c.rw.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
		if _, err := rw.Write(out); err != nil {
			s.log.Debug("reply write failed", "addr", c.remote, "err", err)
			return
		}
		// Do not pin large buffers on connections that go idle.
		if cap(body) > 8192 {
			body = nil
		}
		if cap(out) > 8192 {
			out = nil
		}
	}
}

// frameBuffered reports whether br holds a whole frame of at most
// MaxFrame bytes. It never reads from the connection.
func frameBuffered(br *bufio.Reader) bool {
	if br.Buffered() < regmsg.FrameHeaderLen {
		return false // Peek would read
	}
	hdr, err := br.Peek(regmsg.FrameHeaderLen)
	if err != nil {
		return false
	}
	n := binary.BigEndian.Uint32(hdr)
	return n <= MaxFrame && br.Buffered() >= regmsg.FrameHeaderLen+int(n)
}

// dispatch calls the Dispatcher, recovering a panic, enforcing the reply
// cap and recording the request metrics.
func (c *conn) dispatch(ctx context.Context, req *Request) []byte {
	s := c.s
	start := req.Received
	resp := func() (resp Response) {
		defer func() {
			if r := recover(); r != nil {
				s.log.Error("panic in registry handler", "addr", c.remote, "conn", c.id,
					"panic", r, "stack", string(debug.Stack()))
				resp = Response{Body: ErrorBody(CodeInternal, msgPanic), Code: CodeInternal, Type: typeOf(req.Body)}
			}
		}()
		return s.cfg.Dispatcher.Handle(ctx, req)
	}()
	if len(resp.Body) == 0 || len(resp.Body) > MaxFrame {
		s.log.Error("handler returned an invalid reply", "type", resp.Type, "len", len(resp.Body))
		resp.Body, resp.Code = ErrorBody(CodeInternal, msgTooBig), CodeInternal
	}
	s.metrics.ObserveRequest(resp.Type, time.Since(start))
	if resp.Code != "" {
		s.metrics.Error(resp.Type, resp.Code)
	}
	return resp.Body
}

// typeOf extracts a best-effort "type" for the metrics of a request whose
// handler panicked; any doubt gives "" (counted as unknown).
func typeOf(body []byte) string {
	i := bytes.Index(body, []byte(`"type":"`))
	if i < 0 {
		return ""
	}
	rest := body[i+8:]
	j := bytes.IndexByte(rest, '"')
	if j < 0 || j > 64 {
		return ""
	}
	return string(rest[:j])
}
