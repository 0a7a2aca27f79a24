package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/pilot-go/pilot/internal/registry/store"
)

// Backup writes a snapshot of every data table in one read transaction
// (§13.3).
func (d *DB) Backup(ctx context.Context, w io.Writer, registryVersion string) (store.BackupSummary, error) {
	if d.isClosed() {
		return store.BackupSummary{}, store.ErrClosed
	}
	sqlTx, err := d.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return store.BackupSummary{}, err
	}
	defer sqlTx.Rollback()
	v, err := schemaVersion(ctx, sqlTx)
	if err != nil {
		return store.BackupSummary{}, err
	}
	// The table list is that of the current schema; a later migration that
	// changes tables must keep a list per version here.
	if v > SupportedSchema() {
		return store.BackupSummary{}, d.schemaErr(v, store.ErrSchemaTooNew)
	}
	if v == 0 {
		return store.BackupSummary{}, store.Refuse(store.ErrNotFound, "store %s has no registry schema yet; nothing to back up", d.path)
	}
	bw, err := store.NewBackupWriter(w, store.BackupHeader{SchemaVersion: v,
		CreatedAt: d.now().UTC().Format(time.RFC3339), RegistryVersion: registryVersion, Store: "sqlite"})
	if err != nil {
		return store.BackupSummary{}, err
	}
	for _, tb := range tables {
		if err := dumpTable(ctx, sqlTx, tb.name, tb.order, bw); err != nil {
			return store.BackupSummary{}, fmt.Errorf("backup table %s: %w", tb.name, err)
		}
	}
	return bw.Close()
}

func dumpTable(ctx context.Context, q querier, name, order string, bw *store.BackupWriter) error {
	rows, err := q.QueryContext(ctx, `SELECT * FROM `+name+` ORDER BY `+order)
	if err != nil {
		return err
	}
	defer rows.Close()
	names, err := rows.Columns()
	if err != nil {
		return err
	}
	vals := make([]any, len(names))
	ptrs := make([]any, len(names))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		cols := make([]store.Column, len(names))
		for i, n := range names {
			cols[i].Name = n
			switch v := vals[i].(type) {
			case nil, int64, string:
				cols[i].Value = v
			case []byte:
				cols[i].Value = string(v)
			default:
				return fmt.Errorf("column %s holds %T", n, v)
			}
		}
		if err := bw.Row(name, cols); err != nil {
			return err
		}
	}
	return rows.Err()
}

// VerifyAudit recomputes the audit chain from seq 1 (§9.2).
func (d *DB) VerifyAudit(ctx context.Context) (int, string, error) {
	if d.isClosed() {
		return 0, "", store.ErrClosed
	}
	sqlTx, err := d.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return 0, "", err
	}
	defer sqlTx.Rollback()
	return verifyChain(ctx, sqlTx)
}

func verifyChain(ctx context.Context, q querier) (int, string, error) {
	rows, err := q.QueryContext(ctx, `SELECT seq, time, action, actor_node_id, auth_via, attrs, hash FROM audit ORDER BY seq`)
	if err != nil {
		return 0, "", err
	}
	defer rows.Close()
	var v store.ChainVerifier
	for rows.Next() {
		r, err := scanRawAudit(rows)
		if err != nil {
			return 0, "", err
		}
		v.Add(r)
	}
	if err := rows.Err(); err != nil {
		return 0, "", err
	}
	n, head, cerr := v.Result()
	if cerr != nil {
		return n, head, cerr
	}
	return n, head, nil
}

