package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"

	"github.com/pilot-go/pilot/internal/registry/store"
)

var columnName = regexp.MustCompile(`^[a-z_]{1,64}$`)

// Restore replaces the store's contents with a backup (§13.3). The target
// file is never modified in place: the backup is loaded, in one
// transaction, into a new database file next to it (schema of the backup's
// version, rows, migrations to the current schema, integrity, foreign key
// and audit chain checks); only if all of that passed is the new file
// renamed over the old one. So any refusal changes nothing, and a corrupt
// store can be restored over (open it with Options.ForRestore). Restore
// waits for running Updates and blocks new ones; it must not run
// concurrently with View, Backup or VerifyAudit on the same DB (it reopens
// the connections), which `pilot-registry restore` never does.
// CheckBackup runs the checks of a restore that need no store (§13.3 steps
// 1 and 2): the backup parses (trailer, row count, checksum, every line)
// and its schema version is one this binary can load.
func CheckBackup(data []byte) (store.BackupHeader, []store.BackupRow, error) {
	hdr, rows, err := store.ParseBackup(data)
	if err != nil {
		return hdr, nil, err
	}
	if hdr.SchemaVersion > SupportedSchema() {
		return hdr, nil, store.Refuse(store.ErrSchemaTooNew, "backup has schema version %d, newer than this binary supports (%d); restore it with a newer pilot-registry; nothing was changed",
			hdr.SchemaVersion, SupportedSchema())
	}
	if hdr.SchemaVersion < 1 {
		return hdr, nil, &store.CorruptBackupError{Problem: fmt.Sprintf("schema_version %d", hdr.SchemaVersion)}
	}
	return hdr, rows, nil
}

func (d *DB) Restore(ctx context.Context, data []byte, opts store.RestoreOptions) (store.RestoreSummary, error) {
	var sum store.RestoreSummary
	if d.isClosed() {
		return sum, store.ErrClosed
	}
	if d.opts.ReadOnly {
		return sum, store.ErrReadOnly
	}
	hdr, rows, err := CheckBackup(data)
	if err != nil {
		return sum, err
	}
	sum.Rows, sum.SchemaVersion = len(rows), hdr.SchemaVersion
	// Hold the writer: no Update runs during the swap.
	g := &d.group
	g.mu.Lock()
	defer g.mu.Unlock()
	if !opts.Force {
		empty, err := d.targetEmpty(ctx)
		if err != nil {
			return sum, store.Refuse(store.ErrNotEmpty, "store %s cannot be read (%v); restore with -force to replace it; nothing was changed", d.path, err)
		}
		if !empty {
			return sum, store.Refuse(store.ErrNotEmpty, "store %s already holds data; restore with -force to replace it; nothing was changed", d.path)
		}
	}
	tmp := d.path + ".restore-tmp"
	removeDB(tmp)
	if err := d.build(ctx, tmp, hdr.SchemaVersion, rows, opts, &sum); err != nil {
		removeDB(tmp)
		return sum, err
	}
	return sum, d.swap(ctx, tmp)
}

// targetEmpty: no schema yet, or no node, tombstone, network other than 0
// or audit row.
func (d *DB) targetEmpty(ctx context.Context) (bool, error) {
	v, err := schemaVersion(ctx, d.r)
	if err != nil || v == 0 {
		return v == 0 && err == nil, err
	}
	var n int
	err = d.r.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM nodes) + (SELECT count(*) FROM tombstones) +
		(SELECT count(*) FROM networks WHERE id <> 0) + (SELECT count(*) FROM audit)`).Scan(&n)
	return n == 0, err
}

func removeDB(path string) {
	for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
		os.Remove(path + suffix)
	}
}

// build creates a new database at path holding the backup.
func (d *DB) build(ctx context.Context, path string, version int, rows []store.BackupRow, opts store.RestoreOptions, sum *store.RestoreSummary) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("restore: create %s: %w", path, err)
	}
	f.Close()
	db, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	// Foreign keys are checked once everything is loaded (checkLoaded);
	// enforcing them while loading would refuse the migrations that
	// rebuild a parent table (migration.rebuildsParent).
	if _, err := db.ExecContext(ctx, `PRAGMA foreign_keys = OFF`); err != nil {
		return fmt.Errorf("restore: %s: %w", path, err)
	}
	sqlTx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("restore: %s: %w", path, err)
	}
	defer sqlTx.Rollback()
	if err := d.load(ctx, &tx{ctx: ctx, q: plainTx{sqlTx}}, version, rows, opts, sum); err != nil {
		return err
	}
	d.cache.beginCommit()
	err = sqlTx.Commit()
	d.cache.endCommit(false, nil, 0, false) // a new file: forget everything
	if err != nil {
		return fmt.Errorf("restore: commit %s: %w", path, err)
	}
	if _, err := db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return fmt.Errorf("restore: checkpoint %s: %w", path, err)
	}
	if err := db.Close(); err != nil {
		return err
	}
	return syncFile(path)
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// swap replaces the store file with tmp and reopens the connections. The
// old WAL must go before the rename, or SQLite would replay it into the
// new file.
func (d *DB) swap(ctx context.Context, tmp string) error {
	d.wr.invalidate() // the writer's values are those of the old file
	d.r.Close()
	d.w.Close()
	for _, suffix := range []string{"-wal", "-shm", "-journal"} {
		if err := os.Remove(d.path + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("restore: remove %s: %w", d.path+suffix, err)
		}
	}
	if err := os.Rename(tmp, d.path); err != nil {
		return fmt.Errorf("restore: rename %s to %s: %w", tmp, d.path, err)
	}
	if dir, err := os.Open(filepath.Dir(d.path)); err == nil {
		dir.Sync()
		dir.Close()
	}
	removeDB(tmp)
	var err error
	if d.w, err = sql.Open("sqlite", dsn(d.path, false)); err != nil {
		return err
	}
	d.w.SetMaxOpenConns(1)
	d.w.SetMaxIdleConns(1)
	if d.r, err = sql.Open("sqlite", dsn(d.path, true)); err != nil {
		return err
	}
	d.r.SetMaxOpenConns(d.opts.ReadConns)
	d.r.SetMaxIdleConns(d.opts.ReadConns)
	if err := d.w.PingContext(ctx); err != nil {
		return err
	}
	return d.loadKeys(ctx)
}
