package regmsg

import (
	"math"

	"github.com/pilot-go/pilot/addr"
)

// Reputation (registry.md §7.9) and the beacon directory (§7.10).

// Message types of §7.9 and §7.10.
const (
	TypeGetPoloScore    = "get_polo_score"
	TypeUpdatePoloScore = "update_polo_score"
	TypeSetPoloScore    = "set_polo_score"
	TypeBeaconRegister  = "beacon_register"
	TypeBeaconList      = "beacon_list"
)

// GetPoloScore is `get_polo_score`; no auth.
type GetPoloScore struct {
	Auth
	NodeID addr.NodeID
}

func (*GetPoloScore) Type() string           { return TypeGetPoloScore }
func (*GetPoloScore) Signer() addr.NodeID    { return 0 }
func (*GetPoloScore) SignedParams() []string { return nil }
func (r *GetPoloScore) decode(d *decoder)    { r.NodeID = d.nodeID("node_id") }
func (r *GetPoloScore) encode(e *encoder)    { e.node("node_id", r.NodeID) }

// UpdatePoloScore is `update_polo_score`: Delta in ±1,000,000.
type UpdatePoloScore struct {
	Auth
	NodeID addr.NodeID
	Delta  int64
}

func (*UpdatePoloScore) Type() string           { return TypeUpdatePoloScore }
func (*UpdatePoloScore) Signer() addr.NodeID    { return 0 }
func (*UpdatePoloScore) SignedParams() []string { return nil }
func (r *UpdatePoloScore) decode(d *decoder) {
	r.NodeID = d.nodeID("node_id")
	r.Delta, _ = d.integer("delta", -MaxPoloScore, MaxPoloScore, true)
}
func (r *UpdatePoloScore) encode(e *encoder) {
	e.node("node_id", r.NodeID)
	e.int("delta", r.Delta)
}

// SetPoloScore is `set_polo_score`: PoloScore in ±1,000,000.
type SetPoloScore struct {
	Auth
	NodeID    addr.NodeID
	PoloScore int64
}

func (*SetPoloScore) Type() string           { return TypeSetPoloScore }
func (*SetPoloScore) Signer() addr.NodeID    { return 0 }
func (*SetPoloScore) SignedParams() []string { return nil }
func (r *SetPoloScore) decode(d *decoder) {
	r.NodeID = d.nodeID("node_id")
	r.PoloScore, _ = d.integer("polo_score", -MaxPoloScore, MaxPoloScore, true)
}
func (r *SetPoloScore) encode(e *encoder) {
	e.node("node_id", r.NodeID)
	e.int("polo_score", r.PoloScore)
}

// BeaconID names a beacon (1..4294967295, §4.3).
type BeaconID uint32

// BeaconRegister is `beacon_register`; Token is the beacon token (secret,
// "" = absent).
type BeaconRegister struct {
	Auth
	BeaconID BeaconID
	Addr     string
	Token    string
}

func (*BeaconRegister) Type() string           { return TypeBeaconRegister }
func (*BeaconRegister) Signer() addr.NodeID    { return 0 }
func (*BeaconRegister) SignedParams() []string { return nil }
func (r *BeaconRegister) decode(d *decoder) {
	n, _ := d.integer("beacon_id", 1, math.MaxUint32, true)
	r.BeaconID = BeaconID(n)
	r.Addr, _ = d.str("addr", true, strRule{maxBytes: MaxListenAddrLen})
	if d.err == nil {
		d.fail(ValidateHostPort("addr", r.Addr))
	}
	r.Token, _ = d.str("token", false, strRule{freeText: true, secret: true})
}
func (r *BeaconRegister) encode(e *encoder) {
	e.int("beacon_id", int64(r.BeaconID))
	e.str("addr", r.Addr)
	e.optStr("token", r.Token)
}

// BeaconList is `beacon_list`; no auth.
type BeaconList struct {
	Auth
	Page
}

func (*BeaconList) Type() string           { return TypeBeaconList }
func (*BeaconList) Signer() addr.NodeID    { return 0 }
func (*BeaconList) SignedParams() []string { return nil }
func (r *BeaconList) decode(d *decoder)    { r.Page = d.page() }
func (r *BeaconList) encode(e *encoder)    { e.page(r.Page) }
