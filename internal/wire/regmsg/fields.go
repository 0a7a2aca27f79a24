package regmsg

import (
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/pilot-go/pilot/addr"
)

// This file maps the parsed request object onto typed fields, applying the
// value rules of registry.md §4.3. A decoder records the first error and
// turns every later call into a no-op, so message decoders read as a plain
// list of fields.

// MaxNodeID is the largest node ID a request may name (§4.3).
const MaxNodeID = 4294967294

type decoder struct {
	obj *jval
	err *Error
}

func (d *decoder) fail(e *Error) {
	if d.err == nil {
		d.err = e
	}
}

// get returns the value of a defined field, or nil when absent. null is a
// shape error unless allowNull.
func (d *decoder) lookup(name string, allowNull bool) *jval {
	if d.err != nil {
		return nil
	}
	for i, k := range d.obj.keys {
		if k == name {
			v := &d.obj.vals[i]
			if v.kind == kindNull && !allowNull {
				d.fail(invalidf("%s must not be null", name))
				return nil
			}
			return v
		}
	}
	return nil
}

func (d *decoder) get(name string) *jval { return d.lookup(name, false) }

func (d *decoder) missing(name string) {
	d.fail(invalidf("missing required field %s", name))
}

// rawTrunc is the JSON text of a value as sent, cut to 40 bytes, for a
// message. Callers never pass secret fields (strRule.secret).
func rawTrunc(v *jval) string {
	const max = 40
	if len(v.raw) <= max {
		return v.raw
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(v.raw[cut]) {
		cut--
	}
	return v.raw[:cut] + "…"
}

// intIn checks that v is a JSON int within [lo, hi].
func intIn(name string, v *jval, lo, hi int64) (int64, *Error) {
	bad := func() (int64, *Error) {
		return 0, invalidf("%s must be an integer in %d..%d, got %s", name, lo, hi, rawTrunc(v))
	}
	if v.kind != kindNumber || strings.ContainsAny(v.s, ".eE") {
		return bad()
	}
	n, err := strconv.ParseInt(v.s, 10, 64)
	if err != nil || n < lo || n > hi {
		return bad()
	}
	return n, nil
}

// integer reads an optional int field; ok reports presence.
func (d *decoder) integer(name string, lo, hi int64, required bool) (int64, bool) {
	v := d.get(name)
	if v == nil {
		if required {
			d.missing(name)
		}
		return 0, false
	}
	n, err := intIn(name, v, lo, hi)
	if err != nil {
		d.fail(err)
		return 0, false
	}
	return n, true
}

// nodeID reads a required field naming a node: 1..4294967294.
func (d *decoder) nodeID(name string) addr.NodeID {
	n, _ := d.integer(name, 1, MaxNodeID, true)
	return addr.NodeID(n)
}

// signer reads a signer field (table 5.4): absent or 0 means no signer
// (§4.3 "Signer fields").
func (d *decoder) signer(name string) addr.NodeID {
	n, _ := d.integer(name, 0, MaxNodeID, false)
	return addr.NodeID(n)
}

func (d *decoder) networkID(name string) addr.NetworkID {
	n, _ := d.integer(name, 0, math.MaxUint16, true)
	return addr.NetworkID(n)
}

func (d *decoder) optNetworkID(name string) *addr.NetworkID {
	n, ok := d.integer(name, 0, math.MaxUint16, false)
	if !ok {
		return nil
	}
	id := addr.NetworkID(n)
	return &id
}

// boolean reads a bool field; ok reports presence.
func (d *decoder) boolean(name string, required bool) (bool, bool) {
	v := d.get(name)
	if v == nil {
		if required {
			d.missing(name)
		}
		return false, false
	}
	if v.kind != kindBool {
		d.fail(invalidf("%s must be true or false, got %s", name, rawTrunc(v)))
		return false, false
	}
	return v.b, true
}

// strRule describes the syntax of a str field.
type strRule struct {
	freeText bool // control characters allowed (free text and secrets, §4.3)
	secret   bool // never echo the value in a message: tokens, nonces, signatures, keys (§4.1)
	maxBytes int  // 0 = no limit
	maxRunes int  // 0 = no limit
}

func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return true
		}
	}
	return false
}

