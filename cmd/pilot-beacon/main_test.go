package main

import (
	"bytes"
	"context"
	"github.com/pilot-go/pilot/internal/buildinfo"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pilot-go/pilot/internal/wire/beaconmsg"
)

func noEnv(string) string { return "" }

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "beacon.json")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// cli.md §5 item 5: an unknown config key exits 2 naming the key; so do a
// wrong value type and an unreadable file.
func TestConfigFileErrors(t *testing.T) {
	for name, tc := range map[string]struct{ body, want string }{
		"unknown key":       {`{"listen": ":9001", "relay_queu": 10}`, `unknown key "relay_queu"`},
		"nested config":     {`{"config": "x.json"}`, `unknown key "config"`},
		"wrong type string": {`{"listen": 9001}`, `key "listen": want a string, got a number`},
		"wrong type number": {`{"max_nodes": true}`, `key "max_nodes": want an integer, got a boolean`},
		"bad duration":      {`{"node-ttl": "5 minutes"}`, `key "node-ttl"`},
		"object value":      {`{"peers": {"a": 1}}`, `key "peers": want an array or a comma-separated string, got an object`},
		"not an object":     {`[1, 2]`, `want one flat JSON object`},
	} {
		t.Run(name, func(t *testing.T) {
			var stderr bytes.Buffer
			code := run(context.Background(), []string{"-config", writeConfig(t, tc.body)}, noEnv, io.Discard, &stderr, nil)
			if code != 2 || !strings.Contains(stderr.String(), tc.want) {
				t.Fatalf("exit %d, stderr %q; want 2 and %q", code, stderr.String(), tc.want)
			}
		})
	}
	var stderr bytes.Buffer
	if code := run(context.Background(), []string{"-config", "/nonexistent/beacon.json"}, noEnv, io.Discard, &stderr, nil); code != 2 {
		t.Fatalf("unreadable file: exit %d", code)
	}
}

// Precedence: command-line flag > environment variable > config file > default.
func TestOptionsPrecedence(t *testing.T) {
	cfg := writeConfig(t, `{"registry_token": "from-file", "max_nodes": 7, "peers": ["10.0.0.1:9001", "10.0.0.2:9001"],
		"node_ttl": "2m", "registry-tls": true, "beacon_id": 3, "addr": "127.0.0.1:9100"}`)
	env := func(k string) string {
		if k == tokenEnv {
			return "from-env"
		}
		return ""
	}
	o, err := parseOptions([]string{"-config", cfg, "-max-nodes", "9"}, env, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.registryToken != "from-env" || o.maxNodes != 9 || o.nodeTTL != 2*time.Minute || !o.registryTLS ||
		o.beaconID != 3 || o.listen != "127.0.0.1:9100" || len(o.peerList()) != 2 {
		t.Fatalf("options %+v", o)
	}
	o, err = parseOptions([]string{"-config", cfg, "-registry-token", "from-flag", "-listen", ":1"}, env, io.Discard)
	if err != nil || o.registryToken != "from-flag" || o.listen != ":1" {
		t.Fatalf("options %+v, %v", o, err)
	}
	o, err = parseOptions([]string{"-config", cfg}, noEnv, io.Discard)
	if err != nil || o.registryToken != "from-file" {
		t.Fatalf("options %+v, %v", o, err)
	}
	o, err = parseOptions(nil, noEnv, io.Discard)
	if err != nil || o.listen != ":9001" || o.relayQueue != 4096 || o.maxNodes != 100000 || o.nodeTTL != 5*time.Minute {
		t.Fatalf("defaults %+v, %v", o, err)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"-beacon-id", "4294967296"}, {"-nope"}, {"extra"}, {"-log-level", "loud"},
		{"-log-format", "xml"}, {"-relay-queue", "0"}, {"-listen", "127.0.0.1:0", "-peers", "10.0.0.1"},
	} {
		if code := run(context.Background(), args, noEnv, io.Discard, io.Discard, nil); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
}

func TestVersionAndHelp(t *testing.T) {
	var out bytes.Buffer
	if code := run(context.Background(), []string{"-version"}, noEnv, &out, io.Discard, nil); code != 0 || out.String() != "pilot-beacon "+buildinfo.Version+"\n" {
		t.Fatalf("exit %d, %q", code, out.String())
	}
	var help bytes.Buffer
	if code := run(context.Background(), []string{"-help"}, noEnv, io.Discard, &help, nil); code != 0 || !strings.Contains(help.String(), "-relay-queue") {
		t.Fatalf("help: exit %d", code)
	}
}

// The binary's composition: UDP discovery, /healthz and /metrics on the
// health listener, a clean exit 0 on cancellation.
func TestRunServes(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type addrs struct {
		udp    netip.AddrPort
		health net.Addr
	}
	readyCh := make(chan addrs, 1)
	var logs bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"-listen", "127.0.0.1:0", "-health", "127.0.0.1:0", "-log-format", "json"},
			noEnv, io.Discard, &syncWriter{w: &logs}, func(u netip.AddrPort, h net.Addr) { readyCh <- addrs{u, h} })
	}()
	var a addrs
	select {
	case a = <-readyCh:
	case code := <-done:
		t.Fatalf("run exited %d", code)
	}
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.WriteToUDPAddrPort([]byte{1, 0, 0, 0, 5}, a.udp); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := c.Read(buf)
	if err != nil || n != 8 || buf[0] != byte(beaconmsg.TypeDiscoverReply) {
		t.Fatalf("discover reply % x, %v", buf[:n], err)
	}
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + a.health.String() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/healthz"); code != 200 || body != "ok" {
		t.Fatalf("healthz %d %q", code, body)
	}
	if code, body := get("/metrics"); code != 200 || !strings.Contains(body, `pilot_beacon_messages_total{type="discover"} 1`) {
		t.Fatalf("metrics %d:\n%s", code, body)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after cancel")
	}
	if !strings.Contains(logs.String(), `"msg":"beacon listening"`) || !strings.Contains(logs.String(), "verification is off") {
		t.Fatalf("logs:\n%s", logs.String())
	}
}
