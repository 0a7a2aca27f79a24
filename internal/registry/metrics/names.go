package metrics

// MessageTypes lists every registry message name of registry.md §7; they
// are the only values of the `type` label besides "unknown".
var MessageTypes = []string{
	"register", "heartbeat", "deregister", "lookup", "resolve", "punch",
	"rotate_key", "set_key_expiry", "get_key_info", "reassign_key",
	"set_visibility", "set_hostname", "set_tags", "set_task_exec", "resolve_hostname",
	"report_trust", "revoke_trust", "check_trust", "request_handshake", "poll_handshakes", "respond_handshake",
	"create_network", "join_network", "leave_network", "delete_network", "rename_network",
	"list_networks", "list_nodes",
	"kick_member", "promote_member", "demote_member", "transfer_ownership", "get_member_role",
	"set_network_policy", "get_network_policy",
	"invite_to_network", "poll_invites", "respond_invite",
	"get_audit_log",
	"get_polo_score", "update_polo_score", "set_polo_score",
	"beacon_register", "beacon_list",
	"subscribe_replication",
}

// ErrorCodes lists the error codes of registry.md §4.2.
var ErrorCodes = []string{
	"invalid_argument", "not_found", "already_exists", "permission_denied", "unauthenticated",
	"failed_precondition", "resource_exhausted", "rate_limited", "message_too_large",
	"unavailable", "internal",
}

// AuthFailureReasons lists the `reason` values of pilot_auth_failures_total.
var AuthFailureReasons = []string{"bad_signature", "skew", "replay", "missing", "expired_key", "unknown_node", "bad_token"}

// RejectReasons lists the `reason` values of pilot_connections_rejected_total.
var RejectReasons = []string{RejectMaxConns, RejectPerIP, RejectProtocol}

// Connection rejection reasons.
const (
	RejectMaxConns = "max_conns"
	RejectPerIP    = "per_ip"
	RejectProtocol = "protocol"
)

// RateLimitCategories lists the `category` values (registry.md §12).
var RateLimitCategories = []string{"register_new", "register_known", "heartbeat", "mutation", "read", "anonymous", "token", "auth_failure"}

// AuditActions lists the audit actions of registry.md §9.3.
var AuditActions = []string{
	"node.registered", "node.re_registered", "node.deregistered",
	"network.created", "network.deleted", "network.renamed", "network.joined", "network.left",
	"network.policy_changed", "member.promoted", "member.demoted", "member.kicked",
	"ownership.transferred", "trust.created", "trust.revoked", "visibility.changed",
	"task_exec.changed", "hostname.changed", "tags.changed", "handshake.relayed",
	"handshake.responded", "key.rotated", "key.expiry_set", "key.reassigned",
	"invite.created", "invite.responded", "invite.removed", "polo_score.changed",
}

// Roles lists the `role` values of pilot_network_members.
var Roles = []string{"owner", "admin", "member"}

// Unknown is the label value for anything outside a bounded set.
const Unknown = "unknown"

func set(names []string) map[string]struct{} {
	m := make(map[string]struct{}, len(names))
	for _, n := range names {
		m[n] = struct{}{}
	}
	return m
}

var (
	typeSet     = set(MessageTypes)
	codeSet     = set(ErrorCodes)
	authSet     = set(AuthFailureReasons)
	rejectSet   = set(RejectReasons)
	categorySet = set(RateLimitCategories)
	actionSet   = set(AuditActions)
	roleSet     = set(Roles)
)

func bound(s string, known map[string]struct{}) string {
	if _, ok := known[s]; ok {
		return s
	}
	return Unknown
}

// NormalizeType maps a client-supplied `type` to a bounded label value: the
// name itself when it is a §7 message, else "unknown".
func NormalizeType(t string) string { return bound(t, typeSet) }
