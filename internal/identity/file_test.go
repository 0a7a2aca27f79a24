package identity

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func seedID(t *testing.T, b byte) *Identity {
	t.Helper()
	id, err := FromSeed(bytes.Repeat([]byte{b}, SeedSize))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func mode(t *testing.T, path string) fs.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// TestFileFormat: cli.md §3.2, the original's two-key object with two-space
// indentation, private_key = seed ‖ public key.
func TestFileFormat(t *testing.T) {
	id := seedID(t, 9)
	priv := base64.StdEncoding.EncodeToString(id.PrivateKey())
	want := "{\n  \"private_key\": \"" + priv + "\",\n  \"public_key\": \"" + id.PublicKeyBase64() + "\"\n}"
	if got := string(MarshalFile(id)); got != want {
		t.Fatalf("file\n%s\nwant\n%s", got, want)
	}
	// Compact and reordered forms written by other tools load too.
	compact := `{"public_key":"` + id.PublicKeyBase64() + `","private_key":"` + priv + `","extra":1}`
	back, err := ParseFile([]byte(compact))
	if err != nil || !bytes.Equal(back.PrivateKey(), id.PrivateKey()) {
		t.Fatalf("ParseFile(compact) = %v", err)
	}
}

// TestCLI_6_IdentityPersistent: created 0600 in a created 0700 directory,
// then loaded unchanged.
func TestCLI_6_IdentityPersistent(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state", "pilot")
	path := filepath.Join(dir, "identity.json")
	id, created, err := LoadOrCreate(path)
	if err != nil || !created {
		t.Fatalf("LoadOrCreate = %v, created %v", err, created)
	}
	if m := mode(t, path); m != 0o600 {
		t.Fatalf("file mode %04o, want 0600", m)
	}
	if m := mode(t, dir); m != 0o700 {
		t.Fatalf("dir mode %04o, want 0700", m)
	}
	again, created, err := LoadOrCreate(path)
	if err != nil || created {
		t.Fatalf("second LoadOrCreate = %v, created %v", err, created)
	}
	if again.PublicKeyBase64() != id.PublicKeyBase64() {
		t.Fatal("identity changed across loads")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("directory holds %d entries, want only identity.json (temporary file left?)", len(entries))
	}
	if err := CheckPermissions(path); err != nil {
		t.Fatal(err)
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "id.json")
	id := seedID(t, 4)
	if err := Save(path, id); err != nil {
		t.Fatal(err)
	}
	if m := mode(t, path); m != 0o600 {
		t.Fatalf("mode %04o", m)
	}
	got, err := Load(path)
	if err != nil || !bytes.Equal(got.PrivateKey(), id.PrivateKey()) {
		t.Fatalf("Load = %v", err)
	}
	// Save replaces, and narrows a widened mode back to 0600.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := CheckPermissions(path); !errors.Is(err, ErrInsecurePermissions) {
		t.Fatalf("CheckPermissions(0644) = %v", err)
	}
	other := seedID(t, 5)
	if err := Save(path, other); err != nil {
		t.Fatal(err)
	}
	if m := mode(t, path); m != 0o600 {
		t.Fatalf("mode after replace %04o", m)
	}
	if got, _ := Load(path); got.PublicKeyBase64() != other.PublicKeyBase64() {
		t.Fatal("Save did not replace")
	}
	// An existing directory keeps its mode.
	dir := filepath.Join(t.TempDir(), "shared")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := Save(filepath.Join(dir, "identity.json"), id); err != nil {
		t.Fatal(err)
	}
	if m := mode(t, dir); m != 0o755 {
		t.Fatalf("existing dir mode changed to %04o", m)
	}
}

func TestLoadErrors(t *testing.T) {
	a, b := seedID(t, 1), seedID(t, 2)
	privA := base64.StdEncoding.EncodeToString(a.PrivateKey())
	pubA, pubB := a.PublicKeyBase64(), b.PublicKeyBase64()
	spliced := append(bytes.Clone(a.PrivateKey()[:32]), b.PublicKey()...)
	for _, tc := range []struct {
		name, content string
		want          error
	}{
		{"empty", "", ErrMalformed},
		{"not json", "private_key=abc", ErrMalformed},
		{"array", "[]", ErrMalformed},
		{"truncated", string(MarshalFile(a))[:40], ErrMalformed},
		{"missing private_key", `{"public_key":"` + pubA + `"}`, ErrMalformed},
		{"missing public_key", `{"private_key":"` + privA + `"}`, ErrMalformed},
		{"private_key not a string", `{"private_key":5,"public_key":"` + pubA + `"}`, ErrMalformed},
		{"private_key bad base64", `{"private_key":"@@@","public_key":"` + pubA + `"}`, ErrMalformed},
		{"private_key is a seed", `{"private_key":"` + base64.StdEncoding.EncodeToString(a.PrivateKey()[:32]) + `","public_key":"` + pubA + `"}`, ErrKeyLength},
		{"public_key short", `{"private_key":"` + privA + `","public_key":"AAAA"}`, ErrKeyLength},
		{"public_key of another key", `{"private_key":"` + privA + `","public_key":"` + pubB + `"}`, ErrKeyMismatch},
		{"private_key halves mismatch", `{"private_key":"` + base64.StdEncoding.EncodeToString(spliced) + `","public_key":"` + pubB + `"}`, ErrKeyMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "identity.json")
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Load(path)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Load = %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("error %q does not name the file", err)
			}
		})
	}
	missing := filepath.Join(t.TempDir(), "none.json")
	if _, err := Load(missing); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Fatalf("Load(missing) = %v", err)
	}
	if _, err := Load(t.TempDir()); err == nil {
		t.Fatal("Load(directory) succeeded")
	}
}

