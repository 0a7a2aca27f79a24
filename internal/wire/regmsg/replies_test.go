package regmsg

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/pilot-go/pilot/addr"
)

func allReplies() []Reply {
	a := addr.New(0, 685)
	return []Reply{
		&RegisterOK{NodeID: 685, Address: a, PublicKey: keyB, AuthVersions: Array[string]{"v2"}},
		&HeartbeatOK{Time: 1}, &DeregisterOK{}, &LookupOK{NodeID: 1}, &ResolveOK{}, &PunchOK{},
		&RotateKeyOK{}, &SetKeyExpiryOK{}, &GetKeyInfoOK{}, &ReassignKeyOK{}, &SetVisibilityOK{},
		&SetHostnameOK{}, &SetTagsOK{}, &SetTaskExecOK{}, &ResolveHostnameOK{}, &ReportTrustOK{},
		&RevokeTrustOK{}, &CheckTrustOK{}, &RequestHandshakeOK{}, &PollHandshakesOK{},
		&RespondHandshakeOK{}, &CreateNetworkOK{}, &JoinNetworkOK{}, &LeaveNetworkOK{},
		&DeleteNetworkOK{}, &RenameNetworkOK{}, &ListNetworksOK{Networks: Array[NetworkEntry]{{Name: "n"}}},
		&ListNodesOK{Nodes: Array[NodeEntry]{{NodeID: 4}}}, &MemberOK{Op: TypeKickMember},
		&MemberOK{Op: TypePromoteMember, Role: RoleAdmin}, &MemberOK{Op: TypeDemoteMember, Role: RoleMember},
		&MemberOK{Op: TypeGetMemberRole, Role: RoleOwner}, &TransferOwnershipOK{},
		&SetNetworkPolicyOK{}, &GetNetworkPolicyOK{}, &InviteToNetworkOK{}, &PollInvitesOK{},
		&RespondInviteOK{}, &GetAuditLogOK{Entries: Array[AuditEntry]{{Action: ActionKeyRotated}}},
		&PoloScoreOK{}, &PoloScoreOK{Op: TypeUpdatePoloScore}, &PoloScoreOK{Op: TypeSetPoloScore},
		&BeaconRegisterOK{}, &BeaconListOK{},
	}
}

// TestReplies_C12_NoErrorKey is conformance item 12: no success reply has
// an "error" key; every reply starts with its type; every message type has
// a reply type.
func TestReplies_C12_NoErrorKey(t *testing.T) {
	types := map[string]bool{}
	for _, r := range allReplies() {
		b, err := MarshalReply(r)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(b), `{"type":"`+r.ReplyType()+`"`) {
			t.Fatalf("%s", b)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if _, bad := m["error"]; bad {
			t.Fatalf("%s has an error key", b)
		}
		if strings.Contains(string(b), "null") {
			t.Fatalf("%s contains null", b)
		}
		types[strings.TrimSuffix(r.ReplyType(), "_ok")] = true
	}
	for _, typ := range Types() {
		if !types[typ] {
			t.Errorf("no reply struct for %s", typ)
		}
	}
}

func TestRepliesAlwaysArrays(t *testing.T) {
	cases := map[Reply]string{
		&SetTagsOK{NodeID: 5}:     `{"type":"set_tags_ok","node_id":5,"tags":[]}`,
		&CheckTrustOK{}:           `{"type":"check_trust_ok","trusted":false,"trust_pair":false,"shared_networks":[]}`,
		&PollHandshakesOK{}:       `{"type":"poll_handshakes_ok","requests":[],"responses":[]}`,
		&DeregisterOK{}:           `{"type":"deregister_ok"}`,
		&SetNetworkPolicyOK{}:     `{"type":"set_network_policy_ok","network_id":0,"max_members":0,"allowed_ports":[],"description":""}`,
		&HeartbeatOK{Time: 7}:     `{"type":"heartbeat_ok","time":7,"policy_epoch":0}`,
		&RespondInviteOK{}:        `{"type":"respond_invite_ok","accepted":false,"network_id":0}`,
		&SetHostnameOK{NodeID: 1}: `{"type":"set_hostname_ok","node_id":1,"hostname":""}`,
	}
	for r, want := range cases {
		b, _ := MarshalReply(r)
		if string(b) != want {
			t.Errorf("got  %s\nwant %s", b, want)
		}
	}
	b, _ := MarshalReply(&LookupOK{NodeID: 685, Address: addr.New(0, 685), Networks: Array[addr.NetworkID]{0, 3}})
	if !strings.Contains(string(b), `"address":"0:0000.0000.02AD"`) || !strings.Contains(string(b), `"networks":[0,3]`) || !strings.Contains(string(b), `"capabilities":[]`) {
		t.Fatalf("%s", b)
	}
}

func TestMarshalReplyNoHTMLEscape(t *testing.T) {
	b, _ := MarshalReply(&HandshakeRequestsReply)
	if strings.Contains(string(b), `\u003c`) || !strings.Contains(string(b), `<b> & </b>`) {
		t.Fatalf("%s", b)
	}
	e := MarshalError(&Error{Code: CodeRateLimited, Message: "rate limited: <slow down>", RetryAfterMS: 1500})
	want := `{"type":"error","error":"rate limited: <slow down>","code":"rate_limited","retry_after_ms":1500}`
	if string(e) != want {
		t.Fatalf("got %s", e)
	}
}

var HandshakeRequestsReply = PollHandshakesOK{Requests: Array[HandshakeRequest]{{FromNodeID: 5, Justification: "<b> & </b>", Timestamp: 1}}}

func TestDecodeReply(t *testing.T) {
	body, _ := MarshalReply(&JoinNetworkOK{NetworkID: 3, Address: addr.New(3, 686), Role: RoleMember})
	var got JoinNetworkOK
	if err := UnmarshalReply(body, &got); err != nil || got.Address != addr.New(3, 686) || got.Role != "member" {
		t.Fatalf("%v %+v", err, got)
	}
	var wrong LeaveNetworkOK
	if err := UnmarshalReply(body, &wrong); err == nil {
		t.Fatalf("type mismatch accepted")
	}
	eb := MarshalError(Errorf(CodeNotFound, "node 42 is not registered; register again"))
	typ, _, err := DecodeReply(eb)
	var pe *Error
	if typ != TypeError || !errors.As(err, &pe) || pe.Code != CodeNotFound || !errors.Is(err, &Error{Code: CodeNotFound}) {
		t.Fatalf("%q %v", typ, err)
	}
	if err := UnmarshalReply(eb, &got); !errors.Is(err, &Error{Code: CodeNotFound}) {
		t.Fatalf("%v", err)
	}
	if _, _, err := DecodeReply([]byte(`[1]`)); err == nil {
		t.Fatalf("array accepted")
	}
	var al GetAuditLogOK
	ab, _ := MarshalReply(&GetAuditLogOK{Entries: Array[AuditEntry]{{Attrs: RawObject(`{"node_id":5}`)}}})
	if err := UnmarshalReply(ab, &al); err != nil || string(al.Entries[0].Attrs) != `{"node_id":5}` {
		t.Fatalf("%v %s", err, ab)
	}
}

func TestCodesComplete(t *testing.T) {
	if len(Codes) != 11 {
		t.Fatalf("%d codes", len(Codes))
	}
	for _, c := range Codes {
		if !c.Valid() {
			t.Fatal(c)
		}
	}
	if Code("nope").Valid() {
		t.Fatal("invalid code accepted")
	}
}
