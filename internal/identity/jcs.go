package identity

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// maxDepth bounds the nesting of values CanonicalJSON accepts (the same
// limit as encoding/json's decoder); it also stops self-referencing slices.
const maxDepth = 10000

var (
	// ErrInvalidUTF8 reports a string or object key that is not valid UTF-8.
	ErrInvalidUTF8 = errors.New("invalid UTF-8")
	// ErrUnsupportedType reports a Go value CanonicalJSON cannot serialize.
	ErrUnsupportedType = errors.New("unsupported type for canonical JSON")
	// ErrNumber reports a json.Number that is not a JSON number, or a number
	// that no IEEE 754 double can hold (NaN, infinities, overflow).
	ErrNumber = errors.New("invalid number for canonical JSON")
	// ErrTooDeep reports nesting deeper than 10000 levels.
	ErrTooDeep = errors.New("value nested too deeply for canonical JSON")
)

// CanonicalJSON returns the RFC 8785 (JCS) serialization of v, built of
// nil, bool, string, json.Number, Go integers, float64, map[string]any,
// []any, and the typed slices []string, []int, []int64, []uint32, []uint64.
//
// Numbers: Go integers are written exactly in decimal, as is a json.Number
// holding an integer literal that fits int64 or uint64. Every other number
// (fractions, exponents, larger integers, float64) is converted to an IEEE
// 754 double and written as ECMAScript's Number.prototype.toString does, as
// RFC 8785 §3.2.2.3 requires. The two agree for every integer of magnitude
// up to 2^53.
func CanonicalJSON(v any) ([]byte, error) {
	return appendCanonical(nil, v, 0)
}

func appendCanonical(b []byte, v any, depth int) ([]byte, error) {
	if depth > maxDepth {
		return b, ErrTooDeep
	}
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case string:
		return appendString(b, x)
	case json.Number:
		return appendNumber(b, string(x))
	case int:
		return strconv.AppendInt(b, int64(x), 10), nil
	case int8:
		return strconv.AppendInt(b, int64(x), 10), nil
	case int16:
		return strconv.AppendInt(b, int64(x), 10), nil
	case int32:
		return strconv.AppendInt(b, int64(x), 10), nil
	case int64:
		return strconv.AppendInt(b, x, 10), nil
	case uint:
		return strconv.AppendUint(b, uint64(x), 10), nil
	case uint8:
		return strconv.AppendUint(b, uint64(x), 10), nil
	case uint16:
		return strconv.AppendUint(b, uint64(x), 10), nil
	case uint32:
		return strconv.AppendUint(b, uint64(x), 10), nil
	case uint64:
		return strconv.AppendUint(b, x, 10), nil
	case float64:
		return appendFloat(b, x)
	case map[string]any:
		return appendObject(b, x, depth)
	case []any:
		return appendArray(b, x, depth)
	case []string:
		return appendSlice(b, x, depth)
	case []int:
		return appendSlice(b, x, depth)
	case []int64:
		return appendSlice(b, x, depth)
	case []uint32:
		return appendSlice(b, x, depth)
	case []uint64:
		return appendSlice(b, x, depth)
	default:
		return b, fmt.Errorf("%w: %T", ErrUnsupportedType, v)
	}
}

func appendSlice[T any](b []byte, s []T, depth int) ([]byte, error) {
	b = append(b, '[')
	for i, e := range s {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = appendCanonical(b, e, depth+1); err != nil {
			return b, err
		}
	}
	return append(b, ']'), nil
}

func appendArray(b []byte, s []any, depth int) ([]byte, error) {
	return appendSlice(b, s, depth)
}

