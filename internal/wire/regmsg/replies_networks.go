package regmsg

import (
	"encoding/json"

	"github.com/pilot-go/pilot/addr"
)

// Replies of the network, role, policy, invite and audit messages
// (registry.md §7.4 to §7.8).

// CreateNetworkOK is `create_network_ok`.
type CreateNetworkOK struct {
	NetworkID   addr.NetworkID `json:"network_id"`
	Name        string         `json:"name"`
	Enterprise  bool           `json:"enterprise"`
	JoinRule    string         `json:"join_rule"`
	OwnerNodeID addr.NodeID    `json:"owner_node_id"`
}

// JoinNetworkOK is `join_network_ok`.
type JoinNetworkOK struct {
	NetworkID addr.NetworkID `json:"network_id"`
	Address   addr.Addr      `json:"address"`
	Role      string         `json:"role"`
}

// LeaveNetworkOK is `leave_network_ok`.
type LeaveNetworkOK struct {
	NetworkID addr.NetworkID `json:"network_id"`
}

// DeleteNetworkOK is `delete_network_ok`.
type DeleteNetworkOK struct {
	NetworkID addr.NetworkID `json:"network_id"`
}

// RenameNetworkOK is `rename_network_ok`.
type RenameNetworkOK struct {
	NetworkID addr.NetworkID `json:"network_id"`
	Name      string         `json:"name"`
}

// NetworkEntry is an entry of list_networks_ok.networks.
type NetworkEntry struct {
	ID           addr.NetworkID   `json:"id"`
	Name         string           `json:"name"`
	Members      int64            `json:"members"`
	JoinRule     string           `json:"join_rule"`
	Created      int64            `json:"created"`
	Enterprise   bool             `json:"enterprise"`
	MaxMembers   uint32           `json:"max_members"`
	Description  string           `json:"description"`
	Role         string           `json:"role,omitempty"`
	AllowedPorts Array[addr.Port] `json:"allowed_ports"`
}

// ListNetworksOK is `list_networks_ok` (entries ascending by id).
type ListNetworksOK struct {
	Networks   Array[NetworkEntry] `json:"networks"`
	NextCursor string              `json:"next_cursor,omitempty"`
}

// NodeEntry is an entry of list_nodes_ok.nodes.
type NodeEntry struct {
	NodeID    addr.NodeID `json:"node_id"`
	Address   addr.Addr   `json:"address"`
	Public    bool        `json:"public"`
	PoloScore int64       `json:"polo_score"`
	Role      string      `json:"role,omitempty"`
	LastSeen  string      `json:"last_seen"`
	Offline   bool        `json:"offline,omitempty"`
	Hostname  string      `json:"hostname,omitempty"`
	Tags      []string    `json:"tags,omitempty"`
	TaskExec  bool        `json:"task_exec,omitempty"`
	Version   string      `json:"version,omitempty"`
	RealAddr  string      `json:"real_addr,omitempty"`
}

// ListNodesOK is `list_nodes_ok` (entries ascending by node_id).
type ListNodesOK struct {
	Nodes      Array[NodeEntry] `json:"nodes"`
	NextCursor string           `json:"next_cursor,omitempty"`
}

// MemberOK is the reply of kick_member (Role empty), promote_member,
// demote_member and get_member_role; Op is the message type it answers
// (not encoded).
type MemberOK struct {
	Op           string         `json:"-"`
	NetworkID    addr.NetworkID `json:"network_id"`
	TargetNodeID addr.NodeID    `json:"target_node_id"`
	Role         string         `json:"role,omitempty"`
}

// ReplyType implements Reply; Op must be set.
func (r *MemberOK) ReplyType() string { return r.Op + "_ok" }

// TransferOwnershipOK is `transfer_ownership_ok`.
type TransferOwnershipOK struct {
	NetworkID addr.NetworkID `json:"network_id"`
	OldOwner  addr.NodeID    `json:"old_owner"`
	NewOwner  addr.NodeID    `json:"new_owner"`
}

// SetNetworkPolicyOK is `set_network_policy_ok`.
type SetNetworkPolicyOK struct {
	NetworkID    addr.NetworkID   `json:"network_id"`
	MaxMembers   uint32           `json:"max_members"`
	AllowedPorts Array[addr.Port] `json:"allowed_ports"`
	Description  string           `json:"description"`
}

