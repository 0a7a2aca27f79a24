package regmsg

import (
	"time"

	"github.com/pilot-go/pilot/addr"
)

// Node lifecycle messages (registry.md §7.1).

// Message types of §7.1.
const (
	TypeRegister     = "register"
	TypeHeartbeat    = "heartbeat"
	TypeDeregister   = "deregister"
	TypeLookup       = "lookup"
	TypeResolve      = "resolve"
	TypePunch        = "punch"
	TypeRotateKey    = "rotate_key"
	TypeSetKeyExpiry = "set_key_expiry"
	TypeGetKeyInfo   = "get_key_info"
	TypeReassignKey  = "reassign_key"
)

// Register is `register` (§7.1.1), signed by the key it carries (signer 0).
// Hostname is only checked to be a string without control characters: an
// invalid or reserved one is the server's hostname_error (§6.4 step 1; use
// ValidateHostname).
type Register struct {
	Auth
	PublicKey       string
	ListenAddr      string
	Owner           string
	Hostname        string
	LANAddrs        []string // nil = absent
	ProtocolVersion int64    // 0 = absent
	Version         string
	Capabilities    []string // nil = absent
}

func (*Register) Type() string        { return TypeRegister }
func (*Register) Signer() addr.NodeID { return 0 }
func (r *Register) SignedParams() []string {
	return []string{r.PublicKey, r.ListenAddr, r.Hostname, r.Owner,
		pList(r.LANAddrs), pList(r.Capabilities), r.Version}
}

// keyRule reads a public key field. A public key is public information,
// but it is key material, which error messages never contain (§4.1): its
// value is not quoted (ValidatePublicKey does not quote it either).
var keyRule = strRule{secret: true}

func (r *Register) decode(d *decoder) {
	r.PublicKey, _ = d.str("public_key", true, keyRule)
	if d.err == nil {
		d.fail(ValidatePublicKey("public_key", r.PublicKey))
	}
	r.ListenAddr, _ = d.str("listen_addr", false, strRule{maxBytes: MaxListenAddrLen})
	r.Owner, _ = d.str("owner", false, strRule{maxBytes: MaxOwnerLen})
	r.Hostname, _ = d.str("hostname", false, strRule{})
	r.LANAddrs = d.strList("lan_addrs", MaxLANAddrs, false, ValidateLANAddr)
	r.ProtocolVersion, _ = d.integer("protocol_version", 0, 1<<31-1, false)
	r.Version, _ = d.str("version", false, strRule{})
	if d.err == nil {
		d.fail(ValidateVersion("version", r.Version))
	}
	r.Capabilities = d.strList("capabilities", MaxCapabilities, false, ValidateCapability)
}

func (r *Register) encode(e *encoder) {
	e.str("public_key", r.PublicKey)
	e.optStr("listen_addr", r.ListenAddr)
	e.optStr("owner", r.Owner)
	e.optStr("hostname", r.Hostname)
	e.strs("lan_addrs", r.LANAddrs)
	if r.ProtocolVersion != 0 {
		e.int("protocol_version", r.ProtocolVersion)
	}
	e.optStr("version", r.Version)
	e.strs("capabilities", r.Capabilities)
}

// Heartbeat is `heartbeat` (§7.1.2). NodeID 0 = absent (no signer).
type Heartbeat struct {
	Auth
	NodeID addr.NodeID
}

func (*Heartbeat) Type() string            { return TypeHeartbeat }
func (r *Heartbeat) Signer() addr.NodeID   { return r.NodeID }
func (*Heartbeat) SignedParams() []string  { return nil }
func (r *Heartbeat) decode(d *decoder)     { r.NodeID = d.signer("node_id") }
func (r *Heartbeat) encode(e *encoder)     { e.optNode("node_id", r.NodeID) }
func (*Deregister) Type() string           { return TypeDeregister }
func (r *Deregister) Signer() addr.NodeID  { return r.NodeID }
func (*Deregister) SignedParams() []string { return nil }
func (r *Deregister) decode(d *decoder)    { r.NodeID = d.signer("node_id") }
func (r *Deregister) encode(e *encoder)    { e.optNode("node_id", r.NodeID) }

// Deregister is `deregister` (§7.1.3). NodeID 0 = absent (no signer).
type Deregister struct {
	Auth
	NodeID addr.NodeID
}

// Lookup is `lookup` (§7.1.4): NodeID is the target, RequesterID the
// optional signer.
type Lookup struct {
	Auth
	NodeID      addr.NodeID
	RequesterID addr.NodeID
}

func (*Lookup) Type() string             { return TypeLookup }
func (r *Lookup) Signer() addr.NodeID    { return r.RequesterID }
func (r *Lookup) SignedParams() []string { return []string{pInt(r.NodeID)} }
func (r *Lookup) decode(d *decoder) {
	r.NodeID = d.nodeID("node_id")
	r.RequesterID = d.signer("requester_id")
}
func (r *Lookup) encode(e *encoder) {
	e.node("node_id", r.NodeID)
	e.optNode("requester_id", r.RequesterID)
}

// Resolve is `resolve` (§7.1.5).
type Resolve struct {
	Auth
	NodeID      addr.NodeID
	RequesterID addr.NodeID
}

func (*Resolve) Type() string             { return TypeResolve }
func (r *Resolve) Signer() addr.NodeID    { return r.RequesterID }
func (r *Resolve) SignedParams() []string { return []string{pInt(r.NodeID)} }
func (r *Resolve) decode(d *decoder) {
	r.NodeID = d.nodeID("node_id")
	r.RequesterID = d.signer("requester_id")
}
func (r *Resolve) encode(e *encoder) {
	e.node("node_id", r.NodeID)
	e.optNode("requester_id", r.RequesterID)
}

