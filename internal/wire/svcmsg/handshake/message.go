// Package handshake encodes and decodes the trust handshake message sent
// on port 444 (services.md §5.2) and builds the strings its signatures
// cover.
//
// A message is one JSON object, UTF-8, without length prefix or trailing
// newline, with every key always present, in this order:
//
//	{"type":"handshake_request","node_id":685,"public_key":"<b64>",
//	 "justification":"…","signature":"<b64 v1 or empty>","reason":"",
//	 "timestamp":1774606503,"nonce":"<b64 of 16 bytes>","sig_v2":"<b64>"}
//
// The encoder does not HTML-escape and refuses a message whose encoding
// reaches MaxEncoded (4,096) bytes, so that it fits one segment at the
// default MSS (§5.1). The decoder applies the shape checks of §5.3 step 1:
// a JSON object, required keys with the right types, a known type, and
// justification ≤ 1,024 and reason ≤ 256 bytes; unknown keys are ignored.
//
// The v1 signature covers "handshake:<sender>:<receiver>"; the v2 signature
// covers the "pilot-hs-v2" lines of V2String. Verification against the
// registry key, the time window and the replay caches (§5.3 steps 2–6)
// belong to the daemon.
//
// The package is pure: no I/O, no clock, no goroutines.
package handshake

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/pilot-go/pilot/addr"
)

// Type is the message type.
type Type string

// Message types (§5.2).
const (
	Request Type = "handshake_request"
	Accept  Type = "handshake_accept"
	Reject  Type = "handshake_reject"
	Revoke  Type = "handshake_revoke"
)

// Known reports whether t is one of the four message types.
func (t Type) Known() bool {
	switch t {
	case Request, Accept, Reject, Revoke:
		return true
	}
	return false
}

const (
	// MaxJustification is the longest justification, in bytes of UTF-8.
	MaxJustification = 1024
	// MaxReason is the longest reason, in bytes of UTF-8.
	MaxReason = 256
	// MaxEncoded bounds the encoding: it must be shorter than this.
	MaxEncoded = 4096
)

var (
	// ErrInvalid means the bytes are not a well-formed message: not one
	// JSON object, a missing or wrongly typed key, an unknown type, or a
	// field over its size limit.
	ErrInvalid = errors.New("handshake: invalid message")
	// ErrIncomplete means the bytes are a prefix of a JSON value: a
	// receiver reassembling the stream should wait for more.
	ErrIncomplete = errors.New("handshake: incomplete message")
	// ErrTooLarge means the encoding would reach MaxEncoded bytes; the
	// sender refuses the message (IPC code invalid_argument).
	ErrTooLarge = errors.New("handshake: message too large")
)

// Message is the trust handshake message. Field order is the key order of
// the encoding.
type Message struct {
	Type          Type        `json:"type"`
	NodeID        addr.NodeID `json:"node_id"`
	PublicKey     string      `json:"public_key"`
	Justification string      `json:"justification"`
	Signature     string      `json:"signature"`
	Reason        string      `json:"reason"`
	Timestamp     int64       `json:"timestamp"`
	Nonce         string      `json:"nonce"`
	SigV2         string      `json:"sig_v2"`
}

// checkFields applies the type and size rules shared by both directions.
func (m *Message) checkFields() error {
	if !m.Type.Known() {
		return fmt.Errorf("%w: unknown type %q", ErrInvalid, m.Type)
	}
	if len(m.Justification) > MaxJustification {
		return fmt.Errorf("%w: justification of %d bytes (max %d)", ErrInvalid, len(m.Justification), MaxJustification)
	}
	if len(m.Reason) > MaxReason {
		return fmt.Errorf("%w: reason of %d bytes (max %d)", ErrInvalid, len(m.Reason), MaxReason)
	}
	return nil
}

