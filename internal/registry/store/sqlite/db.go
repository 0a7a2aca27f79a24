package sqlite

import (
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/pilot-go/pilot/internal/registry/store"
)

// querier is what both *sql.DB and *sql.Tx offer.
type querier interface {
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
}

// tx implements store.Tx over one *sql.Tx. It is used by one goroutine.
type tx struct {
	ctx  context.Context
	q    txQuerier
	view *lazyView    // set in View: the read cache (readcache.go)
	w    *writerState // set in Update: the writer's values (writer.go)
	dir  *keyDir      // the key directory (keydir.go); nil: SQL only
}

var _ store.Tx = (*tx)(nil)

// Update runs fn in one write transaction on the single writer connection
// (shared with concurrent callers under group commit, group.go) and
// commits it; with synchronous=FULL the commit has fsynced the WAL when
// Commit returns, so nil means durable (§13.2 guarantee 2).
func (d *DB) Update(ctx context.Context, fn func(store.Tx) error) (err error) {
	if d.isClosed() {
		return store.ErrClosed
	}
	if d.opts.ReadOnly {
		return store.ErrReadOnly
	}
	if !d.opts.DisableGroupCommit {
		return d.updateGrouped(ctx, fn)
	}
	// The writer values (writer.go) belong to the holder of group.mu.
	d.group.mu.Lock()
	defer d.group.mu.Unlock()
	if d.isClosed() {
		return store.ErrClosed
	}
	sqlTx, err := d.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store %s: begin: %w", d.path, err)
	}
	var misses []string
	q := cachedTx{tx: sqlTx, cache: d.wStmts, misses: &misses}
	done := false
	defer func() {
		if !done {
			sqlTx.Rollback()
			d.wr.rolledBack()
		}
		d.wStmts.prepare(misses)
	}()
	if err := d.wr.begin(ctx, q); err != nil {
		return fmt.Errorf("store %s: %w", d.path, err)
	}
	if err := fn(&tx{ctx: ctx, q: q, w: &d.wr, dir: &d.keys}); err != nil {
		return err
	}
	if err := d.wr.flush(ctx, q); err != nil {
		return fmt.Errorf("store %s: %w", d.path, err)
	}
	done = true
	d.cache.beginCommit()
	if err := sqlTx.Commit(); err != nil {
		d.cache.endCommit(false, nil, 0, false)
		d.wr.invalidate()
		return fmt.Errorf("store %s: commit: %w", d.path, err)
	}
	d.wr.committedOK()
	epoch, known := d.wr.epochOf()
	d.cache.endCommit(true, d.wr.takeNodeLog(), epoch, known)
	return nil
}

// View runs fn in one read transaction on the read pool (a WAL snapshot),
// begun at fn's first statement; node records and the policy epoch may
// come from the read cache (readcache.go). When cached values turn out
// older than the snapshot, fn runs a second time without the cache.
func (d *DB) View(ctx context.Context, fn func(store.ReadTx) error) error {
	if d.isClosed() {
		return store.ErrClosed
	}
	v := &lazyView{d: d, ctx: ctx, cache: d.cache, g0: d.cache.gen.Load()}
	if v.g0%2 != 0 || d.opts.ReadOnly {
		// A commit is in progress; or this is a read-only handle without
		// the lock, whose file another process may be writing.
		v.cache = nil
	}
	err := d.runView(v, fn)
	if v.retry {
		err = d.runView(&lazyView{d: d, ctx: ctx}, fn)
	}
	if err == nil && v.err != nil {
		err = v.err
	}
	return err
}

func (d *DB) runView(v *lazyView, fn func(store.ReadTx) error) error {
	defer v.end()
	err := fn(&tx{ctx: v.ctx, q: v, view: v, dir: &d.keys})
	if v.err != nil {
		return fmt.Errorf("store %s: begin read: %w", d.path, v.err)
	}
	return err
}

// Helpers for the portable column encodings.

// ms encodes a time as Unix milliseconds, the zero time as NULL.
func ms(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMilli()
}

// fromMS decodes a nullable millisecond column.
func fromMS(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMilli(v.Int64).UTC()
}

func jsonList[T any](v []T) string {
	if len(v) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func parseList[T any](s string, what string) ([]T, error) {
	var v []T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return nil, fmt.Errorf("%w: stored %s %q is not a JSON array", store.ErrCorrupt, what, s)
	}
	if len(v) == 0 {
		return nil, nil
	}
	return v, nil
}

func digestCol(d store.Digest) any {
	if d.IsZero() {
		return nil
	}
	return hex.EncodeToString(d[:])
}

func parseDigest(v sql.NullString) (store.Digest, error) {
	var d store.Digest
	if !v.Valid {
		return d, nil
	}
	b, err := hex.DecodeString(v.String)
	if err != nil || len(b) != len(d) {
		return d, fmt.Errorf("%w: stored digest %q", store.ErrCorrupt, v.String)
	}
	copy(d[:], b)
	return d, nil
}

func parseKey(s string) (store.PublicKey, error) {
	var k store.PublicKey
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(k) {
		return k, fmt.Errorf("%w: stored public key %q", store.ErrCorrupt, s)
	}
	copy(k[:], b)
	return k, nil
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// limitClause renders LIMIT n (no clause for n ≤ 0).
func limitClause(n int) string {
	if n <= 0 {
		return ""
	}
	return " LIMIT " + strconv.Itoa(n)
}

// notFound wraps ErrNotFound with a description.
func notFound(format string, a ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, a...), store.ErrNotFound)
}

// counter reads a named counter.
func (t *tx) counter(name string) (int64, error) {
	var v int64
	err := t.q.QueryRowContext(t.ctx, `SELECT value FROM counters WHERE name = ?`, name).Scan(&v)
	return v, err
}

// writer returns the writer's values; only a write transaction has them.
func (t *tx) writer() (*writerState, error) {
	if t.w == nil {
		return nil, fmt.Errorf("%w: mutation outside a write transaction", store.ErrReadOnly)
	}
	return t.w, nil
}

// count runs a count query.
func (t *tx) count(q string, args ...any) (int, error) {
	var n int
	err := t.q.QueryRowContext(t.ctx, q, args...).Scan(&n)
	return n, err
}

// exists runs a query and reports whether it returned a row.
func (t *tx) exists(q string, args ...any) (bool, error) {
	var one int
	err := t.q.QueryRowContext(t.ctx, q, args...).Scan(&one)
	if err == sql.ErrNoRows {
		return false, nil
	}
	return err == nil, err
}

// exec runs a statement and returns the number of affected rows.
func (t *tx) exec(q string, args ...any) (int64, error) {
	res, err := t.q.ExecContext(t.ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
