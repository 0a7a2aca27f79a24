package ipcmsg

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/pilot-go/pilot/addr"
)

// hx decodes hex written with spaces between fields.
func hx(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// jx returns the hex of a JSON text, for message tables.
func jx(s string) string { return hex.EncodeToString([]byte(s)) }

type layoutCase struct {
	name string
	msg  Message
	hex  string // cmd ‖ payload, written by hand from ipc.md §5 and §10
}

var (
	a686 = addr.New(1, 686)
	a687 = addr.New(0, 687)
)

// requestLayouts covers every client → daemon command of ipc.md §5.0 and §10.1.
var requestLayouts = []layoutCase{
	{"Bind", Bind{Port: 1000}, "01 03e8"},
	{"Bind/ephemeral", Bind{Port: 0}, "01 0000"},
	{"Dial", Dial{Addr: a686, Port: 7}, "03 0001 000002ae 0007"},
	{"Send", Send{Conn: 3, Data: []byte("hi")}, "06 00000003 6869"},
	{"Send/empty", Send{Conn: 3}, "06 00000003"},
	{"Close", Close{Conn: 0xDEADBEEF}, "08 deadbeef"},
	{"SendTo/broadcast", SendTo{Addr: addr.New(2, addr.BroadcastNode), Port: 1002, Data: []byte("x")}, "0b 0002 ffffffff 03ea 78"},
	{"Info", Info{}, "0d"},
	{"Handshake/request", Handshake{Sub: HandshakeRequest, Node: 686, Text: "pls"}, "0f 01 000002ae 706c73"},
	{"Handshake/request-empty", Handshake{Sub: HandshakeRequest, Node: 686}, "0f 01 000002ae"},
	{"Handshake/approve", Handshake{Sub: HandshakeApprove, Node: 686}, "0f 02 000002ae"},
	{"Handshake/reject", Handshake{Sub: HandshakeReject, Node: 686, Text: "no"}, "0f 03 000002ae 6e6f"},
	{"Handshake/pending", Handshake{Sub: HandshakePending}, "0f 04"},
	{"Handshake/trusted", Handshake{Sub: HandshakeTrusted}, "0f 05"},
	{"Handshake/revoke", Handshake{Sub: HandshakeRevoke, Node: 686}, "0f 06 000002ae"},
	{"ResolveHostname", ResolveHostname{Hostname: "alpha"}, "11 616c706861"},
	{"SetHostname", SetHostname{Hostname: "alpha"}, "13 616c706861"},
	{"SetHostname/clear", SetHostname{}, "13"},
	{"SetVisibility/public", SetVisibility{Public: true}, "15 01"},
	{"SetVisibility/private", SetVisibility{}, "15 00"},
	{"Deregister", Deregister{}, "17"},
	{"SetTags", SetTags{Tags: []string{"gpu", "eu"}}, "19" + jx(`["gpu","eu"]`)},
	{"SetTags/none", SetTags{Tags: []string{}}, "19" + jx(`[]`)},
	{"SetWebhook", SetWebhook{URL: "https://h/x?a=1&b=2"}, "1b" + jx("https://h/x?a=1&b=2")},
	{"SetWebhook/disable", SetWebhook{}, "1b"},
	{"SetTaskExec/enable", SetTaskExec{Enable: true}, "1d 01"},
	{"SetTaskExec/disable", SetTaskExec{}, "1d 00"},
	{"Network/list", Network{Sub: NetworkList}, "1f 01"},
	{"Network/join", Network{Sub: NetworkJoin, Network: 1, Token: "tok"}, "1f 02 0001 746f6b"},
	{"Network/join-open", Network{Sub: NetworkJoin, Network: 1}, "1f 02 0001"},
	{"Network/leave", Network{Sub: NetworkLeave, Network: 1}, "1f 03 0001"},
	{"Network/members", Network{Sub: NetworkMembers, Network: 0}, "1f 04 0000"},
	{"Network/invite", Network{Sub: NetworkInvite, Network: 1, Node: 687}, "1f 05 0001 000002af"},
	{"Network/poll-invites", Network{Sub: NetworkPollInvites}, "1f 06"},
	{"Network/respond-accept", Network{Sub: NetworkRespond, Network: 1, Accept: true}, "1f 07 0001 01"},
	{"Network/respond-reject", Network{Sub: NetworkRespond, Network: 1}, "1f 07 0001 00"},
	{"Health", Health{}, "21"},
	{"Managed/score", Managed{Sub: ManagedScore, Network: 1, Node: 686, Delta: -2, Data: "t"}, "23 01 0001 000002ae fffffffe 74"},
	{"Managed/status", Managed{Sub: ManagedStatus}, "23 02"},
	{"Managed/status-net", Managed{Sub: ManagedStatus, Network: 3, HasNetwork: true}, "23 02 0003"},
	{"Managed/rankings", Managed{Sub: ManagedRankings, Network: 1, HasNetwork: true}, "23 03 0001"},
	{"Managed/cycle", Managed{Sub: ManagedCycle}, "23 04"},
	{"Managed/policy-get", Managed{Sub: ManagedPolicy, Action: ManagedGet, Network: 1}, "23 05 00 0001"},
	{"Managed/policy-set", Managed{Sub: ManagedPolicy, Action: ManagedSet, Network: 1, Data: "{}"}, "23 05 01 0001 7b7d"},
	{"Managed/member-tags", Managed{Sub: ManagedMemberTags, Action: ManagedGet, Network: 1, Node: 686}, "23 06 00 0001 000002ae"},
	{"RegistryOp", RegistryOp{Op: OpNetworkJoin, AdminToken: "s3", Args: map[string]json.RawMessage{
		"token": json.RawMessage(`"t<&>"`), "network_id": json.RawMessage(`1`)}},
		"40" + jx(`{"op":"network.join","admin_token":"s3","network_id":1,"token":"t<&>"}`)},
	{"RegistryOp/no-args", RegistryOp{Op: OpWebhookStatus}, "40" + jx(`{"op":"webhook.status"}`)},
	{"Hello", Hello{Client: "pilot-go/1.0", Features: []string{"tagged", "datagram-bind", "close-reason"}},
		"42" + jx(`{"client":"pilot-go/1.0","features":["tagged","datagram-bind","close-reason"]}`)},
	{"Tagged/Bind", Tagged{Tag: 7, Inner: Bind{Port: 80}}, "44 00000007 01 0050"},
	{"Tagged/Send", Tagged{Tag: 0xFFFFFFFF, Inner: Send{Conn: 3, Data: []byte{0}}}, "44 ffffffff 06 00000003 00"},
	{"Tagged/Network", Tagged{Tag: 9, Inner: Network{Sub: NetworkLeave, Network: 2}}, "44 00000009 1f 03 0002"},
	{"Unbind", Unbind{Port: 80}, "48 0050"},
	{"DialEx", DialEx{Addr: a686, Port: 7, TimeoutMillis: 5000, Flags: DialNagle}, "4a 0001 000002ae 0007 00001388 01"},
	{"DialEx/max", DialEx{Addr: a686, Port: 7, TimeoutMillis: MaxDialTimeoutMillis}, "4a 0001 000002ae 0007 000493e0 00"},
	{"ConnOpt", ConnOpt{Conn: 3, Option: OptNagle, Value: []byte{1}}, "4b 00000003 01 01"},
	{"SendToFrom", SendToFrom{Addr: a686, DstPort: 1002, SrcPort: 49152, Data: []byte("d")}, "4d 0001 000002ae 03ea c000 64"},
}

// replyLayouts covers every daemon → client message.
var replyLayouts = []layoutCase{
	{"BindOK", BindOK{Port: 49152}, "02 c000"},
	{"DialOK", DialOK{Conn: 3}, "04 00000003"},
	{"Accept", Accept{LocalPort: 1000, Conn: 3, Remote: a687, RemotePort: 49153}, "05 03e8 00000003 0000 000002af c001"},
	{"Recv", Recv{Conn: 3, Data: []byte("hi")}, "07 00000003 6869"},
	{"CloseOK", CloseOK{Conn: 3}, "09 00000003"},
	{"Error", Error{Code: CodeNotFound, Text: "connection 9 not found"}, "0a 0003" + jx("connection 9 not found")},
	{"Error/original", Error{Code: CodeInternal, Text: "dial timeout"}, "0a 0001" + jx("dial timeout")},
	{"RecvFrom", RecvFrom{Src: a686, SrcPort: 49152, DstPort: 1002, Data: []byte("hey")}, "0c 0001 000002ae c000 03ea 686579"},
	{"InfoOK", InfoOK{Body: json.RawMessage(`{"node_id":686}`)}, "0e" + jx(`{"node_id":686}`)},
	{"HandshakeOK", HandshakeOK{Body: json.RawMessage(`{"status":"sent","node_id":687}`)}, "10" + jx(`{"status":"sent","node_id":687}`)},
	{"ResolveHostnameOK", ResolveHostnameOK{Body: json.RawMessage(`{}`)}, "12 7b7d"},
	{"SetHostnameOK", SetHostnameOK{Body: json.RawMessage(`{}`)}, "14 7b7d"},
	{"SetVisibilityOK", SetVisibilityOK{Body: json.RawMessage(`{}`)}, "16 7b7d"},
	{"DeregisterOK", DeregisterOK{Body: json.RawMessage(`{}`)}, "18 7b7d"},
	{"SetTagsOK", SetTagsOK{Body: json.RawMessage(`{}`)}, "1a 7b7d"},
	{"SetWebhookOK", SetWebhookOK{Body: json.RawMessage(`{"webhook":""}`)}, "1c" + jx(`{"webhook":""}`)},
	{"SetTaskExecOK", SetTaskExecOK{Body: json.RawMessage(`{}`)}, "1e 7b7d"},
	{"NetworkOK", NetworkOK{Body: json.RawMessage(`{}`)}, "20 7b7d"},
	{"HealthOK", HealthOK{Body: json.RawMessage(`{}`)}, "22 7b7d"},
	{"ManagedOK", ManagedOK{Body: json.RawMessage(`{}`)}, "24 7b7d"},
	{"RegistryOpOK", RegistryOpOK{Body: json.RawMessage(`{}`)}, "41 7b7d"},
	{"HelloOK", HelloOK{Body: json.RawMessage(`{}`)}, "43 7b7d"},
	{"TaggedReply/OK", TaggedReply{Tag: 7, Inner: OK{}}, "45 00000007 46"},
	{"TaggedReply/Error", TaggedReply{Tag: 8, Inner: Error{Code: CodeInvalidArgument, Text: "duplicate tag"}}, "45 00000008 0a 0002" + jx("duplicate tag")},
	{"TaggedReply/DialOK", TaggedReply{Tag: 9, Inner: DialOK{Conn: 4}}, "45 00000009 04 00000004"},
	{"TaggedReply/CloseOK", TaggedReply{Tag: 10, Inner: CloseOK{Conn: 4}}, "45 0000000a 09 00000004"},
	{"OK", OK{}, "46"},
	{"ConnClosed", ConnClosed{Conn: 3, Reason: ReasonReset, Detail: "reset"}, "47 00000003 02 7265736574"},
	{"ConnClosed/no-detail", ConnClosed{Conn: 3, Reason: ReasonPeerClosed}, "47 00000003 00"},
	{"UnbindOK", UnbindOK{Port: 80}, "49 0050"},
	{"ConnOptOK", ConnOptOK{Conn: 3, Option: OptNagle, Value: []byte{0}}, "4c 00000003 01 00"},
}

func TestIPC_RequestLayouts(t *testing.T) {
	for _, tc := range requestLayouts {
		t.Run(tc.name, func(t *testing.T) {
			want := hx(t, tc.hex)
			if got := Marshal(tc.msg); !bytes.Equal(got, want) {
				t.Fatalf("encode:\n got %x\nwant %x", got, want)
			}
			got, err := DecodeRequest(want)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !reflect.DeepEqual(got, tc.msg) {
				t.Fatalf("decode:\n got %#v\nwant %#v", got, tc.msg)
			}
			if got.Cmd() != Cmd(want[0]) {
				t.Fatalf("Cmd() = %v, want %v", got.Cmd(), Cmd(want[0]))
			}
			if _, err := DecodeReply(want); err == nil && want[0] != byte(CmdTagged) {
				t.Fatalf("DecodeReply accepted request %v", Cmd(want[0]))
			}
		})
	}
}

func TestIPC_ReplyLayouts(t *testing.T) {
	for _, tc := range replyLayouts {
		t.Run(tc.name, func(t *testing.T) {
			want := hx(t, tc.hex)
			if got := Marshal(tc.msg); !bytes.Equal(got, want) {
				t.Fatalf("encode:\n got %x\nwant %x", got, want)
			}
			got, err := DecodeReply(want)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !reflect.DeepEqual(got, tc.msg) {
				t.Fatalf("decode:\n got %#v\nwant %#v", got, tc.msg)
			}
			if _, err := DecodeRequest(want); err == nil {
				t.Fatalf("DecodeRequest accepted reply %v", Cmd(want[0]))
			}
		})
	}
}

// TestIPC_OKRepliesAreRequestPlusOne checks ipc.md §5.0 "Each …OK byte is
// its request byte + 1" for the original commands.
func TestIPC_OKRepliesAreRequestPlusOne(t *testing.T) {
	pairs := map[Cmd]Cmd{
		CmdBind: CmdBindOK, CmdDial: CmdDialOK, CmdClose: CmdCloseOK, CmdInfo: CmdInfoOK,
		CmdHandshake: CmdHandshakeOK, CmdResolveHostname: CmdResolveHostnameOK,
		CmdSetHostname: CmdSetHostnameOK, CmdSetVisibility: CmdSetVisibilityOK,
		CmdDeregister: CmdDeregisterOK, CmdSetTags: CmdSetTagsOK, CmdSetWebhook: CmdSetWebhookOK,
		CmdSetTaskExec: CmdSetTaskExecOK, CmdNetwork: CmdNetworkOK, CmdHealth: CmdHealthOK,
		CmdManaged: CmdManagedOK, CmdRegistryOp: CmdRegistryOpOK, CmdHello: CmdHelloOK,
		CmdTagged: CmdTaggedReply, CmdUnbind: CmdUnbindOK, CmdConnOpt: CmdConnOptOK,
	}
	for req, rep := range pairs {
		if rep != req+1 {
			t.Errorf("%v = 0x%02X, reply %v = 0x%02X", req, uint8(req), rep, uint8(rep))
		}
	}
	if CmdBind.String() != "Bind" || Cmd(0x4E).String() != "0x4E" {
		t.Errorf("String: %q %q", CmdBind.String(), Cmd(0x4E).String())
	}
}

// TestIPC_TrailingBytesIgnored checks ipc.md §2 "Extra trailing bytes are
// ignored unless a command says otherwise" for fixed-size payloads.
func TestIPC_TrailingBytesIgnored(t *testing.T) {
	cases := []struct {
		hex  string
		want Request
	}{
		{"01 0050 ff", Bind{Port: 80}},
		{"08 00000003 ffff", Close{Conn: 3}},
		{"0d 00", Info{}},
		{"0f 02 000002ae 7878", Handshake{Sub: HandshakeApprove, Node: 686}},
		{"15 01 00", SetVisibility{Public: true}},
		{"15 02", SetVisibility{Public: false}},
		{"1f 03 0001 99", Network{Sub: NetworkLeave, Network: 1}},
		{"1f 07 0001 02", Network{Sub: NetworkRespond, Network: 1, Accept: false}},
		{"23 02 0003 00", Managed{Sub: ManagedStatus, Network: 3, HasNetwork: true}},
		{"23 02 00", Managed{Sub: ManagedStatus}},
		{"4a 0001 000002ae 0007 00000000 00 ff", DialEx{Addr: a686, Port: 7}},
	}
	for _, tc := range cases {
		got, err := DecodeRequest(hx(t, tc.hex))
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %#v, %v; want %#v", tc.hex, got, err, tc.want)
		}
	}
}

