package registry

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/pilot-go/pilot/internal/registry/store/sqlite"
	"github.com/pilot-go/pilot/internal/registry/store/storetest"
)

// populatedStore creates a SQLite store in a new data directory, fills it
// with every kind of row and writes a backup of it with the backup
// subcommand. It returns the data directory, the backup file and the
// backup's row lines.
func populatedStore(t *testing.T) (dir, backup, rows string) {
	t.Helper()
	dir = t.TempDir()
	d, err := sqlite.Open(context.Background(), sqlite.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	storetest.Populate(t, d)
	rows = storetest.BackupRows(t, d)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	backup = filepath.Join(t.TempDir(), "reg.backup")
	if code, out, e := run(t, "backup", backup, "-data-dir", dir); code != 0 || !strings.HasPrefix(out, "backup written: ") {
		t.Fatalf("backup: %d %q %q", code, out, e)
	}
	return dir, backup, rows
}

// checkRestored opens dir as serve does (integrity check, full this time;
// migrations) and compares its contents with rows.
func checkRestored(t *testing.T, dir, rows string) {
	t.Helper()
	d, err := sqlite.Open(context.Background(), sqlite.Options{DataDir: dir, Integrity: sqlite.IntegrityFull})
	if err != nil {
		t.Fatalf("open after restore: %v", err)
	}
	defer d.Close()
	if got := storetest.BackupRows(t, d); got != rows {
		t.Fatal("restored contents differ from the backup's store")
	}
	if n, _, err := d.VerifyAudit(context.Background()); err != nil || n != 3 {
		t.Fatalf("audit chain after restore: %d entries, %v", n, err)
	}
}

var restoreOK = regexp.MustCompile(`^restore complete: \d+ rows from \S+ \(schema \d+\)\n$`)

// dirNames lists the entries of dir.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// registry.md §13.2 item 5: serve refuses a store that fails its integrity
// check and names "pilot-registry restore FILE" as the way out; that way
// out works.
func TestRestoreCmd_OverCorruptStore(t *testing.T) {
	dir, backup, rows := populatedStore(t)
	path := filepath.Join(dir, "registry.db")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) < 3*4096 {
		t.Fatalf("database unexpectedly small: %d bytes", len(data))
	}
	for i := 4096; i < len(data); i++ {
		data[i] = 0xA5 // every page but the first (schema)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, e := run(t, "serve", "-listen", "127.0.0.1:0", "-data-dir", dir)
	if code != 1 || !strings.Contains(e, "failed its integrity check") || !strings.Contains(e, "pilot-registry restore FILE") {
		t.Fatalf("serve on a corrupt store: %d %q", code, e)
	}
	// Without -force the corrupt target is not replaced.
	code, out, e := run(t, "restore", backup, "-data-dir", dir)
	if code != 1 || out != "" || !strings.HasPrefix(e, "error: ") || !strings.Contains(e, "-force") ||
		!strings.HasSuffix(e, "nothing was changed\n") {
		t.Fatalf("restore without -force over a corrupt store: %d %q %q", code, out, e)
	}
	code, out, e = run(t, "restore", backup, "-force", "-data-dir", dir)
	if code != 0 || !restoreOK.MatchString(out) || e != "" {
		t.Fatalf("restore -force over a corrupt store: %d %q %q", code, out, e)
	}
	checkRestored(t, dir, rows)
}

// registry.md §13.2 item 5: a schema newer than the binary is refused "the
// same way", naming restore as the way out; restore -force replaces it.
func TestRestoreCmd_OverNewerSchemaStore(t *testing.T) {
	dir, backup, rows := populatedStore(t)
	db, err := sql.Open("sqlite", filepath.Join(dir, "registry.db"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.Exec(`INSERT INTO schema_migrations(version, name, applied_at) VALUES (99, 'future', 0)`)
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	code, _, e := run(t, "serve", "-listen", "127.0.0.1:0", "-data-dir", dir)
	if code != 1 || !strings.Contains(e, "newer than this binary supports") || !strings.Contains(e, "pilot-registry restore FILE") {
		t.Fatalf("serve on a newer store: %d %q", code, e)
	}
	code, out, e := run(t, "restore", backup, "-force", "-data-dir", dir)
	if code != 0 || !restoreOK.MatchString(out) || e != "" {
		t.Fatalf("restore -force over a newer store: %d %q %q", code, out, e)
	}
	checkRestored(t, dir, rows)
	if code, out, e := run(t, "migrate", "status", "-data-dir", dir); code != 0 || !strings.HasSuffix(out, "pending migrations: none\n") {
		t.Fatalf("migrate status after restore: %d %q %q", code, out, e)
	}
}

// registry.md §13.3: a refused restore changes nothing. A backup that
// fails the checks that need no store (checksum, schema version) is
// refused before the store is opened: an empty data directory stays empty
// (no registry.db, no lock file) and a missing one is not created.
func TestRestoreCmd_BadBackupIntoEmptyDataDir(t *testing.T) {
	_, backup, _ := populatedStore(t)
	good, err := os.ReadFile(backup)
	if err != nil {
		t.Fatal(err)
	}
	corrupt := filepath.Join(t.TempDir(), "corrupt.backup")
	data := append([]byte(nil), good...)
	data[len(data)/2] ^= 1
	if err := os.WriteFile(corrupt, data, 0o600); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(good), "\n"), "\n")
	lines = lines[:len(lines)-1] // the trailer; Reseal adds a new one
	lines[0] = regexp.MustCompile(`"schema_version":\d+`).ReplaceAllString(lines[0], `"schema_version":99`)
	future := filepath.Join(t.TempDir(), "future.backup")
	if err := os.WriteFile(future, storetest.Reseal(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, file, msg string
	}{
		{"checksum", corrupt, "error: backup " + corrupt + " is corrupt: checksum mismatch; nothing was changed\n"},
		{"newer schema", future, "error: backup has schema version 99, newer than this binary supports"},
	} {
		for _, force := range []bool{false, true} {
			empty := t.TempDir()
			missing := filepath.Join(t.TempDir(), "missing")
			for _, dir := range []string{empty, missing} {
				args := []string{"restore", c.file, "-data-dir", dir}
				if force {
					args = append(args, "-force")
				}
				code, out, e := run(t, args...)
				if code != 1 || out != "" || !strings.HasPrefix(e, c.msg) || strings.Count(e, "\n") != 1 {
					t.Errorf("%s, %v: %d %q %q", c.name, args, code, out, e)
				}
			}
			if names := dirNames(t, empty); len(names) != 0 {
				t.Errorf("%s, -force=%v: refused restore left %v in an empty data directory", c.name, force, names)
			}
			if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s, -force=%v: refused restore created the data directory: %v", c.name, force, err)
			}
		}
	}
}

// registry.md §13.3: a backup whose checksum is right but whose contents
// the store refuses (here a row of an unknown table) is refused after the
// store was opened; the registry.db that opening created goes again. The
// lock file, which opening also created, stays (like after any other
// subcommand).
func TestRestoreCmd_RefusedContentsIntoEmptyDataDir(t *testing.T) {
	_, backup, _ := populatedStore(t)
	good, err := os.ReadFile(backup)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(good), "\n"), "\n")
	lines = append(lines[:len(lines)-1], `{"table":"no_such_table","row":{"id":1}}`)
	bad := filepath.Join(t.TempDir(), "bad.backup")
	if err := os.WriteFile(bad, storetest.Reseal(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	code, out, e := run(t, "restore", bad, "-force", "-data-dir", dir)
	if code != 1 || out != "" || !strings.HasPrefix(e, "error: backup "+bad+" is corrupt: ") ||
		!strings.Contains(e, "no_such_table") || !strings.HasSuffix(e, "nothing was changed\n") {
		t.Fatalf("restore of a backup with an unknown table: %d %q %q", code, out, e)
	}
	if names := dirNames(t, dir); len(names) != 1 || names[0] != "registry.lock" {
		t.Fatalf("refused restore left %v in an empty data directory (want only registry.lock)", names)
	}
	// The data directory is still usable: the good backup restores into it.
	if code, out, e := run(t, "restore", backup, "-data-dir", dir); code != 0 || !restoreOK.MatchString(out) {
		t.Fatalf("restore after a refused one: %d %q %q", code, out, e)
	}
}
