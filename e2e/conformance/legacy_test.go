package conformance

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

func v1(n *node, req obj, challenge string) obj {
	req["signature"] = b64(sign64(n, challenge))
	return req
}

// §5.5 / §14 items 19, 27.
func TestConf_19_LegacyV1(t *testing.T) {
	r := start(t, "-rate-limit", "off", "-legacy-v1-auth")
	c := r.dial()
	k := newKey()
	p := c.ok(obj{"type": "register", "public_key": k.pubB64()})
	k.id = p.num("node_id")
	if string(mustJSON(p.m["auth_versions"])) != `["v2","v1"]` {
		t.Errorf("auth_versions: %s", p)
	}
	b := c.register(nil)
	id, bid := fmtInt(k.id), fmtInt(b.id)
	c.ok(v1(k, obj{"type": "heartbeat", "node_id": k.id}, "heartbeat:"+id))
	c.fail(v1(k, obj{"type": "heartbeat", "node_id": k.id}, "heartbeat:"+bid), "unauthenticated", "")
	c.ok(v1(k, obj{"type": "set_visibility", "node_id": k.id, "public": false}, "set_visibility:"+id))
	c.ok(v1(k, obj{"type": "set_hostname", "node_id": k.id, "hostname": "legacy"}, "set_hostname:"+id))
	c.ok(v1(k, obj{"type": "set_tags", "node_id": k.id, "tags": []string{"t"}}, "set_tags:"+id))
	c.ok(v1(k, obj{"type": "set_task_exec", "node_id": k.id, "enabled": true}, "set_task_exec:"+id))
	c.ok(v1(k, obj{"type": "report_trust", "node_id": k.id, "peer_id": b.id}, "report_trust:"+id+":"+bid))
	c.ok(v1(k, obj{"type": "revoke_trust", "node_id": k.id, "peer_id": b.id}, "revoke_trust:"+id+":"+bid))
	c.ok(v1(k, obj{"type": "request_handshake", "from_node_id": k.id, "to_node_id": b.id}, "handshake:"+id+":"+bid))
	c.ok(v1(k, obj{"type": "poll_handshakes", "node_id": k.id}, "poll_handshakes:"+id))
	c.ok(v1(k, obj{"type": "respond_handshake", "node_id": k.id, "peer_id": b.id, "accept": true}, "respond:"+id+":"+bid))
	c.ok(b.sign(obj{"type": "set_visibility", "node_id": b.id, "public": true}))
	c.ok(v1(k, obj{"type": "resolve", "requester_id": k.id, "node_id": b.id}, "resolve:"+id+":"+bid))
	c.ok(v1(k, obj{"type": "punch", "requester_id": k.id, "node_a": k.id, "node_b": b.id}, "punch:"+id+":"+bid))
	net := c.createNet(b, "leg", "", nil)
	ns := fmtInt(net)
	c.ok(v1(k, obj{"type": "join_network", "node_id": k.id, "network_id": net}, "join_network:"+id+":"+ns))
	c.ok(v1(k, obj{"type": "leave_network", "node_id": k.id, "network_id": net}, "leave_network:"+id+":"+ns))
	inv := c.createNet(b, "leginv", "invite", nil)
	c.ok(v1(b, obj{"type": "invite_to_network", "inviter_id": b.id, "network_id": inv, "target_node_id": k.id}, "invite:"+bid+":"+fmtInt(inv)+":"+id))
	c.ok(v1(k, obj{"type": "poll_invites", "node_id": k.id}, "poll_invites:"+id))
	c.ok(v1(k, obj{"type": "respond_invite", "node_id": k.id, "network_id": inv, "accept": true}, "respond_invite:"+id+":"+fmtInt(inv)))
	c.ok(v1(k, obj{"type": "set_key_expiry", "node_id": k.id, "expires_at": ""}, "set_key_expiry:"+id))
	// unsigned reads
	p = c.ok(obj{"type": "lookup", "node_id": k.id})
	if p.str("hostname") != "legacy" || string(mustJSON(p.m["networks"])) != "[0,"+fmtInt(inv)+"]" {
		t.Errorf("legacy anonymous lookup: %s", p)
	}
	c.ok(obj{"type": "check_trust", "node_id": k.id, "peer_id": b.id})
	c.ok(obj{"type": "get_member_role", "network_id": inv, "target_node_id": k.id})
	c.ok(obj{"type": "get_network_policy", "network_id": inv})
	c.ok(obj{"type": "list_networks"})
	c.ok(obj{"type": "list_nodes", "network_id": inv})
	c.fail(obj{"type": "list_nodes", "network_id": 0}, "unauthenticated", "")
	// role-gated management never by a claimed node_id
	c.fail(obj{"type": "rename_network", "node_id": b.id, "network_id": inv, "name": "x"}, "unauthenticated", "")
	c.fail(obj{"type": "kick_member", "node_id": b.id, "network_id": inv, "target_node_id": k.id}, "unauthenticated", "")
	// §14 item 27: a claimed caller without signature never succeeds, a token notwithstanding.
	c.fail(obj{"type": "rename_network", "node_id": b.id, "network_id": inv, "name": "x", "admin_token": adminTok}, "unauthenticated", "")
	// a v1 signature on a role-gated message is not accepted either
	c.fail(v1(b, obj{"type": "rename_network", "node_id": b.id, "network_id": inv, "name": "x"}, "rename_network:"+bid), "unauthenticated", "")
	// rotate_key v1
	nk := newKey()
	p = c.ok(v1(k, obj{"type": "rotate_key", "node_id": k.id, "new_public_key": nk.pubB64()}, "rotate:"+id))
	nk.id = k.id
	c.ok(v1(nk, obj{"type": "deregister", "node_id": k.id}, "deregister:"+id))
	resp, err := http.Get("http://" + r.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	mb, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(mb), `pilot_legacy_auth_total{type="heartbeat"} 1`) {
		t.Errorf("legacy metric:\n%s", grep(string(mb), "legacy"))
	}
	warn := 0
	for _, l := range r.logLines() {
		var m map[string]any
		json.Unmarshal([]byte(l), &m)
		if m["msg"] == "legacy v1 auth accepted" && m["type"] == "heartbeat" {
			warn++
			if m["level"] != "WARN" || m["count"] == nil {
				t.Errorf("legacy warn: %s", l)
			}
		}
	}
	if warn != 1 {
		t.Errorf("%d legacy WARN lines for heartbeat", warn)
	}
}
