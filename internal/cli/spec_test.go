package cli

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/ipc"
	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
	"github.com/pilot-go/pilot/pilot"
)

// Tests named after the cli.md §4 statement they pin, for statements the
// other tests do not cover.

// cli.md §5 item 10 for the commands that print no daemon data: --help,
// help, --version and completion print one JSON line with --json.
func TestCLI_4_1_JSONHelpVersionCompletion(t *testing.T) {
	h := newHarness(t)
	for _, args := range [][]string{
		{"--json"}, {"--json", "network"}, {"network", "--help", "--json"}, {"--json", "help", "network", "promote"},
		{"key", "--json"},
	} {
		d := h.run(owner, args...).okJSON(t)
		for _, k := range []string{"command", "usage", "short", "example", "subcommands", "help"} {
			if _, ok := d[k]; !ok {
				t.Errorf("%v: help data lacks %q: %v", args, k, d)
			}
		}
	}
	d := h.run(owner, "--json", "help", "network", "promote").okJSON(t)
	if d["command"] != "pilotctl network promote" || !strings.Contains(d["example"].(string), "pilotctl network promote 1 --node 686") {
		t.Errorf("help data %v", d)
	}
	if help := h.run(owner, "--json", "key").okJSON(t)["help"].(string); strings.Contains(help, "(default true)") {
		t.Errorf("--json shown as defaulting to true:\n%s", help)
	}
	if subs := h.run(owner, "network", "--json").okJSON(t)["subcommands"].([]any); len(subs) < 18 {
		t.Errorf("network sub-commands %v", subs)
	}
	if d := h.run(owner, "--version", "--json").okJSON(t); d["version"] != Version {
		t.Errorf("--version data %v", d)
	}
	d = h.run(owner, "completion", "bash", "--json").okJSON(t)
	if d["shell"] != "bash" || !strings.Contains(d["script"].(string), "pilotctl") {
		t.Errorf("completion data shell %v", d["shell"])
	}
	// Text mode keeps the plain forms.
	if out := h.run(owner, "network").ok(t); !strings.HasPrefix(out, "Manage network") || strings.Contains(out, "(default true)") {
		t.Errorf("text help %q", out)
	}
}

// cli.md §4.2/§4.3: a usage error names the missing or extra argument, has
// a hint, exits 2 and, in text mode, prints the usage line.
func TestCLI_4_3_UsageErrorsNameArgumentAndHint(t *testing.T) {
	h := newHarness(t)
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"ping"}, "missing argument <target>"},
		{[]string{"send", "686"}, "missing argument <port>"},
		{[]string{"send"}, "missing arguments <target> <port>"},
		{[]string{"info", "extra"}, `info takes no arguments; got "extra"`},
		{[]string{"ping", "686", "x"}, `unexpected argument "x": ping takes at most 1`},
		{[]string{"network", "promote"}, "missing argument <net>"},
		{[]string{"set-tags", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11"}, "at most 10 tags; got 11"},
		{[]string{"--timeout", "5", "info"}, `invalid argument "5" for "--timeout" flag: invalid duration "5": want for example 90d, 36h or 30s`},
		{[]string{"network", "bogus"}, `unknown command "bogus" for "pilotctl network"`},
	} {
		e := h.run(owner, append([]string{"--json"}, c.args...)...).failJSON(t, "invalid_argument", 2)
		if e.Message != c.msg || !strings.HasPrefix(e.Hint, "see `pilotctl ") {
			t.Errorf("%v: %+v, want message %q", c.args, e, c.msg)
		}
	}
	r := h.run(owner, "ping")
	want := "error: missing argument <target>\nhint: see `pilotctl ping --help` for the arguments and an example\n" +
		"usage: pilotctl ping <target> [--count 4] [--interval 1s] [flags]\n"
	if r.code != 2 || r.err != want || r.out != "" {
		t.Errorf("text usage error: exit %d\n%s", r.code, r.err)
	}
}

