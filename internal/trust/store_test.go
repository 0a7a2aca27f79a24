package trust

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/identity"
)

const sampleFile = `{
  "trusted": [
    {
      "node_id": 686,
      "public_key": "PUB686",
      "approved_at": "2026-03-27T10:15:03Z",
      "mutual": true,
      "network": 1
    },
    {
      "node_id": 700,
      "public_key": "PUB700",
      "approved_at": "2026-03-28T00:00:00Z",
      "mutual": false
    }
  ],
  "pending": [
    {
      "node_id": 687,
      "public_key": "PUB687",
      "justification": "summarise papers",
      "received_at": "2026-03-27T10:16:00Z"
    },
    {
      "node_id": 688,
      "received_at": "2026-03-27T10:17:00Z"
    }
  ]
}`

func sampleState() State {
	at := func(s string) time.Time { t, _ := time.Parse(time.RFC3339, s); return t }
	return State{
		Trusted: []Entry{
			{NodeID: 686, PublicKey: "PUB686", ApprovedAt: at("2026-03-27T10:15:03Z"), Mutual: true, Network: 1},
			{NodeID: 700, PublicKey: "PUB700", ApprovedAt: at("2026-03-28T00:00:00Z")},
		},
		Pending: []PendingEntry{
			{NodeID: 687, PublicKey: "PUB687", Justification: "summarise papers", ReceivedAt: at("2026-03-27T10:16:00Z")},
			{NodeID: 688, ReceivedAt: at("2026-03-27T10:17:00Z")},
		},
	}
}

// services.md §5.6: trust.json in the original format, both directions.
func TestTrustFileRoundTrip(t *testing.T) {
	if got := Marshal(sampleState()); string(got) != sampleFile {
		t.Errorf("Marshal:\n%s\nwant\n%s", got, sampleFile)
	}
	s, err := Unmarshal([]byte(sampleFile))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s, sampleState()) {
		t.Errorf("Unmarshal: %+v", s)
	}
	// Original files: unknown keys ignored, compact form accepted.
	orig := `{"trusted":[{"node_id":5,"public_key":"K","approved_at":"2026-01-02T03:04:05+01:00","mutual":false,"extra":1}],"pending":null}`
	s, err = Unmarshal([]byte(orig))
	if err != nil || len(s.Trusted) != 1 || s.Trusted[0].ApprovedAt.Unix() != 1767319445 {
		t.Errorf("original file: %+v %v", s, err)
	}
	if got := string(Marshal(State{})); got != "{\n  \"trusted\": [],\n  \"pending\": []\n}" {
		t.Errorf("empty state: %s", got)
	}
	for _, bad := range []string{`{`, `{"trusted":[{"node_id":1,"approved_at":"yesterday"}]}`,
		`{"pending":[{"node_id":1,"received_at":""}]}`, `{"trusted":[{"node_id":-1}]}`} {
		if _, err := Unmarshal([]byte(bad)); !errors.Is(err, ErrCorrupt) {
			t.Errorf("Unmarshal(%s): %v", bad, err)
		}
	}
}

func TestTrustFileSaveLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", FileName)
	if s, err := Load(path); err != nil || len(s.Trusted)+len(s.Pending) != 0 {
		t.Fatalf("missing file: %+v %v", s, err)
	}
	if err := Save(path, sampleState()); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode().Perm())
	}
	s, err := Load(path)
	if err != nil || !reflect.DeepEqual(s, sampleState()) {
		t.Errorf("Load: %+v %v", s, err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
	os.WriteFile(path, []byte("{broken"), 0o600)
	if _, err := Load(path); !errors.Is(err, ErrCorrupt) {
		t.Errorf("corrupt file: %v", err)
	}
	_, err = New(Config{Path: path, Self: func() addr.NodeID { return 1 },
		Identity: func() *identity.Identity { return nil }, Registry: &nodeRegistry{}})
	if err == nil {
		t.Error("manager started on a corrupt trust store")
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, []byte("{broken")) {
		t.Error("corrupt trust store overwritten")
	}
}

// The state machine persists: a restarted manager sees the same trust and
// pending entries.
func TestManagerPersists(t *testing.T) {
	w := newWorld(t)
	path := filepath.Join(t.TempDir(), FileName)
	a := w.add(1, true, func(c *Config) { c.Path = path })
	w.add(2, true, nil)
	w.add(3, true, nil)
	a.m.Approve(ctx, 2)
	w.nodes[3].m.Request(ctx, 1, "hello")
	before := a.m.Snapshot()
	again, err := New(Config{Path: path, Self: func() addr.NodeID { return 1 },
		Identity: func() *identity.Identity { return w.identity(1) }, Registry: &nodeRegistry{w: w, self: 1}})
	if err != nil {
		t.Fatal(err)
	}
	after := again.Snapshot()
	for i := range before.Pending {
		before.Pending[i].Relayed = false
	}
	if !reflect.DeepEqual(before, after) || !again.IsTrusted(2) || len(after.Pending) != 1 {
		t.Errorf("after restart %+v, want %+v", after, before)
	}
}

func FuzzTrustFile(f *testing.F) {
	f.Add([]byte(sampleFile))
	f.Add([]byte(`{"trusted":[],"pending":[]}`))
	f.Add([]byte(`{"trusted":[{"node_id":5,"approved_at":"2026-01-02T03:04:05+01:00"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Unmarshal(data)
		if err != nil {
			return
		}
		again, err := Unmarshal(Marshal(s))
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if !bytes.Equal(Marshal(again), Marshal(s)) {
			t.Fatalf("round trip changed the state")
		}
	})
}
