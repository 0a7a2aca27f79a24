package conformance

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// dialFrom opens a connection from another loopback source IP (127.0.0.2),
// which the registry sees as a different client IP.
func (r *reg) dialFrom(ip string) *conn {
	r.t.Helper()
	d := net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	c, err := d.Dial("tcp", r.addr)
	if err != nil {
		r.t.Fatalf("cannot bind %s (all of 127.0.0.0/8 is loopback on Linux): %v", ip, err)
	}
	r.t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(60 * time.Second))
	return &conn{t: r.t, c: c, r: bufio.NewReader(c)}
}

func countCode(ps []reply, code string) int {
	n := 0
	for _, p := range ps {
		if p.code() == code {
			n++
		}
	}
	return n
}

// §12 `anonymous`: "unsigned reads and legacy unsigned requests | source IP
// | 3,000/min / 1,000"; "only unauthenticated traffic is keyed by IP".
func TestConf_12_AnonymousBucketPerIP(t *testing.T) {
	r := start(t)
	c := r.dial()
	n := c.register(nil)
	var reqs []obj
	for i := 0; i < 1300; i++ {
		reqs = append(reqs, obj{"type": "get_key_info", "node_id": n.id})
	}
	ps := c.pipeline(reqs)
	for i, p := range ps[:1000] {
		if p.typ() != "get_key_info_ok" {
			t.Fatalf("anonymous read %d: %s", i+1, p)
		}
	}
	if ps[1299].code() != "rate_limited" || countCode(ps, "rate_limited") > 300 {
		t.Errorf("anonymous bucket: %d limited, last %s", countCode(ps, "rate_limited"), ps[1299])
	}
	// another source IP has its own bucket; signed reads are keyed by the signer
	c2 := r.dialFrom("127.0.0.2")
	c2.ok(obj{"type": "get_key_info", "node_id": n.id})
	c.ok(n.sign(obj{"type": "lookup", "requester_id": n.id, "node_id": n.id}))
}

// §12 `read`: "signed reads (incl. signed optional-auth reads) | node |
// 1,200/min / 300"; "Authenticated requests are keyed by the **signer**,
// never by the source IP".
func TestConf_12_ReadBucketPerSigner(t *testing.T) {
	r := start(t)
	c := r.dial()
	a, b := c.register(nil), c.register(nil)
	var reqs []obj
	for i := 0; i < 400; i++ {
		reqs = append(reqs, a.sign(obj{"type": "lookup", "requester_id": a.id, "node_id": b.id}))
	}
	ps := c.pipeline(reqs)
	for i, p := range ps[:300] {
		if p.typ() != "lookup_ok" {
			t.Fatalf("signed read %d: %s", i+1, p)
		}
	}
	if ps[399].code() != "rate_limited" {
		t.Errorf("401st-ish signed read: %s", ps[399])
	}
	// the same signer from another IP is still limited; another signer is not
	// 30 more at once from another IP: the bucket refills 20/s, so most are refused
	c2 := r.dialFrom("127.0.0.2")
	reqs = nil
	for i := 0; i < 30; i++ {
		reqs = append(reqs, a.sign(obj{"type": "lookup", "requester_id": a.id, "node_id": b.id}))
	}
	if n := countCode(c2.pipeline(reqs), "rate_limited"); n < 15 {
		t.Errorf("the signer's bucket did not follow it to another IP: %d of 30 limited", n)
	}
	c.ok(b.sign(obj{"type": "lookup", "requester_id": b.id, "node_id": a.id}))
	// anonymous reads from the same IP are a different category
	c.ok(obj{"type": "lookup", "node_id": b.id})
}

// §12 `auth_failure` by source IP: "requests from other IPs are unaffected"
// (§14 item 69); §1 per-IP connection cap counts per source IP.
func TestConf_69_OtherIPUnaffected(t *testing.T) {
	r := start(t, "-max-conns-per-ip", "3")
	c := admitted(t, r)
	n := c.register(nil)
	var reqs []obj
	for i := 0; i < 31; i++ {
		reqs = append(reqs, obj{"type": "set_visibility", "node_id": n.id, "public": true, "admin_token": "wrong-token-wrong-token"})
	}
	ps := c.pipeline(reqs)
	if ps[0].code() != "unauthenticated" || ps[30].code() != "rate_limited" {
		t.Fatalf("auth_failure bucket: first %s, 31st %s", ps[0], ps[30])
	}
	c.fail(obj{"type": "set_visibility", "node_id": n.id, "public": true, "admin_token": adminTok}, "rate_limited", "")
	c2 := r.dialFrom("127.0.0.2")
	c2.fail(obj{"type": "set_visibility", "node_id": n.id, "public": true, "admin_token": "wrong-token-wrong-token"}, "unauthenticated", "admin token not accepted")
	c2.ok(obj{"type": "set_visibility", "node_id": n.id, "public": true, "admin_token": adminTok})
	// connection cap per IP: 3 from 127.0.0.1 (c + 2 more) then refused; 127.0.0.2 has its own
	admitted(t, r)
	admitted(t, r)
	x, err := net.Dial("tcp", r.addr)
	if err == nil {
		x.SetDeadline(time.Now().Add(10 * time.Second))
		x.Write(frame([]byte(`{"type":"beacon_list"}`)))
		if b, _ := io.ReadAll(x); len(b) != 0 {
			t.Errorf("4th connection from 127.0.0.1 served")
		}
		x.Close()
	}
	r.dialFrom("127.0.0.2").ok(obj{"type": "beacon_list"})
}

