package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pilot-go/pilot/internal/registry/ratelimit"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "registry.json")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaults(t *testing.T) {
	c, pos, err := Load(nil, env(map[string]string{"HOME": "/home/u"}))
	if err != nil {
		t.Fatal(err)
	}
	if len(pos) != 0 || c.Listen != ":9000" || c.DataDir != "/home/u/.pilot/registry" ||
		c.MaxConns != 10000 || c.MaxConnsPerIP != 2000 || c.IdleTimeout != 5*time.Minute ||
		c.FrameTimeout != 30*time.Second || c.AuthSkew != time.Minute || c.InviteTTL != 168*time.Hour ||
		c.StaleAfter != 3*time.Minute || c.NodeTTL != 0 || c.Integrity != "quick" || c.Migrate != "auto" ||
		c.LogFormat != "text" || c.LogLevel != "info" || c.RateLimitOff || c.RateLimits != nil {
		t.Fatalf("defaults %+v", c)
	}
	if c.StoreDescription() != "sqlite:/home/u/.pilot/registry/registry.db" || c.AuthMode() != "v2" {
		t.Fatal(c.StoreDescription(), c.AuthMode())
	}
	if d := DefaultDataDir(env(nil)); d != "/var/lib/pilot-registry" {
		t.Fatal(d)
	}
}

// Precedence: flag > environment > config file > default.
func TestPrecedence(t *testing.T) {
	cfgFile := writeFile(t, `{"admin_token":"from-file-0123456789","max-conns":5,"metrics_token":"mf",
		"listen":"127.0.0.1:7000","tls-san":["a.example","192.0.2.1"],"tls":true,"idle_timeout":"2m",
		"rate_limit":"heartbeat=30/min:10"}`)
	e := env(map[string]string{
		"PILOT_REGISTRY_ADMIN_TOKEN": "from-env-0123456789",
		"PILOT_METRICS_TOKEN":        "me",
		"PILOT_ADMIN_TOKEN":          "never-read",
		"HOME":                       "/h",
	})
	c, _, err := Load([]string{"-config", cfgFile, "-max-conns", "7", "-metrics-token=mflag"}, e)
	if err != nil {
		t.Fatal(err)
	}
	if c.MaxConns != 7 { // flag beats file
		t.Errorf("max-conns %d", c.MaxConns)
	}
	if c.MetricsToken != "mflag" { // flag beats env and file
		t.Errorf("metrics-token %q", c.MetricsToken)
	}
	if c.AdminToken != "from-env-0123456789" { // env beats file
		t.Errorf("admin-token %q", c.AdminToken)
	}
	if c.Listen != "127.0.0.1:7000" || !c.TLS || c.IdleTimeout != 2*time.Minute { // file beats default
		t.Errorf("file values %+v", c)
	}
	if strings.Join(c.TLSSANs, "|") != "a.example|192.0.2.1" {
		t.Errorf("sans %v", c.TLSSANs)
	}
	if c.RateLimits[ratelimit.Heartbeat] != (ratelimit.Limit{PerMinute: 30, Burst: 10}) {
		t.Errorf("rate limits %v", c.RateLimits)
	}
	// PILOT_ADMIN_TOKEN alone is ignored.
	c, _, err = Load(nil, env(map[string]string{"PILOT_ADMIN_TOKEN": "x", "HOME": "/h"}))
	if err != nil || c.AdminToken != "" {
		t.Fatalf("PILOT_ADMIN_TOKEN read: %q %v", c.AdminToken, err)
	}
	// -addr is an alias of -listen, and a command-line -addr beats the file.
	c, _, err = Load([]string{"-addr", ":9100", "-config", cfgFile}, env(nil))
	if err != nil || c.Listen != ":9100" {
		t.Fatalf("addr alias: %q %v", c.Listen, err)
	}
}

func TestConfigFileErrors(t *testing.T) {
	for body, want := range map[string]string{
		`{"max_conns":5,"bogus_key":1}`: `unknown key "bogus_key"`,
		`{"max-conns":"5"}`:             `key "max-conns": want an integer, got a string`,
		`{"max-conns":1.5}`:             `key "max-conns": want an integer`,
		`{"tls":"true"}`:                `key "tls": want a boolean`,
		`{"idle-timeout":30}`:           `key "idle-timeout": want a duration string`,
		`{"listen":null}`:               `key "listen": want a string, got null`,
		`{"tls_san":[true]}`:            `key "tls_san": want an array of strings or integers`,
		`{"config":"x"}`:                `unknown key "config"`,
		`{"idle-timeout":"soon"}`:       `key "idle-timeout": invalid value`,
		`[1]`:                           "want one flat JSON object",
		`{} {}`:                         "trailing data",
	} {
		_, _, err := Load([]string{"-config", writeFile(t, body)}, env(nil))
		var ue *UsageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err %v, want %q", body, err, want)
		}
	}
	_, _, err := Load([]string{"-config", "/nonexistent/x.json"}, env(nil))
	var ue *UsageError
	if !errors.As(err, &ue) {
		t.Fatalf("unreadable file: %v", err)
	}
}

func TestFlagErrors(t *testing.T) {
	tok := writeFile(t, "tok-from-file-123456\nsecond line\n")
	for _, args := range [][]string{
		{"-nope"},
		{"-log-format", "xml"},
		{"-log-level", "loud"},
		{"-integrity", "some"},
		{"-migrate", "maybe"},
		{"-rate-limit", "heartbeat=fast"},
		{"-idle-timeout", "0s"},
		{"-node-ttl", "-1s"},
		{"-max-conns", "0"},
		{"-tls-cert", "c.pem"},
		{"-admin-token", "x", "-admin-token-file", tok},
		{"-admin-token-file", "/nonexistent"},
	} {
		_, _, err := Load(args, env(nil))
		var ue *UsageError
		if !errors.As(err, &ue) {
			t.Errorf("%v: err %v, want UsageError", args, err)
		}
	}
	c, _, err := Load([]string{"-admin-token-file", tok}, env(nil))
	if err != nil || c.AdminToken != "tok-from-file-123456" {
		t.Fatalf("token file: %q %v", c.AdminToken, err)
	}
	if _, _, err := Load([]string{"-help"}, env(nil)); !errors.Is(err, ErrHelp) {
		t.Fatalf("-help: %v", err)
	}
}

func TestPositionalsInterleaved(t *testing.T) {
	c, pos, err := Load([]string{"restore", "-data-dir", "/d", "backup.jsonl", "-force", "--store=sqlite:/x.db"}, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(pos, " ") != "restore backup.jsonl" || !c.Force || c.DataDir != "/d" {
		t.Fatalf("pos %v cfg %+v", pos, c)
	}
	if kind, p := c.StoreTarget(); kind != StoreSQLite || p != "/x.db" {
		t.Fatal(kind, p)
	}
	c.Store = "postgres://u:secret@db/pilot"
	if c.StoreDescription() != "postgres" {
		t.Fatal("credentials leak into the description")
	}
	c, _, err = Load([]string{"-rate-limit", "off", "-legacy-v1-auth"}, env(nil))
	if err != nil || !c.RateLimitOff || c.AuthMode() != "v2+legacy-v1" {
		t.Fatalf("off: %+v %v", c, err)
	}
}
