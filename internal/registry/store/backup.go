package store

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strconv"
)

// Backup file format of registry.md §13.3, shared by every backend:
//
//	{"format":"pilot-registry-backup","format_version":1,"schema_version":1,"created_at":"…","registry_version":"…","store":"sqlite"}
//	{"table":"nodes","row":{"id":4,"public_key":"…",…}}
//	…
//	{"trailer":true,"rows":123,"sha256":"<hex of all bytes above>"}
//
// Row values are plain JSON: integers, strings and null. Columns appear in
// schema order. Binary values (keys, digests) are lowercase hex strings.

// BackupFormat and BackupFormatVersion identify the file format.
const (
	BackupFormat        = "pilot-registry-backup"
	BackupFormatVersion = 1
)

// BackupHeader is line 1 of a backup file.
type BackupHeader struct {
	Format          string `json:"format"`
	FormatVersion   int    `json:"format_version"`
	SchemaVersion   int    `json:"schema_version"`
	CreatedAt       string `json:"created_at"`
	RegistryVersion string `json:"registry_version"`
	Store           string `json:"store"`
}

type backupTrailer struct {
	Trailer bool   `json:"trailer"`
	Rows    int    `json:"rows"`
	SHA256  string `json:"sha256"`
}

// Column is one value of a backup row: Value is int64, string or nil.
type Column struct {
	Name  string
	Value any
}

// BackupRow is one row line.
type BackupRow struct {
	Table string
	Cols  []Column
}

// BackupWriter writes the lines of a backup file and its checksum.
type BackupWriter struct {
	w    *bufio.Writer
	sum  hash.Hash
	rows int
}

// NewBackupWriter writes the header line to w.
func NewBackupWriter(w io.Writer, h BackupHeader) (*BackupWriter, error) {
	h.Format, h.FormatVersion = BackupFormat, BackupFormatVersion
	bw := &BackupWriter{w: bufio.NewWriterSize(w, 64<<10), sum: sha256.New()}
	line, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	return bw, bw.line(line)
}

func (bw *BackupWriter) line(b []byte) error {
	b = append(b, '\n')
	bw.sum.Write(b)
	_, err := bw.w.Write(b)
	return err
}

// Row writes one row line.
func (bw *BackupWriter) Row(table string, cols []Column) error {
	var b bytes.Buffer
	b.WriteString(`{"table":`)
	b.WriteString(strconv.Quote(table))
	b.WriteString(`,"row":{`)
	for i, c := range cols {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(c.Name)
		b.Write(k)
		b.WriteByte(':')
		switch v := c.Value.(type) {
		case nil:
			b.WriteString("null")
		case int64:
			b.WriteString(strconv.FormatInt(v, 10))
		case string:
			s, err := json.Marshal(v)
			if err != nil {
				return err
			}
			b.Write(s)
		default:
			return fmt.Errorf("backup: table %s column %s: unsupported value type %T", table, c.Name, c.Value)
		}
	}
	b.WriteString("}}")
	bw.rows++
	return bw.line(b.Bytes())
}

// Close writes the trailer and flushes.
func (bw *BackupWriter) Close() (BackupSummary, error) {
	s := BackupSummary{Rows: bw.rows, SHA256: hex.EncodeToString(bw.sum.Sum(nil))}
	t, _ := json.Marshal(backupTrailer{Trailer: true, Rows: s.Rows, SHA256: s.SHA256})
	if _, err := bw.w.Write(append(t, '\n')); err != nil {
		return s, err
	}
	return s, bw.w.Flush()
}

// ErrBackupCorrupt: a backup file fails the checks of §13.3 restore step 1.
var ErrBackupCorrupt = errors.New("backup is corrupt")

// CorruptBackupError is the §13.3 refusal: "backup FILE is corrupt:
// checksum mismatch; nothing was changed". It matches ErrBackupCorrupt.
type CorruptBackupError struct {
	File    string // "" when the data did not come from a file
	Problem string
}

func (e *CorruptBackupError) Error() string {
	f := "backup"
	if e.File != "" {
		f = "backup " + e.File
	}
	return f + " is corrupt: " + e.Problem + "; nothing was changed"
}

// Is makes errors.Is(err, ErrBackupCorrupt) true.
func (e *CorruptBackupError) Is(target error) bool { return target == ErrBackupCorrupt }

func errCorruptBackup(problem string) error { return &CorruptBackupError{Problem: problem} }

