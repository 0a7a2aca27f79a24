package handlers

import (
	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/registry/store"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
)

// Reputation (registry.md §7.9).

func (c *call) getPoloScore(r *regmsg.GetPoloScore) (regmsg.Reply, error) {
	var reply *regmsg.PoloScoreOK
	err := c.view(func(tx store.ReadTx) error {
		n, err := tx.Node(r.NodeID)
		if isNotFound(err) {
			return nodeNotRegistered(r.NodeID)
		}
		if err != nil {
			return err
		}
		reply = &regmsg.PoloScoreOK{Op: regmsg.TypeGetPoloScore, NodeID: n.ID, Address: addr.New(0, n.ID), PoloScore: n.PoloScore}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return reply, nil
}

// changeScore authorizes a score change (global token; legacy mode: none)
// and applies fn to the current score.
func (c *call) changeScore(id addr.NodeID, op string, fn func(old int64) int64) (regmsg.Reply, error) {
	g := grant{viaGlobalToken, 0}
	if c.tokenPresent {
		if err := c.tokenGate(); err != nil {
			return nil, err
		}
	}
	if !c.globalTok {
		if !c.legacyUnsigned() || c.tokenPresent {
			return nil, c.refuse(false, op+" needs the global admin token")
		}
		g = grant{viaSelf, 0} // legacy: accepted unauthenticated (§5.5)
	}
	var reply *regmsg.PoloScoreOK
	err := c.update(func(tx store.Tx) error {
		n, err := tx.Node(id)
		if isNotFound(err) {
			return nodeNotRegistered(id)
		}
		if err != nil {
			return err
		}
		old := n.PoloScore
		n.PoloScore = max(-regmsg.MaxPoloScore, min(regmsg.MaxPoloScore, fn(old)))
		if n.PoloScore != old {
			if err := tx.UpdateNode(n); err != nil {
				return err
			}
			if err := c.audit(tx, g, regmsg.ActionPoloScoreChanged, aInt("node_id", n.ID), aInt("old_score", old),
				aInt("new_score", n.PoloScore)); err != nil {
				return err
			}
		}
		reply = &regmsg.PoloScoreOK{Op: op, NodeID: n.ID, Address: addr.New(0, n.ID), PoloScore: n.PoloScore}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return reply, nil
}

func (c *call) updatePoloScore(r *regmsg.UpdatePoloScore) (regmsg.Reply, error) {
	return c.changeScore(r.NodeID, regmsg.TypeUpdatePoloScore, func(old int64) int64 { return old + r.Delta })
}

func (c *call) setPoloScore(r *regmsg.SetPoloScore) (regmsg.Reply, error) {
	return c.changeScore(r.NodeID, regmsg.TypeSetPoloScore, func(int64) int64 { return r.PoloScore })
}
