package identity

import (
	"crypto/sha256"
	"errors"
	"fmt"
)

// ErrAuditRow reports an audit row that cannot be canonicalized: a
// duplicate or empty attribute key, or an attribute value of a type
// outside registry.md §9.2 (int, str, bool, arr of int, arr of str).
var ErrAuditRow = errors.New("invalid audit row")

// AuditAttr is one attribute of an audit event. Value is one of int64, int,
// uint32, uint64, string, bool, []int64, []int or []string.
type AuditAttr struct {
	Key   string
	Value any
}

// AuditRow is a row of the registry's audit table (registry.md §9.2). Time
// is RFC 3339 UTC with exactly three fractional digits and is hashed
// verbatim. Attrs are in the §9.3 order, which matters for the log record
// but not for the hash (canonical JSON sorts keys).
type AuditRow struct {
	Seq         uint64
	Time        string
	Action      string
	ActorNodeID uint32
	AuthVia     string
	Attrs       []AuditAttr
}

// CanonicalAuditRow returns canonical(row) of registry.md §9.2: the RFC 8785
// serialization of {"seq","time","action","actor_node_id","auth_via",
// "attrs"}.
func CanonicalAuditRow(r AuditRow) ([]byte, error) {
	attrs := make(map[string]any, len(r.Attrs))
	for _, a := range r.Attrs {
		if a.Key == "" {
			return nil, fmt.Errorf("%w: audit %s: empty attribute key", ErrAuditRow, r.Action)
		}
		if _, dup := attrs[a.Key]; dup {
			return nil, fmt.Errorf("%w: audit %s: attribute %q appears twice", ErrAuditRow, r.Action, a.Key)
		}
		switch a.Value.(type) {
		case int64, int, uint32, uint64, string, bool, []int64, []int, []string:
		default:
			return nil, fmt.Errorf("%w: audit %s: attribute %q has type %T, want int, str, bool, arr of int or arr of str",
				ErrAuditRow, r.Action, a.Key, a.Value)
		}
		attrs[a.Key] = a.Value
	}
	row := map[string]any{
		"seq":           r.Seq,
		"time":          r.Time,
		"action":        r.Action,
		"actor_node_id": r.ActorNodeID,
		"auth_via":      r.AuthVia,
		"attrs":         attrs,
	}
	b, err := CanonicalJSON(row)
	if err != nil {
		return nil, fmt.Errorf("audit %s seq %d: %w", r.Action, r.Seq, err)
	}
	return b, nil
}

// AuditHash returns hash_n = SHA-256(prev ‖ canonical(r)), where prev is
// hash_{n-1} (32 zero bytes for seq 1).
func AuditHash(prev [32]byte, r AuditRow) ([32]byte, error) {
	c, err := CanonicalAuditRow(r)
	if err != nil {
		return [32]byte{}, err
	}
	h := sha256.New()
	h.Write(prev[:])
	h.Write(c)
	var out [32]byte
	h.Sum(out[:0])
	return out, nil
}
