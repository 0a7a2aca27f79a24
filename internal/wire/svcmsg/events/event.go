// Package events encodes and decodes the events of the event stream
// service on port 1002 (services.md §4.1).
//
//	+-----------------+-------------+-------------------+---------------
//	| topic len (u16) | topic (n)   | payload len (u32) | payload (m) ...
//	+-----------------+-------------+-------------------+---------------
//
// The topic is 1..1,024 bytes of UTF-8 without control characters; "*" is
// the wildcard subscription. The payload is at most 16 MiB. The first event
// on a connection is a subscription, every later one a publication (§4.2):
// that meaning belongs to the broker, not to this codec.
//
// The package is pure: no I/O ownership, no clock, no goroutines. ReadEvent
// only consumes an io.Reader the caller owns.
package events

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"unicode"
	"unicode/utf8"
)

const (
	// MaxTopic is the longest topic in bytes.
	MaxTopic = 1024
	// MaxPayload is the largest payload.
	MaxPayload = 16 << 20
	// TopicAll subscribes to every topic.
	TopicAll = "*"
)

var (
	// ErrTruncated means the input ends inside the event.
	ErrTruncated = errors.New("events: truncated")
	// ErrTooLarge means a topic or payload length exceeds its bound.
	ErrTooLarge = errors.New("events: too large")
	// ErrBadTopic means an empty topic, invalid UTF-8 or a control
	// character.
	ErrBadTopic = errors.New("events: bad topic")
)

// Event is one event stream event.
type Event struct {
	Topic   string
	Payload []byte
}

// ValidateTopic checks the topic bounds of §4.1.
func ValidateTopic(topic string) error {
	switch {
	case topic == "":
		return fmt.Errorf("%w: empty", ErrBadTopic)
	case len(topic) > MaxTopic:
		return fmt.Errorf("%w: topic of %d bytes (max %d)", ErrTooLarge, len(topic), MaxTopic)
	case !utf8.ValidString(topic):
		return fmt.Errorf("%w: %q is not UTF-8", ErrBadTopic, topic)
	}
	for i, r := range topic {
		if unicode.IsControl(r) {
			return fmt.Errorf("%w: control character %U at byte %d", ErrBadTopic, r, i)
		}
	}
	return nil
}

// Len returns the encoded size of e.
func (e Event) Len() int { return 2 + len(e.Topic) + 4 + len(e.Payload) }

// AppendTo validates e and appends its encoding to b.
func (e Event) AppendTo(b []byte) ([]byte, error) {
	if err := ValidateTopic(e.Topic); err != nil {
		return b, err
	}
	if len(e.Payload) > MaxPayload {
		return b, fmt.Errorf("%w: payload of %d bytes (max %d)", ErrTooLarge, len(e.Payload), MaxPayload)
	}
	b = binary.BigEndian.AppendUint16(b, uint16(len(e.Topic)))
	b = append(b, e.Topic...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(e.Payload)))
	return append(b, e.Payload...), nil
}

// Marshal returns the encoding of e, to be written with a single write.
func (e Event) Marshal() ([]byte, error) { return e.AppendTo(make([]byte, 0, e.Len())) }

// Decode decodes the event at the start of b and returns it with the number
// of bytes consumed. The payload aliases b. ErrTruncated means more bytes
// are needed; every other error means the connection must be closed.
func Decode(b []byte) (Event, int, error) {
	if len(b) < 2 {
		return Event{}, 0, fmt.Errorf("%w: topic length needs 2 bytes, have %d", ErrTruncated, len(b))
	}
	n := int(binary.BigEndian.Uint16(b))
	if err := checkTopicLen(n); err != nil {
		return Event{}, 0, err
	}
	if len(b) < 2+n+4 {
		return Event{}, 0, fmt.Errorf("%w: topic and payload length need %d bytes, have %d", ErrTruncated, n+4, len(b)-2)
	}
	topic := string(b[2 : 2+n])
	if err := ValidateTopic(topic); err != nil {
		return Event{}, 0, err
	}
	m := binary.BigEndian.Uint32(b[2+n:])
	if m > MaxPayload {
		return Event{}, 0, fmt.Errorf("%w: payload of %d bytes (max %d)", ErrTooLarge, m, MaxPayload)
	}
	start := 2 + n + 4
	end := start + int(m)
	if len(b) < end {
		return Event{}, 0, fmt.Errorf("%w: payload needs %d bytes, have %d", ErrTruncated, m, len(b)-start)
	}
	return Event{Topic: topic, Payload: b[start:end:end]}, end, nil
}

func checkTopicLen(n int) error {
	if n == 0 {
		return fmt.Errorf("%w: empty", ErrBadTopic)
	}
	if n > MaxTopic {
		return fmt.Errorf("%w: topic of %d bytes (max %d)", ErrTooLarge, n, MaxTopic)
	}
	return nil
}

// readChunk bounds the memory committed ahead of the bytes received.
const readChunk = 64 << 10

// ReadEvent reads one event from r. It returns io.EOF when r ends cleanly
// before an event and io.ErrUnexpectedEOF when it ends inside one; any other
// error is a malformed event.
func ReadEvent(r io.Reader) (Event, error) {
	var l [4]byte
	if _, err := io.ReadFull(r, l[:2]); err != nil {
		return Event{}, err
	}
	n := int(binary.BigEndian.Uint16(l[:]))
	if err := checkTopicLen(n); err != nil {
		return Event{}, err
	}
	topic := make([]byte, n)
	if err := readFull(r, topic); err != nil {
		return Event{}, err
	}
	if err := ValidateTopic(string(topic)); err != nil {
		return Event{}, err
	}
	if err := readFull(r, l[:]); err != nil {
		return Event{}, err
	}
	m := int(binary.BigEndian.Uint32(l[:]))
	if m > MaxPayload {
		return Event{}, fmt.Errorf("%w: payload of %d bytes (max %d)", ErrTooLarge, m, MaxPayload)
	}
	p := make([]byte, 0, min(m, readChunk))
	for len(p) < m {
		want := min(m-len(p), readChunk)
		p = append(p, make([]byte, want)...)
		if err := readFull(r, p[len(p)-want:]); err != nil {
			return Event{}, err
		}
	}
	return Event{Topic: string(topic), Payload: p}, nil
}

// readFull is io.ReadFull inside an event: a clean EOF is unexpected.
func readFull(r io.Reader, b []byte) error {
	_, err := io.ReadFull(r, b)
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
