package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// migration is one schema step, applied in its own transaction.
type migration struct {
	version int
	name    string
	stmts   []string
	// rebuildsParent: the step rebuilds a table that foreign keys
	// reference, which SQLite allows only with foreign key enforcement off
	// (it cannot be switched inside a transaction); foreign_key_check then
	// runs before the commit.
	rebuildsParent bool
}

// migrations are the schema versions this binary knows, in order. Never
// edit a released migration: append a new one.
//
// Portability rules (a PostgreSQL backend mirrors these tables): only
// INTEGER and TEXT columns; times are Unix milliseconds; keys and digests
// are lowercase hex TEXT; lists are JSON arrays in TEXT; audit attrs are
// TEXT (never jsonb: the stored order is kept, §7.8).
var migrations = []migration{
	{version: 1, name: "initial schema", stmts: []string{
		`CREATE TABLE counters (
			name  TEXT PRIMARY KEY,
			value INTEGER NOT NULL)`,
		`INSERT INTO counters(name, value) VALUES ('next_node_id', 4), ('next_network_id', 1), ('policy_epoch', 0)`,
		`CREATE TABLE networks (
			id                 INTEGER PRIMARY KEY,
			name               TEXT NOT NULL UNIQUE,
			join_rule          TEXT NOT NULL CHECK (join_rule IN ('open','token','invite')),
			token_digest       TEXT,
			admin_token_digest TEXT,
			created_at         INTEGER NOT NULL,
			max_members        INTEGER NOT NULL DEFAULT 0,
			allowed_ports      TEXT NOT NULL DEFAULT '[]',
			description        TEXT NOT NULL DEFAULT '')`,
		// The backbone is created with the store: its created_at is the first
		// start (registry.md §7.4.6 reports it as Unix seconds).
		`INSERT INTO networks(id, name, join_rule, created_at)
			VALUES (0, 'backbone', 'open', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER))`,
		`CREATE TABLE nodes (
			id             INTEGER PRIMARY KEY,
			public_key     TEXT NOT NULL UNIQUE,
			real_addr      TEXT NOT NULL DEFAULT '',
			lan_addrs      TEXT NOT NULL DEFAULT '[]',
			last_seen      INTEGER,
			version        TEXT NOT NULL DEFAULT '',
			capabilities   TEXT NOT NULL DEFAULT '[]',
			owner          TEXT NOT NULL DEFAULT '',
			hostname       TEXT UNIQUE,
			public         INTEGER NOT NULL DEFAULT 0,
			tags           TEXT NOT NULL DEFAULT '[]',
			task_exec      INTEGER NOT NULL DEFAULT 0,
			polo_score     INTEGER NOT NULL DEFAULT 0,
			key_created_at INTEGER NOT NULL,
			key_rotated_at INTEGER,
			rotate_count   INTEGER NOT NULL DEFAULT 0,
			key_expires_at INTEGER)`,
		`CREATE INDEX nodes_last_seen ON nodes(last_seen)`,
		`CREATE TABLE tombstones (
			id     INTEGER PRIMARY KEY,
			since  INTEGER NOT NULL,
			reason TEXT NOT NULL)`,
		`CREATE TABLE node_keys (
			public_key TEXT PRIMARY KEY,
			node_id    INTEGER NOT NULL,
			state      TEXT NOT NULL CHECK (state IN ('live','tombstone','retired')),
			since      INTEGER NOT NULL)`,
		`CREATE UNIQUE INDEX node_keys_bound ON node_keys(node_id) WHERE state <> 'retired'`,
		`CREATE TABLE memberships (
			network_id INTEGER NOT NULL REFERENCES networks(id),
			node_id    INTEGER NOT NULL REFERENCES nodes(id),
			role       TEXT NOT NULL CHECK (role IN ('owner','admin','member')),
			joined_at  INTEGER NOT NULL,
			PRIMARY KEY (network_id, node_id))`,
		`CREATE INDEX memberships_node ON memberships(node_id, network_id)`,
		`CREATE UNIQUE INDEX memberships_one_owner ON memberships(network_id) WHERE role = 'owner'`,
		`CREATE TABLE invites (
			network_id INTEGER NOT NULL REFERENCES networks(id),
			target_id  INTEGER NOT NULL REFERENCES nodes(id),
			inviter_id INTEGER NOT NULL,
			created_at INTEGER NOT NULL,
			expires_at INTEGER NOT NULL,
			PRIMARY KEY (target_id, network_id))`,
		`CREATE INDEX invites_target_order ON invites(target_id, created_at, network_id)`,
		`CREATE INDEX invites_network ON invites(network_id)`,
		`CREATE INDEX invites_inviter ON invites(inviter_id)`,
		`CREATE INDEX invites_expires ON invites(expires_at)`,
		`CREATE TABLE approvals (
			from_id    INTEGER NOT NULL REFERENCES nodes(id),
			to_id      INTEGER NOT NULL REFERENCES nodes(id),
			created_at INTEGER NOT NULL,
			PRIMARY KEY (from_id, to_id))`,
		`CREATE INDEX approvals_to ON approvals(to_id, from_id)`,
		`CREATE TABLE handshake_requests (
			id            INTEGER PRIMARY KEY,
			to_id         INTEGER NOT NULL REFERENCES nodes(id),
			from_id       INTEGER NOT NULL REFERENCES nodes(id),
			justification TEXT NOT NULL,
			created_at    INTEGER NOT NULL,
			expires_at    INTEGER NOT NULL,
			UNIQUE (to_id, from_id))`,
		`CREATE INDEX handshake_requests_from ON handshake_requests(from_id)`,
		`CREATE TABLE handshake_responses (
			id         INTEGER PRIMARY KEY,
			to_id      INTEGER NOT NULL REFERENCES nodes(id),
			from_id    INTEGER NOT NULL,
			accept     INTEGER NOT NULL,
			created_at INTEGER NOT NULL,
			expires_at INTEGER NOT NULL)`,
		`CREATE INDEX handshake_responses_to ON handshake_responses(to_id, id)`,
		`CREATE INDEX handshake_responses_from ON handshake_responses(from_id)`,
		`CREATE TABLE audit (
			seq           INTEGER PRIMARY KEY,
			time          TEXT NOT NULL,
			action        TEXT NOT NULL,
			actor_node_id INTEGER NOT NULL,
			auth_via      TEXT NOT NULL,
			attrs         TEXT NOT NULL,
			hash          TEXT NOT NULL,
			network_id    INTEGER)`,
		`CREATE INDEX audit_network ON audit(network_id, seq)`,
		`CREATE INDEX audit_action ON audit(action, seq)`,
		`CREATE TABLE nonces (
			verifying_key TEXT NOT NULL,
			nonce         TEXT NOT NULL,
			expires_at    INTEGER NOT NULL,
			PRIMARY KEY (verifying_key, nonce))`,
		`CREATE INDEX nonces_expires ON nonces(expires_at)`,
		`CREATE TABLE beacons (
			id         INTEGER PRIMARY KEY,
			addr       TEXT NOT NULL,
			updated_at INTEGER NOT NULL)`,
	}},
	// Cheaper writes for the rows every registration adds (same tables,
	// same columns, so backups keep their row format): nonces are kept in
	// arrival order, looked up through the writer's in-memory index
	// (nonceidx.go), instead of under a primary key on the random
	// (verifying_key, nonce) pair; node_keys is stored in its primary key
	// (WITHOUT ROWID), one b-tree instead of a table and its key index;
	// hostnames are indexed only where set (most nodes have none), and so
	// are the network IDs of audit rows (most events have none);
	// nodes loses its index on public_key, which duplicated the live
	// bindings of node_keys (NodeByKey goes through node_keys).
	{version: 2, name: "append-only nonces, node_keys without rowid, nodes without key index", rebuildsParent: true, stmts: []string{
		`CREATE TABLE nonces_v2 (
			verifying_key TEXT NOT NULL,
			nonce         TEXT NOT NULL,
			expires_at    INTEGER NOT NULL)`,
		`INSERT INTO nonces_v2(verifying_key, nonce, expires_at)
			SELECT verifying_key, nonce, expires_at FROM nonces ORDER BY expires_at`,
		`DROP TABLE nonces`,
		`ALTER TABLE nonces_v2 RENAME TO nonces`,
		`CREATE INDEX nonces_expires ON nonces(expires_at)`,
		// The CHECK is spelled without IN: SQLite evaluates a constant IN
		// list through a temporary b-tree built at every insert.
		`CREATE TABLE node_keys_v2 (
			public_key TEXT PRIMARY KEY,
			node_id    INTEGER NOT NULL,
			state      TEXT NOT NULL CHECK (state = 'live' OR state = 'tombstone' OR state = 'retired'),
			since      INTEGER NOT NULL) WITHOUT ROWID`,
		`INSERT INTO node_keys_v2(public_key, node_id, state, since)
			SELECT public_key, node_id, state, since FROM node_keys`,
		`DROP TABLE node_keys`,
		`ALTER TABLE node_keys_v2 RENAME TO node_keys`,
		`CREATE UNIQUE INDEX node_keys_bound ON node_keys(node_id) WHERE state <> 'retired'`,
		`CREATE TABLE nodes_v2 (
			id             INTEGER PRIMARY KEY,
			public_key     TEXT NOT NULL,
			real_addr      TEXT NOT NULL DEFAULT '',
			lan_addrs      TEXT NOT NULL DEFAULT '[]',
			last_seen      INTEGER,
			version        TEXT NOT NULL DEFAULT '',
			capabilities   TEXT NOT NULL DEFAULT '[]',
			owner          TEXT NOT NULL DEFAULT '',
			hostname       TEXT,
			public         INTEGER NOT NULL DEFAULT 0,
			tags           TEXT NOT NULL DEFAULT '[]',
			task_exec      INTEGER NOT NULL DEFAULT 0,
			polo_score     INTEGER NOT NULL DEFAULT 0,
			key_created_at INTEGER NOT NULL,
			key_rotated_at INTEGER,
			rotate_count   INTEGER NOT NULL DEFAULT 0,
			key_expires_at INTEGER)`,
		`INSERT INTO nodes_v2(` + nodeCols + `) SELECT ` + nodeCols + ` FROM nodes`,
		`DROP TABLE nodes`,
		`ALTER TABLE nodes_v2 RENAME TO nodes`,
		`CREATE INDEX nodes_last_seen ON nodes(last_seen)`,
		`CREATE UNIQUE INDEX nodes_hostname ON nodes(hostname) WHERE hostname IS NOT NULL`,
		`DROP INDEX audit_network`,
		`CREATE INDEX audit_network ON audit(network_id, seq) WHERE network_id IS NOT NULL`,
	}},
	// Version 3: node_keys in insertion order (keydir.go). Its primary key
	// on the random public key put every registration in a random leaf;
	// keys are now looked up in the store's in-memory key directory, which
	// also keeps them unique, and rows are reached through the node_id
	// index (statements name state <> 'retired' so that SQLite uses it).
	{version: 3, name: "node_keys in insertion order, looked up in memory", stmts: []string{
		`CREATE TABLE node_keys_v3 (
			public_key TEXT NOT NULL,
			node_id    INTEGER NOT NULL,
			state      TEXT NOT NULL CHECK (state = 'live' OR state = 'tombstone' OR state = 'retired'),
			since      INTEGER NOT NULL)`,
		`INSERT INTO node_keys_v3(public_key, node_id, state, since)
			SELECT public_key, node_id, state, since FROM node_keys ORDER BY node_id, since`,
		`DROP TABLE node_keys`,
		`ALTER TABLE node_keys_v3 RENAME TO node_keys`,
		`CREATE UNIQUE INDEX node_keys_bound ON node_keys(node_id) WHERE state <> 'retired'`,
	}},
}

