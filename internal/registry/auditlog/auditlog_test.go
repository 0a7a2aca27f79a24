package auditlog

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func sample(l *Logger) {
	l.Emit("network.created", []slog.Attr{
		slog.Int64("network_id", 3),
		slog.String("name", "prod-fleet"),
		slog.String("join_rule", "token"),
		slog.Int64("creator_node_id", 685),
	}, 685, "global_token", 1042, "9f2c")
}

// keysInOrder returns the top-level keys of a JSON object in document order.
func keysInOrder(t *testing.T, line []byte) ([]string, map[string]any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(line))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not an object: %s", line)
	}
	var keys []string
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k.(string))
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
	}
	var m map[string]any
	if err := json.Unmarshal(line, &m); err != nil {
		t.Fatal(err)
	}
	return keys, m
}

// §14 item 62 (emission side): the record is emitted at INFO with msg
// "audit" in the exact attribute order even when the process log level is
// error, and selecting msg=="audit" lines from the JSON stream yields it.
func TestRegistry_62_AuditRecordOrderAndLevel(t *testing.T) {
	var buf bytes.Buffer
	// The operational logger at -log-level error shares the stream and
	// drops INFO; the audit logger must not.
	ops := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelError}))
	ops.Info("not shown")
	l, err := New(Config{Format: "json", Writer: &buf})
	if err != nil {
		t.Fatal(err)
	}
	sample(l)
	ops.Error("shown")

	var audits [][]byte
	for _, line := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
		var m struct{ Msg string }
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("bad line %q: %v", line, err)
		}
		if m.Msg == "audit" {
			audits = append(audits, line)
		}
	}
	if len(audits) != 1 {
		t.Fatalf("%d audit lines in %q", len(audits), buf.String())
	}
	keys, m := keysInOrder(t, audits[0])
	want := []string{"time", "level", "msg", "audit_action", "network_id", "name", "join_rule",
		"creator_node_id", "actor_node_id", "auth_via", "audit_seq", "audit_hash"}
	if strings.Join(keys, ",") != strings.Join(want, ",") {
		t.Fatalf("keys %v\nwant %v", keys, want)
	}
	if m["level"] != "INFO" || m["audit_action"] != "network.created" || m["network_id"] != 3.0 ||
		m["actor_node_id"] != 685.0 || m["audit_seq"] != 1042.0 || m["audit_hash"] != "9f2c" {
		t.Fatalf("values %v", m)
	}
	ts, _ := m["time"].(string)
	if len(ts) != len(TimeFormat) || !strings.HasSuffix(ts, "Z") {
		t.Fatalf("time %q not UTC millis", ts)
	}
}

func TestTextFormat(t *testing.T) {
	var buf bytes.Buffer
	l, err := New(Config{Format: "text", Writer: &buf})
	if err != nil {
		t.Fatal(err)
	}
	l.Emit("tags.changed", []slog.Attr{
		slog.Int64("node_id", 7), slog.Any("tags", []string{"a", "b"}),
		slog.Int64("old_tags_count", 0), slog.Int64("new_tags_count", 2),
	}, 7, "self", 5, "ab")
	line := buf.String()
	i := strings.Index(line, "level=INFO msg=audit audit_action=tags.changed node_id=7 tags=\"[a b]\" old_tags_count=0 new_tags_count=2 actor_node_id=7 auth_via=self audit_seq=5 audit_hash=ab\n")
	if i < 0 {
		t.Fatalf("text record %q", line)
	}
}

func TestAuditFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	var buf bytes.Buffer
	l, err := New(Config{Format: "text", Writer: &buf, FilePath: path})
	if err != nil {
		t.Fatal(err)
	}
	sample(l)
	sample(l)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", st.Mode().Perm())
	}
	data, _ := os.ReadFile(path)
	lines := bytes.Split(bytes.TrimSpace(data), []byte("\n"))
	if len(lines) != 2 {
		t.Fatalf("%d lines", len(lines))
	}
	keys, _ := keysInOrder(t, lines[1])
	if keys[3] != "audit_action" || keys[len(keys)-1] != "audit_hash" {
		t.Fatalf("file keys %v", keys)
	}
	// Reopening appends.
	l2, err := New(Config{Writer: &buf, FilePath: path})
	if err != nil {
		t.Fatal(err)
	}
	sample(l2)
	_ = l2.Close()
	data, _ = os.ReadFile(path)
	if n := bytes.Count(data, []byte("\n")); n != 3 {
		t.Fatalf("after reopen %d lines", n)
	}
}

type counter map[string]int

func (c counter) Audit(a string) { c[a]++ }

func TestCounter(t *testing.T) {
	c := counter{}
	l, err := New(Config{Writer: &bytes.Buffer{}, Counter: c})
	if err != nil {
		t.Fatal(err)
	}
	sample(l)
	if c["network.created"] != 1 || len(c) != 1 {
		t.Fatalf("counted %v", c)
	}
}

func TestBadFormat(t *testing.T) {
	if _, err := New(Config{Format: "xml"}); err == nil {
		t.Fatal("xml accepted")
	}
}
