package handlers

import (
	"fmt"
	"math"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/registry/store"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
)

// list_networks (§7.4.6) and list_nodes (§7.4.7).

func ports(p []uint16) regmsg.Array[addr.Port] {
	out := make(regmsg.Array[addr.Port], len(p))
	for i, v := range p {
		out[i] = addr.Port(v)
	}
	return out
}

func (c *call) listNetworks(r *regmsg.ListNetworks) (regmsg.Reply, error) {
	all := false
	switch {
	case c.signer == 0 && !c.tokenPresent && c.legacyUnsigned():
		all = true // legacy: unsigned requests get every network (§5.5)
	case r.All || c.signer == 0:
		if err := c.unprovenCaller(); err != nil {
			return nil, err
		}
		if c.tokenPresent {
			if err := c.tokenGate(); err != nil {
				return nil, err
			}
		}
		if !c.globalTok {
			need := "list_networks needs a node signature or, for all networks, the global admin token"
			if c.signer != 0 {
				need = "list_networks with all: true needs the global admin token"
			}
			return nil, c.refuse(false, need)
		}
		all = true
	}
	last, first, err := parseCursor(r.Cursor, math.MaxUint16)
	if err != nil {
		return nil, err
	}
	limit := r.EffectiveLimit(listPageDefault, listPageMax)
	reply := &regmsg.ListNetworksOK{}
	err = c.view(func(tx store.ReadTx) error {
		var rows []store.NetworkRole
		var err error
		if all {
			from := addr.NetworkID(0)
			if !first {
				if last == math.MaxUint16 {
					return nil
				}
				from = addr.NetworkID(last + 1)
			}
			rows, err = tx.ListNetworks(from, limit+1)
		} else {
			rows, err = tx.ListNetworksOf(c.signer, addr.NetworkID(last), limit+1)
		}
		if err != nil {
			return err
		}
		more := len(rows) > limit
		if more {
			rows = rows[:limit]
		}
		entries := make([]regmsg.NetworkEntry, 0, len(rows))
		for _, nr := range rows {
			role := nr.Role
			if all && c.signer != 0 && nr.Network.ID != 0 {
				if role, err = tx.Role(nr.Network.ID, c.signer); err != nil {
					return err
				}
			}
			nw := nr.Network
			entries = append(entries, regmsg.NetworkEntry{ID: nw.ID, Name: nw.Name, Members: int64(nr.Members),
				JoinRule: nw.JoinRule.String(), Created: nw.Created.Unix(), Enterprise: nw.ID != 0,
				MaxMembers: nw.MaxMembers, Description: nw.Description, Role: role.String(), AllowedPorts: ports(nw.AllowedPorts)})
		}
		n := fit(entries)
		if n < len(entries) {
			more = true
		}
		reply.Networks = entries[:n]
		if more && n > 0 {
			reply.NextCursor = fmt.Sprint(entries[n-1].ID)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return reply, nil
}

func (c *call) listNodes(r *regmsg.ListNodes) (regmsg.Reply, error) {
	last, _, err := parseCursor(r.Cursor, math.MaxUint32)
	if err != nil {
		return nil, err
	}
	limit := r.EffectiveLimit(listPageDefault, listPageMax)
	reply := &regmsg.ListNodesOK{}
	err = c.view(func(tx store.ReadTx) error {
		var members []store.Member
		if r.NetworkID == store.BackboneID {
			if err := c.unprovenCaller(); err != nil {
				return err
			}
			if c.tokenPresent {
				if err := c.tokenGate(); err != nil {
					return err
				}
			}
			if !c.globalTok {
				need := "listing network 0 (every node) needs the global admin token"
				if c.signer != 0 {
					need += fmt.Sprintf("; node %d has no role there", c.signer)
				}
				return c.refuse(false, need)
			}
			nodes, err := tx.ListNodes(addr.NodeID(last), limit+1)
			if err != nil {
				return err
			}
			for _, n := range nodes {
				members = append(members, store.Member{Node: n})
			}
		} else {
			nw, err := c.network(tx, r.NetworkID, false, "")
			if err != nil {
				return err
			}
			if !(c.signer == 0 && !c.tokenPresent && c.legacyUnsigned()) {
				if _, _, err := c.authzNetwork(tx, nw, anyMember, true, true,
					fmt.Sprintf("only members of network %d can list its nodes", nw.ID)); err != nil {
					return err
				}
			}
			if members, err = tx.ListMembers(nw.ID, addr.NodeID(last), limit+1); err != nil {
				return err
			}
		}
		more := len(members) > limit
		if more {
			members = members[:limit]
		}
		entries := make([]regmsg.NodeEntry, 0, len(members))
		for _, m := range members {
			n := m.Node
			e := regmsg.NodeEntry{NodeID: n.ID, Address: addr.New(r.NetworkID, n.ID), Public: n.Public,
				PoloScore: n.PoloScore, Role: m.Role.String(), LastSeen: fmtTime(c.h.lastSeen(n)), Offline: !c.online(n),
				Hostname: n.Hostname, TaskExec: n.TaskExec, Version: n.Version}
			if len(n.Tags) > 0 {
				e.Tags = n.Tags
			}
			if n.Public {
				e.RealAddr = n.RealAddr
			}
			entries = append(entries, e)
		}
		k := fit(entries)
		if k < len(entries) {
			more = true
		}
		reply.Nodes = entries[:k]
		if more && k > 0 {
			reply.NextCursor = fmt.Sprint(entries[k-1].NodeID)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return reply, nil
}