// AppendTo validates m and appends its JSON encoding to b. Besides the
// decoder's checks it requires valid UTF-8 text and an encoding shorter
// than MaxEncoded (else ErrTooLarge).
func (m *Message) AppendTo(b []byte) ([]byte, error) {
	if err := m.checkFields(); err != nil {
		return b, err
	}
	for _, f := range []struct{ name, v string }{
		{"public_key", m.PublicKey}, {"justification", m.Justification}, {"signature", m.Signature},
		{"reason", m.Reason}, {"nonce", m.Nonce}, {"sig_v2", m.SigV2},
	} {
		if !utf8.ValidString(f.v) {
			return b, fmt.Errorf("%w: %s is not UTF-8", ErrInvalid, f.name)
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return b, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	out := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if len(out) >= MaxEncoded {
		return b, fmt.Errorf("%w: %d bytes encoded (must be under %d)", ErrTooLarge, len(out), MaxEncoded)
	}
	return append(b, out...), nil
}

// Marshal returns the JSON encoding of m (see AppendTo).
func (m *Message) Marshal() ([]byte, error) { return m.AppendTo(nil) }

// Parse decodes one message. b must hold exactly one JSON object, optionally
// surrounded by JSON white space. Keys type, node_id and timestamp are
// required; the string keys default to "" when absent (original senders),
// and must be JSON strings when present. A prefix of a valid JSON value
// yields ErrIncomplete.
func Parse(b []byte) (Message, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	var obj map[string]json.RawMessage
	if err := dec.Decode(&obj); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return Message{}, fmt.Errorf("%w: %d bytes", ErrIncomplete, len(b))
		}
		return Message{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if obj == nil {
		return Message{}, fmt.Errorf("%w: not a JSON object", ErrInvalid)
	}
	if rest := strings.Trim(string(b[dec.InputOffset():]), " \t\r\n"); rest != "" {
		return Message{}, fmt.Errorf("%w: %d bytes after the object", ErrInvalid, len(rest))
	}
	var m Message
	var typ string
	if err := stringKey(obj, "type", true, &typ); err != nil {
		return Message{}, err
	}
	m.Type = Type(typ)
	node, err := intKey(obj, "node_id", 32)
	if err != nil {
		return Message{}, err
	}
	m.NodeID = addr.NodeID(node)
	if m.Timestamp, err = intKey(obj, "timestamp", 64); err != nil {
		return Message{}, err
	}
	for _, k := range []struct {
		name string
		dst  *string
	}{
		{"public_key", &m.PublicKey}, {"justification", &m.Justification}, {"signature", &m.Signature},
		{"reason", &m.Reason}, {"nonce", &m.Nonce}, {"sig_v2", &m.SigV2},
	} {
		if err := stringKey(obj, k.name, false, k.dst); err != nil {
			return Message{}, err
		}
	}
	if err := m.checkFields(); err != nil {
		return Message{}, err
	}
	return m, nil
}

// stringKey decodes the JSON string at obj[key] into dst.
func stringKey(obj map[string]json.RawMessage, key string, required bool, dst *string) error {
	raw, ok := obj[key]
	if !ok {
		if required {
			return fmt.Errorf("%w: missing %s", ErrInvalid, key)
		}
		return nil
	}
	if len(raw) == 0 || raw[0] != '"' {
		return fmt.Errorf("%w: %s is not a string", ErrInvalid, key)
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrInvalid, key, err)
	}
	return nil
}

// intKey decodes the required JSON integer at obj[key]: an unsigned
// 32-bit value when bits is 32 (node IDs), a signed 64-bit value otherwise.
// Fractions and exponents are refused.
func intKey(obj map[string]json.RawMessage, key string, bits int) (int64, error) {
	raw, ok := obj[key]
	if !ok {
		return 0, fmt.Errorf("%w: missing %s", ErrInvalid, key)
	}
	if bits == 32 {
		v, err := strconv.ParseUint(string(raw), 10, 32)
		if err != nil {
			return 0, fmt.Errorf("%w: %s %s is not a u32", ErrInvalid, key, raw)
		}
		return int64(v), nil
	}
	v, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %s %s is not an integer", ErrInvalid, key, raw)
	}
	return v, nil
}