// cli.md §4.1: "90d"-style durations for --timeout, and flag > environment
// > config.json for the socket and the admin token.
func TestCLI_4_1_GlobalFlagPrecedence(t *testing.T) {
	h := newFullHarness(t)
	h.run(owner, "--timeout", "1d", "info").ok(t)
	h.run(owner, "info", "--timeout=1.5d").ok(t)
	cfg := filepath.Join(h.home, ".pilot", "config.json")
	os.MkdirAll(filepath.Dir(cfg), 0o700)
	os.WriteFile(cfg, []byte(`{"socket":"/nonexistent/cfg.sock","admin_token":"cfg"}`), 0o600)
	// PILOT_SOCKET (set by the harness) wins over the config's socket.
	h.run(owner, "info").ok(t)
	lastToken := func() string {
		ops := h.reg.recorded()
		return ops[len(ops)-1].Token
	}
	h.run(owner, "network", "create", "--name", "a").ok(t)
	if got := lastToken(); got != "cfg" {
		t.Errorf("config token: sent %q", got)
	}
	h.env["PILOT_ADMIN_TOKEN"] = "env"
	h.run(owner, "network", "create", "--name", "b").ok(t)
	if got := lastToken(); got != "env" {
		t.Errorf("env token: sent %q", got)
	}
	h.run(owner, "network", "create", "--name", "c", "--admin-token", "flag").ok(t)
	if got := lastToken(); got != "flag" {
		t.Errorf("flag token: sent %q", got)
	}
	// Without PILOT_SOCKET the config's socket is used.
	delete(h.env, "PILOT_ADMIN_TOKEN")
	h.runSocket("", "--json", "info").failJSON(t, "not_running", 3)
}

// cli.md §4.7: set-hostname/clear-hostname give node_id and hostname,
// set-public/set-private node_id and visibility, set-tags/clear-tags
// node_id and tags ([] when empty), without the registry's "type".
func TestCLI_4_7_NodeAttributeFields(t *testing.T) {
	h := newHarness(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"set-hostname", "alpha"}, `{"hostname":"alpha","node_id":685}`},
		{[]string{"clear-hostname"}, `{"hostname":"","node_id":685}`},
		{[]string{"set-public"}, `{"node_id":685,"visibility":"public"}`},
		{[]string{"set-private"}, `{"node_id":685,"visibility":"private"}`},
		{[]string{"set-tags", "gpu", "eu-west"}, `{"node_id":685,"tags":["gpu","eu-west"]}`},
		{[]string{"clear-tags"}, `{"node_id":685,"tags":[]}`},
	} {
		d := h.run(owner, append([]string{"--json"}, c.args...)...).okJSON(t)
		if got, _ := json.Marshal(d); string(got) != c.want {
			t.Errorf("%v: data %s, want %s", c.args, got, c.want)
		}
	}
	// An original registry's shapes still give the keys of §4.7.
	h.daemon(owner).be.originalReplies.Store(true)
	for _, c := range []struct {
		args []string
		key  string
		want any
	}{
		{[]string{"set-public"}, "visibility", "public"},
		{[]string{"set-private"}, "visibility", "private"},
		{[]string{"clear-tags"}, "tags", []any{}},
		{[]string{"set-hostname", "beta"}, "hostname", "beta"},
	} {
		d := h.run(owner, append([]string{"--json"}, c.args...)...).okJSON(t)
		if got, _ := json.Marshal(d[c.key]); string(got) != string(must(json.Marshal(c.want))) {
			t.Errorf("%v: %s = %s in %v", c.args, c.key, got, d)
		}
		if _, ok := d["type"]; ok {
			t.Errorf("%v: data keeps the registry's type: %v", c.args, d)
		}
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// cli.md §4.9: `webhook set <url>` without --secret keeps the daemon's
// secret (the reply says signed), so config.json keeps webhook_secret and
// `daemon start` agrees; an unsigned reply drops it.
func TestCLI_4_9_WebhookSetKeepsConfigSecret(t *testing.T) {
	h := newFullHarness(t)
	cfg := filepath.Join(h.home, ".pilot", "config.json")
	os.MkdirAll(filepath.Dir(cfg), 0o700)
	os.WriteFile(cfg, []byte(`{"webhook":"https://old.example.com","webhook_secret":"whsec_x"}`), 0o600)
	read := func() map[string]any {
		var m map[string]any
		b, _ := os.ReadFile(cfg)
		json.Unmarshal(b, &m)
		return m
	}
	h.run(owner, "webhook", "set", "https://new.example.com/pilot").ok(t) // canned reply: signed
	if m := read(); m["webhook"] != "https://new.example.com/pilot" || m["webhook_secret"] != "whsec_x" {
		t.Errorf("signed set without --secret: config %v", m)
	}
	h.reg.can("webhook.set", `{"webhook":"https://new.example.com/pilot","signed":false}`)
	h.run(owner, "webhook", "set", "https://new.example.com/pilot").ok(t)
	if m := read(); m["webhook"] != "https://new.example.com/pilot" || m["webhook_secret"] != nil {
		t.Errorf("unsigned set: config %v", m)
	}
	if fi, err := os.Stat(cfg); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("config.json mode %v %v (cli.md §4.1: 0600)", fi.Mode(), err)
	}
}

