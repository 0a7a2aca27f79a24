// Package services holds what the daemon's built-in port services share;
// each service lives in its own subpackage (services.md §1–§4):
//
//	echo          port 7     every byte written back (§2)
//	dataexchange  port 1001  typed frames stored under the state dir (§3)
//	eventstream   port 1002  topic publish/subscribe broker (§4)
//
// Each service is handed one accepted stream connection as a net.Conn and
// serves it on the caller's goroutine until EOF, error or ctx end. The
// helpers here make the common rules of §1 hold: every read has a deadline
// (IdleReader), cancelling ctx closes the connection (CloseOnDone), and
// malformed input is logged at DEBUG at a bounded rate (Limiter).
package services

import (
	"context"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultIdleTimeout is the read deadline used when a service's
// IdleTimeout is zero: the daemon's default stream idle timeout
// (cli.md -idle-timeout, 120 s).
const DefaultIdleTimeout = 120 * time.Second

// CloseOnDone closes c when ctx ends. The returned stop function must be
// called before the caller returns: it cancels the watch or, when the close
// already started, waits for it, so nothing outlives the caller. stop is
// idempotent.
func CloseOnDone(ctx context.Context, c io.Closer) (stop func()) {
	fired := make(chan struct{})
	stopWatch := context.AfterFunc(ctx, func() {
		_ = c.Close()
		close(fired)
	})
	var once sync.Once
	return func() {
		once.Do(func() {
			if !stopWatch() {
				<-fired
			}
		})
	}
}

// IdleReader returns a reader that sets conn's read deadline to now+idle
// before every read, so that each read is bounded and a steady transfer
// never times out.
func IdleReader(conn net.Conn, idle time.Duration) io.Reader {
	return &idleReader{conn: conn, idle: idle}
}

type idleReader struct {
	conn net.Conn
	idle time.Duration
}

func (r *idleReader) Read(p []byte) (int, error) {
	_ = r.conn.SetReadDeadline(time.Now().Add(r.idle))
	return r.conn.Read(p)
}

// WriteAll writes b with a write deadline of now+timeout.
func WriteAll(conn net.Conn, b []byte, timeout time.Duration) error {
	_ = conn.SetWriteDeadline(time.Now().Add(timeout))
	_, err := conn.Write(b)
	return err
}

// Limiter allows one event per interval; the zero value allows the first
// event at once. It is safe for concurrent use.
type Limiter struct {
	last atomic.Int64 // Unix nanoseconds of the last allowed event
}

// Allow reports whether an event at now may pass, at most one per
// interval.
func (l *Limiter) Allow(now time.Time, interval time.Duration) bool {
	n := now.UnixNano()
	last := l.last.Load()
	if last != 0 && n-last < int64(interval) {
		return false
	}
	return l.last.CompareAndSwap(last, n)
}
