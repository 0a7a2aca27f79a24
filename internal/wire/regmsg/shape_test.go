package regmsg

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func assertEqualRequests(t testing.TB, a, b Request) {
	t.Helper()
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("requests differ:\n%#v\n%#v", a, b)
	}
}

func wantCode(t *testing.T, body string, code Code, msgPart string) {
	t.Helper()
	_, err := DecodeRequest([]byte(body))
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("%s: got %v, want %s", body, err, code)
	}
	if e.Code != code || !strings.Contains(e.Message, msgPart) {
		t.Fatalf("%s: got %s %q, want %s containing %q", body, e.Code, e.Message, code, msgPart)
	}
	if strings.Contains(e.Message, "request failed") {
		t.Fatalf("generic message %q", e.Message)
	}
}

// TestShape_C13 covers conformance item 13.
func TestShape_C13(t *testing.T) {
	bad := []struct{ body, part string }{
		{`{"type":"lookup","node_id":"5"}`, `node_id must be an integer in 1..4294967294, got "5"`},
		{`{"type":"lookup","node_id":5.5}`, `node_id must be an integer in 1..4294967294, got 5.5`},
		{`{"type":"lookup","node_id":5e0}`, `node_id must be an integer`},
		{`{"type":"lookup","node_id":-1}`, `node_id must be an integer in 1..4294967294, got -1`},
		{`{"type":"lookup","node_id":0}`, `node_id must be an integer`},
		{`{"type":"lookup","node_id":4294967295}`, `node_id`},
		{`{"type":"lookup","node_id":99999999999999999999999}`, `node_id`},
		{`{"type":"list_nodes","network_id":70000}`, `network_id must be an integer in 0..65535, got 70000`},
		{`{"type":"heartbeat","node_id":5,"node_id":5}`, `duplicate key "node_id"`},
		{`{"type":"heartbeat","node_id":5,"x":{"a":1,"a":1}}`, `duplicate key "a"`},
		{`{"type":"heartbeat","node_id":5,"x":[{"a":1,"a":2}]}`, `duplicate key "a"`},
		{`{"type":"heartbeat","type":"heartbeat"}`, `duplicate key "type"`},
		{`{"type":"heartbeat","node_id":null}`, `node_id must not be null`},
		{`{"type":"heartbeat","ts":null}`, `ts must not be null`},
		{`{"type":"register","public_key":"` + keyB + `","lan_addrs":[null]}`, `lan_addrs[0] must not be null`},
		{`{"type":"set_visibility","node_id":5,"public":"true"}`, `public must be true or false`},
		{`{"type":"set_visibility","node_id":5}`, `missing required field public`},
		{`{"type":"set_visibility","node_id":5,"public":1}`, `public must be true or false`},
		{`{"type":"register","public_key":"` + keyB + `","owner":"a\u0001b"}`, `owner must not contain control characters`},
		{`{"type":"register","public_key":"` + keyB + `","owner":"a\u007fb"}`, `owner must not contain control characters`},
		{`{"type":"heartbeat","node_id":5,"ts":1.5}`, `ts must be an integer`},
		{`{"type":"heartbeat","node_id":5,"nonce":5}`, `nonce must be a string`},
		{`{"type":"heartbeat","node_id":5,"admin_token":5}`, `admin_token must be a string, got a number`},
	}
	// Objects larger than smallObject find duplicates through a set:
	// the duplicate of an early key, of the key that crossed the
	// threshold, and of a late one.
	many := func(extra string) string {
		var b strings.Builder
		b.WriteString(`{"type":"heartbeat","node_id":5,"x":{`)
		for i := range 3 * smallObject {
			fmt.Fprintf(&b, `"k%d":%d,`, i, i)
		}
		return b.String() + extra + `"end":0}}`
	}
	for _, k := range []int{0, smallObject - 1, smallObject, 3*smallObject - 1} {
		bad = append(bad, struct{ body, part string }{many(fmt.Sprintf(`"k%d":1,`, k)), fmt.Sprintf(`duplicate key "k%d"`, k)})
	}
	mustDecode(t, many(""))
	for _, c := range bad {
		wantCode(t, c.body, CodeInvalidArgument, c.part)
	}

	// Node_ID differs only in case: an unknown key, ignored.
	r := mustDecode(t, `{"type":"heartbeat","Node_ID":"x","node_id":5}`)
	if r.(*Heartbeat).NodeID != 5 {
		t.Fatalf("node_id = %d", r.(*Heartbeat).NodeID)
	}
	r = mustDecode(t, `{"type":"heartbeat","Node_ID":5}`)
	if r.Signer() != 0 {
		t.Fatalf("Node_ID was taken for node_id")
	}
	// Unsigned heartbeat without node_id is not a shape error (the server
	// answers unauthenticated).
	r = mustDecode(t, `{"type":"heartbeat"}`)
	if r.Signer() != 0 || AuthVersion(r) != AuthUnsigned {
		t.Fatalf("unexpected %#v", r)
	}
	// Signer field 0 is "no signer", also where the Req column says Y.
	mustDecode(t, `{"type":"resolve","node_id":9,"requester_id":0}`)
	mustDecode(t, `{"type":"create_network","node_id":0,"name":"prod","admin_token":"t"}`)
	// Unknown fields are ignored whatever they hold, null included.
	mustDecode(t, `{"type":"heartbeat","node_id":5,"future":null,"deep":[[[{"x":null}]]],"inviter_id":"z"}`)
}

