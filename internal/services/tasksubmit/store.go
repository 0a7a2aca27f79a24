package tasksubmit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/wire/svcmsg/dataex"
	"github.com/pilot-go/pilot/internal/wire/svcmsg/task"
)

// Directories and limits of the task store.
const (
	// TasksDir is the store's directory under the state directory.
	TasksDir = "tasks"
	// ReceivedDir holds tasks peers submitted to this node.
	ReceivedDir = "received"
	// SubmittedDir holds tasks this node submitted, with the status
	// updates and results their executors sent back.
	SubmittedDir = "submitted"
	// MaxUpdates bounds the status updates kept per task; later ones are
	// dropped.
	MaxUpdates = 256
	// MaxResults bounds the results kept per task; later ones are dropped.
	MaxResults = 16
)

var (
	// errDuplicate refuses a second SUBMIT of one task ID by one peer.
	errDuplicate = errors.New("duplicate task_id")
	// errFull means a task already holds the maximum updates or results.
	errFull = errors.New("task record full")
)

// Record is the stored form of one task: <state-dir>/tasks/<role>/<key>.json.
type Record struct {
	TaskID string `json:"task_id"`
	// Peer is the other party: the submitter (received/) or the executor
	// (submitted/), as the stream's authenticated remote address.
	Peer       string        `json:"peer"`
	Submission *Submission   `json:"submission,omitempty"`
	Updates    []UpdateEntry `json:"status_updates,omitempty"`
	Results    []ResultEntry `json:"results,omitempty"`
	Rewarded   bool          `json:"rewarded,omitempty"`
}

// Submission is a SUBMIT as received (or, in submitted/, as sent).
type Submission struct {
	At              string `json:"at"` // RFC 3339, UTC
	TaskDescription string `json:"task_description"`
	FromAddr        string `json:"from_addr"`
	ToAddr          string `json:"to_addr"`
}

// UpdateEntry is one STATUS_UPDATE.
type UpdateEntry struct {
	ReceivedAt    string `json:"received_at"`
	Status        string `json:"status"`
	Justification string `json:"justification"`
}

// ResultEntry is one SEND_RESULTS; file data is stored beside the record
// and referenced by StoredFile (relative to tasks/).
type ResultEntry struct {
	ReceivedAt   string `json:"received_at"`
	ResultType   string `json:"result_type"`
	ResultText   string `json:"result_text,omitempty"`
	Filename     string `json:"filename,omitempty"`
	StoredFile   string `json:"stored_file,omitempty"`
	FileBytes    int    `json:"file_bytes,omitempty"`
	CompletedAt  string `json:"completed_at"`
	TimeIdleMs   int64  `json:"time_idle_ms,omitempty"`
	TimeStagedMs int64  `json:"time_staged_ms,omitempty"`
	TimeCPUMs    int64  `json:"time_cpu_ms,omitempty"`
}

// recordKey is a task's file name stem: the peer's node ID in 8 hex
// digits, '-', the task ID. Peers cannot touch each other's tasks, and
// the name is safe because ValidTaskID held.
func recordKey(peer addr.NodeID, id string) string {
	return fmt.Sprintf("%08x-%s", uint32(peer), id)
}

// RecordPath returns the path of a task record under stateDir; role is
// ReceivedDir or SubmittedDir. id must satisfy task.ValidTaskID.
func RecordPath(stateDir, role string, peer addr.NodeID, id string) string {
	return filepath.Join(stateDir, TasksDir, role, recordKey(peer, id)+".json")
}

// update applies fn to the record of (role, peer, id), creating it when
// absent, and writes it back atomically. The caller holds s.mu.
func (s *Service) updateLocked(role string, peer addr.Addr, id string, fn func(r *Record) error) (Record, error) {
	if !task.ValidTaskID(id) {
		return Record{}, fmt.Errorf("invalid task_id %q", id)
	}
	path := RecordPath(s.StateDir, role, peer.Node, id)
	var r Record
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := json.Unmarshal(b, &r); err != nil {
			return Record{}, fmt.Errorf("task record %s: %w", filepath.Base(path), err)
		}
	case errors.Is(err, fs.ErrNotExist):
		r = Record{TaskID: id, Peer: peer.String()}
	default:
		return Record{}, err
	}
	if err := fn(&r); err != nil {
		return r, err
	}
	return r, writeAtomic(path, marshalIndent(r))
}

// storeResultFile writes a result's file data beside the record of
// (SubmittedDir, peer, id) as <key>.files/<n>-<sanitised name>, and
// returns its path relative to tasks/.
func (s *Service) storeResultFile(peer addr.NodeID, id string, n int, name string, data []byte) (string, error) {
	key := recordKey(peer, id)
	rel := filepath.Join(SubmittedDir, key+".files", strconv.Itoa(n)+"-"+dataex.SanitizeFileName(name))
	return rel, writeAtomic(filepath.Join(s.StateDir, TasksDir, rel), data)
}

// marshalIndent encodes v with two-space indentation and no HTML escaping.
func marshalIndent(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // records are always encodable
	return buf.Bytes()
}

// writeAtomic writes data to path through a temporary file in the same
// directory (created 0700), fsynced, renamed, then the directory fsynced.
func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(name, path)
	}
	if err != nil {
		_ = os.Remove(name)
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}
