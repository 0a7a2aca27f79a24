package sqlite

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/pilot-go/pilot/internal/registry/store"
	"github.com/pilot-go/pilot/internal/registry/store/storetest"
)

func openT(t *testing.T, dir string, opts Options) *DB {
	t.Helper()
	opts.DataDir = dir
	d, err := Open(context.Background(), opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	return d
}

func backend() storetest.Backend {
	return storetest.Backend{
		New: func(t *testing.T) store.Store { return openT(t, t.TempDir(), Options{}) },
		Reopen: func(t *testing.T, s store.Store) store.Store {
			d := s.(*DB)
			dir := d.opts.DataDir
			if err := d.Close(); err != nil {
				t.Fatal(err)
			}
			return openT(t, dir, Options{})
		},
	}
}

func TestConformance(t *testing.T) { storetest.Run(t, backend()) }

func TestOpen_CreatesDirAndFileModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	d := openT(t, dir, Options{})
	defer d.Close()
	for p, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, "registry.db"): 0o600,
		filepath.Join(dir, "registry.lock"): 0o600} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s mode %v, want %v", p, fi.Mode().Perm(), want)
		}
	}
	var mode string
	var sync, fk int
	d.w.QueryRow("PRAGMA journal_mode").Scan(&mode)
	d.w.QueryRow("PRAGMA synchronous").Scan(&sync)
	d.w.QueryRow("PRAGMA foreign_keys").Scan(&fk)
	if mode != "wal" || sync != 2 || fk != 1 {
		t.Errorf("journal_mode=%s synchronous=%d foreign_keys=%d; want wal, 2 (FULL), 1", mode, sync, fk)
	}
}

// TestStore_Item75_SecondOpenRefused: two opens cannot share a store.
func TestStore_Item75_SecondOpenRefused(t *testing.T) {
	dir := t.TempDir()
	d := openT(t, dir, Options{})
	_, err := Open(context.Background(), Options{DataDir: dir})
	if !errors.Is(err, store.ErrInUse) || !strings.Contains(err.Error(), "store is in use by process "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("second Open = %v", err)
	}
	// Read-only opens (backup, audit verify of a running store) are allowed.
	ro := openT(t, dir, Options{ReadOnly: true})
	if err := ro.Update(context.Background(), func(store.Tx) error { return nil }); !errors.Is(err, store.ErrReadOnly) {
		t.Errorf("read-only Update = %v", err)
	}
	ro.Close()
	d.Close()
	openT(t, dir, Options{}).Close()
}

// TestStore_Item71_IntegrityFailureNamesFile corrupts pages of the file.
func TestStore_Item71_IntegrityFailureNamesFile(t *testing.T) {
	dir := t.TempDir()
	d := openT(t, dir, Options{})
	storetest.Populate(t, d)
	d.Close()
	path := filepath.Join(dir, "registry.db")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) < 3*4096 {
		t.Fatalf("database unexpectedly small: %d bytes", len(data))
	}
	for i := 4096 + 100; i < len(data); i += 3 {
		data[i] = 0xA5 // garble every page but the first (schema)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Open(context.Background(), Options{DataDir: dir})
	if !errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), path) ||
		!strings.Contains(err.Error(), "pilot-registry restore FILE") {
		t.Fatalf("Open of a corrupt store = %v", err)
	}
	t.Logf("refusal: %v", err)
	// A file that is not a database at all.
	if err := os.WriteFile(path, []byte(strings.Repeat("garbage!", 1024)), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Open(context.Background(), Options{DataDir: dir})
	if !errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), path) {
		t.Fatalf("Open of a non-database = %v", err)
	}
	t.Logf("refusal: %v", err)
}

// TestStore_Item71_NewerSchemaRefused: a schema from the future.
func TestStore_Item71_NewerSchemaRefused(t *testing.T) {
	dir := t.TempDir()
	d := openT(t, dir, Options{})
	if _, err := d.w.Exec(`INSERT INTO schema_migrations(version, name, applied_at) VALUES (99, 'future', 0)`); err != nil {
		t.Fatal(err)
	}
	d.Close()
	_, err := Open(context.Background(), Options{DataDir: dir})
	if !errors.Is(err, store.ErrSchemaTooNew) || !strings.Contains(err.Error(), filepath.Join(dir, "registry.db")) ||
		!strings.Contains(err.Error(), "pilot-registry restore FILE") {
		t.Fatalf("Open = %v", err)
	}
	// Read-only opens report the version (migrate status) but refuse to
	// back up what they cannot understand.
	ro := openT(t, dir, Options{ReadOnly: true})
	defer ro.Close()
	if info, err := ro.Schema(context.Background()); err != nil || info.Current != 99 {
		t.Fatalf("Schema = %+v, %v", info, err)
	}
	if _, err := ro.Backup(context.Background(), io.Discard, "x"); !errors.Is(err, store.ErrSchemaTooNew) {
		t.Fatalf("Backup of a newer schema = %v", err)
	}
}

