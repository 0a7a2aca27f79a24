package identity

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// File modes of the identity file and of the directory that holds it
// (cli.md §3.1, §3.2).
const (
	FileMode fs.FileMode = 0o600
	DirMode  fs.FileMode = 0o700
)

// NextSuffix names the staging file of a key rotation: identity.json.next
// (cli.md §4.8).
const NextSuffix = ".next"

// maxFileSize bounds what Load reads; a real identity file is ~150 bytes.
const maxFileSize = 64 << 10

var (
	// ErrMalformed reports an identity file that is not the JSON object of
	// cli.md §3.2 (bad JSON, missing field, bad base64).
	ErrMalformed = errors.New("malformed identity file")
	// ErrKeyMismatch reports an identity file whose public key does not
	// belong to its private key.
	ErrKeyMismatch = errors.New("public key does not match the private key")
	// ErrInsecurePermissions reports an identity file readable or writable
	// by users other than its owner (see CheckPermissions).
	ErrInsecurePermissions = errors.New("identity file is accessible to other users")
)

// fileJSON is the on-disk object; field order is the file's key order.
type fileJSON struct {
	PrivateKey *string `json:"private_key"`
	PublicKey  *string `json:"public_key"`
}

// MarshalFile returns the identity file content of id: the original's
// format, a JSON object indented with two spaces and no trailing newline.
func MarshalFile(id *Identity) []byte {
	priv := base64.StdEncoding.EncodeToString(id.priv)
	pub := id.PublicKeyBase64()
	// Cannot fail: two strings.
	data, _ := json.MarshalIndent(fileJSON{PrivateKey: &priv, PublicKey: &pub}, "", "  ")
	return data
}

// ParseFile decodes identity file content. Both the public key stored in
// private_key (its last 32 bytes) and public_key must equal the key derived
// from the seed. Unknown keys are ignored.
func ParseFile(data []byte) (*Identity, error) {
	var f fileJSON
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if f.PrivateKey == nil {
		return nil, fmt.Errorf("%w: missing \"private_key\"", ErrMalformed)
	}
	if f.PublicKey == nil {
		return nil, fmt.Errorf("%w: missing \"public_key\"", ErrMalformed)
	}
	priv, err := decodeFixed("private_key", *f.PrivateKey, PrivateKeySize)
	if err != nil {
		return nil, fileFieldErr(err)
	}
	pub, err := decodeFixed("public_key", *f.PublicKey, PublicKeySize)
	if err != nil {
		return nil, fileFieldErr(err)
	}
	id, err := FromSeed(priv[:SeedSize])
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(priv[SeedSize:], id.priv[SeedSize:]) {
		return nil, fmt.Errorf("%w: the last 32 bytes of private_key are not the public key of its seed", ErrKeyMismatch)
	}
	if !bytes.Equal(pub, id.priv[SeedSize:]) {
		return nil, fmt.Errorf("%w: public_key %s, private key's public key %s", ErrKeyMismatch,
			*f.PublicKey, id.PublicKeyBase64())
	}
	return id, nil
}

// fileFieldErr marks a base64 failure inside the file as ErrMalformed while
// keeping ErrKeyLength distinguishable.
func fileFieldErr(err error) error {
	if errors.Is(err, ErrKeyLength) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrMalformed, err)
}

// Load reads and checks the identity file at path. Every error names the
// file; a missing file wraps fs.ErrNotExist and an unreadable one
// fs.ErrPermission. Load does not check the file's mode (CheckPermissions
// does).
func Load(path string) (*Identity, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read identity file %s: %w", path, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read identity file %s: %w", path, err)
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("identity file %s: %w: larger than %d bytes", path, ErrMalformed, maxFileSize)
	}
	id, err := ParseFile(data)
	if err != nil {
		return nil, fmt.Errorf("identity file %s: %w (fix or move the file; it is never replaced automatically)", path, err)
	}
	return id, nil
}

// Save writes id to path atomically: a temporary file in the same
// directory, created 0600, fsynced, renamed over path, then the directory
// fsynced. A missing directory is created with mode 0700.
func Save(path string, id *Identity) error {
	if err := writeFile(path, MarshalFile(id), true); err != nil {
		return fmt.Errorf("save identity file %s: %w", path, err)
	}
	return nil
}

