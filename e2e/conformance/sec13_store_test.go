package conformance

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startIn runs the registry with the given data directory (which may not exist yet).
func startIn(t *testing.T, dataDir string, extra ...string) *reg {
	t.Helper()
	r := &reg{t: t, dataDir: dataDir, flags: append([]string{"-admin-token", adminTok}, extra...)}
	r.launch(freePort(t))
	t.Cleanup(r.kill)
	return r
}

// stop sends SIGTERM and waits; cli.md §1.1 "SIGINT/SIGTERM: stop accepting,
// finish in-flight requests (≤ 10 s), close the store, exit 0."
func (r *reg) stop() int {
	r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(20 * time.Second):
		r.t.Errorf("registry did not exit within 20 s of SIGTERM")
		r.kill()
	}
	return r.cmd.ProcessState.ExitCode()
}

// §13.1 "Database file 0600, data directory 0700. The server holds an
// exclusive lock on `<data-dir>/registry.lock` while running"; cli.md §1.1
// `-data-dir` "created 0700"; SIGTERM exits 0.
func TestConf_13_1_FilesAndModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "data")
	r := startIn(t, dir)
	c := r.dial()
	c.register(nil)
	st, err := os.Stat(dir)
	if err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("data dir: %v %v", st.Mode(), err)
	}
	st, err = os.Stat(filepath.Join(dir, "registry.db"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("registry.db: %v %v", st, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "registry.lock")); err != nil {
		t.Errorf("registry.lock: %v", err)
	}
	if code := r.stop(); code != 0 {
		t.Errorf("SIGTERM exit status %d", code)
	}
}

// §13.1 `-store sqlite:PATH` and a bare path; cli.md §1.1 start-up log
// `store` (`sqlite:/path`).
func TestConf_13_1_StoreFlag(t *testing.T) {
	for _, form := range []string{"sqlite:", ""} {
		path := filepath.Join(t.TempDir(), "elsewhere.db")
		r := start(t, "-store", form+path)
		c := r.dial()
		c.register(nil)
		if _, err := os.Stat(path); err != nil {
			t.Errorf("-store %s%s: %v", form, path, err)
		}
		var rec map[string]any
		for _, l := range r.logLines() {
			var m map[string]any
			if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == "registry listening" {
				rec = m
			}
		}
		if rec != nil && rec["store"] != "sqlite:"+path {
			t.Errorf("store in the start-up log: %v", rec["store"])
		}
		if _, err := os.Stat(filepath.Join(r.dataDir, "registry.db")); err == nil {
			t.Errorf("-store %s: registry.db also created in the data dir", form)
		}
	}
}

// §13.2 guarantee 4 / §14 item 74: "Join tokens and network admin tokens
// are stored only as SHA-256 digests; the global admin token is never stored."
func TestConf_74_NoClearTextTokens(t *testing.T) {
	r := start(t, "-rate-limit", "off")
	c := r.dial()
	o := c.register(nil)
	const join, nadm = "JoinTokenCleartext-4711", "NetAdminTokenCleartext-4711"
	c.createNet(o, "secrets", "token", obj{"token": join, "network_admin_token": nadm})
	scan := func(when string) {
		filepath.WalkDir(r.dataDir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			b, _ := os.ReadFile(p)
			for _, s := range []string{join, nadm, adminTok} {
				if bytes.Contains(b, []byte(s)) {
					t.Errorf("%s: %s contains %q in clear text", when, p, s)
				}
			}
			return nil
		})
	}
	scan("running")
	file := filepath.Join(t.TempDir(), "b.jsonl")
	if _, _, code := run(t, "backup", file, "-data-dir", r.dataDir); code != 0 {
		t.Fatalf("backup: %d", code)
	}
	b, _ := os.ReadFile(file)
	for _, s := range []string{join, nadm, adminTok} {
		if bytes.Contains(b, []byte(s)) {
			t.Errorf("backup contains %q in clear text", s)
		}
	}
	r.stop()
	scan("stopped")
}

// rewriteBackup joins lines (header and rows) and appends a correct trailer.
func rewriteBackup(lines []string) []byte {
	var buf bytes.Buffer
	for _, l := range lines {
		buf.WriteString(l)
		buf.WriteByte('\n')
	}
	sum := sha256.Sum256(buf.Bytes())
	buf.WriteString(`{"trailer":true,"rows":` + strconv.Itoa(len(lines)-1) + `,"sha256":"` + hex.EncodeToString(sum[:]) + `"}` + "\n")
	return buf.Bytes()
}