// SupportedSchema is the newest schema version of this binary.
func SupportedSchema() int { return migrations[len(migrations)-1].version }

// tables lists the data tables in load order (parents first) with their
// primary key order for dumps. schema_migrations is not a data table: the
// backup header carries the version.
var tables = []struct{ name, order string }{
	{"counters", "name"},
	{"networks", "id"},
	{"nodes", "id"},
	{"tombstones", "id"},
	{"node_keys", "public_key"},
	{"memberships", "network_id, node_id"},
	{"invites", "target_id, network_id"},
	{"approvals", "from_id, to_id"},
	{"handshake_requests", "id"},
	{"handshake_responses", "id"},
	{"audit", "seq"},
	{"nonces", "verifying_key, nonce"},
	{"beacons", "id"},
}

const createMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER PRIMARY KEY,
	name       TEXT NOT NULL,
	applied_at INTEGER NOT NULL)`

// schemaVersion returns the highest applied version (0 for an empty db).
func schemaVersion(ctx context.Context, q querier) (int, error) {
	var n int
	err := q.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type='table' AND name='schema_migrations'`).Scan(&n)
	if err != nil || n == 0 {
		return 0, err
	}
	var v sql.NullInt64
	if err := q.QueryRowContext(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, err
	}
	return int(v.Int64), nil
}

