package dataexchange

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/pilot-go/pilot/internal/wire/svcmsg/dataex"
	whmsg "github.com/pilot-go/pilot/internal/wire/svcmsg/webhook"
)

// maxDup bounds the -1, -2, … suffixes tried for one name.
const maxDup = 10000

// errDiskFull refuses a save that would leave too little free space.
var errDiskFull = errors.New(dataex.ReasonDiskFull)

// inboxRecord is the stored form of a TEXT, BINARY or JSON frame, keys in
// the order of §3.2 step 3.
type inboxRecord struct {
	Type       string          `json:"type"`
	From       string          `json:"from"`
	Data       json.RawMessage `json:"data"`
	Bytes      int             `json:"bytes"`
	ReceivedAt string          `json:"received_at"`
}

// saveFile stores a FILE frame under received/.
func (s *Service) saveFile(file dataex.File) dataex.Reply {
	stored := dataex.SanitizeFileName(file.Name)
	size := uint32(len(file.Data))
	at := s.now()
	path, err := s.store(ReceivedDir, file.Data, func(dup int) string {
		return dataex.ReceivedFileName(stored, at, dup)
	})
	if err != nil {
		return failReply(dataex.TypeFile, err)
	}
	s.emit("file.received", whmsg.Fields{
		{Key: "filename", Value: stored},
		{Key: "size", Value: size},
		{Key: "path", Value: path},
	})
	return dataex.Ack(dataex.TypeFile, size)
}

// saveMessage stores a TEXT, BINARY or JSON frame under inbox/.
func (s *Service) saveMessage(f dataex.Frame, from string) dataex.Reply {
	var data []byte
	switch f.Type {
	case dataex.TypeText:
		data = marshalNoEscape(string(f.Payload))
	case dataex.TypeBinary:
		data = marshalNoEscape(base64.StdEncoding.EncodeToString(f.Payload))
	case dataex.TypeJSON:
		if !json.Valid(f.Payload) {
			return dataex.Err(f.Type, dataex.ReasonInvalidJSON)
		}
		var buf bytes.Buffer
		_ = json.Compact(&buf, f.Payload) // valid input always compacts
		data = buf.Bytes()
	}
	at := s.now()
	rec := inboxRecord{
		Type:       f.Type.String(),
		From:       from,
		Data:       data,
		Bytes:      len(f.Payload),
		ReceivedAt: at.UTC().Format(time.RFC3339Nano),
	}
	body := marshalNoEscape(rec)
	if _, err := s.store(InboxDir, body, func(dup int) string {
		return dataex.InboxFileName(f.Type, at, dup)
	}); err != nil {
		return failReply(f.Type, err)
	}
	s.emit("message.received", whmsg.Fields{
		{Key: "type", Value: f.Type.String()},
		{Key: "from", Value: from},
		{Key: "size", Value: len(f.Payload)},
	})
	return dataex.Ack(f.Type, uint32(len(f.Payload)))
}

// marshalNoEscape encodes v compactly without HTML escaping; v is always
// encodable here.
func marshalNoEscape(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// failReply maps a save error to its reply; the peer sees the operation
// and the system error, not the daemon's paths.
func failReply(t dataex.Type, err error) dataex.Reply {
	if errors.Is(err, errDiskFull) {
		return dataex.Err(t, dataex.ReasonDiskFull)
	}
	var pe *fs.PathError
	var le *os.LinkError
	switch {
	case errors.As(err, &pe):
		err = fmt.Errorf("%s: %w", pe.Op, pe.Err)
	case errors.As(err, &le):
		err = fmt.Errorf("%s: %w", le.Op, le.Err)
	}
	return dataex.Err(t, dataex.SaveFailed(err))
}

// checkFree refuses writing n bytes into dir when less than MinFreeBytes
// would stay free.
func (s *Service) checkFree(dir string, n int) error {
	minFree := s.MinFreeBytes
	if minFree < 0 {
		return nil
	}
	if minFree == 0 {
		minFree = DefaultMinFreeBytes
	}
	free := s.FreeBytes
	if free == nil {
		free = freeBytes
	}
	avail, err := free(dir)
	if errors.Is(err, errUnsupported) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("free space: %w", err)
	}
	if avail < uint64(n) || avail-uint64(n) < uint64(minFree) {
		return errDiskFull
	}
	return nil
}

// store writes data durably to <StateDir>/<sub>/<name(dup)> for the first
// dup whose name is free: a temporary file, fsynced, renamed, then the
// directory fsynced. It returns the final path.
func (s *Service) store(sub string, data []byte, name func(dup int) string) (string, error) {
	dir := filepath.Join(s.StateDir, sub)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	if err := s.checkFree(dir, len(data)); err != nil {
		return "", err
	}
	// Stored names never start with a dot, so the temporary name cannot
	// collide with one.
	tmp, err := os.CreateTemp(dir, ".incoming-*")
	if err != nil {
		return "", err
	}
	tmpName := tmp.Name()
	renamed := false
	defer func() {
		if !renamed {
			_ = os.Remove(tmpName)
		}
	}()
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", err
	}
	s.nameMu.Lock()
	defer s.nameMu.Unlock()
	for dup := 0; dup <= maxDup; dup++ {
		final := filepath.Join(dir, name(dup))
		_, err := os.Lstat(final)
		if err == nil {
			continue
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		if err := os.Rename(tmpName, final); err != nil {
			return "", err
		}
		renamed = true
		return final, syncDir(dir)
	}
	return "", fmt.Errorf("no free name after %d attempts", maxDup)
}

// syncDir fsyncs a directory so that a rename inside it is durable.
func syncDir(dir string) error {
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
