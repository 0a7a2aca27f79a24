package hygiene

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/pilot-go/pilot/internal/testvec"
)

// vectorDigests pins the golden vectors to the specification's copies. The
// files in testdata/vectors/ must stay byte-identical to the spec's vectors;
// a clone of this repository has no access to the spec folder, so the SHA-256
// of each file as published is recorded here. Never update a digest to make
// a test pass: a mismatch means the copy was edited.
var vectorDigests = map[string]string{
	"packets.json":       "e5ce8db64b43d21644c7e11a1cd0939bb1eddee1577f5eaf682dfcd41de9d5e5",
	"registry_auth.json": "5cc53360903f7d5d28fa50871f64fae8eada9be93637399e2a9781fcf4fbb1bb",
	"services.json":      "582979f654def453edcbc949fc80b20e551a9f7f9fdc1114d8507f67eae480ac",
	"streams.json":       "e952e118359d1c664fdbac6f97594bb98e13c508cb81219b465f04868cf3d450",
	"tunnel.json":        "f7b3d1b33dc9998893ace45d922079ff58c6106230d0840cce7e345547e6c1b4",
}

func TestVectorsAreThePublishedCopies(t *testing.T) {
	dir := filepath.Join(testvec.Root(t), "testdata", "vectors")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	if len(names) != len(vectorDigests) {
		t.Errorf("testdata/vectors holds %v; want exactly the %d published files", names, len(vectorDigests))
	}
	for name, want := range vectorDigests {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		sum := sha256.Sum256(data)
		if got := hex.EncodeToString(sum[:]); got != want {
			t.Errorf("%s was modified: sha256 %s, published %s", name, got, want)
		}
	}
}

// TestEveryVectorFileIsUsed checks that each vector file is loaded by at
// least one test outside this package.
func TestEveryVectorFileIsUsed(t *testing.T) {
	used := map[string]bool{}
	for _, f := range goFiles(t) {
		if !strings.HasSuffix(f, "_test.go") || strings.Contains(f, filepath.Join("internal", "hygiene")) {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for name := range vectorDigests {
			if strings.Contains(string(src), `"`+name+`"`) {
				used[name] = true
			}
		}
	}
	for name := range vectorDigests {
		if !used[name] {
			t.Errorf("no test loads %s", name)
		}
	}
}
