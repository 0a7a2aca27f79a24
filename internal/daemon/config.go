package daemon

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/pilot-go/pilot/internal/flagfile"
	"github.com/pilot-go/pilot/internal/regclient"
	"github.com/pilot-go/pilot/internal/webhook"
	whmsg "github.com/pilot-go/pilot/internal/wire/svcmsg/webhook"
)

// Environment variables read by the daemon (cli.md §3.1). Each one ranks
// between the command-line flag and the config file.
const (
	EnvSocket        = "PILOT_SOCKET"
	EnvHome          = "PILOT_HOME"
	EnvAdminToken    = "PILOT_ADMIN_TOKEN"
	EnvWebhookSecret = "PILOT_WEBHOOK_SECRET"
	// EnvProcs is the Go runtime's own variable; it stands for -procs.
	EnvProcs = "GOMAXPROCS"
)

// Config is the daemon's configuration: every flag of cli.md §3.1, with the
// defaults of the table. Parse fills and validates it; the data-plane
// fields are carried for the integration step, which hands them to the
// tunnel, stream and service layers.
type Config struct {
	// Control plane.
	Registry            string
	Beacon              string // "" disables beacon use
	RegistryTLS         bool
	RegistryFingerprint string
	RegistryAuth        regclient.AuthMode
	AdminToken          string // secret
	Networks            []NetworkEntry
	Hostname            string
	Public              bool
	Email               string // registration owner; -owner is an alias
	Heartbeat           time.Duration
	Webhook             string
	WebhookSecret       string // secret
	HandshakeCompat     bool
	TrustAutoApprove    bool

	// Local state.
	Socket   string
	StateDir string
	Identity string
	Metrics  string

	// Data plane (wire.md §6, §9; used by the integration step).
	Listen          string
	Endpoint        string
	Encrypt         bool
	MSS             int
	Nagle           bool
	RecvBuffer      int
	MaxBufferMemory int64
	CC              string
	DialTimeout     time.Duration
	RekeyInterval   time.Duration
	Keepalive       time.Duration
	IdleTimeout     time.Duration
	TimeWait        time.Duration
	SynRateLimit    int
	MaxConnsPerPort int
	MaxConnsTotal   int
	NoEcho          bool
	NoDataExchange  bool
	NoEventStream   bool
	NoTaskSubmit    bool

	// Program.
	Procs       int // GOMAXPROCS to set; 0 keeps the runtime's choice
	LogFormat   string
	LogLevel    string
	ShowVersion bool
}

// UsageError is a bad flag, config file or value: the program exits 2.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

func usagef(format string, a ...any) error { return &UsageError{Msg: fmt.Sprintf(format, a...)} }

// rawFlags holds the flag values before conversion and validation.
type rawFlags struct {
	registryAuth, networks, config string
	owner                          string
	maxBufferMemory                int64
}

// envFlags maps flags to the environment variable that ranks above the
// config file.
var envFlags = map[string]string{
	"socket":         EnvSocket,
	"state-dir":      EnvHome,
	"admin-token":    EnvAdminToken,
	"webhook-secret": EnvWebhookSecret,
	"procs":          EnvProcs,
}

