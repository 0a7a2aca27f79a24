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
// share one SQLite transaction and one fsync. Each fn runs inside its own
// SAVEPOINT of the shared transaction; a fn that fails (or panics) rolls
// back to its savepoint, undoing only itself, and its caller gets its own
// error (or panic). Successful callers return only after the shared COMMIT,
// so nothing is acknowledged before it is durable; if the COMMIT fails,
// all of them get the error.
//
// Who runs the fns (flat combining): a caller queues its request, then
// waits for whichever comes first: its request done, or the lead token.
// The token holder is the leader: it takes the writer mutex, begins a
// transaction and runs the queued fns one after another, on its own
// goroutine, until the queue is empty or the batch has maxBatch members,
// then commits and wakes the members. It keeps leading while its own
// request is still queued, then puts the token back, where a caller still
// waiting (one whose request is queued, not done) takes it. So a batch
// holds every request that arrived while the previous one ran and
// fsynced; running a batch costs no goroutine hand-off per member (on a
// loaded machine each hand-off could wait for a CPU while the writer sat
// idle), and the lead passes once per batch, straight to a caller with
// work. (When callers queued on the writer mutex instead, the members of
// the batch just committed took it one after another only to find their
// request done, while the next batch waited: at 64 callers, batches of 37
// instead of 64 and 20 % more CPU per mutation.)

// maxBatch bounds how many mutations share one commit.
const maxBatch = 64

type group struct {
	lead    chan struct{} // cap 1: holds the lead token while nobody leads
	mu      sync.Mutex    // the writer: held by the leader (and Restore, Close)
	qmu     sync.Mutex    // guards queue
	queue   []*request    // requests not yet taken by a leader
	waiting atomic.Int32  // len(queue) (tests)
	commits atomic.Int64  // shared commits done (tests, metrics)
	leads   atomic.Int64  // times a caller took the writer to lead (tests)
}

func (g *group) init() {
	g.lead = make(chan struct{}, 1)
	g.lead <- struct{}{}
}

// request is one Update waiting for, or run by, a leader.
type request struct {
	ctx      context.Context
	fn       func(store.Tx) error
	err      error
	panicked bool
	panicVal any
	done     chan struct{} // closed once err / panicVal are final
}

type batch struct {
	tx      *sql.Tx
	members []*request // successful members awaiting the commit
	poison  error      // the transaction is unusable: roll back, fail all
	misses  []string   // statement texts to prepare after the commit
	saved   wmark      // writer state before the current member
	bound   map[*sql.Stmt]*sql.Stmt
}

// q is the querier of b's transaction.
func (d *DB) q(b *batch) cachedTx {
	return cachedTx{tx: b.tx, cache: d.wStmts, misses: &b.misses, bound: b.bound}
}

// updateGrouped is Update with group commit.
func (d *DB) updateGrouped(ctx context.Context, fn func(store.Tx) error) error {
	r := &request{ctx: ctx, fn: fn, done: make(chan struct{})}
	g := &d.group
	g.qmu.Lock()
	g.queue = append(g.queue, r)
	g.waiting.Store(int32(len(g.queue)))
	g.qmu.Unlock()
	select {
	case <-r.done: // a leader ran it
	case <-g.lead:
		if !r.finished() { // (both were ready, and select chose the token)
			d.lead(r)
		}
		g.lead <- struct{}{}
		<-r.done
	}
	if r.panicked {
		panic(r.panicVal)
	}
	return r.err
}

// lead runs batches until r is done. The caller holds the lead token.
// (No deferred unlock: if a fn calls runtime.Goexit, runMember ends the
// batch, unlocks and puts the token back itself.)
func (d *DB) lead(r *request) {
	g := &d.group
	g.mu.Lock()
	g.leads.Add(1)
	for !r.finished() {
		if d.isClosed() {
			d.failQueued(store.ErrClosed)
			break
		}
		if !d.runBatch() {
			break
		}
	}
	g.mu.Unlock()
}

func (r *request) finished() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// take removes the oldest queued request.
func (g *group) take() *request {
	g.qmu.Lock()
	defer g.qmu.Unlock()
	if len(g.queue) == 0 {
		return nil
	}
	r := g.queue[0]
	g.queue[0] = nil
	g.queue = g.queue[1:]
	g.waiting.Store(int32(len(g.queue)))
	return r
}

// failQueued fails every queued request with err (closed store). The
// caller holds g.mu.
func (d *DB) failQueued(err error) {
	for r := d.group.take(); r != nil; r = d.group.take() {
		r.err = err
		close(r.done)
	}
}

