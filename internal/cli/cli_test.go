package cli

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/ipc"
	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
)

// cannedOps gives the daemon-local and registry ops that the fake registry
// does not model a reply shaped like ipc.md §10.4.
func cannedOps(h *harness) {
	h.reg.can(ipcmsg.OpPeers, `{"peers":[{"node_id":686,"endpoint":"203.0.113.7:4000","path":"direct","relay":false,"encrypted":true,"authenticated":true,"auth":"pila","key_age_s":120,"rekeys":0,"last_rx_ms":15,"last_tx_ms":20,"frames_sent":10,"frames_recv":9,"decrypt_failures":0,"replays":0,"queued":0}],"total":1}`)
	h.reg.can(ipcmsg.OpLookup, `{"type":"lookup_ok","node_id":686,"address":"0:0000.0000.02AE","public_key":"k","public":true,"polo_score":0,"capabilities":["handshake-v2"],"networks":[0,1],"hostname":"beta"}`)
	h.reg.can(ipcmsg.OpKeyInfo, `{"node_id":685,"created_at":"2026-01-01T00:00:00Z","rotate_count":0,"key_age_days":3,"expired":false}`)
	h.reg.can(ipcmsg.OpKeySetExpiry, `{"node_id":685,"expires_at":"2026-06-25T10:15:03Z"}`)
	h.reg.can(ipcmsg.OpKeyRotate, `{"node_id":685,"public_key":"bmV3","rotate_count":1,"rotated_at":"2026-03-27T10:15:03Z"}`)
	h.reg.can(ipcmsg.OpKeyReclaim, `{"node_id":42,"previous_node_id":99,"address":"0:0000.0000.002A"}`)
	h.reg.can(ipcmsg.OpWebhookSet, `{"webhook":"https://hooks.example.com/pilot","signed":true}`)
	h.reg.can(ipcmsg.OpWebhookClear, `{"webhook":""}`)
	h.reg.can(ipcmsg.OpWebhookStatus, `{"configured":true,"url":"https://hooks.example.com/pilot","signed":true,"queued":0,"delivered":10,"failed":1,"dropped":0,"last_event_id":11}`)
}

// ipcCommands are commands that need only the control IPC, with the data
// keys their --json output must carry.
var ipcCommands = []struct {
	args []string
	keys []string
}{
	{[]string{"info"}, []string{"node_id", "address", "hostname", "uptime_secs", "connections", "ports", "peers", "encrypted_peers",
		"authenticated_peers", "encrypt", "identity", "public_key", "email", "bytes_sent", "bytes_recv", "pkts_sent", "pkts_recv",
		"tunnel_encryption_success", "tunnel_encryption_failure", "handshake_pending_count", "peer_list", "conn_list", "version", "networks"}},
	{[]string{"health"}, []string{"status", "uptime_seconds", "connections", "peers", "bytes_sent", "bytes_recv", "registry", "webhook"}},
	{[]string{"peers", "--search", "686"}, []string{"peers", "total"}},
	{[]string{"handshake", "686", "summarise", "papers"}, []string{"status", "node_id"}},
	{[]string{"approve", "686"}, []string{"status", "node_id"}},
	{[]string{"reject", "686", "not", "expected"}, []string{"status", "node_id"}},
	{[]string{"pending"}, []string{"pending"}},
	{[]string{"trust"}, []string{"trusted"}},
	{[]string{"set-hostname", "alpha"}, []string{"node_id", "hostname"}},
	{[]string{"clear-hostname"}, []string{"node_id", "hostname"}},
	{[]string{"set-public"}, []string{"node_id", "visibility"}},
	{[]string{"set-private"}, []string{"node_id", "visibility"}},
	{[]string{"set-tags", "gpu", "eu-west"}, []string{"node_id", "tags"}},
	{[]string{"clear-tags"}, []string{"node_id", "tags"}},
	{[]string{"find", "alpha"}, []string{"node_id", "address", "public", "hostname"}},
	{[]string{"lookup", "686"}, []string{"node_id", "address", "public_key", "networks"}},
	{[]string{"key", "info"}, []string{"node_id", "created_at", "rotate_count", "key_age_days", "expired"}},
	{[]string{"key", "expiry", "90d"}, []string{"node_id", "expires_at"}},
	{[]string{"key", "rotate", "--expires-in", "90d"}, []string{"node_id", "public_key", "rotate_count", "rotated_at"}},
	{[]string{"key", "reclaim", "42", "--admin-token", "T"}, []string{"node_id", "previous_node_id", "address"}},
	{[]string{"webhook", "set", "https://hooks.example.com/pilot", "--secret", "whsec_x"}, []string{"webhook", "signed"}},
	{[]string{"set-webhook", "https://hooks.example.com/pilot"}, []string{"webhook", "signed"}},
	{[]string{"webhook", "clear"}, []string{"webhook"}},
	{[]string{"clear-webhook"}, []string{"webhook"}},
	{[]string{"webhook", "status"}, []string{"configured", "url", "signed", "queued", "delivered", "failed", "dropped", "last_event_id"}},
	{[]string{"network", "list"}, []string{"networks"}},
	{[]string{"network", "members", "1"}, []string{"network_id", "nodes"}},
	{[]string{"network", "policy", "1"}, []string{"network_id", "max_members", "allowed_ports", "description"}},
	{[]string{"network", "role", "1", "--node", "685"}, []string{"network_id", "target_node_id", "role"}},
	{[]string{"network", "invites"}, []string{"invites"}},
	{[]string{"disconnect", "3"}, []string{"conn_id", "closed"}},
	{[]string{"daemon", "status"}, []string{"running", "pid", "node_id", "address", "uptime_secs"}},
}