func TestShape_Envelope(t *testing.T) {
	wantCode(t, ``, CodeInvalidArgument, "empty")
	wantCode(t, `null`, CodeInvalidArgument, "must be a JSON object")
	wantCode(t, `[1]`, CodeInvalidArgument, "must be a JSON object")
	wantCode(t, `{"type":"heartbeat"} x`, CodeInvalidArgument, "not valid JSON")
	wantCode(t, "{\"type\":\"heartbeat\",\"x\":\"\xff\"}", CodeInvalidArgument, "UTF-8")
	wantCode(t, `{}`, CodeInvalidArgument, "missing required field type")
	wantCode(t, `{"type":5}`, CodeInvalidArgument, "type must be a string")
	wantCode(t, `{"type":"set_expr_policy"}`, CodeInvalidArgument, `unsupported message type "set_expr_policy"`)
	wantCode(t, `{"type":"subscribe_replication"}`, CodeFailedPrecondition, "replication is not supported")
	wantCode(t, strings.Repeat("[", 100)+strings.Repeat("]", 100), CodeInvalidArgument, "deeper")
	wantCode(t, `{"type":"heartbeat","x":`+strings.Repeat("[", 100)+strings.Repeat("]", 100)+`}`, CodeInvalidArgument, "deeper")
}

