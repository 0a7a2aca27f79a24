package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runFor runs pilot-registry and expects it to exit by itself within d
// (a start-up error); it reports -1 when the process had to be killed.
func runFor(t *testing.T, d time.Duration, env []string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	cmd := exec.CommandContext(ctx, regBin, args...)
	cmd.Env = append(append(os.Environ(), "PILOT_REGISTRY_ADMIN_TOKEN="), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		return out.String(), -1
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return out.String(), ee.ExitCode()
	}
	return out.String(), 0
}

// startLog returns the "registry listening" record.
func (r *reg) startLog() map[string]any {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for _, l := range r.logLines() {
			var m map[string]any
			if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == "registry listening" {
				return m
			}
		}
	}
	return nil
}

func (r *reg) hasLog(level, sub string) bool {
	for _, l := range r.logLines() {
		if strings.Contains(l, `"level":"`+level+`"`) && strings.Contains(l, sub) {
			return true
		}
	}
	return false
}

// createWith tries create_network with the given admin token.
func createWith(c *conn, n *node, tok, name string) reply {
	return c.send(obj{"type": "create_network", "node_id": n.id, "name": name, "admin_token": tok})
}

// cli.md: "`-listen` ... `-addr` (the original's name) is an alias";
// "`--flag` is accepted too".
func TestConf_Cli_ListenAliases(t *testing.T) {
	for _, f := range []string{"-addr", "--listen", "--addr"} {
		want := freePort(t)
		r := start(t, f, want)
		if r.addr != want {
			t.Errorf("%s %s: listening on %s", f, want, r.addr)
		}
		r.dial().ok(obj{"type": "beacon_list"})
	}
}

// cli.md §1.1 `-admin-token` "(env `PILOT_REGISTRY_ADMIN_TOKEN`) ... The
// registry does not read `PILOT_ADMIN_TOKEN`"; `-admin-token-file` "read the
// admin token from a file (first line)"; precedence "command-line flag >
// environment variable > config file > default".
func TestConf_Cli_AdminTokenSources(t *testing.T) {
	const envTok, fileTok, cfgTok = "env-admin-token-0123456789", "file-admin-token-0123456789", "cfg-admin-token-0123456789"
	check := func(r *reg, good string, bad ...string) {
		t.Helper()
		c := r.dial()
		n := c.register(nil)
		for _, b := range bad {
			if p := createWith(c, n, b, "n-"+fmtInt(n.id)); p.code() != "unauthenticated" {
				t.Errorf("token %q accepted: %s", b, p)
			}
		}
		if good != "" {
			if p := createWith(c, n, good, "n-"+fmtInt(n.id)); p.typ() != "create_network_ok" {
				t.Errorf("token %q refused: %s", good, p)
			}
		}
	}
	// env
	r := &reg{t: t, dataDir: t.TempDir(), env: []string{"PILOT_REGISTRY_ADMIN_TOKEN=" + envTok}}
	r.launch(freePort(t))
	t.Cleanup(r.kill)
	check(r, envTok)
	// PILOT_ADMIN_TOKEN is not read
	r = &reg{t: t, dataDir: t.TempDir(), env: []string{"PILOT_ADMIN_TOKEN=" + envTok}}
	r.launch(freePort(t))
	t.Cleanup(r.kill)
	check(r, "", envTok)
	if m := r.startLog(); m == nil || m["admin_token"] != "not configured" {
		t.Errorf("start-up log without a token: %v", m)
	}
	// file: first line only
	tf := filepath.Join(t.TempDir(), "tok")
	os.WriteFile(tf, []byte(fileTok+"\nsecond-line-ignored\n"), 0o600)
	r = &reg{t: t, dataDir: t.TempDir(), flags: []string{"-admin-token-file", tf}}
	r.launch(freePort(t))
	t.Cleanup(r.kill)
	check(r, fileTok, fileTok+"\nsecond-line-ignored")
	// config file, then env over config, then flag over env
	cf := filepath.Join(t.TempDir(), "cfg.json")
	os.WriteFile(cf, []byte(`{"admin_token":"`+cfgTok+`","rate-limit":"off","max_conns":100,"legacy_v1_auth":false}`), 0o600)
	r = &reg{t: t, dataDir: t.TempDir(), flags: []string{"-config", cf}}
	r.launch(freePort(t))
	t.Cleanup(r.kill)
	check(r, cfgTok)
	r = &reg{t: t, dataDir: t.TempDir(), flags: []string{"-config", cf}, env: []string{"PILOT_REGISTRY_ADMIN_TOKEN=" + envTok}}
	r.launch(freePort(t))
	t.Cleanup(r.kill)
	check(r, envTok, cfgTok)
	r = &reg{t: t, dataDir: t.TempDir(), flags: []string{"-config", cf, "-admin-token", adminTok}, env: []string{"PILOT_REGISTRY_ADMIN_TOKEN=" + envTok}}
	r.launch(freePort(t))
	t.Cleanup(r.kill)
	check(r, adminTok, envTok, cfgTok)
}