func newFullHarness(t *testing.T) *harness {
	h := newHarness(t)
	fleet(h)
	cannedOps(h)
	h.daemon(owner).be.setHost("alpha", addr.New(0, 0x2AD))
	return h
}

// cli.md §5 item 10: --json anywhere, exactly one JSON line on success.
func TestCLI_C10_JSONAnywhere(t *testing.T) {
	h := newFullHarness(t)
	for _, c := range ipcCommands {
		placements := [][]string{
			append([]string{"--json"}, c.args...),
			append(append([]string{}, c.args...), "--json"),
			append([]string{c.args[0], "--json"}, c.args[1:]...),
		}
		for _, args := range placements {
			data := h.run(owner, args...).okJSON(t)
			for _, k := range c.keys {
				if _, ok := data[k]; !ok {
					t.Errorf("%v: data lacks %q: %v", args, k, data)
				}
			}
		}
	}
}

// Every IPC command also has a text form that succeeds and prints something.
func TestCLI_TextOutputs(t *testing.T) {
	h := newFullHarness(t)
	want := map[string]string{
		"handshake":      "handshake request sent to node 686\n",
		"approve":        "approved node 686\n",
		"reject":         "rejected node 686\n",
		"pending":        "no pending trust requests\n",
		"trust":          "no trusted nodes\n",
		"set-hostname":   "hostname of node 685 set to alpha\n",
		"clear-hostname": "hostname of node 685 cleared\n",
		"set-public":     "node 685 is now public\n",
		"set-private":    "node 685 is now private\n",
		"set-tags":       "tags of node 685: gpu, eu-west\n",
		"clear-tags":     "tags of node 685 cleared\n",
		"find":           "alpha is node 685 at 0:0000.0000.02AD (public)\n",
		"key expiry":     "key of node 685 expires at 2026-06-25T10:15:03Z\n",
		"key reclaim":    "node 42 reclaimed with this daemon's key (was node 99)\n",
		"webhook set":    "webhook set to https://hooks.example.com/pilot (signed)\n",
		"webhook clear":  "webhook cleared\n",
		"disconnect":     "connection 3 closed\n",
		"peers":          "NODE  ENDPOINT          PATH    AUTH  KEY AGE  LAST RX  FRAMES SENT  FRAMES RECV\n686   203.0.113.7:4000  direct  pila  120s     15ms     10           9\n",
	}
	for _, c := range ipcCommands {
		out := h.run(owner, c.args...).ok(t)
		name := c.args[0]
		if name == "key" || name == "webhook" {
			name += " " + c.args[1]
		}
		if w, ok := want[name]; ok && out != w {
			t.Errorf("%v:\n%q\nwant\n%q", c.args, out, w)
		}
		if out == "" || strings.Contains(out, "{") {
			t.Errorf("%v: text output %q", c.args, out)
		}
	}
}