// §6.1 "On a request that its verified signature alone authorizes ... it is
// ignored: not counted, not mentioned in the reply."
func TestConf_6_1_IgnoredTokenNotCounted(t *testing.T) {
	r := start(t, "-rate-limit", "off")
	c := r.dial()
	o, a := c.register(nil), c.register(nil)
	net := c.createNet(o, "ign", "", nil)
	p := c.ok(a.sign(obj{"type": "join_network", "node_id": a.id, "network_id": net, "admin_token": "not-a-token-at-all-xx"}))
	if strings.Contains(p.String(), "token") {
		t.Errorf("reply mentions the ignored token: %s", p)
	}
	c.ok(a.sign(obj{"type": "set_hostname", "node_id": a.id, "hostname": "ign", "admin_token": "not-a-token-at-all-xx"}))
	if m := metricsText(t, r); regexp.MustCompile(`pilot_auth_failures_total\{reason="bad_token"\} [1-9]`).MatchString(m) {
		t.Errorf("ignored token counted:\n%s", grep(m, "pilot_auth_failures_total"))
	}
}

var (
	msgNames = "register heartbeat deregister lookup resolve punch rotate_key set_key_expiry get_key_info reassign_key " +
		"set_visibility set_hostname set_tags set_task_exec resolve_hostname report_trust revoke_trust check_trust " +
		"request_handshake poll_handshakes respond_handshake create_network join_network leave_network delete_network " +
		"rename_network list_networks list_nodes kick_member promote_member demote_member transfer_ownership get_member_role " +
		"set_network_policy get_network_policy invite_to_network poll_invites respond_invite get_audit_log get_polo_score " +
		"update_polo_score set_polo_score beacon_register beacon_list subscribe_replication unknown"
	labelSets = map[string]string{
		"type":     msgNames,
		"code":     "invalid_argument not_found already_exists permission_denied unauthenticated failed_precondition resource_exhausted rate_limited message_too_large unavailable internal",
		"category": "register_new register_known heartbeat mutation read anonymous token auth_failure",
		"role":     "owner admin member",
	}
	reasonSets = map[string]string{
		"pilot_auth_failures_total":         "bad_signature skew replay missing expired_key unknown_node bad_token",
		"pilot_connections_rejected_total":  "max_conns per_ip protocol",
		"pilot_request_duration_seconds":    "",
		"pilot_request_duration_seconds_le": "0.0001 0.00025 0.0005 0.001 0.0025 0.005 0.01 0.025 0.05 0.1 0.25 0.5 1 +Inf",
	}
	sampleRe = regexp.MustCompile(`^(pilot_[a-z_]+)\{(.*)\} (\S+)$`)
	labelRe  = regexp.MustCompile(`([a-z_]+)="([^"]*)"`)
)

// admitted opens a connection and checks that the registry serves it.
func admitted(t *testing.T, r *reg) *conn {
	t.Helper()
	c := r.dial()
	c.ok(obj{"type": "beacon_list"})
	return c
}