// TestShape_C40_AllowedPorts covers conformance item 40.
func TestShape_C40_AllowedPorts(t *testing.T) {
	r := mustDecode(t, `{"type":"set_network_policy","node_id":5,"network_id":3,"allowed_ports":[443,80,80]}`).(*SetNetworkPolicy)
	if got := fmt.Sprint(NormalizePorts(r.AllowedPorts)); got != "[80 443]" {
		t.Fatalf("NormalizePorts = %s", got)
	}
	if got := fmt.Sprint(r.SignedParams()); got != "[3 allowed_ports  443,80,80 ]" {
		t.Fatalf("signed params (request order) = %s", got)
	}
	many := "[" + strings.TrimSuffix(strings.Repeat("1,", 257), ",") + "]"
	wantCode(t, `{"type":"set_network_policy","network_id":3,"allowed_ports":`+many+`}`, CodeInvalidArgument, "allowed_ports must have at most 256 entries")
	wantCode(t, `{"type":"set_network_policy","network_id":3,"allowed_ports":[0]}`, CodeInvalidArgument, "allowed_ports[0] must be an integer in 1..65535")
	wantCode(t, `{"type":"set_network_policy","network_id":3,"allowed_ports":[65536]}`, CodeInvalidArgument, "allowed_ports[0]")
	wantCode(t, `{"type":"set_network_policy","network_id":3}`, CodeInvalidArgument, "at least one of")
	wantCode(t, `{"type":"set_network_policy","network_id":3,"max_members":1000001}`, CodeInvalidArgument, "max_members")
	wantCode(t, `{"type":"set_network_policy","network_id":3,"description":"`+strings.Repeat("é", 257)+`"}`, CodeInvalidArgument, "at most 256 characters")
	d := mustDecode(t, `{"type":"set_network_policy","network_id":3,"description":"`+strings.Repeat("é", 256)+`","allowed_ports":[]}`).(*SetNetworkPolicy)
	if d.Fields() != "allowed_ports,description" || d.AllowedPorts == nil {
		t.Fatalf("fields %q ports %v", d.Fields(), d.AllowedPorts)
	}
	if NormalizePorts(nil) == nil {
		t.Fatalf("NormalizePorts(nil) must be non-nil")
	}
}

// TestShape_C60_Tags covers conformance item 60 and the set_tags rules.
func TestShape_C60_Tags(t *testing.T) {
	eleven := `["a","b","c","d","e","f","g","h","i","j","k"]`
	wantCode(t, `{"type":"set_tags","node_id":5,"tags":`+eleven+`}`, CodeInvalidArgument, "at most 10")
	// Duplicates are removed first: 11 entries that collapse to 10 pass.
	r := mustDecode(t, `{"type":"set_tags","node_id":5,"tags":["a","#a","b","c","d","e","f","g","h","i","j"]}`).(*SetTags)
	if n := len(NormalizeTags(r.Tags)); n != 10 {
		t.Fatalf("normalized %d", n)
	}
	for _, body := range []string{`{"type":"set_tags","node_id":5,"tags":[]}`, `{"type":"set_tags","node_id":5,"tags":null}`} {
		r := mustDecode(t, body).(*SetTags)
		if r.Tags == nil || len(r.Tags) != 0 || r.SignedParams()[0] != "" {
			t.Fatalf("%s: tags %#v", body, r.Tags)
		}
	}
	if r := mustDecode(t, `{"type":"set_tags","node_id":5}`).(*SetTags); r.Tags != nil {
		t.Fatalf("absent tags must be nil")
	}
}

