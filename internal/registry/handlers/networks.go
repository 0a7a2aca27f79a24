package handlers

import (
	"errors"
	"fmt"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/registry/ratelimit"
	"github.com/pilot-go/pilot/internal/registry/store"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
)

// Networks (registry.md §7.4).

// badToken counts a non-matching admin_token on a request that ends up
// refused (§6.1, §12); it returns a rate_limited error when the bucket is
// exhausted.
func (c *call) badToken() error {
	c.h.m.AuthFailure(reasonBadToken)
	key, subject := ratelimit.IPKey(c.ip), c.ipSubject()
	if c.signer != 0 {
		key, subject = ratelimit.NodeKey(uint32(c.signer)), fmt.Sprintf("node %d", c.signer)
	}
	if d := c.h.lim.AuthFailed(key); !d.Allowed {
		return c.h.rateLimited(d, subject)
	}
	return nil
}

func (c *call) createNetwork(r *regmsg.CreateNetwork) (regmsg.Reply, error) {
	if c.tokenPresent {
		if err := c.tokenGate(); err != nil {
			return nil, err
		}
	}
	if !c.globalTok {
		return nil, c.refuse(false, "create_network needs the global admin token (a node's signature or a network admin token is not enough)")
	}
	g := grant{viaGlobalToken, c.signer}
	var reply *regmsg.CreateNetworkOK
	err := c.update(func(tx store.Tx) error {
		creator, err := c.subjectNode(tx, r.NodeID)
		if err != nil {
			return err
		}
		if _, err := tx.NetworkByName(r.Name); err == nil {
			return exists("network name %q is taken; choose another name", r.Name)
		} else if !isNotFound(err) {
			return err
		}
		jr, err := store.ParseJoinRule(r.EffectiveJoinRule())
		if err != nil {
			return invalid("join_rule must be \"open\", \"token\" or \"invite\"")
		}
		nw, err := tx.CreateNetwork(store.Network{Name: r.Name, JoinRule: jr, TokenDigest: store.DigestOf(r.Token),
			AdminTokenDigest: store.DigestOf(r.NetworkAdminToken), Created: c.now}, creator.ID, c.now)
		switch {
		case errors.Is(err, store.ErrNameTaken):
			return exists("network name %q is taken; choose another name", r.Name)
		case errors.Is(err, store.ErrIDSpaceExhausted):
			return exhausted("no network ID is left (1..65535 were all used)")
		case err != nil:
			return err
		}
		if err := c.audit(tx, g, regmsg.ActionNetworkCreated, aInt("network_id", nw.ID), aStr("name", nw.Name),
			aStr("join_rule", jr.String()), aInt("creator_node_id", creator.ID)); err != nil {
			return err
		}
		reply = &regmsg.CreateNetworkOK{NetworkID: nw.ID, Name: nw.Name, Enterprise: true, JoinRule: jr.String(),
			OwnerNodeID: creator.ID}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return reply, nil
}

func (c *call) joinNetwork(r *regmsg.JoinNetwork) (regmsg.Reply, error) {
	var reply *regmsg.JoinNetworkOK
	err := c.update(func(tx store.Tx) error {
		if r.NetworkID == store.BackboneID {
			return precondition("every node is always a member of network 0")
		}
		nw, err := c.network(tx, r.NetworkID, false, "")
		if err != nil {
			return err
		}
		netMatch := c.networkToken(nw)
		g, err := c.authzSubject(netMatch)
		if err != nil {
			return err
		}
		n, err := c.subjectNode(tx, r.NodeID)
		if err != nil {
			return err
		}
		switch nw.JoinRule {
		case store.JoinInvite:
			return precondition("network %d is invite-only: ask an admin for an invite, then run `pilotctl network accept %d`", nw.ID, nw.ID)
		case store.JoinToken:
			if !matchDigest(r.Token, nw.TokenDigest) {
				if c.tokenPresent {
					if err := c.tokenGate(); err != nil {
						return err
					}
				}
				if !c.globalTok && !netMatch {
					msg := fmt.Sprintf("invalid join token for network %d", nw.ID)
					if c.tokenPresent {
						if err := c.badToken(); err != nil {
							return err
						}
						msg += "; admin token not accepted"
					}
					return denied("%s", msg)
				}
			}
		}
		if err := c.addMember(tx, nw, n.ID); err != nil {
			return err
		}
		if err := c.audit(tx, g, regmsg.ActionNetworkJoined, aInt("node_id", n.ID), aInt("network_id", nw.ID),
			aStr("join_rule", nw.JoinRule.String())); err != nil {
			return err
		}
		reply = &regmsg.JoinNetworkOK{NetworkID: nw.ID, Address: addr.New(nw.ID, n.ID), Role: regmsg.RoleMember}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return reply, nil
}

// addMember adds node as member under the capacity rule and bumps the
// policy epoch (join_network, respond_invite).
func (c *call) addMember(tx store.Tx, nw store.Network, node addr.NodeID) error {
	err := tx.AddMember(nw.ID, node, store.RoleMember, c.now)
	switch {
	case errors.Is(err, store.ErrAlreadyMember):
		return exists("node %d is already a member of network %d", node, nw.ID)
	case errors.Is(err, store.ErrNetworkFull):
		n, _ := tx.CountMembers(nw.ID)
		return exhausted("network %d is full: %d of %d members", nw.ID, n, nw.MaxMembers)
	case err != nil:
		return err
	}
	_, err = tx.BumpPolicyEpoch()
	return err
}

func (c *call) leaveNetwork(r *regmsg.LeaveNetwork) (regmsg.Reply, error) {
	err := c.update(func(tx store.Tx) error {
		nw, err := c.network(tx, r.NetworkID, true, "left")
		if err != nil {
			return err
		}
		g, err := c.authzSubject(c.networkToken(nw))
		if err != nil {
			return err
		}
		n, err := c.subjectNode(tx, r.NodeID)
		if err != nil {
			return err
		}
		role, err := tx.Role(nw.ID, n.ID)
		if err != nil {
			return err
		}
		switch role {
		case store.RoleOwner:
			return precondition("node %d owns network %d: transfer ownership first: pilotctl network transfer %d --node <id>", n.ID, nw.ID, nw.ID)
		case store.RoleNone:
			return notFound("node %d is not a member of network %d", n.ID, nw.ID)
		}
		removed, err := tx.RemoveMember(nw.ID, n.ID)
		if err != nil {
			return err
		}
		if err := c.auditInviteRemoved(tx, g, n.ID, removed); err != nil {
			return err
		}
		if _, err := tx.BumpPolicyEpoch(); err != nil {
			return err
		}
		return c.audit(tx, g, regmsg.ActionNetworkLeft, aInt("node_id", n.ID), aInt("network_id", nw.ID))
	})
	if err != nil {
		return nil, err
	}
	return &regmsg.LeaveNetworkOK{NetworkID: r.NetworkID}, nil
}

func (c *call) deleteNetwork(r *regmsg.DeleteNetwork) (regmsg.Reply, error) {
	err := c.update(func(tx store.Tx) error {
		nw, err := c.network(tx, r.NetworkID, true, "deleted")
		if err != nil {
			return err
		}
		g, _, err := c.authzNetwork(tx, nw, ownerOnly, true, true, fmt.Sprintf("only the owner of network %d can delete it", nw.ID))
		if err != nil {
			return err
		}
		rem, err := tx.DeleteNetwork(nw.ID)
		if err != nil {
			return err
		}
		if _, err := tx.BumpPolicyEpoch(); err != nil {
			return err
		}
		return c.audit(tx, g, regmsg.ActionNetworkDeleted, aInt("network_id", nw.ID), aStr("name", nw.Name),
			aInt("members", rem.Members), aInt("invites_removed", len(rem.InvitesRemoved)))
	})
	if err != nil {
		return nil, err
	}
	return &regmsg.DeleteNetworkOK{NetworkID: r.NetworkID}, nil
}

func (c *call) renameNetwork(r *regmsg.RenameNetwork) (regmsg.Reply, error) {
	err := c.update(func(tx store.Tx) error {
		nw, err := c.network(tx, r.NetworkID, true, "renamed")
		if err != nil {
			return err
		}
		g, _, err := c.authzNetwork(tx, nw, ownerOrAdmin, true, true, fmt.Sprintf("only the owner or an admin of network %d can rename it", nw.ID))
		if err != nil {
			return err
		}
		if nw.Name == r.Name {
			return nil
		}
		taken := exists("network name %q is taken; choose another name", r.Name)
		if _, err := tx.NetworkByName(r.Name); err == nil {
			return taken
		} else if !isNotFound(err) {
			return err
		}
		old := nw.Name
		nw.Name = r.Name
		if err := tx.UpdateNetwork(nw); err != nil {
			if errors.Is(err, store.ErrNameTaken) {
				return taken
			}
			return err
		}
		return c.audit(tx, g, regmsg.ActionNetworkRenamed, aInt("network_id", nw.ID), aStr("old_name", old), aStr("new_name", r.Name))
	})
	if err != nil {
		return nil, err
	}
	return &regmsg.RenameNetworkOK{NetworkID: r.NetworkID, Name: r.Name}, nil
}