// cli.md §5 item 11: with the daemon stopped, every IPC command fails with
// not_running and exit 3.
func TestCLI_C11_NotRunning(t *testing.T) {
	h := newHarness(t)
	sock := filepath.Join(h.dir, "absent.sock")
	more := [][]string{{"ping", "686", "--count", "1"}, {"bench", "686"}, {"connect", "686", "--message", "x"},
		{"send", "686", "1000", "--data", "x"}, {"recv", "1000"}, {"send-message", "686", "--data", "x"},
		{"subscribe", "686", "jobs"}, {"publish", "686", "jobs", "--data", "x"}, {"listen", "5000"},
		{"network", "join", "1"}, {"network", "promote", "1", "--node", "686"}, {"ping", "alpha"}}
	all := more
	for _, c := range ipcCommands {
		if c.args[0] != "daemon" {
			all = append(all, c.args)
		}
	}
	for _, args := range all {
		e := h.runSocket(sock, append([]string{"--json"}, args...)...).failJSON(t, "not_running", 3)
		if e.Message != "daemon is not running (socket "+sock+")" || e.Hint != "pilotctl daemon start" {
			t.Errorf("%v: %+v", args, e)
		}
	}
	r := h.runSocket(sock, "info")
	if r.code != 3 || r.err != "error: daemon is not running (socket "+sock+")\nhint: pilotctl daemon start\n" {
		t.Errorf("text: exit %d %q", r.code, r.err)
	}
	// --socket wins over PILOT_SOCKET.
	h.daemon(owner)
	if r := h.runSocket(sock, "--socket", h.daemon(owner).path, "info"); r.code != 0 {
		t.Errorf("--socket: exit %d %q", r.code, r.err)
	}
	// A socket path that is not a socket is not running either.
	file := filepath.Join(h.dir, "plain")
	os.WriteFile(file, nil, 0o600)
	h.runSocket(file, "--json", "health").failJSON(t, "not_running", 3)
}

// cli.md §5 item 17: every u16 code maps to its code string and exit status,
// and a "hint:" second line becomes the hint.
func TestCLI_C17_ErrorCodes(t *testing.T) {
	h := newHarness(t)
	want := []struct {
		code ipcmsg.Code
		name string
		exit int
	}{
		{1, "internal", 1}, {2, "invalid_argument", 2}, {3, "not_found", 5}, {4, "already_exists", 1},
		{5, "permission_denied", 4}, {6, "unauthenticated", 4}, {7, "failed_precondition", 1},
		{8, "resource_exhausted", 1}, {9, "rate_limited", 1}, {10, "unavailable", 1}, {11, "timeout", 6},
		{12, "connection_failed", 1}, {13, "auth_required", 4}, {0, "internal", 1}, {99, "internal", 1},
	}
	for _, w := range want {
		h.reg.fail(ipcmsg.OpNetworkList, &ipc.Error{Code: w.code, Text: "what failed\nhint: what to do"})
		e := h.run(owner, "--json", "network", "list").failJSON(t, w.name, w.exit)
		if e.Message != "what failed" || e.Hint != "what to do" {
			t.Errorf("code %d: %+v", w.code, e)
		}
		r := h.run(owner, "network", "list")
		if r.code != w.exit || r.err != "error: what failed\nhint: what to do\n" || r.out != "" {
			t.Errorf("code %d text: exit %d %q", w.code, r.code, r.err)
		}
	}
	h.reg.fail(ipcmsg.OpNetworkList, &ipc.Error{Code: 3, Text: "no hint here"})
	if e := h.run(owner, "--json", "network", "list").failJSON(t, "not_found", 5); e.Hint != "" {
		t.Errorf("hint %q", e.Hint)
	}
	for code, exit := range map[string]int{"not_running": 3, "invalid_argument": 2, "auth_required": 4, "timeout": 6, "x": 1} {
		if got := ExitCode(code); got != exit {
			t.Errorf("ExitCode(%s) = %d, want %d", code, got, exit)
		}
	}
}

