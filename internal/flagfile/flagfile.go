// Package flagfile applies a program's -config file to its flag set, the
// one reading of cli.md §0 that pilot-registry, pilot-beacon and
// pilot-daemon share:
//
//	"Each daemon program accepts -config FILE: a flat JSON object whose keys
//	are flag names (- or _ between words), values JSON strings, numbers or
//	booleans (lists also as JSON arrays). Precedence: command-line flag >
//	environment variable (where one is listed) > config file > default. An
//	unknown key, a wrong value type or an unreadable file is a start-up
//	error (exit 2) naming the key."
//
// The JSON type a key takes follows its flag, found through flag.Getter:
// a boolean for a boolean flag, an integer for an integer flag, a number
// for a float flag, a string for every other flag (durations as "30s").
// List flags, which the caller names, take a JSON array of strings or
// integers (joined with commas) or one comma-separated string. Every key
// is checked, even one whose flag the command line already set; only the
// application is skipped, so a broken file never starts a program.
package flagfile

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Rules says how a program's flags map to config keys.
type Rules struct {
	// Lists names the list flags (comma-separated values).
	Lists []string
	// Refuse names flags that are not valid keys (config, version...).
	Refuse []string
	// Skip reports the flags set with higher precedence (command line,
	// environment): their keys are checked but not applied. Nil skips none.
	Skip func(name string) bool
}

// ErrConfig is wrapped by every error of Apply.
var ErrConfig = errors.New("config file")

// Apply reads the JSON object in path and sets its keys through fs. Errors
// wrap ErrConfig and read "config file PATH: ..." naming the key.
func Apply(fs *flag.FlagSet, path string, r Rules) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("%w %s: %v", ErrConfig, path, unwrapPath(err))
	}
	return ApplyBytes(fs, path, data, r)
}

// ApplyBytes is Apply on the file's content; path only names it in
// errors.
func ApplyBytes(fs *flag.FlagSet, path string, data []byte, r Rules) error {
	obj, err := decodeObject(data)
	if err != nil {
		return fmt.Errorf("%w %s: %v", ErrConfig, path, err)
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys) // the first error is the same on every run
	for _, key := range keys {
		name := strings.ReplaceAll(key, "_", "-")
		f := fs.Lookup(name)
		if f == nil || slices.Contains(r.Refuse, name) {
			return fmt.Errorf("%w %s: unknown key %q", ErrConfig, path, key)
		}
		val, err := valueString(f, slices.Contains(r.Lists, name), obj[key])
		if err != nil {
			return fmt.Errorf("%w %s: key %q: %v", ErrConfig, path, key, err)
		}
		if r.Skip != nil && r.Skip(name) {
			continue
		}
		if err := fs.Set(name, val); err != nil {
			return fmt.Errorf("%w %s: key %q: invalid value %q: %v", ErrConfig, path, key, val, err)
		}
	}
	return nil
}

// decodeObject parses exactly one JSON object, numbers kept as text.
func decodeObject(data []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		return nil, fmt.Errorf("want one flat JSON object: %v", err)
	}
	if obj == nil {
		return nil, errors.New("want one flat JSON object, got null")
	}
	if dec.More() {
		return nil, errors.New("want one flat JSON object: trailing data after it")
	}
	return obj, nil
}

// valueString checks a JSON value against the flag's type and renders it
// for flag.Value.Set.
func valueString(f *flag.Flag, list bool, val any) (string, error) {
	var kind any = ""
	if g, ok := f.Value.(flag.Getter); ok {
		kind = g.Get()
	}
	switch kind.(type) {
	case bool:
		if b, ok := val.(bool); ok {
			return strconv.FormatBool(b), nil
		}
		return "", fmt.Errorf("want a boolean, got %s", jsonKind(val))
	case int, int64, uint, uint64:
		if n, ok := val.(json.Number); ok && isInteger(n) {
			return n.String(), nil
		}
		return "", fmt.Errorf("want an integer, got %s", jsonKind(val))
	case float64:
		if n, ok := val.(json.Number); ok {
			return n.String(), nil
		}
		return "", fmt.Errorf("want a number, got %s", jsonKind(val))
	case time.Duration:
		if s, ok := val.(string); ok {
			return s, nil
		}
		return "", fmt.Errorf("want a duration string such as \"30s\", got %s", jsonKind(val))
	}
	switch v := val.(type) {
	case string:
		return v, nil
	case []any:
		if !list {
			break
		}
		parts := make([]string, len(v))
		for i, e := range v {
			switch x := e.(type) {
			case string:
				parts[i] = x
			case json.Number:
				if !isInteger(x) {
					return "", fmt.Errorf("want an array of strings or integers, element %d is the number %s", i, x)
				}
				parts[i] = x.String()
			default:
				return "", fmt.Errorf("want an array of strings or integers, element %d is %s", i, jsonKind(e))
			}
		}
		return strings.Join(parts, ","), nil
	}
	if list {
		return "", fmt.Errorf("want an array or a comma-separated string, got %s", jsonKind(val))
	}
	return "", fmt.Errorf("want a string, got %s", jsonKind(val))
}

func isInteger(n json.Number) bool {
	s := n.String()
	if _, err := strconv.ParseInt(s, 10, 64); err == nil {
		return true
	}
	_, err := strconv.ParseUint(s, 10, 64)
	return err == nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	default:
		return "an object"
	}
}

// unwrapPath drops the path os.ReadFile repeats in its error.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