// TestCLI_7_CorruptIdentityNotOverwritten: a corrupt or mismatched file is
// an error and stays byte-identical; so does an unreadable one.
func TestCLI_7_CorruptIdentityNotOverwritten(t *testing.T) {
	a, b := seedID(t, 1), seedID(t, 2)
	mismatch := `{"private_key":"` + base64.StdEncoding.EncodeToString(a.PrivateKey()) + `","public_key":"` + b.PublicKeyBase64() + `"}`
	for name, content := range map[string]string{
		"garbage":  "\x00\x01not json",
		"empty":    "",
		"mismatch": mismatch,
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "identity.json")
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			id, created, err := LoadOrCreate(path)
			if err == nil || created || id != nil {
				t.Fatalf("LoadOrCreate = %v, %v, %v", id, created, err)
			}
			if got, _ := os.ReadFile(path); string(got) != content {
				t.Fatal("corrupt identity file was modified")
			}
		})
	}
	t.Run("directory", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "identity.json")
		if err := os.Mkdir(path, 0o700); err != nil {
			t.Fatal(err)
		}
		if _, _, err := LoadOrCreate(path); err == nil {
			t.Fatal("LoadOrCreate on a directory succeeded")
		}
		if fi, err := os.Stat(path); err != nil || !fi.IsDir() {
			t.Fatal("directory in place of the identity file was replaced")
		}
	})
	if os.Geteuid() != 0 { // root reads mode-0000 files
		t.Run("unreadable", func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "identity.json")
			if err := Save(path, a); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, 0); err != nil {
				t.Fatal(err)
			}
			if _, _, err := LoadOrCreate(path); !errors.Is(err, fs.ErrPermission) {
				t.Fatalf("LoadOrCreate(unreadable) = %v", err)
			}
			os.Chmod(path, 0o600)
			if got, _ := Load(path); got == nil || got.PublicKeyBase64() != a.PublicKeyBase64() {
				t.Fatal("unreadable identity file was replaced")
			}
		})
	}
}

func TestWriteNoReplace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "identity.json")
	if err := os.WriteFile(path, []byte("existing"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := writeFile(path, []byte("new"), false); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("writeFile(no replace) over a file = %v", err)
	}
	if err := writeExclusive(path, []byte("new")); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("writeExclusive over a file = %v", err)
	}
	if got, _ := os.ReadFile(path); string(got) != "existing" {
		t.Fatal("existing file replaced")
	}
	fresh := filepath.Join(t.TempDir(), "x")
	if err := writeExclusive(fresh, []byte("data")); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(fresh); string(got) != "data" || mode(t, fresh) != 0o600 {
		t.Fatal("writeExclusive wrote the wrong content or mode")
	}
	notDir := filepath.Join(t.TempDir(), "file")
	os.WriteFile(notDir, nil, 0o600)
	if err := Save(filepath.Join(notDir, "identity.json"), seedID(t, 1)); err == nil {
		t.Fatal("Save under a regular file succeeded")
	}
}

// TestKeyRotationFiles: cli.md §4.8 steps (1), (3), (4) and (5).
func TestKeyRotationFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "identity.json")
	old, next := seedID(t, 1), seedID(t, 2)
	if err := Save(path, old); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadNext(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("LoadNext with nothing pending = %v", err)
	}
	if err := CommitNext(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("CommitNext with nothing pending = %v", err)
	}
	if err := SaveNext(path, next); err != nil {
		t.Fatal(err)
	}
	if NextPath(path) != path+".next" || mode(t, path+".next") != 0o600 {
		t.Fatal("pending key file name or mode")
	}
	if got, err := LoadNext(path); err != nil || got.PublicKeyBase64() != next.PublicKeyBase64() {
		t.Fatalf("LoadNext = %v", err)
	}
	if got, _ := Load(path); got.PublicKeyBase64() != old.PublicKeyBase64() {
		t.Fatal("SaveNext touched identity.json")
	}
	// (4) error reply: discard; twice is fine.
	if err := DiscardNext(path); err != nil {
		t.Fatal(err)
	}
	if err := DiscardNext(path); err != nil {
		t.Fatal(err)
	}
	// (3) success: commit.
	if err := SaveNext(path, next); err != nil {
		t.Fatal(err)
	}
	if err := CommitNext(path); err != nil {
		t.Fatal(err)
	}
	if got, _ := Load(path); got.PublicKeyBase64() != next.PublicKeyBase64() {
		t.Fatal("CommitNext did not install the pending key")
	}
	if _, err := os.Stat(path + ".next"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(".next still exists after CommitNext")
	}
	if m := mode(t, path); m != 0o600 {
		t.Fatalf("mode after commit %04o", m)
	}
	// A corrupt pending key is never committed.
	os.WriteFile(path+".next", []byte("{}"), 0o600)
	if err := CommitNext(path); !errors.Is(err, ErrMalformed) {
		t.Fatalf("CommitNext(corrupt) = %v", err)
	}
	if got, _ := Load(path); got.PublicKeyBase64() != next.PublicKeyBase64() {
		t.Fatal("corrupt pending key replaced identity.json")
	}
}

// FuzzParseFile: ParseFile never panics, and what it accepts marshals to a
// file that parses to the same key.
func FuzzParseFile(f *testing.F) {
	for b := byte(0); b < 3; b++ {
		id, _ := FromSeed(bytes.Repeat([]byte{b}, SeedSize))
		f.Add(MarshalFile(id))
	}
	f.Add([]byte(`{"private_key":"","public_key":""}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		id, err := ParseFile(data)
		if err != nil {
			return
		}
		back, err := ParseFile(MarshalFile(id))
		if err != nil || !bytes.Equal(back.PrivateKey(), id.PrivateKey()) {
			t.Fatalf("round trip: %v", err)
		}
	})
}
