// Package store is the durable state of pilot-registry (registry.md §13):
// the Store interface that the message handlers run their transactions on,
// the typed rows they read and write, the audit hash chain verification
// (§9.2) and the store-independent backup file format (§13.3).
//
// Why an interface: the same handlers run on the embedded SQLite store
// (package store/sqlite) and on a PostgreSQL store shared by several
// replicas. Everything a handler needs is a typed method of Tx or ReadTx;
// no method exposes SQL, row IDs or driver types, and every check that
// spans rows (member cap, invite dedup and cap, single owner, unique names,
// §13.2 guarantee 3) happens inside a Tx method so that a PostgreSQL backend
// can take its row locks there. The conformance suite in store/storetest
// runs against any backend.
//
// Guarantees (§13.2):
//   - Update runs fn in one read-write transaction: the state change, its
//     audit rows, the request nonce and the policy_epoch bump commit together
//     or not at all. An error from fn rolls everything back.
//   - Update returns nil only once the commit is durable (fsync), so a reply
//     sent after it survives kill -9.
//   - Secrets are never stored: join tokens and network admin tokens reach
//     the store only as SHA-256 digests (type Digest, built by DigestOf);
//     the global admin token never reaches it.
//
// Times are time.Time in the API, the zero value meaning "absent"; backends
// store them as Unix milliseconds (so they come back truncated to the
// millisecond, in UTC). Empty lists come back as nil. Audit times are the
// RFC 3339 strings of §9.2, stored verbatim because they are hashed, and
// audit attrs keep their §9.3 order (stored as text, never as jsonb).
package store

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// Store is a registry store. All methods are safe for concurrent use.
type Store interface {
	// Update runs fn in one read-write transaction and commits it. It returns
	// nil only after the commit is durable (§13.2 guarantee 2). If fn returns
	// an error, or panics, nothing fn did is kept and the error (or panic)
	// is passed on. The store never retries fn. fn must not keep tx after
	// it returns and must not call Update (the single writer would
	// deadlock). Under group commit (a backend option) fn may share the
	// transaction with other callers, each inside its own savepoint: a
	// failing fn undoes only itself, and nil is returned only after the
	// shared commit is durable (§13.2 guarantee 1).
	Update(ctx context.Context, fn func(tx Tx) error) error
	// View runs fn in one read-only transaction: a consistent snapshot.
	View(ctx context.Context, fn func(tx ReadTx) error) error
	// Ping checks that the store answers (/healthz, /readyz, §3).
	Ping(ctx context.Context) error
	// Schema reports the schema version of the store and of the binary.
	Schema(ctx context.Context) (SchemaInfo, error)
	// VerifyAudit recomputes the audit hash chain from seq 1 (§9.2,
	// `pilot-registry audit verify`). It returns the number of entries and
	// the head hash (lowercase hex, "" when empty). A broken chain is
	// reported as a *ChainError; other errors mean the store failed.
	VerifyAudit(ctx context.Context) (entries int, head string, err error)
	// Backup writes a consistent snapshot in the §13.3 format to w (one read
	// transaction) and returns the number of row lines and the SHA-256 of
	// the trailer. WriteBackupFile wraps it with the temp-file dance.
	Backup(ctx context.Context, w io.Writer, registryVersion string) (BackupSummary, error)
	// Restore loads a backup file already read into memory (§13.3 steps
	// 1–4): it refuses a corrupt file, a newer schema, a non-empty target
	// unless opts.Force, and a broken audit chain unless opts.Force, in each
	// case changing nothing.
	Restore(ctx context.Context, data []byte, opts RestoreOptions) (RestoreSummary, error)
	// Close releases the store (and its lock). It is idempotent.
	Close() error
}

// SchemaInfo describes schema versions (`pilot-registry migrate status`).
type SchemaInfo struct {
	Current   int   // version stored in the database
	Supported int   // newest version this binary knows
	Pending   []int // versions this binary would apply, ascending
}