// newFlagSet declares every flag of cli.md §3.1 on c and r.
func newFlagSet(c *Config, r *rawFlags, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("pilot-daemon", flag.ContinueOnError)
	fs.SetOutput(out)
	str, boolean, integer, dur := fs.StringVar, fs.BoolVar, fs.IntVar, fs.DurationVar

	str(&c.Registry, "registry", "127.0.0.1:9000", "registry `host:port`")
	str(&c.Beacon, "beacon", "127.0.0.1:9001", "beacon `host:port`; empty disables beacon use")
	str(&c.Listen, "listen", ":0", "UDP tunnel `address`")
	str(&c.Endpoint, "endpoint", "", "fixed public `host:port`; skips beacon endpoint discovery")
	str(&c.Socket, "socket", "/tmp/pilot.sock", "IPC socket `path` (env "+EnvSocket+")")
	str(&c.StateDir, "state-dir", "", "state `directory` (env "+EnvHome+", else $HOME/.pilot, else /var/lib/pilot)")
	str(&c.Identity, "identity", "", "identity `file` (default <state-dir>/identity.json)")
	str(&c.Hostname, "hostname", "", "hostname to claim at registration")
	boolean(&c.Public, "public", false, "make the node public at start")
	boolean(&c.Encrypt, "encrypt", true, "tunnel encryption")
	boolean(&c.RegistryTLS, "registry-tls", false, "TLS to the registry")
	str(&c.RegistryFingerprint, "registry-fingerprint", "", "SHA-256 pin of the registry certificate (64 hex)")
	str(&r.registryAuth, "registry-auth", "auto", "registry auth mode: auto, v2 or v1")
	str(&c.AdminToken, "admin-token", "", "admin token for fleet auto-join and network commands (env "+EnvAdminToken+")")
	fs.StringVar(&r.networks, "networks", "", "fleet auto-join `list`: 1,3 or 1,3=TOKEN")
	str(&c.Webhook, "webhook", "", "webhook `URL` (http or https)")
	str(&c.WebhookSecret, "webhook-secret", "", "webhook signing secret (env "+EnvWebhookSecret+")")
	str(&c.Email, "email", "", "operator e-mail sent as registration owner")
	str(&r.owner, "owner", "", "deprecated alias of -email")
	dur(&c.Heartbeat, "heartbeat", 30*time.Second, "registry heartbeat interval")
	dur(&c.Keepalive, "keepalive", 30*time.Second, "stream keepalive probe interval (5s-60s)")
	dur(&c.IdleTimeout, "idle-timeout", 120*time.Second, "dead-peer timeout (at least 3 x -keepalive)")
	dur(&c.TimeWait, "time-wait", 10*time.Second, "TIME_WAIT duration")
	integer(&c.SynRateLimit, "syn-rate-limit", 100, "SYNs per second accepted")
	integer(&c.MaxConnsPerPort, "max-conns-per-port", 1024, "stream connections per port")
	integer(&c.MaxConnsTotal, "max-conns-total", 4096, "stream connections in total")
	integer(&c.MSS, "mss", 4096, "stream segment payload in bytes (512-16384)")
	boolean(&c.Nagle, "nagle", false, "Nagle's algorithm on every stream connection")
	integer(&c.RecvBuffer, "recv-buffer", 4194304, "receive buffer of each stream connection, in bytes")
	fs.Int64Var(&r.maxBufferMemory, "max-buffer-memory", 536870912, "cap on all stream buffers, in bytes")
	str(&c.CC, "cc", "cubic", "congestion control: cubic or newreno")
	dur(&c.DialTimeout, "dial-timeout", 30*time.Second, "stream dial timeout")
	dur(&c.RekeyInterval, "rekey-interval", 2*time.Hour, "maximum tunnel key age (at least 1m)")
	boolean(&c.NoEcho, "no-echo", false, "disable the echo service")
	boolean(&c.NoDataExchange, "no-dataexchange", false, "disable the data exchange service")
	boolean(&c.NoEventStream, "no-eventstream", false, "disable the event stream service")
	boolean(&c.NoTaskSubmit, "no-tasksubmit", false, "disable the task submit service")
	boolean(&c.HandshakeCompat, "handshake-compat", true, "accept original-format trust handshakes from peers without handshake-v2")
	boolean(&c.TrustAutoApprove, "trust-auto-approve", false, "approve every incoming trust handshake request")
	str(&c.Metrics, "metrics", "", "`address` serving Prometheus /metrics")
	integer(&c.Procs, "procs", 1, "OS threads running Go code at once (GOMAXPROCS, env "+EnvProcs+"); 0 = one per CPU")
	str(&c.LogFormat, "log-format", "text", "log format: text or json")
	str(&c.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&r.config, "config", "", "JSON config `file` whose keys are flag names")
	fs.BoolVar(&c.ShowVersion, "version", false, "print the version and exit")
	return fs
}

