package handlers

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/registry/store"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
)

// Invites (registry.md §7.7).

func (c *call) inviteToNetwork(r *regmsg.InviteToNetwork) (regmsg.Reply, error) {
	if r.InviterID != 0 && r.SelfRelation() {
		return nil, invalid("target_node_id names the inviter itself; invite another node")
	}
	status := regmsg.InviteInvited
	err := c.update(func(tx store.Tx) error {
		nw, err := c.network(tx, r.NetworkID, true, "invited to")
		if err != nil {
			return err
		}
		g, _, err := c.authzNetwork(tx, nw, ownerOrAdmin, true, true,
			fmt.Sprintf("only the owner or an admin of network %d can invite nodes", nw.ID))
		if err != nil {
			return err
		}
		if nw.JoinRule != store.JoinInvite {
			return precondition("network %d is not invite-only; share its join token instead", nw.ID)
		}
		if err := peerExists(tx, r.TargetNodeID); err != nil {
			return err
		}
		role, err := tx.Role(nw.ID, r.TargetNodeID)
		if err != nil {
			return err
		}
		if role != store.RoleNone {
			return exists("node %d is already a member of network %d", r.TargetNodeID, nw.ID)
		}
		if nw.MaxMembers > 0 {
			n, err := tx.CountMembers(nw.ID)
			if err != nil {
				return err
			}
			if uint32(n) >= nw.MaxMembers {
				return exhausted("network %d is full: %d of %d members", nw.ID, n, nw.MaxMembers)
			}
		}
		// An expired invite that the sweeper has not removed yet is
		// removed here as the sweeper would, so that the audit trail
		// shows its end before the new invite.
		switch old, err := tx.Invite(nw.ID, r.TargetNodeID); {
		case err == nil && old.Expires.UnixMilli() <= c.now.UnixMilli():
			if err := tx.DeleteInvite(nw.ID, r.TargetNodeID); err != nil {
				return err
			}
			if err := c.auditExpiredInvite(tx, old); err != nil {
				return err
			}
		case err != nil && !isNotFound(err):
			return err
		}
		err = tx.CreateInvite(store.Invite{NetworkID: nw.ID, TargetID: r.TargetNodeID, InviterID: c.signer,
			Created: c.now, Expires: c.now.Add(c.h.cfg.InviteTTL)})
		switch {
		case errors.Is(err, store.ErrAlreadyInvited):
			status = regmsg.InviteAlreadyInvited
			return nil
		case errors.Is(err, store.ErrInboxFull):
			return exhausted("node %d already has %d pending invites; it must answer some first", r.TargetNodeID, store.MaxPendingInvites)
		case isNotFound(err):
			return nodeNotRegistered(r.TargetNodeID)
		case err != nil:
			return err
		}
		return c.audit(tx, g, regmsg.ActionInviteCreated, aInt("network_id", nw.ID), aInt("inviter_id", c.signer),
			aInt("target_node_id", r.TargetNodeID))
	})
	if err != nil {
		return nil, err
	}
	return &regmsg.InviteToNetworkOK{NetworkID: r.NetworkID, TargetNodeID: r.TargetNodeID, Status: status}, nil
}

// inviteCursor is "<created unix ms>.<network id>".
func parseInviteCursor(s string) (store.InviteCursor, error) {
	if s == "" {
		return store.InviteCursor{}, nil
	}
	bad := invalid("cursor %q was not issued by this registry for poll_invites; start again without cursor", s)
	ms, nid, ok := strings.Cut(s, ".")
	if !ok {
		return store.InviteCursor{}, bad
	}
	t, err1 := strconv.ParseInt(ms, 10, 64)
	n, err2 := strconv.ParseUint(nid, 10, 16)
	if err1 != nil || err2 != nil || t < 0 || n > math.MaxUint16 {
		return store.InviteCursor{}, bad
	}
	return store.InviteCursor{Created: time.UnixMilli(t).UTC(), NetworkID: addr.NetworkID(n)}, nil
}

func (c *call) pollInvites(r *regmsg.PollInvites) (regmsg.Reply, error) {
	if err := c.requireSigner(); err != nil {
		return nil, err
	}
	after, err := parseInviteCursor(r.Cursor)
	if err != nil {
		return nil, err
	}
	limit := r.EffectiveLimit(pollPageDefault, pollPageMax)
	reply := &regmsg.PollInvitesOK{}
	err = c.view(func(tx store.ReadTx) error {
		invs, err := tx.ListInvites(c.signer, c.now, after, limit+1)
		if err != nil {
			return err
		}
		if len(invs) > limit {
			invs = invs[:limit]
			last := invs[limit-1]
			reply.NextCursor = fmt.Sprintf("%d.%d", last.Created.UnixMilli(), last.NetworkID)
		}
		for _, inv := range invs {
			nw, err := tx.Network(inv.NetworkID)
			if err != nil && !isNotFound(err) {
				return err
			}
			reply.Invites = append(reply.Invites, regmsg.InviteEntry{NetworkID: inv.NetworkID, InviterID: inv.InviterID,
				Timestamp: inv.Created.Unix(), NetworkName: nw.Name, ExpiresAt: inv.Expires.Unix()})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return reply, nil
}

func (c *call) respondInvite(r *regmsg.RespondInvite) (regmsg.Reply, error) {
	if err := c.requireSigner(); err != nil {
		return nil, err
	}
	g := grant{viaSelf, c.signer}
	reply := &regmsg.RespondInviteOK{Accepted: r.Accept, NetworkID: r.NetworkID}
	err := c.update(func(tx store.Tx) error {
		inv, err := tx.Invite(r.NetworkID, c.signer)
		if isNotFound(err) || err == nil && !inv.Expires.After(c.now) {
			return notFound("no pending invite to network %d", r.NetworkID)
		}
		if err != nil {
			return err
		}
		if r.Accept {
			nw, err := c.network(tx, r.NetworkID, false, "")
			if err != nil {
				return err
			}
			if err := c.addMember(tx, nw, c.signer); err != nil {
				return err
			}
		}
		if err := tx.DeleteInvite(r.NetworkID, c.signer); err != nil {
			return err
		}
		if err := c.audit(tx, g, regmsg.ActionInviteResponded, aInt("node_id", c.signer), aInt("network_id", r.NetworkID),
			aBool("accepted", r.Accept)); err != nil {
			return err
		}
		if !r.Accept {
			return nil
		}
		a := addr.New(r.NetworkID, c.signer)
		reply.Address, reply.Role = &a, regmsg.RoleMember
		return c.audit(tx, g, regmsg.ActionNetworkJoined, aInt("node_id", c.signer), aInt("network_id", r.NetworkID),
			aStr("join_rule", store.JoinInvite.String()))
	})
	if err != nil {
		return nil, err
	}
	return reply, nil
}
