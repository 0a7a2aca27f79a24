package cli

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/ipc"
	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
)

// fakeRegistry is a small in-memory stand-in for the registry behind the
// daemons' RegistryOp (ipc.md §10.4): networks, roles, policies, invites,
// with the registry's error codes and messages for the cases tested.
// Several fake daemons (different node IDs) share one fakeRegistry.
type fakeRegistry struct {
	mu       sync.Mutex
	networks map[uint16]*fakeNet
	nextNet  uint16
	ops      []recordedOp // every RegistryOp received, in order
	canned   map[string]json.RawMessage
	failures map[string]*ipc.Error // op → forced error
}

type recordedOp struct {
	Node  addr.NodeID
	Op    string
	Token string
	Args  map[string]json.RawMessage
}

type fakeNet struct {
	id       uint16
	name     string
	rule     string
	token    string
	roles    map[addr.NodeID]string
	invites  map[addr.NodeID]addr.NodeID // target → inviter
	maxM     int
	ports    []uint16
	desc     string
	hostname map[addr.NodeID]string
}

func newFakeRegistry() *fakeRegistry {
	return &fakeRegistry{networks: map[uint16]*fakeNet{}, nextNet: 1,
		canned: map[string]json.RawMessage{}, failures: map[string]*ipc.Error{}}
}

// addNetwork creates network id with the given roles.
func (r *fakeRegistry) addNetwork(id uint16, name, rule string, roles map[addr.NodeID]string) *fakeNet {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := &fakeNet{id: id, name: name, rule: rule, roles: roles, invites: map[addr.NodeID]addr.NodeID{},
		hostname: map[addr.NodeID]string{}}
	r.networks[id] = n
	r.nextNet = max(r.nextNet, id+1)
	return n
}

func (r *fakeRegistry) recorded() []recordedOp {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.ops)
}

func nodeAddr(net uint16, node addr.NodeID) string {
	return addr.New(addr.NetworkID(net), node).String()
}

func jsonOf(v any) json.RawMessage {
	b, err := encodeJSON(v)
	if err != nil {
		panic(err)
	}
	return b
}

type obj = map[string]any

// can sets the reply of op (under mu: a daemon executor may still be
// reading the maps when the next pilotctl command starts).
func (r *fakeRegistry) can(op string, reply string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.canned[op] = json.RawMessage(reply)
}

// fail makes op fail with e.
func (r *fakeRegistry) fail(op string, e *ipc.Error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failures[op] = e
}