func TestShape_Fields(t *testing.T) {
	pk := `"public_key":"` + keyB + `"`
	bad := []struct{ body, part string }{
		{`{"type":"set_tags","node_id":5,"tags":["#GPU"]}`, `tags[0] "#GPU" is invalid`},
		{`{"type":"set_tags","node_id":5,"tags":["-a"]}`, `tags[0]`},
		{`{"type":"set_tags","node_id":5,"tags":[null]}`, `tags[0] must not be null`},
		{`{"type":"set_tags","node_id":5,"tags":[1]}`, `tags[0] must be a string`},
		{`{"type":"set_tags","node_id":5,"tags":"a"}`, `tags must be an array`},
		{`{"type":"register"}`, `missing required field public_key`},
		{`{"type":"register","public_key":"AAAA"}`, `public_key must be the base64 of a 32-byte`},
		{`{"type":"register",` + pk + `,"lan_addrs":["1.2.3.4"]}`, `lan_addrs[0] "1.2.3.4"`},
		{`{"type":"register",` + pk + `,"lan_addrs":["1.2.3.4:0"]}`, `lan_addrs[0]`},
		{`{"type":"register",` + pk + `,"lan_addrs":["a","b","c","d","e","f","g","h","i","j","k","l","m","n","o","p","q"]}`, `at most 16`},
		{`{"type":"register",` + pk + `,"capabilities":["Auth"]}`, `capabilities[0] "Auth"`},
		{`{"type":"register",` + pk + `,"version":"` + strings.Repeat("v", 65) + `"}`, `version must be at most 64 bytes`},
		{`{"type":"register",` + pk + `,"version":"é"}`, `version must be printable ASCII`},
		{`{"type":"register",` + pk + `,"owner":"` + strings.Repeat("o", 255) + `"}`, `owner must be at most 254 bytes`},
		{`{"type":"register",` + pk + `,"listen_addr":"` + strings.Repeat("l", 263) + `"}`, `listen_addr must be at most 262`},
		{`{"type":"register",` + pk + `,"hostname":"a\nb"}`, `hostname must not contain control`},
		{`{"type":"register",` + pk + `,"hostname":5}`, `hostname must be a string`},
		{`{"type":"set_hostname","node_id":5,"hostname":"localhost"}`, `reserved`},
		{`{"type":"set_hostname","node_id":5,"hostname":"A"}`, `invalid`},
		{`{"type":"set_hostname","node_id":5}`, `missing required field hostname`},
		{`{"type":"create_network","name":"backbone"}`, `reserved`},
		{`{"type":"create_network","name":"x","join_rule":"closed"}`, `join_rule must be`},
		{`{"type":"create_network","name":"x","join_rule":"token"}`, `token is required`},
		{`{"type":"create_network","name":"x","token":"t"}`, `token is only allowed`},
		{`{"type":"create_network","name":"x","network_admin_token":"short"}`, `network_admin_token must be 16-256 bytes`},
		{`{"type":"create_network","name":"x","join_rule":"token","token":"` + strings.Repeat("t", 257) + `"}`, `token must be at most 256`},
		{`{"type":"create_network","name":"x","enterprise":"yes"}`, `enterprise must be true or false`},
		{`{"type":"request_handshake","from_node_id":5,"to_node_id":6,"justification":"` + strings.Repeat("j", 1025) + `"}`, `justification must be at most 1024 bytes`},
		{`{"type":"request_handshake","from_node_id":5}`, `missing required field to_node_id`},
		{`{"type":"respond_handshake","node_id":5,"peer_id":6}`, `missing required field accept`},
		{`{"type":"respond_invite","node_id":5,"network_id":6}`, `missing required field accept`},
		{`{"type":"set_key_expiry","node_id":5,"expires_at":"tomorrow"}`, `expires_at "tomorrow" must be an RFC 3339`},
		{`{"type":"set_key_expiry","node_id":5}`, `missing required field expires_at`},
		{`{"type":"rotate_key","node_id":5,"new_public_key":"` + keyB + `","ts":1,"nonce":"n","signature":"s"}`, `missing required field new_key_signature`},
		{`{"type":"rotate_key","node_id":5,"new_public_key":"` + keyB + `","expires_at":"2026-13-01T00:00:00Z"}`, `expires_at`},
		{`{"type":"get_audit_log","action":"node.exploded"}`, `not an audit action`},
		{`{"type":"get_audit_log","limit":-1}`, `limit must be an integer`},
		{`{"type":"beacon_list","cursor":"` + strings.Repeat("c", 257) + `"}`, `cursor must be at most 256 bytes`},
		{`{"type":"beacon_register","beacon_id":0,"addr":"a:1"}`, `beacon_id must be an integer in 1..4294967295`},
		{`{"type":"beacon_register","beacon_id":1,"addr":"a"}`, `addr "a" must be host:port`},
		{`{"type":"update_polo_score","node_id":5,"delta":1000001}`, `delta must be an integer in -1000000..1000000`},
		{`{"type":"set_polo_score","node_id":5}`, `missing required field polo_score`},
		{`{"type":"resolve_hostname","hostname":""}`, `hostname "" is invalid`},
		{`{"type":"kick_member","node_id":5,"network_id":3}`, `missing required field target_node_id`},
		{`{"type":"transfer_ownership","node_id":5,"network_id":3,"new_owner_id":0}`, `new_owner_id must be an integer in 1..4294967294`},
		{`{"type":"heartbeat","node_id":4294967295}`, `node_id must be an integer in 0..4294967294`},
	}
	for _, c := range bad {
		wantCode(t, c.body, CodeInvalidArgument, c.part)
	}

	ok := []string{
		// register: an invalid or reserved hostname is the server's hostname_error.
		`{"type":"register",` + pk + `,"hostname":"localhost"}`,
		`{"type":"register",` + pk + `,"hostname":"NOT valid"}`,
		`{"type":"register",` + pk + `,"lan_addrs":["[fe80::1]:4000"],"capabilities":["a.b-c"]}`,
		`{"type":"request_handshake","from_node_id":5,"to_node_id":6,"justification":"tab\tnew\nline\u0000"}`,
		`{"type":"set_key_expiry","node_id":5,"expires_at":"never"}`,
		`{"type":"set_key_expiry","node_id":5,"expires_at":""}`,
		`{"type":"set_key_expiry","node_id":5,"expires_at":"2026-05-01T00:00:00+02:00"}`,
		`{"type":"rotate_key","node_id":5,"new_public_key":"` + keyB + `","signature":"s"}`,
		`{"type":"create_network","name":"x","join_rule":"open","token":""}`,
		`{"type":"join_network","node_id":5,"network_id":0,"inviter_id":0}`,
		`{"type":"get_audit_log","action":"network.joined","limit":1000}`,
		`{"type":"beacon_register","beacon_id":4294967295,"addr":"[::1]:9001","token":"t\u0001"}`,
		`{"type":"heartbeat","node_id":5,"admin_token":"tab\t"}`,
	}
	for _, body := range ok {
		mustDecode(t, body)
	}
}

