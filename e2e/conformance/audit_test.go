package conformance

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// auditAttrs is §9.3: the attributes of each action, in order.
var auditAttrs = map[string][]string{
	"node.registered":        {"node_id", "mode"},
	"node.re_registered":     {"node_id", "mode", "endpoint_changed"},
	"node.deregistered":      {"node_id", "networks", "reason"},
	"network.created":        {"network_id", "name", "join_rule", "creator_node_id"},
	"network.deleted":        {"network_id", "name", "members", "invites_removed"},
	"network.renamed":        {"network_id", "old_name", "new_name"},
	"network.joined":         {"node_id", "network_id", "join_rule"},
	"network.left":           {"node_id", "network_id"},
	"network.policy_changed": {"network_id", "fields", "max_members", "allowed_ports_count", "description", "old_max_members", "new_max_members", "old_allowed_ports_count", "new_allowed_ports_count"},
	"member.promoted":        {"target_node_id", "network_id", "old_role", "new_role"},
	"member.demoted":         {"target_node_id", "network_id", "old_role", "new_role"},
	"member.kicked":          {"target_node_id", "network_id", "role"},
	"ownership.transferred":  {"network_id", "old_owner", "new_owner", "new_owner_old_role"},
	"trust.created":          {"node_a", "node_b", "mutual"},
	"trust.revoked":          {"node_a", "node_b"},
	"visibility.changed":     {"node_id", "public", "old_public", "new_public"},
	"task_exec.changed":      {"node_id", "enabled", "old_enabled", "new_enabled"},
	"hostname.changed":       {"node_id", "hostname", "old_hostname", "new_hostname"},
	"tags.changed":           {"node_id", "tags", "old_tags_count", "new_tags_count"},
	"handshake.relayed":      {"from_node_id", "to_node_id"},
	"handshake.responded":    {"node_id", "peer_id", "accept"},
	"key.rotated":            {"node_id", "rotate_count"},
	"key.expiry_set":         {"node_id", "expires_at", "old_expires_at"},
	"key.reassigned":         {"node_id", "rotate_count"},
	"invite.created":         {"network_id", "inviter_id", "target_node_id"},
	"invite.responded":       {"node_id", "network_id", "accepted"},
	"invite.removed":         {"network_id", "node_id", "inviter_id", "reason"},
	"polo_score.changed":     {"node_id", "old_score", "new_score"},
}

// orderedKeys returns the top-level keys of a JSON object in order, and the values.
func orderedKeys(t *testing.T, line string) ([]string, map[string]json.RawMessage) {
	t.Helper()
	d := json.NewDecoder(strings.NewReader(line))
	if tok, err := d.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not an object: %s", line)
	}
	var keys []string
	vals := map[string]json.RawMessage{}
	for d.More() {
		k, _ := d.Token()
		var v json.RawMessage
		if err := d.Decode(&v); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k.(string))
		vals[k.(string)] = v
	}
	return keys, vals
}

// jcs writes v (decoded with UseNumber) as RFC 8785 canonical JSON.
func jcs(buf *bytes.Buffer, v any) {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys) // ASCII keys: UTF-16 order = byte order
		buf.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				buf.WriteByte(',')
			}
			jcsString(buf, k)
			buf.WriteByte(':')
			jcs(buf, x[k])
		}
		buf.WriteByte('}')
	case []any:
		buf.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				buf.WriteByte(',')
			}
			jcs(buf, e)
		}
		buf.WriteByte(']')
	case string:
		jcsString(buf, x)
	case json.Number:
		buf.WriteString(x.String())
	case bool:
		buf.WriteString(strconv.FormatBool(x))
	case nil:
		buf.WriteString("null")
	}
}

func jcsString(buf *bytes.Buffer, s string) {
	buf.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			buf.WriteString(`\"`)
		case r == '\\':
			buf.WriteString(`\\`)
		case r == '\b':
			buf.WriteString(`\b`)
		case r == '\f':
			buf.WriteString(`\f`)
		case r == '\n':
			buf.WriteString(`\n`)
		case r == '\r':
			buf.WriteString(`\r`)
		case r == '\t':
			buf.WriteString(`\t`)
		case r < 0x20:
			fmt.Fprintf(buf, `\u%04x`, r)
		default:
			buf.WriteRune(r)
		}
	}
	buf.WriteByte('"')
}

// detailValue formats an attribute value as in §7.8 details.
func detailValue(v any) string {
	switch x := v.(type) {
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = detailValue(e)
		}
		return "[" + strings.Join(parts, " ") + "]"
	case json.Number:
		return x.String()
	case bool:
		return strconv.FormatBool(x)
	case string:
		return x
	}
	return fmt.Sprint(v)
}

var msTime = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)