// LoadOrCreate loads the identity at path, or generates and saves a new one
// when (and only when) the file does not exist; created reports the latter.
// An existing file is never replaced, even a corrupt one: its error is
// returned. If another process creates the file concurrently, that file
// wins and is loaded.
func LoadOrCreate(path string) (id *Identity, created bool, err error) {
	id, err = Load(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return id, false, err
	}
	id, err = Generate(nil)
	if err != nil {
		return nil, false, err
	}
	err = writeFile(path, MarshalFile(id), false)
	if errors.Is(err, fs.ErrExist) {
		id, err = Load(path)
		return id, false, err
	}
	if err != nil {
		return nil, false, fmt.Errorf("create identity file %s: %w", path, err)
	}
	return id, true, nil
}

// CheckPermissions reports, wrapping ErrInsecurePermissions, an identity
// file whose mode grants any access to group or others. The specification
// only requires creating the file 0600 and does not list a wider mode among
// the start-up errors, so callers decide (the daemon warns).
func CheckPermissions(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("identity file %s: %w", path, err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("identity file %s has mode %04o: %w (run chmod 600 %s)", path, perm, ErrInsecurePermissions, path)
	}
	return nil
}

// NextPath returns the rotation staging path of the identity file at path.
func NextPath(path string) string { return path + NextSuffix }

// SaveNext writes the pending key of a rotation to path + ".next"
// (atomically, 0600, fsynced), replacing an older pending key.
func SaveNext(path string, id *Identity) error { return Save(NextPath(path), id) }

// LoadNext loads the pending key of a rotation; it wraps fs.ErrNotExist when
// no rotation is pending.
func LoadNext(path string) (*Identity, error) { return Load(NextPath(path)) }

// CommitNext atomically replaces the identity file at path by the pending
// key (rename of path + ".next" over path, then fsync of the directory).
// The pending file is checked first; a corrupt one is not committed.
func CommitNext(path string) error {
	next := NextPath(path)
	if _, err := Load(next); err != nil {
		return fmt.Errorf("commit pending key: %w", err)
	}
	if err := os.Rename(next, path); err != nil {
		return fmt.Errorf("commit pending key %s: %w", next, err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("commit pending key %s: %w", next, err)
	}
	return nil
}

// DiscardNext deletes the pending key of a rotation; no pending key is not
// an error.
func DiscardNext(path string) error {
	next := NextPath(path)
	if err := os.Remove(next); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("discard pending key %s: %w", next, err)
	}
	return nil
}

// writeFile writes data to path through a fsynced 0600 temporary file in the
// same directory. With replace it renames over path; without, it links the
// temporary file to path, which fails with fs.ErrExist if path exists.
func writeFile(path string, data []byte, replace bool) (err error) {
	dir := filepath.Dir(path)
	if err := ensureDir(dir); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmpName := tmp.Name()
	defer func() {
		if tmp != nil {
			tmp.Close()
		}
		os.Remove(tmpName) // after a rename this finds nothing
	}()
	if err := tmp.Chmod(FileMode); err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	err, tmp = tmp.Close(), nil
	if err != nil {
		return err
	}
	if replace {
		err = os.Rename(tmpName, path)
	} else {
		err = os.Link(tmpName, path)
		if err != nil && !errors.Is(err, fs.ErrExist) {
			// Hard links unsupported here: exclusive create instead.
			err = writeExclusive(path, data)
		}
	}
	if err != nil {
		return err
	}
	return syncDir(dir)
}

// writeExclusive creates path (failing with fs.ErrExist if it exists) and
// writes data to it; on failure it removes the file it created.
func writeExclusive(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, FileMode)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}

// ensureDir creates dir with mode 0700 when it is missing. An existing
// directory keeps its mode.
func ensureDir(dir string) error {
	fi, err := os.Stat(dir)
	if err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("%s is not a directory", dir)
		}
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.MkdirAll(dir, DirMode); err != nil {
		return err
	}
	return os.Chmod(dir, DirMode) // the umask may have narrowed it oddly
}

// syncDir fsyncs a directory so a rename or link in it is durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
