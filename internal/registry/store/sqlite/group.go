package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/pilot-go/pilot/internal/registry/store"
)

// Group commit (registry.md §13.2 guarantee 1): concurrent Update calls
// share one SQLite transaction and one fsync. Each caller runs its own fn,
// on its own goroutine, inside its own SAVEPOINT of the shared
// transaction; a fn that fails (or panics) rolls back to its savepoint,
// undoing only itself, and gets its own error at once. Successful callers
// return only after the shared COMMIT, so nothing is acknowledged before
// it is durable; if the COMMIT fails, all of them get the error.
//
// Who commits: the writer mutex serializes the fns. A caller that finishes
// its fn while nobody else waits for the mutex (or when the batch is full)
// commits the batch; otherwise it leaves the transaction open for the next
// waiter, which is guaranteed to take the mutex and make the same decision.
// So a batch grows exactly while callers queue up behind an fsync.

// maxBatch bounds how many mutations share one commit.
const maxBatch = 64

type group struct {
	mu      sync.Mutex   // held while a member runs its fn or the batch commits
	waiting atomic.Int32 // callers blocked on mu
	cur     *batch       // open shared transaction, guarded by mu
	commits atomic.Int64 // shared commits done (tests, metrics)
}

type batch struct {
	tx      *sql.Tx
	members int           // successful members awaiting the commit
	poison  error         // the transaction is unusable: roll back, fail all
	done    chan struct{} // closed after commit or rollback
	err     error         // commit result, read after done
}

// updateGrouped is Update with group commit.
func (d *DB) updateGrouped(ctx context.Context, fn func(store.Tx) error) error {
	g := &d.group
	g.waiting.Add(1)
	g.mu.Lock()
	g.waiting.Add(-1)
	if d.isClosed() {
		g.mu.Unlock()
		return store.ErrClosed
	}
	if g.cur == nil {
		sqlTx, err := d.w.BeginTx(context.Background(), nil)
		if err != nil {
			g.mu.Unlock()
			return fmt.Errorf("store %s: begin: %w", d.path, err)
		}
		g.cur = &batch{tx: sqlTx, done: make(chan struct{})}
	}
	b := g.cur
	finished := false
	defer func() {
		if !finished { // fn panicked or called runtime.Goexit
			d.rollbackMember(b)
			d.finishLocked(b)
			g.mu.Unlock()
		}
	}()
	if err := ctx.Err(); err != nil {
		finished = true
		d.finishLocked(b)
		g.mu.Unlock()
		return err
	}
	if _, err := b.tx.ExecContext(context.Background(), `SAVEPOINT mutation`); err != nil {
		b.poison = err
		finished = true
		d.finishLocked(b)
		g.mu.Unlock()
		return fmt.Errorf("store %s: savepoint: %w", d.path, err)
	}
	ferr := fn(&tx{ctx: ctx, q: b.tx})
	finished = true
	if ferr != nil {
		d.rollbackMember(b)
	} else if _, err := b.tx.ExecContext(context.Background(), `RELEASE mutation`); err != nil {
		b.poison, ferr = err, fmt.Errorf("store %s: release savepoint: %w", d.path, err)
	} else {
		b.members++
	}
	d.finishLocked(b)
	g.mu.Unlock()
	if ferr != nil {
		return ferr
	}
	<-b.done
	return b.err
}

// rollbackMember undoes the current member's savepoint.
func (d *DB) rollbackMember(b *batch) {
	if _, err := b.tx.ExecContext(context.Background(), `ROLLBACK TO mutation`); err != nil && b.poison == nil {
		b.poison = err
	}
	if _, err := b.tx.ExecContext(context.Background(), `RELEASE mutation`); err != nil && b.poison == nil {
		b.poison = err
	}
}

// finishLocked commits b unless another caller is about to join it.
func (d *DB) finishLocked(b *batch) {
	g := &d.group
	if b.poison == nil && g.waiting.Load() > 0 && b.members < maxBatch && !d.isClosed() {
		return // the next mutex holder continues this batch
	}
	d.endBatchLocked(b)
}

// endBatchLocked commits (or rolls back) b and releases its members.
func (d *DB) endBatchLocked(b *batch) {
	g := &d.group
	g.cur = nil
	switch {
	case b.poison != nil:
		b.tx.Rollback()
		b.err = fmt.Errorf("store %s: shared transaction failed: %w", d.path, b.poison)
	case b.members == 0:
		b.tx.Rollback()
	default:
		if err := b.tx.Commit(); err != nil {
			b.err = fmt.Errorf("store %s: commit: %w", d.path, err)
		}
		g.commits.Add(1)
	}
	close(b.done)
}
