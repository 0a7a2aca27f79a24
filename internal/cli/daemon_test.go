package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/ipc"
	"github.com/pilot-go/pilot/internal/ipc/ipctest"
)

// TestMain lets the test binary stand in for pilot-daemon: `daemon start`
// runs it (through a pilot-daemon symlink) with PILOTCTL_FAKE_DAEMON set.
func TestMain(m *testing.M) {
	if os.Getenv("PILOTCTL_FAKE_DAEMON") == "1" {
		os.Exit(fakeDaemonMain(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// fakeDaemonMain records its arguments, then serves IPC with the loopback
// backend on -socket until SIGTERM; with PILOTCTL_FAKE_FAIL it exits 2.
func fakeDaemonMain(args []string) int {
	if p := os.Getenv("PILOTCTL_FAKE_ARGS"); p != "" {
		b, _ := json.Marshal(args)
		os.WriteFile(p, b, 0o600)
	}
	if os.Getenv("PILOTCTL_FAKE_FAIL") == "1" {
		fmt.Fprintln(os.Stderr, "error: bad flag")
		return 2
	}
	socket := ""
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "-socket="); ok {
			socket = v
		}
	}
	srv, err := ipc.New(ipc.Config{SocketPath: socket, Backend: &ipctest.Backend{Node: addr.New(0, 0x2AD)}, Version: "fake"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	if err := srv.Run(ctx); err != nil {
		return 1
	}
	return 0
}

// fakeDaemonHarness is a harness whose "pilot-daemon" (next to pilotctl)
// is this test binary acting as a fake daemon that records its arguments
// in the returned file.
func fakeDaemonHarness(t *testing.T) (*harness, string) {
	t.Helper()
	h := newHarness(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(h.dir, "bin")
	os.Mkdir(bin, 0o700)
	if err := os.Symlink(exe, filepath.Join(bin, "pilot-daemon")); err != nil {
		t.Fatal(err)
	}
	argsFile := filepath.Join(h.dir, "args.json")
	t.Setenv("PILOTCTL_FAKE_DAEMON", "1")
	t.Setenv("PILOTCTL_FAKE_ARGS", argsFile)
	return h, argsFile
}

func TestCLI_DaemonStartStatusStop(t *testing.T) {
	h, argsFile := fakeDaemonHarness(t)
	sock := filepath.Join(h.dir, "d.sock")
	pilotDir := filepath.Join(h.home, ".pilot")
	os.Mkdir(pilotDir, 0o700)
	os.WriteFile(filepath.Join(pilotDir, "config.json"),
		[]byte(`{"registry":"reg:9000","listen":":1","public":true,"networks":[1,3],"admin_token":"cfgtok"}`), 0o600)

	if r := h.runSocket(sock, "daemon", "status", "--check"); r.code != 3 || r.out != "" || r.err != "" {
		t.Fatalf("status --check before start: %+v", r)
	}
	if got := h.runSocket(sock, "daemon", "status").ok(t); got != "daemon is not running (socket "+sock+")\n" {
		t.Errorf("status text %q", got)
	}
	info := h.runSocket(sock, "daemon", "start", "--listen", ":4000", "--no-encrypt", "--json").okJSON(t)
	if info["address"] != "0:0000.0000.02AD" {
		t.Errorf("start data %v", info)
	}
	b, _ := os.ReadFile(argsFile)
	var args []string
	json.Unmarshal(b, &args)
	want := []string{"-listen", ":4000", "-encrypt=false", "-registry=reg:9000", "-networks=1,3", "-public=true", "-socket=" + sock}
	if strings.Join(args, " ") != strings.Join(want, " ") {
		t.Errorf("daemon args %q, want %q", args, want)
	}
	pidb, err := os.ReadFile(filepath.Join(pilotDir, "pilot.pid"))
	pid, _ := strconv.Atoi(strings.TrimSpace(string(pidb)))
	if err != nil || pid <= 0 {
		t.Fatalf("pid file: %q %v", pidb, err)
	}
	t.Cleanup(func() {
		if alive(pid) { // only when the test failed before `daemon stop`
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	if r := h.runSocket(sock, "daemon", "status", "--check"); r.code != 0 || r.out != "" {
		t.Errorf("status --check while running: %+v", r)
	}
	st := h.runSocket(sock, "--json", "daemon", "status").okJSON(t)
	if st["running"] != true || st["pid"] != float64(pid) || st["node_id"] != 685.0 {
		t.Errorf("status data %v", st)
	}
	h.runSocket(sock, "--json", "daemon", "start").failJSON(t, "already_exists", 1)
	if got := h.runSocket(sock, "daemon", "stop").ok(t); got != fmt.Sprintf("daemon stopped (pid %d)\n", pid) {
		t.Errorf("stop: %q", got)
	}
	if _, err := os.Stat(filepath.Join(pilotDir, "pilot.pid")); err == nil {
		t.Error("pid file left after stop")
	}
	if r := h.runSocket(sock, "daemon", "status", "--check"); r.code != 3 {
		t.Errorf("status --check after stop: %+v", r)
	}
	d := h.runSocket(sock, "--json", "daemon", "stop").okJSON(t)
	if d["stopped"] != false {
		t.Errorf("second stop %v", d)
	}
	// A daemon that exits during start-up.
	t.Setenv("PILOTCTL_FAKE_FAIL", "1")
	e := h.runSocket(sock, "--json", "daemon", "start").failJSON(t, "internal", 1)
	if !strings.Contains(e.Message, "exited during start-up") || !strings.Contains(e.Hint, "pilot.log") {
		t.Errorf("failed start: %+v", e)
	}
	logb, _ := os.ReadFile(filepath.Join(pilotDir, "pilot.log"))
	if !strings.Contains(string(logb), "error: bad flag") {
		t.Errorf("log %q", logb)
	}
	if got := h.runSocket(sock, "daemon", "start", "--help").ok(t); !strings.Contains(got, "Examples:") {
		t.Errorf("start --help: %q", got)
	}
}

func TestCLI_DaemonNotFound(t *testing.T) {
	h := newHarness(t)
	t.Setenv("PATH", h.dir)
	h.runSocket(filepath.Join(h.dir, "x.sock"), "--json", "daemon", "start").failJSON(t, "not_found", 5)
}

// cli.md §4.9: `daemon start --foreground` runs pilot-daemon attached (its
// output on pilotctl's streams, its exit status pilotctl's), without a PID
// file.
func TestCLI_4_9_DaemonStartForeground(t *testing.T) {
	h, argsFile := fakeDaemonHarness(t)
	t.Setenv("PILOTCTL_FAKE_FAIL", "1")
	sock := filepath.Join(h.dir, "fg.sock")
	r := h.runSocket(sock, "daemon", "start", "--foreground", "--registry=r:9000", "--beacon", "")
	if r.code != 2 || r.err != "error: bad flag\n" {
		t.Errorf("foreground: exit %d stderr %q", r.code, r.err)
	}
	b, _ := os.ReadFile(argsFile)
	if want := `["-registry=r:9000","-beacon","","-socket=` + sock + `"]`; string(b) != want {
		t.Errorf("daemon args %s, want %s", b, want)
	}
	if _, err := os.Stat(filepath.Join(h.home, ".pilot", "pilot.pid")); err == nil {
		t.Error("--foreground wrote a PID file")
	}
}
