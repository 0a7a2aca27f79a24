package daemon

import (
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pilot-go/pilot/internal/regclient"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "daemon.json")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigDefaults(t *testing.T) {
	c, err := Parse(nil, envOf(map[string]string{"HOME": "/home/u"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name string
		got  any
		want any
	}{
		{"registry", c.Registry, "127.0.0.1:9000"},
		{"beacon", c.Beacon, "127.0.0.1:9001"},
		{"listen", c.Listen, ":0"},
		{"endpoint", c.Endpoint, ""},
		{"socket", c.Socket, "/tmp/pilot.sock"},
		{"state-dir", c.StateDir, "/home/u/.pilot"},
		{"identity", c.Identity, "/home/u/.pilot/identity.json"},
		{"encrypt", c.Encrypt, true},
		{"registry-auth", c.RegistryAuth, regclient.AuthAuto},
		{"heartbeat", c.Heartbeat, 30 * time.Second},
		{"keepalive", c.Keepalive, 30 * time.Second},
		{"idle-timeout", c.IdleTimeout, 120 * time.Second},
		{"time-wait", c.TimeWait, 10 * time.Second},
		{"syn-rate-limit", c.SynRateLimit, 100},
		{"max-conns-per-port", c.MaxConnsPerPort, 1024},
		{"max-conns-total", c.MaxConnsTotal, 4096},
		{"mss", c.MSS, 4096},
		{"nagle", c.Nagle, false},
		{"recv-buffer", c.RecvBuffer, 4194304},
		{"max-buffer-memory", c.MaxBufferMemory, int64(536870912)},
		{"cc", c.CC, "cubic"},
		{"dial-timeout", c.DialTimeout, 30 * time.Second},
		{"rekey-interval", c.RekeyInterval, 2 * time.Hour},
		{"handshake-compat", c.HandshakeCompat, true},
		{"trust-auto-approve", c.TrustAutoApprove, false},
		{"public", c.Public, false},
		{"log-format", c.LogFormat, "text"},
		{"log-level", c.LogLevel, "info"},
		{"networks", len(c.Networks), 0},
		{"procs", c.Procs, 1},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("-%s default %v, want %v", ck.name, ck.got, ck.want)
		}
	}
	c, err = Parse(nil, envOf(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if home, herr := os.UserHomeDir(); herr == nil && c.StateDir != filepath.Join(home, ".pilot") {
		t.Errorf("state dir without $HOME: %s", c.StateDir)
	}
}

// Precedence: command-line flag > environment variable > config file >
// default, for every flag that has an environment variable.
func TestConfigPrecedence(t *testing.T) {
	file := writeFile(t, `{"socket": "/file.sock", "state_dir": "/file-state", "admin-token": "file-tok",
		"webhook_secret": "file-sec", "hostname": "from-file", "networks": ["1", "3=tok"], "mss": 1360,
		"nagle": true, "keepalive": "10s", "idle_timeout": "30s", "max_buffer_memory": 1048576}`)
	env := map[string]string{"PILOT_SOCKET": "/env.sock", "PILOT_HOME": "/env-state",
		"PILOT_ADMIN_TOKEN": "env-tok", "PILOT_WEBHOOK_SECRET": "env-sec"}

	c, err := Parse([]string{"-config", file}, envOf(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Socket != "/file.sock" || c.StateDir != "/file-state" || c.AdminToken != "file-tok" ||
		c.WebhookSecret != "file-sec" || c.Hostname != "from-file" || c.MSS != 1360 || !c.Nagle ||
		c.Keepalive != 10*time.Second || c.IdleTimeout != 30*time.Second || c.MaxBufferMemory != 1048576 {
		t.Errorf("config file values not applied: %+v", c)
	}
	if len(c.Networks) != 2 || c.Networks[1].ID != 3 || c.Networks[1].Token != "tok" {
		t.Errorf("networks from a JSON array: %+v", c.Networks)
	}
	if c.Identity != "/file-state/identity.json" {
		t.Errorf("identity default follows the state dir: %s", c.Identity)
	}

	c, err = Parse([]string{"-config", file}, envOf(env), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Socket != "/env.sock" || c.StateDir != "/env-state" || c.AdminToken != "env-tok" || c.WebhookSecret != "env-sec" {
		t.Errorf("environment does not beat the config file: %+v", c)
	}

	c, err = Parse([]string{"--config", file, "--socket", "/flag.sock", "-state-dir=/flag-state",
		"-admin-token", "flag-tok", "-webhook-secret", "flag-sec", "-hostname", "flag", "-mss", "512"}, envOf(env), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Socket != "/flag.sock" || c.StateDir != "/flag-state" || c.AdminToken != "flag-tok" ||
		c.WebhookSecret != "flag-sec" || c.Hostname != "flag" || c.MSS != 512 {
		t.Errorf("flags do not win: %+v", c)
	}
}

// -procs: flag > $GOMAXPROCS (the Go runtime's own variable) > config file
// > 1; 0 keeps the runtime's choice; out of range is a usage error.
func TestConfigProcs(t *testing.T) {
	file := writeFile(t, `{"procs": 3}`)
	cases := []struct {
		args []string
		env  map[string]string
		want int
	}{
		{[]string{"-config", file}, nil, 3},
		{[]string{"-config", file}, map[string]string{"GOMAXPROCS": "2"}, 2},
		{[]string{"-config", file, "-procs", "0"}, map[string]string{"GOMAXPROCS": "2"}, 0},
		{nil, map[string]string{"GOMAXPROCS": "4"}, 4},
	}
	for _, tc := range cases {
		c, err := Parse(tc.args, envOf(tc.env), io.Discard)
		if err != nil {
			t.Fatalf("%v %v: %v", tc.args, tc.env, err)
		}
		if c.Procs != tc.want {
			t.Errorf("%v %v: procs %d, want %d", tc.args, tc.env, c.Procs, tc.want)
		}
	}
	for _, args := range [][]string{{"-procs", "-1"}, {"-procs", "1025"}} {
		_, err := Parse(args, envOf(nil), io.Discard)
		var ue *UsageError
		if !errors.As(err, &ue) || ue.Msg != "-procs: must be between 0 and 1024" {
			t.Errorf("%v: %v", args, err)
		}
	}
	_, err := Parse(nil, envOf(map[string]string{"GOMAXPROCS": "many"}), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "$GOMAXPROCS") {
		t.Errorf("bad $GOMAXPROCS: %v", err)
	}
}

func TestConfigOwnerAlias(t *testing.T) {
	c, err := Parse([]string{"-owner", "a@example.com"}, envOf(nil), io.Discard)
	if err != nil || c.Email != "a@example.com" {
		t.Fatalf("-owner: %v %q", err, c.Email)
	}
	file := writeFile(t, `{"owner": "file@example.com"}`)
	c, err = Parse([]string{"-config", file, "-email", "flag@example.com"}, envOf(nil), io.Discard)
	if err != nil || c.Email != "flag@example.com" {
		t.Fatalf("-email vs config owner: %v %q", err, c.Email)
	}
}

func usageErr(t *testing.T, args []string, wantSub string) {
	t.Helper()
	_, err := Parse(args, envOf(nil), io.Discard)
	var ue *UsageError
	if !errors.As(err, &ue) {
		t.Errorf("Parse(%q): %v, want a usage error (exit 2)", args, err)
		return
	}
	if !strings.Contains(err.Error(), wantSub) {
		t.Errorf("Parse(%q): %q does not name %q", args, err, wantSub)
	}
}

// cli.md §5 item 5: an unknown key exits 2 naming the key; so do a value of
// the wrong type and an unreadable file.
func TestCLI_5_ConfigFileErrors(t *testing.T) {
	for name, tc := range map[string]struct{ body, want string }{
		"unknown key":      {`{"registry": "r:1", "colour": "blue"}`, `"colour"`},
		"nested config":    {`{"config": "x.json"}`, `"config"`},
		"version key":      {`{"version": true}`, `"version"`},
		"bool as string":   {`{"hostname": true}`, `"hostname"`},
		"string for bool":  {`{"public": 1}`, `"public"`},
		"number for dur":   {`{"heartbeat": 30}`, `"heartbeat"`},
		"object":           {`{"mss": {}}`, `"mss"`},
		"bad number":       {`{"mss": 1.5}`, `"mss"`},
		"array not list":   {`{"listen": [":1"]}`, `"listen"`},
		"not an object":    {`[1, 2]`, "flat JSON object"},
		"bad list element": {`{"networks": [true]}`, `"networks"`},
	} {
		t.Run(name, func(t *testing.T) {
			usageErr(t, []string{"-config", writeFile(t, tc.body)}, tc.want)
		})
	}
	usageErr(t, []string{"-config", "/nonexistent/daemon.json"}, "/nonexistent/daemon.json")
}

// cli.md §5 item 9 and the other validation errors: exit 2 naming the flag
// or the entry.
func TestCLI_9_ValidationErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-networks", "1,x"}, `"x"`},
		{[]string{"-networks", "0"}, "-networks"},
		{[]string{"-keepalive", "4s"}, "-keepalive"},
		{[]string{"-keepalive", "61s"}, "-keepalive"},
		{[]string{"-keepalive", "30s", "-idle-timeout", "89s"}, "-idle-timeout"},
		{[]string{"-mss", "511"}, "-mss"},
		{[]string{"-mss", "16385"}, "-mss"},
		{[]string{"-cc", "bbr"}, "-cc"},
		{[]string{"-rekey-interval", "59s"}, "-rekey-interval"},
		{[]string{"-registry-auth", "v3"}, "-registry-auth"},
		{[]string{"-registry-fingerprint", "abc"}, "-registry-fingerprint"},
		{[]string{"-registry-fingerprint", strings.Repeat("ab", 32)}, "-registry-tls"},
		// Colons anywhere but between byte pairs: the registry client would
		// refuse the pin, so it is a usage error here (exit 2).
		{[]string{"-registry-tls", "-registry-fingerprint", "aba:bab" + strings.Repeat("ab", 29)}, "-registry-fingerprint"},
		{[]string{"-webhook-secret", "whsec_!!!!"}, "-webhook-secret"},
		{[]string{"-webhook", "ftp://example.com/x"}, "-webhook"},
		{[]string{"-webhook", "http://169.254.169.254/latest"}, "-webhook"},
		{[]string{"-webhook", "http://metadata.google.internal/"}, "-webhook"},
		{[]string{"-registry", "nohost"}, "-registry"},
		{[]string{"-beacon", "h:0"}, "-beacon"},
		{[]string{"-endpoint", "1.2.3.4"}, "-endpoint"},
		{[]string{"-heartbeat", "0s"}, "-heartbeat"},
		{[]string{"-log-format", "xml"}, "-log-format"},
		{[]string{"-log-level", "trace"}, "-log-level"},
		{[]string{"-max-conns-total", "0"}, "-max-conns-total"},
		{[]string{"-no-such-flag"}, "no-such-flag"},
		{[]string{"extra"}, `"extra"`},
	} {
		usageErr(t, tc.args, tc.want)
	}
	if _, err := Parse([]string{"-beacon", "", "-registry-tls", "-registry-fingerprint",
		strings.Repeat("AB:", 31) + "AB"}, envOf(nil), io.Discard); err != nil {
		t.Errorf("valid values refused: %v", err)
	}
}

func TestConfigHelpAndVersion(t *testing.T) {
	if _, err := Parse([]string{"-help"}, envOf(nil), io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-help: %v", err)
	}
	c, err := Parse([]string{"--version"}, envOf(nil), io.Discard)
	if err != nil || !c.ShowVersion {
		t.Errorf("--version: %v", err)
	}
}
