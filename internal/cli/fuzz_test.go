package cli

import (
	"encoding/json"
	"testing"
)

// FuzzStripType: never panics; on a JSON object the result is a valid JSON
// object without a top-level "type", and stripping is idempotent.
func FuzzStripType(f *testing.F) {
	for _, s := range []string{`{"type":"set_hostname_ok","node_id":685,"hostname":"alpha"}`, `{}`, `[]`, `{"a":{"type":1}}`,
		`{"type":"x","type":"y"}`, `{"a":"\u2028<&>"}`, `nul`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := stripType(b)
		if err != nil {
			return
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatalf("stripType(%q) = %q: %v", b, out, err)
		}
		if _, ok := m["type"]; ok {
			t.Fatalf("stripType(%q) kept type: %q", b, out)
		}
		again, err := stripType(out)
		if err != nil || string(again) != string(out) {
			t.Fatalf("not idempotent: %q → %q (%v)", out, again, err)
		}
	})
}

// FuzzParseDuration: never panics and never returns a negative duration.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"90d", "1.5d", "36h", "5m", "-1h", "d", "1e9d", "NaNd", "Infd"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if d, err := parseDuration(s); err == nil && d < 0 {
			t.Fatalf("parseDuration(%q) = %v", s, d)
		}
	})
}

// FuzzParsePorts: never panics; accepted lists contain only 1..65535.
func FuzzParsePorts(f *testing.F) {
	for _, s := range []string{"80,443,7", "0", "65536", " 1 , 2", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ports, err := parsePorts(s)
		if err != nil {
			return
		}
		for _, p := range ports {
			if p == 0 {
				t.Fatalf("parsePorts(%q) accepted port 0", s)
			}
		}
	})
}
