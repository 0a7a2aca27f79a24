// Package testvec loads the golden test vectors of the protocol
// specification for tests.
//
// The vectors live once, byte-identical to the specification's copies, in
// testdata/vectors/ at the repository root; every package's tests read them
// through this helper instead of keeping copies of their own. The package is
// imported only by _test.go files.
package testvec

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Root returns the repository root: the nearest ancestor of the working
// directory (a package directory under go test) that holds go.mod.
func Root(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("testvec: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("testvec: no go.mod above the working directory")
		}
		dir = parent
	}
}

// Path returns the path of a vector file such as "packets.json".
func Path(t testing.TB, name string) string {
	t.Helper()
	return filepath.Join(Root(t), "testdata", "vectors", name)
}

// Load decodes the vector file name into v. Unknown fields are rejected so a
// test notices when the vectors grow entries it does not exercise.
func Load(t testing.TB, name string, v any) {
	t.Helper()
	data, err := os.ReadFile(Path(t, name))
	if err != nil {
		t.Fatalf("testvec: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("testvec: decode %s: %v", name, err)
	}
}

// Hex decodes a hex string from a vector, failing the test on bad input.
func Hex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("testvec: bad hex %q: %v", s, err)
	}
	return b
}