// Every command's --help carries an example (cli.md §4.1).
func TestCLI_HelpHasExamples(t *testing.T) {
	h := newHarness(t)
	a := &app{env: Env{}}
	root := a.newRoot()
	var walk func(c *cobra.Command)
	n := 0
	walk = func(c *cobra.Command) {
		n++
		if strings.TrimSpace(c.Example) == "" {
			t.Errorf("%s has no example", c.CommandPath())
		}
		args := append(strings.Fields(c.CommandPath())[1:], "--help")
		out := h.run(owner, args...).ok(t)
		if !strings.Contains(out, "Examples:\n") || !strings.Contains(out, strings.TrimSpace(c.Example)) {
			t.Errorf("%v: help lacks the example:\n%s", args, out)
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	if n < 60 {
		t.Errorf("walked only %d commands", n)
	}
	if got := h.run(owner, "help", "network", "promote").ok(t); !strings.Contains(got, "pilotctl network promote 1 --node 686") {
		t.Errorf("help command: %q", got)
	}
}

func TestCLI_CompletionAndVersion(t *testing.T) {
	h := newHarness(t)
	for _, sh := range []string{"bash", "zsh", "fish", "powershell"} {
		out := h.run(owner, "completion", sh).ok(t)
		if len(out) < 500 || !strings.Contains(out, "pilotctl") {
			t.Errorf("%s completion: %d bytes", sh, len(out))
		}
	}
	h.run(owner, "--json", "completion", "tcsh").failJSON(t, "invalid_argument", 2)
	if got := h.run(owner, "--version").ok(t); got != "pilotctl "+Version+"\n" {
		t.Errorf("--version %q", got)
	}
	if got := h.run(owner, "version").ok(t); got != "pilotctl "+Version+"\n" {
		t.Errorf("version %q", got)
	}
	if d := h.run(owner, "version", "--json").okJSON(t); d["version"] != Version {
		t.Errorf("version data %v", d)
	}
	// Shell completion of sub-commands works through cobra's __complete.
	if r := h.run(owner, "__complete", "network", "pro"); r.code != 0 || !strings.HasPrefix(r.out, "promote\t") {
		t.Errorf("__complete: %+v", r)
	}
}

func TestCLI_UsageErrors(t *testing.T) {
	h := newHarness(t)
	fleet(h)
	r := h.run(owner, "bogus")
	if r.code != 2 || !strings.HasPrefix(r.err, "error: unknown command \"bogus\"") || !strings.Contains(r.err, "usage: pilotctl") {
		t.Errorf("unknown command: exit %d %q", r.code, r.err)
	}
	h.run(owner, "bogus", "--json").failJSON(t, "invalid_argument", 2)
	h.run(owner, "--json", "info", "extra").failJSON(t, "invalid_argument", 2)
	h.run(owner, "--json", "--timeout", "soon", "info").failJSON(t, "invalid_argument", 2)
	h.run(owner, "--json", "ping", "0").failJSON(t, "invalid_argument", 2)
	h.run(owner, "--json", "set-tags", "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k").failJSON(t, "invalid_argument", 2)
	h.run(owner, "--json", "key", "expiry", "tomorrow").failJSON(t, "invalid_argument", 2)
	h.run(owner, "--json", "key", "reclaim", "x", "--admin-token", "T").failJSON(t, "invalid_argument", 2)
	// Without --admin-token the request goes to the daemon, whose own
	// -admin-token may serve (cli.md §4.3); a daemon without one answers
	// auth_required with a hint.
	h.reg.fail(ipcmsg.OpKeyReclaim, ipc.Errorf(ipcmsg.CodeAuthRequired, "key reclaim needs an admin token\nhint: pass --admin-token or set PILOT_ADMIN_TOKEN"))
	e := h.run(owner, "--json", "key", "reclaim", "42").failJSON(t, "auth_required", 4)
	if e.Hint == "" {
		t.Error("auth_required without a hint")
	}
	if ops := h.reg.recorded(); len(ops) == 0 || ops[len(ops)-1].Op != ipcmsg.OpKeyReclaim || ops[len(ops)-1].Token != "" {
		t.Errorf("key reclaim without a token did not reach the daemon: %+v", ops)
	}
	// GNU flags: --flag=value, flags before and after positionals.
	h.run(owner, "network", "set-policy", "--max-members=5", "1").ok(t)
}

func TestCLI_TimeoutCode(t *testing.T) {
	h := newHarness(t)
	d := h.daemon(owner)
	block := make(chan struct{})
	h.serve(d, 1000, func(c net.Conn) { <-block })
	t.Cleanup(func() { close(block) }) // runs before serve's cleanup waits for the handler
	e := h.run(owner, "--json", "--timeout", "100ms", "send", "686", "1000", "--data", "x").failJSON(t, "timeout", 6)
	if e.Message == "" {
		t.Error("empty timeout message")
	}
}

func TestCLI_KeyExpiryValues(t *testing.T) {
	h := newFullHarness(t)
	for _, c := range []struct{ in, want string }{
		{"never", `"never"`},
		{"2027-01-02T03:04:05+01:00", `"2027-01-02T02:04:05Z"`},
	} {
		h.run(owner, "key", "expiry", c.in).ok(t)
		ops := h.reg.recorded()
		if got := string(ops[len(ops)-1].Args["expires_at"]); got != c.want {
			t.Errorf("%s sent %s", c.in, got)
		}
	}
	h.run(owner, "key", "expiry", "36h").ok(t)
	ops := h.reg.recorded()
	if got := string(ops[len(ops)-1].Args["expires_at"]); !strings.HasSuffix(got, `Z"`) || len(got) != 22 {
		t.Errorf("36h sent %s", got)
	}
	h.run(owner, "key", "info", "686").ok(t)
	ops = h.reg.recorded()
	if got := string(ops[len(ops)-1].Args["node_id"]); got != "686" {
		t.Errorf("key info 686 sent node_id %s", got)
	}
	h.run(owner, "key", "info").ok(t)
	ops = h.reg.recorded()
	if got := string(ops[len(ops)-1].Args["node_id"]); got != "0" {
		t.Errorf("key info sent node_id %s", got)
	}
}

func TestCLI_WebhookUpdatesConfig(t *testing.T) {
	h := newFullHarness(t)
	cfg := filepath.Join(h.home, ".pilot", "config.json")
	// Without a config file nothing is created.
	h.run(owner, "webhook", "set", "https://hooks.example.com/pilot").ok(t)
	if _, err := os.Stat(cfg); err == nil {
		t.Fatal("config.json created")
	}
	os.MkdirAll(filepath.Dir(cfg), 0o700)
	os.WriteFile(cfg, []byte(`{"registry":"reg:9000"}`), 0o600)
	h.run(owner, "--json", "webhook", "set", "https://hooks.example.com/pilot", "--secret", "whsec_x").okJSON(t)
	var m map[string]any
	b, _ := os.ReadFile(cfg)
	json.Unmarshal(b, &m)
	if m["webhook"] != "https://hooks.example.com/pilot" || m["webhook_secret"] != "whsec_x" || m["registry"] != "reg:9000" {
		t.Errorf("config after set: %s", b)
	}
	h.run(owner, "clear-webhook").ok(t)
	b, _ = os.ReadFile(cfg)
	m = nil
	json.Unmarshal(b, &m)
	if _, ok := m["webhook"]; ok || m["registry"] != "reg:9000" {
		t.Errorf("config after clear: %s", b)
	}
	// The config's socket and admin_token are used when flags and env are absent.
	os.WriteFile(cfg, []byte(fmt.Sprintf(`{"socket":%q,"admin_token":"cfgtok"}`, h.daemon(owner).path)), 0o600)
	r := h.runSocket("", "network", "create", "--name", "n")
	if r.code != 0 {
		t.Fatalf("config socket: exit %d %q", r.code, r.err)
	}
	ops := h.reg.recorded()
	if ops[len(ops)-1].Token != "cfgtok" {
		t.Errorf("config admin_token not used")
	}
	os.WriteFile(cfg, []byte(`[1]`), 0o600)
	h.run(owner, "--json", "info").failJSON(t, "invalid_argument", 2)
}

func TestCLI_TablesAndDuration(t *testing.T) {
	var sb strings.Builder
	table(&sb, []string{"A", "LONG HEADER", "C"}, [][]string{{"xyz", "", "last"}, {"1", "2", ""}})
	want := "A    LONG HEADER  C\nxyz  -            last\n1    2            -\n"
	if sb.String() != want {
		t.Errorf("table:\n%q\nwant\n%q", sb.String(), want)
	}
	for in, want := range map[string]string{"90d": "2160h0m0s", "36h": "36h0m0s", "1.5d": "36h0m0s", "90s": "1m30s"} {
		d, err := parseDuration(in)
		if err != nil || d.String() != want {
			t.Errorf("parseDuration(%s) = %v, %v", in, d, err)
		}
	}
	for _, bad := range []string{"d", "-1h", "x", "5", "-2d"} {
		if _, err := parseDuration(bad); err == nil {
			t.Errorf("parseDuration(%q) accepted", bad)
		}
	}
	raw, err := stripType(json.RawMessage(`{"type":"x_ok","b":1,"a":{"type":2}}`))
	if err != nil || string(raw) != `{"b":1,"a":{"type":2}}` {
		t.Errorf("stripType: %s %v", raw, err)
	}
}
