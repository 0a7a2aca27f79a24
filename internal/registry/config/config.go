// Package config turns pilot-registry's command line, environment and
// -config file into a validated Config (cli.md §1.1).
//
// Sources, strongest first:
//
//	command-line flag  >  environment variable  >  -config JSON file  >  default
//
// Environment variables exist only for: -admin-token
// (PILOT_REGISTRY_ADMIN_TOKEN; PILOT_ADMIN_TOKEN is deliberately not read),
// -metrics-token (PILOT_METRICS_TOKEN), -beacon-token (PILOT_BEACON_TOKEN)
// and -data-dir (PILOT_REGISTRY_DIR).
//
// The -config file is one flat JSON object whose keys are flag names, with
// "-" or "_" between words ("max_conns" = "max-conns"); values are JSON
// strings (durations as Go duration strings), integer numbers or booleans,
// and string lists may be JSON arrays (joined with ","). An unknown key, a
// wrong value type or an unreadable file is a *UsageError naming the key;
// the program exits 2 on it.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pilot-go/pilot/internal/flagfile"
	"github.com/pilot-go/pilot/internal/registry/ratelimit"
)

// Config is the registry configuration; field comments name the flag.
type Config struct {
	Listen         string        // -listen (alias -addr)
	DataDir        string        // -data-dir
	Store          string        // -store
	AdminToken     string        // -admin-token, or the first line of -admin-token-file
	AdminTokenFile string        // -admin-token-file
	LegacyV1Auth   bool          // -legacy-v1-auth
	AuthSkew       time.Duration // -auth-skew
	TLS            bool          // -tls
	TLSCert        string        // -tls-cert
	TLSKey         string        // -tls-key
	TLSSANs        []string      // -tls-san (comma-separated)
	TLSAllowPlain  bool          // -tls-allow-plain
	HTTP           string        // -http
	MetricsToken   string        // -metrics-token
	MaxConns       int           // -max-conns
	MaxConnsPerIP  int           // -max-conns-per-ip
	IdleTimeout    time.Duration // -idle-timeout
	FrameTimeout   time.Duration // -frame-timeout
	ReapInterval   time.Duration // -reap-interval
	RateLimit      string        // -rate-limit (raw)
	BeaconToken    string        // -beacon-token
	InviteTTL      time.Duration // -invite-ttl
	HandshakeTTL   time.Duration // -handshake-ttl
	StaleAfter     time.Duration // -stale-after
	NodeTTL        time.Duration // -node-ttl (0 = never purge)
	Integrity      string        // -integrity: quick, full, off
	Migrate        string        // -migrate: auto, never
	AuditFile      string        // -audit-file
	LogFormat      string        // -log-format: text, json
	LogLevel       string        // -log-level: debug, info, warn, error
	ConfigFile     string        // -config
	Beacon         string        // -beacon: accepted and ignored (one WARN)

	// Derived by Load.
	RateLimits   map[ratelimit.Category]ratelimit.Limit // parsed -rate-limit overrides
	RateLimitOff bool                                   // -rate-limit off
	Level        slog.Level                             // parsed -log-level

	// Command-line only.
	Force   bool // -force (restore)
	Version bool // -version
}

// UsageError is a configuration or command-line error: exit status 2.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

func usagef(format string, a ...any) error { return &UsageError{Msg: fmt.Sprintf(format, a...)} }

// ErrHelp is returned for -help / -h after the usage has been written.
var ErrHelp = flag.ErrHelp

// envVars maps flags to the environment variable that sets them.
var envVars = map[string]string{
	"admin-token":   "PILOT_REGISTRY_ADMIN_TOKEN",
	"metrics-token": "PILOT_METRICS_TOKEN",
	"beacon-token":  "PILOT_BEACON_TOKEN",
	"data-dir":      "PILOT_REGISTRY_DIR",
}

// cmdlineOnly lists flags that are not valid -config keys.
var cmdlineOnly = []string{"config", "version", "force"}

