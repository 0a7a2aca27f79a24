package regmsg

import (
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// This file is a small strict JSON parser (RFC 8259) for request bodies. It
// exists because encoding/json's struct decoding matches keys
// case-insensitively, keeps the last of duplicate keys and lets null leave a
// field unchanged, all of which §4.1 forbids. The parser builds a tree that
// keeps every key exactly as sent and rejects duplicate keys in every
// object, nested ones included.

type kind uint8

const (
	kindNull kind = iota
	kindBool
	kindNumber
	kindString
	kindArray
	kindObject
)

func (k kind) String() string {
	switch k {
	case kindNull:
		return "null"
	case kindBool:
		return "a bool"
	case kindNumber:
		return "a number"
	case kindString:
		return "a string"
	case kindArray:
		return "an array"
	default:
		return "an object"
	}
}

// maxDepth bounds the nesting of arrays and objects (unknown fields may hold
// anything; a 64 KiB body could otherwise nest 32,768 levels).
const maxDepth = 64

type jval struct {
	kind  kind
	b     bool
	s     string // string value, or the literal text of a number
	raw   string // the value's JSON text as sent (for messages)
	elems []jval
	keys  []string
	vals  []jval
}

type parser struct {
	data  []byte
	src   string // data as a string: values and raw texts are substrings
	pos   int
	depth int
}

// parseBody parses a request body: one JSON object and nothing else.
func parseBody(body []byte) (*jval, *Error) {
	if len(body) == 0 {
		return nil, invalidf("request body is empty; send one JSON object")
	}
	if !utf8.Valid(body) {
		return nil, invalidf("request body is not valid UTF-8")
	}
	p := &parser{data: body, src: string(body)}
	p.ws()
	v, err := p.value()
	if err != nil {
		return nil, err
	}
	p.ws()
	if p.pos != len(p.data) {
		return nil, p.syntax("data after the JSON value")
	}
	if v.kind != kindObject {
		return nil, invalidf("request body must be a JSON object, got %s", v.kind)
	}
	return &v, nil
}

func (p *parser) syntax(what string) *Error {
	return invalidf("request body is not valid JSON: %s at offset %d", what, p.pos)
}

func (p *parser) ws() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *parser) value() (jval, *Error) {
	if p.pos >= len(p.data) {
		return jval{}, p.syntax("unexpected end")
	}
	start := p.pos
	var v jval
	var err *Error
	switch c := p.data[p.pos]; {
	case c == '{':
		v, err = p.object()
	case c == '[':
		v, err = p.array()
	case c == '"':
		var s string
		s, err = p.str()
		v = jval{kind: kindString, s: s}
	case c == 't':
		err = p.literal("true")
		v = jval{kind: kindBool, b: true}
	case c == 'f':
		err = p.literal("false")
		v = jval{kind: kindBool}
	case c == 'n':
		err = p.literal("null")
		v = jval{kind: kindNull}
	case c == '-' || (c >= '0' && c <= '9'):
		err = p.number()
		v = jval{kind: kindNumber, s: p.src[start:p.pos]}
	default:
		return jval{}, p.syntax("unexpected character " + strconv.QuoteRune(rune(c)))
	}
	if err != nil {
		return jval{}, err
	}
	v.raw = p.src[start:p.pos]
	return v, nil
}

func (p *parser) literal(lit string) *Error {
	if len(p.data)-p.pos < len(lit) || string(p.data[p.pos:p.pos+len(lit)]) != lit {
		return p.syntax("invalid literal")
	}
	p.pos += len(lit)
	return nil
}

func (p *parser) digits() int {
	n := 0
	for p.pos < len(p.data) && p.data[p.pos] >= '0' && p.data[p.pos] <= '9' {
		p.pos++
		n++
	}
	return n
}

func (p *parser) number() *Error {
	if p.data[p.pos] == '-' {
		p.pos++
	}
	if p.pos < len(p.data) && p.data[p.pos] == '0' {
		p.pos++
	} else if p.digits() == 0 {
		return p.syntax("invalid number")
	}
	if p.pos < len(p.data) && p.data[p.pos] == '.' {
		p.pos++
		if p.digits() == 0 {
			return p.syntax("invalid number")
		}
	}
	if p.pos < len(p.data) && (p.data[p.pos] == 'e' || p.data[p.pos] == 'E') {
		p.pos++
		if p.pos < len(p.data) && (p.data[p.pos] == '+' || p.data[p.pos] == '-') {
			p.pos++
		}
		if p.digits() == 0 {
			return p.syntax("invalid number")
		}
	}
	return nil
}