func TestSetKeyExpiryParsed(t *testing.T) {
	r := mustDecode(t, `{"type":"set_key_expiry","node_id":5,"expires_at":"2026-05-01T02:00:00+02:00"}`).(*SetKeyExpiry)
	tm, clear := r.Expiry()
	if clear || tm.Format(TimeLayout) != "2026-05-01T00:00:00Z" {
		t.Fatalf("got %v %v", tm, clear)
	}
	rk := mustDecode(t, `{"type":"rotate_key","node_id":5,"new_public_key":"`+keyB+`","expires_at":"never"}`).(*RotateKey)
	if _, ok := rk.Expiry(); ok {
		t.Fatalf("never must mean no expiry")
	}
}

func TestErrorMessagesNeverEchoSecrets(t *testing.T) {
	for _, body := range []string{
		`{"type":"create_network","name":"x","network_admin_token":"hunter2"}`,
		`{"type":"create_network","name":"x","token":"hunter2"}`,
		`{"type":"create_network","name":"x","join_rule":"token","token":"hunter2` + strings.Repeat("x", 300) + `"}`,
	} {
		_, err := DecodeRequest([]byte(body))
		if err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Fatalf("%s: %v", body, err)
		}
	}
}

func TestEveryTypeRoundTrips(t *testing.T) {
	if len(Types()) != 44 {
		t.Fatalf("%d types, want 44", len(Types()))
	}
	for _, body := range sampleRequests() {
		r := mustDecode(t, body)
		enc, err := MarshalRequest(r)
		if err != nil {
			t.Fatal(err)
		}
		assertEqualRequests(t, r, mustDecode(t, string(enc)))
	}
}

