package cli

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// fileConfig is ~/.pilot/config.json (cli.md §4.1): the socket, an admin
// token and defaults for `daemon start`. Flags and environment win over it.
// Unknown keys are kept (raw) so that `webhook set` can rewrite the file
// without losing them.
type fileConfig struct {
	path string                     // "" when there is no home directory
	raw  map[string]json.RawMessage // nil when the file does not exist
}

// pilotDir returns ~/.pilot, or "" without a home directory.
func pilotDir(getenv func(string) string) string {
	home := getenv("HOME")
	if home == "" {
		return ""
	}
	return filepath.Join(home, ".pilot")
}

// loadConfig reads ~/.pilot/config.json; a missing file is an empty config,
// an unreadable or malformed one an invalid_argument error naming it.
func loadConfig(getenv func(string) string) (fileConfig, error) {
	dir := pilotDir(getenv)
	if dir == "" {
		return fileConfig{}, nil
	}
	c := fileConfig{path: filepath.Join(dir, "config.json")}
	b, err := os.ReadFile(c.path)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, errorf(codeInvalidArgument, "read %s: %v", c.path, err)
	}
	if err := json.Unmarshal(b, &c.raw); err != nil || c.raw == nil {
		return c, errorf(codeInvalidArgument, "%s is not a JSON object", c.path)
	}
	return c, nil
}

// str returns string key k, or "" when absent or not a string.
func (c fileConfig) str(k string) string {
	var s string
	if json.Unmarshal(c.raw[k], &s) != nil {
		return ""
	}
	return s
}

// update sets (or, with a nil value, deletes) keys and rewrites the file
// with mode 0600, but only when the file exists (cli.md §4.9).
func (c fileConfig) update(kv map[string]any) error {
	if c.raw == nil {
		return nil
	}
	for k, v := range kv {
		if v == nil {
			delete(c.raw, k)
			continue
		}
		b, err := encodeJSON(v)
		if err != nil {
			return err
		}
		c.raw[k] = b
	}
	b, err := json.MarshalIndent(c.raw, "", "  ")
	if err != nil {
		return err
	}
	tmp := c.path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, c.path)
}
