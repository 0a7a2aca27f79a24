package regclient

import (
	"context"
	"errors"
	"slices"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
)

// Typed methods of the network, role, policy, invite and audit messages
// (registry.md §7.4 to §7.8). The caller field (node_id, inviter_id) is the
// client's NodeID and the request is signed by it; an admin token, when
// needed, comes from WithAdminToken. A token-only management request must
// name no caller (§6.1: a caller without signature is unauthenticated):
// send it from a client without NodeID, or build it with caller 0 and use
// Do.

// CreateNetwork sends create_network (§7.4.1). It needs the global admin
// token (WithAdminToken); req.NodeID, the creator, defaults to the
// client's node.
func (c *Client) CreateNetwork(ctx context.Context, req *regmsg.CreateNetwork, opts ...CallOption) (*regmsg.CreateNetworkOK, error) {
	if req.NodeID == 0 {
		req.NodeID = c.NodeID()
	}
	return doTyped[regmsg.CreateNetworkOK](ctx, c, req, opts)
}

// JoinNetwork sends join_network (§7.4.2); token is the join token ("" =
// none; a secret).
func (c *Client) JoinNetwork(ctx context.Context, network addr.NetworkID, token string, opts ...CallOption) (*regmsg.JoinNetworkOK, error) {
	req := &regmsg.JoinNetwork{NodeID: c.NodeID(), NetworkID: network, Token: token}
	return doTyped[regmsg.JoinNetworkOK](ctx, c, req, opts)
}

// JoinNetworkLeastPrivilege is the join of fleet auto-join (cli.md §3.4
// step 2): a signed join_network with the join token and no admin_token;
// only if the registry answers permission_denied and adminToken is not
// empty, one more attempt with the same join token and adminToken (signed
// afresh). The caller reads the outcome from the error as the table of
// §3.4 says (already_exists = already a member, and so on).
func (c *Client) JoinNetworkLeastPrivilege(ctx context.Context, network addr.NetworkID, joinToken, adminToken string, opts ...CallOption) (*regmsg.JoinNetworkOK, error) {
	rep, err := c.JoinNetwork(ctx, network, joinToken, opts...)
	var re *regmsg.Error
	if err == nil || adminToken == "" || !errors.As(err, &re) || re.Code != regmsg.CodePermissionDenied {
		return rep, err
	}
	c.log.Debug("join refused without the admin token; retrying with it", "network", network)
	return c.JoinNetwork(ctx, network, joinToken, append(slices.Clip(opts), WithAdminToken(adminToken))...)
}

// LeaveNetwork sends leave_network (§7.4.3).
func (c *Client) LeaveNetwork(ctx context.Context, network addr.NetworkID, opts ...CallOption) (*regmsg.LeaveNetworkOK, error) {
	req := &regmsg.LeaveNetwork{NetworkRef: c.networkRef(network)}
	return doTyped[regmsg.LeaveNetworkOK](ctx, c, req, opts)
}

// DeleteNetwork sends delete_network (§7.4.4).
func (c *Client) DeleteNetwork(ctx context.Context, network addr.NetworkID, opts ...CallOption) (*regmsg.DeleteNetworkOK, error) {
	req := &regmsg.DeleteNetwork{NetworkRef: c.networkRef(network)}
	return doTyped[regmsg.DeleteNetworkOK](ctx, c, req, opts)
}

// RenameNetwork sends rename_network (§7.4.5).
func (c *Client) RenameNetwork(ctx context.Context, network addr.NetworkID, name string, opts ...CallOption) (*regmsg.RenameNetworkOK, error) {
	req := &regmsg.RenameNetwork{NodeID: c.NodeID(), NetworkID: network, Name: name}
	return doTyped[regmsg.RenameNetworkOK](ctx, c, req, opts)
}

// ListNetworks sends list_networks (§7.4.6) for one page; all needs the
// global token. See ListNetworksAll.
func (c *Client) ListNetworks(ctx context.Context, all bool, page regmsg.Page, opts ...CallOption) (*regmsg.ListNetworksOK, error) {
	req := &regmsg.ListNetworks{NodeID: c.NodeID(), All: all, Page: page}
	return doTyped[regmsg.ListNetworksOK](ctx, c, req, opts)
}

// ListNodes sends list_nodes (§7.4.7) for one page. See ListNodesAll.
func (c *Client) ListNodes(ctx context.Context, network addr.NetworkID, page regmsg.Page, opts ...CallOption) (*regmsg.ListNodesOK, error) {
	req := &regmsg.ListNodes{NodeID: c.NodeID(), NetworkID: network, Page: page}
	return doTyped[regmsg.ListNodesOK](ctx, c, req, opts)
}

// KickMember sends kick_member (§7.5); the reply's Role is empty.
func (c *Client) KickMember(ctx context.Context, network addr.NetworkID, target addr.NodeID, opts ...CallOption) (*regmsg.MemberOK, error) {
	return c.member(ctx, &regmsg.KickMember{MemberTarget: c.memberTarget(network, target)}, opts)
}

