package regmsg

import "github.com/pilot-go/pilot/addr"

// Replies of the node messages (registry.md §7.1, §7.2, §7.3, §7.9,
// §7.10). Optional fields use omitempty; fields the specification says
// are always present do not, and always-arrays use Array.

// RegisterOK is `register_ok`.
type RegisterOK struct {
	NodeID             addr.NodeID    `json:"node_id"`
	NetworkID          addr.NetworkID `json:"network_id"`
	Address            addr.Addr      `json:"address"`
	PublicKey          string         `json:"public_key"`
	ObservedAddr       string         `json:"observed_addr"`
	ProtocolVersion    int            `json:"protocol_version"`
	Hostname           string         `json:"hostname,omitempty"`
	HostnameError      string         `json:"hostname_error,omitempty"`
	AuthVersions       Array[string]  `json:"auth_versions"`
	RegistryVersion    string         `json:"registry_version"`
	HeartbeatIntervalS int            `json:"heartbeat_interval_s"`
	PolicyEpoch        uint64         `json:"policy_epoch"`
}

// HeartbeatOK is `heartbeat_ok`.
type HeartbeatOK struct {
	Time             int64  `json:"time"`
	KeyExpiryWarning bool   `json:"key_expiry_warning,omitempty"`
	KeyExpiresAt     string `json:"key_expires_at,omitempty"`
	PolicyEpoch      uint64 `json:"policy_epoch"`
}

// DeregisterOK is `deregister_ok` (no fields).
type DeregisterOK struct{}

// LookupOK is `lookup_ok`.
type LookupOK struct {
	NodeID       addr.NodeID           `json:"node_id"`
	Address      addr.Addr             `json:"address"`
	PublicKey    string                `json:"public_key"`
	Public       bool                  `json:"public"`
	PoloScore    int64                 `json:"polo_score"`
	Capabilities Array[string]         `json:"capabilities"`
	Version      string                `json:"version,omitempty"`
	Networks     Array[addr.NetworkID] `json:"networks"`
	Hostname     string                `json:"hostname,omitempty"`
	Tags         []string              `json:"tags,omitempty"`
	TaskExec     bool                  `json:"task_exec,omitempty"`
	RealAddr     string                `json:"real_addr,omitempty"`
}

// ResolveOK is `resolve_ok`.
type ResolveOK struct {
	NodeID       addr.NodeID   `json:"node_id"`
	RealAddr     string        `json:"real_addr"`
	LANAddrs     []string      `json:"lan_addrs,omitempty"`
	KeyAgeDays   int64         `json:"key_age_days"`
	PublicKey    string        `json:"public_key"`
	Capabilities Array[string] `json:"capabilities"`
}

// PunchOK is `punch_ok`.
type PunchOK struct {
	NodeA     addr.NodeID `json:"node_a"`
	NodeAAddr string      `json:"node_a_addr"`
	NodeB     addr.NodeID `json:"node_b"`
	NodeBAddr string      `json:"node_b_addr"`
}

// RotateKeyOK is `rotate_key_ok`.
type RotateKeyOK struct {
	NodeID      addr.NodeID `json:"node_id"`
	Address     addr.Addr   `json:"address"`
	PublicKey   string      `json:"public_key"`
	RotateCount int64       `json:"rotate_count"`
	RotatedAt   string      `json:"rotated_at"`
	ExpiresAt   string      `json:"expires_at,omitempty"`
}

// SetKeyExpiryOK is `set_key_expiry_ok`.
type SetKeyExpiryOK struct {
	NodeID    addr.NodeID `json:"node_id"`
	ExpiresAt string      `json:"expires_at,omitempty"`
}

// GetKeyInfoOK is `get_key_info_ok`.
type GetKeyInfoOK struct {
	NodeID      addr.NodeID `json:"node_id"`
	CreatedAt   string      `json:"created_at"`
	RotateCount int64       `json:"rotate_count"`
	RotatedAt   string      `json:"rotated_at,omitempty"`
	ExpiresAt   string      `json:"expires_at,omitempty"`
	KeyAgeDays  int64       `json:"key_age_days"`
	Expired     bool        `json:"expired"`
}

// ReassignKeyOK is `reassign_key_ok`.
type ReassignKeyOK struct {
	NodeID    addr.NodeID `json:"node_id"`
	Address   addr.Addr   `json:"address"`
	PublicKey string      `json:"public_key"`
}

// Visibility values of set_visibility_ok.
const (
	VisibilityPublic  = "public"
	VisibilityPrivate = "private"
)

// SetVisibilityOK is `set_visibility_ok`.
type SetVisibilityOK struct {
	NodeID     addr.NodeID `json:"node_id"`
	Visibility string      `json:"visibility"`
}

// SetHostnameOK is `set_hostname_ok` (hostname "" when cleared).
type SetHostnameOK struct {
	NodeID   addr.NodeID `json:"node_id"`
	Hostname string      `json:"hostname"`
}

// SetTagsOK is `set_tags_ok`; tags is always an array.
type SetTagsOK struct {
	NodeID addr.NodeID   `json:"node_id"`
	Tags   Array[string] `json:"tags"`
}

// SetTaskExecOK is `set_task_exec_ok`.
type SetTaskExecOK struct {
	NodeID   addr.NodeID `json:"node_id"`
	TaskExec bool        `json:"task_exec"`
}

