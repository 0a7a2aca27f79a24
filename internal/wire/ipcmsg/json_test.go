package ipcmsg

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"testing"

	"github.com/pilot-go/pilot/addr"
)

// infoExample is the example of ipc.md §6, compacted.
const infoExample = `{"node_id":686,"address":"0:0000.0000.02AE","hostname":"alpha","uptime_secs":3605,"connections":1,` +
	`"ports":5,"peers":1,"encrypted_peers":1,"authenticated_peers":1,"encrypt":true,"identity":true,` +
	`"public_key":"JUO5L/EJVRFHatyDadtt3JM2ZaEZeN2hQE7hBmypVZ0=","email":"","bytes_sent":5120,` +
	`"bytes_recv":4880,"pkts_sent":40,"pkts_recv":38,"tunnel_encryption_success":37,` +
	`"tunnel_encryption_failure":0,"handshake_pending_count":0,"version":"1.5.0",` +
	`"networks":[{"network_id":1,"address":"1:0001.0000.02AE"}],` +
	`"peer_list":[{"node_id":687,"endpoint":"203.0.113.7:4000","encrypted":true,"authenticated":true,"relay":false}],` +
	`"conn_list":[{"id":3,"local_port":49153,"remote_addr":"0:0000.0000.02AF","remote_port":7,` +
	`"state":"ESTABLISHED","cong_win":40960,"ssthresh":524288,"in_flight":0,"srtt_ms":12,"rttvar_ms":6,` +
	`"unacked":0,"ooo_buf":0,"peer_recv_win":2097152,"recv_win":4194304,"in_recovery":false,` +
	`"bytes_sent":6,"bytes_recv":6,"segs_sent":1,"segs_recv":1,"retransmits":0,"fast_retx":0,` +
	`"sack_recv":0,"sack_sent":0,"dup_acks":0}]}`

