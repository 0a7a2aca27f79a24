package regmsg

import "github.com/pilot-go/pilot/addr"

// Invite messages (registry.md §7.7).

// Message types of §7.7.
const (
	TypeInviteToNetwork = "invite_to_network"
	TypePollInvites     = "poll_invites"
	TypeRespondInvite   = "respond_invite"
)

// InviteToNetwork is `invite_to_network`; InviterID is the signer (0 when
// a token authorizes without signature).
type InviteToNetwork struct {
	Auth
	InviterID    addr.NodeID
	NetworkID    addr.NetworkID
	TargetNodeID addr.NodeID
}

func (*InviteToNetwork) Type() string          { return TypeInviteToNetwork }
func (r *InviteToNetwork) Signer() addr.NodeID { return r.InviterID }
func (r *InviteToNetwork) SignedParams() []string {
	return []string{pInt(r.NetworkID), pInt(r.TargetNodeID)}
}

// SelfRelation reports target_node_id = inviter_id (§6.4 step 4).
func (r *InviteToNetwork) SelfRelation() bool { return r.InviterID == r.TargetNodeID }

func (r *InviteToNetwork) decode(d *decoder) {
	r.NetworkID = d.networkID("network_id")
	r.TargetNodeID = d.nodeID("target_node_id")
	r.InviterID = d.signer("inviter_id")
}
func (r *InviteToNetwork) encode(e *encoder) {
	e.int("network_id", int64(r.NetworkID))
	e.node("target_node_id", r.TargetNodeID)
	e.optNode("inviter_id", r.InviterID)
}

// PollInvites is `poll_invites`.
type PollInvites struct {
	Auth
	NodeID addr.NodeID
	Page
}

func (*PollInvites) Type() string           { return TypePollInvites }
func (r *PollInvites) Signer() addr.NodeID  { return r.NodeID }
func (*PollInvites) SignedParams() []string { return nil }
func (r *PollInvites) decode(d *decoder) {
	r.NodeID = d.signer("node_id")
	r.Page = d.page()
}
func (r *PollInvites) encode(e *encoder) {
	e.optNode("node_id", r.NodeID)
	e.page(r.Page)
}

// RespondInvite is `respond_invite`; accept is required.
type RespondInvite struct {
	Auth
	NodeID    addr.NodeID
	NetworkID addr.NetworkID
	Accept    bool
}

func (*RespondInvite) Type() string          { return TypeRespondInvite }
func (r *RespondInvite) Signer() addr.NodeID { return r.NodeID }
func (r *RespondInvite) SignedParams() []string {
	return []string{pInt(r.NetworkID), pBool(r.Accept)}
}
func (r *RespondInvite) decode(d *decoder) {
	r.NodeID = d.signer("node_id")
	r.NetworkID = d.networkID("network_id")
	r.Accept, _ = d.boolean("accept", true)
}
func (r *RespondInvite) encode(e *encoder) {
	e.optNode("node_id", r.NodeID)
	e.int("network_id", int64(r.NetworkID))
	e.bool("accept", r.Accept)
}