// RestoreOptions are the options of Store.Restore.
type RestoreOptions struct {
	// Force replaces a non-empty target and keeps a restore whose audit
	// chain does not verify (§13.3 steps 3 and 4).
	Force bool
}

// RestoreSummary is the outcome of a restore.
type RestoreSummary struct {
	Rows          int // row lines loaded
	SchemaVersion int // schema version of the backup file
	// ChainErr is the audit chain failure that Force let through, else nil.
	ChainErr *ChainError
}

// BackupSummary is the outcome of a backup.
type BackupSummary struct {
	Rows   int    // row lines written
	SHA256 string // lowercase hex checksum written in the trailer
}

// Sentinel errors. Backends wrap them with a sentence naming the object.
var (
	// ErrNotFound: the node, network, membership, invite… does not exist.
	ErrNotFound = errors.New("not found")
	// ErrHostnameTaken: the hostname belongs to another live node (§8.1).
	ErrHostnameTaken = errors.New("hostname taken")
	// ErrNameTaken: the network name belongs to another network (§8.1).
	ErrNameTaken = errors.New("network name taken")
	// ErrKeyBound: the public key is bound to another node or tombstone (§6.3.6).
	ErrKeyBound = errors.New("public key already bound")
	// ErrKeyRetired: the public key was rotated out or reassigned (§6.3.6).
	ErrKeyRetired = errors.New("public key retired")
	// ErrIDSpaceExhausted: no node or network ID is left (§7.1.1, §7.4.1).
	ErrIDSpaceExhausted = errors.New("id space exhausted")
	// ErrAlreadyMember: the node is already a member of the network.
	ErrAlreadyMember = errors.New("already a member")
	// ErrNetworkFull: the network has max_members members (§6.3.3).
	ErrNetworkFull = errors.New("network full")
	// ErrOwner: the operation would leave a network without its owner
	// (§6.3.1): removing or tombstoning an owner, demoting it.
	ErrOwner = errors.New("node owns the network")
	// ErrBackbone: the operation would change network 0 (§6.3.5).
	ErrBackbone = errors.New("network 0 (backbone) cannot be changed")
	// ErrAlreadyInvited: a pending invite for (target, network) exists (§6.3.4).
	ErrAlreadyInvited = errors.New("invite already pending")
	// ErrInboxFull: 100 pending invites or handshake requests (§8.2).
	ErrInboxFull = errors.New("inbox full")
	// ErrReadOnly: Update on a store opened read-only.
	ErrReadOnly = errors.New("store opened read-only")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("store closed")
	// ErrInUse: another process holds the store's lock (§13.1).
	ErrInUse = errors.New("store is in use")
	// ErrCorrupt: integrity check failed or the backup file is corrupt.
	ErrCorrupt = errors.New("store corrupt")
	// ErrSchemaTooNew: the schema is newer than this binary supports.
	ErrSchemaTooNew = errors.New("schema newer than this binary supports")
	// ErrMigrationsPending: migrations are pending and -migrate=never.
	ErrMigrationsPending = errors.New("schema migrations pending")
	// ErrNotEmpty: restore into a non-empty store without Force.
	ErrNotEmpty = errors.New("target store is not empty")
	// ErrInvalid: an argument the store cannot record (bad role, empty key…).
	ErrInvalid = errors.New("invalid store argument")
)

// Refusal is an error whose text is a complete sentence for the operator
// (what failed, which file, the way out) and which matches a sentinel with
// errors.Is.
type Refusal struct {
	Msg      string
	Sentinel error
}

func (r *Refusal) Error() string { return r.Msg }

// Unwrap returns the sentinel.
func (r *Refusal) Unwrap() error { return r.Sentinel }

// Refuse builds a *Refusal.
func Refuse(sentinel error, format string, args ...any) error {
	return &Refusal{Msg: fmt.Sprintf(format, args...), Sentinel: sentinel}
}
