package eventstream

import (
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"github.com/pilot-go/pilot/internal/services"
)

// subscriber is one subscribed connection and its outgoing queue.
type subscriber struct {
	// set once
	conn      net.Conn
	topic     string
	remote    string
	maxEvents int
	maxBytes  int
	writeIdle time.Duration
	wake      chan struct{} // capacity 1: the queue is not empty
	quit      chan struct{} // closed by kill

	mu     sync.Mutex // guards the fields below
	queue  [][]byte   // encoded events, shared read-only between subscribers
	bytes  int
	dead   bool
	why    error // why the subscriber was killed, nil for a normal end
	killed sync.Once
}

func newSubscriber(conn net.Conn, topic, remote string, maxEvents, maxBytes int, writeIdle time.Duration) *subscriber {
	return &subscriber{
		conn: conn, topic: topic, remote: remote,
		maxEvents: maxEvents, maxBytes: maxBytes, writeIdle: writeIdle,
		wake: make(chan struct{}, 1),
		quit: make(chan struct{}),
	}
}

// enqueue appends one encoded event without blocking. It returns false
// when the queue would overflow (the subscriber must then be
// disconnected). One event is always accepted into an empty queue, so
// that a single maximal event (16 MiB payload plus its header) can pass.
func (s *subscriber) enqueue(enc []byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dead {
		return true
	}
	if len(s.queue) >= s.maxEvents || (len(s.queue) > 0 && s.bytes+len(enc) > s.maxBytes) {
		return false
	}
	s.queue = append(s.queue, enc)
	s.bytes += len(enc)
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return true
}

// pop removes the oldest event; ok is false when the queue is empty or
// the subscriber is dead.
func (s *subscriber) pop() (enc []byte, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dead || len(s.queue) == 0 {
		return nil, false
	}
	enc = s.queue[0]
	s.queue[0] = nil
	s.queue = s.queue[1:]
	s.bytes -= len(enc)
	return enc, true
}

// kill disconnects the subscriber once: it drops the queue, stops the
// writer and closes the connection, which also ends its reader. why is
// recorded when non-nil.
func (s *subscriber) kill(why error) {
	s.killed.Do(func() {
		s.mu.Lock()
		s.dead = true
		s.why = why
		s.queue, s.bytes = nil, 0
		s.mu.Unlock()
		close(s.quit)
		_ = s.conn.Close()
	})
}

// reason returns why the subscriber was killed (nil for a normal end).
func (s *subscriber) reason() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.why
}

// writeLoop writes queued events, each with a single write, until kill.
// A failed write kills the subscriber.
func (s *subscriber) writeLoop() {
	for {
		select {
		case <-s.wake:
		case <-s.quit:
			return
		}
		for {
			enc, ok := s.pop()
			if !ok {
				break
			}
			if err := services.WriteAll(s.conn, enc, s.writeIdle); err != nil {
				s.kill(err)
				return
			}
		}
	}
}

// isEOF reports a clean end of the connection.
func isEOF(err error) bool { return errors.Is(err, io.EOF) }
