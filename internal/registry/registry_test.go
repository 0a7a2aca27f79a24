package registry

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pilot-go/pilot/internal/registry/tlsconf"
)

// syncBuf is a goroutine-safe buffer for a running Main's stderr.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func noEnv(string) string { return "" }

func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = Main(context.Background(), args, &o, &e, noEnv)
	return code, o.String(), e.String()
}

var addrRE = regexp.MustCompile(`msg"?[=:]"registry listening"[ ,]"?addr"?[=:]"?([0-9.:]+)`)

// startServe runs `pilot-registry serve` in-process until the returned stop
// is called; it returns the bound address and the log so far.
func startServe(t *testing.T, args ...string) (addr string, logs *syncBuf, stop func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logs = &syncBuf{}
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, append([]string{"-listen", "127.0.0.1:0"}, args...), io.Discard, logs, noEnv)
	}()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if m := addrRE.FindStringSubmatch(logs.String()); m != nil {
			addr = m[1]
			break
		}
		select {
		case code := <-done:
			t.Fatalf("serve exited %d:\n%s", code, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("no start-up log:\n%s", logs.String())
		}
		time.Sleep(5 * time.Millisecond) // polling a log, bounded by deadline
	}
	var once sync.Once
	code := -1
	stop = func() int {
		once.Do(func() {
			cancel()
			select {
			case code = <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("serve did not stop")
			}
		})
		return code
	}
	t.Cleanup(func() { stop() })
	return addr, logs, stop
}

// §14 item 10: with -tls and no cert flags, two consecutive starts present
// the same certificate fingerprint, equal to `pilot-registry tls fingerprint`.
func TestRegistry_10_TLSFingerprintStable(t *testing.T) {
	dir := t.TempDir()
	var seen []string
	for i := 0; i < 2; i++ {
		addr, logs, stop := startServe(t, "-data-dir", dir, "-tls")
		c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		fp := tlsconf.Fingerprint(c.ConnectionState().PeerCertificates[0].Raw)
		c.Close()
		if !strings.Contains(logs.String(), `msg="tls fingerprint" sha256=`+fp) {
			t.Fatalf("fingerprint not logged:\n%s", logs)
		}
		seen = append(seen, fp)
		if code := stop(); code != 0 {
			t.Fatalf("exit %d:\n%s", code, logs)
		}
	}
	code, out, errOut := run(t, "tls", "fingerprint", "-data-dir", dir)
	if code != 0 || seen[0] != seen[1] || strings.TrimSpace(out) != seen[0] || len(seen[0]) != 64 {
		t.Fatalf("code %d out %q err %q seen %v", code, out, errOut, seen)
	}
	for p, want := range map[string]os.FileMode{filepath.Join(dir, "tls"): 0o700, filepath.Join(dir, "tls", "key.pem"): 0o600} {
		if st, err := os.Stat(p); err != nil || st.Mode().Perm() != want {
			t.Fatalf("%s: %v", p, err)
		}
	}
}

// The serve path on a fresh data directory: start-up log, /healthz with the
// seven keys, graceful stop with exit 0.
// §13.1 data directory 0700: an existing directory open to others is
// kept as its operator made it, with a warning that says how to fix it.
func TestServeWarnsOnOpenDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "open")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil { // whatever the umask
		t.Fatal(err)
	}
	_, logs, stop := startServe(t, "-data-dir", dir, "-admin-token", "tok-xyz-0123456789", "-log-format", "json")
	if code := stop(); code != 0 {
		t.Fatalf("exit %d", code)
	}
	want := `"level":"WARN","msg":"data directory is readable by other users; registry.md expects mode 0700","data_dir":"` + dir + `","mode":"0755","fix":"chmod 700 ` + dir + `"`
	if l := logs.String(); !strings.Contains(l, want) {
		t.Fatalf("log lacks %s\n%s", want, l)
	}
}

func TestServeFreshDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "fresh")
	addr, logs, stop := startServe(t, "-data-dir", dir, "-admin-token", "tok-xyz", "-beacon", "x:1", "-log-format", "json")
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&h)
	resp.Body.Close()
	if resp.StatusCode != 200 || h["status"] != "ok" || len(h) != 7 {
		t.Fatalf("healthz %d %v", resp.StatusCode, h)
	}
	if code := stop(); code != 0 {
		t.Fatalf("exit %d", code)
	}
	l := logs.String()
	for _, want := range []string{
		`"msg":"registry listening","addr":"` + addr + `","store":"sqlite:` + filepath.Join(dir, "registry.db") + `","tls":false,"auth":"v2","admin_token":"configured"`,
		`"level":"WARN","msg":"admin token is shorter than 16 bytes`,
		`"level":"WARN","msg":"-beacon is accepted for compatibility and ignored"`,
		`"msg":"connect daemons with -registry ` + addr + `"`,
	} {
		if !strings.Contains(l, want) {
			t.Errorf("log lacks %s\n%s", want, l)
		}
	}
	if strings.Contains(l, "tok-xyz") {
		t.Fatal("admin token logged")
	}
	if strings.Contains(l, "readable by other users") {
		t.Fatal("a data directory created 0700 was reported as open")
	}
	if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("data dir: %v", err)
	}
}

func TestUsageErrors(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "c.json")
	_ = os.WriteFile(cfg, []byte(`{"listen":":1","no_such_flag":true}`), 0o600)
	for _, args := range [][]string{
		{"-config", cfg},
		{"-nope"},
		{"bogus"},
		{"backup"},
		{"backup", "a", "b"},
		{"restore"},
		{"audit"},
		{"audit", "check"},
		{"migrate", "up"},
		{"tls"},
		{"serve", "extra"},
		{"backup", "f", "-force"},
	} {
		code, _, errOut := run(t, args...)
		if code != 2 || !strings.HasPrefix(errOut, "error: ") || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%v: code %d stderr %q", args, code, errOut)
		}
	}
	_, _, errOut := run(t, "-config", cfg)
	if !strings.Contains(errOut, `unknown key "no_such_flag"`) {
		t.Fatalf("stderr %q does not name the key", errOut)
	}
	if code, out, _ := run(t, "-version"); code != 0 || out != "pilot-registry "+Version+"\n" {
		t.Fatalf("-version: %d %q", code, out)
	}
	if code, _, _ := run(t, "-help"); code != 0 {
		t.Fatalf("-help: %d", code)
	}
}

func TestStoreSubcommands(t *testing.T) {
	dir, dir2 := t.TempDir(), t.TempDir()
	backup := filepath.Join(t.TempDir(), "b.jsonl")
	// Create the store by serving once.
	_, _, stop := startServe(t, "-data-dir", dir)
	stop()
	if code, out, e := run(t, "migrate", "status", "-data-dir", dir); code != 0 ||
		!regexp.MustCompile(`^schema version: \d+\nbinary supports: \d+\npending migrations: none\n$`).MatchString(out) {
		t.Fatalf("migrate status %d %q %q", code, out, e)
	}
	if code, out, e := run(t, "audit", "verify", "-data-dir", dir); code != 0 ||
		out != "audit chain intact: 0 entries, head "+strings.Repeat("0", 64)+"\n" {
		t.Fatalf("audit verify %d %q %q", code, out, e)
	}
	code, out, e := run(t, "backup", backup, "-data-dir", dir)
	if code != 0 || !regexp.MustCompile(`^backup written: \S+ \(\d+ rows, sha256 [0-9a-f]{64}\)\n$`).MatchString(out) {
		t.Fatalf("backup %d %q %q", code, out, e)
	}
	code, out, e = run(t, "restore", backup, "-data-dir", dir2)
	if code != 0 || !regexp.MustCompile(`^restore complete: \d+ rows from \S+ \(schema \d+\)\n$`).MatchString(out) {
		t.Fatalf("restore %d %q %q", code, out, e)
	}
	// A restore while the registry runs is refused: store in use, exit 3.
	_, _, stop2 := startServe(t, "-data-dir", dir2)
	if code, _, e := run(t, "restore", backup, "-force", "-data-dir", dir2); code != 3 || !strings.Contains(e, "in use") {
		t.Fatalf("restore on a running store: %d %q", code, e)
	}
	stop2()
	// A corrupt backup is exit 1.
	data, _ := os.ReadFile(backup)
	data[len(data)/2] ^= 1
	_ = os.WriteFile(backup, data, 0o600)
	if code, _, e := run(t, "restore", backup, "-force", "-data-dir", t.TempDir()); code != 1 || !strings.HasPrefix(e, "error: ") {
		t.Fatalf("corrupt restore: %d %q", code, e)
	}
	// PostgreSQL is not in this build: store unreachable, exit 3.
	if code, _, _ := run(t, "audit", "verify", "-store", "postgres://u:p@h/db"); code != 3 {
		t.Fatalf("postgres: %d", code)
	}
}