// sampleRequests holds one full request per type (every field present).
func sampleRequests() []string {
	a := `,"ts":1774606503412,"nonce":"AAECAwQFBgcICQoLDA0ODw==","signature":"c2ln","admin_token":"tok"`
	return []string{
		`{"type":"register","public_key":"` + keyB + `","listen_addr":"0.0.0.0:4000","owner":"o@x","hostname":"h","lan_addrs":["10.0.0.1:1"],"protocol_version":1,"version":"1.0","capabilities":["auth-v2"]` + a + `}`,
		`{"type":"heartbeat","node_id":5` + a + `}`,
		`{"type":"deregister","node_id":5` + a + `}`,
		`{"type":"lookup","node_id":5,"requester_id":6` + a + `}`,
		`{"type":"resolve","node_id":5,"requester_id":6` + a + `}`,
		`{"type":"punch","requester_id":5,"node_a":5,"node_b":6` + a + `}`,
		`{"type":"rotate_key","node_id":5,"new_public_key":"` + keyB + `","new_key_signature":"bmV3","expires_at":"2030-01-01T00:00:00Z"` + a + `}`,
		`{"type":"set_key_expiry","node_id":5,"expires_at":"2030-01-01T00:00:00Z"` + a + `}`,
		`{"type":"get_key_info","node_id":5` + a + `}`,
		`{"type":"reassign_key","node_id":5,"new_public_key":"` + keyB + `"` + a + `}`,
		`{"type":"set_visibility","node_id":5,"public":true` + a + `}`,
		`{"type":"set_hostname","node_id":5,"hostname":""` + a + `}`,
		`{"type":"set_tags","node_id":5,"tags":["#a","b"]` + a + `}`,
		`{"type":"set_task_exec","node_id":5,"enabled":false` + a + `}`,
		`{"type":"resolve_hostname","hostname":"h","requester_id":6` + a + `}`,
		`{"type":"report_trust","node_id":5,"peer_id":6` + a + `}`,
		`{"type":"revoke_trust","node_id":5,"peer_id":6` + a + `}`,
		`{"type":"check_trust","node_id":5,"peer_id":6` + a + `}`,
		`{"type":"request_handshake","from_node_id":5,"to_node_id":6,"justification":"<hi> & \"bye\"\n\u2028"` + a + `}`,
		`{"type":"poll_handshakes","node_id":5,"limit":10,"cursor":"c"` + a + `}`,
		`{"type":"respond_handshake","node_id":5,"peer_id":6,"accept":true` + a + `}`,
		`{"type":"create_network","node_id":5,"name":"n","join_rule":"token","token":"t","network_admin_token":"0123456789abcdef","enterprise":true` + a + `}`,
		`{"type":"join_network","node_id":5,"network_id":3,"token":"t"` + a + `}`,
		`{"type":"leave_network","node_id":5,"network_id":3` + a + `}`,
		`{"type":"delete_network","node_id":5,"network_id":3` + a + `}`,
		`{"type":"rename_network","node_id":5,"network_id":3,"name":"m"` + a + `}`,
		`{"type":"list_networks","node_id":5,"all":true,"limit":5,"cursor":"c"` + a + `}`,
		`{"type":"list_nodes","node_id":5,"network_id":0,"limit":5,"cursor":"c"` + a + `}`,
		`{"type":"kick_member","node_id":5,"network_id":3,"target_node_id":6` + a + `}`,
		`{"type":"promote_member","node_id":5,"network_id":3,"target_node_id":6` + a + `}`,
		`{"type":"demote_member","node_id":5,"network_id":3,"target_node_id":6` + a + `}`,
		`{"type":"get_member_role","node_id":5,"network_id":3,"target_node_id":6` + a + `}`,
		`{"type":"transfer_ownership","node_id":5,"network_id":3,"new_owner_id":6` + a + `}`,
		`{"type":"set_network_policy","node_id":5,"network_id":3,"max_members":0,"allowed_ports":[],"description":""` + a + `}`,
		`{"type":"get_network_policy","node_id":5,"network_id":3` + a + `}`,
		`{"type":"invite_to_network","inviter_id":5,"network_id":3,"target_node_id":6` + a + `}`,
		`{"type":"poll_invites","node_id":5,"limit":1` + a + `}`,
		`{"type":"respond_invite","node_id":5,"network_id":3,"accept":false` + a + `}`,
		`{"type":"get_audit_log","node_id":5,"network_id":0,"action":"key.rotated","limit":1,"cursor":"c"` + a + `}`,
		`{"type":"get_polo_score","node_id":5` + a + `}`,
		`{"type":"update_polo_score","node_id":5,"delta":-1000000` + a + `}`,
		`{"type":"set_polo_score","node_id":5,"polo_score":1000000` + a + `}`,
		`{"type":"beacon_register","beacon_id":1,"addr":"b:1","token":"t"` + a + `}`,
		`{"type":"beacon_list","limit":1` + a + `}`,
	}
}

