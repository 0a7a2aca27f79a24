package regmsg

import (
	"slices"

	"github.com/pilot-go/pilot/addr"
)

// Roles (registry.md §7.5) and network policies (§7.6).

// Message types of §7.5 and §7.6.
const (
	TypeKickMember        = "kick_member"
	TypePromoteMember     = "promote_member"
	TypeDemoteMember      = "demote_member"
	TypeGetMemberRole     = "get_member_role"
	TypeTransferOwnership = "transfer_ownership"
	TypeSetNetworkPolicy  = "set_network_policy"
	TypeGetNetworkPolicy  = "get_network_policy"
)

// Role names (§6.2).
const (
	RoleOwner  = "owner"
	RoleAdmin  = "admin"
	RoleMember = "member"
)

// MemberTarget holds the fields of kick_member, promote_member,
// demote_member and get_member_role.
type MemberTarget struct {
	Auth
	NodeID       addr.NodeID
	NetworkID    addr.NetworkID
	TargetNodeID addr.NodeID
}

func (r *MemberTarget) Signer() addr.NodeID { return r.NodeID }
func (r *MemberTarget) SignedParams() []string {
	return []string{pInt(r.NetworkID), pInt(r.TargetNodeID)}
}
func (r *MemberTarget) decode(d *decoder) {
	r.NodeID = d.signer("node_id")
	r.NetworkID = d.networkID("network_id")
	r.TargetNodeID = d.nodeID("target_node_id")
}
func (r *MemberTarget) encode(e *encoder) {
	e.optNode("node_id", r.NodeID)
	e.int("network_id", int64(r.NetworkID))
	e.node("target_node_id", r.TargetNodeID)
}

// KickMember is `kick_member`.
type KickMember struct{ MemberTarget }

// PromoteMember is `promote_member`.
type PromoteMember struct{ MemberTarget }

// DemoteMember is `demote_member`.
type DemoteMember struct{ MemberTarget }

// GetMemberRole is `get_member_role`.
type GetMemberRole struct{ MemberTarget }

func (*KickMember) Type() string    { return TypeKickMember }
func (*PromoteMember) Type() string { return TypePromoteMember }
func (*DemoteMember) Type() string  { return TypeDemoteMember }
func (*GetMemberRole) Type() string { return TypeGetMemberRole }

// TransferOwnership is `transfer_ownership`.
type TransferOwnership struct {
	Auth
	NodeID     addr.NodeID
	NetworkID  addr.NetworkID
	NewOwnerID addr.NodeID
}

func (*TransferOwnership) Type() string          { return TypeTransferOwnership }
func (r *TransferOwnership) Signer() addr.NodeID { return r.NodeID }
func (r *TransferOwnership) SignedParams() []string {
	return []string{pInt(r.NetworkID), pInt(r.NewOwnerID)}
}
func (r *TransferOwnership) decode(d *decoder) {
	r.NodeID = d.signer("node_id")
	r.NetworkID = d.networkID("network_id")
	r.NewOwnerID = d.nodeID("new_owner_id")
}
func (r *TransferOwnership) encode(e *encoder) {
	e.optNode("node_id", r.NodeID)
	e.int("network_id", int64(r.NetworkID))
	e.node("new_owner_id", r.NewOwnerID)
}

// SetNetworkPolicy is `set_network_policy` (§7.6.1). Absent fields keep
// their stored values (merge-on-update): MaxMembers and Description are
// nil when absent, AllowedPorts is nil when absent and non-nil (maybe
// empty, in request order, duplicates kept) when present. At least one of
// the three is present. NormalizePorts gives the list to store.
type SetNetworkPolicy struct {
	Auth
	NodeID       addr.NodeID
	NetworkID    addr.NetworkID
	MaxMembers   *uint32
	AllowedPorts []addr.Port
	Description  *string
}

// Policy field names, in the fixed order of the `fields` parameter (§5.4).
const (
	PolicyMaxMembers   = "max_members"
	PolicyAllowedPorts = "allowed_ports"
	PolicyDescription  = "description"
)

// Fields returns the `fields` parameter of §5.4: the names of the policy
// fields present, in the fixed order, joined with ','. The audit event
// network.policy_changed carries the same string.
func (r *SetNetworkPolicy) Fields() string {
	var f []byte
	add := func(present bool, name string) {
		if !present {
			return
		}
		if len(f) > 0 {
			f = append(f, ',')
		}
		f = append(f, name...)
	}
	add(r.MaxMembers != nil, PolicyMaxMembers)
	add(r.AllowedPorts != nil, PolicyAllowedPorts)
	add(r.Description != nil, PolicyDescription)
	return string(f)
}

func (*SetNetworkPolicy) Type() string          { return TypeSetNetworkPolicy }
func (r *SetNetworkPolicy) Signer() addr.NodeID { return r.NodeID }
func (r *SetNetworkPolicy) SignedParams() []string {
	mm := ""
	if r.MaxMembers != nil {
		mm = pInt(int64(*r.MaxMembers))
	}
	desc := ""
	if r.Description != nil {
		desc = pHash(*r.Description)
	}
	return []string{pInt(r.NetworkID), r.Fields(), mm, pPorts(r.AllowedPorts), desc}
}

func (r *SetNetworkPolicy) decode(d *decoder) {
	r.NodeID = d.signer("node_id")
	r.NetworkID = d.networkID("network_id")
	if n, ok := d.integer("max_members", 0, MaxMembersLimit, false); ok {
		v := uint32(n)
		r.MaxMembers = &v
	}
	r.AllowedPorts = d.portList("allowed_ports", MaxAllowedPorts)
	r.Description = d.optStr("description", strRule{freeText: true, maxRunes: MaxDescription})
	if d.err == nil && r.MaxMembers == nil && r.AllowedPorts == nil && r.Description == nil {
		d.fail(invalidf("set_network_policy needs at least one of max_members, allowed_ports and description"))
	}
}

func (r *SetNetworkPolicy) encode(e *encoder) {
	e.optNode("node_id", r.NodeID)
	e.int("network_id", int64(r.NetworkID))
	if r.MaxMembers != nil {
		e.int("max_members", int64(*r.MaxMembers))
	}
	e.ports("allowed_ports", r.AllowedPorts)
	e.strPtr("description", r.Description)
}

// NormalizePorts returns ports deduplicated and ascending, as stored and
// returned by the registry (§7.6.1, conformance item 40). Never nil.
func NormalizePorts(ports []addr.Port) []addr.Port {
	out := append(make([]addr.Port, 0, len(ports)), ports...)
	slices.Sort(out)
	return slices.Compact(out)
}

// GetNetworkPolicy is `get_network_policy` (§7.6.2).
type GetNetworkPolicy struct{ NetworkRef }

func (*GetNetworkPolicy) Type() string { return TypeGetNetworkPolicy }
