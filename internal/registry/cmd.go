package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/pilot-go/pilot/internal/registry/config"
	"github.com/pilot-go/pilot/internal/registry/store"
	"github.com/pilot-go/pilot/internal/registry/tlsconf"
)

// Exit statuses of cli.md §1.2.
const (
	ExitOK          = 0
	ExitFailure     = 1
	ExitUsage       = 2
	ExitUnreachable = 3
)

const usageText = `usage:
  pilot-registry [serve] [flags]
  pilot-registry backup FILE [flags]
  pilot-registry restore FILE [-force] [flags]
  pilot-registry audit verify [flags]
  pilot-registry migrate status [flags]
  pilot-registry tls fingerprint [flags]

Store flags (-data-dir, -store) apply to every subcommand. Flags:
`

// Main runs pilot-registry with args (without the program name) and returns
// the exit status. serve runs until ctx is cancelled (SIGINT/SIGTERM in
// main). Errors go to stderr as one line "error: …".
func Main(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	cfg, pos, err := config.Load(args, getenv)
	if errors.Is(err, config.ErrHelp) {
		fmt.Fprint(stderr, usageText)
		c := &config.Config{}
		fs := config.FlagSet(c, stderr)
		fs.PrintDefaults()
		return ExitOK
	}
	if err != nil {
		return fail(stderr, ExitUsage, err)
	}
	if cfg.Version {
		fmt.Fprintf(stdout, "pilot-registry %s\n", Version)
		return ExitOK
	}
	cmd := "serve"
	if len(pos) > 0 {
		cmd = pos[0]
		pos = pos[1:]
	}
	if cfg.Force && cmd != "restore" {
		return fail(stderr, ExitUsage, errors.New("-force is only valid with restore"))
	}
	want := func(words ...string) error {
		if len(pos) != len(words) {
			return fmt.Errorf("usage: pilot-registry %s %s", cmd, strings.Join(words, " "))
		}
		return nil
	}
	switch cmd {
	case "serve":
		if len(pos) != 0 {
			return fail(stderr, ExitUsage, fmt.Errorf("unexpected argument %q; see pilot-registry -help", pos[0]))
		}
		return serve(ctx, cfg, stderr)
	case "backup":
		if err := want("FILE"); err != nil {
			return fail(stderr, ExitUsage, err)
		}
		return backup(ctx, cfg, pos[0], stdout, stderr)
	case "restore":
		if err := want("FILE"); err != nil {
			return fail(stderr, ExitUsage, errors.New("usage: pilot-registry restore FILE [-force]"))
		}
		return restore(ctx, cfg, pos[0], stdout, stderr)
	case "audit", "migrate", "tls":
		sub := map[string]string{"audit": "verify", "migrate": "status", "tls": "fingerprint"}[cmd]
		if len(pos) != 1 || pos[0] != sub {
			return fail(stderr, ExitUsage, fmt.Errorf("usage: pilot-registry %s %s", cmd, sub))
		}
		switch cmd {
		case "audit":
			return auditVerify(ctx, cfg, stdout, stderr)
		case "migrate":
			return migrateStatus(ctx, cfg, stdout, stderr)
		default:
			return tlsFingerprint(cfg, stdout, stderr)
		}
	default:
		return fail(stderr, ExitUsage, fmt.Errorf("unknown command %q; commands: serve, backup, restore, audit verify, migrate status, tls fingerprint", cmd))
	}
}

func fail(stderr io.Writer, code int, err error) int {
	msg := strings.ReplaceAll(err.Error(), "\n", " ")
	fmt.Fprintf(stderr, "error: %s\n", msg)
	return code
}

// NewLogger builds the operational logger of -log-format / -log-level.
func NewLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.Level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func serve(ctx context.Context, cfg *config.Config, stderr io.Writer) int {
	log := NewLogger(cfg, stderr)
	r, err := New(ctx, cfg, Options{Logger: log, AuditWriter: stderr})
	if err != nil {
		return fail(stderr, ExitFailure, err)
	}
	if err := r.Run(ctx); err != nil {
		return fail(stderr, ExitFailure, err)
	}
	return ExitOK
}

// openForCommand opens the store for a subcommand; failures are exit 3.
func openForCommand(ctx context.Context, cfg *config.Config, mode storeMode, stderr io.Writer) (store.Store, int) {
	// Subcommands keep stderr for warnings and the final error line.
	quiet := *cfg
	quiet.Level = max(cfg.Level, slog.LevelWarn)
	st, err := openStore(ctx, cfg, mode, NewLogger(&quiet, stderr))
	if err != nil {
		return nil, fail(stderr, ExitUnreachable, err)
	}
	return st, ExitOK
}