// runBatch runs queued requests in one transaction and commits it. It
// reports whether it took any request. The caller holds g.mu.
func (d *DB) runBatch() bool {
	g := &d.group
	first := g.take()
	if first == nil {
		return false
	}
	sqlTx, err := d.w.BeginTx(context.Background(), nil)
	if err != nil {
		first.err = fmt.Errorf("store %s: begin: %w", d.path, err)
		close(first.done)
		return true
	}
	b := &batch{tx: sqlTx, bound: make(map[*sql.Stmt]*sql.Stmt)}
	if err := d.wr.begin(context.Background(), d.q(b)); err != nil {
		sqlTx.Rollback()
		first.err = fmt.Errorf("store %s: %w", d.path, err)
		close(first.done)
		return true
	}
	for r := first; r != nil; {
		d.runMember(b, r)
		if b.poison != nil || len(b.members) >= maxBatch {
			break
		}
		r = g.take()
	}
	d.endBatch(b)
	return true
}

// runMember runs one fn inside its savepoint of b.
func (d *DB) runMember(b *batch, r *request) {
	if err := r.ctx.Err(); err != nil {
		r.err = err
		close(r.done)
		return
	}
	q := d.q(b)
	b.saved = d.wr.mark()
	if _, err := q.ExecContext(context.Background(), `SAVEPOINT mutation`); err != nil {
		b.poison = err
		r.err = fmt.Errorf("store %s: savepoint: %w", d.path, err)
		close(r.done)
		return
	}
	finished := false
	defer func() {
		if finished {
			return
		}
		// fn panicked (the panic goes to its caller) or called
		// runtime.Goexit (this goroutine ends: its batch must still end
		// and the writer be released for the others).
		r.panicVal = recover()
		r.panicked = r.panicVal != nil
		if !r.panicked {
			r.err = fmt.Errorf("store %s: update function exited its goroutine", d.path)
		}
		d.rollbackMember(b)
		close(r.done)
		if !r.panicked {
			d.endBatch(b)
			d.group.mu.Unlock()
			d.group.lead <- struct{}{}
		}
	}()
	// The statements of fn run without r.ctx: the driver would watch a
	// cancellable context with a goroutine per statement, and interrupting
	// a statement can roll back the whole shared transaction, the other
	// members' work included. r.ctx was checked above; fn may check it.
	ferr := r.fn(&tx{ctx: context.Background(), q: q, w: &d.wr, dir: &d.keys})
	finished = true
	if ferr != nil {
		d.rollbackMember(b)
		r.err = ferr
		close(r.done)
		return
	}
	if _, err := q.ExecContext(context.Background(), `RELEASE mutation`); err != nil {
		b.poison = err
		r.err = fmt.Errorf("store %s: release savepoint: %w", d.path, err)
		close(r.done)
		return
	}
	b.members = append(b.members, r)
}

// rollbackMember undoes the current member's savepoint.
func (d *DB) rollbackMember(b *batch) {
	d.wr.restore(b.saved)
	q := d.q(b)
	if _, err := q.ExecContext(context.Background(), `ROLLBACK TO mutation`); err != nil && b.poison == nil {
		b.poison = err
	}
	if _, err := q.ExecContext(context.Background(), `RELEASE mutation`); err != nil && b.poison == nil {
		b.poison = err
	}
}

// endBatch commits (or rolls back) b and releases its members.
func (d *DB) endBatch(b *batch) {
	var err error
	if b.poison == nil && len(b.members) > 0 {
		if ferr := d.wr.flush(context.Background(), d.q(b)); ferr != nil {
			b.poison = ferr
		}
	}
	switch {
	case b.poison != nil:
		b.tx.Rollback()
		d.wr.rolledBack()
		err = fmt.Errorf("store %s: shared transaction failed: %w", d.path, b.poison)
	case len(b.members) == 0:
		b.tx.Rollback()
		d.wr.rolledBack()
	default:
		d.cache.beginCommit()
		cerr := b.tx.Commit()
		if cerr != nil {
			d.cache.endCommit(false, nil, 0, false)
			err = fmt.Errorf("store %s: commit: %w", d.path, cerr)
			d.wr.invalidate()
		} else {
			d.wr.committedOK()
			epoch, known := d.wr.epochOf()
			d.cache.endCommit(true, d.wr.takeNodeLog(), epoch, known)
		}
		d.group.commits.Add(1)
	}
	for _, r := range b.members {
		r.err = err
		close(r.done)
	}
	// The writer connection is free now and g.mu keeps the next batch
	// from beginning: prepare what this batch ran uncached.
	if len(b.misses) > 0 && !d.isClosed() {
		d.wStmts.prepare(b.misses)
	}
}
