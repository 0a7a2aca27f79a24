package hygiene

import (
	"bytes"
	"go/format"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pilot-go/pilot/internal/testvec"
)

const module = "github.com/pilot-go/pilot"

// goFiles returns every .go file of the repository, skipping testdata.
func goFiles(t *testing.T) []string {
	root := testvec.Root(t)
	var files []string
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if name == "testdata" || strings.HasPrefix(name, ".") && p != root {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(p, ".go") {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestGofmt(t *testing.T) {
	for _, f := range goFiles(t) {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out, err := format.Source(src)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if !bytes.Equal(out, src) {
			t.Errorf("%s is not gofmt-formatted", f)
		}
	}
}

func TestProductionFilesUnder1000Lines(t *testing.T) {
	for _, f := range goFiles(t) {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, _ := os.ReadFile(f)
		if n := bytes.Count(src, []byte("\n")); n > 1000 {
			t.Errorf("%s has %d lines; split it by responsibility", f, n)
		}
	}
}

// TestPackageDocs requires a package doc comment in every package.
func TestPackageDocs(t *testing.T) {
	documented := map[string]bool{}
	dirs := map[string]bool{}
	fset := token.NewFileSet()
	for _, f := range goFiles(t) {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		dir := filepath.Dir(f)
		dirs[dir] = true
		af, err := parser.ParseFile(fset, f, nil, parser.PackageClauseOnly|parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		if af.Doc != nil && strings.TrimSpace(af.Doc.Text()) != "" {
			documented[dir] = true
		}
	}
	for dir := range dirs {
		if !documented[dir] {
			t.Errorf("package in %s has no package doc comment", dir)
		}
	}
}

// TestWirePackagesArePure enforces that internal/wire/* imports nothing of
// this module except addr and other wire packages, and no I/O packages.
func TestWirePackagesArePure(t *testing.T) {
	root := testvec.Root(t)
	forbidden := []string{"net", "os", "os/exec", "net/http", "log", "log/slog", "syscall"}
	fset := token.NewFileSet()
	for _, f := range goFiles(t) {
		rel, _ := filepath.Rel(root, f)
		if !strings.HasPrefix(rel, filepath.Join("internal", "wire")+string(filepath.Separator)) || strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range af.Imports {
			path := strings.Trim(imp.Path.Value, `"`)
			if strings.HasPrefix(path, module+"/") {
				sub := strings.TrimPrefix(path, module+"/")
				if sub != "addr" && !strings.HasPrefix(sub, "internal/wire/") {
					t.Errorf("%s imports %s: wire codecs may import only addr and other wire packages", rel, path)
				}
			}
			for _, bad := range forbidden {
				if path == bad {
					t.Errorf("%s imports %s: wire codecs are pure (no I/O, clock or logging)", rel, path)
				}
			}
		}
	}
}
