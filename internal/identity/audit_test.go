package identity

import (
	"crypto/sha256"
	"errors"
	"slices"
	"testing"
)

func TestCanonicalAuditRow(t *testing.T) {
	row := AuditRow{
		Seq: 7, Time: "2026-03-27T10:15:03.412Z", Action: "node.deregistered", ActorNodeID: 0, AuthVia: "system",
		Attrs: []AuditAttr{
			{"node_id", uint32(42)}, {"networks", []int64{3, 1}}, {"reason", "purge"}, {"n", 5}, {"big", uint64(1) << 60},
			{"ids", []int{2}}, {"ok", true}, {"neg", int64(-1)}, {"tags", []string{}},
		},
	}
	want := `{"action":"node.deregistered","actor_node_id":0,"attrs":{"big":1152921504606846976,"ids":[2],"n":5,` +
		`"neg":-1,"networks":[3,1],"node_id":42,"ok":true,"reason":"purge","tags":[]},"auth_via":"system","seq":7,` +
		`"time":"2026-03-27T10:15:03.412Z"}`
	got, err := CanonicalAuditRow(row)
	if err != nil || string(got) != want {
		t.Fatalf("got  %s\nwant %s (%v)", got, want, err)
	}
	// Attribute order does not change the hash.
	var prev [32]byte
	prev[0] = 1
	h1, err := AuditHash(prev, row)
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(row.Attrs)
	h2, _ := AuditHash(prev, row)
	if h1 != h2 {
		t.Fatal("attribute order changed the hash")
	}
	if h1 != sha256.Sum256(append(prev[:], got...)) {
		t.Fatal("AuditHash is not SHA-256(prev ‖ canonical)")
	}
	empty, err := CanonicalAuditRow(AuditRow{Seq: 1, Action: "x"})
	if err != nil || string(empty) != `{"action":"x","actor_node_id":0,"attrs":{},"auth_via":"","seq":1,"time":""}` {
		t.Fatalf("row without attrs: %s, %v", empty, err)
	}
}

func TestCanonicalAuditRowErrors(t *testing.T) {
	for name, attrs := range map[string][]AuditAttr{
		"duplicate key": {{"node_id", 1}, {"node_id", 2}},
		"empty key":     {{"", 1}},
		"float":         {{"score", 1.5}},
		"nil":           {{"x", nil}},
		"map":           {{"x", map[string]any{}}},
		"uint8":         {{"x", uint8(1)}},
	} {
		row := AuditRow{Seq: 1, Action: "a", Attrs: attrs}
		if _, err := CanonicalAuditRow(row); !errors.Is(err, ErrAuditRow) {
			t.Errorf("%s: %v, want ErrAuditRow", name, err)
		}
		if _, err := AuditHash([32]byte{}, row); !errors.Is(err, ErrAuditRow) {
			t.Errorf("%s: AuditHash %v", name, err)
		}
	}
	bad := AuditRow{Seq: 1, Action: "a", Attrs: []AuditAttr{{"name", "\xff"}}}
	if _, err := CanonicalAuditRow(bad); !errors.Is(err, ErrInvalidUTF8) {
		t.Errorf("invalid UTF-8 value: %v", err)
	}
}
