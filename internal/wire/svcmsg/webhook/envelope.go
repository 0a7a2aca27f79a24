// Package webhook builds the JSON body of a webhook event and its Standard
// Webhooks signature headers (services.md §8.2, §8.5).
//
// The body is one JSON object whose keys always appear in this order:
//
//	{"event_id":42,"event":"network.auto_joined","node_id":685,
//	 "timestamp":"2026-03-27T10:15:03.412345678Z","data":{...}}
//
// timestamp is the event time in UTC written exactly as Go's
// time.RFC3339Nano layout does (trailing fractional zeros trimmed, no dot
// for a whole second, Z suffix); data is always an object, {} when empty.
// Fields keeps the data keys in the order given, as the event tables list
// them.
//
// When a secret is configured, each attempt carries webhook-id
// ("pilot-<node_id>-<event_id>"), webhook-timestamp (Unix seconds) and
// webhook-signature ("v1," + base64 HMAC-SHA256 over
// "<id>.<timestamp>.<body>"); the key is the base64 remainder of a
// "whsec_" secret, else the secret's bytes.
//
// The package is pure: no I/O, no clock (callers pass times in), no
// goroutines.
package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/pilot-go/pilot/addr"
)

// ErrInvalid means an envelope that cannot be encoded or decoded: empty
// event name, data that is not a JSON object, or a malformed body.
var ErrInvalid = errors.New("webhook: invalid envelope")

// Envelope is one webhook event.
type Envelope struct {
	EventID   uint64
	Event     string
	NodeID    addr.NodeID
	Timestamp time.Time
	// Data is the event data: nil (written {}), Fields, a struct, a map or
	// a json.RawMessage. It must encode as a JSON object.
	Data any
}

// FormatTimestamp writes t in UTC with Go's time.RFC3339Nano layout.
func FormatTimestamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// Field is one key of event data.
type Field struct {
	Key   string
	Value any
}

// Fields is event data whose keys are written in slice order.
type Fields []Field

// MarshalJSON writes the fields as one object, in order, without HTML
// escaping.
func (f Fields) MarshalJSON() ([]byte, error) {
	b := []byte{'{'}
	for i, fld := range f {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = appendJSON(b, fld.Key); err != nil {
			return nil, err
		}
		b = append(b, ':')
		if b, err = appendJSON(b, fld.Value); err != nil {
			return nil, fmt.Errorf("data key %q: %w", fld.Key, err)
		}
	}
	return append(b, '}'), nil
}

// appendJSON appends the compact JSON of v without HTML escaping.
func appendJSON(b []byte, v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return b, err
	}
	return append(b, bytes.TrimSuffix(buf.Bytes(), []byte("\n"))...), nil
}

// checkYear refuses times that RFC 3339 cannot write: the UTC year must
// have four digits.
func checkYear(t time.Time) error {
	if y := t.UTC().Year(); y < 0 || y > 9999 {
		return fmt.Errorf("%w: timestamp year %d in UTC is outside 0000..9999", ErrInvalid, y)
	}
	return nil
}

// AppendTo appends the JSON body of e to b.
func (e *Envelope) AppendTo(b []byte) ([]byte, error) {
	if e.Event == "" {
		return b, fmt.Errorf("%w: empty event name", ErrInvalid)
	}
	if err := checkYear(e.Timestamp); err != nil {
		return b, err
	}
	data := []byte("{}")
	if e.Data != nil {
		d, err := appendJSON(nil, e.Data)
		if err != nil {
			return b, fmt.Errorf("%w: %s data: %v", ErrInvalid, e.Event, err)
		}
		switch {
		case string(d) == "null":
		case len(d) > 0 && d[0] == '{':
			data = d
		default:
			return b, fmt.Errorf("%w: %s data is not a JSON object", ErrInvalid, e.Event)
		}
	}
	b = append(b, `{"event_id":`...)
	b = strconv.AppendUint(b, e.EventID, 10)
	b = append(b, `,"event":`...)
	b, _ = appendJSON(b, e.Event) // a string always encodes
	b = append(b, `,"node_id":`...)
	b = strconv.AppendUint(b, uint64(e.NodeID), 10)
	b = append(b, `,"timestamp":"`...)
	b = append(b, FormatTimestamp(e.Timestamp)...)
	b = append(b, `","data":`...)
	b = append(b, data...)
	return append(b, '}'), nil
}

// Marshal returns the JSON body of e.
func (e *Envelope) Marshal() ([]byte, error) { return e.AppendTo(nil) }

// wireEnvelope is the decoding shape; pointers detect missing keys.
type wireEnvelope struct {
	EventID   *uint64         `json:"event_id"`
	Event     *string         `json:"event"`
	NodeID    *uint32         `json:"node_id"`
	Timestamp *string         `json:"timestamp"`
	Data      json.RawMessage `json:"data"`
}

// Parse decodes a body, for receivers and tests. Every key is required
// (data may be absent, as in the original, and is then {}); Data is
// returned as a json.RawMessage holding an object; unknown keys are
// ignored.
func Parse(body []byte) (Envelope, error) {
	var w wireEnvelope
	if err := json.Unmarshal(body, &w); err != nil {
		return Envelope{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if w.EventID == nil || w.Event == nil || w.NodeID == nil || w.Timestamp == nil {
		return Envelope{}, fmt.Errorf("%w: missing event_id, event, node_id or timestamp", ErrInvalid)
	}
	if *w.Event == "" {
		return Envelope{}, fmt.Errorf("%w: empty event name", ErrInvalid)
	}
	ts, err := time.Parse(time.RFC3339Nano, *w.Timestamp)
	if err != nil {
		return Envelope{}, fmt.Errorf("%w: timestamp: %v", ErrInvalid, err)
	}
	if err := checkYear(ts); err != nil {
		return Envelope{}, err
	}
	data := json.RawMessage("{}")
	if len(w.Data) > 0 && string(w.Data) != "null" {
		if w.Data[0] != '{' {
			return Envelope{}, fmt.Errorf("%w: data is not a JSON object", ErrInvalid)
		}
		data = w.Data
	}
	return Envelope{EventID: *w.EventID, Event: *w.Event, NodeID: addr.NodeID(*w.NodeID), Timestamp: ts, Data: data}, nil
}