func TestOpen_MigrateNeverRefusesPending(t *testing.T) {
	dir := t.TempDir()
	_, err := Open(context.Background(), Options{DataDir: dir, Migrate: MigrateNever})
	if !errors.Is(err, store.ErrMigrationsPending) || !strings.Contains(err.Error(), "pending: 1") {
		t.Fatalf("Open with -migrate=never on an empty store = %v", err)
	}
	d := openT(t, dir, Options{Migrate: MigrateAuto, Integrity: IntegrityFull})
	info, err := d.Schema(context.Background())
	if err != nil || info.Current != SupportedSchema() || len(info.Pending) != 0 {
		t.Fatalf("Schema = %+v, %v", info, err)
	}
	d.Close()
	openT(t, dir, Options{Migrate: MigrateNever, Integrity: IntegrityOff}).Close()
}

// TestStore_Item64_AuditVerifyDetectsAlteredRow alters each stored column
// of an audit row in turn.
func TestStore_Item64_AuditVerifyDetectsAlteredRow(t *testing.T) {
	edits := map[string]string{
		"time":          `UPDATE audit SET time = replace(time, '10:00:01', '10:00:02') WHERE seq = 2`,
		"action":        `UPDATE audit SET action = 'tags.changeD' WHERE seq = 2`,
		"actor_node_id": `UPDATE audit SET actor_node_id = actor_node_id + 1 WHERE seq = 2`,
		"auth_via":      `UPDATE audit SET auth_via = 'self' WHERE seq = 2`,
		"attrs value":   `UPDATE audit SET attrs = replace(attrs, '"t2"', '"t3"') WHERE seq = 2`,
		"attrs syntax":  `UPDATE audit SET attrs = replace(attrs, ',', ' ') WHERE seq = 2`,
		"attrs spacing": `UPDATE audit SET attrs = replace(attrs, ':', ': ') WHERE seq = 2`,
		"hash":          `UPDATE audit SET hash = upper(hash) WHERE seq = 2`,
		"gap":           `DELETE FROM audit WHERE seq = 2`,
	}
	for name, q := range edits {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			d := openT(t, dir, Options{})
			defer d.Close()
			storetest.Populate(t, d)
			if n, _, err := d.VerifyAudit(context.Background()); err != nil || n != 3 {
				t.Fatalf("untouched store: %d, %v", n, err)
			}
			if _, err := d.w.Exec(q); err != nil {
				t.Fatal(err)
			}
			_, _, err := d.VerifyAudit(context.Background())
			var ce *store.ChainError
			if !errors.As(err, &ce) || ce.Seq != 2 {
				t.Fatalf("VerifyAudit after %s = %v, want a break at seq 2", name, err)
			}
			if name == "gap" {
				if ce.Kind != store.ChainGap || err.Error() != "audit chain broken at seq 2: gap after seq 1" {
					t.Errorf("gap message = %q", err)
				}
			} else if !strings.HasPrefix(err.Error(), "audit chain broken at seq 2: hash mismatch (stored ") {
				t.Errorf("message = %q", err)
			}
		})
	}
}

// TestStore_Item74_NoCleartextTokenInFiles reads the raw database files.
func TestStore_Item74_NoCleartextTokenInFiles(t *testing.T) {
	dir := t.TempDir()
	d := openT(t, dir, Options{})
	storetest.Populate(t, d)
	check := func() {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range []string{storetest.JoinSecret, storetest.AdminSecret} {
				if strings.Contains(string(b), s) {
					t.Errorf("%s contains the secret %q", e.Name(), s)
				}
			}
		}
	}
	check() // WAL not checkpointed yet
	d.Close()
	check()
}