func hexDigit(c byte) rune {
	switch {
	case c >= '0' && c <= '9':
		return rune(c - '0')
	case c >= 'a' && c <= 'f':
		return rune(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return rune(c-'A') + 10
	}
	return -1
}

func (p *parser) hex4() (rune, bool) {
	if len(p.data)-p.pos < 4 {
		return 0, false
	}
	var r rune
	for i := 0; i < 4; i++ {
		d := hexDigit(p.data[p.pos+i])
		if d < 0 {
			return 0, false
		}
		r = r<<4 | d
	}
	p.pos += 4
	return r, true
}

// str parses a string starting at the opening quote. Lone surrogates in
// \u escapes become U+FFFD, as in encoding/json.
func (p *parser) str() (string, *Error) {
	p.pos++ // opening quote
	start := p.pos
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		if c == '"' {
			s := p.src[start:p.pos]
			p.pos++
			return s, nil
		}
		if c == '\\' {
			break
		}
		if c < 0x20 {
			return "", p.syntax("control character in string")
		}
		p.pos++
	}
	buf := append([]byte(nil), p.data[start:p.pos]...)
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		switch {
		case c == '"':
			p.pos++
			return string(buf), nil
		case c < 0x20:
			return "", p.syntax("control character in string")
		case c != '\\':
			buf = append(buf, c)
			p.pos++
			continue
		}
		p.pos++
		if p.pos >= len(p.data) {
			break
		}
		e := p.data[p.pos]
		p.pos++
		switch e {
		case '"', '\\', '/':
			buf = append(buf, e)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r, ok := p.hex4()
			if !ok {
				return "", p.syntax("invalid \\u escape")
			}
			if utf16.IsSurrogate(r) {
				save := p.pos
				r2 := rune(-1)
				if len(p.data)-p.pos >= 2 && p.data[p.pos] == '\\' && p.data[p.pos+1] == 'u' {
					p.pos += 2
					if x, ok := p.hex4(); ok {
						r2 = x
					}
				}
				if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
					r = d
				} else {
					r = utf8.RuneError
					p.pos = save
				}
			}
			buf = utf8.AppendRune(buf, r)
		default:
			return "", p.syntax("invalid escape")
		}
	}
	return "", p.syntax("unterminated string")
}

func (p *parser) enter() *Error {
	p.depth++
	if p.depth > maxDepth {
		return invalidf("request body nests arrays and objects deeper than %d levels", maxDepth)
	}
	return nil
}

func (p *parser) array() (jval, *Error) {
	if err := p.enter(); err != nil {
		return jval{}, err
	}
	p.pos++
	v := jval{kind: kindArray, elems: []jval{}}
	p.ws()
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		p.pos++
		p.depth--
		return v, nil
	}
	for {
		p.ws()
		e, err := p.value()
		if err != nil {
			return jval{}, err
		}
		v.elems = append(v.elems, e)
		p.ws()
		if p.pos >= len(p.data) {
			return jval{}, p.syntax("unterminated array")
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case ']':
			p.pos++
			p.depth--
			return v, nil
		default:
			return jval{}, p.syntax("expected ',' or ']'")
		}
	}
}

func (p *parser) object() (jval, *Error) {
	if err := p.enter(); err != nil {
		return jval{}, err
	}
	p.pos++
	v := jval{kind: kindObject}
	var seen map[string]struct{} // duplicate check once the object is large
	p.ws()
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
		p.depth--
		return v, nil
	}
	for {
		p.ws()
		if p.pos >= len(p.data) || p.data[p.pos] != '"' {
			return jval{}, p.syntax("expected a string key")
		}
		k, err := p.str()
		if err != nil {
			return jval{}, err
		}
		if objectHasKey(v.keys, &seen, k) {
			return jval{}, invalidf("duplicate key %s in the request; send each field once", quoteTrunc(k))
		}
		p.ws()
		if p.pos >= len(p.data) || p.data[p.pos] != ':' {
			return jval{}, p.syntax("expected ':'")
		}
		p.pos++
		p.ws()
		e, err := p.value()
		if err != nil {
			return jval{}, err
		}
		if v.keys == nil {
			// Requests are small objects: one allocation each for
			// the usual sizes instead of four growths.
			v.keys, v.vals = make([]string, 0, smallObject), make([]jval, 0, smallObject)
		}
		v.keys = append(v.keys, k)
		v.vals = append(v.vals, e)
		p.ws()
		if p.pos >= len(p.data) {
			return jval{}, p.syntax("unterminated object")
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case '}':
			p.pos++
			p.depth--
			return v, nil
		default:
			return jval{}, p.syntax("expected ',' or '}'")
		}
	}
}

// smallObject is the number of keys up to which an object's duplicate
// keys are found by comparing with each earlier key; larger objects (a
// hostile request can have thousands) use a set.
const smallObject = 8

// objectHasKey reports whether k is among keys, the keys of an object so
// far, building *seen once there are smallObject of them.
func objectHasKey(keys []string, seen *map[string]struct{}, k string) bool {
	if len(keys) < smallObject {
		for _, have := range keys {
			if have == k {
				return true
			}
		}
		return false
	}
	if *seen == nil {
		*seen = make(map[string]struct{}, 2*len(keys))
		for _, have := range keys {
			(*seen)[have] = struct{}{}
		}
	}
	if _, dup := (*seen)[k]; dup {
		return true
	}
	(*seen)[k] = struct{}{}
	return false
}

// quoteTrunc quotes s for an error message, cut to 64 bytes.
func quoteTrunc(s string) string {
	const max = 64
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return strconv.Quote(s[:cut]) + "…"
	}
	return strconv.Quote(s)
}
