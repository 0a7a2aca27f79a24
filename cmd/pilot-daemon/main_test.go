package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pilot-go/pilot/internal/daemon"
	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
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

// The daemon keeps running while the registry is unreachable: its IPC
// socket answers (Health reports the registry unreachable), and it exits 0
// on SIGINT/SIGTERM (context cancellation), removing the socket.
func TestRunsWithoutRegistryAndStopsCleanly(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "pilot.sock")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr syncBuffer
	done := make(chan int, 1)
	dial := func(context.Context, string, string) (net.Conn, error) { return nil, errors.New("refused") }
	go func() {
		done <- run(ctx, []string{"-state-dir", dir, "-socket", sock, "-listen", "127.0.0.1:0", "-beacon", ""},
			noEnv, &bytes.Buffer{}, &stderr, daemon.Options{RegistryDialer: dial})
	}()
	health := waitHealth(t, sock, done)
	if health["registry"] != "unreachable" || health["status"] != "degraded" {
		t.Errorf("health while the registry is unreachable: %v", health)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("exit %d after shutdown: %s", code, stderr.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "identity.json")); err != nil {
		t.Errorf("identity not created: %v", err)
	}
	if _, err := os.Stat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket left behind: %v", err)
	}
}

// waitHealth polls the IPC socket (bounded) until Health answers.
func waitHealth(t *testing.T, sock string, done <-chan int) map[string]any {
	t.Helper()
	deadline := time.After(20 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if c, err := net.Dial("unix", sock); err == nil {
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := c.Write(ipcmsg.AppendFrame(nil, ipcmsg.Health{})); err != nil {
				t.Fatal(err)
			}
			body, err := ipcmsg.ReadFrame(c)
			if err != nil {
				t.Fatal(err)
			}
			rep, err := ipcmsg.DecodeReply(body)
			h, ok := rep.(ipcmsg.HealthOK)
			if err != nil || !ok {
				t.Fatalf("health reply %T %v", rep, err)
			}
			var m map[string]any
			if err := json.Unmarshal(h.Body, &m); err != nil {
				t.Fatal(err)
			}
			return m
		}
		select {
		case code := <-done:
			t.Fatalf("daemon exited (%d) while the registry was unreachable", code)
		case <-deadline:
			t.Fatal("IPC socket never answered")
		case <-tick.C:
		}
	}
}

// syncBuffer is a bytes.Buffer safe for the daemon's logger and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