// cli.md: "An unknown key, a wrong value type or an unreadable file is a
// start-up error (exit 2) naming the key."
func TestConf_Cli_ConfigErrors(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"no_such_flag": `{"no_such_flag":"x"}`,
		"max-conns":    `{"max-conns":true}`,
	} {
		cf := filepath.Join(dir, name+".json")
		os.WriteFile(cf, []byte(content), 0o600)
		out, code := runFor(t, 15*time.Second, nil, "-config", cf, "-data-dir", t.TempDir(), "-listen", "127.0.0.1:0")
		if code != 2 || !strings.Contains(out, name) {
			t.Errorf("config %s: exit %d, output %q", content, code, out)
		}
	}
	out, code := runFor(t, 15*time.Second, nil, "-config", filepath.Join(dir, "missing.json"), "-data-dir", t.TempDir(), "-listen", "127.0.0.1:0")
	if code != 2 {
		t.Errorf("unreadable config: exit %d, output %q", code, out)
	}
}

// cli.md §1.1: `-beacon` "accepted for compatibility with the original and
// ignored (one WARN)"; registry.md §8.2 global admin token "a WARN at start if
// shorter than 16 bytes"; §5.5 "the start-up log says so in one WARN line when
// it is on"; start-up log `auth` `v2+legacy-v1`.
func TestConf_Cli_StartupWarnings(t *testing.T) {
	r := startRaw(t, "-admin-token", "short-token", "-beacon", "127.0.0.1:9001", "-legacy-v1-auth")
	m := r.startLog()
	if m == nil || m["auth"] != "v2+legacy-v1" || m["admin_token"] != "configured" {
		t.Errorf("start-up log: %v", m)
	}
	// the WARN lines may follow the "registry listening" line: poll, bounded
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && !(r.hasLog("WARN", "beacon") && r.hasLog("WARN", "legacy") && r.hasLog("WARN", "16")); {
		time.Sleep(20 * time.Millisecond)
	}
	warns := 0
	for _, l := range r.logLines() {
		if strings.Contains(l, `"level":"WARN"`) {
			warns++
		}
	}
	if warns < 3 {
		t.Errorf("expected WARN lines for -beacon, the short admin token and legacy mode:\n%s", r.logText())
	}
	if !r.hasLog("WARN", "beacon") {
		t.Errorf("no WARN about -beacon:\n%s", r.logText())
	}
	if !r.hasLog("WARN", "legacy") {
		t.Errorf("no WARN about legacy mode:\n%s", r.logText())
	}
	if strings.Contains(r.logText(), "short-token") {
		t.Errorf("the admin token was logged")
	}
}

