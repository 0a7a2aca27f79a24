package secure

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/pilot-go/pilot/addr"
	svc "github.com/pilot-go/pilot/internal/wire/svcmsg/secure"
)

// Sizes of the record layer.
const (
	// MaxRecordPlaintext is the most plaintext a Write puts in one record
	// (§6.3: "at most 65,536 plaintext bytes").
	MaxRecordPlaintext = svc.WriteChunk
	// writeBatch is how many sealed bytes a Write hands to the stream at
	// once.
	writeBatch = 256 << 10
	// readGrow bounds the memory a partly received record commits ahead
	// of the bytes actually received.
	readGrow = 64 << 10
	// initialIn holds one full-size record as Write produces it.
	initialIn = svc.LenFieldLen + svc.MinRecordLen + MaxRecordPlaintext
)

// Conn is an established secure channel. It implements net.Conn: Read
// and Write carry application bytes in records, deadlines are those of the
// underlying stream. One Read and one Write may run concurrently.
//
// Any rejected record, truncated stream or write failure is final: the
// underlying stream is closed and every later call fails. A read deadline
// that expires mid-record is not (the partial record is kept).
type Conn struct {
	raw           net.Conn
	mode          Mode
	peer          addr.NodeID
	authenticated bool

	rmu    sync.Mutex
	opener *svc.Opener
	in     []byte // received bytes in[r:w]
	r, w   int
	plain  []byte // decrypted bytes not yet returned
	pbuf   []byte // backing store of plain
	rerr   error

	wmu    sync.Mutex
	sealer *svc.Sealer
	wbuf   []byte
	werr   error

	closeOnce sync.Once
	closeErr  error
}

func newConn(raw net.Conn, mode Mode, peer addr.NodeID, authenticated bool, sendKey, recvKey [svc.KeyLen]byte, sendDir svc.Direction, cm svc.Mode) (*Conn, error) {
	recvDir := svc.ServerToClient
	if sendDir == svc.ServerToClient {
		recvDir = svc.ClientToServer
	}
	sealer, err := svc.NewSealer(sendKey, sendDir, cm)
	if err != nil {
		return nil, hsErr("record keys", err)
	}
	opener, err := svc.NewOpener(recvKey, recvDir, cm)
	if err != nil {
		return nil, hsErr("record keys", err)
	}
	return &Conn{raw: raw, mode: mode, peer: peer, authenticated: authenticated, sealer: sealer, opener: opener}, nil
}

// PeerNodeID returns the peer's authenticated node ID, or 0 when the
// connection runs the original mode without the auth record (the peer is
// then not authenticated; RemoteAddr still names the stream's peer).
func (c *Conn) PeerNodeID() addr.NodeID {
	if !c.authenticated {
		return 0
	}
	return c.peer
}

// Mode returns the protocol the connection runs.
func (c *Conn) Mode() Mode { return c.mode }

// Read reads decrypted application bytes.
func (c *Conn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if len(p) == 0 {
		return 0, nil
	}
	for len(c.plain) == 0 {
		if c.rerr != nil {
			return 0, c.rerr
		}
		pt, err := c.readRecord()
		if err != nil {
			return 0, err
		}
		c.plain = pt
	}
	n := copy(p, c.plain)
	c.plain = c.plain[n:]
	return n, nil
}

// readRecord reads, checks and decrypts the next record. Errors other than
// a timeout are sticky.
func (c *Conn) readRecord() ([]byte, error) {
	if err := c.fill(svc.LenFieldLen); err != nil {
		return nil, err
	}
	n, err := svc.RecordLen(c.in[c.r:c.w])
	if err != nil {
		return nil, c.failRead(fmt.Errorf("%w: %w", ErrBadRecord, err))
	}
	if err := c.fill(n); err != nil {
		return nil, err
	}
	pt, err := c.opener.Open(c.pbuf[:0], c.in[c.r:c.r+n])
	if err != nil {
		return nil, c.failRead(fmt.Errorf("%w: %w", ErrBadRecord, err))
	}
	c.r += n
	if c.r == c.w {
		c.r, c.w = 0, 0
	}
	if cap(pt) > cap(c.pbuf) {
		c.pbuf = pt[:0]
	}
	return pt, nil
}

// fill ensures that at least n received bytes are buffered. The buffer
// grows only as bytes arrive, so a length field alone never commits 16 MiB.
func (c *Conn) fill(n int) error {
	for c.w-c.r < n {
		if c.w == len(c.in) {
			if c.r > 0 {
				c.w = copy(c.in, c.in[c.r:c.w])
				c.r = 0
			}
			if c.w == len(c.in) {
				size := max(2*len(c.in), initialIn)
				size = min(size, max(initialIn, c.w+readGrow))
				grown := make([]byte, size)
				c.w = copy(grown, c.in[:c.w])
				c.in = grown
			}
		}
		m, err := c.raw.Read(c.in[c.w:])
		c.w += m
		if err != nil && c.w-c.r < n {
			return c.readErr(err)
		}
	}
	return nil
}

func (c *Conn) readErr(err error) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return err // the partial record stays buffered
	}
	if errors.Is(err, io.EOF) {
		if c.r == c.w {
			c.rerr = io.EOF
			return io.EOF
		}
		err = fmt.Errorf("%w: stream ended inside a record", io.ErrUnexpectedEOF)
	}
	c.rerr = err
	return err
}

// failRead makes err sticky and closes the stream (§6.3: close on any
// bad record).
func (c *Conn) failRead(err error) error {
	c.rerr = err
	c.Close()
	return err
}

// Write encrypts p into records of at most MaxRecordPlaintext bytes.
func (c *Conn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	total := 0
	for len(p) > 0 {
		if c.werr != nil {
			return total, c.werr
		}
		c.wbuf = c.wbuf[:0]
		n := 0
		for len(p) > n && len(c.wbuf) < writeBatch {
			chunk := p[n:min(len(p), n+MaxRecordPlaintext)]
			b, err := c.sealer.Seal(c.wbuf, chunk)
			if err != nil {
				c.werr = err
				c.Close()
				return total, err
			}
			c.wbuf = b
			n += len(chunk)
		}
		if _, err := c.raw.Write(c.wbuf); err != nil {
			// Records already numbered may be partly sent: the stream
			// cannot be resumed.
			c.werr = err
			return total, err
		}
		total += n
		p = p[n:]
	}
	return total, nil
}

// Close closes the underlying stream.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() { c.closeErr = c.raw.Close() })
	return c.closeErr
}

// LocalAddr returns the underlying stream's local address.
func (c *Conn) LocalAddr() net.Addr { return c.raw.LocalAddr() }

// RemoteAddr returns the underlying stream's remote address.
func (c *Conn) RemoteAddr() net.Addr { return c.raw.RemoteAddr() }

// SetDeadline sets the underlying stream's deadlines.
func (c *Conn) SetDeadline(t time.Time) error { return c.raw.SetDeadline(t) }

// SetReadDeadline sets the underlying stream's read deadline.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.raw.SetReadDeadline(t) }

// SetWriteDeadline sets the underlying stream's write deadline.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.raw.SetWriteDeadline(t) }
