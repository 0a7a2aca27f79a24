package regmsg

import (
	"strconv"
	"unicode/utf8"

	"github.com/pilot-go/pilot/addr"
)

// encoder writes request objects for MarshalRequest. Strings are escaped
// minimally (", \ and control characters), never HTML-escaped.
type encoder struct {
	buf   []byte
	first bool
}

func (e *encoder) begin() { e.buf = append(e.buf, '{'); e.first = true }
func (e *encoder) end()   { e.buf = append(e.buf, '}') }

func (e *encoder) key(k string) {
	if !e.first {
		e.buf = append(e.buf, ',')
	}
	e.first = false
	e.buf = appendJSONString(e.buf, k)
	e.buf = append(e.buf, ':')
}

func (e *encoder) str(k, v string) { e.key(k); e.buf = appendJSONString(e.buf, v) }
func (e *encoder) int(k string, v int64) {
	e.key(k)
	e.buf = strconv.AppendInt(e.buf, v, 10)
}
func (e *encoder) bool(k string, v bool) { e.key(k); e.buf = strconv.AppendBool(e.buf, v) }

func (e *encoder) node(k string, v addr.NodeID) { e.int(k, int64(v)) }

// optNode writes a signer field only when it names a node.
func (e *encoder) optNode(k string, v addr.NodeID) {
	if v != 0 {
		e.node(k, v)
	}
}

func (e *encoder) optStr(k, v string) {
	if v != "" {
		e.str(k, v)
	}
}

func (e *encoder) strPtr(k string, v *string) {
	if v != nil {
		e.str(k, *v)
	}
}

// strs writes a list when present (non-nil).
func (e *encoder) strs(k string, v []string) {
	if v == nil {
		return
	}
	e.key(k)
	e.buf = append(e.buf, '[')
	for i, s := range v {
		if i > 0 {
			e.buf = append(e.buf, ',')
		}
		e.buf = appendJSONString(e.buf, s)
	}
	e.buf = append(e.buf, ']')
}

func (e *encoder) ports(k string, v []addr.Port) {
	if v == nil {
		return
	}
	e.key(k)
	e.buf = appendUints(e.buf, v)
}

// appendUints appends v as a JSON array of numbers.
func appendUints[T ~uint16 | ~uint32](b []byte, v []T) []byte {
	b = append(b, '[')
	for i, n := range v {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendUint(b, uint64(n), 10)
	}
	return append(b, ']')
}

func (e *encoder) page(p Page) {
	if p.Limit != 0 {
		e.int("limit", int64(p.Limit))
	}
	e.optStr("cursor", p.Cursor)
}

const hexdigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20 || c == 0x7f:
				b = append(b, '\\', 'u', '0', '0', hexdigits[c>>4], hexdigits[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b = append(b, "\uFFFD"...)
		} else {
			b = append(b, s[i:i+n]...)
		}
		i += n
	}
	return append(b, '"')
}
