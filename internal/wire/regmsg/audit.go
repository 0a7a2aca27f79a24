package regmsg

import "github.com/pilot-go/pilot/addr"

// The audit query (registry.md §7.8) and the audit action names (§9.3).

// TypeGetAuditLog is the audit query message type.
const TypeGetAuditLog = "get_audit_log"

// Audit action names of §9.3. They are API: never renamed.
const (
	ActionNodeRegistered       = "node.registered"
	ActionNodeReRegistered     = "node.re_registered"
	ActionNodeDeregistered     = "node.deregistered"
	ActionNetworkCreated       = "network.created"
	ActionNetworkDeleted       = "network.deleted"
	ActionNetworkRenamed       = "network.renamed"
	ActionNetworkJoined        = "network.joined"
	ActionNetworkLeft          = "network.left"
	ActionNetworkPolicyChanged = "network.policy_changed"
	ActionMemberPromoted       = "member.promoted"
	ActionMemberDemoted        = "member.demoted"
	ActionMemberKicked         = "member.kicked"
	ActionOwnershipTransferred = "ownership.transferred"
	ActionTrustCreated         = "trust.created"
	ActionTrustRevoked         = "trust.revoked"
	ActionVisibilityChanged    = "visibility.changed"
	ActionTaskExecChanged      = "task_exec.changed"
	ActionHostnameChanged      = "hostname.changed"
	ActionTagsChanged          = "tags.changed"
	ActionHandshakeRelayed     = "handshake.relayed"
	ActionHandshakeResponded   = "handshake.responded"
	ActionKeyRotated           = "key.rotated"
	ActionKeyExpirySet         = "key.expiry_set"
	ActionKeyReassigned        = "key.reassigned"
	ActionInviteCreated        = "invite.created"
	ActionInviteResponded      = "invite.responded"
	ActionInviteRemoved        = "invite.removed"
	ActionPoloScoreChanged     = "polo_score.changed"
)

// AuditActions lists every action of §9.3 in table order.
var AuditActions = []string{
	ActionNodeRegistered, ActionNodeReRegistered, ActionNodeDeregistered,
	ActionNetworkCreated, ActionNetworkDeleted, ActionNetworkRenamed,
	ActionNetworkJoined, ActionNetworkLeft, ActionNetworkPolicyChanged,
	ActionMemberPromoted, ActionMemberDemoted, ActionMemberKicked,
	ActionOwnershipTransferred, ActionTrustCreated, ActionTrustRevoked,
	ActionVisibilityChanged, ActionTaskExecChanged, ActionHostnameChanged,
	ActionTagsChanged, ActionHandshakeRelayed, ActionHandshakeResponded,
	ActionKeyRotated, ActionKeyExpirySet, ActionKeyReassigned,
	ActionInviteCreated, ActionInviteResponded, ActionInviteRemoved,
	ActionPoloScoreChanged,
}

// IsAuditAction reports whether s is an action name of §9.3.
func IsAuditAction(s string) bool {
	for _, a := range AuditActions {
		if a == s {
			return true
		}
	}
	return false
}

// GetAuditLog is `get_audit_log` (§7.8). NetworkID is nil when absent (then
// only the global token may ask, §6.4 step 4); Action "" = no filter.
type GetAuditLog struct {
	Auth
	NodeID    addr.NodeID
	NetworkID *addr.NetworkID
	Action    string
	Page
}

func (*GetAuditLog) Type() string          { return TypeGetAuditLog }
func (r *GetAuditLog) Signer() addr.NodeID { return r.NodeID }
func (r *GetAuditLog) SignedParams() []string {
	nid := ""
	if r.NetworkID != nil {
		nid = pInt(*r.NetworkID)
	}
	return []string{nid, r.Action}
}
func (r *GetAuditLog) decode(d *decoder) {
	r.NetworkID = d.optNetworkID("network_id")
	r.Action, _ = d.str("action", false, strRule{})
	if d.err == nil && r.Action != "" && !IsAuditAction(r.Action) {
		d.fail(invalidf("action %s is not an audit action name (registry.md §9.3), e.g. \"network.joined\"", quoteTrunc(r.Action)))
	}
	r.NodeID = d.signer("node_id")
	r.Page = d.page()
}
func (r *GetAuditLog) encode(e *encoder) {
	if r.NetworkID != nil {
		e.int("network_id", int64(*r.NetworkID))
	}
	e.optStr("action", r.Action)
	e.optNode("node_id", r.NodeID)
	e.page(r.Page)
}
