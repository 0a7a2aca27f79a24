package regmsg

import (
	"math"

	"github.com/pilot-go/pilot/addr"
)

// Request is one decoded request message of §7. Every message type is a
// pointer to a struct of this package (*Register, *Heartbeat, …); the
// interface is sealed.
type Request interface {
	// Type is the message's "type" value.
	Type() string
	// AuthFields returns the message's auth fields (§5) for reading and,
	// on the client side, for filling in before marshalling.
	AuthFields() *Auth
	// Signer is the value of the message's signer field (table 5.4); 0
	// means no node signer, and is always 0 for register and
	// reassign_key (signed by the key they carry) and for the messages
	// without a signer.
	Signer() addr.NodeID
	// SignedParams returns the parameter lines p1…pn of table 5.4, encoded
	// as §5.1 says.
	SignedParams() []string

	decode(d *decoder)
	encode(e *encoder)
}

// Auth holds the auth fields common to every request (§5, §6.1). A nil
// pointer means the field is absent. The shape check only makes sure they
// are of the right JSON type; their syntax (nonce of 16 bytes, signature of
// 64) is §5.2 step 1 and fails with unauthenticated (see DecodeNonce,
// DecodeSignature).
type Auth struct {
	TS         *int64  // ts: Unix milliseconds
	Nonce      *string // nonce: b64 of 16 bytes
	Signature  *string // signature: b64 of 64 bytes
	AdminToken *string // admin_token: global or network admin token (secret)
}

// AuthFields implements Request.
func (a *Auth) AuthFields() *Auth { return a }

// HasAdminToken reports whether admin_token is present and non-empty.
func (a *Auth) HasAdminToken() bool { return a.AdminToken != nil && *a.AdminToken != "" }

func (a *Auth) decodeAuth(d *decoder) {
	// ts is any JSON int that fits int64 (§4.3 "JSON int (ms)"): a value
	// far from the registry clock, negative included, fails the skew check
	// (§5.2 step 2, unauthenticated), not the shape check.
	if ts, ok := d.integer("ts", math.MinInt64, math.MaxInt64, false); ok {
		a.TS = &ts
	}
	// Error messages never quote a nonce or a signature (§4.1, §14 item
	// 14), not even one of the wrong JSON type.
	a.Nonce = d.optStr("nonce", strRule{secret: true})
	a.Signature = d.optStr("signature", strRule{secret: true})
	a.AdminToken = d.optStr("admin_token", strRule{freeText: true, secret: true})
}

func (a *Auth) encodeAuth(e *encoder) {
	if a.TS != nil {
		e.int("ts", *a.TS)
	}
	if a.Nonce != nil {
		e.str("nonce", *a.Nonce)
	}
	if a.Signature != nil {
		e.str("signature", *a.Signature)
	}
	if a.AdminToken != nil {
		e.str("admin_token", *a.AdminToken)
	}
}

// TypeSubscribeReplication is refused with ErrReplicationUnsupported (§7.11).
const TypeSubscribeReplication = "subscribe_replication"