// FlagSet builds the flag set bound to c, with the defaults of cli.md §1.1.
func FlagSet(c *Config, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("pilot-registry", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&c.Listen, "listen", ":9000", "TCP address of the registry protocol, TLS and sniffed HTTP")
	fs.StringVar(&c.Listen, "addr", ":9000", "alias of -listen")
	fs.StringVar(&c.DataDir, "data-dir", "", "data directory (default $PILOT_REGISTRY_DIR, else $HOME/.pilot/registry, else /var/lib/pilot-registry)")
	fs.StringVar(&c.Store, "store", "", "store: sqlite:PATH, a bare path, or postgres://… (default SQLite <data-dir>/registry.db)")
	fs.StringVar(&c.AdminToken, "admin-token", "", "global admin token (env PILOT_REGISTRY_ADMIN_TOKEN); empty disables token-only operations")
	fs.StringVar(&c.AdminTokenFile, "admin-token-file", "", "read the global admin token from the first line of this file")
	fs.BoolVar(&c.LegacyV1Auth, "legacy-v1-auth", false, "accept the original implementation's v1 signatures and unsigned requests")
	fs.DurationVar(&c.AuthSkew, "auth-skew", 60*time.Second, "allowed clock skew for auth v2")
	fs.BoolVar(&c.TLS, "tls", false, "enable TLS on -listen")
	fs.StringVar(&c.TLSCert, "tls-cert", "", "PEM certificate (with -tls-key); default: generated once in <data-dir>/tls/")
	fs.StringVar(&c.TLSKey, "tls-key", "", "PEM private key (with -tls-cert)")
	fs.Func("tls-san", "extra comma-separated DNS names or IPs for the generated certificate", func(s string) error {
		c.TLSSANs = splitList(s)
		return nil
	})
	fs.BoolVar(&c.TLSAllowPlain, "tls-allow-plain", false, "with -tls, also accept plaintext registry frames")
	fs.StringVar(&c.HTTP, "http", "", "optional extra plain HTTP listener for /healthz, /readyz, /metrics")
	fs.StringVar(&c.MetricsToken, "metrics-token", "", "bearer token non-loopback /metrics scrapers must send (env PILOT_METRICS_TOKEN)")
	fs.IntVar(&c.MaxConns, "max-conns", 10000, "concurrent connection cap")
	fs.IntVar(&c.MaxConnsPerIP, "max-conns-per-ip", 2000, "per source IP connection cap")
	fs.DurationVar(&c.IdleTimeout, "idle-timeout", 5*time.Minute, "idle connection timeout")
	fs.DurationVar(&c.FrameTimeout, "frame-timeout", 30*time.Second, "time within which a started request frame must arrive completely")
	fs.DurationVar(&c.ReapInterval, "reap-interval", 60*time.Second, "period of the reaper / sweeper")
	fs.StringVar(&c.RateLimit, "rate-limit", "", "rate-limit overrides 'category=N/min:burst,…', or 'off'")
	fs.StringVar(&c.BeaconToken, "beacon-token", "", "token that beacon_register must carry (env PILOT_BEACON_TOKEN)")
	fs.DurationVar(&c.InviteTTL, "invite-ttl", 168*time.Hour, "invite expiry")
	fs.DurationVar(&c.HandshakeTTL, "handshake-ttl", 168*time.Hour, "relayed handshake request/response expiry")
	fs.DurationVar(&c.StaleAfter, "stale-after", 3*time.Minute, "online threshold")
	fs.DurationVar(&c.NodeTTL, "node-ttl", 0, "purge nodes offline longer than this; 0 = never")
	fs.StringVar(&c.Integrity, "integrity", "quick", "SQLite check on open: quick, full or off")
	fs.StringVar(&c.Migrate, "migrate", "auto", "auto applies pending migrations at start; never refuses to start with pending ones")
	fs.StringVar(&c.AuditFile, "audit-file", "", "also append audit events as JSON lines to this file (0600)")
	fs.StringVar(&c.LogFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&c.LogLevel, "log-level", "info", "log level: debug, info, warn or error (audit events are never filtered)")
	fs.StringVar(&c.ConfigFile, "config", "", "JSON config file (keys are flag names)")
	fs.StringVar(&c.Beacon, "beacon", "", "accepted for compatibility and ignored")
	fs.BoolVar(&c.Force, "force", false, "restore: replace a non-empty store / accept a broken audit chain")
	fs.BoolVar(&c.Version, "version", false, "print the version and exit")
	return fs
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Load parses args (flags and positional arguments may be interleaved),
// applies environment and config file, and validates. getenv is os.Getenv
// in production. It returns the positional arguments (the subcommand and
// its operands). Errors are *UsageError, or ErrHelp (the caller prints the
// usage).
func Load(args []string, getenv func(string) string) (*Config, []string, error) {
	c := &Config{}
	fs := FlagSet(c, io.Discard) // errors are returned, usage printed by the caller
	var positional []string
	rest := args
	for {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, nil, ErrHelp
			}
			return nil, nil, &UsageError{Msg: err.Error()}
		}
		rest = fs.Args()
		if len(rest) == 0 {
			break
		}
		positional = append(positional, rest[0])
		rest = rest[1:]
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["addr"] {
		set["listen"] = true
	}
	if set["listen"] {
		set["addr"] = true
	}
	if c.Version {
		return c, positional, nil
	}
	if c.ConfigFile != "" {
		if err := applyFile(fs, c.ConfigFile, set); err != nil {
			return nil, nil, err
		}
	}
	for name, env := range envVars {
		if v := getenv(env); v != "" && !set[name] {
			if err := fs.Set(name, v); err != nil {
				return nil, nil, usagef("environment %s: %v", env, err)
			}
		}
	}
	if err := c.finish(getenv); err != nil {
		return nil, nil, err
	}
	return c, positional, nil
}