func (d *DB) load(ctx context.Context, x *tx, version int, rows []store.BackupRow, opts store.RestoreOptions, sum *store.RestoreSummary) error {
	sqlTx := x.q.(plainTx).q.(*sql.Tx)
	if _, err := sqlTx.ExecContext(ctx, `PRAGMA defer_foreign_keys = ON`); err != nil {
		return err
	}
	if err := dropAll(ctx, sqlTx); err != nil {
		return fmt.Errorf("restore: clear store: %w", err)
	}
	now := d.now().UnixMilli()
	for _, m := range migrations {
		if m.version <= version {
			if err := applyMigration(ctx, sqlTx, m, now); err != nil {
				return err
			}
		}
	}
	// The migrations seed counters and network 0; the backup has them too.
	for _, t := range []string{"counters", "networks"} {
		if _, err := sqlTx.ExecContext(ctx, `DELETE FROM `+t); err != nil {
			return err
		}
	}
	known := map[string]bool{}
	for _, tb := range tables {
		known[tb.name] = true
	}
	stmts := map[string]*sql.Stmt{}
	defer func() {
		for _, s := range stmts {
			s.Close()
		}
	}()
	for i, r := range rows {
		if !known[r.Table] {
			return &store.CorruptBackupError{Problem: fmt.Sprintf("row %d: unknown table %q", i+1, r.Table)}
		}
		names := make([]string, len(r.Cols))
		args := make([]any, len(r.Cols))
		for j, c := range r.Cols {
			if !columnName.MatchString(c.Name) {
				return &store.CorruptBackupError{Problem: fmt.Sprintf("row %d: bad column name %q", i+1, c.Name)}
			}
			names[j], args[j] = c.Name, c.Value
		}
		q := `INSERT INTO ` + r.Table + `(` + strings.Join(names, ", ") + `) VALUES (?` +
			strings.Repeat(", ?", max(len(names)-1, 0)) + `)`
		st, ok := stmts[q]
		if !ok {
			var err error
			if st, err = sqlTx.PrepareContext(ctx, q); err != nil {
				return fmt.Errorf("restore: row %d (table %s): %w; nothing was changed", i+1, r.Table, err)
			}
			stmts[q] = st
		}
		if _, err := st.ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("restore: row %d (table %s): %w; nothing was changed", i+1, r.Table, err)
		}
	}
	for _, m := range migrations {
		if m.version > version {
			if err := applyMigration(ctx, sqlTx, m, now); err != nil {
				return err
			}
		}
	}
	if err := checkLoaded(ctx, sqlTx); err != nil {
		return err
	}
	_, _, err := verifyChain(ctx, sqlTx)
	var ce *store.ChainError
	if errors.As(err, &ce) {
		if !opts.Force {
			return fmt.Errorf("restore: %w; restore with -force to keep it anyway; nothing was changed", err)
		}
		sum.ChainErr = ce
		return nil
	}
	return err
}

// checkLoaded runs the integrity and foreign key checks on the loaded data.
func checkLoaded(ctx context.Context, q querier) error {
	var res string
	if err := q.QueryRowContext(ctx, `PRAGMA quick_check`).Scan(&res); err != nil {
		return err
	}
	if res != "ok" {
		return store.Refuse(store.ErrCorrupt, "restored data fails the integrity check: %s; nothing was changed", res)
	}
	rows, err := q.QueryContext(ctx, `PRAGMA foreign_key_check`)
	if err != nil {
		return err
	}
	defer rows.Close()
	if rows.Next() {
		var table, parent string
		var rowid sql.NullInt64
		var fk int64
		if err := rows.Scan(&table, &rowid, &parent, &fk); err != nil {
			return err
		}
		return store.Refuse(store.ErrCorrupt, "restored data: a row of %s references a missing row of %s; nothing was changed",
			table, parent)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	var network0 int
	if err := q.QueryRowContext(ctx, `SELECT count(*) FROM networks WHERE id = 0 AND name = 'backbone' AND join_rule = 'open'`).
		Scan(&network0); err != nil {
		return err
	}
	if network0 != 1 {
		return store.Refuse(store.ErrCorrupt, "restored data has no backbone network 0; nothing was changed")
	}
	// node_keys has no unique constraint on public_key since schema
	// version 3: the key directory keeps keys unique (keydir.go).
	var dup string
	switch err := q.QueryRowContext(ctx, `SELECT public_key FROM node_keys GROUP BY public_key HAVING count(*) > 1 LIMIT 1`).Scan(&dup); {
	case err == nil:
		return store.Refuse(store.ErrCorrupt, "restored data binds public key %s twice; nothing was changed", dup)
	case !errors.Is(err, sql.ErrNoRows):
		return err
	}
	return nil
}
