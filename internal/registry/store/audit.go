package store

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/identity"
)

// AuditTimeLayout is the audit time format of §9.2: RFC 3339 UTC with
// exactly three fractional digits.
const AuditTimeLayout = "2006-01-02T15:04:05.000Z"

// FormatAuditTime formats t as an audit row time.
func FormatAuditTime(t time.Time) string { return t.UTC().Format(AuditTimeLayout) }

// AuditEntry is a stored audit row (§9.2). Attrs keep the §9.3 order in
// which they were appended.
type AuditEntry struct {
	Seq         uint64
	Time        string // verbatim, hashed
	Action      string
	ActorNodeID addr.NodeID
	AuthVia     string
	Attrs       []identity.AuditAttr
	Hash        string // lowercase hex
}

// Row returns the identity.AuditRow that the hash covers.
func (e AuditEntry) Row() identity.AuditRow {
	return identity.AuditRow{Seq: e.Seq, Time: e.Time, Action: e.Action,
		ActorNodeID: uint32(e.ActorNodeID), AuthVia: e.AuthVia, Attrs: e.Attrs}
}

// AuditFilter selects audit entries (get_audit_log §7.8). Entries come
// newest first.
type AuditFilter struct {
	// Network, when HasNetwork, keeps events whose network_id attribute is
	// Network ("an event belongs to network N when its network_id attribute
	// is N"); it may name a deleted network.
	Network    addr.NetworkID
	HasNetwork bool
	Action     string // "" = any
	Before     uint64 // cursor: only seq < Before; 0 = from the newest
	Limit      int    // ≤ 0 = no limit
}

// ChainErrorKind tells how the audit chain is broken.
type ChainErrorKind string

// Chain error kinds.
const (
	ChainMismatch ChainErrorKind = "mismatch" // stored hash ≠ recomputed
	ChainGap      ChainErrorKind = "gap"      // a seq is missing
)

// ChainError reports the first break of the audit chain (§9.2;
// `pilot-registry audit verify`, cli.md §1.2).
type ChainError struct {
	Seq      uint64 // the first seq that does not verify (for a gap: the missing one)
	Kind     ChainErrorKind
	Stored   string // stored hash (mismatch)
	Computed string // recomputed hash (mismatch; "" if the row cannot be hashed)
	Detail   string // why the row cannot be hashed, if so
}

// Error returns the cli.md §1.2 text after "audit chain broken at seq N: ".
func (e *ChainError) Error() string {
	switch e.Kind {
	case ChainGap:
		return fmt.Sprintf("audit chain broken at seq %d: gap after seq %d", e.Seq, e.Seq-1)
	default:
		if e.Detail != "" {
			return fmt.Sprintf("audit chain broken at seq %d: hash mismatch (stored %s, row unreadable: %s)", e.Seq, e.Stored, e.Detail)
		}
		return fmt.Sprintf("audit chain broken at seq %d: hash mismatch (stored %s, computed %s)", e.Seq, e.Stored, e.Computed)
	}
}

// RawAuditRow is an audit row as stored: attrs as JSON text.
type RawAuditRow struct {
	Seq         uint64
	Time        string
	Action      string
	ActorNodeID uint32
	AuthVia     string
	Attrs       string
	Hash        string
}

// ChainVerifier recomputes the audit chain row by row, in seq order.
// Backends feed it every stored row; it is backend-neutral.
type ChainVerifier struct {
	prev    [32]byte
	lastSeq uint64
	entries int
	err     *ChainError
}

// Add checks the next stored row. After the first break it ignores rows.
func (v *ChainVerifier) Add(r RawAuditRow) {
	if v.err != nil {
		return
	}
	if r.Seq != v.lastSeq+1 {
		v.err = &ChainError{Seq: v.lastSeq + 1, Kind: ChainGap}
		return
	}
	fail := func(detail, computed string) {
		v.err = &ChainError{Seq: r.Seq, Kind: ChainMismatch, Stored: r.Hash, Computed: computed, Detail: detail}
	}
	attrs, err := DecodeAttrs(r.Attrs)
	if err != nil {
		fail(err.Error(), "")
		return
	}
	// The stored text must be exactly the encoding of what it holds, so an
	// altered byte that the JSON parser would forgive is still caught.
	if enc, err := EncodeAttrs(attrs); err != nil || enc != r.Attrs {
		fail("attrs are not in stored form", "")
		return
	}
	h, err := identity.AuditHash(v.prev, identity.AuditRow{Seq: r.Seq, Time: r.Time, Action: r.Action,
		ActorNodeID: r.ActorNodeID, AuthVia: r.AuthVia, Attrs: attrs})
	if err != nil {
		fail(err.Error(), "")
		return
	}
	computed := hex.EncodeToString(h[:])
	if computed != r.Hash {
		fail("", computed)
		return
	}
	v.prev, v.lastSeq = h, r.Seq
	v.entries++
}