// PromoteMember sends promote_member (§7.5).
func (c *Client) PromoteMember(ctx context.Context, network addr.NetworkID, target addr.NodeID, opts ...CallOption) (*regmsg.MemberOK, error) {
	return c.member(ctx, &regmsg.PromoteMember{MemberTarget: c.memberTarget(network, target)}, opts)
}

// DemoteMember sends demote_member (§7.5).
func (c *Client) DemoteMember(ctx context.Context, network addr.NetworkID, target addr.NodeID, opts ...CallOption) (*regmsg.MemberOK, error) {
	return c.member(ctx, &regmsg.DemoteMember{MemberTarget: c.memberTarget(network, target)}, opts)
}

// GetMemberRole sends get_member_role (§7.5).
func (c *Client) GetMemberRole(ctx context.Context, network addr.NetworkID, target addr.NodeID, opts ...CallOption) (*regmsg.MemberOK, error) {
	return c.member(ctx, &regmsg.GetMemberRole{MemberTarget: c.memberTarget(network, target)}, opts)
}

// TransferOwnership sends transfer_ownership (§7.5).
func (c *Client) TransferOwnership(ctx context.Context, network addr.NetworkID, newOwner addr.NodeID, opts ...CallOption) (*regmsg.TransferOwnershipOK, error) {
	req := &regmsg.TransferOwnership{NodeID: c.NodeID(), NetworkID: network, NewOwnerID: newOwner}
	return doTyped[regmsg.TransferOwnershipOK](ctx, c, req, opts)
}

// SetNetworkPolicy sends set_network_policy (§7.6.1). Only the fields set
// in req change (nil = keep; a non-nil empty AllowedPorts clears the
// list); req.NodeID defaults to the client's node.
func (c *Client) SetNetworkPolicy(ctx context.Context, req *regmsg.SetNetworkPolicy, opts ...CallOption) (*regmsg.SetNetworkPolicyOK, error) {
	if req.NodeID == 0 {
		req.NodeID = c.NodeID()
	}
	return doTyped[regmsg.SetNetworkPolicyOK](ctx, c, req, opts)
}

// GetNetworkPolicy sends get_network_policy (§7.6.2).
func (c *Client) GetNetworkPolicy(ctx context.Context, network addr.NetworkID, opts ...CallOption) (*regmsg.GetNetworkPolicyOK, error) {
	req := &regmsg.GetNetworkPolicy{NetworkRef: c.networkRef(network)}
	return doTyped[regmsg.GetNetworkPolicyOK](ctx, c, req, opts)
}

// InviteToNetwork sends invite_to_network (§7.7) with the client's node as
// inviter.
func (c *Client) InviteToNetwork(ctx context.Context, network addr.NetworkID, target addr.NodeID, opts ...CallOption) (*regmsg.InviteToNetworkOK, error) {
	req := &regmsg.InviteToNetwork{InviterID: c.NodeID(), NetworkID: network, TargetNodeID: target}
	return doTyped[regmsg.InviteToNetworkOK](ctx, c, req, opts)
}

// PollInvites sends poll_invites (§7.7), non-destructive.
func (c *Client) PollInvites(ctx context.Context, page regmsg.Page, opts ...CallOption) (*regmsg.PollInvitesOK, error) {
	req := &regmsg.PollInvites{NodeID: c.NodeID(), Page: page}
	return doTyped[regmsg.PollInvitesOK](ctx, c, req, opts)
}

// RespondInvite sends respond_invite (§7.7).
func (c *Client) RespondInvite(ctx context.Context, network addr.NetworkID, accept bool, opts ...CallOption) (*regmsg.RespondInviteOK, error) {
	req := &regmsg.RespondInvite{NodeID: c.NodeID(), NetworkID: network, Accept: accept}
	return doTyped[regmsg.RespondInviteOK](ctx, c, req, opts)
}

// GetAuditLog sends get_audit_log (§7.8) with the filters and page of req;
// req.NodeID defaults to the client's node.
func (c *Client) GetAuditLog(ctx context.Context, req *regmsg.GetAuditLog, opts ...CallOption) (*regmsg.GetAuditLogOK, error) {
	if req.NodeID == 0 {
		req.NodeID = c.NodeID()
	}
	return doTyped[regmsg.GetAuditLogOK](ctx, c, req, opts)
}

func (c *Client) networkRef(network addr.NetworkID) regmsg.NetworkRef {
	return regmsg.NetworkRef{NodeID: c.NodeID(), NetworkID: network}
}

func (c *Client) memberTarget(network addr.NetworkID, target addr.NodeID) regmsg.MemberTarget {
	return regmsg.MemberTarget{NodeID: c.NodeID(), NetworkID: network, TargetNodeID: target}
}

func (c *Client) member(ctx context.Context, req regmsg.Request, opts []CallOption) (*regmsg.MemberOK, error) {
	out := &regmsg.MemberOK{Op: req.Type()}
	if err := c.Call(ctx, req, out, opts...); err != nil {
		return nil, err
	}
	return out, nil
}
