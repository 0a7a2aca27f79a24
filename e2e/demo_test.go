package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// `make demo` in its non-interactive mode (scripts/demo.sh --once) brings
// the network up, runs trust, ping, echo and bench, and exits 0, using the
// binaries built by TestMain.
func TestE2E_DemoScriptOnce(t *testing.T) {
	script, err := filepath.Abs(filepath.Join("..", "scripts", "demo.sh"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*startTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, script, "--once")
	tmp := t.TempDir()
	cmd.Env = append(cleanEnv(), "DEMO_BIN="+filepath.Dir(bins.ctl), "TMPDIR="+tmp)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("demo.sh --once: %v\n%s", err, out)
	}
	for _, want := range []string{"3 sent, 3 received", "hello from node", "MiB/s", "PILOT_SOCKET=", "demo: success"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
	// The script removed its temporary directory.
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("demo left %v in TMPDIR", left)
	}
}