// appendObject writes members sorted by the UTF-16 code units of their keys
// (RFC 8785 §3.2.3), which differs from byte order only when keys mix
// characters above U+FFFF with characters in U+E000–U+FFFF.
func appendObject(b []byte, m map[string]any, depth int) ([]byte, error) {
	type member struct {
		key   string
		units []uint16
	}
	members := make([]member, 0, len(m))
	for k := range m {
		if !utf8.ValidString(k) {
			return b, fmt.Errorf("object key %q: %w", k, ErrInvalidUTF8)
		}
		members = append(members, member{k, utf16.Encode([]rune(k))})
	}
	slices.SortFunc(members, func(x, y member) int { return slices.Compare(x.units, y.units) })
	b = append(b, '{')
	for i, mb := range members {
		if i > 0 {
			b = append(b, ',')
		}
		b, _ = appendString(b, mb.key) // validated above
		b = append(b, ':')
		var err error
		if b, err = appendCanonical(b, m[mb.key], depth+1); err != nil {
			return b, fmt.Errorf("member %q: %w", mb.key, err)
		}
	}
	return append(b, '}'), nil
}

// appendString writes s quoted, escaping only '"', '\' and U+0000–U+001F
// (RFC 8785 §3.2.2.2, as ECMAScript's JSON.stringify).
func appendString(b []byte, s string) ([]byte, error) {
	if !utf8.ValidString(s) {
		return b, fmt.Errorf("string %q: %w", s, ErrInvalidUTF8)
	}
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\b':
			b = append(b, '\\', 'b')
		case '\f':
			b = append(b, '\\', 'f')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"'), nil
}

// appendNumber writes a JSON number literal canonically.
func appendNumber(b []byte, s string) ([]byte, error) {
	if !validNumber(s) {
		return b, fmt.Errorf("%w: %q is not a JSON number", ErrNumber, s)
	}
	if !strings.ContainsAny(s, ".eE") {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return strconv.AppendInt(b, i, 10), nil
		}
		if u, err := strconv.ParseUint(s, 10, 64); err == nil {
			return strconv.AppendUint(b, u, 10), nil
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) {
		return b, fmt.Errorf("%w: %s is out of the range of an IEEE 754 double", ErrNumber, s)
	}
	return appendFloat(b, f)
}

// appendFloat writes f as ECMAScript's Number.prototype.toString does
// (ECMA-262 Number::toString, used by RFC 8785 §3.2.2.3): the shortest
// digits that round-trip, in plain notation for decimal exponents -6 < n ≤ 21
// and exponent notation ("1e+21", "1.5e-7") otherwise; -0 is "0".
func appendFloat(b []byte, f float64) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return b, fmt.Errorf("%w: %v has no JSON form", ErrNumber, f)
	}
	if f == 0 {
		return append(b, '0'), nil
	}
	if f < 0 {
		b = append(b, '-')
		f = -f
	}
	// "d.ddde±x": the shortest round-tripping digits and their exponent.
	e := strconv.FormatFloat(f, 'e', -1, 64)
	mant, exp, _ := strings.Cut(e, "e")
	digits := strings.Replace(mant, ".", "", 1)
	x, _ := strconv.Atoi(exp)
	k, n := len(digits), x+1 // value = 0.digits × 10^n
	switch {
	case k <= n && n <= 21:
		b = append(b, digits...)
		for range n - k {
			b = append(b, '0')
		}
	case 0 < n && n <= 21:
		b = append(b, digits[:n]...)
		b = append(b, '.')
		b = append(b, digits[n:]...)
	case -6 < n && n <= 0:
		b = append(b, '0', '.')
		for range -n {
			b = append(b, '0')
		}
		b = append(b, digits...)
	default:
		b = append(b, digits[0])
		if k > 1 {
			b = append(b, '.')
			b = append(b, digits[1:]...)
		}
		b = append(b, 'e')
		if n-1 >= 0 {
			b = append(b, '+')
		}
		b = strconv.AppendInt(b, int64(n-1), 10)
	}
	return b, nil
}

// validNumber reports whether s matches the JSON number grammar (RFC 8259
// §6): -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func validNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	default:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if i == len(s) || !isDigit(s[i]) {
			return false
		}
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if i == len(s) || !isDigit(s[i]) {
			return false
		}
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	}
	return i == len(s)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