// TestBackupFile writes a backup through the temp-file path and restores
// it with RestoreFile (§13.3, cli.md §1.2).
func TestBackupFile(t *testing.T) {
	src := openT(t, t.TempDir(), Options{})
	defer src.Close()
	storetest.Populate(t, src)
	out := filepath.Join(t.TempDir(), "reg.backup")
	sum, err := store.WriteBackupFile(context.Background(), src, out, "1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(out)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v, %v", fi, err)
	}
	dst := openT(t, t.TempDir(), Options{})
	defer dst.Close()
	got, err := store.RestoreFile(context.Background(), dst, out, store.RestoreOptions{})
	if err != nil || got.Rows != sum.Rows || got.SchemaVersion != SupportedSchema() {
		t.Fatalf("RestoreFile = %+v, %v (backup %+v)", got, err, sum)
	}
	data, _ := os.ReadFile(out)
	data[len(data)/2] ^= 0x20
	os.WriteFile(out, data, 0o600)
	_, err = store.RestoreFile(context.Background(), dst, out, store.RestoreOptions{Force: true})
	if err == nil || err.Error() != "backup "+out+" is corrupt: checksum mismatch; nothing was changed" {
		t.Fatalf("corrupt RestoreFile = %v", err)
	}
}

func TestOpen_PathWithSpecialCharacters(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "my data #1 ?x=1")
	d := openT(t, dir, Options{})
	storetest.Populate(t, d)
	d.Close()
	if _, err := os.Stat(filepath.Join(dir, "registry.db")); err != nil {
		t.Fatal(err)
	}
	info, err := Inspect(context.Background(), Options{DataDir: dir})
	if err != nil || info.Current != SupportedSchema() || len(info.Pending) != 0 {
		t.Fatalf("Inspect = %+v, %v", info, err)
	}
	d = openT(t, dir, Options{})
	defer d.Close()
	if n, _, err := d.VerifyAudit(context.Background()); err != nil || n != 3 {
		t.Fatalf("reopened: %d %v", n, err)
	}
}

func TestInspect_EmptyAndFuture(t *testing.T) {
	dir := t.TempDir()
	d := openT(t, dir, Options{})
	d.w.Exec(`INSERT INTO schema_migrations(version, name, applied_at) VALUES (7, 'future', 0)`)
	d.Close()
	info, err := Inspect(context.Background(), Options{DataDir: dir})
	if err != nil || info.Current != 7 || info.Supported != SupportedSchema() || len(info.Pending) != 0 {
		t.Fatalf("Inspect = %+v, %v", info, err)
	}
	if _, err := Inspect(context.Background(), Options{DataDir: filepath.Join(dir, "missing")}); err == nil {
		t.Fatal("Inspect of a missing store succeeded")
	}
}

// TestRestore_OverCorruptStore: the way out named by the integrity refusal
// works: restore -force replaces a corrupt file.
func TestRestore_OverCorruptStore(t *testing.T) {
	src := openT(t, t.TempDir(), Options{})
	defer src.Close()
	storetest.Populate(t, src)
	out := filepath.Join(t.TempDir(), "reg.backup")
	if _, err := store.WriteBackupFile(context.Background(), src, out, "1.0.0"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	d := openT(t, dir, Options{})
	storetest.Populate(t, d)
	d.Close()
	path := filepath.Join(dir, "registry.db")
	if err := os.WriteFile(path, []byte(strings.Repeat("garbage!", 1024)), 0o600); err != nil {
		t.Fatal(err)
	}
	d = openT(t, dir, Options{ForRestore: true})
	_, err := store.RestoreFile(context.Background(), d, out, store.RestoreOptions{})
	if !errors.Is(err, store.ErrNotEmpty) || !strings.Contains(err.Error(), "-force") {
		t.Fatalf("restore over a corrupt store without -force = %v", err)
	}
	if _, err := store.RestoreFile(context.Background(), d, out, store.RestoreOptions{Force: true}); err != nil {
		t.Fatalf("restore -force over a corrupt store: %v", err)
	}
	if got, want := storetest.BackupRows(t, d), storetest.BackupRows(t, src); got != want {
		t.Fatal("restored contents differ")
	}
	d.Close()
	d = openT(t, dir, Options{Integrity: IntegrityFull})
	defer d.Close()
	if n, _, err := d.VerifyAudit(context.Background()); err != nil || n != 3 {
		t.Fatalf("after restore: %d %v", n, err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("restored file mode: %v %v", fi, err)
	}
	if _, err := os.Stat(path + ".restore-tmp"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary file left behind: %v", err)
	}
}
