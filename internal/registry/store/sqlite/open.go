// Package sqlite is the embedded SQLite backend of the registry store
// (registry.md §13.1): modernc.org/sqlite (pure Go), WAL journal,
// synchronous=FULL (a commit returns after the WAL is fsynced, so an
// acknowledged mutation survives kill -9), foreign_keys=ON,
// busy_timeout=5000, one writer connection and a small pool of read-only
// connections for View.
//
// Open takes an exclusive flock on <data-dir>/registry.lock for the
// lifetime of the store (a second server, or a restore, refuses with
// "store is in use by process N"), checks integrity, refuses a schema newer
// than the binary, applies pending migrations each in its own transaction
// and leaves network 0 (backbone) in place on a fresh store.
//
// Speed without weaker guarantees: statements are prepared once per
// connection (stmtcache.go); concurrent Updates share one transaction and
// one fsync, run back to back by one leader goroutine (group.go); the
// writer keeps the audit chain head, the ID counters and policy_epoch in
// memory, writing changed counters back once per commit (writer.go), and
// looks mutation nonces up in an in-memory index of their append-only
// table (nonceidx.go); public keys are looked up in an in-memory
// directory of node_keys, shared with the readers (keydir.go); the rows a
// registration adds dirty few pages (schema version 3: no index ordered by
// a random key, partial indexes where most values are NULL), since every
// dirty page is a WAL frame that the commit writes and fsyncs; Views begin their read transaction lazily
// and take node records and the policy epoch from a cache that every
// commit updates with what it changed (readcache.go, cachelog.go);
// savepoint sub-journals stay in memory (temp_store); the WAL is
// checkpointed every 10,000 pages rather than 1,000, so that pages changed
// again and again are copied back once.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pilot-go/pilot/internal/registry/store"
	_ "modernc.org/sqlite" // database/sql driver "sqlite"
)

// Integrity selects the check run on open (-integrity, cli.md §1.1).
type Integrity string

// Integrity levels.
const (
	IntegrityQuick Integrity = "quick" // PRAGMA quick_check (default)
	IntegrityFull  Integrity = "full"  // PRAGMA integrity_check
	IntegrityOff   Integrity = "off"
)

// Migrate selects what happens to pending migrations (-migrate).
type Migrate string

// Migration modes.
const (
	MigrateAuto  Migrate = "auto" // apply pending migrations (default)
	MigrateNever Migrate = "never"
)

// Options configure Open. Zero values are useful defaults.
type Options struct {
	// DataDir is the data directory (created 0700); it holds the lock file
	// and, unless Path is set, registry.db.
	DataDir string
	// Path is the database file; default <DataDir>/registry.db.
	Path      string
	Integrity Integrity // default quick
	Migrate   Migrate   // default auto
	// ReadOnly opens without the lock, without migrations, without
	// integrity check and whatever the schema version, for `backup`,
	// `audit verify` and `migrate status` of a possibly running store;
	// Update and Restore fail with ErrReadOnly.
	ReadOnly bool
	// ForRestore opens only to run Restore (`pilot-registry restore`): the
	// lock is taken, but no integrity check, schema check or migration
	// runs, so that a corrupt store or one with a newer schema can be
	// replaced by a backup.
	ForRestore bool
	// DisableGroupCommit gives every Update its own transaction and fsync.
	// By default concurrent Updates share one commit (group.go).
	DisableGroupCommit bool
	// ReadConns is the size of the read pool (default 4).
	ReadConns int
	Logger    *slog.Logger // nil = discard
	// Now is the clock for migration records and backup headers (tests).
	Now func() time.Time
}

// DB is an open SQLite store. It implements store.Store.
type DB struct {
	path   string
	opts   Options
	log    *slog.Logger
	now    func() time.Time
	w      *sql.DB // single writer connection
	r      *sql.DB // read-only pool
	wStmts *stmtCache
	rStmts *stmtCache
	cache  *readCache
	lock   *os.File
	group  group
	wr     writerState // guarded by group.mu (writer.go)
	keys   keyDir      // node_keys in memory (keydir.go)
	mu     sync.Mutex
	closed bool
}

