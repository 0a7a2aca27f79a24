package store

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/pilot-go/pilot/addr"
)

// Limits of registry.md §8.2 that the store enforces itself because they
// span rows (§13.2 guarantee 3).
const (
	FirstNodeID         addr.NodeID    = 4          // §7.1.1: IDs 1–3 are special
	LastNodeID          addr.NodeID    = 0xFFFFFFFE // 0xFFFFFFFF is never issued
	LastNetworkID       addr.NetworkID = 0xFFFF
	MaxPendingInvites                  = 100 // per target (§6.3.4)
	MaxHandshakeQueue                  = 100 // requests and responses per target (§7.3)
	BackboneName                       = "backbone"
	BackboneID          addr.NetworkID = 0
	DefaultBeaconMaxAge                = 60 * time.Second // §7.10
)

// PublicKey is an Ed25519 public key.
type PublicKey [32]byte

// String returns the key as lowercase hex (the form stored in the database).
func (k PublicKey) String() string { return hex.EncodeToString(k[:]) }

// Digest is the SHA-256 digest of a secret (join token, network admin
// token). The zero Digest means "no secret". Secrets never reach the store
// in clear text (§13.2 guarantee 4).
type Digest [32]byte

// DigestOf returns the SHA-256 digest of secret, or the zero Digest for "".
func DigestOf(secret string) Digest {
	if secret == "" {
		return Digest{}
	}
	return sha256.Sum256([]byte(secret))
}

// IsZero reports whether d is "no secret".
func (d Digest) IsZero() bool { return d == Digest{} }

// Nonce is the 16 decoded bytes of a request nonce (§5.1).
type Nonce [16]byte

// Role is a member's role in a non-backbone network (§6.2).
type Role uint8

// Roles. RoleNone is "not a member".
const (
	RoleNone Role = iota
	RoleMember
	RoleAdmin
	RoleOwner
)

// String returns the wire name: "member", "admin", "owner" ("" for none).
func (r Role) String() string {
	switch r {
	case RoleMember:
		return "member"
	case RoleAdmin:
		return "admin"
	case RoleOwner:
		return "owner"
	}
	return ""
}

// ParseRole is the inverse of Role.String for the three roles.
func ParseRole(s string) (Role, error) {
	switch s {
	case "member":
		return RoleMember, nil
	case "admin":
		return RoleAdmin, nil
	case "owner":
		return RoleOwner, nil
	}
	return RoleNone, fmt.Errorf("%w: role %q", ErrInvalid, s)
}

// JoinRule is a network's join rule (§7.4.1).
type JoinRule uint8

// Join rules.
const (
	JoinOpen JoinRule = iota
	JoinToken
	JoinInvite
)

// String returns the wire name: "open", "token" or "invite".
func (j JoinRule) String() string {
	switch j {
	case JoinToken:
		return "token"
	case JoinInvite:
		return "invite"
	}
	return "open"
}

// ParseJoinRule is the inverse of JoinRule.String.
func ParseJoinRule(s string) (JoinRule, error) {
	switch s {
	case "open":
		return JoinOpen, nil
	case "token":
		return JoinToken, nil
	case "invite":
		return JoinInvite, nil
	}
	return JoinOpen, fmt.Errorf("%w: join rule %q", ErrInvalid, s)
}

// KeyState is the state of a public key binding (§6.3.6, §7.1.1).
type KeyState uint8

// Key binding states.
const (
	// KeyLive: the current key of a node record that exists.
	KeyLive KeyState = iota + 1
	// KeyTombstone: bound to a deregistered or purged node ID; registering
	// with it reclaims that ID (§7.1.1 step 3).
	KeyTombstone
	// KeyRetired: rotated out or reassigned away; never accepted again.
	KeyRetired
)

// String names the state.
func (s KeyState) String() string {
	switch s {
	case KeyLive:
		return "live"
	case KeyTombstone:
		return "tombstone"
	case KeyRetired:
		return "retired"
	}
	return fmt.Sprintf("KeyState(%d)", uint8(s))
}

// KeyBinding is what the store knows about a public key.
type KeyBinding struct {
	Key    PublicKey
	NodeID addr.NodeID
	State  KeyState
	Since  time.Time // when the key entered State (retired: "replaced on T")
}

// KeyBindingError is how CreateNode refuses a key that is bound (live or
// to a tombstone) or retired: it matches ErrKeyBound or ErrKeyRetired and
// carries the binding, so that register (§7.1.1) can try CreateNode first,
// the common case, and read the binding only from a refusal.
type KeyBindingError struct {
	Binding KeyBinding
}

func (e *KeyBindingError) Error() string {
	if e.Binding.State == KeyRetired {
		return "public key was retired on " + e.Binding.Since.Format(time.RFC3339) + ": " + ErrKeyRetired.Error()
	}
	return fmt.Sprintf("public key is bound to node %d (%s): %s", e.Binding.NodeID, e.Binding.State, ErrKeyBound)
}

