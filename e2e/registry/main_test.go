package registrye2e

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pilot-go/pilot/internal/regclient"
)

// adminToken is the global admin token every test registry runs with.
const adminToken = "e2e-admin-token-0123456789abcdef"

// binPath is the pilot-registry binary built once by TestMain.
var binPath string

func TestMain(m *testing.M) {
	flag.Parse()
	if f := flag.Lookup("test.fuzzworker"); f != nil && f.Value.String() == "true" {
		// A fuzzing worker process runs only the fuzz targets, which use
		// the in-process registry.
		code := m.Run()
		cleanupFuzz()
		os.Exit(code)
	}
	dir, err := os.MkdirTemp("", "pilot-registry-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath, err = BuildBinary(dir, "")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	cleanupFuzz()
	os.RemoveAll(dir)
	os.Exit(code)
}

// long reports whether the long variants run (PILOT_LONG=1 and not -short).
func long() bool { return os.Getenv("PILOT_LONG") == "1" && !testing.Short() }

// seed returns PILOT_SEED when set (to replay a logged run), else a
// fresh seed from the clock.
func seed(t *testing.T) uint64 {
	if s := os.Getenv("PILOT_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("PILOT_SEED: %v", err)
		}
		return v
	}
	return uint64(time.Now().UnixNano())
}

// reg is a registry process under test, restartable on the same data
// directory and port.
type reg struct {
	t    *testing.T
	dir  string
	proc *Proc
}

// startReg starts the binary with a fresh data directory. extra flags are
// appended (e.g. "-rate-limit", "off").
func startReg(t *testing.T, extra ...string) *reg {
	t.Helper()
	dir := t.TempDir()
	r := &reg{t: t, dir: filepath.Join(dir, "data")}
	p, err := Start(Options{Bin: binPath, DataDir: r.dir, AdminToken: adminToken, Extra: extra,
		LogFile: filepath.Join(dir, "registry.log")})
	if err != nil {
		t.Fatal(err)
	}
	r.proc = p
	t.Cleanup(func() {
		if !r.proc.Exited() {
			r.proc.Kill()
		}
		if t.Failed() {
			t.Logf("registry log tail:\n%s", r.proc.LogTail())
		}
	})
	return r
}

func (r *reg) addr() string { return r.proc.Addr() }

// kill SIGKILLs the registry and starts it again on the same data
// directory and address.
func (r *reg) kill() {
	r.t.Helper()
	r.proc.Kill()
	r.restart()
}

// restartGraceful stops the registry with SIGTERM (exit 0 expected) and
// starts it again.
func (r *reg) restartGraceful() {
	r.t.Helper()
	if err := r.proc.Stop(30 * time.Second); err != nil {
		r.t.Fatal(err)
	}
	r.restart()
}

func (r *reg) restart() {
	r.t.Helper()
	p, err := r.proc.Restart()
	if err != nil {
		r.t.Fatalf("restart: %v", err)
	}
	r.proc = p
}

// stopAndVerifyAudit stops the registry gracefully and runs
// `pilot-registry audit verify`, which must exit 0.
func (r *reg) stopAndVerifyAudit() {
	r.t.Helper()
	if err := r.proc.Stop(30 * time.Second); err != nil {
		r.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code, out, err := RunSubcommand(ctx, binPath, "audit", "verify", "-data-dir", r.dir)
	if err != nil || code != 0 || !strings.HasPrefix(out, "audit chain intact:") {
		r.t.Fatalf("pilot-registry audit verify: exit %d, err %v, output %q", code, err, out)
	}
	r.t.Logf("%s", strings.TrimSpace(out))
}

// client returns a regclient for the registry, closed at test end.
func (r *reg) client() *regclient.Client {
	r.t.Helper()
	c, err := NewClient(r.addr(), 20*time.Second)
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { c.Close() })
	return c
}

// tok is the call option carrying the global admin token.
func tok() regclient.CallOption { return regclient.WithAdminToken(adminToken) }
