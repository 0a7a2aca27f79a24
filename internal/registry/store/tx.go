package store

import (
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/identity"
)

// ReadTx is a read-only view of the store inside one transaction. Methods
// that look up one object return an error wrapping ErrNotFound when it does
// not exist. List methods page by the unique key of their order: they
// return items strictly after the cursor (the last key of the previous
// page, the zero value for the first page), at most limit of them (limit
// ≤ 0 means no limit).
type ReadTx interface {
	// Node returns a live node record (§7.1). Tombstones are not found.
	Node(id addr.NodeID) (Node, error)
	// NodeByKey returns the live node whose current key is k.
	NodeByKey(k PublicKey) (Node, error)
	// NodeByHostname returns the live node holding hostname h
	// (resolve_hostname §7.2; uniqueness §8.1).
	NodeByHostname(h string) (Node, error)
	// KeyBinding returns what the store knows about k: live, bound to a
	// tombstone, or retired (register decision order §7.1.1, rotate_key and
	// reassign_key "not bound to any node and never retired").
	KeyBinding(k PublicKey) (KeyBinding, error)
	// Tombstone returns the tombstone of a deregistered or purged node ID.
	Tombstone(id addr.NodeID) (Tombstone, error)
	// ListNodes lists live nodes by ascending ID (list_nodes of network 0).
	ListNodes(after addr.NodeID, limit int) ([]Node, error)
	// ListNodesSeenBefore lists live nodes whose last_seen is before t,
	// ascending ID (the -node-ttl purge of §11).
	ListNodesSeenBefore(t time.Time, after addr.NodeID, limit int) ([]Node, error)

	// Network returns a network (0 is the backbone).
	Network(id addr.NetworkID) (Network, error)
	// NetworkByName returns the network named name.
	NetworkByName(name string) (Network, error)
	// ListNetworks lists every network, backbone included, by ascending ID,
	// with its member count (list_networks all:true §7.4.6). Unlike the
	// other lists it starts AT from (inclusive), because 0 is a real ID:
	// the first page is from = 0, the next from = last ID + 1.
	ListNetworks(after addr.NetworkID, limit int) ([]NetworkRole, error)
	// ListNetworksOf lists the non-backbone networks node belongs to, with
	// its role and the member count, by ascending ID (list_networks §7.4.6).
	ListNetworksOf(node addr.NodeID, after addr.NetworkID, limit int) ([]NetworkRole, error)
	// NetworkIDsOf returns all non-backbone networks of node, ascending
	// (lookup `networks` §7.1.4, node.deregistered `networks`).
	NetworkIDsOf(node addr.NodeID) ([]addr.NetworkID, error)
	// Role returns node's role in network (§6.2). A non-member, and every
	// node in network 0 (which has no roles), gets RoleNone and no error.
	Role(network addr.NetworkID, node addr.NodeID) (Role, error)
	// Owner returns the owner of a non-backbone network (§6.3.1).
	Owner(network addr.NetworkID) (addr.NodeID, error)
	// OwnedNetworks returns the networks node owns, ascending (deregister and
	// purge refusal §7.1.3, §11).
	OwnedNetworks(node addr.NodeID) ([]addr.NetworkID, error)
	// CountMembers counts members (§7.6.3); for network 0, live nodes.
	CountMembers(network addr.NetworkID) (int, error)
	// ListMembers lists members of a non-backbone network with their roles,
	// ascending node ID (list_nodes §7.4.7). For network 0 use ListNodes.
	ListMembers(network addr.NetworkID, after addr.NodeID, limit int) ([]Member, error)
	// SharedNetworks returns the non-backbone networks both a and b belong
	// to, ascending (check_trust, resolve, lookup visibility).
	SharedNetworks(a, b addr.NodeID) ([]addr.NetworkID, error)

	// Invite returns the pending invite of target to network, expired or
	// not (the caller compares Expires with its clock, §7.7).
	Invite(network addr.NetworkID, target addr.NodeID) (Invite, error)
	// ListInvites lists target's invites unexpired at now, oldest first
	// (poll_invites §7.7, ordered by (Created, NetworkID)).
	ListInvites(target addr.NodeID, now time.Time, after InviteCursor, limit int) ([]Invite, error)
	// CountInvites counts target's invites unexpired at now.
	CountInvites(target addr.NodeID, now time.Time) (int, error)

	// HasApproval reports whether from approves to (§7.3).
	HasApproval(from, to addr.NodeID) (bool, error)
	// TrustPair reports whether a approves b and b approves a.
	TrustPair(a, b addr.NodeID) (bool, error)
	// HandshakePending reports whether a request from→to is queued and
	// unexpired at now (request_handshake "already_pending").
	HandshakePending(from, to addr.NodeID, now time.Time) (bool, error)

	// AuditHead returns the newest audit seq and hash (0 and "" when empty).
	AuditHead() (seq uint64, hash string, err error)
	// QueryAudit lists audit entries newest first (get_audit_log §7.8).
	QueryAudit(f AuditFilter) ([]AuditEntry, error)

	// PolicyEpoch returns the registry-wide policy epoch (§7.6.3).
	PolicyEpoch() (uint64, error)
	// ListBeacons lists beacons updated at or after freshSince, ascending ID
	// (beacon_list §7.10).
	ListBeacons(freshSince time.Time, after uint32, limit int) ([]Beacon, error)
	// Stats computes the gauges of §3 (online: last_seen ≥ onlineSince;
	// invites pending: unexpired at now).
	Stats(now, onlineSince time.Time) (Stats, error)
}

