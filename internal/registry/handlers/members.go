package handlers

import (
	"fmt"

	"github.com/pilot-go/pilot/internal/registry/store"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
)

// Roles (registry.md §7.5, table 6.2).

func notMember(node uint32, nw uint16) error {
	return notFound("node %d is not a member of network %d", node, nw)
}

func (c *call) kickMember(r *regmsg.KickMember) (regmsg.Reply, error) {
	if c.signer != 0 && r.TargetNodeID == c.signer {
		return nil, precondition("node %d cannot kick itself; use leave (pilotctl network leave %d)", c.signer, r.NetworkID)
	}
	err := c.update(func(tx store.Tx) error {
		nw, err := c.network(tx, r.NetworkID, true, "kicked from")
		if err != nil {
			return err
		}
		target, err := tx.Role(nw.ID, r.TargetNodeID)
		if err != nil {
			return err
		}
		need := fmt.Sprintf("only the owner or an admin of network %d can kick members", nw.ID)
		if c.signer != 0 {
			if mine, err := tx.Role(nw.ID, c.signer); err == nil && mine == store.RoleAdmin && target >= store.RoleAdmin {
				need = fmt.Sprintf("only the owner of network %d can kick an admin, and nobody can kick the owner", nw.ID)
			}
		}
		allowed := func(mine store.Role) bool {
			return mine == store.RoleOwner || (mine == store.RoleAdmin && target < store.RoleAdmin)
		}
		g, _, err := c.authzNetwork(tx, nw, allowed, true, true, need)
		if err != nil {
			return err
		}
		switch target {
		case store.RoleNone:
			return notMember(uint32(r.TargetNodeID), uint16(nw.ID))
		case store.RoleOwner:
			return precondition("the owner cannot be kicked from network %d; the owner leaves after transferring ownership", nw.ID)
		}
		removed, err := tx.RemoveMember(nw.ID, r.TargetNodeID)
		if err != nil {
			return err
		}
		if err := c.auditInviteRemoved(tx, g, r.TargetNodeID, removed); err != nil {
			return err
		}
		if _, err := tx.BumpPolicyEpoch(); err != nil {
			return err
		}
		return c.audit(tx, g, regmsg.ActionMemberKicked, aInt("target_node_id", r.TargetNodeID),
			aInt("network_id", nw.ID), aStr("role", target.String()))
	})
	if err != nil {
		return nil, err
	}
	return &regmsg.MemberOK{Op: regmsg.TypeKickMember, NetworkID: r.NetworkID, TargetNodeID: r.TargetNodeID}, nil
}

// setRole is promote_member (to admin) and demote_member (to member).
func (c *call) setRole(mt *regmsg.MemberTarget, op string, to store.Role) (regmsg.Reply, error) {
	verb, action := "promote", regmsg.ActionMemberPromoted
	if to == store.RoleMember {
		verb, action = "demote", regmsg.ActionMemberDemoted
	}
	err := c.update(func(tx store.Tx) error {
		nw, err := c.network(tx, mt.NetworkID, true, "given roles")
		if err != nil {
			return err
		}
		g, _, err := c.authzNetwork(tx, nw, ownerOnly, true, true, fmt.Sprintf("only the owner of network %d can %s members", nw.ID, verb))
		if err != nil {
			return err
		}
		old, err := tx.Role(nw.ID, mt.TargetNodeID)
		if err != nil {
			return err
		}
		switch {
		case old == store.RoleNone:
			return notMember(uint32(mt.TargetNodeID), uint16(nw.ID))
		case old == store.RoleOwner && to == store.RoleMember:
			return precondition("node %d owns network %d and cannot be demoted; transfer ownership instead", mt.TargetNodeID, nw.ID)
		case old == store.RoleOwner:
			return precondition("node %d owns network %d and cannot be promoted", mt.TargetNodeID, nw.ID)
		case old == to:
			return exists("node %d is already %s of network %d", mt.TargetNodeID, article(to), nw.ID)
		}
		if err := tx.SetRole(nw.ID, mt.TargetNodeID, to); err != nil {
			return err
		}
		return c.audit(tx, g, action, aInt("target_node_id", mt.TargetNodeID), aInt("network_id", nw.ID),
			aStr("old_role", old.String()), aStr("new_role", to.String()))
	})
	if err != nil {
		return nil, err
	}
	return &regmsg.MemberOK{Op: op, NetworkID: mt.NetworkID, TargetNodeID: mt.TargetNodeID, Role: to.String()}, nil
}

func article(r store.Role) string {
	if r == store.RoleAdmin {
		return "an admin"
	}
	return "a " + r.String()
}

func (c *call) promoteMember(r *regmsg.PromoteMember) (regmsg.Reply, error) {
	return c.setRole(&r.MemberTarget, regmsg.TypePromoteMember, store.RoleAdmin)
}

func (c *call) demoteMember(r *regmsg.DemoteMember) (regmsg.Reply, error) {
	return c.setRole(&r.MemberTarget, regmsg.TypeDemoteMember, store.RoleMember)
}

func (c *call) transferOwnership(r *regmsg.TransferOwnership) (regmsg.Reply, error) {
	var reply *regmsg.TransferOwnershipOK
	err := c.update(func(tx store.Tx) error {
		nw, err := c.network(tx, r.NetworkID, true, "transferred")
		if err != nil {
			return err
		}
		g, _, err := c.authzNetwork(tx, nw, ownerOnly, true, true, fmt.Sprintf("only the owner of network %d can transfer its ownership", nw.ID))
		if err != nil {
			return err
		}
		role, err := tx.Role(nw.ID, r.NewOwnerID)
		if err != nil {
			return err
		}
		switch role {
		case store.RoleNone:
			return notMember(uint32(r.NewOwnerID), uint16(nw.ID))
		case store.RoleOwner:
			return precondition("node %d already owns network %d", r.NewOwnerID, nw.ID)
		}
		old, oldRole, err := tx.TransferOwnership(nw.ID, r.NewOwnerID)
		if err != nil {
			return err
		}
		if err := c.audit(tx, g, regmsg.ActionOwnershipTransferred, aInt("network_id", nw.ID), aInt("old_owner", old),
			aInt("new_owner", r.NewOwnerID), aStr("new_owner_old_role", oldRole.String())); err != nil {
			return err
		}
		reply = &regmsg.TransferOwnershipOK{NetworkID: nw.ID, OldOwner: old, NewOwner: r.NewOwnerID}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return reply, nil
}

func (c *call) getMemberRole(r *regmsg.GetMemberRole) (regmsg.Reply, error) {
	var reply *regmsg.MemberOK
	err := c.view(func(tx store.ReadTx) error {
		nw, err := c.network(tx, r.NetworkID, true, "queried for roles")
		if err != nil {
			return err
		}
		if !(c.signer == 0 && !c.tokenPresent && c.legacyUnsigned()) {
			if _, _, err := c.authzNetwork(tx, nw, anyMember, true, true,
				fmt.Sprintf("only members of network %d can read its roles", nw.ID)); err != nil {
				return err
			}
		}
		role, err := tx.Role(nw.ID, r.TargetNodeID)
		if err != nil {
			return err
		}
		if role == store.RoleNone {
			return notMember(uint32(r.TargetNodeID), uint16(nw.ID))
		}
		reply = &regmsg.MemberOK{Op: regmsg.TypeGetMemberRole, NetworkID: nw.ID, TargetNodeID: r.TargetNodeID, Role: role.String()}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return reply, nil
}