// §3.1: "The `type` label is bounded: it is one of the message names in §7,
// or `unknown`"; label values "from the sets above only"; histogram buckets
// exactly as listed; "a registry that never refused a request exposes no
// `pilot_rate_limited_total`" (series MAY exist at 0).
func TestConf_3_1_MetricLabelSets(t *testing.T) {
	m := metricsText(t, start(t))
	for _, l := range strings.Split(m, "\n") {
		if strings.HasPrefix(l, "pilot_rate_limited_total") || strings.HasPrefix(l, "pilot_legacy_auth_total") {
			if !strings.HasSuffix(l, " 0") {
				t.Errorf("fresh registry: %s", l)
			}
		}
	}
	r := start(t, "-max-conns", "3")
	c, c2, c3 := admitted(t, r), admitted(t, r), admitted(t, r)
	if x, err := net.Dial("tcp", r.addr); err == nil {
		x.SetDeadline(time.Now().Add(5 * time.Second))
		io.ReadAll(x)
		x.Close()
	}
	c2.c.Close()
	c3.c.Close()
	n := c.register(nil)
	for _, typ := range []string{"frobnicate", "HEARTBEAT", "x\u00e9", "set_expr_policy"} {
		c.send(obj{"type": typ})
	}
	c.send(`{"node_id":1}`)
	c.send(`[]`)
	c.fail(signWith(obj{"type": "heartbeat", "node_id": n.id}, n.key, n.id, time.Hour), "unauthenticated", "")
	c.fail(obj{"type": "set_visibility", "node_id": n.id, "public": true, "admin_token": "bad-bad-bad-bad-bad"}, "unauthenticated", "")
	for i := 0; i < 8; i++ {
		c.send(n.sign(obj{"type": "heartbeat", "node_id": n.id}))
	}
	var body string
	for deadline := time.Now().Add(10 * time.Second); ; {
		resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Get("http://" + r.addr + "/metrics")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				body = string(b)
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(body, `pilot_connections_rejected_total{reason="max_conns"}`) {
		t.Errorf("no max_conns rejection:\n%s", grep(body, "pilot_connections_rejected_total"))
	}
	in := func(set, v string) bool { return strings.Contains(" "+set+" ", " "+v+" ") }
	for _, l := range strings.Split(body, "\n") {
		sm := sampleRe.FindStringSubmatch(l)
		if sm == nil {
			continue
		}
		name := sm[1]
		for _, lv := range labelRe.FindAllStringSubmatch(sm[2], -1) {
			k, v := lv[1], lv[2]
			switch {
			case k == "le":
				if !in(reasonSets["pilot_request_duration_seconds_le"], v) {
					t.Errorf("histogram bucket le=%q: %s", v, l)
				}
			case k == "reason":
				if set, ok := reasonSets[name]; ok && !in(set, v) {
					t.Errorf("reason %q: %s", v, l)
				}
			case k == "action":
				if _, ok := auditAttrs[v]; !ok {
					t.Errorf("action %q: %s", v, l)
				}
			default:
				if set, ok := labelSets[k]; ok && !in(set, v) {
					t.Errorf("label %s=%q outside its set: %s", k, v, l)
				}
			}
		}
	}
	for _, le := range strings.Fields(reasonSets["pilot_request_duration_seconds_le"]) {
		if !strings.Contains(body, `pilot_request_duration_seconds_bucket{le="`+le+`",type="heartbeat"}`) &&
			!strings.Contains(body, `pilot_request_duration_seconds_bucket{type="heartbeat",le="`+le+`"}`) {
			t.Errorf("bucket le=%s missing", le)
		}
	}
}

// §3 /healthz: `requests_total` "registry-protocol requests handled since
// process start", `errors_total` "error replies sent since process start".
func TestConf_3_HealthzCounters(t *testing.T) {
	r := start(t)
	c := r.dial()
	c.ok(obj{"type": "beacon_list"})
	c.ok(obj{"type": "beacon_list"})
	c.ok(obj{"type": "beacon_list"})
	c.send(obj{"type": "get_key_info", "node_id": 99})
	c.send(obj{"type": "nope"})
	resp, err := http.Get("http://" + r.addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	json.NewDecoder(resp.Body).Decode(&h)
	resp.Body.Close()
	if h["requests_total"] != float64(5) || h["errors_total"] != float64(2) || h["networks_count"] != float64(0) || h["nodes_online"] != float64(0) {
		t.Errorf("healthz: %v", h)
	}
}

// §4.4 / §8.2 page sizes: "`list_nodes`, `list_networks`, `beacon_list` 100 /
// 500; `get_audit_log` 100 / 1,000; `poll_invites`, `poll_handshakes` 100 / 100".
func TestConf_8_2_PageSizes(t *testing.T) {
	r := start(t, "-rate-limit", "off")
	c := r.dial()
	c.registerMany(520)
	count := func(p reply, key string) (int, bool) {
		var m map[string]json.RawMessage
		json.Unmarshal(p.raw, &m)
		var arr []json.RawMessage
		json.Unmarshal(m[key], &arr)
		_, more := m["next_cursor"]
		return len(arr), more
	}
	if n, more := count(c.ok(obj{"type": "list_nodes", "network_id": 0, "admin_token": adminTok}), "nodes"); n != 100 || !more {
		t.Errorf("list_nodes default page: %d %v", n, more)
	}
	if n, more := count(c.ok(obj{"type": "get_audit_log", "admin_token": adminTok}), "entries"); n != 100 || !more {
		t.Errorf("get_audit_log default page: %d %v", n, more)
	}
	// above the maximum: at most the maximum (clamped) or invalid_argument
	// (ambiguous, see the report); never more.
	p := c.send(obj{"type": "list_nodes", "network_id": 0, "admin_token": adminTok, "limit": 501})
	if p.typ() == "list_nodes_ok" {
		if n, _ := count(p, "nodes"); n > 500 {
			t.Errorf("list_nodes limit 501 returned %d", n)
		}
	} else if p.code() != "invalid_argument" {
		t.Errorf("list_nodes limit 501: %s", p)
	}
	for _, lim := range []any{0, -1} {
		p = c.send(obj{"type": "list_nodes", "network_id": 0, "admin_token": adminTok, "limit": lim})
		if p.typ() == "list_nodes_ok" {
			if n, _ := count(p, "nodes"); n == 0 {
				t.Errorf("list_nodes limit %v: an empty page with more items: %s", lim, p.String()[:80])
			}
		} else if p.code() != "invalid_argument" {
			t.Errorf("list_nodes limit %v: %s", lim, p)
		}
	}
}