// Punch is `punch` (§7.1.6).
type Punch struct {
	Auth
	RequesterID addr.NodeID
	NodeA       addr.NodeID
	NodeB       addr.NodeID
}

func (*Punch) Type() string          { return TypePunch }
func (r *Punch) Signer() addr.NodeID { return r.RequesterID }
func (r *Punch) SignedParams() []string {
	return []string{pInt(r.NodeA), pInt(r.NodeB)}
}
func (r *Punch) decode(d *decoder) {
	r.RequesterID = d.signer("requester_id")
	r.NodeA = d.nodeID("node_a")
	r.NodeB = d.nodeID("node_b")
}
func (r *Punch) encode(e *encoder) {
	e.optNode("requester_id", r.RequesterID)
	e.node("node_a", r.NodeA)
	e.node("node_b", r.NodeB)
}

// RotateKey is `rotate_key` (§7.1.7). NewKeySignature is required in a v2
// request (checked by DecodeRequest); ExpiresAt nil = absent (no expiry).
type RotateKey struct {
	Auth
	NodeID          addr.NodeID
	NewPublicKey    string
	NewKeySignature *string
	ExpiresAt       *string
}

func (*RotateKey) Type() string          { return TypeRotateKey }
func (r *RotateKey) Signer() addr.NodeID { return r.NodeID }
func (r *RotateKey) SignedParams() []string {
	return []string{r.NewPublicKey, pStrPtr(r.ExpiresAt)}
}

// Expiry returns the parsed expires_at; ok is false when absent, "" or
// "never" (no expiry).
func (r *RotateKey) Expiry() (t time.Time, ok bool) {
	if r.ExpiresAt == nil {
		return time.Time{}, false
	}
	t, clear, err := ParseExpiry(*r.ExpiresAt)
	return t, err == nil && !clear
}

func (r *RotateKey) decode(d *decoder) {
	r.NodeID = d.signer("node_id")
	r.NewPublicKey, _ = d.str("new_public_key", true, keyRule)
	if d.err == nil {
		d.fail(ValidatePublicKey("new_public_key", r.NewPublicKey))
	}
	r.NewKeySignature = d.optStr("new_key_signature", strRule{secret: true})
	r.ExpiresAt = d.optStr("expires_at", strRule{})
	if d.err == nil && r.ExpiresAt != nil {
		d.fail(validateExpiry("expires_at", *r.ExpiresAt))
	}
	if d.err == nil && r.NewKeySignature == nil && AuthVersion(r) == AuthV2 {
		d.missing("new_key_signature")
	}
}

func (r *RotateKey) encode(e *encoder) {
	e.optNode("node_id", r.NodeID)
	e.str("new_public_key", r.NewPublicKey)
	e.strPtr("new_key_signature", r.NewKeySignature)
	e.strPtr("expires_at", r.ExpiresAt)
}

// SetKeyExpiry is `set_key_expiry` (§7.1.8). ExpiresAt is the value as
// sent; use Expiry for the parsed form.
type SetKeyExpiry struct {
	Auth
	NodeID    addr.NodeID
	ExpiresAt string
}

func (*SetKeyExpiry) Type() string             { return TypeSetKeyExpiry }
func (r *SetKeyExpiry) Signer() addr.NodeID    { return r.NodeID }
func (r *SetKeyExpiry) SignedParams() []string { return []string{r.ExpiresAt} }

// Expiry returns the parsed expires_at; clear is true for "" and "never".
// The server still checks "in the future, at most MaxKeyExpiry ahead".
func (r *SetKeyExpiry) Expiry() (t time.Time, clear bool) {
	t, clear, _ = ParseExpiry(r.ExpiresAt)
	return t, clear
}

func (r *SetKeyExpiry) decode(d *decoder) {
	r.NodeID = d.signer("node_id")
	r.ExpiresAt, _ = d.str("expires_at", true, strRule{})
	if d.err == nil {
		d.fail(validateExpiry("expires_at", r.ExpiresAt))
	}
}

func (r *SetKeyExpiry) encode(e *encoder) {
	e.optNode("node_id", r.NodeID)
	e.str("expires_at", r.ExpiresAt)
}

// GetKeyInfo is `get_key_info` (§7.1.9); no auth.
type GetKeyInfo struct {
	Auth
	NodeID addr.NodeID
}

func (*GetKeyInfo) Type() string           { return TypeGetKeyInfo }
func (*GetKeyInfo) Signer() addr.NodeID    { return 0 }
func (*GetKeyInfo) SignedParams() []string { return nil }
func (r *GetKeyInfo) decode(d *decoder)    { r.NodeID = d.nodeID("node_id") }
func (r *GetKeyInfo) encode(e *encoder)    { e.node("node_id", r.NodeID) }

// ReassignKey is `reassign_key` (§7.1.10), signed by the new key (signer
// 0) and authorized by the global admin token.
type ReassignKey struct {
	Auth
	NodeID       addr.NodeID
	NewPublicKey string
}

func (*ReassignKey) Type() string        { return TypeReassignKey }
func (*ReassignKey) Signer() addr.NodeID { return 0 }
func (r *ReassignKey) SignedParams() []string {
	return []string{pInt(r.NodeID), r.NewPublicKey}
}
func (r *ReassignKey) decode(d *decoder) {
	r.NodeID = d.nodeID("node_id")
	r.NewPublicKey, _ = d.str("new_public_key", true, keyRule)
	if d.err == nil {
		d.fail(ValidatePublicKey("new_public_key", r.NewPublicKey))
	}
}
func (r *ReassignKey) encode(e *encoder) {
	e.node("node_id", r.NodeID)
	e.str("new_public_key", r.NewPublicKey)
}