var _ store.Store = (*DB)(nil)

// restoreHint is the way out named by every integrity refusal (§13.2.5).
const restoreHint = "restore the latest backup with pilot-registry restore FILE"

// Open opens (creating if needed) the store described by opts.
func Open(ctx context.Context, opts Options) (*DB, error) {
	if opts.DataDir == "" && opts.Path == "" {
		return nil, fmt.Errorf("%w: sqlite store needs a data directory or a path", store.ErrInvalid)
	}
	if opts.Path == "" {
		opts.Path = filepath.Join(opts.DataDir, "registry.db")
	}
	if opts.DataDir == "" {
		opts.DataDir = filepath.Dir(opts.Path)
	}
	if opts.Integrity == "" {
		opts.Integrity = IntegrityQuick
	}
	if opts.Migrate == "" {
		opts.Migrate = MigrateAuto
	}
	if opts.ReadConns <= 0 {
		opts.ReadConns = 4
	}
	d := &DB{path: opts.Path, opts: opts, log: opts.Logger, now: opts.Now, cache: newReadCache()}
	d.group.init()
	d.wr.dir = &d.keys
	if d.log == nil {
		d.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if d.now == nil {
		d.now = time.Now
	}
	if err := d.open(ctx); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

func (d *DB) open(ctx context.Context) error {
	if !d.opts.ReadOnly {
		if err := os.MkdirAll(d.opts.DataDir, 0o700); err != nil {
			return fmt.Errorf("create data directory %s: %w", d.opts.DataDir, err)
		}
		if err := d.takeLock(); err != nil {
			return err
		}
		f, err := os.OpenFile(d.path, os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			return fmt.Errorf("open store %s: %w", d.path, err)
		}
		f.Close()
	} else if _, err := os.Stat(d.path); err != nil {
		return fmt.Errorf("open store %s: %w", d.path, err)
	}
	var err error
	d.w, err = sql.Open("sqlite", dsn(d.path, d.opts.ReadOnly))
	if err != nil {
		return fmt.Errorf("open store %s: %w", d.path, err)
	}
	d.w.SetMaxOpenConns(1)
	d.w.SetMaxIdleConns(1)
	d.w.SetConnMaxLifetime(0)
	d.r, err = sql.Open("sqlite", dsn(d.path, true))
	if err != nil {
		return fmt.Errorf("open store %s: %w", d.path, err)
	}
	d.r.SetMaxOpenConns(d.opts.ReadConns)
	d.r.SetMaxIdleConns(d.opts.ReadConns)
	d.wStmts, d.rStmts = newStmtCache(d.w), newStmtCache(d.r)
	if d.opts.ForRestore {
		return nil
	}
	if err := d.w.PingContext(ctx); err != nil {
		return d.corrupt(err)
	}
	if d.opts.ReadOnly {
		// Any schema version is accepted here so that `migrate status` can
		// report it; Backup refuses versions it cannot dump.
		if _, err := schemaVersion(ctx, d.r); err != nil {
			return d.corrupt(err)
		}
		return nil
	}
	if err := d.checkIntegrity(ctx); err != nil {
		return err
	}
	if err := d.migrate(ctx); err != nil {
		return err
	}
	return d.loadKeys(ctx)
}

// loadKeys builds the key directory (keydir.go); a key bound twice is
// reported like a failed integrity check.
func (d *DB) loadKeys(ctx context.Context) error {
	if err := d.keys.load(ctx, plainTx{d.w}); err != nil {
		if errors.Is(err, store.ErrCorrupt) {
			return d.corrupt(err)
		}
		return fmt.Errorf("store %s: %w", d.path, err)
	}
	return nil
}

func dsn(path string, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(5000)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(FULL)")
	// Savepoint sub-journals (one per group-commit member) and temporary
	// b-trees live in memory: they only serve ROLLBACK TO inside an open
	// transaction, so durability is unchanged, and writing them to a temp
	// file cost a pwrite per touched page.
	q.Add("_pragma", "temp_store(2)")
	if readOnly {
		q.Add("_pragma", "query_only(1)")
	} else {
		q.Add("_pragma", "journal_mode(WAL)")
		// The writer checkpoints every 10,000 pages (40 MB of WAL) instead
		// of 1,000: pages that every commit changes are copied back once,
		// not ten times. Its page cache (4 MB, 2 MB by default) keeps the
		// index pages that inserts land on.
		q.Add("_pragma", "wal_autocheckpoint(10000)")
		q.Add("_pragma", "cache_size(-4096)")
		q.Set("_txlock", "immediate")
	}
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

// takeLock takes the exclusive lock of §13.1 and writes our pid into it.
func (d *DB) takeLock() error {
	p := filepath.Join(d.opts.DataDir, "registry.lock")
	f, err := os.OpenFile(p, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("open lock file %s: %w", p, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b, _ := io.ReadAll(io.LimitReader(f, 32))
		f.Close()
		pid := strings.TrimSpace(string(b))
		if _, perr := strconv.Atoi(pid); perr != nil {
			pid = "unknown"
		}
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return store.Refuse(store.ErrInUse, "store is in use by process %s (lock %s); stop it first", pid, p)
		}
		return fmt.Errorf("lock %s: %w", p, err)
	}
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	d.lock = f
	return nil
}

// corrupt wraps an error found while opening or checking the file.
func (d *DB) corrupt(err error) error {
	return store.Refuse(store.ErrCorrupt, "store %s failed its integrity check: %v; %s", d.path, err, restoreHint)
}

func (d *DB) schemaErr(v int, sentinel error) error {
	switch sentinel {
	case store.ErrSchemaTooNew:
		return store.Refuse(sentinel, "store %s has schema version %d, newer than this binary supports (%d); run a newer pilot-registry or %s",
			d.path, v, SupportedSchema(), restoreHint)
	default:
		return store.Refuse(sentinel, "store %s has schema version %d, this binary supports %d (pending: %s); start with -migrate=auto to apply them",
			d.path, v, SupportedSchema(), intsList(pendingAfter(v)))
	}
}

func intsList(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}

// checkIntegrity runs quick_check / integrity_check and foreign_key_check
// (§13.2 guarantee 5).
func (d *DB) checkIntegrity(ctx context.Context) error {
	if d.opts.Integrity == IntegrityOff {
		return nil
	}
	pragma := "PRAGMA quick_check"
	if d.opts.Integrity == IntegrityFull {
		pragma = "PRAGMA integrity_check"
	}
	msgs, err := queryStrings(ctx, d.w, pragma)
	if err != nil {
		return d.corrupt(err)
	}
	if len(msgs) != 1 || msgs[0] != "ok" {
		if len(msgs) > 3 {
			msgs = msgs[:3]
		}
		return d.corrupt(errors.New(strings.Join(msgs, "; ")))
	}
	rows, err := d.w.QueryContext(ctx, "PRAGMA foreign_key_check")
	if err != nil {
		return d.corrupt(err)
	}
	defer rows.Close()
	if rows.Next() {
		var table string
		var rowid sql.NullInt64
		var parent string
		var fkid int64
		if err := rows.Scan(&table, &rowid, &parent, &fkid); err != nil {
			return d.corrupt(err)
		}
		return d.corrupt(fmt.Errorf("foreign key violation: a row of %s references a missing row of %s", table, parent))
	}
	if err := rows.Err(); err != nil {
		return d.corrupt(err)
	}
	return nil
}

func queryStrings(ctx context.Context, db *sql.DB, q string) ([]string, error) {
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// migrate applies pending migrations, each in its own transaction.
func (d *DB) migrate(ctx context.Context) error {
	v, err := schemaVersion(ctx, d.w)
	if err != nil {
		return d.corrupt(err)
	}
	if v > SupportedSchema() {
		return d.schemaErr(v, store.ErrSchemaTooNew)
	}
	pending := pendingAfter(v)
	if len(pending) == 0 {
		return nil
	}
	if d.opts.Migrate == MigrateNever {
		return d.schemaErr(v, store.ErrMigrationsPending)
	}
	for _, m := range migrations {
		if m.version <= v {
			continue
		}
		if err := d.applyOne(ctx, m); err != nil {
			return err
		}
		d.log.Info("store migration applied", "store", d.path, "version", m.version, "name", m.name)
	}
	return nil
}

// applyOne applies m in its own transaction on the writer connection (the
// only one of d.w, so the foreign_keys pragma applies to it).
func (d *DB) applyOne(ctx context.Context, m migration) (err error) {
	if m.rebuildsParent {
		if _, err := d.w.ExecContext(ctx, `PRAGMA foreign_keys = OFF`); err != nil {
			return fmt.Errorf("store %s: migration %d: %w", d.path, m.version, err)
		}
		defer func() {
			// Never serve with enforcement off.
			if _, e := d.w.ExecContext(context.Background(), `PRAGMA foreign_keys = ON`); e != nil && err == nil {
				err = fmt.Errorf("store %s: migration %d: enable foreign keys again: %w", d.path, m.version, e)
			}
		}()
	}
	tx, err := d.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store %s: migration %d: %w", d.path, m.version, err)
	}
	if err := applyMigration(ctx, tx, m, d.now().UnixMilli()); err != nil {
		tx.Rollback()
		return fmt.Errorf("store %s: %w", d.path, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store %s: migration %d: %w", d.path, m.version, err)
	}
	return nil
}

// Schema reports the stored and supported schema versions.
func (d *DB) Schema(ctx context.Context) (store.SchemaInfo, error) {
	v, err := schemaVersion(ctx, d.r)
	if err != nil {
		return store.SchemaInfo{}, err
	}
	return store.SchemaInfo{Current: v, Supported: SupportedSchema(), Pending: pendingAfter(v)}, nil
}

// Inspect reads the schema versions of the store described by opts
// without taking the lock, migrating or refusing anything
// (`pilot-registry migrate status`, cli.md §1.2).
func Inspect(ctx context.Context, opts Options) (store.SchemaInfo, error) {
	if opts.Path == "" {
		opts.Path = filepath.Join(opts.DataDir, "registry.db")
	}
	if _, err := os.Stat(opts.Path); err != nil {
		return store.SchemaInfo{}, fmt.Errorf("open store %s: %w", opts.Path, err)
	}
	db, err := sql.Open("sqlite", dsn(opts.Path, true))
	if err != nil {
		return store.SchemaInfo{}, fmt.Errorf("open store %s: %w", opts.Path, err)
	}
	defer db.Close()
	v, err := schemaVersion(ctx, db)
	if err != nil {
		return store.SchemaInfo{}, store.Refuse(store.ErrCorrupt, "store %s cannot be read: %v; %s", opts.Path, err, restoreHint)
	}
	return store.SchemaInfo{Current: v, Supported: SupportedSchema(), Pending: pendingAfter(v)}, nil
}

// Path returns the database file.
func (d *DB) Path() string { return d.path }

// Ping checks that the database answers.
func (d *DB) Ping(ctx context.Context) error {
	if d.isClosed() {
		return store.ErrClosed
	}
	var one int
	return d.r.QueryRowContext(ctx, "SELECT 1").Scan(&one)
}

func (d *DB) isClosed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.closed
}

// Close checkpoints the WAL, closes the connections and releases the lock.
func (d *DB) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	d.mu.Unlock()
	// Wait for the batch in progress (group.go); queued requests fail
	// with ErrClosed.
	d.group.mu.Lock()
	d.failQueued(store.ErrClosed)
	d.group.mu.Unlock()
	if d.wStmts != nil {
		d.wStmts.close()
		d.rStmts.close()
	}
	var first error
	if d.r != nil {
		first = d.r.Close()
	}
	if d.w != nil {
		if !d.opts.ReadOnly {
			d.w.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
		}
		if err := d.w.Close(); err != nil && first == nil {
			first = err
		}
	}
	if d.lock != nil {
		d.lock.Close() // releases the flock
	}
	return first
}
