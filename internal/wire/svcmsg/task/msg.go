package task

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// MaxTaskIDLen is the longest task ID ValidTaskID accepts.
const MaxTaskIDLen = 128

// StatusCode is the status of a SUBMIT reply.
type StatusCode int

// SUBMIT reply statuses (services.md §7).
const (
	StatusAccepted StatusCode = 200
	StatusRefused  StatusCode = 400
)

// Submit is the SUBMIT (1) message.
type Submit struct {
	TaskID          string `json:"task_id"`
	TaskDescription string `json:"task_description"`
	FromAddr        string `json:"from_addr"`
	ToAddr          string `json:"to_addr"`
}

// SubmitReply answers a SUBMIT, in a frame of type 1.
type SubmitReply struct {
	TaskID  string     `json:"task_id"`
	Status  StatusCode `json:"status"`
	Message string     `json:"message"`
}

// UpdateStatus is the status of a STATUS_UPDATE. The original sends a
// string; a JSON integer is accepted too and kept as its decimal text.
type UpdateStatus string

// UnmarshalJSON accepts a JSON string or integer; null leaves s unchanged.
func (s *UpdateStatus) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = UpdateStatus(v)
		return nil
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("status %s is neither a string nor an integer", b)
	}
	*s = UpdateStatus(strconv.FormatInt(n, 10))
	return nil
}

// StatusUpdate is the STATUS_UPDATE (3) message; it gets no reply.
type StatusUpdate struct {
	TaskID        string       `json:"task_id"`
	Status        UpdateStatus `json:"status"`
	Justification string       `json:"justification"`
}

// Results is the SEND_RESULTS (4) message; it gets no reply. FileData is
// base64 in JSON (standard, padded), as Go's encoding/json writes []byte.
// CompletedAt is kept as sent (the original writes RFC 3339).
type Results struct {
	TaskID       string `json:"task_id"`
	ResultType   string `json:"result_type"`
	ResultText   string `json:"result_text,omitempty"`
	Filename     string `json:"filename,omitempty"`
	FileData     []byte `json:"file_data,omitempty"`
	CompletedAt  string `json:"completed_at"`
	TimeIdleMs   int64  `json:"time_idle_ms,omitempty"`
	TimeStagedMs int64  `json:"time_staged_ms,omitempty"`
	TimeCPUMs    int64  `json:"time_cpu_ms,omitempty"`
}

// ParseSubmit decodes a SUBMIT payload.
func ParseSubmit(p []byte) (Submit, error) {
	var m Submit
	return m, decodeObject(p, TypeSubmit, &m)
}

// ParseSubmitReply decodes the payload of a SUBMIT reply; the status must
// be 200 or 400.
func ParseSubmitReply(p []byte) (SubmitReply, error) {
	var m SubmitReply
	if err := decodeObject(p, TypeSubmit, &m); err != nil {
		return SubmitReply{}, err
	}
	if m.Status != StatusAccepted && m.Status != StatusRefused {
		return SubmitReply{}, fmt.Errorf("%w: SUBMIT reply status %d (want 200 or 400)", ErrMalformed, m.Status)
	}
	return m, nil
}

// ParseStatusUpdate decodes a STATUS_UPDATE payload.
func ParseStatusUpdate(p []byte) (StatusUpdate, error) {
	var m StatusUpdate
	return m, decodeObject(p, TypeStatusUpdate, &m)
}

// ParseResults decodes a SEND_RESULTS payload; the time fields must not be
// negative.
func ParseResults(p []byte) (Results, error) {
	var m Results
	if err := decodeObject(p, TypeSendResults, &m); err != nil {
		return Results{}, err
	}
	if err := m.check(); err != nil {
		return Results{}, err
	}
	if len(m.FileData) == 0 {
		m.FileData = nil // "" and absent are the same
	}
	return m, nil
}

func (m Results) check() error {
	for _, f := range []struct {
		name string
		v    int64
	}{{"time_idle_ms", m.TimeIdleMs}, {"time_staged_ms", m.TimeStagedMs}, {"time_cpu_ms", m.TimeCPUMs}} {
		if f.v < 0 {
			return fmt.Errorf("%w: SEND_RESULTS %s %d is negative", ErrMalformed, f.name, f.v)
		}
	}
	return nil
}

// AppendTo appends the SUBMIT JSON payload to b.
func (m Submit) AppendTo(b []byte) ([]byte, error) { return appendJSON(b, m) }

// AppendTo appends the reply's JSON payload to b.
func (m SubmitReply) AppendTo(b []byte) ([]byte, error) { return appendJSON(b, m) }

// AppendTo appends the STATUS_UPDATE JSON payload to b.
func (m StatusUpdate) AppendTo(b []byte) ([]byte, error) { return appendJSON(b, m) }

// AppendTo appends the SEND_RESULTS JSON payload to b.
func (m Results) AppendTo(b []byte) ([]byte, error) {
	if err := m.check(); err != nil {
		return b, err
	}
	return appendJSON(b, m)
}

// Frame returns the SUBMIT frame carrying m.
func (m Submit) Frame() (Frame, error) { return frameOf(TypeSubmit, m) }

// Frame returns the type-1 frame carrying the reply.
func (m SubmitReply) Frame() (Frame, error) { return frameOf(TypeSubmit, m) }

// Frame returns the STATUS_UPDATE frame carrying m.
func (m StatusUpdate) Frame() (Frame, error) { return frameOf(TypeStatusUpdate, m) }

// Frame returns the SEND_RESULTS frame carrying m.
func (m Results) Frame() (Frame, error) { return frameOf(TypeSendResults, m) }

type appender interface {
	AppendTo([]byte) ([]byte, error)
}

func frameOf(t Type, m appender) (Frame, error) {
	p, err := m.AppendTo(nil)
	if err != nil {
		return Frame{}, err
	}
	if len(p) > MaxPayload {
		return Frame{}, fmt.Errorf("%w: %s payload of %d bytes (max %d)", ErrTooLarge, t, len(p), MaxPayload)
	}
	return Frame{Type: t, Payload: p}, nil
}

// decodeObject decodes p, which must be one JSON object, into v. Unknown
// keys are ignored so that later versions of the original can add fields.
func decodeObject(p []byte, t Type, v any) error {
	trimmed := bytes.TrimLeft(p, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return fmt.Errorf("%w: %s payload is not a JSON object", ErrMalformed, t)
	}
	if err := json.Unmarshal(p, v); err != nil {
		return fmt.Errorf("%w: %s payload: %v", ErrMalformed, t, err)
	}
	return nil
}

// appendJSON appends v's compact JSON without HTML escaping; the messages
// are always encodable.
func appendJSON(b []byte, v any) ([]byte, error) {
	buf := bytes.NewBuffer(b)
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return b, err
	}
	out := buf.Bytes()
	return out[:len(out)-1], nil // Encode ends with a newline
}

// ValidTaskID reports whether id can name a task file: 1 to MaxTaskIDLen
// bytes of ASCII letters, digits, '-', '_' and '.', not starting with a
// dot (so never "." or ".." and never a hidden file). UUIDs, the original's
// task IDs, qualify.
func ValidTaskID(id string) bool {
	if len(id) == 0 || len(id) > MaxTaskIDLen || id[0] == '.' {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
		default:
			return false
		}
	}
	return true
}