// auditScenario performs every action of §9.3 once or more.
func auditScenario(t *testing.T, c *conn) {
	a := c.register(obj{"hostname": "alpha"})
	b := c.register(nil)
	d := c.register(nil)
	// re-register
	c.ok(signWith(obj{"type": "register", "public_key": a.pubB64(), "listen_addr": "127.0.0.1:4001"}, a.key, 0, 0))
	c.ok(a.sign(obj{"type": "set_visibility", "node_id": a.id, "public": true}))
	c.ok(a.sign(obj{"type": "set_task_exec", "node_id": a.id, "enabled": true}))
	c.ok(obj{"type": "set_hostname", "node_id": a.id, "hostname": "alpha2", "admin_token": adminTok})
	c.ok(a.sign(obj{"type": "set_tags", "node_id": a.id, "tags": []string{"#gpu", "eu", "gpu"}}))
	c.ok(a.sign(obj{"type": "set_key_expiry", "node_id": a.id, "expires_at": time.Now().Add(48 * time.Hour).UTC().Format(time.RFC3339)}))
	c.ok(a.sign(obj{"type": "report_trust", "node_id": a.id, "peer_id": b.id}))
	c.ok(b.sign(obj{"type": "report_trust", "node_id": b.id, "peer_id": a.id}))
	c.ok(a.sign(obj{"type": "revoke_trust", "node_id": a.id, "peer_id": b.id}))
	c.ok(d.sign(obj{"type": "request_handshake", "from_node_id": d.id, "to_node_id": b.id, "justification": "hi <&>"}))
	c.ok(b.sign(obj{"type": "respond_handshake", "node_id": b.id, "peer_id": d.id, "accept": true}))
	n1 := c.createNet(a, "audnet", "", nil)
	c.ok(a.sign(obj{"type": "rename_network", "node_id": a.id, "network_id": n1, "name": "audnet2"}))
	c.ok(a.sign(obj{"type": "set_network_policy", "node_id": a.id, "network_id": n1, "max_members": 10, "allowed_ports": []int{443, 80, 80}, "description": "d"}))
	c.join(b, n1)
	c.join(d, n1)
	c.ok(a.sign(obj{"type": "promote_member", "node_id": a.id, "network_id": n1, "target_node_id": b.id}))
	c.ok(a.sign(obj{"type": "demote_member", "node_id": a.id, "network_id": n1, "target_node_id": b.id}))
	c.ok(a.sign(obj{"type": "kick_member", "node_id": a.id, "network_id": n1, "target_node_id": d.id}))
	c.ok(a.sign(obj{"type": "transfer_ownership", "node_id": a.id, "network_id": n1, "new_owner_id": b.id}))
	c.ok(a.sign(obj{"type": "leave_network", "node_id": a.id, "network_id": n1}))
	n2 := c.createNet(a, "invnet", "invite", nil)
	c.ok(a.sign(obj{"type": "invite_to_network", "inviter_id": a.id, "network_id": n2, "target_node_id": b.id}))
	c.ok(b.sign(obj{"type": "respond_invite", "node_id": b.id, "network_id": n2, "accept": true}))
	c.ok(a.sign(obj{"type": "promote_member", "node_id": a.id, "network_id": n2, "target_node_id": b.id}))
	c.ok(b.sign(obj{"type": "invite_to_network", "inviter_id": b.id, "network_id": n2, "target_node_id": d.id}))
	c.ok(obj{"type": "kick_member", "network_id": n2, "target_node_id": b.id, "admin_token": adminTok})
	c.ok(a.sign(obj{"type": "delete_network", "node_id": a.id, "network_id": n2}))
	nk := newKey()
	rot := obj{"type": "rotate_key", "node_id": d.id, "new_public_key": nk.pubB64()}
	rot = d.sign(rot)
	rot["new_key_signature"] = signCanon(nk, rot, d.id)
	c.ok(rot)
	rk := newKey()
	c.ok(signWith(obj{"type": "reassign_key", "node_id": b.id, "new_public_key": rk.pubB64(), "admin_token": adminTok}, rk.key, 0, 0))
	c.ok(obj{"type": "update_polo_score", "node_id": a.id, "delta": 5, "admin_token": adminTok})
	c.ok(obj{"type": "set_polo_score", "node_id": a.id, "polo_score": -3, "admin_token": adminTok})
	c.ok(obj{"type": "deregister", "node_id": d.id, "admin_token": adminTok})
	c.ok(signWith(obj{"type": "register", "public_key": nk.pubB64()}, nk.key, 0, 0))
}

// signCanon signs the canonical string of an already signed req with key k.
func signCanon(k *node, req obj, signer int64) string {
	s := canonical(req["type"].(string), signer, req["ts"].(int64), req["nonce"].(string), params(req))
	return b64(sign64(k, s))
}