func backup(ctx context.Context, cfg *config.Config, file string, stdout, stderr io.Writer) int {
	st, code := openForCommand(ctx, cfg, storeReadOnly, stderr)
	if st == nil {
		return code
	}
	defer st.Close()
	sum, err := store.WriteBackupFile(ctx, st, file, Version)
	if err != nil {
		return fail(stderr, ExitFailure, err)
	}
	fmt.Fprintf(stdout, "backup written: %s (%d rows, sha256 %s)\n", file, sum.Rows, sum.SHA256)
	return ExitOK
}

func restore(ctx context.Context, cfg *config.Config, file string, stdout, stderr io.Writer) int {
	// A corrupt backup, or one newer than the binary, is refused before the
	// store is opened: opening creates the data directory, the lock file
	// and registry.db.
	if err := checkBackup(file); err != nil {
		return fail(stderr, ExitFailure, err)
	}
	kind, target := cfg.StoreTarget()
	_, statErr := os.Stat(target)
	created := kind == config.StoreSQLite && errors.Is(statErr, os.ErrNotExist)
	st, code := openForCommand(ctx, cfg, storeRestore, stderr)
	if st == nil {
		return code
	}
	defer st.Close()
	sum, err := store.RestoreFile(ctx, st, file, store.RestoreOptions{Force: cfg.Force})
	if err != nil {
		if created {
			st.Close()
			dropCreatedStore(cfg.DataDir, target)
		}
		if errors.Is(err, store.ErrInUse) {
			return fail(stderr, ExitUnreachable, err)
		}
		return fail(stderr, ExitFailure, err)
	}
	if sum.ChainErr != nil {
		fmt.Fprintf(stderr, "warning: restored with -force although %v\n", sum.ChainErr)
	}
	fmt.Fprintf(stdout, "restore complete: %d rows from %s (schema %d)\n", sum.Rows, file, sum.SchemaVersion)
	return ExitOK
}

// dropCreatedStore removes the SQLite file that opening the store for a
// refused restore created where there was none (§13.3: a refused restore
// changes nothing). The store is closed by then; the file is removed under
// its lock, and left alone if another process has taken the lock since.
func dropCreatedStore(dataDir, path string) {
	f, err := os.OpenFile(filepath.Join(dataDir, "registry.lock"), os.O_RDWR, 0)
	if err != nil {
		return
	}
	defer f.Close() // releases the flock
	if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
		return
	}
	for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
		os.Remove(path + suffix)
	}
}

func auditVerify(ctx context.Context, cfg *config.Config, stdout, stderr io.Writer) int {
	st, code := openForCommand(ctx, cfg, storeReadOnly, stderr)
	if st == nil {
		return code
	}
	defer st.Close()
	n, head, err := st.VerifyAudit(ctx)
	var ce *store.ChainError
	switch {
	case errors.As(err, &ce):
		fmt.Fprintln(stdout, ce.Error())
		return ExitFailure
	case err != nil:
		return fail(stderr, ExitUnreachable, err)
	}
	if head == "" { // empty chain: hash_0, 32 zero bytes (§9.2)
		head = strings.Repeat("0", 64)
	}
	fmt.Fprintf(stdout, "audit chain intact: %d entries, head %s\n", n, head)
	return ExitOK
}

func migrateStatus(ctx context.Context, cfg *config.Config, stdout, stderr io.Writer) int {
	st, code := openForCommand(ctx, cfg, storeReadOnly, stderr)
	if st == nil {
		return code
	}
	defer st.Close()
	info, err := st.Schema(ctx)
	if err != nil {
		return fail(stderr, ExitUnreachable, err)
	}
	pending := "none"
	if len(info.Pending) > 0 {
		parts := make([]string, len(info.Pending))
		for i, v := range info.Pending {
			parts[i] = strconv.Itoa(v)
		}
		pending = strings.Join(parts, ", ")
	}
	fmt.Fprintf(stdout, "schema version: %d\nbinary supports: %d\npending migrations: %s\n", info.Current, info.Supported, pending)
	if len(info.Pending) > 0 || info.Current > info.Supported {
		return ExitFailure
	}
	return ExitOK
}

func tlsFingerprint(cfg *config.Config, stdout, stderr io.Writer) int {
	res, err := tlsconf.Load(tlsConfig(cfg))
	if err != nil {
		return fail(stderr, ExitFailure, err)
	}
	fmt.Fprintln(stdout, res.Fingerprint)
	return ExitOK
}
