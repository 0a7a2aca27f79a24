package conformance

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// run runs pilot-registry with args and returns stdout, stderr and the exit code.
func run(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, regBin, args...)
	cmd.Env = append(os.Environ(), "PILOT_REGISTRY_ADMIN_TOKEN=")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

var (
	backupRe = regexp.MustCompile(`^backup written: (\S+) \((\d+) rows, sha256 ([0-9a-f]{64})\)\n$`)
	verifyRe = regexp.MustCompile(`^audit chain intact: (\d+) entries, head ([0-9a-f]{64})\n$`)
)

// §13.3, cli.md §1.2; §14 items 64, 71–73, 75.
func TestConf_72_BackupRestoreVerify(t *testing.T) {
	r := start(t, "-rate-limit", "off")
	c := r.dial()
	auditScenario(t, c)
	head := c.auditHead()
	file := filepath.Join(t.TempDir(), "b.jsonl")
	// backup of a running store
	out, errs, code := run(t, "backup", file, "-data-dir", r.dataDir)
	m := backupRe.FindStringSubmatch(out)
	if code != 0 || m == nil || m[1] != file {
		t.Fatalf("backup: %d %q %q", code, out, errs)
	}
	data, _ := os.ReadFile(file)
	if st, _ := os.Stat(file); st.Mode().Perm() != 0o600 {
		t.Errorf("backup mode %v", st.Mode())
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	var hdr map[string]any
	json.Unmarshal([]byte(lines[0]), &hdr)
	if hdr["format"] != "pilot-registry-backup" || hdr["format_version"] != float64(1) || hdr["store"] != "sqlite" {
		t.Errorf("header %s", lines[0])
	}
	trailer := lines[len(lines)-1]
	before := data[:len(data)-len(trailer)-1]
	sum := sha256.Sum256(before)
	wantTrailer := `{"trailer":true,"rows":` + strconv.Itoa(len(lines)-2) + `,"sha256":"` + hex.EncodeToString(sum[:]) + `"}`
	var tr1, tr2 any
	json.Unmarshal([]byte(trailer), &tr1)
	json.Unmarshal([]byte(wantTrailer), &tr2)
	if string(mustJSON(tr1)) != string(mustJSON(tr2)) || m[2] != strconv.Itoa(len(lines)-2) || m[3] != hex.EncodeToString(sum[:]) {
		t.Errorf("trailer %s, want %s; stdout %q", trailer, wantTrailer, out)
	}
	// restore into the running store: in use (3)
	_, errs, code = run(t, "restore", file, "-data-dir", r.dataDir, "-force")
	if code != 3 || !strings.HasPrefix(errs, "error: ") || !strings.Contains(errs, "store is in use by process") {
		t.Errorf("restore in use: %d %q", code, errs)
	}
	// second server on the same store refuses
	_, errs, code = run(t, "-data-dir", r.dataDir, "-listen", "127.0.0.1:0")
	if code == 0 || !strings.Contains(errs, "store is in use by process") {
		t.Errorf("second server: %d %q", code, errs)
	}
	// audit verify on the running store
	out, errs, code = run(t, "audit", "verify", "-data-dir", r.dataDir)
	vm := verifyRe.FindStringSubmatch(out)
	if code != 0 || vm == nil || vm[1] != strconv.Itoa(head) {
		t.Errorf("audit verify: %d %q %q", code, out, errs)
	}
	out, errs, code = run(t, "migrate", "status", "-data-dir", r.dataDir)
	ml := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if code != 0 || len(ml) != 3 || !strings.HasPrefix(ml[0], "schema version: ") || !strings.HasPrefix(ml[1], "binary supports: ") || ml[2] != "pending migrations: none" {
		t.Errorf("migrate status: %d %q %q", code, out, errs)
	}
	r.kill()
	// restore into an empty store
	empty := t.TempDir()
	out, errs, code = run(t, "restore", file, "-data-dir", empty)
	if code != 0 || !regexp.MustCompile(`^restore complete: \d+ rows from `+regexp.QuoteMeta(file)+` \(schema \d+\)\n$`).MatchString(out) {
		t.Errorf("restore: %d %q %q", code, out, errs)
	}
	out, _, code = run(t, "audit", "verify", "-data-dir", empty)
	if vm2 := verifyRe.FindStringSubmatch(out); code != 0 || vm2 == nil || vm == nil || vm2[2] != vm[2] {
		t.Errorf("audit verify after restore: %d %q", code, out)
	}
	// non-empty target without -force
	_, errs, code = run(t, "restore", file, "-data-dir", empty)
	if code != 1 || !strings.HasPrefix(errs, "error: ") {
		t.Errorf("restore non-empty: %d %q", code, errs)
	}
	// corrupt backup: flip one byte
	bad := filepath.Join(t.TempDir(), "bad.jsonl")
	d2 := append([]byte(nil), data...)
	i := bytes.Index(d2, []byte(`"table"`)) + 2
	d2[i] ^= 0x01
	os.WriteFile(bad, d2, 0o600)
	e2 := t.TempDir()
	_, errs, code = run(t, "restore", bad, "-data-dir", e2)
	if code != 1 || !strings.Contains(errs, "backup "+bad+" is corrupt: checksum mismatch; nothing was changed") {
		t.Errorf("corrupt restore: %d %q", code, errs)
	}
	// usage errors exit 2
	if _, _, code = run(t, "backup"); code != 2 {
		t.Errorf("backup without FILE: %d", code)
	}
	if _, _, code = run(t, "-no-such-flag"); code != 2 {
		t.Errorf("unknown flag: %d", code)
	}
	out, _, code = run(t, "-version")
	if code != 0 || !strings.HasPrefix(out, "pilot-registry ") {
		t.Errorf("-version: %d %q", code, out)
	}
}

// §13.2 guarantee 5 / §14 item 71: a corrupt store stops the registry with
// exit 1 and a message naming the file and the restore command.
func TestConf_71_CorruptStore(t *testing.T) {
	r := start(t)
	c := r.dial()
	c.register(nil)
	r.cmd.Process.Signal(syscall.SIGTERM) // graceful: the WAL is checkpointed into the file
	<-r.done
	db := filepath.Join(r.dataDir, "registry.db")
	b, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 3*4096 {
		t.Fatalf("store file of %d bytes", len(b))
	}
	for i := 4096; i < len(b); i++ {
		b[i] ^= 0x5a
	}
	os.WriteFile(db, b, 0o600)
	os.Remove(db + "-wal")
	os.Remove(db + "-shm")
	_, errs, code := run(t, "-data-dir", r.dataDir, "-listen", "127.0.0.1:0", "-log-format", "json")
	if code != 1 || !strings.Contains(errs, "registry.db") || !strings.Contains(errs, "pilot-registry restore") {
		t.Errorf("corrupt store: exit %d\n%s", code, errs)
	}
}
