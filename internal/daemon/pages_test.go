package daemon

import (
	"encoding/json"
	"testing"
)

// FuzzSplitPage: registry list replies are parsed without panicking, and a
// page that parses re-encodes to an object that parses to the same items
// and cursor.
func FuzzSplitPage(f *testing.F) {
	f.Add([]byte(`{"type":"list_nodes_ok","nodes":[{"node_id":5}],"next_cursor":"abc"}`), "nodes")
	f.Add([]byte(`{"type":"list_networks_ok","networks":[]}`), "networks")
	f.Add([]byte(`{"invites":null}`), "invites")
	f.Add([]byte(`[1,2]`), "nodes")
	f.Add([]byte(`{"nodes":{"a":1}}`), "nodes")
	f.Fuzz(func(t *testing.T, body []byte, key string) {
		obj, items, next, err := splitPage(body, key)
		if out, werr := withoutType(body, map[string]any{"network_id": 1}); werr == nil && !json.Valid(out) {
			t.Fatalf("withoutType produced invalid JSON %s", out)
		}
		if err != nil {
			return
		}
		arr, merr := json.Marshal(items)
		if merr != nil {
			t.Fatal(merr)
		}
		obj[key] = arr
		again, merr := json.Marshal(obj)
		if merr != nil {
			t.Fatal(merr)
		}
		_, items2, next2, err := splitPage(again, key)
		if err != nil || len(items2) != len(items) || next2 != next {
			t.Fatalf("round trip: %d items %q -> %d items %q (%v)", len(items), next, len(items2), next2, err)
		}
	})
}