// Result returns the number of verified entries, the head hash and the
// first break (nil if intact).
func (v *ChainVerifier) Result() (entries int, head string, err *ChainError) {
	if v.entries > 0 {
		head = hex.EncodeToString(v.prev[:])
	}
	return v.entries, head, v.err
}

// ChainNext computes the hash of the row following prevHex (lowercase hex,
// "" for the first row).
func ChainNext(prevHex string, row identity.AuditRow) (string, error) {
	var prev [32]byte
	if prevHex != "" {
		b, err := hex.DecodeString(prevHex)
		if err != nil || len(b) != 32 {
			return "", fmt.Errorf("%w: stored audit hash %q of seq %d is not 64 hex digits", ErrCorrupt, prevHex, row.Seq-1)
		}
		copy(prev[:], b)
	}
	h, err := identity.AuditHash(prev, row)
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(h[:]), nil
}

// EncodeAttrs serializes attrs as a JSON object in the given order, with
// RFC 8785 string and number encoding and no whitespace. This is the
// stored form: the order is kept for get_audit_log `details` and the log
// record (§7.8, §9.1), and the hash covers the canonical (sorted) form.
func EncodeAttrs(attrs []identity.AuditAttr) (string, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	seen := make(map[string]bool, len(attrs))
	for i, a := range attrs {
		if a.Key == "" || seen[a.Key] {
			return "", fmt.Errorf("%w: audit attribute key %q empty or repeated", ErrInvalid, a.Key)
		}
		seen[a.Key] = true
		switch a.Value.(type) {
		case int64, int, uint32, uint64, string, bool, []int64, []int, []string:
		default:
			return "", fmt.Errorf("%w: audit attribute %q has type %T", ErrInvalid, a.Key, a.Value)
		}
		k, err := identity.CanonicalJSON(a.Key)
		if err != nil {
			return "", err
		}
		v, err := identity.CanonicalJSON(a.Value)
		if err != nil {
			return "", fmt.Errorf("audit attribute %q: %w", a.Key, err)
		}
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.String(), nil
}

// DecodeAttrs parses the stored form of EncodeAttrs back into ordered
// attributes: numbers become int64, arrays []int64 or []string (an empty
// array becomes []string; both encode as []).
func DecodeAttrs(s string) ([]identity.AuditAttr, error) {
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return nil, errors.New("attrs are not a JSON object")
	}
	var out []identity.AuditAttr
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("attrs: %v", err)
		}
		key, _ := kt.(string)
		val, err := decodeAttrValue(dec)
		if err != nil {
			return nil, fmt.Errorf("attrs: %q: %v", key, err)
		}
		out = append(out, identity.AuditAttr{Key: key, Value: val})
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("attrs: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("attrs: trailing data")
	}
	return out, nil
}

func decodeAttrValue(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch x := tok.(type) {
	case string, bool:
		return x, nil
	case json.Number:
		return x.Int64()
	case json.Delim:
		if x != '[' {
			return nil, errors.New("unexpected object")
		}
		var ints []int64
		strs := []string{}
		for dec.More() {
			t, err := dec.Token()
			if err != nil {
				return nil, err
			}
			switch e := t.(type) {
			case json.Number:
				n, err := e.Int64()
				if err != nil || len(strs) > 0 {
					return nil, errors.New("bad array element")
				}
				ints = append(ints, n)
			case string:
				if ints != nil {
					return nil, errors.New("mixed array")
				}
				strs = append(strs, e)
			default:
				return nil, errors.New("bad array element")
			}
		}
		if _, err := dec.Token(); err != nil {
			return nil, err
		}
		if ints != nil {
			return ints, nil
		}
		return strs, nil
	}
	return nil, fmt.Errorf("unsupported value %v", tok)
}

// AttrNetworkID returns the network_id attribute, if any (§7.8 filter).
func AttrNetworkID(attrs []identity.AuditAttr) (addr.NetworkID, bool) {
	for _, a := range attrs {
		if a.Key != "network_id" {
			continue
		}
		var n int64
		switch v := a.Value.(type) {
		case int64:
			n = v
		case int:
			n = int64(v)
		case uint32:
			n = int64(v)
		case uint64:
			n = int64(v)
		default:
			return 0, false
		}
		if n < 0 || n > 0xFFFF {
			return 0, false
		}
		return addr.NetworkID(n), true
	}
	return 0, false
}