// checkStr applies rule r to the string s of field name.
func checkStr(name, s string, r strRule) *Error {
	if !r.freeText && hasControl(s) {
		return invalidf("%s must not contain control characters (U+0000..U+001F, U+007F)", name)
	}
	if r.maxBytes > 0 && len(s) > r.maxBytes {
		return invalidf("%s must be at most %d bytes, got %d", name, r.maxBytes, len(s))
	}
	if r.maxRunes > 0 && utf8.RuneCountInString(s) > r.maxRunes {
		return invalidf("%s must be at most %d characters, got %d", name, r.maxRunes, utf8.RuneCountInString(s))
	}
	return nil
}

// str reads a str field; ok reports presence.
func (d *decoder) str(name string, required bool, r strRule) (string, bool) {
	v := d.get(name)
	if v == nil {
		if required {
			d.missing(name)
		}
		return "", false
	}
	if v.kind != kindString {
		got := v.kind.String()
		if !r.secret {
			got = rawTrunc(v)
		}
		d.fail(invalidf("%s must be a string, got %s", name, got))
		return "", false
	}
	if err := checkStr(name, v.s, r); err != nil {
		d.fail(err)
		return "", false
	}
	return v.s, true
}

// optStr reads an optional str field into a pointer (nil = absent).
func (d *decoder) optStr(name string, r strRule) *string {
	s, ok := d.str(name, false, r)
	if !ok {
		return nil
	}
	return &s
}

// array returns the elements of an array field (nil when absent); a null
// element is a shape error.
func (d *decoder) array(name string, maxLen int, allowNull bool) ([]jval, bool) {
	v := d.lookup(name, allowNull)
	if v == nil {
		return nil, false
	}
	if v.kind == kindNull {
		return []jval{}, true
	}
	if v.kind != kindArray {
		d.fail(invalidf("%s must be an array, got %s", name, rawTrunc(v)))
		return nil, false
	}
	if len(v.elems) > maxLen {
		d.fail(invalidf("%s must have at most %d entries, got %d", name, maxLen, len(v.elems)))
		return nil, false
	}
	for i := range v.elems {
		if v.elems[i].kind == kindNull {
			d.fail(invalidf("%s[%d] must not be null", name, i))
			return nil, false
		}
	}
	return v.elems, true
}

// strList reads an arr-of-str field; check validates each element. The
// result is nil when absent and non-nil (maybe empty) when present.
func (d *decoder) strList(name string, maxLen int, allowNull bool, check func(elem, s string) *Error) []string {
	elems, ok := d.array(name, maxLen, allowNull)
	if !ok {
		return nil
	}
	out := make([]string, 0, len(elems))
	for i := range elems {
		en := name + "[" + strconv.Itoa(i) + "]"
		e := &elems[i]
		if e.kind != kindString {
			d.fail(invalidf("%s must be a string, got %s", en, rawTrunc(e)))
			return nil
		}
		if err := checkStr(en, e.s, strRule{}); err != nil {
			d.fail(err)
			return nil
		}
		if check != nil {
			if err := check(en, e.s); err != nil {
				d.fail(err)
				return nil
			}
		}
		out = append(out, e.s)
	}
	return out
}

// portList reads allowed_ports: ints 1..65535.
func (d *decoder) portList(name string, maxLen int) []addr.Port {
	elems, ok := d.array(name, maxLen, false)
	if !ok {
		return nil
	}
	out := make([]addr.Port, 0, len(elems))
	for i := range elems {
		n, err := intIn(name+"["+strconv.Itoa(i)+"]", &elems[i], 1, math.MaxUint16)
		if err != nil {
			d.fail(err)
			return nil
		}
		out = append(out, addr.Port(n))
	}
	return out
}

// page reads the pagination fields of §4.4.
func (d *decoder) page() Page {
	var p Page
	n, _ := d.integer("limit", 0, math.MaxInt32, false)
	p.Limit = int(n)
	p.Cursor, _ = d.str("cursor", false, strRule{maxBytes: MaxCursorLen})
	return p
}

// MaxCursorLen bounds the opaque cursor of §4.4.
const MaxCursorLen = 256

// Page holds the pagination fields of a list request (§4.4). They are never
// signed.
type Page struct {
	Limit  int    // 0 = absent (use the default)
	Cursor string // "" = first page
}

// EffectiveLimit returns the page size to use for the defaults and maxima of
// §8.2: the default when Limit is 0, the maximum when Limit is larger.
func (p Page) EffectiveLimit(def, max int) int {
	switch {
	case p.Limit <= 0:
		return def
	case p.Limit > max:
		return max
	}
	return p.Limit
}