// §13.3 restore steps (1)–(4) and cli.md §1.2 exit statuses.
func TestConf_13_3_Restore(t *testing.T) {
	r := start(t, "-rate-limit", "off")
	c := r.dial()
	a := c.register(obj{"hostname": "from-backup"})
	c.ok(a.sign(obj{"type": "set_visibility", "node_id": a.id, "public": true}))
	c.createNet(a, "bnet", "", nil)
	r.stop()
	// backup of a stopped store
	file := filepath.Join(t.TempDir(), "b.jsonl")
	out, errs, code := run(t, "backup", file, "-data-dir", r.dataDir)
	if code != 0 || !backupRe.MatchString(out) {
		t.Fatalf("backup of a stopped store: %d %q %q", code, out, errs)
	}
	data, _ := os.ReadFile(file)
	if !bytes.HasSuffix(data, []byte("\n")) {
		t.Errorf("last line does not end with LF")
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	body := lines[:len(lines)-1]
	var hdr map[string]any
	if err := json.Unmarshal([]byte(body[0]), &hdr); err != nil {
		t.Fatal(err)
	}
	sv, ok := hdr["schema_version"].(float64)
	if !ok || sv != float64(int64(sv)) || sv < 1 {
		t.Errorf("schema_version: %s", body[0])
	}
	if s, _ := hdr["created_at"].(string); func() error { _, err := time.Parse(time.RFC3339, s); return err }() != nil {
		t.Errorf("created_at: %s", body[0])
	}
	if s, _ := hdr["registry_version"].(string); s == "" {
		t.Errorf("registry_version: %s", body[0])
	}
	for _, l := range body[1:] {
		var row struct {
			Table string          `json:"table"`
			Row   json.RawMessage `json:"row"`
		}
		if json.Unmarshal([]byte(l), &row) != nil || row.Table == "" || len(row.Row) == 0 || row.Row[0] != '{' {
			t.Errorf("row line: %s", l)
		}
	}
	tmp := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(tmp, name)
		os.WriteFile(p, b, 0o600)
		return p
	}
	isEmpty := func(dir string) bool {
		// an empty target accepts a restore without -force
		_, _, code := run(t, "restore", file, "-data-dir", dir)
		return code == 0
	}
	// (1) missing trailer; rows mismatch
	noTrailer := write("nt.jsonl", []byte(strings.Join(body, "\n")+"\n"))
	rowsBad := write("rows.jsonl", bytes.Replace(data, []byte(`"rows":`+strconv.Itoa(len(body)-1)), []byte(`"rows":`+strconv.Itoa(len(body))), 1))
	for _, f := range []string{noTrailer, rowsBad} {
		d := t.TempDir()
		_, errs, code := run(t, "restore", f, "-data-dir", d)
		if code != 1 || !strings.HasPrefix(errs, "error: ") || !strings.Contains(errs, "nothing was changed") {
			t.Errorf("restore %s: %d %q", filepath.Base(f), code, errs)
		}
		if !isEmpty(d) {
			t.Errorf("restore %s changed the target", filepath.Base(f))
		}
	}
	// (2) newer schema
	h2 := map[string]any{}
	json.Unmarshal([]byte(body[0]), &h2)
	h2["schema_version"] = int64(sv) + 1
	nb := append([]string{string(mustJSON(h2))}, body[1:]...)
	newer := write("newer.jsonl", rewriteBackup(nb))
	d := t.TempDir()
	_, errs, code = run(t, "restore", newer, "-data-dir", d)
	if code != 1 || !strings.HasPrefix(errs, "error: ") {
		t.Errorf("restore of a newer schema: %d %q", code, errs)
	}
	if !isEmpty(d) {
		t.Errorf("restore of a newer schema changed the target")
	}
	// (4) a broken audit chain aborts unless -force
	tampered := append([]string(nil), body...)
	seq := ""
	for i, l := range tampered {
		var row struct {
			Table string         `json:"table"`
			Row   map[string]any `json:"row"`
		}
		json.Unmarshal([]byte(l), &row)
		if strings.Contains(row.Table, "audit") {
			if ts, ok := row.Row["time"].(string); ok && strings.HasSuffix(ts, "Z") && len(ts) > 2 {
				d := ts[len(ts)-2]
				nd := byte('0')
				if d == '0' {
					nd = '1'
				}
				tampered[i] = strings.Replace(l, `"`+ts+`"`, `"`+ts[:len(ts)-2]+string(nd)+`Z"`, 1)
				seq = strconv.FormatFloat(row.Row["seq"].(float64), 'f', -1, 64)
				break
			}
		}
	}
	if seq == "" {
		t.Fatalf("no audit row with a time in the backup")
	}
	broken := write("broken.jsonl", rewriteBackup(tampered))
	d = t.TempDir()
	_, errs, code = run(t, "restore", broken, "-data-dir", d)
	if code != 1 || !strings.HasPrefix(errs, "error: ") {
		t.Errorf("restore of a broken chain: %d %q", code, errs)
	}
	if !isEmpty(d) {
		t.Errorf("refused restore of a broken chain changed the target")
	}
	d = t.TempDir()
	if out, errs, code = run(t, "restore", broken, "-data-dir", d, "-force"); code != 0 {
		t.Errorf("restore -force of a broken chain: %d %q %q", code, out, errs)
	}
	// §9.2 / cli.md §1.2: audit verify reports the first mismatch, exit 1.
	out, errs, code = run(t, "audit", "verify", "-data-dir", d)
	want := regexp.MustCompile(`^audit chain broken at seq ` + seq + `: hash mismatch \(stored [0-9a-f]{64}, computed [0-9a-f]{64}\)\n$`)
	if code != 1 || !want.MatchString(out) {
		t.Errorf("audit verify of a tampered chain: %d stdout %q stderr %q", code, out, errs)
	}
	// (3) -force replaces the contents of a non-empty target.
	other := start(t, "-rate-limit", "off")
	oc := other.dial()
	oc.register(obj{"hostname": "only-in-target"})
	other.stop()
	if out, errs, code = run(t, "restore", file, "-data-dir", other.dataDir); code != 1 {
		t.Errorf("restore into a non-empty target without -force: %d %q %q", code, out, errs)
	}
	if out, errs, code = run(t, "restore", file, "-data-dir", other.dataDir, "-force"); code != 0 {
		t.Fatalf("restore -force: %d %q %q", code, out, errs)
	}
	other.launch(freePort(t))
	oc = other.dial()
	p := oc.ok(obj{"type": "list_nodes", "network_id": 0, "admin_token": adminTok})
	if !strings.Contains(p.String(), `"hostname":"from-backup"`) || strings.Contains(p.String(), "only-in-target") {
		t.Errorf("after restore -force: %s", p)
	}
	p = oc.ok(obj{"type": "list_networks", "admin_token": adminTok})
	if !strings.Contains(p.String(), `"name":"bnet"`) {
		t.Errorf("networks after restore -force: %s", p)
	}
}