// Tx is a read-write transaction. Every mutation of one request happens in
// one Tx (§13.2 guarantee 1); the store keeps the invariants of §6.3 that
// span rows and answers with the sentinel errors of store.go.
type Tx interface {
	ReadTx

	// CreateNode inserts a new node with the smallest never-issued ID ≥ 4
	// (§7.1.1 step 4), ignoring n.ID, binds n.PublicKey as its live key and
	// makes it a member of network 0. Errors, checked in this order:
	// ErrKeyBound or ErrKeyRetired (a *KeyBindingError), ErrHostnameTaken,
	// ErrIDSpaceExhausted. A refused CreateNode changes nothing.
	CreateNode(n Node) (Node, error)
	// ReclaimNode recreates the record of tombstone n.ID whose bound key is
	// n.PublicKey (§7.1.1 step 3); the caller sets the fresh fields.
	// Errors: ErrNotFound (no such tombstone or key not bound to it),
	// ErrHostnameTaken.
	ReclaimNode(n Node) error
	// UpdateNode writes every field of n except ID and PublicKey (setters
	// §7.2, register of a known key, set_key_expiry, polo score). Errors:
	// ErrNotFound, ErrHostnameTaken.
	UpdateNode(n Node) error
	// SetLastSeen sets last_seen (heartbeat §7.1.2; not audited).
	SetLastSeen(id addr.NodeID, t time.Time) error
	// TouchNodes applies heartbeats collected in memory in one write
	// ("MAY be written in batches, at most 30 s late", §7.1.2): each node's
	// last_seen becomes the later of the stored and the given time. Nodes
	// that no longer exist are skipped. It returns how many were updated.
	TouchNodes(seen []LastSeen) (int, error)
	// RotateKey binds newKey to live node id and retires the old key:
	// rotated_at = now, rotate_count + 1, expires_at = expires (zero clears),
	// created_at unchanged (rotate_key §7.1.7). Errors: ErrNotFound,
	// ErrKeyBound, ErrKeyRetired.
	RotateKey(id addr.NodeID, newKey PublicKey, now, expires time.Time) (Node, error)
	// ReassignKey binds newKey to id, a live node or a tombstone
	// (reassign_key §7.1.10). If newKey is bound to a tombstone, that
	// binding moves and the tombstone keeps no key. The old key of id is
	// retired. For a live node: rotated_at = now, rotate_count + 1,
	// expires_at cleared, and the node is returned with live = true.
	// Errors: ErrNotFound, ErrKeyBound (bound to a live node), ErrKeyRetired.
	ReassignKey(id addr.NodeID, newKey PublicKey, now time.Time) (n Node, live bool, err error)
	// TombstoneNode deregisters or purges a live node (§7.1.3, §11): its
	// memberships and roles, pending invites to and from it, handshake
	// queues (to and from it), approvals in both directions go; its
	// hostname is released; the key stays bound to the tombstone. It
	// refuses an owner of a network with ErrOwner. reason is "request" or
	// "purge".
	TombstoneNode(id addr.NodeID, now time.Time, reason string) (NodeRemoval, error)

	// CreateNetwork inserts nw with the smallest never-used ID in 1..65535
	// (ignoring nw.ID) and makes owner its owner and first member
	// (create_network §7.4.1). Errors: ErrNameTaken, ErrIDSpaceExhausted,
	// ErrNotFound (owner is not a live node).
	CreateNetwork(nw Network, owner addr.NodeID, now time.Time) (Network, error)
	// UpdateNetwork writes name and policy (MaxMembers, AllowedPorts,
	// Description) of nw.ID (rename §7.4.5, policy §7.6.1). Join rule and
	// tokens are fixed at creation. Errors: ErrNotFound, ErrBackbone,
	// ErrNameTaken.
	UpdateNetwork(nw Network) error
	// DeleteNetwork removes a network with its memberships, roles and
	// invites; its ID is never reused (§7.4.4). Errors: ErrNotFound,
	// ErrBackbone.
	DeleteNetwork(id addr.NetworkID) (NetworkRemoval, error)
	// AddMember adds node to network with role (join §7.4.2, invite accept
	// §7.7), checking max_members in the same transaction (§7.6.3).
	// RoleOwner is refused (use CreateNetwork/TransferOwnership). Errors:
	// ErrNotFound, ErrBackbone, ErrAlreadyMember, ErrNetworkFull.
	AddMember(network addr.NetworkID, node addr.NodeID, role Role, now time.Time) error
	// SetRole changes a member's role between RoleMember and RoleAdmin
	// (promote/demote §7.5). Errors: ErrNotFound (not a member), ErrOwner
	// (the target is the owner), ErrBackbone, ErrInvalid.
	SetRole(network addr.NetworkID, node addr.NodeID, role Role) error
	// TransferOwnership makes member newOwner the owner and the old owner
	// an admin (§7.5). It returns the old owner and newOwner's former role.
	// Errors: ErrNotFound (not a member), ErrOwner (already the owner).
	TransferOwnership(network addr.NetworkID, newOwner addr.NodeID) (oldOwner addr.NodeID, oldRole Role, err error)
	// RemoveMember removes node from network (leave §7.4.3, kick §7.5) with
	// its role, its pending invites to the network and the invites it sent
	// for it, which are returned. Errors: ErrNotFound (not a member),
	// ErrOwner, ErrBackbone.
	RemoveMember(network addr.NetworkID, node addr.NodeID) ([]Invite, error)

	// CreateInvite records a pending invite (§7.7) under the dedup and cap
	// invariants (§6.3.4): ErrAlreadyInvited when one for (target, network)
	// is pending and unexpired at inv.Created; ErrInboxFull when the target
	// has 100 unexpired ones. An expired invite for the same pair is
	// replaced. ErrNotFound when the network or the target does not exist.
	CreateInvite(inv Invite) error
	// DeleteInvite removes the invite of target to network (accept, reject).
	DeleteInvite(network addr.NetworkID, target addr.NodeID) error
	// SweepInvites removes invites expired at now and returns them (sweeper
	// §7.7: invite.removed reason expired).
	SweepInvites(now time.Time) ([]Invite, error)

	// AddApproval records that from approves to (report_trust,
	// request_handshake, respond_handshake accept §7.3). added is false if
	// it already existed; pair tells whether the pair exists now. Errors:
	// ErrNotFound when a node is not live.
	AddApproval(from, to addr.NodeID, now time.Time) (added, pair bool, err error)
	// RevokeTrust removes the approvals in both directions (revoke_trust);
	// removed tells whether anything was removed, pairRemoved whether a
	// mutual pair existed.
	RevokeTrust(a, b addr.NodeID) (removed, pairRemoved bool, err error)

	// EnqueueHandshakeRequest queues r for r.ToID (request_handshake). It
	// returns queued = false, changing nothing, when a request from the same
	// sender is pending (already_pending); ErrInboxFull when the target has
	// 100 pending. Expired entries are ignored and replaced.
	EnqueueHandshakeRequest(r HandshakeRequest) (queued bool, err error)
	// EnqueueHandshakeResponse queues r for r.ToID, dropping the oldest
	// beyond 100 (respond_handshake).
	EnqueueHandshakeResponse(r HandshakeResponse) error
	// DrainHandshakes removes and returns up to limit items queued for
	// target and unexpired at now, requests then responses, each oldest
	// first (poll_handshakes: drained in the transaction that builds the
	// reply; limit 0 = all).
	DrainHandshakes(target addr.NodeID, now time.Time, limit int) (HandshakeBatch, error)
	// SweepHandshakes removes requests and responses expired at now.
	SweepHandshakes(now time.Time) (int, error)

	// AppendAudit appends one audit row (§9.2): seq = previous + 1, time =
	// now in UTC with milliseconds, hash chained from the previous row.
	// Appends are serialized by the transaction. attrs are in §9.3 order
	// and keep that order in storage.
	AppendAudit(now time.Time, action string, actor addr.NodeID, authVia string, attrs []identity.AuditAttr) (AuditEntry, error)

	// RecordNonce records (key, nonce) until expires and reports whether it
	// was already recorded and unexpired at now (replay §5.2 step 5). It
	// records nothing when seen is true.
	RecordNonce(key PublicKey, nonce Nonce, now, expires time.Time) (seen bool, err error)
	// SweepNonces removes nonces expired at now.
	SweepNonces(now time.Time) (int, error)

	// BumpPolicyEpoch increments policy_epoch and returns the new value
	// (§7.6.3).
	BumpPolicyEpoch() (uint64, error)

	// UpsertBeacon creates or refreshes a beacon entry (beacon_register).
	UpsertBeacon(b Beacon) error
	// SweepBeacons removes beacons updated before t.
	SweepBeacons(before time.Time) (int, error)
}
