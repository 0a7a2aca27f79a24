package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestMain runs main instead of the tests when the test binary is started
// as pilotctl by run below.
func TestMain(m *testing.M) {
	if os.Getenv("PILOTCTL_TEST_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// run executes this test binary as pilotctl with args.
func run(t *testing.T, args ...string) (stdout, stderr string, exit int) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), "PILOTCTL_TEST_MAIN=1", "HOME="+t.TempDir(),
		"PILOT_SOCKET="+filepath.Join(t.TempDir(), "absent.sock"))
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return out.String(), errb.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), 0
}

// The process exit status and streams follow cli.md §4.2–§4.3: one JSON
// line on stdout on success, one on stderr on failure, exit 3 when the
// daemon is not running, 2 for usage errors.
func TestMain_ExitStatusAndStreams(t *testing.T) {
	out, errOut, code := run(t, "version", "--json")
	var ok struct {
		Status string            `json:"status"`
		Data   map[string]string `json:"data"`
	}
	if code != 0 || errOut != "" || strings.Count(out, "\n") != 1 || json.Unmarshal([]byte(out), &ok) != nil ||
		ok.Status != "ok" || ok.Data["version"] == "" {
		t.Errorf("version: exit %d stdout %q stderr %q", code, out, errOut)
	}
	out, errOut, code = run(t, "--json", "info")
	var fail struct{ Status, Code, Message, Hint string }
	if code != 3 || out != "" || json.Unmarshal([]byte(errOut), &fail) != nil || fail.Code != "not_running" ||
		fail.Hint != "pilotctl daemon start" {
		t.Errorf("info without daemon: exit %d stdout %q stderr %q", code, out, errOut)
	}
	out, errOut, code = run(t, "ping")
	if code != 2 || out != "" || !strings.HasPrefix(errOut, "error: missing argument <target>\nhint: ") ||
		!strings.Contains(errOut, "\nusage: pilotctl ping <target>") {
		t.Errorf("usage error: exit %d stdout %q stderr %q", code, out, errOut)
	}
}