// Parse reads the command line, the environment and the -config file with
// the precedence flag > environment > config file > default, and validates
// the result. Errors are *UsageError (exit 2) naming the flag, key or
// entry; -help returns flag.ErrHelp after printing the usage to out.
func Parse(args []string, getenv func(string) string, out io.Writer) (*Config, error) {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	c := &Config{}
	r := &rawFlags{}
	fs := newFlagSet(c, r, out)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, usagef("%v", err)
	}
	if fs.NArg() > 0 {
		return nil, usagef("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	aliasSet(set, "email", "owner")
	skip := func(name string) bool {
		if set[name] {
			return true
		}
		env, ok := envFlags[name]
		return ok && getenv(env) != ""
	}
	if r.config != "" {
		err := flagfile.Apply(fs, r.config, flagfile.Rules{
			Lists:  []string{"networks"},
			Refuse: []string{"config", "version"},
			// -owner is an alias of -email: either one set above wins.
			Skip: func(name string) bool {
				return skip(name) || (name == "owner" && skip("email")) || (name == "email" && skip("owner"))
			},
		})
		if err != nil {
			return nil, usagef("%v", err)
		}
	}
	for name, env := range envFlags {
		if v := getenv(env); v != "" && !set[name] {
			if err := fs.Set(name, v); err != nil {
				return nil, usagef("$%s: %v", env, err)
			}
		}
	}
	if c.Email == "" {
		c.Email = r.owner
	}
	c.MaxBufferMemory = r.maxBufferMemory
	if err := c.finish(r, getenv); err != nil {
		return nil, err
	}
	return c, nil
}

// aliasSet marks both names of an alias pair as set when either is.
func aliasSet(set map[string]bool, a, b string) {
	if set[a] || set[b] {
		set[a], set[b] = true, true
	}
}

// finish converts the raw values, fills derived defaults and validates.
func (c *Config) finish(r *rawFlags, getenv func(string) string) error {
	var err error
	if c.RegistryAuth, err = regclient.ParseAuthMode(r.registryAuth); err != nil {
		return usagef("-registry-auth %q: want auto, v2 or v1", r.registryAuth)
	}
	if c.Networks, err = ParseNetworks(r.networks); err != nil {
		return usagef("-networks: %v", err)
	}
	if c.StateDir == "" {
		c.StateDir = DefaultStateDir(getenv)
	}
	if c.Identity == "" {
		c.Identity = filepath.Join(c.StateDir, "identity.json")
	}
	return c.validate()
}

// DefaultStateDir is $HOME/.pilot, else /var/lib/pilot (PILOT_HOME is
// applied as an environment value before this default).
func DefaultStateDir(getenv func(string) string) string {
	if home := getenv("HOME"); home != "" {
		return filepath.Join(home, ".pilot")
	}
	if home, err := os.UserHomeDir(); err == nil && home != "" {
		return filepath.Join(home, ".pilot")
	}
	return "/var/lib/pilot"
}

// validate checks ranges and formats; every error names its flag.
func (c *Config) validate() error {
	if err := hostPort("registry", c.Registry, true); err != nil {
		return err
	}
	if c.Beacon != "" {
		if err := hostPort("beacon", c.Beacon, true); err != nil {
			return err
		}
	}
	if err := hostPort("listen", c.Listen, false); err != nil {
		return err
	}
	if c.Endpoint != "" {
		if err := hostPort("endpoint", c.Endpoint, true); err != nil {
			return err
		}
	}
	if c.RegistryFingerprint != "" {
		if _, err := regclient.ParseFingerprint(c.RegistryFingerprint); err != nil {
			return usagef("-registry-fingerprint: %v", err)
		}
		if !c.RegistryTLS {
			return usagef("-registry-fingerprint needs -registry-tls")
		}
	}
	if err := webhook.ValidateURL(c.Webhook); err != nil {
		return usagef("-webhook: %v", err)
	}
	if c.WebhookSecret != "" {
		if _, err := whmsg.NewSigner(c.WebhookSecret); err != nil {
			return usagef("-webhook-secret: %v", err)
		}
	}
	checks := []struct {
		ok   bool
		flag string
		msg  string
	}{
		{c.Heartbeat > 0, "heartbeat", "must be positive"},
		{c.Keepalive >= 5*time.Second && c.Keepalive <= 60*time.Second, "keepalive", "must be between 5s and 60s"},
		{c.IdleTimeout >= 3*c.Keepalive, "idle-timeout", "must be at least 3 x -keepalive"},
		{c.TimeWait >= 0, "time-wait", "must not be negative"},
		{c.SynRateLimit > 0, "syn-rate-limit", "must be positive"},
		{c.MaxConnsPerPort > 0, "max-conns-per-port", "must be positive"},
		{c.MaxConnsTotal > 0, "max-conns-total", "must be positive"},
		{c.MSS >= 512 && c.MSS <= 16384, "mss", "must be between 512 and 16384"},
		{c.RecvBuffer > 0, "recv-buffer", "must be positive"},
		{c.MaxBufferMemory > 0, "max-buffer-memory", "must be positive"},
		{c.CC == "cubic" || c.CC == "newreno", "cc", "want cubic or newreno"},
		{c.DialTimeout > 0, "dial-timeout", "must be positive"},
		{c.RekeyInterval >= time.Minute, "rekey-interval", "must be at least 1m"},
		{c.LogFormat == "text" || c.LogFormat == "json", "log-format", "want text or json"},
		{validLevel(c.LogLevel), "log-level", "want debug, info, warn or error"},
		{c.Socket != "", "socket", "must not be empty"},
		{c.Procs >= 0 && c.Procs <= 1024, "procs", "must be between 0 and 1024"},
	}
	for _, ck := range checks {
		if !ck.ok {
			return usagef("-%s: %s", ck.flag, ck.msg)
		}
	}
	return nil
}

func validLevel(s string) bool {
	switch s {
	case "debug", "info", "warn", "error":
		return true
	}
	return false
}

// hostPort checks host:port; needPort requires a port in 1..65535 (a
// listen address may use 0).
func hostPort(flagName, s string, needPort bool) error {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return usagef("-%s %q: want host:port", flagName, s)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || (needPort && p == 0) {
		return usagef("-%s %q: bad port %q", flagName, s, port)
	}
	return nil
}