func TestSignedParamCounts(t *testing.T) {
	want := map[string]int{
		"register": 7, "heartbeat": 0, "deregister": 0, "lookup": 1, "resolve": 1, "punch": 2,
		"rotate_key": 2, "set_key_expiry": 1, "reassign_key": 2, "set_visibility": 1,
		"set_hostname": 1, "set_tags": 1, "set_task_exec": 1, "resolve_hostname": 1,
		"report_trust": 1, "revoke_trust": 1, "check_trust": 1, "request_handshake": 2,
		"poll_handshakes": 0, "respond_handshake": 2, "create_network": 4, "join_network": 2,
		"leave_network": 1, "delete_network": 1, "rename_network": 2, "list_networks": 1,
		"list_nodes": 1, "kick_member": 2, "promote_member": 2, "demote_member": 2,
		"get_member_role": 2, "transfer_ownership": 2, "set_network_policy": 5,
		"get_network_policy": 1, "invite_to_network": 2, "poll_invites": 0, "respond_invite": 2,
		"get_audit_log": 2, "get_key_info": 0, "get_polo_score": 0, "beacon_list": 0,
		"update_polo_score": 0, "set_polo_score": 0, "beacon_register": 0,
	}
	seen := 0
	for _, body := range sampleRequests() {
		r := mustDecode(t, body)
		n, ok := want[r.Type()]
		if !ok || len(r.SignedParams()) != n {
			t.Errorf("%s: %d params, want %d", r.Type(), len(r.SignedParams()), n)
		}
		seen++
	}
	if seen != len(want) {
		t.Fatalf("sampled %d types of %d", seen, len(want))
	}
	cn := mustDecode(t, sampleRequests()[21])
	if p := cn.SignedParams(); p[2] != pHash("t") || p[3] != pHash("0123456789abcdef") || cn.Signer() != 5 {
		t.Fatalf("create_network params %q", p)
	}
	sp := mustDecode(t, sampleRequests()[33])
	if p := sp.SignedParams(); strings.Join(p, "|") != "3|max_members,allowed_ports,description|0||" {
		t.Fatalf("set_network_policy params %q", p)
	}
	gl := mustDecode(t, `{"type":"get_audit_log","admin_token":"x"}`)
	if p := gl.SignedParams(); p[0] != "" || p[1] != "" {
		t.Fatalf("get_audit_log absent params %q", p)
	}
}

func TestSignerField(t *testing.T) {
	for body, field := range map[string]string{
		`{"type":"heartbeat","node_id":7}`:                                              "node_id",
		`{"type":"resolve","requester_id":7,"node_id":9}`:                               "requester_id",
		`{"type":"request_handshake","from_node_id":7,"to_node_id":9}`:                  "from_node_id",
		`{"type":"invite_to_network","inviter_id":7,"network_id":3,"target_node_id":9}`: "inviter_id",
		`{"type":"create_network","node_id":7,"name":"n"}`:                              "node_id",
		`{"type":"get_audit_log","node_id":7}`:                                          "node_id",
	} {
		r := mustDecode(t, body)
		if SignerField(r.Type()) != field || r.Signer() != 7 {
			t.Errorf("%s: field %q signer %d", body, SignerField(r.Type()), r.Signer())
		}
	}
	for _, typ := range []string{"register", "reassign_key", "get_key_info", "beacon_list", "nope"} {
		if SignerField(typ) != "" {
			t.Errorf("%s has a signer field", typ)
		}
	}
}
