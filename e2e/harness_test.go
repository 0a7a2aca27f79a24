package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// adminToken is the global admin token of every test registry. The daemons
// never get it: network creation passes it on pilotctl's command line only.
const adminToken = "e2e-global-admin-token-0123456789"

// Bounds of the waits (the machine may be loaded).
const (
	startTimeout = 60 * time.Second
	waitTimeout  = 60 * time.Second
	ctlTimeout   = 90 * time.Second
	stopTimeout  = 20 * time.Second
)

// bins holds the programs built once by TestMain (with -race when
// PILOT_E2E_RACE=1, as `make e2e` does).
var bins struct{ registry, beacon, daemon, ctl string }

func TestMain(m *testing.M) {
	flag.Parse()
	if f := flag.Lookup("test.run"); f != nil && f.Value.String() == "^$" {
		os.Exit(m.Run()) // benchmarks or fuzzing only: no program to build
	}
	dir, err := os.MkdirTemp("", "pilot-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := 1
	if err := build(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
	} else {
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// build compiles the four programs into dir with one go build.
func build(dir string) error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	const mod = "github.com/pilot-go/pilot/cmd/"
	args := []string{"build", "-o", dir + string(filepath.Separator)}
	if os.Getenv("PILOT_E2E_RACE") == "1" {
		// Race-enabled programs: a data race makes a process exit 66,
		// which stop reports as a test error.
		args = append(args, "-race")
	}
	args = append(args, mod+"pilot-registry", mod+"pilot-beacon", mod+"pilot-daemon", mod+"pilotctl")
	cmd := exec.Command(goBin, args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, out)
	}
	bins.registry = filepath.Join(dir, "pilot-registry")
	bins.beacon = filepath.Join(dir, "pilot-beacon")
	bins.daemon = filepath.Join(dir, "pilot-daemon")
	bins.ctl = filepath.Join(dir, "pilotctl")
	return nil
}

// eventually polls cond every 50 ms until it holds or the timeout passes.
func eventually(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		<-tick.C
	}
}

// proc is one running program; its stdout and stderr go to a log file.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	err     error // Wait's result, valid after done
}

// startProc starts bin with args, logging to dir/<name>.log.
func startProc(t testing.TB, dir, name, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, logPath: filepath.Join(dir, name+".log"), done: make(chan struct{})}
	f, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	p.cmd.Env = cleanEnv()
	if err := p.cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		f.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			t.Logf("---- %s log (tail) ----\n%s", name, p.tail(40))
		}
	})
	return p
}

// cleanEnv is the environment without any Pilot variable, so the test is
// independent of the caller's shell.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PILOT_") {
			env = append(env, kv)
		}
	}
	return env
}

func (p *proc) log() string {
	b, _ := os.ReadFile(p.logPath)
	return string(b)
}

