package handlers

import (
	"errors"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/registry/store"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
)

// Key lifecycle (registry.md §7.1.7–§7.1.10, §10).

// checkExpiryRange: strictly in the future, at most 3,650 days ahead
// (§7.1.8).
func (c *call) checkExpiryRange(t time.Time) error {
	if !t.After(c.now) {
		return invalid("expires_at %s is not in the future; give a later RFC 3339 time, \"\" or \"never\"", fmtTime(t))
	}
	if t.Sub(c.now) > regmsg.MaxKeyExpiry {
		return invalid("expires_at %s is more than 3650 days ahead; give an earlier time", fmtTime(t))
	}
	return nil
}

// newKeyFree is the rule "not bound to any node and never retired".
func newKeyFree(tx store.ReadTx, k store.PublicKey, allowTombstone bool) error {
	kb, err := tx.KeyBinding(k)
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	switch kb.State {
	case store.KeyRetired:
		return exists("new_public_key was retired on %s and can never be used again; generate a new key", fmtTime(kb.Since))
	case store.KeyTombstone:
		if allowTombstone {
			return nil
		}
		return exists("new_public_key is bound to deregistered node %d; generate a new key", kb.NodeID)
	}
	return exists("key is registered to node %d; deregister node %d first", kb.NodeID, kb.NodeID)
}

func keyErr(err error) error {
	if errors.Is(err, store.ErrKeyBound) || errors.Is(err, store.ErrKeyRetired) {
		return exists("new_public_key is already bound to a node or was retired; generate a new key")
	}
	return err
}

func (c *call) rotateKey(r *regmsg.RotateKey) (regmsg.Reply, error) {
	if err := c.requireSigner(); err != nil {
		return nil, err
	}
	var expires time.Time
	if t, ok := r.Expiry(); ok {
		if err := c.checkExpiryRange(t); err != nil {
			return nil, err
		}
		expires = t
	}
	key := decodeKey(r.NewPublicKey)
	var reply *regmsg.RotateKeyOK
	err := c.update(func(tx store.Tx) error {
		if err := newKeyFree(tx, key, false); err != nil {
			return err
		}
		n, err := tx.RotateKey(c.signer, key, c.now, expires)
		if err != nil {
			return keyErr(err)
		}
		if err := tx.SetLastSeen(c.signer, c.now); err != nil {
			return err
		}
		if err := c.audit(tx, grant{viaSelf, c.signer}, regmsg.ActionKeyRotated, aInt("node_id", n.ID),
			aInt("rotate_count", n.RotateCount)); err != nil {
			return err
		}
		reply = &regmsg.RotateKeyOK{NodeID: n.ID, Address: addr.New(0, n.ID), PublicKey: r.NewPublicKey,
			RotateCount: int64(n.RotateCount), RotatedAt: fmtTime(c.now)}
		if !expires.IsZero() {
			reply.ExpiresAt = fmtTime(expires)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return reply, nil
}

func fmtOpt(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return fmtTime(t)
}

func (c *call) setKeyExpiry(r *regmsg.SetKeyExpiry) (regmsg.Reply, error) {
	t, clear := r.Expiry()
	if !clear {
		if err := c.checkExpiryRange(t); err != nil {
			return nil, err
		}
	}
	g, err := c.authzSubject(false)
	if err != nil {
		return nil, err
	}
	var reply *regmsg.SetKeyExpiryOK
	err = c.update(func(tx store.Tx) error {
		n, err := c.subjectNode(tx, r.NodeID)
		if err != nil {
			return err
		}
		old := n.KeyExpiresAt
		n.KeyExpiresAt = t.Truncate(time.Millisecond)
		if !old.Equal(n.KeyExpiresAt) {
			if err := tx.UpdateNode(n); err != nil {
				return err
			}
			if err := c.audit(tx, g, regmsg.ActionKeyExpirySet, aInt("node_id", n.ID),
				aStr("expires_at", fmtOpt(n.KeyExpiresAt)), aStr("old_expires_at", fmtOpt(old))); err != nil {
				return err
			}
		}
		reply = &regmsg.SetKeyExpiryOK{NodeID: n.ID, ExpiresAt: fmtOpt(n.KeyExpiresAt)}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return reply, nil
}

func (c *call) getKeyInfo(r *regmsg.GetKeyInfo) (regmsg.Reply, error) {
	var reply *regmsg.GetKeyInfoOK
	err := c.view(func(tx store.ReadTx) error {
		n, err := tx.Node(r.NodeID)
		if isNotFound(err) {
			return nodeNotRegistered(r.NodeID)
		}
		if err != nil {
			return err
		}
		reply = &regmsg.GetKeyInfoOK{NodeID: n.ID, CreatedAt: fmtTime(n.KeyCreatedAt), RotateCount: int64(n.RotateCount),
			RotatedAt: fmtOpt(n.KeyRotatedAt), ExpiresAt: fmtOpt(n.KeyExpiresAt), KeyAgeDays: c.keyAgeDays(n),
			Expired: !n.KeyExpiresAt.IsZero() && !n.KeyExpiresAt.After(c.now)}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return reply, nil
}

func (c *call) reassignKey(r *regmsg.ReassignKey) (regmsg.Reply, error) {
	if !c.verified {
		return nil, authErr(reasonMissing, 0, regmsg.CodeUnauthenticated,
			"reassign_key must be signed with auth v2 by the new key (signer 0) to prove possession of new_public_key")
	}
	if c.tokenPresent {
		if err := c.tokenGate(); err != nil {
			return nil, err
		}
	}
	if !c.globalTok {
		return nil, c.refuse(false, "reassign_key needs the global admin token")
	}
	g := grant{viaGlobalToken, 0}
	key := decodeKey(r.NewPublicKey)
	var reply *regmsg.ReassignKeyOK
	err := c.update(func(tx store.Tx) error {
		// State rules in the order of §6.4: the target exists, then the
		// key is free.
		if _, err := tx.Node(r.NodeID); isNotFound(err) {
			if _, err := tx.Tombstone(r.NodeID); isNotFound(err) {
				return notFound("node %d was never registered", r.NodeID)
			} else if err != nil {
				return err
			}
		} else if err != nil {
			return err
		}
		if err := newKeyFree(tx, key, true); err != nil {
			return err
		}
		n, live, err := tx.ReassignKey(r.NodeID, key, c.now)
		if isNotFound(err) {
			return notFound("node %d was never registered", r.NodeID)
		}
		if err != nil {
			return keyErr(err)
		}
		count := int64(0)
		if live {
			count = int64(n.RotateCount)
		}
		if err := c.audit(tx, g, regmsg.ActionKeyReassigned, aInt("node_id", r.NodeID), aInt("rotate_count", count)); err != nil {
			return err
		}
		reply = &regmsg.ReassignKeyOK{NodeID: r.NodeID, Address: addr.New(0, r.NodeID), PublicKey: r.NewPublicKey}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return reply, nil
}