// ResolveHostnameOK is `resolve_hostname_ok`.
type ResolveHostnameOK struct {
	NodeID   addr.NodeID `json:"node_id"`
	Address  addr.Addr   `json:"address"`
	Public   bool        `json:"public"`
	Hostname string      `json:"hostname"`
}

// ReportTrustOK is `report_trust_ok`.
type ReportTrustOK struct {
	Trusted bool `json:"trusted"`
}

// RevokeTrustOK is `revoke_trust_ok`.
type RevokeTrustOK struct {
	Revoked bool `json:"revoked"`
}

// CheckTrustOK is `check_trust_ok`.
type CheckTrustOK struct {
	Trusted        bool                  `json:"trusted"`
	TrustPair      bool                  `json:"trust_pair"`
	SharedNetworks Array[addr.NetworkID] `json:"shared_networks"`
}

// Handshake statuses of request_handshake_ok.
const (
	HandshakeDelivered      = "delivered"
	HandshakeAlreadyPending = "already_pending"
)

// RequestHandshakeOK is `request_handshake_ok`.
type RequestHandshakeOK struct {
	Status string `json:"status"`
}

// HandshakeRequest is an entry of poll_handshakes_ok.requests.
type HandshakeRequest struct {
	FromNodeID    addr.NodeID `json:"from_node_id"`
	Justification string      `json:"justification"`
	Timestamp     int64       `json:"timestamp"`
}

// HandshakeResponse is an entry of poll_handshakes_ok.responses.
type HandshakeResponse struct {
	FromNodeID addr.NodeID `json:"from_node_id"`
	Accept     bool        `json:"accept"`
	Timestamp  int64       `json:"timestamp"`
}

// PollHandshakesOK is `poll_handshakes_ok`.
type PollHandshakesOK struct {
	Requests   Array[HandshakeRequest]  `json:"requests"`
	Responses  Array[HandshakeResponse] `json:"responses"`
	NextCursor string                   `json:"next_cursor,omitempty"`
}

// RespondHandshakeOK is `respond_handshake_ok`.
type RespondHandshakeOK struct {
	Accept bool        `json:"accept"`
	PeerID addr.NodeID `json:"peer_id"`
}

// PoloScoreOK is the reply of get_polo_score, update_polo_score and
// set_polo_score; Op is the message type it answers (not encoded).
type PoloScoreOK struct {
	Op        string      `json:"-"`
	NodeID    addr.NodeID `json:"node_id"`
	Address   addr.Addr   `json:"address"`
	PoloScore int64       `json:"polo_score"`
}

// BeaconRegisterOK is `beacon_register_ok`.
type BeaconRegisterOK struct {
	BeaconID BeaconID `json:"beacon_id"`
}

// BeaconEntry is an entry of beacon_list_ok.beacons.
type BeaconEntry struct {
	ID   BeaconID `json:"id"`
	Addr string   `json:"addr"`
}

// BeaconListOK is `beacon_list_ok`.
type BeaconListOK struct {
	Beacons    Array[BeaconEntry] `json:"beacons"`
	NextCursor string             `json:"next_cursor,omitempty"`
}

func (*RegisterOK) ReplyType() string         { return TypeRegister + "_ok" }
func (*HeartbeatOK) ReplyType() string        { return TypeHeartbeat + "_ok" }
func (*DeregisterOK) ReplyType() string       { return TypeDeregister + "_ok" }
func (*LookupOK) ReplyType() string           { return TypeLookup + "_ok" }
func (*ResolveOK) ReplyType() string          { return TypeResolve + "_ok" }
func (*PunchOK) ReplyType() string            { return TypePunch + "_ok" }
func (*RotateKeyOK) ReplyType() string        { return TypeRotateKey + "_ok" }
func (*SetKeyExpiryOK) ReplyType() string     { return TypeSetKeyExpiry + "_ok" }
func (*GetKeyInfoOK) ReplyType() string       { return TypeGetKeyInfo + "_ok" }
func (*ReassignKeyOK) ReplyType() string      { return TypeReassignKey + "_ok" }
func (*SetVisibilityOK) ReplyType() string    { return TypeSetVisibility + "_ok" }
func (*SetHostnameOK) ReplyType() string      { return TypeSetHostname + "_ok" }
func (*SetTagsOK) ReplyType() string          { return TypeSetTags + "_ok" }
func (*SetTaskExecOK) ReplyType() string      { return TypeSetTaskExec + "_ok" }
func (*ResolveHostnameOK) ReplyType() string  { return TypeResolveHostname + "_ok" }
func (*ReportTrustOK) ReplyType() string      { return TypeReportTrust + "_ok" }
func (*RevokeTrustOK) ReplyType() string      { return TypeRevokeTrust + "_ok" }
func (*CheckTrustOK) ReplyType() string       { return TypeCheckTrust + "_ok" }
func (*RequestHandshakeOK) ReplyType() string { return TypeRequestHandshake + "_ok" }
func (*PollHandshakesOK) ReplyType() string   { return TypePollHandshakes + "_ok" }
func (*RespondHandshakeOK) ReplyType() string { return TypeRespondHandshake + "_ok" }
func (*BeaconRegisterOK) ReplyType() string   { return TypeBeaconRegister + "_ok" }
func (*BeaconListOK) ReplyType() string       { return TypeBeaconList + "_ok" }

// ReplyType implements Reply; Op defaults to get_polo_score.
func (r *PoloScoreOK) ReplyType() string {
	if r.Op == "" {
		return TypeGetPoloScore + "_ok"
	}
	return r.Op + "_ok"
}
