package regmsg

import "github.com/pilot-go/pilot/addr"

// Network messages (registry.md §7.4).

// Message types of §7.4.
const (
	TypeCreateNetwork = "create_network"
	TypeJoinNetwork   = "join_network"
	TypeLeaveNetwork  = "leave_network"
	TypeDeleteNetwork = "delete_network"
	TypeRenameNetwork = "rename_network"
	TypeListNetworks  = "list_networks"
	TypeListNodes     = "list_nodes"
)

// Join rules of create_network (§7.4.1).
const (
	JoinRuleOpen   = "open"
	JoinRuleToken  = "token"
	JoinRuleInvite = "invite"
)

// CreateNetwork is `create_network` (§7.4.1). JoinRule is the value as
// sent ("" = absent, meaning open; see EffectiveJoinRule). Token and
// NetworkAdminToken are secrets; "" = absent.
type CreateNetwork struct {
	Auth
	NodeID            addr.NodeID
	Name              string
	JoinRule          string
	Token             string
	NetworkAdminToken string
	Enterprise        bool // accepted and ignored
}

// EffectiveJoinRule returns the join rule, open when absent.
func (r *CreateNetwork) EffectiveJoinRule() string {
	if r.JoinRule == "" {
		return JoinRuleOpen
	}
	return r.JoinRule
}

func (*CreateNetwork) Type() string          { return TypeCreateNetwork }
func (r *CreateNetwork) Signer() addr.NodeID { return r.NodeID }
func (r *CreateNetwork) SignedParams() []string {
	return []string{r.Name, r.JoinRule, pHash(r.Token), pHash(r.NetworkAdminToken)}
}

func (r *CreateNetwork) decode(d *decoder) {
	r.NodeID = d.signer("node_id")
	r.Name, _ = d.str("name", true, strRule{})
	if d.err == nil {
		d.fail(ValidateNetworkName("name", r.Name))
	}
	var present bool
	r.JoinRule, present = d.str("join_rule", false, strRule{})
	if d.err == nil && present {
		switch r.JoinRule {
		case JoinRuleOpen, JoinRuleToken, JoinRuleInvite:
		default:
			d.fail(invalidf("join_rule must be \"open\", \"token\" or \"invite\", got %s", quoteTrunc(r.JoinRule)))
		}
	}
	r.Token, _ = d.str("token", false, strRule{freeText: true, secret: true, maxBytes: MaxJoinToken})
	r.NetworkAdminToken, _ = d.str("network_admin_token", false, strRule{freeText: true, secret: true, maxBytes: MaxNetworkAdminTok})
	r.Enterprise, _ = d.boolean("enterprise", false)
	if d.err != nil {
		return
	}
	switch {
	case r.JoinRule == JoinRuleToken && r.Token == "":
		d.fail(invalidf("token is required for join_rule \"token\" (1-%d bytes)", MaxJoinToken))
	case r.JoinRule != JoinRuleToken && r.Token != "":
		d.fail(invalidf("token is only allowed with join_rule \"token\"; leave it out for join_rule %q", r.EffectiveJoinRule()))
	case r.NetworkAdminToken != "" && len(r.NetworkAdminToken) < MinNetworkAdminTok:
		d.fail(invalidf("network_admin_token must be %d-%d bytes, got %d", MinNetworkAdminTok, MaxNetworkAdminTok, len(r.NetworkAdminToken)))
	}
}

func (r *CreateNetwork) encode(e *encoder) {
	e.optNode("node_id", r.NodeID)
	e.str("name", r.Name)
	e.optStr("join_rule", r.JoinRule)
	e.optStr("token", r.Token)
	e.optStr("network_admin_token", r.NetworkAdminToken)
	if r.Enterprise {
		e.bool("enterprise", true)
	}
}

// JoinNetwork is `join_network` (§7.4.2). Token is a secret ("" = absent).
// The inviter_id the original's clients send is ignored.
type JoinNetwork struct {
	Auth
	NodeID    addr.NodeID
	NetworkID addr.NetworkID
	Token     string
}

