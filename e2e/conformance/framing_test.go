package conformance

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// padded returns a get_key_info request body of exactly n bytes.
func padded(t *testing.T, n int) []byte {
	base := `{"type":"get_key_info","node_id":4,"pad":""}`
	if n < len(base) {
		t.Fatal("too small")
	}
	return []byte(`{"type":"get_key_info","node_id":4,"pad":"` + strings.Repeat("x", n-len(base)) + `"}`)
}

// §1 / §14 item 1.
func TestConf_1_FrameCap(t *testing.T) {
	r := start(t)
	c := r.dial()
	c.register(nil)
	p := c.send(padded(t, 65536))
	if p.typ() != "get_key_info_ok" {
		t.Fatalf("65,536-byte body: %s", p)
	}
	// 65,537: header only; the registry must not read the body.
	c.writeRaw([]byte{0, 1, 0, 1})
	p = c.read()
	if p.code() != "message_too_large" {
		t.Fatalf("65,537: %s", p)
	}
	c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.readFrame(); err != io.EOF && !isReset(err) {
		t.Fatalf("connection not closed after message_too_large: %v", err)
	}
}

func isReset(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "reset") || strings.Contains(err.Error(), "EOF"))
}

// §1 malformed bodies keep the connection; §14 item 2 pipelining.
func TestConf_2_MalformedAndPipelining(t *testing.T) {
	r := start(t)
	c := r.dial()
	for _, b := range []string{"", "null", "[]", "5", `"x"`, "{", "\xff\xfe", `{"type":"heartbeat"} x`} {
		p := c.send(b)
		if p.code() != "invalid_argument" {
			t.Errorf("body %q: %s", b, p)
		}
	}
	// Three frames at once.
	var all []byte
	all = append(all, frame([]byte(`{"type":"get_key_info","node_id":99}`))...)
	all = append(all, frame([]byte(`{"type":"beacon_list"}`))...)
	all = append(all, frame([]byte(`{"type":"nope"}`))...)
	c.writeRaw(all)
	if p := c.read(); p.code() != "not_found" {
		t.Errorf("1st: %s", p)
	}
	if p := c.read(); p.typ() != "beacon_list_ok" {
		t.Errorf("2nd: %s", p)
	}
	if p := c.read(); p.code() != "invalid_argument" || !strings.Contains(p.msg(), `unsupported message type "nope"`) {
		t.Errorf("3rd: %s", p)
	}
	// missing type
	c.fail(obj{"node_id": 4}, "invalid_argument", "")
	p := c.send(`{"type":"subscribe_replication"}`)
	if p.code() != "failed_precondition" || !strings.Contains(p.msg(), "replication is not supported") {
		t.Errorf("subscribe_replication: %s", p)
	}
	if p := c.send(`{"type":"beacon_list"}`); p.typ() != "beacon_list_ok" {
		t.Errorf("after: %s", p)
	}
}

// §1.1 sniffing.
func TestConf_Sniffing(t *testing.T) {
	r := start(t)
	for _, m := range []string{"POST", "PUT", "DELETE", "PATCH", "OPTIONS"} {
		c, err := net.Dial("tcp", r.addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, m+" /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Errorf("%s: %v", m, err)
		} else if resp.StatusCode != 405 {
			t.Errorf("%s: status %d", m, resp.StatusCode)
		}
		c.Close()
	}
	for _, first := range []string{"PILT\x00\x00\x00\x05hello", "\x01\x00\x00\x05hello", "ABCD", "\x16\x03\x01\x00\x05hello"} {
		c, err := net.Dial("tcp", r.addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, first)
		b, err := io.ReadAll(c)
		if len(b) != 0 {
			t.Errorf("%q: got a reply %q (%v)", first, b, err)
		}
		c.Close()
	}
	if m := metricsText(t, r); !strings.Contains(m, `pilot_connections_rejected_total{reason="protocol"} 4`) {
		t.Errorf("protocol rejections:\n%s", grep(m, "pilot_connections_rejected_total"))
	}
}

