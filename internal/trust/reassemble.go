package trust

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/pilot-go/pilot/internal/wire/svcmsg/handshake"
)

// Receiver reassembly (services.md §5.1, ours): the message is read from
// the stream until one complete JSON object has arrived or EOF, at most
// MaxMessage bytes, within ReadTimeout; anything else drops it.
const (
	MaxMessage  = 8 << 10
	ReadTimeout = 10 * time.Second
)

// ErrReassembly reports a stream that did not carry exactly one message
// within the limits.
var ErrReassembly = errors.New("trust: handshake stream did not carry one message")

// deadliner is implemented by stream connections (net.Conn).
type deadliner interface{ SetReadDeadline(time.Time) error }

// ReadMessage reads one handshake message from r. When r has
// SetReadDeadline, the read is bounded by ReadTimeout from now. It returns
// the raw bytes (for the v1 replay digest) and the parsed message.
func ReadMessage(r io.Reader) ([]byte, handshake.Message, error) {
	if d, ok := r.(deadliner); ok {
		d.SetReadDeadline(time.Now().Add(ReadTimeout))
	}
	buf := make([]byte, 0, 1024)
	chunk := make([]byte, 2048)
	for {
		n, err := r.Read(chunk)
		if len(buf)+n > MaxMessage {
			return nil, handshake.Message{}, fmt.Errorf("%w: more than %d bytes", ErrReassembly, MaxMessage)
		}
		buf = append(buf, chunk[:n]...)
		if n > 0 {
			msg, perr := handshake.Parse(buf)
			if perr == nil {
				return buf, msg, nil
			}
			if !errors.Is(perr, handshake.ErrIncomplete) {
				return nil, handshake.Message{}, fmt.Errorf("%w: %w", ErrReassembly, perr)
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, handshake.Message{}, fmt.Errorf("%w: EOF after %d bytes of an incomplete message", ErrReassembly, len(buf))
			}
			return nil, handshake.Message{}, fmt.Errorf("%w: %w", ErrReassembly, err)
		}
	}
}