func TestIPC_TaggedWrapsInnerMessage(t *testing.T) {
	inner := Dial{Addr: a686, Port: 1001}
	msg := Marshal(Tagged{Tag: 42, Inner: inner})
	if want := append(hx(t, "44 0000002a"), Marshal(inner)...); !bytes.Equal(msg, want) {
		t.Fatalf("got %x want %x", msg, want)
	}
	got, err := DecodeRequest(msg)
	if err != nil {
		t.Fatal(err)
	}
	tg, ok := got.(Tagged)
	if !ok || tg.Tag != 42 || tg.Inner != inner {
		t.Fatalf("got %#v", got)
	}
	reply := Marshal(TaggedReply{Tag: 42, Inner: DialOK{Conn: 5}})
	r, err := DecodeReply(reply)
	if err != nil || !reflect.DeepEqual(r, TaggedReply{Tag: 42, Inner: DialOK{Conn: 5}}) {
		t.Fatalf("reply: %#v, %v", r, err)
	}
}

func TestIPC_ConnOptNagleValue(t *testing.T) {
	for _, tc := range []struct {
		val  []byte
		want bool
		ok   bool
	}{{[]byte{0}, false, true}, {[]byte{1}, true, true}, {[]byte{2}, false, false}, {nil, false, false}} {
		got, err := ConnOpt{Option: OptNagle, Value: tc.val}.Nagle()
		if got != tc.want || (err == nil) != tc.ok {
			t.Errorf("%x: %v, %v", tc.val, got, err)
		}
	}
}
