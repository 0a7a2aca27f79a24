package handlers

import (
	"errors"
	"log/slog"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/identity"
	"github.com/pilot-go/pilot/internal/registry/store"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
)

// Transactions (registry.md §13.2 guarantee 1): a mutation's state change,
// its audit rows, the request nonce and the policy_epoch bump commit
// together. Audit log records are emitted only after the commit (§9.1).

// Values of auth_via (§6.1, §9.1).
const (
	viaSelf         = "self"
	viaRole         = "role"
	viaNetworkToken = "network_token"
	viaGlobalToken  = "global_token"
	viaSystem       = "system"
)

// grant is the step of §6.1 that authorized a request.
type grant struct {
	via   string
	actor addr.NodeID
}

// view runs fn in a read transaction.
func (c *call) view(fn func(tx store.ReadTx) error) error {
	return c.h.st.View(c.ctx, fn)
}

// update runs fn in one write transaction together with the nonce record
// of a signed mutation; audit rows appended with audit are emitted after
// the commit.
func (c *call) update(fn func(tx store.Tx) error) error {
	err := c.h.st.Update(c.ctx, func(tx store.Tx) error {
		c.events = c.events[:0]
		if c.inTx {
			if err := c.recordNonce(tx); err != nil {
				return err
			}
		}
		return fn(tx)
	})
	if err != nil {
		c.events = nil
		return err
	}
	for _, e := range c.events {
		c.h.emit(e)
	}
	c.events = nil
	return nil
}

// recordNonce is §5.2 step 5 inside the mutation's transaction.
func (c *call) recordNonce(tx store.Tx) error {
	if c.signer != 0 {
		// The key may have been rotated since authentication.
		n, err := tx.Node(c.signer)
		if errors.Is(err, store.ErrNotFound) {
			return authErr(reasonUnknownNode, 0, regmsg.CodeNotFound, "node %d is not registered; register again", c.signer)
		}
		if err != nil {
			return err
		}
		if n.PublicKey != c.key {
			return authErr(reasonBadSignature, 0, regmsg.CodeUnauthenticated,
				"the key that signed this request is no longer the key of node %d", c.signer)
		}
	}
	seen, err := tx.RecordNonce(c.key, c.nonce, c.now, c.now.Add(c.h.window))
	if err != nil {
		return err
	}
	if seen {
		return authErr(reasonReplay, c.signer, regmsg.CodeUnauthenticated,
			"replayed request: this nonce was already accepted within the last %d s; sign every request with a fresh nonce", int64(c.h.window.Seconds()))
	}
	return nil
}

// audit appends one audit row in tx (§9.2).
func (c *call) audit(tx store.Tx, g grant, action string, attrs ...identity.AuditAttr) error {
	e, err := tx.AppendAudit(c.now, action, g.actor, g.via, attrs)
	if err != nil {
		return err
	}
	c.events = append(c.events, e)
	return nil
}

// emit writes the audit log record of a committed row (§9.1).
func (h *Handler) emit(e store.AuditEntry) {
	if h.cfg.Audit == nil {
		return
	}
	attrs := make([]slog.Attr, len(e.Attrs))
	for i, a := range e.Attrs {
		attrs[i] = slog.Any(a.Key, a.Value)
	}
	h.cfg.Audit.Emit(e.Action, attrs, uint32(e.ActorNodeID), e.AuthVia, e.Seq, e.Hash)
}

// Attribute constructors.

func aInt[T ~uint16 | ~uint32 | ~int | ~int64 | ~uint64](k string, v T) identity.AuditAttr {
	return identity.AuditAttr{Key: k, Value: int64(v)}
}
func aStr(k, v string) identity.AuditAttr       { return identity.AuditAttr{Key: k, Value: v} }
func aBool(k string, v bool) identity.AuditAttr { return identity.AuditAttr{Key: k, Value: v} }
func aStrs(k string, v []string) identity.AuditAttr {
	if v == nil {
		v = []string{}
	}
	return identity.AuditAttr{Key: k, Value: v}
}
func aNets(k string, v []addr.NetworkID) identity.AuditAttr {
	out := make([]int64, len(v))
	for i, n := range v {
		out[i] = int64(n)
	}
	return identity.AuditAttr{Key: k, Value: out}
}

// auditInviteRemoved appends invite.removed for each removed invite; the
// reason is target_removed for the invites addressed to node and
// inviter_removed for those it sent (§7.7).
func (c *call) auditInviteRemoved(tx store.Tx, g grant, node addr.NodeID, invites []store.Invite) error {
	for _, inv := range invites {
		reason := "inviter_removed"
		if inv.TargetID == node {
			reason = "target_removed"
		}
		if err := c.audit(tx, g, regmsg.ActionInviteRemoved, aInt("network_id", inv.NetworkID),
			aInt("node_id", inv.TargetID), aInt("inviter_id", inv.InviterID), aStr("reason", reason)); err != nil {
			return err
		}
	}
	return nil
}
