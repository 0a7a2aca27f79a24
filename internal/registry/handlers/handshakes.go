package handlers

import (
	"errors"

	"github.com/pilot-go/pilot/internal/registry/server"
	"github.com/pilot-go/pilot/internal/registry/store"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
)

// Relayed handshakes (registry.md §7.3).

// Page sizes of §8.2.
const (
	pollPageDefault = 100
	pollPageMax     = 100
)

func (c *call) requestHandshake(r *regmsg.RequestHandshake) (regmsg.Reply, error) {
	if err := c.requireSigner(); err != nil {
		return nil, err
	}
	if r.SelfRelation() {
		return nil, selfRelation("to_node_id")
	}
	status := regmsg.HandshakeDelivered
	g := grant{viaSelf, c.signer}
	err := c.update(func(tx store.Tx) error {
		if err := peerExists(tx, r.ToNodeID); err != nil {
			return err
		}
		queued, err := tx.EnqueueHandshakeRequest(store.HandshakeRequest{FromID: c.signer, ToID: r.ToNodeID,
			Justification: r.Justification, Created: c.now, Expires: c.now.Add(c.h.cfg.HandshakeTTL)})
		if errors.Is(err, store.ErrInboxFull) {
			return exhausted("node %d has %d pending handshake requests; try again later", r.ToNodeID, store.MaxHandshakeQueue)
		}
		if err != nil {
			return err
		}
		if !queued {
			status = regmsg.HandshakeAlreadyPending
			return nil
		}
		if err := c.audit(tx, g, regmsg.ActionHandshakeRelayed, aInt("from_node_id", c.signer), aInt("to_node_id", r.ToNodeID)); err != nil {
			return err
		}
		_, err = c.approve(tx, g, c.signer, r.ToNodeID, true)
		return err
	})
	if err != nil {
		return nil, err
	}
	c.h.m.HandshakeRequest()
	return &regmsg.RequestHandshakeOK{Status: status}, nil
}

func (c *call) pollHandshakes(r *regmsg.PollHandshakes) (regmsg.Reply, error) {
	if err := c.requireSigner(); err != nil {
		return nil, err
	}
	limit := r.EffectiveLimit(pollPageDefault, pollPageMax)
	for {
		var reply *regmsg.PollHandshakesOK
		err := c.update(func(tx store.Tx) error {
			b, err := tx.DrainHandshakes(c.signer, c.now, limit)
			if err != nil {
				return err
			}
			reply = &regmsg.PollHandshakesOK{}
			for _, q := range b.Requests {
				reply.Requests = append(reply.Requests, regmsg.HandshakeRequest{FromNodeID: q.FromID,
					Justification: q.Justification, Timestamp: q.Created.Unix()})
			}
			for _, p := range b.Responses {
				reply.Responses = append(reply.Responses, regmsg.HandshakeResponse{FromNodeID: p.FromID,
					Accept: p.Accept, Timestamp: p.Created.Unix()})
			}
			if b.More {
				reply.NextCursor = "more"
			}
			if body, err := regmsg.MarshalReply(reply); err == nil && len(body) > server.MaxFrame && limit > 1 {
				return errReplyTooLarge // roll back the drain and retry smaller
			}
			return nil
		})
		if errors.Is(err, errReplyTooLarge) {
			limit /= 2
			continue
		}
		if err != nil {
			return nil, err
		}
		return reply, nil
	}
}

func (c *call) respondHandshake(r *regmsg.RespondHandshake) (regmsg.Reply, error) {
	if err := c.requireSigner(); err != nil {
		return nil, err
	}
	if r.SelfRelation() {
		return nil, selfRelation("peer_id")
	}
	g := grant{viaSelf, c.signer}
	err := c.update(func(tx store.Tx) error {
		if err := peerExists(tx, r.PeerID); err != nil {
			return err
		}
		if err := tx.EnqueueHandshakeResponse(store.HandshakeResponse{FromID: c.signer, ToID: r.PeerID,
			Accept: r.Accept, Created: c.now, Expires: c.now.Add(c.h.cfg.HandshakeTTL)}); err != nil {
			return err
		}
		if err := c.audit(tx, g, regmsg.ActionHandshakeResponded, aInt("node_id", c.signer), aInt("peer_id", r.PeerID),
			aBool("accept", r.Accept)); err != nil {
			return err
		}
		if r.Accept {
			_, err := c.approve(tx, g, c.signer, r.PeerID, true)
			return err
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &regmsg.RespondHandshakeOK{Accept: r.Accept, PeerID: r.PeerID}, nil
}