// handle runs one op for node self.
func (r *fakeRegistry) handle(self addr.NodeID, m ipcmsg.RegistryOp) (json.RawMessage, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ops = append(r.ops, recordedOp{Node: self, Op: m.Op, Token: m.AdminToken, Args: m.Args})
	if e, ok := r.failures[m.Op]; ok {
		return nil, e
	}
	if b, ok := r.canned[m.Op]; ok {
		return b, nil
	}
	netID, _, err := m.Uint("network_id", 65535)
	if err != nil {
		return nil, err
	}
	nid := uint16(netID)
	target, _, err := m.Uint("node_id", ipcmsg.MaxNodeID)
	if err != nil {
		return nil, err
	}
	tgt := addr.NodeID(target)
	var n *fakeNet
	if _, has := m.Args["network_id"]; has {
		if n = r.networks[nid]; n == nil {
			return nil, ipc.Errorf(ipcmsg.CodeNotFound, "network %d not found", nid)
		}
	}
	switch m.Op {
	case ipcmsg.OpNetworkList:
		all, _, _ := m.Bool("all")
		list := []obj{}
		for _, id := range sortedKeys(r.networks) {
			x := r.networks[id]
			role, member := x.roles[self]
			if !member && !all {
				continue
			}
			e := obj{"id": x.id, "name": x.name, "join_rule": x.rule, "members": len(x.roles),
				"max_members": x.maxM, "allowed_ports": nonNilPorts(x.ports), "description": x.desc}
			if member {
				e["role"] = role
			}
			list = append(list, e)
		}
		return jsonOf(obj{"networks": list}), nil
	case ipcmsg.OpNetworkJoin:
		if _, ok := n.roles[self]; ok {
			return nil, ipc.Errorf(ipcmsg.CodeAlreadyExists, "node %d is already a member of network %d", self, nid)
		}
		if n.rule == "invite" {
			return nil, ipc.Errorf(ipcmsg.CodeFailedPrecondition,
				"network %d is invite-only: ask an admin for an invite, then run `pilotctl network accept %d`", nid, nid)
		}
		if tok, _, _ := m.String("token"); n.rule == "token" && tok != n.token {
			return nil, ipc.Errorf(ipcmsg.CodePermissionDenied, "wrong join token for network %d", nid)
		}
		n.roles[self] = "member"
		return jsonOf(obj{"network_id": nid, "address": nodeAddr(nid, self), "role": "member"}), nil
	case ipcmsg.OpNetworkMembers:
		nodes := []obj{}
		for _, id := range sortedKeys(n.roles) {
			nodes = append(nodes, obj{"node_id": id, "address": nodeAddr(nid, id), "hostname": n.hostname[id],
				"role": n.roles[id], "public": false, "online": id%2 == 1, "last_seen": "2026-03-27T10:15:03Z", "tags": []string{}})
		}
		return jsonOf(obj{"network_id": nid, "nodes": nodes}), nil
	case ipcmsg.OpNetworkInvite:
		if role := n.roles[self]; role != "owner" && role != "admin" {
			return nil, ipc.Errorf(ipcmsg.CodePermissionDenied, "only owners and admins of network %d can invite; node %d is %s", nid, self, roleOr(role))
		}
		status := "invited"
		if _, ok := n.invites[tgt]; ok {
			status = "already_invited"
		}
		n.invites[tgt] = self
		return jsonOf(obj{"network_id": nid, "target_node_id": tgt, "status": status}), nil
	case ipcmsg.OpNetworkInvites:
		list := []obj{}
		for _, id := range sortedKeys(r.networks) {
			if inviter, ok := r.networks[id].invites[self]; ok {
				list = append(list, obj{"network_id": id, "network_name": r.networks[id].name, "inviter_id": inviter,
					"timestamp": 1774606503, "expires_at": 1775211303})
			}
		}
		return jsonOf(obj{"invites": list}), nil
	case ipcmsg.OpNetworkRespond:
		if _, ok := n.invites[self]; !ok {
			return nil, ipc.Errorf(ipcmsg.CodeNotFound, "no pending invite to network %d for node %d", nid, self)
		}
		delete(n.invites, self)
		if acc, _, _ := m.Bool("accept"); !acc {
			return jsonOf(obj{"network_id": nid, "accepted": false}), nil
		}
		n.roles[self] = "member"
		return jsonOf(obj{"network_id": nid, "accepted": true, "address": nodeAddr(nid, self), "role": "member"}), nil
	case ipcmsg.OpNetworkPromote, ipcmsg.OpNetworkDemote:
		verb, role := "promote", "admin"
		if m.Op == ipcmsg.OpNetworkDemote {
			verb, role = "demote", "member"
		}
		if n.roles[self] != "owner" {
			return nil, ipc.Errorf(ipcmsg.CodePermissionDenied, "only the owner of network %d can %s members; node %d is %s", nid, verb, self, roleOr(n.roles[self]))
		}
		if _, ok := n.roles[tgt]; !ok {
			return nil, ipc.Errorf(ipcmsg.CodeNotFound, "node %d is not a member of network %d", tgt, nid)
		}
		n.roles[tgt] = role
		return jsonOf(obj{"network_id": nid, "target_node_id": tgt, "role": role}), nil
	case ipcmsg.OpNetworkRole:
		role, ok := n.roles[tgt]
		if !ok {
			return nil, ipc.Errorf(ipcmsg.CodeNotFound, "node %d is not a member of network %d", tgt, nid)
		}
		return jsonOf(obj{"network_id": nid, "target_node_id": tgt, "role": role}), nil
	case ipcmsg.OpNetworkKick:
		delete(n.roles, tgt)
		return jsonOf(obj{"network_id": nid, "target_node_id": tgt}), nil
	case ipcmsg.OpNetworkSetPolicy:
		if v, ok, _ := m.Uint("max_members", 1<<31); ok {
			n.maxM = int(v)
		}
		if raw, ok := m.Args["allowed_ports"]; ok {
			var ports []uint16
			if err := json.Unmarshal(raw, &ports); err != nil {
				return nil, ipc.Errorf(ipcmsg.CodeInvalidArgument, "allowed_ports: %v", err)
			}
			n.ports = ports
		}
		if d, ok, _ := m.String("description"); ok {
			n.desc = d
		}
		fallthrough
	case ipcmsg.OpNetworkPolicy:
		return jsonOf(obj{"network_id": nid, "max_members": n.maxM, "allowed_ports": nonNilPorts(n.ports), "description": n.desc}), nil
	case ipcmsg.OpNetworkCreate:
		if m.AdminToken == "" {
			return nil, ipc.Errorf(ipcmsg.CodeAuthRequired, "network create needs an admin token\nhint: pass --admin-token or set PILOT_ADMIN_TOKEN")
		}
		name, _ := m.RequireString("name")
		rule, _ := m.RequireString("join_rule")
		id := r.nextNet
		r.nextNet++
		r.networks[id] = &fakeNet{id: id, name: name, rule: rule, roles: map[addr.NodeID]string{self: "owner"},
			invites: map[addr.NodeID]addr.NodeID{}, hostname: map[addr.NodeID]string{}}
		return jsonOf(obj{"network_id": id, "name": name, "join_rule": rule, "owner_node_id": self}), nil
	case ipcmsg.OpNetworkLeave, ipcmsg.OpNetworkDelete:
		if m.Op == ipcmsg.OpNetworkDelete {
			delete(r.networks, nid)
		} else {
			delete(n.roles, self)
		}
		return jsonOf(obj{"network_id": nid}), nil
	case ipcmsg.OpNetworkRename:
		n.name, _ = m.RequireString("name")
		return jsonOf(obj{"network_id": nid, "name": n.name}), nil
	case ipcmsg.OpNetworkTransfer:
		n.roles[self], n.roles[tgt] = "admin", "owner"
		return jsonOf(obj{"network_id": nid, "old_owner": self, "new_owner": tgt}), nil
	}
	return nil, ipc.Errorf(ipcmsg.CodeInvalidArgument, "fake registry: op %q not scripted", m.Op)
}

func roleOr(r string) string {
	if r == "" {
		return "not a member"
	}
	return r
}

func nonNilPorts(p []uint16) []uint16 {
	if p == nil {
		return []uint16{}
	}
	return p
}

func sortedKeys[K ~uint16 | ~uint32, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

var _ = fmt.Sprint