// §9 / §14 items 62, 65, 66.
func TestConf_62_AuditRecords(t *testing.T) {
	r := start(t, "-rate-limit", "off", "-log-level", "error")
	c := r.dial()
	auditScenario(t, c)
	// All entries via get_audit_log, paged.
	var entries []map[string]any
	var raws []json.RawMessage
	cursor := ""
	for {
		req := obj{"type": "get_audit_log", "admin_token": adminTok, "limit": 7}
		if cursor != "" {
			req["cursor"] = cursor
		}
		p := c.ok(req)
		var page struct {
			Entries    []json.RawMessage `json:"entries"`
			NextCursor *string           `json:"next_cursor"`
		}
		json.Unmarshal(p.raw, &page)
		for _, e := range page.Entries {
			m, _ := decode(e)
			entries = append(entries, m)
			raws = append(raws, e)
		}
		if page.NextCursor == nil {
			break
		}
		if *page.NextCursor == "" {
			t.Fatal("empty next_cursor")
		}
		cursor = *page.NextCursor
	}
	seen := map[string]bool{}
	n := len(entries)
	if n < 30 {
		t.Fatalf("only %d entries", n)
	}
	prev := make([]byte, 32)
	for i := n - 1; i >= 0; i-- {
		e := entries[i]
		seq, _ := e["seq"].(json.Number).Int64()
		if seq != int64(n-i) {
			t.Fatalf("entry %d has seq %d (not newest first / dense)", i, seq)
		}
		action := e["action"].(string)
		seen[action] = true
		want, ok := auditAttrs[action]
		if !ok {
			t.Errorf("unknown action %q", action)
			continue
		}
		attrs := e["attrs"].(map[string]any)
		if len(attrs) != len(want) {
			t.Errorf("%s: attrs %v, want exactly %v", action, attrs, want)
		}
		var det []string
		for _, k := range want {
			v, ok := attrs[k]
			if !ok {
				t.Errorf("%s: missing attr %s", action, k)
				continue
			}
			det = append(det, k+"="+detailValue(v))
		}
		if got := e["details"]; got != strings.Join(det, ", ") {
			t.Errorf("%s details:\n got %q\nwant %q", action, got, strings.Join(det, ", "))
		}
		ts, _ := e["timestamp"].(string)
		if !msTime.MatchString(ts) {
			t.Errorf("timestamp %q", ts)
		}
		if nid, ok := attrs["network_id"]; ok && nid.(json.Number) != "0" {
			if e["network_id"] != nid {
				t.Errorf("%s: entry network_id %v", action, e["network_id"])
			}
		} else if _, ok := e["network_id"]; ok {
			t.Errorf("%s: network_id present: %s", action, raws[i])
		}
		if nid, ok := attrs["node_id"]; ok {
			if e["node_id"] != nid {
				t.Errorf("%s: entry node_id %v", action, e["node_id"])
			}
		} else if _, ok := e["node_id"]; ok {
			t.Errorf("%s: node_id present without attr: %s", action, raws[i])
		}
		row := map[string]any{"seq": e["seq"], "time": ts, "action": action, "actor_node_id": e["actor_node_id"], "auth_via": e["auth_via"], "attrs": attrs}
		var buf bytes.Buffer
		jcs(&buf, row)
		h := sha256.New()
		h.Write(prev)
		h.Write(buf.Bytes())
		sum := h.Sum(nil)
		if hex.EncodeToString(sum) != e["hash"] {
			t.Fatalf("seq %d: hash %v, recomputed %x over %s", seq, e["hash"], sum, buf.Bytes())
		}
		prev = sum
		// the log record
		line := r.waitAudit(int(seq))
		keys, vals := orderedKeys(t, line)
		wantKeys := append([]string{"time", "level", "msg", "audit_action"}, want...)
		wantKeys = append(wantKeys, "actor_node_id", "auth_via", "audit_seq", "audit_hash")
		if strings.Join(keys, ",") != strings.Join(wantKeys, ",") {
			t.Errorf("log keys\n got %v\nwant %v", keys, wantKeys)
		}
		if string(vals["level"]) != `"INFO"` || string(vals["audit_action"]) != `"`+action+`"` {
			t.Errorf("log record: %s", line)
		}
		for _, k := range want {
			var lv any
			d := json.NewDecoder(bytes.NewReader(vals[k]))
			d.UseNumber()
			d.Decode(&lv)
			var a, b bytes.Buffer
			jcs(&a, lv)
			jcs(&b, attrs[k])
			if a.String() != b.String() {
				t.Errorf("%s.%s: log %s, entry %s", action, k, a.String(), b.String())
			}
		}
		if string(vals["audit_hash"]) != `"`+e["hash"].(string)+`"` {
			t.Errorf("log hash differs: %s", line)
		}
		if fmt.Sprint(e["actor_node_id"]) != string(vals["actor_node_id"]) || `"`+fmt.Sprint(e["auth_via"])+`"` != string(vals["auth_via"]) {
			t.Errorf("actor/auth_via differ: %s vs %s", raws[i], line)
		}
	}
	for a := range auditAttrs {
		if !seen[a] {
			t.Errorf("scenario did not produce %s", a)
		}
	}
	if len(r.auditLines()) != n {
		t.Errorf("%d audit log lines for %d entries", len(r.auditLines()), n)
	}
	// Only audit lines at -log-level error (plus errors).
	for _, l := range r.logLines() {
		if !strings.Contains(l, `"msg":"audit"`) && strings.Contains(l, `"level":"INFO"`) && !strings.Contains(l, "registry listening") {
			t.Errorf("INFO line with -log-level error: %s", l)
		}
	}
}
