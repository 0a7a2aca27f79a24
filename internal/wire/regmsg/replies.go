package regmsg

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// Reply envelope (registry.md §4.1): success replies are
// {"type":"<message>_ok", ...fields}, errors {"type":"error","error":…,
// "code":…, "retry_after_ms"?}. Reply structs carry their fields only;
// MarshalReply writes "type" first.

// Reply is a reply struct of this package.
type Reply interface {
	// ReplyType is the reply's "type" value ("<message>_ok" or "error").
	ReplyType() string
}

// TypeError is the type of an error reply.
const TypeError = "error"

// ErrorReply is the error reply of §4.1.
type ErrorReply struct {
	Message      string `json:"error"`
	Code         Code   `json:"code"`
	RetryAfterMS int64  `json:"retry_after_ms,omitempty"`
}

// ReplyType implements Reply.
func (*ErrorReply) ReplyType() string { return TypeError }

// NewErrorReply converts an *Error into its reply.
func NewErrorReply(e *Error) *ErrorReply {
	return &ErrorReply{Message: e.Message, Code: e.Code, RetryAfterMS: e.RetryAfterMS}
}

// Array is a JSON array that is never encoded as null: a nil Array is
// written as []. Reply fields that the specification says are always
// arrays use it.
type Array[T any] []T

// MarshalJSON implements json.Marshaler.
func (a Array[T]) MarshalJSON() ([]byte, error) {
	if a == nil {
		return []byte("[]"), nil
	}
	return marshalNoEscape([]T(a))
}

func marshalNoEscape(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// MarshalReply encodes a reply: "type" first, then the struct's fields,
// without HTML escaping (no \u003c). Reply structs have no field named
// "error" except ErrorReply (§4.1).
func MarshalReply(r Reply) ([]byte, error) {
	if f, ok := r.(fastReply); ok {
		e := encoder{buf: make([]byte, 0, 256)}
		e.begin()
		e.str("type", r.ReplyType())
		f.appendFields(&e)
		e.end()
		return e.buf, nil
	}
	return marshalReflect(r)
}

// marshalReflect is MarshalReply through encoding/json.
func marshalReflect(r Reply) ([]byte, error) {
	body, err := marshalNoEscape(r)
	if err != nil {
		return nil, fmt.Errorf("regmsg: marshal %s: %w", r.ReplyType(), err)
	}
	if len(body) < 2 || body[0] != '{' {
		return nil, fmt.Errorf("regmsg: marshal %s: not a JSON object", r.ReplyType())
	}
	out := make([]byte, 0, len(body)+len(r.ReplyType())+12)
	out = append(out, `{"type":`...)
	out = appendJSONString(out, r.ReplyType())
	if len(body) > 2 {
		out = append(out, ',')
	}
	return append(out, body[1:]...), nil
}

// MarshalError encodes the error reply for e.
func MarshalError(e *Error) []byte {
	b, err := MarshalReply(NewErrorReply(e))
	if err != nil { // unreachable: the struct holds only strings and an int
		return []byte(`{"type":"error","error":"internal error while encoding the error reply","code":"internal"}`)
	}
	return b
}

// DecodeReply is the client-side first step: it parses a reply body and
// returns its type and fields. An error reply is returned as an *Error
// (with RetryAfterMS for rate_limited); a body that is not a JSON object
// with a string "type" is an ordinary error.
func DecodeReply(body []byte) (typ string, fields map[string]json.RawMessage, err error) {
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		return "", nil, fmt.Errorf("regmsg: reply is not a JSON object: %v", err)
	}
	if err := json.Unmarshal(fields["type"], &typ); err != nil {
		return "", nil, fmt.Errorf("regmsg: reply has no string \"type\"")
	}
	if typ == TypeError {
		var er ErrorReply
		if err := json.Unmarshal(body, &er); err != nil {
			return typ, fields, fmt.Errorf("regmsg: malformed error reply: %v", err)
		}
		return typ, fields, &Error{Code: er.Code, Message: er.Message, RetryAfterMS: er.RetryAfterMS}
	}
	return typ, fields, nil
}

// UnmarshalReply decodes body into v, which must be the reply struct of
// the expected type. An error reply is returned as an *Error; a reply of
// another type is an ordinary error.
func UnmarshalReply(body []byte, v Reply) error {
	typ, _, err := DecodeReply(body)
	if err != nil {
		return err
	}
	if typ != v.ReplyType() {
		return fmt.Errorf("regmsg: got reply %q, want %q", typ, v.ReplyType())
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("regmsg: decode %s: %w", typ, err)
	}
	return nil
}

// TimeLayout is the wire form of `*_at` and `last_seen` fields: RFC 3339
// UTC, second precision, Z suffix.
const TimeLayout = "2006-01-02T15:04:05Z"

// AuditTimeLayout is the wire form of audit times (§9.2): milliseconds.
const AuditTimeLayout = "2006-01-02T15:04:05.000Z"

// FormatTime formats t for a `*_at` or `last_seen` field.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeLayout) }