// applyMigration runs one migration inside tx and records it.
func applyMigration(ctx context.Context, tx *sql.Tx, m migration, nowMS int64) error {
	if _, err := tx.ExecContext(ctx, createMigrationsTable); err != nil {
		return err
	}
	for _, s := range m.stmts {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("migration %d (%s): %w", m.version, m.name, err)
		}
	}
	if m.rebuildsParent {
		var table string
		err := tx.QueryRowContext(ctx, `SELECT "table" FROM pragma_foreign_key_check LIMIT 1`).Scan(&table)
		if err == nil {
			return fmt.Errorf("migration %d (%s): a row of %s references a missing row", m.version, m.name, table)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("migration %d (%s): foreign key check: %w", m.version, m.name, err)
		}
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations(version, name, applied_at) VALUES (?, ?, ?)`, m.version, m.name, nowMS)
	return err
}

// pendingAfter lists the versions newer than v.
func pendingAfter(v int) []int {
	var p []int
	for _, m := range migrations {
		if m.version > v {
			p = append(p, m.version)
		}
	}
	return p
}

// dropAll removes every table (restore rebuilds the schema, §13.3).
func dropAll(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'`)
	if err != nil {
		return err
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return err
		}
		names = append(names, n)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for i := len(names) - 1; i >= 0; i-- {
		n := names[i]
		if strings.ContainsAny(n, `"`) {
			return errors.New("unexpected table name")
		}
		if _, err := tx.ExecContext(ctx, `DROP TABLE "`+n+`"`); err != nil {
			return err
		}
	}
	return nil
}
