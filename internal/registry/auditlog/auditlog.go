// Package auditlog emits the registry's audit log records (registry.md §9.1).
//
// Each committed audit event becomes one slog record at INFO with message
// "audit", written through a dedicated logger that is never filtered by
// -log-level. Its format follows -log-format (text → key=value, json → one
// object per line) and its attributes come in this order:
//
//	audit_action, <the action's attributes in §9.3 order>, actor_node_id, auth_via, audit_seq, audit_hash
//
// for example (json):
//
//	{"time":"2026-03-27T10:15:03.412Z","level":"INFO","msg":"audit","audit_action":"network.created",
//	 "network_id":3,"name":"prod-fleet","join_rule":"token","creator_node_id":685,
//	 "actor_node_id":685,"auth_via":"global_token","audit_seq":1042,"audit_hash":"9f2c…"}
//
// -audit-file additionally appends the same JSON records to a file created
// with mode 0600. Times are UTC with millisecond precision.
//
// Records are emitted after the store commit; this package only formats
// and writes them.
package auditlog

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"
)

// Config configures a Logger.
type Config struct {
	// Format is "text" or "json" (-log-format); empty means text.
	Format string
	// Writer receives the records; nil means os.Stderr.
	Writer io.Writer
	// FilePath, when set, is the -audit-file to append JSON records to.
	FilePath string
	// Counter, if set, counts every emitted event by action
	// (pilot_audit_events_total; *metrics.Metrics implements it).
	Counter interface{ Audit(action string) }
}

// Logger writes audit records. It is safe for concurrent use.
type Logger struct {
	log     *slog.Logger                      // set once in New
	file    *slog.Logger                      // set once in New; nil without -audit-file
	f       *os.File                          // set once in New; cleared by Close
	counter interface{ Audit(action string) } // set once in New; may be nil
}

// New opens the audit logger (and the audit file, if configured).
func New(cfg Config) (*Logger, error) {
	w := cfg.Writer
	if w == nil {
		w = os.Stderr
	}
	h, err := handler(cfg.Format, w)
	if err != nil {
		return nil, err
	}
	l := &Logger{log: slog.New(h), counter: cfg.Counter}
	if cfg.FilePath != "" {
		f, err := os.OpenFile(cfg.FilePath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("open audit file: %w", err)
		}
		l.f = f
		fh, _ := handler("json", f)
		l.file = slog.New(fh)
	}
	return l, nil
}

// handler builds an INFO-level handler (independent of -log-level) in the
// given format, with UTC millisecond times.
func handler(format string, w io.Writer) (slog.Handler, error) {
	opts := &slog.HandlerOptions{Level: slog.LevelInfo, ReplaceAttr: utcMillis}
	switch format {
	case "", "text":
		return slog.NewTextHandler(w, opts), nil
	case "json":
		return slog.NewJSONHandler(w, opts), nil
	default:
		return nil, fmt.Errorf("audit log: unknown format %q (want text or json)", format)
	}
}

// TimeFormat is the layout of the record time.
const TimeFormat = "2006-01-02T15:04:05.000Z"

func utcMillis(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.TimeKey && a.Value.Kind() == slog.KindTime {
		return slog.String(slog.TimeKey, a.Value.Time().UTC().Format(TimeFormat))
	}
	return a
}

// Emit writes one audit record. attrs are the action's attributes in the
// order of registry.md §9.3 (values: int, string, bool, []int64 or
// []string); actor is the actor_node_id (0 for token-only and system
// events), authVia one of global_token, network_token, role, self, system,
// seq the stored row's seq and hash its lowercase hex hash.
func (l *Logger) Emit(action string, attrs []slog.Attr, actor uint32, authVia string, seq uint64, hash string) {
	if l == nil {
		return
	}
	all := make([]slog.Attr, 0, len(attrs)+5)
	all = append(all, slog.String("audit_action", action))
	all = append(all, attrs...)
	all = append(all,
		slog.Uint64("actor_node_id", uint64(actor)),
		slog.String("auth_via", authVia),
		slog.Uint64("audit_seq", seq),
		slog.String("audit_hash", hash),
	)
	now := time.Now()
	emit(l.log, now, all)
	if l.file != nil {
		emit(l.file, now, all)
	}
	if l.counter != nil {
		l.counter.Audit(action)
	}
}

func emit(lg *slog.Logger, now time.Time, attrs []slog.Attr) {
	r := slog.NewRecord(now, slog.LevelInfo, "audit", 0)
	r.AddAttrs(attrs...)
	_ = lg.Handler().Handle(context.Background(), r)
}

// Close closes the audit file, if any. It is idempotent and must not run
// concurrently with Emit (the registry closes it after the server stopped).
func (l *Logger) Close() error {
	if l == nil || l.f == nil {
		return nil
	}
	f := l.f
	l.f = nil
	return f.Close()
}