// RestoreFile reads a whole backup file and restores it into s (§13.3).
func RestoreFile(ctx context.Context, s Store, path string, opts RestoreOptions) (RestoreSummary, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return RestoreSummary{}, fmt.Errorf("read backup %s: %w", path, err)
	}
	sum, err := s.Restore(ctx, data, opts)
	var ce *CorruptBackupError
	if errors.As(err, &ce) && ce.File == "" {
		ce.File = path
	}
	return sum, err
}

// ParseBackup checks and parses a whole backup file (§13.3 restore step 1):
// trailer present, row count and checksum match, every line parses.
func ParseBackup(data []byte) (BackupHeader, []BackupRow, error) {
	var h BackupHeader
	if len(data) == 0 || data[len(data)-1] != '\n' {
		return h, nil, errCorruptBackup("missing trailer")
	}
	body := data[:len(data)-1]
	cut := bytes.LastIndexByte(body, '\n')
	if cut < 0 {
		return h, nil, errCorruptBackup("missing trailer")
	}
	var tr backupTrailer
	if err := strictUnmarshal(body[cut+1:], &tr); err != nil || !tr.Trailer {
		return h, nil, errCorruptBackup("missing trailer")
	}
	sum := sha256.Sum256(data[:cut+1])
	if hex.EncodeToString(sum[:]) != tr.SHA256 {
		return h, nil, errCorruptBackup("checksum mismatch")
	}
	lines := bytes.Split(body[:cut], []byte{'\n'})
	if err := strictUnmarshal(lines[0], &h); err != nil || h.Format != BackupFormat {
		return h, nil, errCorruptBackup("bad header line")
	}
	if h.FormatVersion != BackupFormatVersion {
		return h, nil, errCorruptBackup(fmt.Sprintf("unknown format_version %d", h.FormatVersion))
	}
	rows := make([]BackupRow, 0, len(lines)-1)
	for i, l := range lines[1:] {
		r, err := parseRowLine(l)
		if err != nil {
			return h, nil, errCorruptBackup(fmt.Sprintf("line %d: %v", i+2, err))
		}
		rows = append(rows, r)
	}
	if len(rows) != tr.Rows {
		return h, nil, errCorruptBackup(fmt.Sprintf("trailer counts %d rows, file has %d", tr.Rows, len(rows)))
	}
	return h, rows, nil
}

func strictUnmarshal(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return errors.New("trailing data")
	}
	return nil
}

func parseRowLine(l []byte) (BackupRow, error) {
	var raw struct {
		Table string          `json:"table"`
		Row   json.RawMessage `json:"row"`
	}
	if err := strictUnmarshal(l, &raw); err != nil {
		return BackupRow{}, err
	}
	if raw.Table == "" || raw.Row == nil {
		return BackupRow{}, errors.New("row line without table or row")
	}
	d := json.NewDecoder(bytes.NewReader(raw.Row))
	d.UseNumber()
	if t, err := d.Token(); err != nil || t != json.Delim('{') {
		return BackupRow{}, errors.New("row is not an object")
	}
	r := BackupRow{Table: raw.Table}
	seen := map[string]bool{}
	for d.More() {
		kt, err := d.Token()
		if err != nil {
			return r, err
		}
		k := kt.(string)
		if seen[k] {
			return r, fmt.Errorf("column %q twice", k)
		}
		seen[k] = true
		vt, err := d.Token()
		if err != nil {
			return r, err
		}
		var v any
		switch x := vt.(type) {
		case nil:
		case string:
			v = x
		case json.Number:
			n, err := x.Int64()
			if err != nil {
				return r, fmt.Errorf("column %q: %v", k, err)
			}
			v = n
		default:
			return r, fmt.Errorf("column %q: unsupported value", k)
		}
		r.Cols = append(r.Cols, Column{Name: k, Value: v})
	}
	if _, err := d.Token(); err != nil {
		return r, err
	}
	return r, nil
}

// WriteBackupFile writes a backup of s to path (§13.3): a temporary file in
// the target directory, fsynced, renamed over path, mode 0600.
func WriteBackupFile(ctx context.Context, s Store, path, registryVersion string) (BackupSummary, error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return BackupSummary{}, fmt.Errorf("backup %s: %w", path, err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return BackupSummary{}, fmt.Errorf("backup %s: %w", path, err)
	}
	sum, err := s.Backup(ctx, f, registryVersion)
	if err != nil {
		return sum, fmt.Errorf("backup %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return sum, fmt.Errorf("backup %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return sum, fmt.Errorf("backup %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return sum, fmt.Errorf("backup %s: %w", path, err)
	}
	ok = true
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return sum, nil
}
