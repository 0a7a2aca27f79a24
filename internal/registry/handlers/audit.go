package handlers

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/identity"
	"github.com/pilot-go/pilot/internal/registry/store"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
)

// The audit query (registry.md §7.8).

func (c *call) getAuditLog(r *regmsg.GetAuditLog) (regmsg.Reply, error) {
	if r.NetworkID == nil && !c.globalTok {
		return nil, invalid("get_audit_log needs network_id unless the request carries the global admin token")
	}
	before, first, err := parseCursor(r.Cursor, math.MaxInt64)
	if err != nil {
		return nil, err
	}
	if !first && before == 0 { // sequence numbers start at 1: never issued (and 0 would mean "no bound")
		return nil, invalid("cursor %q was not issued by this registry for this list; start again without cursor", r.Cursor)
	}
	limit := r.EffectiveLimit(auditPageDefault, auditPageMax)
	reply := &regmsg.GetAuditLogOK{}
	err = c.view(func(tx store.ReadTx) error {
		f := store.AuditFilter{Action: r.Action, Before: before, Limit: limit + 1}
		if r.NetworkID == nil {
			if err := c.unprovenCaller(); err != nil {
				return err
			}
			if err := c.tokenGate(); err != nil {
				return err
			}
		} else {
			// network_id is only a filter here: it may name a deleted network.
			nw, err := tx.Network(*r.NetworkID)
			if isNotFound(err) {
				nw, err = store.Network{ID: *r.NetworkID}, nil
			}
			if err != nil {
				return err
			}
			if _, _, err := c.authzNetwork(tx, nw, ownerOrAdmin, true, true,
				fmt.Sprintf("only the owner or an admin of network %d can read its audit log", nw.ID)); err != nil {
				return err
			}
			f.Network, f.HasNetwork = nw.ID, true
		}
		rows, err := tx.QueryAudit(f)
		if err != nil {
			return err
		}
		more := len(rows) > limit
		if more {
			rows = rows[:limit]
		}
		entries := make([]regmsg.AuditEntry, 0, len(rows))
		for _, e := range rows {
			ae, err := auditEntry(e)
			if err != nil {
				return err
			}
			entries = append(entries, ae)
		}
		n := fit(entries)
		if n < len(entries) {
			more = true
		}
		reply.Entries = entries[:n]
		if more && n > 0 {
			reply.NextCursor = strconv.FormatUint(entries[n-1].Seq, 10)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return reply, nil
}

// auditEntry converts a stored row into a get_audit_log entry.
func auditEntry(e store.AuditEntry) (regmsg.AuditEntry, error) {
	attrs, err := store.EncodeAttrs(e.Attrs)
	if err != nil {
		return regmsg.AuditEntry{}, err
	}
	out := regmsg.AuditEntry{Timestamp: e.Time, Action: e.Action, Details: Details(e.Attrs), Seq: e.Seq,
		ActorNodeID: e.ActorNodeID, AuthVia: e.AuthVia, Attrs: regmsg.RawObject(attrs), Hash: e.Hash}
	if nid, ok := store.AttrNetworkID(e.Attrs); ok {
		out.NetworkID = nid
	}
	for _, a := range e.Attrs {
		if a.Key == "node_id" {
			if v, ok := intValue(a.Value); ok && v > 0 && v <= math.MaxUint32 {
				out.NodeID = addr.NodeID(v)
			}
		}
	}
	return out, nil
}

func intValue(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case int:
		return int64(x), true
	case uint32:
		return int64(x), true
	case uint64:
		if x <= math.MaxInt64 {
			return int64(x), true
		}
	}
	return 0, false
}

// Details formats the `details` string of §7.8: key=value pairs joined by
// ", " in §9.3 order; strings verbatim, ints decimal, bools true/false,
// arrays as [a b c].
func Details(attrs []identity.AuditAttr) string {
	var b strings.Builder
	for i, a := range attrs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(a.Key)
		b.WriteByte('=')
		switch v := a.Value.(type) {
		case []int64:
			b.WriteByte('[')
			for j, x := range v {
				if j > 0 {
					b.WriteByte(' ')
				}
				b.WriteString(strconv.FormatInt(x, 10))
			}
			b.WriteByte(']')
		case []int:
			b.WriteString(strings.ReplaceAll(fmt.Sprint(v), ",", " "))
		case []string:
			b.WriteByte('[')
			b.WriteString(strings.Join(v, " "))
			b.WriteByte(']')
		default:
			fmt.Fprint(&b, v)
		}
	}
	return b.String()
}