// cli.md §4.10: the text lines of reject and demote, and the op and
// arguments each network command sends (ipc.md §10.4).
func TestCLI_4_10_RejectDemoteTextAndOpArgs(t *testing.T) {
	h := newHarness(t)
	fleet(h)
	h.run(owner, "network", "invite", "3", "--node", "686").ok(t)
	if got := h.run(admin, "network", "reject", "3").ok(t); got != "rejected invite to network 3\n" {
		t.Errorf("reject: %q", got)
	}
	if got := h.run(owner, "network", "demote", "1", "--node", "686").ok(t); got != "node 686 is now member of network 1\n" {
		t.Errorf("demote: %q", got)
	}
	h.reg.networks[1].token = "s"
	h.run(owner, "network", "invite", "3", "--node", "687").ok(t)
	for _, c := range []struct {
		node addr.NodeID
		args []string
		op   string
		want string // the op's arguments as JSON
	}{
		{owner, []string{"network", "list", "--all", "--cursor", "c"}, "network.list", `{"all":true,"cursor":"c"}`},
		{688, []string{"network", "join", "1", "--token", "s"}, "network.join", `{"network_id":1,"token":"s"}`},
		{owner, []string{"network", "members", "1"}, "network.members", `{"network_id":1}`},
		{owner, []string{"network", "invites"}, "network.invites", `{}`},
		{member, []string{"network", "accept", "3"}, "network.respond", `{"accept":true,"network_id":3}`},
		{owner, []string{"network", "kick", "1", "687"}, "network.kick", `{"network_id":1,"node_id":687}`},
		{owner, []string{"network", "set-policy", "1", "--max-members", "50"}, "network.set_policy", `{"max_members":50,"network_id":1}`},
		{owner, []string{"network", "set-policy", "1", "--clear-allowed-ports"}, "network.set_policy", `{"allowed_ports":[],"network_id":1}`},
		{owner, []string{"network", "policy", "1", "--description", "d"}, "network.set_policy", `{"description":"d","network_id":1}`},
		{owner, []string{"network", "policy", "1"}, "network.policy", `{"network_id":1}`},
		{owner, []string{"network", "create", "--name", "n", "--admin-token", "T"}, "network.create", `{"join_rule":"open","name":"n"}`},
		{owner, []string{"network", "rename", "1", "--name", "x"}, "network.rename", `{"name":"x","network_id":1}`},
		{owner, []string{"network", "transfer", "1", "--node", "686"}, "network.transfer", `{"network_id":1,"node_id":686}`},
		{owner, []string{"network", "leave", "1"}, "network.leave", `{"network_id":1}`},
	} {
		h.run(c.node, c.args...).ok(t)
		ops := h.reg.recorded()
		last := ops[len(ops)-1]
		got := "{}"
		if len(last.Args) > 0 {
			got = string(must(json.Marshal(last.Args)))
		}
		if last.Op != c.op || got != c.want {
			t.Errorf("%v sent %s %s, want %s %s", c.args, last.Op, got, c.op, c.want)
		}
	}
}

