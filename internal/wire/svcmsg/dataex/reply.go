package dataex

import (
	"fmt"
	"strconv"
	"strings"
)

// Reply reasons of "ERR <TYPE> <reason>" (§3.2 step 5). A failed save uses
// SaveFailed.
const (
	ReasonTooLarge    = "too large"
	ReasonInvalidJSON = "invalid json"
	ReasonDiskFull    = "disk full"
)

// SaveFailed returns the reason "save failed: <err>".
func SaveFailed(err error) string { return "save failed: " + err.Error() }

// Reply is the service's answer to one frame, carried in a TEXT frame.
type Reply struct {
	OK     bool   // ACK (true) or ERR (false)
	Type   Type   // the type of the frame answered
	Bytes  uint32 // ACK only: payload length, the FILE name excluded
	Reason string // ERR only
}

// Ack returns the reply "ACK <TYPE> <n> bytes"; for FILE, n is the length
// of the file bytes (the name excluded).
func Ack(t Type, n uint32) Reply { return Reply{OK: true, Type: t, Bytes: n} }

// Err returns the reply "ERR <TYPE> <reason>".
func Err(t Type, reason string) Reply { return Reply{Type: t, Reason: reason} }

// String returns the reply text.
func (r Reply) String() string {
	if r.OK {
		return "ACK " + r.Type.String() + " " + strconv.FormatUint(uint64(r.Bytes), 10) + " bytes"
	}
	return "ERR " + r.Type.String() + " " + r.Reason
}

// Frame returns the TEXT frame carrying the reply.
func (r Reply) Frame() Frame { return Frame{Type: TypeText, Payload: []byte(r.String())} }

// ParseReply parses a reply text, for senders that report the outcome.
func ParseReply(s string) (Reply, error) {
	verb, rest, ok := strings.Cut(s, " ")
	if !ok {
		return Reply{}, fmt.Errorf("%w: reply %q", ErrMalformed, s)
	}
	name, rest, ok := strings.Cut(rest, " ")
	if !ok {
		return Reply{}, fmt.Errorf("%w: reply %q has no %s argument", ErrMalformed, s, verb)
	}
	t, err := ParseType(name)
	if err != nil {
		return Reply{}, fmt.Errorf("reply %q: %w", s, err)
	}
	switch verb {
	case "ACK":
		digits, ok := strings.CutSuffix(rest, " bytes")
		n, err := strconv.ParseUint(digits, 10, 32)
		if !ok || err != nil || strconv.FormatUint(n, 10) != digits {
			return Reply{}, fmt.Errorf("%w: reply %q: want \"<n> bytes\"", ErrMalformed, s)
		}
		return Ack(t, uint32(n)), nil
	case "ERR":
		if rest == "" {
			return Reply{}, fmt.Errorf("%w: reply %q has an empty reason", ErrMalformed, s)
		}
		return Err(t, rest), nil
	}
	return Reply{}, fmt.Errorf("%w: reply %q: verb %q is not ACK or ERR", ErrMalformed, s, verb)
}
