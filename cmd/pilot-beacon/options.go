package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
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

// valueKind is what JSON value types a config key accepts besides strings.
type valueKind uint8

const (
	kindString valueKind = iota // JSON strings only
	kindNumber                  // numbers or strings
	kindBool                    // booleans or strings
	kindList                    // arrays of strings or strings (comma-separated)
)

func newFlagSet(o *options, out io.Writer) (*flag.FlagSet, map[string]valueKind) {
	fs := flag.NewFlagSet("pilot-beacon", flag.ContinueOnError)
	fs.SetOutput(out)
	kinds := map[string]valueKind{}
	str := func(p *string, name, def, usage string) {
		fs.StringVar(p, name, def, usage)
		kinds[name] = kindString
	}
	str(&o.listen, "listen", ":9001", "UDP `address` to serve on")
	str(&o.listen, "addr", ":9001", "alias for -listen")
	fs.Uint64Var(&o.beaconID, "beacon-id", 0, "cluster beacon `ID`; 0 = standalone (no registry directory)")
	kinds["beacon-id"] = kindNumber
	str(&o.peers, "peers", "", "comma-separated UDP `addresses` of static peer beacons")
	kinds["peers"] = kindList
	str(&o.registry, "registry", "", "registry TCP `address`: signed-discover key lookups and, with -beacon-id, the beacon directory")
	str(&o.registryToken, "registry-token", "", "`token` sent in beacon_register (env "+tokenEnv+")")
	fs.BoolVar(&o.registryTLS, "registry-tls", false, "use TLS to the registry")
	kinds["registry-tls"] = kindBool
	str(&o.registryFingerprint, "registry-fingerprint", "", "pin the registry certificate (SHA-256, hex); implies TLS")
	str(&o.advertise, "advertise", "", "`host:port` to register in the directory (default: listen address with the registry connection's local IP)")
	str(&o.health, "health", "", "HTTP `address` serving /healthz and /metrics (loopback clients)")
	fs.DurationVar(&o.nodeTTL, "node-ttl", 5*time.Minute, "forget a node that has not sent a discover for this `duration`")
	kinds["node-ttl"] = kindString
	fs.IntVar(&o.relayQueue, "relay-queue", 4096, "relay job queue `length` (drops when full)")
	kinds["relay-queue"] = kindNumber
	fs.IntVar(&o.maxNodes, "max-nodes", 100000, "node table `capacity`")
	kinds["max-nodes"] = kindNumber
	fs.StringVar(&o.config, "config", "", "JSON config `file` whose keys are flag names")
	str(&o.logFormat, "log-format", "text", "log format: text or json")
	str(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.BoolVar(&o.version, "version", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: pilot-beacon [flags]\n\nExample: pilot-beacon -listen :9001 -registry registry.example:9000\n\nFlags:\n")
		fs.PrintDefaults()
	}
	return fs, kinds
}

// parseOptions applies cli.md's precedence: command-line flag >
// environment variable > config file > default. It returns a usageError
// (exit 2) for bad flags and config files, and flag.ErrHelp for -help.
func parseOptions(args []string, getenv func(string) string, out io.Writer) (*options, error) {
	o := &options{}
	fs, kinds := newFlagSet(o, out)
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
		if err := applyConfigFile(fs, kinds, o.config, func(name string) bool {
			return set[name] || (name == "registry-token" && envToken != "")
		}); err != nil {
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

// applyConfigFile reads a flat JSON object and sets every key that was not
// given with higher precedence (skip). Keys are flag names with - or _.
func applyConfigFile(fs *flag.FlagSet, kinds map[string]valueKind, path string, skip func(string) bool) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config file: %v", err)
	}
	var obj map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&obj); err != nil || obj == nil {
		return fmt.Errorf("config file %s: want one flat JSON object: %v", path, err)
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		name := strings.ReplaceAll(key, "_", "-")
		kind, known := kinds[name]
		if !known {
			return fmt.Errorf("config file %s: unknown key %q", path, key)
		}
		val, err := configValue(obj[key], kind)
		if err != nil {
			return fmt.Errorf("config file %s: key %q: %v", path, key, err)
		}
		if skip(name) {
			continue
		}
		if err := fs.Set(name, val); err != nil {
			return fmt.Errorf("config file %s: key %q: %v", path, key, err)
		}
	}
	return nil
}

// configValue turns one JSON value into a flag string, enforcing its type.
func configValue(raw json.RawMessage, kind valueKind) (string, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return "", err
	}
	switch x := v.(type) {
	case string:
		return x, nil
	case json.Number:
		if kind == kindNumber {
			return x.String(), nil
		}
	case bool:
		if kind == kindBool {
			return strconv.FormatBool(x), nil
		}
	case []any:
		if kind == kindList {
			parts := make([]string, 0, len(x))
			for _, e := range x {
				s, ok := e.(string)
				if !ok {
					return "", errors.New("want an array of strings")
				}
				parts = append(parts, s)
			}
			return strings.Join(parts, ","), nil
		}
	}
	return "", fmt.Errorf("wrong value type %s", jsonType(v))
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case json.Number:
		return "number"
	case bool:
		return "boolean"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return "string"
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