// GetNetworkPolicyOK is `get_network_policy_ok`.
type GetNetworkPolicyOK struct {
	NetworkID    addr.NetworkID   `json:"network_id"`
	MaxMembers   uint32           `json:"max_members"`
	AllowedPorts Array[addr.Port] `json:"allowed_ports"`
	Description  string           `json:"description"`
	PolicyEpoch  uint64           `json:"policy_epoch"`
}

// Invite statuses of invite_to_network_ok.
const (
	InviteInvited        = "invited"
	InviteAlreadyInvited = "already_invited"
)

// InviteToNetworkOK is `invite_to_network_ok`.
type InviteToNetworkOK struct {
	NetworkID    addr.NetworkID `json:"network_id"`
	TargetNodeID addr.NodeID    `json:"target_node_id"`
	Status       string         `json:"status"`
}

// InviteEntry is an entry of poll_invites_ok.invites.
type InviteEntry struct {
	NetworkID   addr.NetworkID `json:"network_id"`
	InviterID   addr.NodeID    `json:"inviter_id"`
	Timestamp   int64          `json:"timestamp"`
	NetworkName string         `json:"network_name"`
	ExpiresAt   int64          `json:"expires_at"`
}

// PollInvitesOK is `poll_invites_ok`.
type PollInvitesOK struct {
	Invites    Array[InviteEntry] `json:"invites"`
	NextCursor string             `json:"next_cursor,omitempty"`
}

// RespondInviteOK is `respond_invite_ok`.
type RespondInviteOK struct {
	Accepted  bool           `json:"accepted"`
	NetworkID addr.NetworkID `json:"network_id"`
	Address   *addr.Addr     `json:"address,omitempty"`
	Role      string         `json:"role,omitempty"`
}

// AuditEntry is an entry of get_audit_log_ok.entries (§7.8).
type AuditEntry struct {
	Timestamp   string         `json:"timestamp"`
	Action      string         `json:"action"`
	NetworkID   addr.NetworkID `json:"network_id,omitempty"`
	NodeID      addr.NodeID    `json:"node_id,omitempty"`
	Details     string         `json:"details"`
	Seq         uint64         `json:"seq"`
	ActorNodeID addr.NodeID    `json:"actor_node_id"`
	AuthVia     string         `json:"auth_via"`
	Attrs       RawObject      `json:"attrs"`
	Hash        string         `json:"hash"`
}

// GetAuditLogOK is `get_audit_log_ok` (newest first).
type GetAuditLogOK struct {
	Entries    Array[AuditEntry] `json:"entries"`
	NextCursor string            `json:"next_cursor,omitempty"`
}

func (*CreateNetworkOK) ReplyType() string     { return TypeCreateNetwork + "_ok" }
func (*JoinNetworkOK) ReplyType() string       { return TypeJoinNetwork + "_ok" }
func (*LeaveNetworkOK) ReplyType() string      { return TypeLeaveNetwork + "_ok" }
func (*DeleteNetworkOK) ReplyType() string     { return TypeDeleteNetwork + "_ok" }
func (*RenameNetworkOK) ReplyType() string     { return TypeRenameNetwork + "_ok" }
func (*ListNetworksOK) ReplyType() string      { return TypeListNetworks + "_ok" }
func (*ListNodesOK) ReplyType() string         { return TypeListNodes + "_ok" }
func (*TransferOwnershipOK) ReplyType() string { return TypeTransferOwnership + "_ok" }
func (*SetNetworkPolicyOK) ReplyType() string  { return TypeSetNetworkPolicy + "_ok" }
func (*GetNetworkPolicyOK) ReplyType() string  { return TypeGetNetworkPolicy + "_ok" }
func (*InviteToNetworkOK) ReplyType() string   { return TypeInviteToNetwork + "_ok" }
func (*PollInvitesOK) ReplyType() string       { return TypePollInvites + "_ok" }
func (*RespondInviteOK) ReplyType() string     { return TypeRespondInvite + "_ok" }
func (*GetAuditLogOK) ReplyType() string       { return TypeGetAuditLog + "_ok" }

// RawObject is a JSON object kept as encoded (the audit attributes, which
// the server serializes canonically, §9.2). A nil RawObject is written as
// {}.
type RawObject json.RawMessage

// MarshalJSON implements json.Marshaler.
func (o RawObject) MarshalJSON() ([]byte, error) {
	if len(o) == 0 {
		return []byte("{}"), nil
	}
	return o, nil
}

// UnmarshalJSON implements json.Unmarshaler.
func (o *RawObject) UnmarshalJSON(b []byte) error {
	*o = append((*o)[:0], b...)
	return nil
}
