package handlers

import (
	"fmt"
	"slices"

	"github.com/pilot-go/pilot/internal/registry/store"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
)

// Network policies (registry.md §7.6): merge-on-update, policy_epoch.

func (c *call) setNetworkPolicy(r *regmsg.SetNetworkPolicy) (regmsg.Reply, error) {
	var reply *regmsg.SetNetworkPolicyOK
	err := c.update(func(tx store.Tx) error {
		nw, err := c.network(tx, r.NetworkID, true, "given a policy")
		if err != nil {
			return err
		}
		g, _, err := c.authzNetwork(tx, nw, ownerOrAdmin, true, true,
			fmt.Sprintf("only the owner or an admin of network %d can change its policy", nw.ID))
		if err != nil {
			return err
		}
		next := nw
		if r.MaxMembers != nil {
			next.MaxMembers = *r.MaxMembers
			if next.MaxMembers > 0 {
				n, err := tx.CountMembers(nw.ID)
				if err != nil {
					return err
				}
				if uint32(n) > next.MaxMembers {
					return precondition("network %d has %d members; remove members first", nw.ID, n)
				}
			}
		}
		if r.AllowedPorts != nil {
			next.AllowedPorts = []uint16{}
			for _, p := range regmsg.NormalizePorts(r.AllowedPorts) {
				next.AllowedPorts = append(next.AllowedPorts, uint16(p))
			}
		}
		if r.Description != nil {
			next.Description = *r.Description
		}
		if next.MaxMembers != nw.MaxMembers || !slices.Equal(next.AllowedPorts, nw.AllowedPorts) && len(next.AllowedPorts)+len(nw.AllowedPorts) > 0 ||
			next.Description != nw.Description {
			if err := tx.UpdateNetwork(next); err != nil {
				return err
			}
			if _, err := tx.BumpPolicyEpoch(); err != nil {
				return err
			}
			if err := c.audit(tx, g, regmsg.ActionNetworkPolicyChanged, aInt("network_id", nw.ID), aStr("fields", r.Fields()),
				aInt("max_members", next.MaxMembers), aInt("allowed_ports_count", len(next.AllowedPorts)),
				aStr("description", next.Description), aInt("old_max_members", nw.MaxMembers),
				aInt("new_max_members", next.MaxMembers), aInt("old_allowed_ports_count", len(nw.AllowedPorts)),
				aInt("new_allowed_ports_count", len(next.AllowedPorts))); err != nil {
				return err
			}
		}
		reply = &regmsg.SetNetworkPolicyOK{NetworkID: nw.ID, MaxMembers: next.MaxMembers,
			AllowedPorts: ports(next.AllowedPorts), Description: next.Description}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return reply, nil
}

func (c *call) getNetworkPolicy(r *regmsg.GetNetworkPolicy) (regmsg.Reply, error) {
	legacy := c.signer == 0 && !c.tokenPresent && c.legacyUnsigned()
	var reply *regmsg.GetNetworkPolicyOK
	err := c.view(func(tx store.ReadTx) error {
		epoch, err := tx.PolicyEpoch()
		if err != nil {
			return err
		}
		if r.NetworkID == store.BackboneID {
			if c.signer == 0 && !legacy {
				if err := c.unprovenCaller(); err != nil {
					return err
				}
				if c.tokenPresent {
					if err := c.tokenGate(); err != nil {
						return err
					}
				}
				if !c.globalTok {
					return c.refuse(false, "get_network_policy of network 0 needs a node signature or the global admin token")
				}
			}
			reply = &regmsg.GetNetworkPolicyOK{NetworkID: 0, AllowedPorts: ports(nil), PolicyEpoch: epoch}
			return nil
		}
		nw, err := c.network(tx, r.NetworkID, false, "")
		if err != nil {
			return err
		}
		if !legacy {
			if _, _, err := c.authzNetwork(tx, nw, anyMember, true, true,
				fmt.Sprintf("only members of network %d can read its policy", nw.ID)); err != nil {
				return err
			}
		}
		reply = &regmsg.GetNetworkPolicyOK{NetworkID: nw.ID, MaxMembers: nw.MaxMembers, AllowedPorts: ports(nw.AllowedPorts),
			Description: nw.Description, PolicyEpoch: epoch}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return reply, nil
}
