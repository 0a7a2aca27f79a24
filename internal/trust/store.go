package trust

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/pilot-go/pilot/addr"
)

// FileName is the trust store's name in the state directory (cli.md §3.2).
const FileName = "trust.json"

// maxFileSize bounds what Load reads (256 pending entries and any number of
// trusted ones stay far below it).
const maxFileSize = 16 << 20

// ErrCorrupt reports a trust.json that is not the format of services.md
// §5.6. The daemon refuses to start rather than overwrite it.
var ErrCorrupt = errors.New("trust store: malformed trust.json")

// Entry is one trusted peer.
type Entry struct {
	NodeID     addr.NodeID
	PublicKey  string // b64, "" when unknown
	ApprovedAt time.Time
	Mutual     bool
	Network    addr.NetworkID // 0 = not from a shared network
}

// PendingEntry is one incoming request awaiting the operator. Relayed is
// runtime-only (not in the original format): the request came through the
// registry relay.
type PendingEntry struct {
	NodeID        addr.NodeID
	PublicKey     string
	Justification string
	ReceivedAt    time.Time
	Relayed       bool
}

// State is the persisted part of the trust state.
type State struct {
	Trusted []Entry
	Pending []PendingEntry
}

// fileTrusted and filePending are the on-disk objects (original format):
// {"trusted":[{"node_id","public_key","approved_at"(RFC 3339),"mutual",
// "network"?}],"pending":[{"node_id","public_key"?,"justification"?,
// "received_at"(RFC 3339)}]}.
type fileTrusted struct {
	NodeID     addr.NodeID    `json:"node_id"`
	PublicKey  string         `json:"public_key"`
	ApprovedAt string         `json:"approved_at"`
	Mutual     bool           `json:"mutual"`
	Network    addr.NetworkID `json:"network,omitempty"`
}

type filePending struct {
	NodeID        addr.NodeID `json:"node_id"`
	PublicKey     string      `json:"public_key,omitempty"`
	Justification string      `json:"justification,omitempty"`
	ReceivedAt    string      `json:"received_at"`
}

type fileState struct {
	Trusted []fileTrusted `json:"trusted"`
	Pending []filePending `json:"pending"`
}

// Marshal returns the trust.json content of s: the original format,
// indented with two spaces, arrays never null, entries in node order.
func Marshal(s State) []byte {
	f := fileState{Trusted: []fileTrusted{}, Pending: []filePending{}}
	for _, e := range s.Trusted {
		f.Trusted = append(f.Trusted, fileTrusted{NodeID: e.NodeID, PublicKey: e.PublicKey,
			ApprovedAt: e.ApprovedAt.UTC().Format(time.RFC3339), Mutual: e.Mutual, Network: e.Network})
	}
	for _, p := range s.Pending {
		f.Pending = append(f.Pending, filePending{NodeID: p.NodeID, PublicKey: p.PublicKey,
			Justification: p.Justification, ReceivedAt: p.ReceivedAt.UTC().Format(time.RFC3339)})
	}
	slices.SortFunc(f.Trusted, func(a, b fileTrusted) int { return cmp.Compare(a.NodeID, b.NodeID) })
	slices.SortFunc(f.Pending, func(a, b filePending) int { return cmp.Compare(a.NodeID, b.NodeID) })
	b, _ := json.MarshalIndent(f, "", "  ") // cannot fail: plain structs
	return b
}

// Unmarshal decodes trust.json content. Unknown keys are ignored; times
// must be RFC 3339; a node appearing twice keeps its last entry.
func Unmarshal(data []byte) (State, error) {
	var f fileState
	if err := json.Unmarshal(data, &f); err != nil {
		return State{}, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	var s State
	for i, t := range f.Trusted {
		at, err := time.Parse(time.RFC3339, t.ApprovedAt)
		if err != nil {
			return State{}, fmt.Errorf("%w: trusted[%d].approved_at %q is not RFC 3339", ErrCorrupt, i, t.ApprovedAt)
		}
		s.Trusted = append(s.Trusted, Entry{NodeID: t.NodeID, PublicKey: t.PublicKey, ApprovedAt: at,
			Mutual: t.Mutual, Network: t.Network})
	}
	for i, p := range f.Pending {
		at, err := time.Parse(time.RFC3339, p.ReceivedAt)
		if err != nil {
			return State{}, fmt.Errorf("%w: pending[%d].received_at %q is not RFC 3339", ErrCorrupt, i, p.ReceivedAt)
		}
		s.Pending = append(s.Pending, PendingEntry{NodeID: p.NodeID, PublicKey: p.PublicKey,
			Justification: p.Justification, ReceivedAt: at})
	}
	return s, nil
}

// Load reads path; a missing file is an empty state.
func Load(path string) (State, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return State{}, nil
	}
	if err != nil {
		return State{}, fmt.Errorf("read trust store %s: %w", path, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return State{}, fmt.Errorf("read trust store %s: %w", path, err)
	}
	if len(data) > maxFileSize {
		return State{}, fmt.Errorf("trust store %s: %w: larger than %d bytes", path, ErrCorrupt, maxFileSize)
	}
	s, err := Unmarshal(data)
	if err != nil {
		return State{}, fmt.Errorf("trust store %s: %w (fix or move the file)", path, err)
	}
	return s, nil
}

// Save writes s to path atomically: a 0600 temporary file in the same
// directory, fsync, rename, fsync of the directory.
func Save(path string, s State) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("save trust store: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("save trust store: %w", err)
	}
	name := tmp.Name()
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(name)
		}
	}()
	if err = tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("save trust store: %w", err)
	}
	if _, err = tmp.Write(Marshal(s)); err != nil {
		return fmt.Errorf("save trust store: %w", err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("save trust store: %w", err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("save trust store: %w", err)
	}
	if err = os.Rename(name, path); err != nil {
		return fmt.Errorf("save trust store: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return nil // renamed; durability of the rename is best effort here
	}
	d.Sync()
	d.Close()
	return nil
}
