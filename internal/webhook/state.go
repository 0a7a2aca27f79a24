package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// StateFile is the name of the webhook state file inside the state
// directory (cli.md §3.2).
const StateFile = "webhook.json"

// idBlock is the size of an event-ID reservation (services.md §8.4).
const idBlock = 1000

// fileState is the content of webhook.json:
// {"url": "…", "secret": "…", "next_event_id": <int>}, mode 0600.
type fileState struct {
	URL         string `json:"url"`
	Secret      string `json:"secret"`
	NextEventID uint64 `json:"next_event_id"`
}

// loadState reads webhook.json from dir. A missing file yields the zero
// state and ok == false; a file that exists but does not decode is an
// error, because starting over from ID 1 could reuse event IDs.
func loadState(dir string) (st fileState, ok bool, err error) {
	b, err := os.ReadFile(filepath.Join(dir, StateFile))
	if errors.Is(err, os.ErrNotExist) {
		return fileState{}, false, nil
	}
	if err != nil {
		return fileState{}, false, fmt.Errorf("read %s: %w", StateFile, err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return fileState{}, false, fmt.Errorf("decode %s: %w (fix or remove the file)", filepath.Join(dir, StateFile), err)
	}
	return st, true, nil
}

// saveState writes webhook.json durably: a temporary file in dir, fsynced,
// renamed over the old one, then the directory fsynced.
func saveState(dir string, st fileState) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create state dir: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "."+StateFile+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", StateFile, err)
	}
	name := tmp.Name()
	ok := false
	defer func() {
		if !ok {
			_ = tmp.Close()
			_ = os.Remove(name)
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("write %s: %w", StateFile, err)
	}
	if _, err := tmp.Write(b); err != nil {
		return fmt.Errorf("write %s: %w", StateFile, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", StateFile, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", StateFile, err)
	}
	if err := os.Rename(name, filepath.Join(dir, StateFile)); err != nil {
		return fmt.Errorf("rename %s: %w", StateFile, err)
	}
	ok = true
	return syncDir(dir)
}

// syncDir fsyncs a directory so that a rename inside it is durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}
