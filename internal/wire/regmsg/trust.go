package regmsg

import "github.com/pilot-go/pilot/addr"

// Trust and relayed handshake messages (registry.md §7.3).

// Message types of §7.3.
const (
	TypeReportTrust      = "report_trust"
	TypeRevokeTrust      = "revoke_trust"
	TypeCheckTrust       = "check_trust"
	TypeRequestHandshake = "request_handshake"
	TypePollHandshakes   = "poll_handshakes"
	TypeRespondHandshake = "respond_handshake"
)

// TrustPair holds the fields shared by report_trust, revoke_trust and
// check_trust: the signer node_id and the peer_id. Whether peer_id equals
// node_id is a §6.4 step 4 check (SelfRelation).
type TrustPair struct {
	Auth
	NodeID addr.NodeID
	PeerID addr.NodeID
}

// SelfRelation reports the §6.4 step 4 case "a node relating to itself".
func (r *TrustPair) SelfRelation() bool { return r.NodeID == r.PeerID }

func (r *TrustPair) Signer() addr.NodeID    { return r.NodeID }
func (r *TrustPair) SignedParams() []string { return []string{pInt(r.PeerID)} }
func (r *TrustPair) decode(d *decoder) {
	r.NodeID = d.signer("node_id")
	r.PeerID = d.nodeID("peer_id")
}
func (r *TrustPair) encode(e *encoder) {
	e.optNode("node_id", r.NodeID)
	e.node("peer_id", r.PeerID)
}

// ReportTrust is `report_trust`.
type ReportTrust struct{ TrustPair }

// RevokeTrust is `revoke_trust`.
type RevokeTrust struct{ TrustPair }

// CheckTrust is `check_trust`.
type CheckTrust struct{ TrustPair }

func (*ReportTrust) Type() string { return TypeReportTrust }
func (*RevokeTrust) Type() string { return TypeRevokeTrust }
func (*CheckTrust) Type() string  { return TypeCheckTrust }

// RequestHandshake is `request_handshake`; Justification is free text
// (control characters allowed, ≤ 1,024 bytes, signed as its SHA-256).
type RequestHandshake struct {
	Auth
	FromNodeID    addr.NodeID
	ToNodeID      addr.NodeID
	Justification string
}

func (*RequestHandshake) Type() string          { return TypeRequestHandshake }
func (r *RequestHandshake) Signer() addr.NodeID { return r.FromNodeID }
func (r *RequestHandshake) SignedParams() []string {
	return []string{pInt(r.ToNodeID), pHash(r.Justification)}
}

// SelfRelation reports to_node_id = from_node_id (§6.4 step 4).
func (r *RequestHandshake) SelfRelation() bool { return r.FromNodeID == r.ToNodeID }

func (r *RequestHandshake) decode(d *decoder) {
	r.FromNodeID = d.signer("from_node_id")
	r.ToNodeID = d.nodeID("to_node_id")
	r.Justification, _ = d.str("justification", false, strRule{freeText: true, maxBytes: MaxJustification})
}
func (r *RequestHandshake) encode(e *encoder) {
	e.optNode("from_node_id", r.FromNodeID)
	e.node("to_node_id", r.ToNodeID)
	e.optStr("justification", r.Justification)
}

// PollHandshakes is `poll_handshakes`.
type PollHandshakes struct {
	Auth
	NodeID addr.NodeID
	Page
}

func (*PollHandshakes) Type() string          { return TypePollHandshakes }
func (r *PollHandshakes) Signer() addr.NodeID { return r.NodeID }
func (*PollHandshakes) SignedParams() []string {
	return nil
}
func (r *PollHandshakes) decode(d *decoder) {
	r.NodeID = d.signer("node_id")
	r.Page = d.page()
}
func (r *PollHandshakes) encode(e *encoder) {
	e.optNode("node_id", r.NodeID)
	e.page(r.Page)
}

// RespondHandshake is `respond_handshake`; accept is required.
type RespondHandshake struct {
	Auth
	NodeID addr.NodeID
	PeerID addr.NodeID
	Accept bool
}

func (*RespondHandshake) Type() string          { return TypeRespondHandshake }
func (r *RespondHandshake) Signer() addr.NodeID { return r.NodeID }
func (r *RespondHandshake) SignedParams() []string {
	return []string{pInt(r.PeerID), pBool(r.Accept)}
}

// SelfRelation reports peer_id = node_id (§6.4 step 4).
func (r *RespondHandshake) SelfRelation() bool { return r.NodeID == r.PeerID }

func (r *RespondHandshake) decode(d *decoder) {
	r.NodeID = d.signer("node_id")
	r.PeerID = d.nodeID("peer_id")
	r.Accept, _ = d.boolean("accept", true)
}
func (r *RespondHandshake) encode(e *encoder) {
	e.optNode("node_id", r.NodeID)
	e.node("peer_id", r.PeerID)
	e.bool("accept", r.Accept)
}