// §3 /healthz keys and order; networks_count excludes 0.
func TestConf_6_Healthz(t *testing.T) {
	r := start(t)
	c := r.dial()
	n := c.register(nil)
	c.createNet(n, "hz", "", nil)
	for _, host := range []string{r.addr} {
		resp, err := http.Get("http://" + host + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			t.Fatalf("status %d ct %q", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		d := json.NewDecoder(strings.NewReader(string(b)))
		d.UseNumber()
		tok, _ := d.Token()
		if tok != json.Delim('{') {
			t.Fatalf("not an object: %s", b)
		}
		var keys []string
		vals := map[string]any{}
		for d.More() {
			k, _ := d.Token()
			var v any
			d.Decode(&v)
			keys = append(keys, k.(string))
			vals[k.(string)] = v
		}
		want := "status,version,uptime_seconds,nodes_online,networks_count,requests_total,errors_total"
		if strings.Join(keys, ",") != want {
			t.Errorf("keys %v, want %s", keys, want)
		}
		if vals["status"] != "ok" || vals["networks_count"] != json.Number("1") || vals["nodes_online"] != json.Number("1") {
			t.Errorf("values: %s", b)
		}
		if v, _ := vals["version"].(string); v == "" || strings.HasPrefix(v, "v") {
			t.Errorf("version %q", v)
		}
		for _, k := range []string{"uptime_seconds", "requests_total", "errors_total"} {
			if _, ok := vals[k].(json.Number); !ok {
				t.Errorf("%s not int: %s", k, b)
			}
		}
	}
	resp, err := http.Get("http://" + r.addr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.TrimSpace(string(b)) != `{"status":"ready"}` {
		t.Errorf("readyz %d %s", resp.StatusCode, b)
	}
	resp, err = http.Get("http://" + r.addr + "/nope")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("unknown path: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest("HEAD", "http://"+r.addr+"/healthz", nil)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("HEAD healthz: %d", resp.StatusCode)
	}
	resp, err = http.Get("http://" + r.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "pilot_requests_total") {
		t.Errorf("metrics: %d", resp.StatusCode)
	}
}

// §14 item 9.
func TestConf_9_UnknownTypeMetric(t *testing.T) {
	r := start(t)
	c := r.dial()
	c.send(`{"type":"frobnicate"}`)
	resp, err := http.Get("http://" + r.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	s := string(b)
	if !strings.Contains(s, `pilot_requests_total{type="unknown"} 1`) || strings.Contains(s, "frobnicate") {
		t.Errorf("metrics:\n%s", grep(s, "pilot_requests_total"))
	}
	if !strings.Contains(s, `pilot_errors_total{code="invalid_argument",type="unknown"} 1`) {
		t.Errorf("errors metric:\n%s", grep(s, "pilot_errors_total"))
	}
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// §14 item 5.
func TestConf_5_MaxConns(t *testing.T) {
	r := start(t, "-max-conns", "2")
	admitted(t, r)
	admitted(t, r)
	c3, err := net.Dial("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c3.Close()
	c3.SetDeadline(time.Now().Add(10 * time.Second))
	c3.Write(frame([]byte(`{"type":"beacon_list"}`)))
	b, _ := io.ReadAll(c3)
	if len(b) != 0 {
		t.Errorf("third connection got %q", b)
	}
}

// §14 item 4.
func TestConf_4_Timeouts(t *testing.T) {
	r := start(t, "-idle-timeout", "1s", "-frame-timeout", "1s")
	c := r.dial()
	c.c.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := c.readFrame(); err == nil {
		t.Error("idle connection got a frame")
	}
	c2 := r.dial()
	c2.writeRaw([]byte{0, 0, 0, 50, '{'})
	c2.c.SetReadDeadline(time.Now().Add(20 * time.Second))
	t0 := time.Now()
	if _, err := c2.readFrame(); err == nil {
		t.Error("partial frame got a frame")
	}
	if time.Since(t0) > 15*time.Second {
		t.Error("partial frame not closed promptly")
	}
}

func metricsText(t *testing.T, r *reg) string {
	t.Helper()
	resp, err := http.Get("http://" + r.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("metrics: %d", resp.StatusCode)
	}
	return string(b)
}

// §3.1 metric series.
func TestConf_Metrics(t *testing.T) {
	r := start(t)
	c := r.dial()
	m := metricsText(t, r)
	for _, name := range []string{"pilot_nodes_online", "pilot_nodes_total", "pilot_trust_links", "pilot_task_executors", "pilot_uptime_seconds",
		"pilot_registrations_total", "pilot_deregistrations_total", "pilot_trust_reports_total", "pilot_trust_revocations_total",
		"pilot_handshake_requests_total", "pilot_networks", "pilot_invites_pending", "pilot_connections_open", "go_goroutines", "process_"} {
		if !strings.Contains(m, "\n"+name) {
			t.Errorf("metric %s missing at start", name)
		}
	}
	if strings.Contains(m, "pilot_legacy_auth_total{") || strings.Contains(m, "pilot_rate_limited_total{category=\"x") {
		t.Errorf("legacy series on a fresh registry")
	}
	n := c.register(nil)
	o := c.register(nil)
	c.createNet(o, "met", "", nil)
	c.fail(signWith(obj{"type": "heartbeat", "node_id": n.id}, n.key, n.id, 2*time.Minute), "unauthenticated", "")
	req := n.sign(obj{"type": "heartbeat", "node_id": n.id})
	c.ok(req)
	c.fail(req, "unauthenticated", "")
	req = n.sign(obj{"type": "set_visibility", "node_id": n.id, "public": true})
	req["public"] = false
	c.fail(req, "unauthenticated", "")
	c.fail(obj{"type": "set_visibility", "node_id": n.id, "public": true}, "unauthenticated", "")
	c.fail(obj{"type": "set_visibility", "node_id": n.id, "public": true, "admin_token": "bad-bad-bad-bad-bad"}, "unauthenticated", "")
	for i := 0; i < 6; i++ {
		c.send(n.sign(obj{"type": "heartbeat", "node_id": n.id}))
	}
	m = metricsText(t, r)
	for _, want := range []string{
		`pilot_auth_failures_total{reason="skew"} 1`, `pilot_auth_failures_total{reason="replay"} 1`,
		`pilot_auth_failures_total{reason="bad_signature"} 1`, `pilot_auth_failures_total{reason="missing"} 1`,
		`pilot_auth_failures_total{reason="bad_token"} 1`, `pilot_rate_limited_total{category="heartbeat"} 1`,
		`pilot_networks 1`, `pilot_nodes_total 2`, `pilot_network_members{role="owner"} 1`,
		`pilot_requests_total{type="heartbeat"}`, `pilot_errors_total{code="rate_limited",type="heartbeat"} 1`,
		`pilot_request_duration_seconds_bucket{type="heartbeat",le="0.00025"}`,
		`pilot_audit_events_total{action="network.created"} 1`, `pilot_registrations_total 2`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	// 1 MiB frame length: message_too_large
	c2 := r.dial()
	c2.writeRaw([]byte{0, 0x10, 0, 0})
	if p := c2.read(); p.code() != "message_too_large" {
		t.Errorf("1 MiB: %s", p)
	}
}

// §1 per-IP cap; §3.1 pilot_connections_rejected_total reasons.
func TestConf_5_PerIPCap(t *testing.T) {
	r := start(t, "-max-conns-per-ip", "1")
	c1 := admitted(t, r)
	c2, err := net.Dial("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	c2.SetDeadline(time.Now().Add(10 * time.Second))
	c2.Write(frame([]byte(`{"type":"beacon_list"}`)))
	if b, _ := io.ReadAll(c2); len(b) != 0 {
		t.Errorf("second connection from the IP got %q", b)
	}
	c2.Close()
	c1.c.Close()
	cl := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := cl.Get("http://" + r.addr + "/metrics")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				// ≥ 1: a metrics request made while c1 was still counted is refused too.
				if !strings.Contains(string(b), `pilot_connections_rejected_total{reason="per_ip"} `) {
					t.Errorf("metrics:\n%s", grep(string(b), "pilot_connections_rejected_total"))
				}
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics not reachable: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
