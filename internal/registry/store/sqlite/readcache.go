package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/registry/store"
)

// Read cache. Most requests read one node record (the signer of §5.2
// step 3, the lookup target) and perhaps the policy epoch, and a read
// transaction on the pool costs more than the row itself. The store is the
// only writer of its file (registry.lock, §13.1), so it can keep committed
// node records and the policy epoch in memory, updated at every commit
// with what the commit changed (cachelog.go): nothing authoritative lives
// only here.
//
// Snapshot rule (View is a consistent snapshot): gen is a sequence lock,
// odd while a commit is in progress. A View notes gen at its start (g0)
// and serves cached values only while gen is still g0; cache entries are
// only filled at g0 by a View whose SQL snapshot was checked to be at g0
// (gen unchanged after the snapshot was taken). A View starts its SQL
// transaction lazily, at the first value it cannot serve from the cache;
// if gen moved after it had already served cached values, the snapshot
// could be newer than those values, so the View runs fn once more without
// the cache (reads are side-effect free).

// maxCachedNodes bounds the node cache (about 0.6 KB an entry, 10 MB at
// most): the nodes of a registry of ten thousand fit.
const maxCachedNodes = 16384

type readCache struct {
	gen   atomic.Uint64
	mu    sync.Mutex
	nodes map[addr.NodeID]store.Node
	epoch uint64
	hasEp bool
}

func newReadCache() *readCache {
	return &readCache{nodes: make(map[addr.NodeID]store.Node)}
}

// beginCommit and endCommit bracket every commit of the writer: the
// generation is odd in between, so no View serves or fills the cache
// across a commit. endCommit applies the transaction's node changes
// (cachelog.go) and the committed policy epoch when the commit succeeded
// (ok), and empties the cache when its outcome is not known.
func (c *readCache) beginCommit() {
	c.mu.Lock()
	c.gen.Add(1)
	c.mu.Unlock()
}

func (c *readCache) endCommit(ok bool, log []nodeChange, epoch int64, epochKnown bool) {
	c.mu.Lock()
	if ok {
		c.applyNodeLogLocked(log)
		c.epoch, c.hasEp = uint64(epoch), epochKnown
	} else {
		clear(c.nodes)
		c.hasEp = false
	}
	c.gen.Add(1)
	c.mu.Unlock()
}

func (c *readCache) node(id addr.NodeID, g0 uint64) (store.Node, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen.Load() != g0 {
		return store.Node{}, false
	}
	n, ok := c.nodes[id]
	if !ok {
		return n, false
	}
	return cloneNode(n), true
}

func (c *readCache) putNode(n store.Node, g0 uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen.Load() != g0 {
		return
	}
	c.putLocked(n)
}

func (c *readCache) putLocked(n store.Node) {
	if _, ok := c.nodes[n.ID]; !ok && len(c.nodes) >= maxCachedNodes {
		for id := range c.nodes { // evict an arbitrary entry
			delete(c.nodes, id)
			break
		}
	}
	c.nodes[n.ID] = cloneNode(n)
}

func (c *readCache) policyEpoch(g0 uint64) (uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.epoch, c.hasEp && c.gen.Load() == g0
}

func (c *readCache) putEpoch(v, g0 uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen.Load() == g0 {
		c.epoch, c.hasEp = v, true
	}
}

func cloneNode(n store.Node) store.Node {
	n.LANAddrs = slices.Clone(n.LANAddrs)
	n.Capabilities = slices.Clone(n.Capabilities)
	n.Tags = slices.Clone(n.Tags)
	return n
}

// lazyView is the querier of a View: it begins the read transaction at
// its first statement.
type lazyView struct {
	d      *DB
	ctx    context.Context
	cache  *readCache // nil: no cache for this run
	g0     uint64
	sqlTx  *sql.Tx
	err    error // BeginTx failure
	q      cachedTx
	misses []string
	served int  // values served from the cache before the SQL snapshot
	fillOK bool // the SQL snapshot is at g0: fill the cache
	retry  bool // served values may be older than the snapshot
}

// errViewRetry aborts a View run whose cached values may be older than its
// snapshot; View runs fn again without the cache.
var errViewRetry = errors.New("read snapshot moved past cached values; retrying the read")

func (v *lazyView) begin() error {
	if v.retry {
		return errViewRetry
	}
	if v.sqlTx != nil || v.err != nil {
		return v.err
	}
	v.sqlTx, v.err = v.d.r.BeginTx(v.ctx, &sql.TxOptions{ReadOnly: true})
	if v.err != nil {
		return v.err
	}
	v.q = cachedTx{tx: v.sqlTx, cache: v.d.rStmts, misses: &v.misses}
	if v.cache == nil {
		return nil
	}
	// Take the snapshot now (a WAL read transaction starts at its first
	// read) with a useful statement, then check that no commit began
	// since g0.
	var ep int64
	if err := v.q.QueryRowContext(v.ctx, `SELECT value FROM counters WHERE name = ?`, "policy_epoch").Scan(&ep); err != nil {
		v.err = err
		return err
	}
	if v.cache.gen.Load() == v.g0 {
		v.fillOK = true
		v.cache.putEpoch(uint64(ep), v.g0)
	} else if v.served > 0 {
		v.retry = true
		return errViewRetry
	}
	return nil
}

// cachedNode serves a node from the cache when the View may use it.
func (v *lazyView) cachedNode(id addr.NodeID) (store.Node, bool) {
	if v.cache == nil || (v.sqlTx != nil && !v.fillOK) {
		return store.Node{}, false
	}
	n, ok := v.cache.node(id, v.g0)
	if ok && v.sqlTx == nil {
		v.served++
	}
	return n, ok
}

func (v *lazyView) fillNode(n store.Node) {
	if v.cache != nil && v.fillOK {
		v.cache.putNode(n, v.g0)
	}
}

func (v *lazyView) cachedEpoch() (uint64, bool) {
	if v.cache == nil || (v.sqlTx != nil && !v.fillOK) {
		return 0, false
	}
	e, ok := v.cache.policyEpoch(v.g0)
	if ok && v.sqlTx == nil {
		v.served++
	}
	return e, ok
}

func (v *lazyView) end() {
	if v.sqlTx != nil {
		v.sqlTx.Rollback()
	}
	v.d.rStmts.prepare(v.misses)
}

func (v *lazyView) QueryRowContext(ctx context.Context, q string, args ...any) rowScanner {
	if err := v.begin(); err != nil {
		return errRow{err}
	}
	return v.q.QueryRowContext(ctx, q, args...)
}

func (v *lazyView) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if err := v.begin(); err != nil {
		return nil, err
	}
	return v.q.QueryContext(ctx, q, args...)
}

func (v *lazyView) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if err := v.begin(); err != nil {
		return nil, err
	}
	return v.q.ExecContext(ctx, q, args...)
}

// rowScanner is what QueryRowContext results are used for.
type rowScanner interface{ Scan(dest ...any) error }

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// txQuerier is the querier of a tx: a *sql.Tx (plainTx), a cachedTx or a
// lazyView.
type txQuerier interface {
	QueryRowContext(ctx context.Context, q string, args ...any) rowScanner
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
}

// plainTx adapts a querier (a *sql.Tx) to txQuerier.
type plainTx struct{ q querier }

func (p plainTx) QueryRowContext(ctx context.Context, q string, args ...any) rowScanner {
	return p.q.QueryRowContext(ctx, q, args...)
}

func (p plainTx) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return p.q.QueryContext(ctx, q, args...)
}

func (p plainTx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return p.q.ExecContext(ctx, q, args...)
}
