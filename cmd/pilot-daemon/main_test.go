package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pilot-go/pilot/internal/daemon"
)

func noEnv(string) string { return "" }

func runArgs(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, noEnv, &stdout, &stderr, daemon.Options{})
	return code, stdout.String(), stderr.String()
}

// cli.md §5 items 5 and 9, webhook validation: usage errors exit 2 and name
// the culprit.
func TestUsageErrorsExit2(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "d.json")
	os.WriteFile(cfg, []byte(`{"registry": "r:9000", "colour": "blue"}`), 0o600)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-networks", "1,x"}, `"x"`},
		{[]string{"-config", cfg}, `"colour"`},
		{[]string{"-webhook", "http://metadata.google.internal/x"}, "cloud metadata"},
	} {
		code, _, stderr := runArgs(t, tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.want) || !strings.HasPrefix(stderr, "error: ") {
			t.Errorf("%q: exit %d, stderr %q; want 2 naming %s", tc.args, code, stderr, tc.want)
		}
	}
}

func TestVersion(t *testing.T) {
	code, stdout, _ := runArgs(t, "-version")
	if code != 0 || stdout != "pilot-daemon "+daemon.Version+"\n" {
		t.Errorf("-version: exit %d, %q", code, stdout)
	}
}

// cli.md §5 item 7.
func TestCorruptIdentityExits1(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "identity.json")
	os.WriteFile(path, []byte("{"), 0o600)
	code, _, stderr := runArgs(t, "-state-dir", dir)
	if code != 1 || !strings.Contains(stderr, path) {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
	if b, _ := os.ReadFile(path); string(b) != "{" {
		t.Error("identity overwritten")
	}
}

// The daemon keeps running while the registry is unreachable and exits 0
// on SIGINT/SIGTERM (context cancellation).
func TestRunsWithoutRegistryAndStopsCleanly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		ctx, cancel := context.WithCancel(context.Background())
		var stderr bytes.Buffer
		done := make(chan int)
		dial := func(context.Context, string, string) (net.Conn, error) { return nil, errors.New("refused") }
		go func() {
			done <- run(ctx, []string{"-state-dir", dir}, noEnv, &bytes.Buffer{}, &stderr,
				daemon.Options{RegistryDialer: dial})
		}()
		time.Sleep(time.Minute)
		synctest.Wait()
		select {
		case code := <-done:
			t.Fatalf("daemon exited (%d) while the registry was unreachable: %s", code, stderr.String())
		default:
		}
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("exit %d after shutdown", code)
		}
		if _, err := os.Stat(filepath.Join(dir, "identity.json")); err != nil {
			t.Errorf("identity not created: %v", err)
		}
	})
}