func TestIPC_InfoExampleRoundTrip(t *testing.T) {
	var info NodeInfo
	dec := json.NewDecoder(bytes.NewReader([]byte(infoExample)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&info); err != nil {
		t.Fatal(err)
	}
	if info.NodeID != 686 || info.Address != addr.New(0, 686) || info.ConnList[0].State != StateEstablished {
		t.Fatalf("decoded %+v", info)
	}
	got, err := EncodeJSON(info)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != infoExample {
		t.Fatalf("re-encoded:\n%s\nwant\n%s", got, infoExample)
	}
}

func keysOf(t *testing.T, b []byte) []string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// TestIPC_C8_InfoKeysAlwaysPresent: every key of ipc.md §6 is present with
// its type when there are no peers, connections or networks; lists are [].
func TestIPC_C8_InfoKeysAlwaysPresent(t *testing.T) {
	b, err := EncodeJSON(NodeInfo{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"address", "authenticated_peers", "bytes_recv", "bytes_sent", "conn_list",
		"connections", "email", "encrypt", "encrypted_peers", "handshake_pending_count", "hostname",
		"identity", "networks", "node_id", "peer_list", "peers", "pkts_recv", "pkts_sent", "ports",
		"public_key", "tunnel_encryption_failure", "tunnel_encryption_success", "uptime_secs", "version"}
	if got := keysOf(t, b); !slices.Equal(got, want) {
		t.Fatalf("keys %v\nwant %v", got, want)
	}
	for _, frag := range []string{`"networks":[]`, `"peer_list":[]`, `"conn_list":[]`, `"address":"0:0000.0000.0000"`} {
		if !bytes.Contains(b, []byte(frag)) {
			t.Errorf("missing %s in %s", frag, b)
		}
	}
	// Plain json.Marshal goes through MarshalJSON too.
	if b2, _ := json.Marshal(NodeInfo{}); !bytes.Equal(b, b2) {
		t.Errorf("json.Marshal differs: %s", b2)
	}
	conn, _ := EncodeJSON(InfoConn{})
	wantConn := []string{"bytes_recv", "bytes_sent", "cong_win", "dup_acks", "fast_retx", "id",
		"in_flight", "in_recovery", "local_port", "ooo_buf", "peer_recv_win", "recv_win", "remote_addr",
		"remote_port", "retransmits", "rttvar_ms", "sack_recv", "sack_sent", "segs_recv", "segs_sent",
		"srtt_ms", "ssthresh", "state", "unacked"}
	if got := keysOf(t, conn); !slices.Equal(got, wantConn) {
		t.Fatalf("conn_list keys %v", got)
	}
}

// TestIPC_C9_HealthKeys: the original six keys plus registry and
// webhook.dropped; key_expires_at only when set.
func TestIPC_C9_HealthKeys(t *testing.T) {
	h := HealthReport{Status: HealthStatusOK, UptimeSeconds: 5, Registry: RegistryStatusOK,
		Webhook: WebhookCounters{Configured: true, Dropped: 2, LastEventID: 9}}
	b, err := EncodeJSON(h)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"status":"ok","uptime_seconds":5,"connections":0,"peers":0,"bytes_sent":0,"bytes_recv":0,` +
		`"registry":"ok","webhook":{"configured":true,"queued":0,"delivered":0,"failed":0,"dropped":2,"last_event_id":9}}`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
	h.KeyExpiresAt = "2026-05-01T00:00:00Z"
	b, _ = EncodeJSON(h)
	if !bytes.Contains(b, []byte(`"key_expires_at":"2026-05-01T00:00:00Z"`)) {
		t.Fatalf("no expiry: %s", b)
	}
}

func TestIPC_HelloReplyExample(t *testing.T) {
	want := `{"daemon":"pilot-daemon","version":"1.5.0","ipc_version":1,"node_id":686,` +
		`"address":"0:0000.0000.02AE","max_message":1048576,` +
		`"features":["tagged","datagram-bind","close-reason","registry-op","unbind","dial-ex","conn-opt","send-to-from"]}`
	h := HelloReply{Daemon: DaemonName, Version: "1.5.0", IPCVersion: IPCVersion, NodeID: 686,
		Address: addr.New(0, 686), MaxMessage: MaxMessage, Features: DaemonFeatures()}
	b, err := EncodeJSON(h)
	if err != nil || string(b) != want {
		t.Fatalf("got %s, %v", b, err)
	}
	var back HelloReply
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, h) {
		t.Fatalf("back %+v, %v", back, err)
	}
	empty, _ := EncodeJSON(HelloReply{})
	if !bytes.Contains(empty, []byte(`"features":[]`)) {
		t.Fatalf("null features: %s", empty)
	}
}

func TestIPC_HelloFeatures(t *testing.T) {
	m, err := DecodeRequest(append([]byte{byte(CmdHello)}, `{"client":"x/1","features":["tagged","future"],"extra":1}`...))
	if err != nil {
		t.Fatal(err)
	}
	h := m.(Hello)
	if !h.Has(FeatureTagged) || h.Has(FeatureDatagramBind) || h.Client != "x/1" {
		t.Fatalf("%+v", h)
	}
	m, err = DecodeRequest(append([]byte{byte(CmdHello)}, `{}`...))
	if err != nil || !reflect.DeepEqual(m, Hello{Features: []string{}}) {
		t.Fatalf("%#v %v", m, err)
	}
	if _, err := DecodeRequest(append([]byte{byte(CmdHello)}, `[`...)); err == nil {
		t.Fatal("bad JSON accepted")
	}
}

// TestIPC_HandshakeReplyShapes checks the JSON of ipc.md §5.10.
func TestIPC_HandshakeReplyShapes(t *testing.T) {
	cases := []struct {
		v    any
		want string
	}{
		{HandshakeStatus{Status: HandshakeSent, NodeID: 687}, `{"status":"sent","node_id":687}`},
		{HandshakeStatus{Status: HandshakeRevoked, NodeID: 687}, `{"status":"revoked","node_id":687}`},
		{HandshakePendingList{}, `{"pending":[]}`},
		{HandshakeTrustedList{}, `{"trusted":[]}`},
		{HandshakePendingList{Pending: []PendingRequest{{NodeID: 9, PublicKey: "k", Justification: "<hi> & bye", ReceivedAt: 1774606503}}},
			`{"pending":[{"node_id":9,"public_key":"k","justification":"<hi> & bye","received_at":1774606503}]}`},
		{HandshakeTrustedList{Trusted: []TrustedPeer{{NodeID: 9, PublicKey: "k", ApprovedAt: 5, Mutual: true, Network: 1}}},
			`{"trusted":[{"node_id":9,"public_key":"k","approved_at":5,"mutual":true,"network":1}]}`},
		{ManagedPolicyReply{Type: ManagedPolicyOKType, NetworkID: 3, Engine: ManagedEngineNone},
			`{"type":"managed_policy_ok","network_id":3,"engine":"none"}`},
		{WebhookReply{Webhook: "https://h/x?a=1&b=<2>"}, `{"webhook":"https://h/x?a=1&b=<2>"}`},
	}
	for _, tc := range cases {
		b, err := EncodeJSON(tc.v)
		if err != nil || string(b) != tc.want {
			t.Errorf("got %s, %v\nwant %s", b, err, tc.want)
		}
	}
}

func TestIPC_RegistryOpArguments(t *testing.T) {
	m, err := DecodeRequest(append([]byte{byte(CmdRegistryOp)},
		`{"op":"network.invite","network_id":  3,"node_id":4294967295,"all":true,"name":"n","neg":-1,"frac":1.5,"nul":null}`...))
	if err != nil {
		t.Fatal(err)
	}
	op := m.(RegistryOp)
	if op.Op != OpNetworkInvite || op.AdminToken != "" || string(op.Args["network_id"]) != "3" {
		t.Fatalf("%+v", op)
	}
	if v, err := op.RequireUint("network_id", 65535); err != nil || v != 3 {
		t.Errorf("network_id: %d %v", v, err)
	}
	if _, err := op.RequireUint("node_id", MaxNodeID); err == nil || err.Error() != `argument "node_id" must be an integer in 0..4294967294` {
		t.Errorf("node_id: %v", err)
	}
	for _, name := range []string{"neg", "frac", "name"} {
		if _, _, err := op.Uint(name, 10); err == nil {
			t.Errorf("%s accepted as uint", name)
		}
	}
	if _, err := op.RequireString("token"); err == nil || err.Error() != `missing argument "token"` {
		t.Errorf("token: %v", err)
	}
	if _, err := op.RequireString("nul"); err == nil {
		t.Errorf("null accepted as present")
	}
	if v, ok, err := op.Bool("all"); !v || !ok || err != nil {
		t.Errorf("all: %v %v %v", v, ok, err)
	}
	if _, _, err := op.Bool("name"); err == nil || err.Error() != `argument "name" must be true or false` {
		t.Errorf("name as bool: %v", err)
	}
	if _, _, err := op.String("all"); err == nil || err.Error() != `argument "all" must be a string` {
		t.Errorf("all as string: %v", err)
	}
	for _, op := range knownOps {
		if !KnownOp(op) {
			t.Errorf("%s unknown", op)
		}
	}
	if len(knownOps) != 27 || KnownOp("network.nope") {
		t.Errorf("op list: %d", len(knownOps))
	}
}