// cli.md §4.3: a stream the daemon ended (ipc.md §10.7 reasons) is
// connection_failed (peer reset, gone silent, trust revoked) or unavailable
// (daemon stopping), never internal.
func TestCLI_4_3_StreamClosedCodes(t *testing.T) {
	for reason, code := range map[ipcmsg.CloseReason]string{
		ipcmsg.ReasonReset: "connection_failed", ipcmsg.ReasonTimeout: "connection_failed",
		ipcmsg.ReasonIdle: "connection_failed", ipcmsg.ReasonTrustRevoked: "connection_failed",
		ipcmsg.ReasonOther: "connection_failed", ipcmsg.ReasonShutdown: "unavailable",
	} {
		err := &net.OpError{Op: "read", Net: "pilot", Err: &pilot.ClosedError{Reason: uint8(reason), Detail: "x"}}
		e := mapErr(err, "/tmp/s", "send")
		if e.Code != code || !strings.HasPrefix(e.Message, "send: connection ") {
			t.Errorf("reason %d: %+v, want %s", reason, e, code)
		}
	}
}

// cli.md §4.3: when every ping probe fails, the failure's own code is the
// command's (not_found for an unknown node), not always connection_failed.
func TestCLI_4_5_PingFailureCode(t *testing.T) {
	h := newHarness(t)
	d := h.daemon(owner)
	d.be.dialErr.Store(ipc.Errorf(ipcmsg.CodeNotFound, "node 99 is not registered"))
	e := h.run(owner, "--json", "ping", "99", "--count", "1").failJSON(t, "not_found", 5)
	if !strings.Contains(e.Message, "node 99 is not registered") {
		t.Errorf("message %q", e.Message)
	}
	d.be.dialErr.Store(ipc.Errorf(ipcmsg.CodeTimeout, "dial timeout"))
	h.run(owner, "--json", "ping", "99", "--count", "2", "--interval", "1ms").failJSON(t, "timeout", 6)
}

// cli.md §4.2–§4.3: a refused stream names the destination and hints at
// what to check.
func TestCLI_4_3_DialRefusedNamesTarget(t *testing.T) {
	h := newHarness(t)
	e := h.run(owner, "--json", "send", "686", "999", "--data", "x").failJSON(t, "connection_failed", 1)
	if e.Message != "dial 0:0000.0000.02AE:999: connection refused" || !strings.Contains(e.Hint, "port 999") {
		t.Errorf("%+v", e)
	}
}

// cli.md §4.9 `daemon stop` acts on the PID file; a daemon that answers
// without one is not reported as stopped or as not running.
func TestCLI_4_9_DaemonStopWithoutPIDFile(t *testing.T) {
	h := newHarness(t)
	e := h.run(owner, "--json", "daemon", "stop").failJSON(t, "failed_precondition", 1)
	if !strings.Contains(e.Message, "not started by `pilotctl daemon start`") || e.Hint == "" {
		t.Errorf("%+v", e)
	}
	d := h.runSocket(filepath.Join(h.dir, "absent.sock"), "--json", "daemon", "stop").okJSON(t)
	if d["stopped"] != false || d["pid"] != 0.0 {
		t.Errorf("stop without a daemon: %v", d)
	}
}

// cli.md §4.5 send/connect and recv: a reply or message that is not UTF-8
// is given in base64 with "encoding":"base64" (as subscribe, §4.6) instead
// of being mangled by JSON encoding.
func TestCLI_4_5_BinaryReplyBase64(t *testing.T) {
	h := newHarness(t)
	h.serve(h.daemon(owner), 1000, func(c net.Conn) {
		b := make([]byte, 10)
		c.Read(b)
		c.Write([]byte{0xff, 0x00, 0x01})
	})
	d := h.run(owner, "--json", "send", "686", "1000", "--data", "x").okJSON(t)
	if d["response"] != "/wAB" || d["encoding"] != "base64" {
		t.Errorf("send data %v", d)
	}
	if got := h.run(owner, "connect", "686", "--message", "x").ok(t); got != "\xff\x00\x01\n" {
		t.Errorf("text reply %q", got)
	}
	if m := newRecvMessage("0:0000.0000.02AE:49153", []byte("plain")); m.Data != "plain" || m.Encoding != "" || m.Size != 5 {
		t.Errorf("text message %+v", m)
	}
	if m := newRecvMessage("x", []byte{0xc3}); m.Data != "ww==" || m.Encoding != "base64" || m.Size != 1 {
		t.Errorf("binary message %+v", m)
	}
}
