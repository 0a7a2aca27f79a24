package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/pilot-go/pilot/internal/flagfile"
)

// options are the flags of cli.md §2.
type options struct {
	listen              string
	beaconID            uint64
	peers               string
	registry            string
	registryToken       string
	registryTLS         bool
	registryFingerprint string
	advertise           string
	health              string
	nodeTTL             time.Duration
	relayQueue          int
	maxNodes            int
	config              string
	logFormat           string
	logLevel            string
	version             bool
}

// tokenEnv is read for -registry-token when the flag is not given.
const tokenEnv = "PILOT_BEACON_TOKEN"

// usageError is a bad flag or config file: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

func newFlagSet(o *options, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("pilot-beacon", flag.ContinueOnError)
	fs.SetOutput(out)
	str := fs.StringVar
	str(&o.listen, "listen", ":9001", "UDP `address` to serve on")
	str(&o.listen, "addr", ":9001", "alias for -listen")
	fs.Uint64Var(&o.beaconID, "beacon-id", 0, "cluster beacon `ID`; 0 = standalone (no registry directory)")
	str(&o.peers, "peers", "", "comma-separated UDP `addresses` of static peer beacons")
	str(&o.registry, "registry", "", "registry TCP `address`: signed-discover key lookups and, with -beacon-id, the beacon directory")
	str(&o.registryToken, "registry-token", "", "`token` sent in beacon_register (env "+tokenEnv+")")
	fs.BoolVar(&o.registryTLS, "registry-tls", false, "use TLS to the registry")
	str(&o.registryFingerprint, "registry-fingerprint", "", "pin the registry certificate (SHA-256, hex); implies TLS")
	str(&o.advertise, "advertise", "", "`host:port` to register in the directory (default: listen address with the registry connection's local IP)")
	str(&o.health, "health", "", "HTTP `address` serving /healthz and /metrics (loopback clients)")
	fs.DurationVar(&o.nodeTTL, "node-ttl", 5*time.Minute, "forget a node that has not sent a discover for this `duration`")
	fs.IntVar(&o.relayQueue, "relay-queue", 4096, "relay job queue `length` (drops when full)")
	fs.IntVar(&o.maxNodes, "max-nodes", 100000, "node table `capacity`")
	fs.StringVar(&o.config, "config", "", "JSON config `file` whose keys are flag names")
	str(&o.logFormat, "log-format", "text", "log format: text or json")
	str(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.BoolVar(&o.version, "version", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: pilot-beacon [flags]\n\nExample: pilot-beacon -listen :9001 -registry registry.example:9000\n\nFlags:\n")
		fs.PrintDefaults()
	}
	return fs
}

// parseOptions applies cli.md's precedence: command-line flag >
// environment variable > config file > default. It returns a usageError
// (exit 2) for bad flags and config files, and flag.ErrHelp for -help.
func parseOptions(args []string, getenv func(string) string, out io.Writer) (*options, error) {
	o := &options{}
	fs := newFlagSet(o, out)
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
	if set["addr"] {
		set["listen"] = true
	}
	if set["listen"] {
		set["addr"] = true
	}
	envToken := getenv(tokenEnv)
	if o.config != "" {
		err := flagfile.Apply(fs, o.config, flagfile.Rules{
			Lists:  []string{"peers"},
			Refuse: []string{"config", "version"},
			Skip:   func(name string) bool { return set[name] || (name == "registry-token" && envToken != "") },
		})
		if err != nil {
			return nil, usagef("%v", err)
		}
	}
	if !set["registry-token"] && envToken != "" {
		o.registryToken = envToken
	}
	if o.beaconID > math.MaxUint32 {
		return nil, usagef("-beacon-id %d is out of range (0 … 4294967295)", o.beaconID)
	}
	if o.relayQueue <= 0 || o.maxNodes <= 0 || o.nodeTTL <= 0 {
		return nil, usagef("-relay-queue, -max-nodes and -node-ttl must be positive")
	}
	if o.registryFingerprint != "" {
		o.registryTLS = true
	}
	return o, nil
}

// peerList splits -peers.
func (o *options) peerList() []string {
	var out []string
	for _, p := range strings.Split(o.peers, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