// cli.md §1.1 `-http`: "optional extra plain HTTP listener for `/healthz`,
// `/readyz`, `/metrics`"; registry.md §1.1 "the sniffed HTTP surface on the
// registry port stays enabled".
func TestConf_Cli_HTTPListener(t *testing.T) {
	h := freePort(t)
	r := start(t, "-http", h)
	get := func(u string) (int, string) {
		for deadline := time.Now().Add(10 * time.Second); ; {
			resp, err := http.Get(u)
			if err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				return resp.StatusCode, string(b)
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %v", u, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	for _, base := range []string{"http://" + h, "http://" + r.addr} {
		if code, b := get(base + "/healthz"); code != 200 || !strings.HasPrefix(b, `{"status":"ok"`) {
			t.Errorf("%s/healthz: %d %s", base, code, b)
		}
		if code, b := get(base + "/readyz"); code != 200 || !strings.Contains(b, `"ready"`) {
			t.Errorf("%s/readyz: %d %s", base, code, b)
		}
		if code, b := get(base + "/metrics"); code != 200 || !strings.Contains(b, "pilot_requests_total") && !strings.Contains(b, "pilot_uptime_seconds") {
			t.Errorf("%s/metrics: %d", base, code)
		}
		if code, _ := get(base + "/nope"); code != 404 {
			t.Errorf("%s/nope: %d", base, code)
		}
	}
	resp, err := http.Post("http://"+h+"/healthz", "application/json", strings.NewReader("{}"))
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != 405 {
			t.Errorf("POST on -http: %d", resp.StatusCode)
		}
	}
}

// registry.md §12: "`-rate-limit 'category=N/min:burst,…'` overrides entries".
func TestConf_12_RateLimitOverride(t *testing.T) {
	r := start(t, "-rate-limit", "heartbeat=6/min:2")
	c := r.dial()
	n := c.register(nil)
	var reqs []obj
	for i := 0; i < 3; i++ {
		reqs = append(reqs, n.sign(obj{"type": "heartbeat", "node_id": n.id}))
	}
	ps := c.pipeline(reqs)
	if ps[0].typ() != "heartbeat_ok" || ps[1].typ() != "heartbeat_ok" || ps[2].code() != "rate_limited" {
		t.Errorf("heartbeat burst 2: %s / %s / %s", ps[0], ps[1], ps[2])
	}
	// one token per 10 s
	if ms := ps[2].num("retry_after_ms"); ms <= 0 || ms > 10000 {
		t.Errorf("retry_after_ms %d", ms)
	}
	// other categories keep their defaults
	for i := 0; i < 5; i++ {
		c.ok(n.sign(obj{"type": "set_visibility", "node_id": n.id, "public": i%2 == 0}))
	}
	// a malformed override is a start-up error
	out, code := runFor(t, 15*time.Second, nil, "-rate-limit", "heartbeat=fast", "-data-dir", t.TempDir(), "-listen", "127.0.0.1:0")
	if code != 2 {
		t.Errorf("malformed -rate-limit: exit %d %q", code, out)
	}
}

// registry.md §13.2 guarantee 5 / cli.md: `-integrity` quick|full|off and
// `-migrate` auto|never start on a healthy, up-to-date store.
func TestConf_Cli_IntegrityAndMigrateFlags(t *testing.T) {
	r := start(t)
	r.dial().register(nil)
	r.stop()
	for _, f := range [][]string{{"-integrity", "full"}, {"-integrity", "off"}, {"-migrate", "never"}} {
		r.flags = append([]string{"-admin-token", adminTok}, f...)
		r.launch(r.addr)
		r.dial().ok(obj{"type": "lookup", "node_id": 4})
		r.stop()
	}
	out, code := runFor(t, 15*time.Second, nil, "-integrity", "sometimes", "-data-dir", t.TempDir(), "-listen", "127.0.0.1:0")
	if code != 2 {
		t.Errorf("-integrity sometimes: exit %d %q", code, out)
	}
}
