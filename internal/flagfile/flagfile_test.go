package flagfile

import (
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type vals struct {
	name    string
	on      bool
	count   int
	big     uint64
	ratio   float64
	wait    time.Duration
	peers   string
	funcArg string
}

func flags() (*flag.FlagSet, *vals) {
	v := &vals{}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&v.name, "name", "", "")
	fs.BoolVar(&v.on, "on", false, "")
	fs.IntVar(&v.count, "count", 0, "")
	fs.Uint64Var(&v.big, "big-id", 0, "")
	fs.Float64Var(&v.ratio, "ratio", 0, "")
	fs.DurationVar(&v.wait, "wait", 0, "")
	fs.StringVar(&v.peers, "peers", "", "")
	fs.Func("san", "", func(s string) error { v.funcArg = s; return nil })
	fs.String("config", "", "")
	return fs, v
}

var rules = Rules{Lists: []string{"peers", "san"}, Refuse: []string{"config"}}

func write(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "c.json")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestApplySetsEveryKind(t *testing.T) {
	fs, v := flags()
	body := `{"name": "x", "on": true, "count": 7, "big_id": 18446744073709551615, "ratio": 0.5,
		"wait": "90s", "peers": ["a:1", "b:2", 3], "san": "h1,h2"}`
	if err := Apply(fs, write(t, body), rules); err != nil {
		t.Fatal(err)
	}
	want := vals{name: "x", on: true, count: 7, big: 1<<64 - 1, ratio: 0.5, wait: 90 * time.Second, peers: "a:1,b:2,3", funcArg: "h1,h2"}
	if *v != want {
		t.Fatalf("got %+v, want %+v", *v, want)
	}
}

func TestApplySkipChecksButDoesNotSet(t *testing.T) {
	fs, v := flags()
	skip := rules
	skip.Skip = func(name string) bool { return name == "count" }
	if err := Apply(fs, write(t, `{"count": 5, "name": "y"}`), skip); err != nil {
		t.Fatal(err)
	}
	if v.count != 0 || v.name != "y" {
		t.Fatalf("count %d (want 0: skipped), name %q (want y)", v.count, v.name)
	}
	// A skipped key is still type-checked.
	if err := Apply(fs, write(t, `{"count": "5"}`), skip); err == nil {
		t.Fatal("a skipped key of the wrong type was accepted")
	}
}

// cli.md §0 and §5 item 5: an unknown key, a wrong value type or an
// unreadable file is an error naming the key.
func TestApplyErrorsNameTheKey(t *testing.T) {
	for body, want := range map[string]string{
		`{"name": "x", "colour": 1}`: `unknown key "colour"`,
		`{"config": "x.json"}`:       `unknown key "config"`,
		`{"on": "true"}`:             `key "on": want a boolean, got a string`,
		`{"count": "5"}`:             `key "count": want an integer, got a string`,
		`{"count": 1.5}`:             `key "count": want an integer, got a number`,
		`{"big_id": -1}`:             `key "big_id": invalid value "-1"`,
		`{"ratio": true}`:            `key "ratio": want a number, got a boolean`,
		`{"wait": 30}`:               `key "wait": want a duration string such as "30s", got a number`,
		`{"wait": "soon"}`:           `key "wait": invalid value "soon"`,
		`{"name": null}`:             `key "name": want a string, got null`,
		`{"name": ["a"]}`:            `key "name": want a string, got an array`,
		`{"name": {"a": 1}}`:         `key "name": want a string, got an object`,
		`{"peers": [true]}`:          `key "peers": want an array of strings or integers, element 0 is a boolean`,
		`{"peers": [1.5]}`:           `key "peers": want an array of strings or integers, element 0 is the number 1.5`,
		`{"peers": 4}`:               `key "peers": want an array or a comma-separated string, got a number`,
		`[1, 2]`:                     "want one flat JSON object",
		`null`:                       "want one flat JSON object, got null",
		`{} {}`:                      "trailing data",
	} {
		fs, _ := flags()
		path := write(t, body)
		err := Apply(fs, path, rules)
		if err == nil || !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), want) ||
			!strings.HasPrefix(err.Error(), "config file "+path+": ") {
			t.Errorf("%s: err %v, want \"config file %s: …%s…\"", body, err, path, want)
		}
	}
	fs, _ := flags()
	err := Apply(fs, "/nonexistent/c.json", rules)
	if err == nil || err.Error() != "config file /nonexistent/c.json: no such file or directory" {
		t.Fatalf("unreadable file: %v", err)
	}
}

// The first error is the same whatever the map order: keys go in order.
func TestApplyFirstErrorIsDeterministic(t *testing.T) {
	for range 20 {
		fs, _ := flags()
		err := Apply(fs, write(t, `{"zeta": 1, "alpha": 1, "mid": 1}`), rules)
		if err == nil || !strings.Contains(err.Error(), `"alpha"`) {
			t.Fatalf("err %v, want the first key in order (alpha)", err)
		}
	}
}

// FuzzApply: any file content yields nil or an ErrConfig error, never a
// panic.
func FuzzApply(f *testing.F) {
	f.Add(`{"name": "x", "on": true, "count": 7, "peers": ["a", 1]}`)
	f.Add(`{"wait": "1s", "big_id": 1e3}`)
	f.Add(`[]`)
	f.Fuzz(func(t *testing.T, body string) {
		fs, _ := flags()
		if err := ApplyBytes(fs, "c.json", []byte(body), rules); err != nil && !errors.Is(err, ErrConfig) {
			t.Fatalf("error %v does not wrap ErrConfig", err)
		}
	})
}