// applyFile sets, from the -config file, every flag the command line did
// not set. Environment values are applied afterwards and win.
func applyFile(fs *flag.FlagSet, path string, set map[string]bool) error {
	err := flagfile.Apply(fs, path, flagfile.Rules{
		Lists:  []string{"tls-san"},
		Refuse: cmdlineOnly,
		Skip:   func(name string) bool { return set[name] },
	})
	if err != nil {
		return &UsageError{Msg: err.Error()}
	}
	return nil
}

// finish computes derived values and validates.
func (c *Config) finish(getenv func(string) string) error {
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir(getenv)
	}
	if c.AdminToken != "" && c.AdminTokenFile != "" {
		return usagef("-admin-token and -admin-token-file are mutually exclusive")
	}
	if c.AdminTokenFile != "" {
		data, err := os.ReadFile(c.AdminTokenFile)
		if err != nil {
			return usagef("-admin-token-file: %v", err)
		}
		line, _, _ := strings.Cut(string(data), "\n")
		c.AdminToken = strings.TrimSpace(line)
		if c.AdminToken == "" {
			return usagef("-admin-token-file %s: the first line is empty", c.AdminTokenFile)
		}
	}
	oneOf := func(flagName, v string, allowed ...string) error {
		for _, a := range allowed {
			if v == a {
				return nil
			}
		}
		return usagef("-%s %q: want one of %s", flagName, v, strings.Join(allowed, ", "))
	}
	for _, err := range []error{
		oneOf("log-format", c.LogFormat, "text", "json"),
		oneOf("log-level", c.LogLevel, "debug", "info", "warn", "error"),
		oneOf("integrity", c.Integrity, "quick", "full", "off"),
		oneOf("migrate", c.Migrate, "auto", "never"),
	} {
		if err != nil {
			return err
		}
	}
	_ = c.Level.UnmarshalText([]byte(c.LogLevel))
	for name, d := range map[string]time.Duration{
		"auth-skew": c.AuthSkew, "idle-timeout": c.IdleTimeout, "frame-timeout": c.FrameTimeout,
		"reap-interval": c.ReapInterval, "invite-ttl": c.InviteTTL, "handshake-ttl": c.HandshakeTTL,
		"stale-after": c.StaleAfter,
	} {
		if d <= 0 {
			return usagef("-%s %v: must be positive", name, d)
		}
	}
	if c.NodeTTL < 0 {
		return usagef("-node-ttl %v: must be 0 (never) or positive", c.NodeTTL)
	}
	if c.MaxConns < 1 || c.MaxConnsPerIP < 1 {
		return usagef("-max-conns and -max-conns-per-ip must be at least 1")
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return usagef("-tls-cert and -tls-key must be given together")
	}
	var err error
	if c.RateLimits, c.RateLimitOff, err = ratelimit.ParseSpec(c.RateLimit); err != nil {
		return &UsageError{Msg: err.Error()}
	}
	return nil
}

// DefaultDataDir is $PILOT_REGISTRY_DIR, else $HOME/.pilot/registry, else
// /var/lib/pilot-registry.
func DefaultDataDir(getenv func(string) string) string {
	if d := getenv("PILOT_REGISTRY_DIR"); d != "" {
		return d
	}
	if h := getenv("HOME"); h != "" {
		return filepath.Join(h, ".pilot", "registry")
	}
	return "/var/lib/pilot-registry"
}

// StoreKind tells the store backends of registry.md §13.1 apart.
type StoreKind int

// Store kinds.
const (
	StoreSQLite StoreKind = iota
	StorePostgres
)

// StoreTarget resolves -store: the backend and its path or URL.
func (c *Config) StoreTarget() (StoreKind, string) {
	switch s := c.Store; {
	case s == "":
		return StoreSQLite, filepath.Join(c.DataDir, "registry.db")
	case strings.HasPrefix(s, "postgres://"), strings.HasPrefix(s, "postgresql://"):
		return StorePostgres, s
	default:
		return StoreSQLite, strings.TrimPrefix(s, "sqlite:")
	}
}

// StoreDescription is the store as logged: "sqlite:/path" or "postgres"
// (never the URL, which may hold credentials).
func (c *Config) StoreDescription() string {
	kind, target := c.StoreTarget()
	if kind == StorePostgres {
		return "postgres"
	}
	return "sqlite:" + target
}

// AuthMode is "v2" or "v2+legacy-v1" for the start-up log.
func (c *Config) AuthMode() string {
	if c.LegacyV1Auth {
		return "v2+legacy-v1"
	}
	return "v2"
}