func (p *proc) tail(n int) string {
	lines := strings.Split(strings.TrimRight(p.log(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM and waits (bounded) for a clean exit; it is idempotent.
func (p *proc) stop(t testing.TB) {
	t.Helper()
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		if p.err != nil {
			t.Errorf("%s exited with %v after SIGTERM", p.name, p.err)
		}
	case <-time.After(stopTimeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Errorf("%s did not stop within %v of SIGTERM", p.name, stopTimeout)
	}
}

// waitListen waits for the program's "<what> listening … addr=HOST:PORT"
// log line and returns the address.
func (p *proc) waitListen(t testing.TB, what string) string {
	t.Helper()
	re := regexp.MustCompile(what + ` listening.* addr=([0-9.]+:[0-9]+)`)
	var addr string
	eventually(t, p.name+" to listen", startTimeout, func() bool {
		if p.exited() {
			t.Fatalf("%s exited: %v\n%s", p.name, p.err, p.tail(30))
		}
		if m := re.FindStringSubmatch(p.log()); m != nil {
			addr = m[1]
			return true
		}
		return false
	})
	return addr
}

// freePort returns a loopback TCP port that was free a moment ago (the
// registry needs a fixed port to be restarted under the same address).
func freePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := ln.Addr().String()
	ln.Close()
	return a
}

// cluster is a registry and a beacon run as processes.
type cluster struct {
	t       *testing.T
	dir     string
	regDir  string
	regAddr string
	reg     *proc
	regRuns int
	bcnAddr string
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	c := &cluster{t: t, dir: t.TempDir()}
	c.regDir = filepath.Join(c.dir, "registry")
	c.regAddr = freePort(t)
	c.startRegistry()
	b := startProc(t, c.dir, "beacon", bins.beacon, "-listen", "127.0.0.1:0", "-registry", c.regAddr)
	c.bcnAddr = b.waitListen(t, "beacon")
	return c
}

func (c *cluster) startRegistry() {
	c.t.Helper()
	c.regRuns++
	c.reg = startProc(c.t, c.dir, fmt.Sprintf("registry-%d", c.regRuns), bins.registry,
		"-listen", c.regAddr, "-data-dir", c.regDir, "-admin-token", adminToken,
		"-rate-limit", "off", "-stale-after", "30s")
	if got := c.reg.waitListen(c.t, "registry"); got != c.regAddr {
		c.t.Fatalf("registry listens on %s, want %s", got, c.regAddr)
	}
}

// restartRegistry stops the registry and starts it again on the same
// address and data directory.
func (c *cluster) restartRegistry() {
	c.t.Helper()
	c.reg.stop(c.t)
	c.startRegistry()
}

// daemon is a pilot-daemon process with its own state directory and socket.
type daemon struct {
	c    *cluster
	name string
	dir  string
	sock string
	args []string
	p    *proc
	runs int
	id   int
}

// startDaemon starts a daemon and waits until it is registered.
func (c *cluster) startDaemon(name string, extra ...string) *daemon {
	c.t.Helper()
	d := &daemon{c: c, name: name, dir: filepath.Join(c.dir, name)}
	if err := os.MkdirAll(d.dir, 0o700); err != nil {
		c.t.Fatal(err)
	}
	d.sock = filepath.Join(d.dir, "pilot.sock")
	d.args = append([]string{"-registry", c.regAddr, "-beacon", c.bcnAddr, "-listen", "127.0.0.1:0",
		"-state-dir", d.dir, "-socket", d.sock, "-heartbeat", "1s", "-log-level", "debug"}, extra...)
	d.start()
	return d
}

func (d *daemon) start() {
	t := d.c.t
	t.Helper()
	d.runs++
	d.p = startProc(t, d.c.dir, fmt.Sprintf("%s-%d", d.name, d.runs), bins.daemon, d.args...)
	eventually(t, d.name+" to register", startTimeout, func() bool {
		if d.p.exited() {
			t.Fatalf("%s exited: %v\n%s", d.name, d.p.err, d.p.tail(30))
		}
		r := d.run("info")
		if r.exit != 0 {
			return false
		}
		d.id = r.int("node_id")
		return d.id != 0
	})
}

// restart stops the daemon (SIGTERM) and starts it again with the same
// flags and state directory.
func (d *daemon) restart() {
	d.c.t.Helper()
	d.p.stop(d.c.t)
	d.start()
}

// result is the outcome of one pilotctl --json run.
type result struct {
	args   []string
	exit   int
	data   map[string]any // the envelope's data on success
	code   string         // the error envelope's code on failure
	msg    string
	stdout string
	stderr string
}

func (r result) String() string {
	return fmt.Sprintf("pilotctl %s: exit %d code %q message %q stdout %q stderr %q",
		strings.Join(r.args, " "), r.exit, r.code, r.msg, r.stdout, r.stderr)
}

// int returns data[key] as an int (0 when absent).
func (r result) int(key string) int {
	f, _ := r.data[key].(float64)
	return int(f)
}

func (r result) str(key string) string {
	s, _ := r.data[key].(string)
	return s
}

// list returns data[key] as a list of objects.
func (r result) list(key string) []map[string]any {
	arr, _ := r.data[key].([]any)
	out := make([]map[string]any, 0, len(arr))
	for _, e := range arr {
		if m, ok := e.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// num returns m[key] as an int.
func num(m map[string]any, key string) int {
	f, _ := m[key].(float64)
	return int(f)
}

// run executes `pilotctl --json --socket SOCK args…` and parses the
// envelope: exactly one line on stdout on success, one on stderr on error
// (cli.md §4.2).
func (d *daemon) run(args ...string) result {
	return runCtl(d.c.t, d.sock, args...)
}

func runCtl(t testing.TB, sock string, args ...string) result {
	t.Helper()
	return runCtlEnv(t, nil, sock, args...)
}

// runCtlEnv is runCtl with extra environment variables (KEY=value).
func runCtlEnv(t testing.TB, extraEnv []string, sock string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), ctlTimeout)
	defer cancel()
	full := append([]string{"--json", "--socket", sock}, args...)
	cmd := exec.CommandContext(ctx, bins.ctl, full...)
	cmd.Env = append(cleanEnv(), extraEnv...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{args: args, stdout: stdout.String(), stderr: stderr.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.exit = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("pilotctl %v: %v", args, err)
	}
	var env struct {
		Status  string         `json:"status"`
		Data    map[string]any `json:"data"`
		Code    string         `json:"code"`
		Message string         `json:"message"`
	}
	if r.exit == 0 && r.stdout == "" && slices.Contains(args, "--check") {
		return r // daemon status --check prints nothing (cli.md §4.9)
	}
	if r.exit == 0 {
		if strings.Count(strings.TrimRight(r.stdout, "\n"), "\n") != 0 {
			t.Fatalf("%v: success must print exactly one line", r)
		}
		if err := json.Unmarshal(stdout.Bytes(), &env); err != nil || env.Status != "ok" {
			t.Fatalf("%v: bad success envelope (%v)", r, err)
		}
		r.data = env.Data
		return r
	}
	line := strings.TrimSpace(r.stderr)
	if line == "" {
		return r // a status without output (daemon status --check)
	}
	if i := strings.LastIndexByte(line, '\n'); i >= 0 {
		line = line[i+1:]
	}
	if err := json.Unmarshal([]byte(line), &env); err != nil || env.Status != "error" {
		t.Fatalf("%v: bad error envelope (%v)", r, err)
	}
	r.code, r.msg = env.Code, env.Message
	return r
}

// ok runs pilotctl and fails the test unless it succeeds.
func (d *daemon) ok(args ...string) result {
	d.c.t.Helper()
	r := d.run(args...)
	if r.exit != 0 {
		d.c.t.Fatalf("%s: %v", d.name, r)
	}
	return r
}

// fails runs pilotctl and fails the test unless it exits with exit and
// the error code code (cli.md §4.3).
func (d *daemon) fails(exit int, code string, args ...string) result {
	d.c.t.Helper()
	r := d.run(args...)
	if r.exit != exit || r.code != code {
		d.c.t.Fatalf("%s: want exit %d code %s, got %v", d.name, exit, code, r)
	}
	return r
}

// streamCmd is a long-running pilotctl (subscribe, recv) whose stdout
// lines are collected as they arrive.
type streamCmd struct {
	cmd   *exec.Cmd
	done  chan struct{}
	mu    sync.Mutex
	lines []string
	errb  bytes.Buffer
}

func (d *daemon) startStream(args ...string) *streamCmd {
	t := d.c.t
	t.Helper()
	full := append([]string{"--json", "--socket", d.sock}, args...)
	s := &streamCmd{cmd: exec.Command(bins.ctl, full...), done: make(chan struct{})}
	s.cmd.Env = cleanEnv()
	s.cmd.Stderr = &s.errb
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			s.mu.Lock()
			s.lines = append(s.lines, sc.Text())
			s.mu.Unlock()
		}
		_ = s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(stopTimeout):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	})
	return s
}

// Lines returns the stdout lines so far.
func (s *streamCmd) Lines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.lines...)
}

func (s *streamCmd) exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}