// newRequest maps every type of §7 to a constructor.
var newRequest = map[string]func() Request{
	TypeRegister:          func() Request { return new(Register) },
	TypeHeartbeat:         func() Request { return new(Heartbeat) },
	TypeDeregister:        func() Request { return new(Deregister) },
	TypeLookup:            func() Request { return new(Lookup) },
	TypeResolve:           func() Request { return new(Resolve) },
	TypePunch:             func() Request { return new(Punch) },
	TypeRotateKey:         func() Request { return new(RotateKey) },
	TypeSetKeyExpiry:      func() Request { return new(SetKeyExpiry) },
	TypeGetKeyInfo:        func() Request { return new(GetKeyInfo) },
	TypeReassignKey:       func() Request { return new(ReassignKey) },
	TypeSetVisibility:     func() Request { return new(SetVisibility) },
	TypeSetHostname:       func() Request { return new(SetHostname) },
	TypeSetTags:           func() Request { return new(SetTags) },
	TypeSetTaskExec:       func() Request { return new(SetTaskExec) },
	TypeResolveHostname:   func() Request { return new(ResolveHostname) },
	TypeReportTrust:       func() Request { return new(ReportTrust) },
	TypeRevokeTrust:       func() Request { return new(RevokeTrust) },
	TypeCheckTrust:        func() Request { return new(CheckTrust) },
	TypeRequestHandshake:  func() Request { return new(RequestHandshake) },
	TypePollHandshakes:    func() Request { return new(PollHandshakes) },
	TypeRespondHandshake:  func() Request { return new(RespondHandshake) },
	TypeCreateNetwork:     func() Request { return new(CreateNetwork) },
	TypeJoinNetwork:       func() Request { return new(JoinNetwork) },
	TypeLeaveNetwork:      func() Request { return new(LeaveNetwork) },
	TypeDeleteNetwork:     func() Request { return new(DeleteNetwork) },
	TypeRenameNetwork:     func() Request { return new(RenameNetwork) },
	TypeListNetworks:      func() Request { return new(ListNetworks) },
	TypeListNodes:         func() Request { return new(ListNodes) },
	TypeKickMember:        func() Request { return new(KickMember) },
	TypePromoteMember:     func() Request { return new(PromoteMember) },
	TypeDemoteMember:      func() Request { return new(DemoteMember) },
	TypeGetMemberRole:     func() Request { return new(GetMemberRole) },
	TypeTransferOwnership: func() Request { return new(TransferOwnership) },
	TypeSetNetworkPolicy:  func() Request { return new(SetNetworkPolicy) },
	TypeGetNetworkPolicy:  func() Request { return new(GetNetworkPolicy) },
	TypeInviteToNetwork:   func() Request { return new(InviteToNetwork) },
	TypePollInvites:       func() Request { return new(PollInvites) },
	TypeRespondInvite:     func() Request { return new(RespondInvite) },
	TypeGetAuditLog:       func() Request { return new(GetAuditLog) },
	TypeGetPoloScore:      func() Request { return new(GetPoloScore) },
	TypeUpdatePoloScore:   func() Request { return new(UpdatePoloScore) },
	TypeSetPoloScore:      func() Request { return new(SetPoloScore) },
	TypeBeaconRegister:    func() Request { return new(BeaconRegister) },
	TypeBeaconList:        func() Request { return new(BeaconList) },
}

// signerFields names the signer field of each message of table 5.4 that has
// one; the others (register, reassign_key and the unsigned messages) have
// none.
var signerFields = map[string]string{
	TypeLookup: "requester_id", TypeResolve: "requester_id", TypePunch: "requester_id",
	TypeResolveHostname: "requester_id", TypeRequestHandshake: "from_node_id",
	TypeInviteToNetwork: "inviter_id",
}

// SignerField returns the name of the signer field of message type typ
// (table 5.4), or "" for the messages whose signer is 0 by definition or
// that have no signer (register, reassign_key, get_key_info, the polo
// score and beacon messages).
func SignerField(typ string) string {
	if f, ok := signerFields[typ]; ok {
		return f
	}
	switch typ {
	case TypeRegister, TypeReassignKey, TypeGetKeyInfo, TypeGetPoloScore,
		TypeUpdatePoloScore, TypeSetPoloScore, TypeBeaconRegister, TypeBeaconList:
		return ""
	}
	if _, ok := newRequest[typ]; ok {
		return "node_id"
	}
	return ""
}

// Types returns every request type that DecodeRequest accepts.
func Types() []string {
	out := make([]string, 0, len(newRequest))
	for t := range newRequest {
		out = append(out, t)
	}
	return out
}

// DecodeRequest parses a request body and checks its shape (§6.4 step 1:
// §1, §4.1, §4.3 and the field tables of §7). Every failure is an *Error
// with code invalid_argument, except subscribe_replication
// (failed_precondition, §7.11).
func DecodeRequest(body []byte) (Request, error) {
	obj, perr := parseBody(body)
	if perr != nil {
		return nil, perr
	}
	d := &decoder{obj: obj}
	typ, _ := d.str("type", true, strRule{freeText: true})
	if d.err != nil {
		return nil, d.err
	}
	if typ == TypeSubscribeReplication {
		return nil, ErrReplicationUnsupported
	}
	mk, ok := newRequest[typ]
	if !ok {
		return nil, invalidf("unsupported message type %s", quoteTrunc(typ))
	}
	req := mk()
	req.AuthFields().decodeAuth(d)
	req.decode(d)
	if d.err != nil {
		return nil, d.err
	}
	return req, nil
}

// MarshalRequest encodes a request as a JSON object, "type" first, the
// fields of §7 next and the auth fields last. Absent optional fields are
// left out. It is the client-side counterpart of DecodeRequest: decoding
// its output gives back an equal struct.
func MarshalRequest(req Request) ([]byte, error) {
	return AppendRequest(nil, req), nil
}

// AppendRequest appends the JSON encoding of req to dst (see
// MarshalRequest).
func AppendRequest(dst []byte, req Request) []byte {
	e := &encoder{buf: dst}
	e.begin()
	e.str("type", req.Type())
	req.encode(e)
	req.AuthFields().encodeAuth(e)
	e.end()
	return e.buf
}
