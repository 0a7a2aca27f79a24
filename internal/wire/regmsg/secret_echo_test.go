package regmsg

import (
	"encoding/json"
	"errors"
	"sort"
	"strings"
	"testing"
)

// noEchoFields are the request fields whose values an error message must
// never quote (registry.md §4.1: messages "MUST NOT contain tokens,
// signatures or key material"; §14 item 14: never a token, nonce or
// signature). Public keys are public information (§7.3) but are key
// material, so they are not quoted either.
var noEchoFields = []string{
	"admin_token", "network_admin_token", "token",
	"nonce", "signature", "new_key_signature",
	"public_key", "new_public_key",
}

const echoMarker = "MARKER-7f3a9c"

// TestSecretsNeverEchoedOnWrongType: for every request type and every
// no-echo field the type carries (taken from sampleRequests, which holds
// every field of every type), a value of the wrong JSON type that holds a
// recognisable marker is refused with invalid_argument; the message names
// the field and the expected type and does not contain the marker.
func TestSecretsNeverEchoedOnWrongType(t *testing.T) {
	wrong := []struct {
		name, json, marker string
	}{
		{"array", `["` + echoMarker + `"]`, echoMarker},
		{"object", `{"` + echoMarker + `":"` + echoMarker + `"}`, echoMarker},
		{"nested", `[{"k":["` + echoMarker + `"]}]`, echoMarker},
		{"number", `271828182845904`, "271828182845904"},
		{"fraction", `-3.14159e-7`, "3.14159"},
		{"bool", `true`, "true"},
	}
	samples := samplesByType(t)
	seen := map[string]bool{}
	for _, typ := range sortedTypes() {
		sample, ok := samples[typ]
		if !ok {
			t.Fatalf("no sample request for type %s", typ)
		}
		for _, field := range noEchoFields {
			if _, ok := sample[field]; !ok {
				continue
			}
			seen[field] = true
			for _, w := range wrong {
				body := withField(t, sample, field, w.json)
				_, err := DecodeRequest(body)
				var e *Error
				if !errors.As(err, &e) || e.Code != CodeInvalidArgument {
					t.Errorf("%s.%s = %s: got %v, want invalid_argument", typ, field, w.name, err)
					continue
				}
				if !strings.Contains(e.Message, field+" must be a string") {
					t.Errorf("%s.%s = %s: message %q does not name the field and its type", typ, field, w.name, e.Message)
				}
				if strings.Contains(e.Message, w.marker) || strings.Contains(err.Error(), w.marker) {
					t.Errorf("%s.%s = %s: message %q echoes the value", typ, field, w.name, e.Message)
				}
			}
		}
	}
	for _, f := range noEchoFields {
		if !seen[f] {
			t.Errorf("no request type carries %s: the sample requests are incomplete", f)
		}
	}
}

// TestSecretsNeverEchoedOnBadString: string values that break a field's
// rule (control characters, length, key syntax) are not quoted either.
func TestSecretsNeverEchoedOnBadString(t *testing.T) {
	samples := samplesByType(t)
	bad := []string{
		`"` + echoMarker + `\u0001"`,
		`"` + echoMarker + strings.Repeat("x", 600) + `"`,
		`"` + echoMarker + `=="`,
	}
	for _, typ := range sortedTypes() {
		sample := samples[typ]
		for _, field := range noEchoFields {
			if _, ok := sample[field]; !ok {
				continue
			}
			for _, v := range bad {
				_, err := DecodeRequest(withField(t, sample, field, v))
				if err != nil && strings.Contains(err.Error(), echoMarker) {
					t.Errorf("%s.%s = %.30s…: message %q echoes the value", typ, field, v, err)
				}
			}
		}
	}
}

func sortedTypes() []string {
	types := Types()
	sort.Strings(types)
	return types
}

// samplesByType indexes sampleRequests by type, as raw fields.
func samplesByType(t *testing.T) map[string]map[string]json.RawMessage {
	t.Helper()
	out := map[string]map[string]json.RawMessage{}
	for _, s := range sampleRequests() {
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			t.Fatalf("sample %s: %v", s, err)
		}
		var typ string
		if err := json.Unmarshal(m["type"], &typ); err != nil {
			t.Fatal(err)
		}
		mustDecode(t, s) // the sample itself is valid
		out[typ] = m
	}
	return out
}

// withField returns sample with field set to the raw JSON value v.
func withField(t *testing.T, sample map[string]json.RawMessage, field, v string) []byte {
	t.Helper()
	m := make(map[string]json.RawMessage, len(sample))
	for k, x := range sample {
		m[k] = x
	}
	m[field] = json.RawMessage(v)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