// Unwrap returns ErrKeyRetired or ErrKeyBound.
func (e *KeyBindingError) Unwrap() error {
	if e.Binding.State == KeyRetired {
		return ErrKeyRetired
	}
	return ErrKeyBound
}

// Node is a live node record (§7.1, §10, §11). Tombstones have no Node.
type Node struct {
	ID           addr.NodeID
	PublicKey    PublicKey
	RealAddr     string   // "ip:port" as observed (§7.1.1)
	LANAddrs     []string // as registered
	LastSeen     time.Time
	Version      string
	Capabilities []string
	Owner        string // operator e-mail, metadata only
	Hostname     string // "" = none; unique among live nodes
	Public       bool
	Tags         []string
	TaskExec     bool
	PoloScore    int64
	// Key lifecycle (§10).
	KeyCreatedAt time.Time
	KeyRotatedAt time.Time // zero = never rotated
	RotateCount  uint32
	KeyExpiresAt time.Time // zero = no expiry
}

// LastSeen is one batched heartbeat (Tx.TouchNodes).
type LastSeen struct {
	ID   addr.NodeID
	Seen time.Time
}

// Tombstone is a deregistered or purged node ID (§7.1.3, §11).
type Tombstone struct {
	ID     addr.NodeID
	Since  time.Time
	Reason string // "request" or "purge"
	// Key is the key still bound to the tombstone; HasKey is false once
	// reassign_key moved it away (the ID then stays unusable for ever).
	Key    PublicKey
	HasKey bool
}

// Network is a network with its policy (§7.4, §7.6). Network 0 is the
// backbone: open, no tokens, no policy.
type Network struct {
	ID               addr.NetworkID
	Name             string
	JoinRule         JoinRule
	TokenDigest      Digest // join token; zero unless JoinRule is JoinToken
	AdminTokenDigest Digest // per-network admin token; zero = none
	Created          time.Time
	MaxMembers       uint32   // 0 = unlimited
	AllowedPorts     []uint16 // ascending, no duplicates; empty = all
	Description      string
}

// Member is a node with its role in a network.
type Member struct {
	Node Node
	Role Role
}

// NetworkRole is a network together with a node's role in it.
type NetworkRole struct {
	Network Network
	Role    Role
	Members int // member count, as list_networks reports it
}

// Invite is a pending invite (§7.7). InviterID is 0 when a token
// authorized the invite without a signature.
type Invite struct {
	NetworkID addr.NetworkID
	TargetID  addr.NodeID
	InviterID addr.NodeID
	Created   time.Time
	Expires   time.Time
}

// InviteCursor is the position after which a page of a target's invites
// starts: invites are ordered by (Created, NetworkID). The zero value is
// the first page.
type InviteCursor struct {
	Created   time.Time
	NetworkID addr.NetworkID
}

// HandshakeRequest is a relayed handshake request queued for ToID (§7.3).
type HandshakeRequest struct {
	FromID        addr.NodeID
	ToID          addr.NodeID
	Justification string
	Created       time.Time
	Expires       time.Time
}

// HandshakeResponse is a relayed handshake response queued for ToID.
type HandshakeResponse struct {
	FromID  addr.NodeID // the responder
	ToID    addr.NodeID // the original requester
	Accept  bool
	Created time.Time
	Expires time.Time
}

// HandshakeBatch is what DrainHandshakes removed, oldest first.
type HandshakeBatch struct {
	Requests  []HandshakeRequest
	Responses []HandshakeResponse
	More      bool // entries remain after this batch (next_cursor)
}

// Beacon is a beacon directory entry (§7.10).
type Beacon struct {
	ID      uint32
	Addr    string
	Updated time.Time
}

// NodeRemoval reports what TombstoneNode removed, for the audit events of
// deregister and purge (§7.1.3, §9.3).
type NodeRemoval struct {
	Networks        []addr.NetworkID // memberships removed, backbone excluded, ascending
	InvitesRemoved  []Invite         // pending invites to and from the node
	PairsRemoved    int              // trust pairs that existed and are gone
	HostnameRemoved string           // the released hostname, "" if none
}

// NetworkRemoval reports what DeleteNetwork removed (§7.4.4).
type NetworkRemoval struct {
	Network        Network
	Members        int
	InvitesRemoved []Invite
}

// Stats are the gauges of /healthz and /metrics (§3, §3.1).
type Stats struct {
	NodesOnline    int // last_seen at or after the online threshold
	NodesTotal     int // live nodes (tombstones excluded)
	Networks       int // excluding the backbone
	TrustLinks     int // mutual pairs
	TaskExecutors  int
	InvitesPending int // unexpired
	Owners         int // members by role, summed over non-backbone networks
	Admins         int
	Members        int
}
