package sqlite

import (
	"context"
	"database/sql"
	"sync"
)

// Prepared statement cache. The modernc driver compiles the SQL text of
// every QueryContext/ExecContext call from scratch; parsing was about a
// fifth of the CPU time of a registration. A stmtCache keeps one *sql.Stmt
// per distinct SQL text for the life of the store; database/sql keeps it
// prepared on each connection of its pool, and Tx.StmtContext reuses that
// per-connection statement inside a transaction. Only the statement text is
// cached: no row, so nothing here can go stale.

// maxCachedStmts bounds the cache: statement texts are a fixed set except
// for LIMIT clauses, whose values come from requests.
const maxCachedStmts = 512

type stmtCache struct {
	db *sql.DB
	mu sync.RWMutex
	m  map[string]*sql.Stmt
}

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, m: make(map[string]*sql.Stmt)}
}

// get returns the prepared statement for q, or nil when it is not
// prepared yet (the caller runs the text directly and reports the miss).
func (c *stmtCache) get(q string) *sql.Stmt {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.m[q]
}

// prepare prepares the statements of misses. It must be called while the
// caller holds no connection of c.db: preparing takes one from the pool,
// and with the single writer connection (or an exhausted read pool) a
// caller inside a transaction would wait for itself. Errors are ignored:
// the statement then keeps running uncached.
func (c *stmtCache) prepare(misses []string) {
	for _, q := range misses {
		c.mu.RLock()
		_, ok := c.m[q]
		full := c.m == nil || len(c.m) >= maxCachedStmts
		c.mu.RUnlock()
		if ok || full {
			continue
		}
		s, err := c.db.PrepareContext(context.Background(), q)
		if err != nil {
			continue
		}
		c.mu.Lock()
		if _, ok := c.m[q]; ok || c.m == nil {
			s.Close()
		} else {
			c.m[q] = s
		}
		c.mu.Unlock()
	}
}

// close closes every cached statement; later gets prepare nothing.
func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.m {
		s.Close()
	}
	c.m = nil
}

// cachedTx is a querier running the statements of one *sql.Tx through a
// stmtCache; the texts it found unprepared are collected in misses for
// stmtCache.prepare once the transaction is over. When bound is not nil it
// keeps the statements bound to tx (Tx.StmtContext allocates a new one at
// every call), for a transaction that runs the same statements many times:
// a group-commit batch.
type cachedTx struct {
	tx     *sql.Tx
	cache  *stmtCache
	misses *[]string
	bound  map[*sql.Stmt]*sql.Stmt
}

func (c cachedTx) stmt(ctx context.Context, q string) *sql.Stmt {
	if c.cache == nil {
		return nil
	}
	s := c.cache.get(q)
	if s == nil {
		if c.misses != nil {
			*c.misses = append(*c.misses, q)
		}
		return nil
	}
	if c.bound == nil {
		return c.tx.StmtContext(ctx, s)
	}
	ts, ok := c.bound[s]
	if !ok {
		ts = c.tx.StmtContext(ctx, s)
		c.bound[s] = ts
	}
	return ts
}

func (c cachedTx) QueryRowContext(ctx context.Context, q string, args ...any) rowScanner {
	if s := c.stmt(ctx, q); s != nil {
		return s.QueryRowContext(ctx, args...)
	}
	return c.tx.QueryRowContext(ctx, q, args...)
}

func (c cachedTx) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if s := c.stmt(ctx, q); s != nil {
		return s.QueryContext(ctx, args...)
	}
	return c.tx.QueryContext(ctx, q, args...)
}

func (c cachedTx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if s := c.stmt(ctx, q); s != nil {
		return s.ExecContext(ctx, args...)
	}
	return c.tx.ExecContext(ctx, q, args...)
}