func (*JoinNetwork) Type() string          { return TypeJoinNetwork }
func (r *JoinNetwork) Signer() addr.NodeID { return r.NodeID }
func (r *JoinNetwork) SignedParams() []string {
	return []string{pInt(r.NetworkID), pHash(r.Token)}
}
func (r *JoinNetwork) decode(d *decoder) {
	r.NodeID = d.signer("node_id")
	r.NetworkID = d.networkID("network_id")
	r.Token, _ = d.str("token", false, strRule{freeText: true, secret: true})
}
func (r *JoinNetwork) encode(e *encoder) {
	e.optNode("node_id", r.NodeID)
	e.int("network_id", int64(r.NetworkID))
	e.optStr("token", r.Token)
}

// NetworkRef holds the fields of the messages that name one network and
// nothing else: leave_network, delete_network, get_network_policy.
type NetworkRef struct {
	Auth
	NodeID    addr.NodeID
	NetworkID addr.NetworkID
}

func (r *NetworkRef) Signer() addr.NodeID    { return r.NodeID }
func (r *NetworkRef) SignedParams() []string { return []string{pInt(r.NetworkID)} }
func (r *NetworkRef) decode(d *decoder) {
	r.NodeID = d.signer("node_id")
	r.NetworkID = d.networkID("network_id")
}
func (r *NetworkRef) encode(e *encoder) {
	e.optNode("node_id", r.NodeID)
	e.int("network_id", int64(r.NetworkID))
}

// LeaveNetwork is `leave_network` (§7.4.3).
type LeaveNetwork struct{ NetworkRef }

// DeleteNetwork is `delete_network` (§7.4.4).
type DeleteNetwork struct{ NetworkRef }

func (*LeaveNetwork) Type() string  { return TypeLeaveNetwork }
func (*DeleteNetwork) Type() string { return TypeDeleteNetwork }

// RenameNetwork is `rename_network` (§7.4.5).
type RenameNetwork struct {
	Auth
	NodeID    addr.NodeID
	NetworkID addr.NetworkID
	Name      string
}

func (*RenameNetwork) Type() string          { return TypeRenameNetwork }
func (r *RenameNetwork) Signer() addr.NodeID { return r.NodeID }
func (r *RenameNetwork) SignedParams() []string {
	return []string{pInt(r.NetworkID), r.Name}
}
func (r *RenameNetwork) decode(d *decoder) {
	r.NodeID = d.signer("node_id")
	r.NetworkID = d.networkID("network_id")
	r.Name, _ = d.str("name", true, strRule{})
	if d.err == nil {
		d.fail(ValidateNetworkName("name", r.Name))
	}
}
func (r *RenameNetwork) encode(e *encoder) {
	e.optNode("node_id", r.NodeID)
	e.int("network_id", int64(r.NetworkID))
	e.str("name", r.Name)
}

// ListNetworks is `list_networks` (§7.4.6).
type ListNetworks struct {
	Auth
	NodeID addr.NodeID
	All    bool
	Page

	allSent bool // `all` was present in the decoded request (even as false)
}

func (*ListNetworks) Type() string          { return TypeListNetworks }
func (r *ListNetworks) Signer() addr.NodeID { return r.NodeID }

// SignedParams encodes `all` as "true"/"false" when it was sent and as the
// empty string when absent (§5.1: "absent optional field | the empty
// string"). The encoder omits all:false, so a request built here signs "".
func (r *ListNetworks) SignedParams() []string {
	if !r.All && !r.allSent {
		return []string{""}
	}
	return []string{pBool(r.All)}
}
func (r *ListNetworks) decode(d *decoder) {
	r.NodeID = d.signer("node_id")
	r.All, r.allSent = d.boolean("all", false)
	r.Page = d.page()
}
func (r *ListNetworks) encode(e *encoder) {
	e.optNode("node_id", r.NodeID)
	if r.All || r.allSent {
		e.bool("all", r.All)
	}
	e.page(r.Page)
}

// ListNodes is `list_nodes` (§7.4.7).
type ListNodes struct {
	Auth
	NodeID    addr.NodeID
	NetworkID addr.NetworkID
	Page
}

func (*ListNodes) Type() string             { return TypeListNodes }
func (r *ListNodes) Signer() addr.NodeID    { return r.NodeID }
func (r *ListNodes) SignedParams() []string { return []string{pInt(r.NetworkID)} }
func (r *ListNodes) decode(d *decoder) {
	r.NodeID = d.signer("node_id")
	r.NetworkID = d.networkID("network_id")
	r.Page = d.page()
}
func (r *ListNodes) encode(e *encoder) {
	e.optNode("node_id", r.NodeID)
	e.int("network_id", int64(r.NetworkID))
	e.page(r.Page)
}
