package handlers

import (
	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/registry/store"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
)

// Trust (registry.md §7.3): consent-based directed approvals; a pair
// exists when both directions do.

// selfRelation is §6.4 step 4 for trust and handshake messages.
func selfRelation(field string) error {
	return invalid("%s names the signing node itself; name another node", field)
}

// peerExists is the state rule "both nodes exist".
func peerExists(tx store.ReadTx, id addr.NodeID) error {
	_, err := tx.Node(id)
	if isNotFound(err) {
		return nodeNotRegistered(id)
	}
	return err
}

// approve records from→to and writes trust.created and the epoch bump
// when something changed; onlyPair limits the audit event to a new pair
// (respond_handshake, request_handshake).
func (c *call) approve(tx store.Tx, g grant, from, to addr.NodeID, onlyPair bool) (pair bool, err error) {
	added, pair, err := tx.AddApproval(from, to, c.now)
	if isNotFound(err) {
		return false, nodeNotRegistered(to)
	}
	if err != nil || !added {
		return pair, err
	}
	if pair {
		if _, err := tx.BumpPolicyEpoch(); err != nil {
			return pair, err
		}
	}
	if onlyPair && !pair {
		return pair, nil
	}
	return pair, c.audit(tx, g, regmsg.ActionTrustCreated, aInt("node_a", from), aInt("node_b", to), aBool("mutual", pair))
}

func (c *call) reportTrust(r *regmsg.ReportTrust) (regmsg.Reply, error) {
	if err := c.requireSigner(); err != nil {
		return nil, err
	}
	if r.SelfRelation() {
		return nil, selfRelation("peer_id")
	}
	var trusted bool
	err := c.update(func(tx store.Tx) error {
		if err := peerExists(tx, r.PeerID); err != nil {
			return err
		}
		var err error
		trusted, err = c.approve(tx, grant{viaSelf, c.signer}, c.signer, r.PeerID, false)
		return err
	})
	if err != nil {
		return nil, err
	}
	c.h.m.TrustReport()
	return &regmsg.ReportTrustOK{Trusted: trusted}, nil
}

func (c *call) revokeTrust(r *regmsg.RevokeTrust) (regmsg.Reply, error) {
	if err := c.requireSigner(); err != nil {
		return nil, err
	}
	if r.SelfRelation() {
		return nil, selfRelation("peer_id")
	}
	var removed bool
	err := c.update(func(tx store.Tx) error {
		var pairRemoved bool
		var err error
		removed, pairRemoved, err = tx.RevokeTrust(c.signer, r.PeerID)
		if err != nil || !removed {
			return err
		}
		if pairRemoved {
			if _, err := tx.BumpPolicyEpoch(); err != nil {
				return err
			}
		}
		return c.audit(tx, grant{viaSelf, c.signer}, regmsg.ActionTrustRevoked, aInt("node_a", c.signer), aInt("node_b", r.PeerID))
	})
	if err != nil {
		return nil, err
	}
	if removed {
		c.h.m.TrustRevocation()
	}
	return &regmsg.RevokeTrustOK{Revoked: removed}, nil
}

func (c *call) checkTrust(r *regmsg.CheckTrust) (regmsg.Reply, error) {
	me := c.signer
	if me == 0 && c.legacyUnsigned() && r.NodeID != 0 {
		me = r.NodeID // accepted unsigned in legacy mode (§5.5)
	}
	if me == 0 {
		if err := c.requireSigner(); err != nil {
			return nil, err
		}
	}
	if r.SelfRelation() {
		return nil, selfRelation("peer_id")
	}
	var reply *regmsg.CheckTrustOK
	err := c.view(func(tx store.ReadTx) error {
		shared, err := tx.SharedNetworks(me, r.PeerID)
		if err != nil {
			return err
		}
		pair, err := tx.TrustPair(me, r.PeerID)
		if err != nil {
			return err
		}
		reply = &regmsg.CheckTrustOK{Trusted: pair || len(shared) > 0, TrustPair: pair, SharedNetworks: shared}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return reply, nil
}
