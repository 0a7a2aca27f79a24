package store

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/pilot-go/pilot/internal/identity"
	"github.com/pilot-go/pilot/internal/testvec"
)

type chainVectors struct {
	About      string          `json:"about"`
	Keys       json.RawMessage `json:"keys"`
	AuthV2     json.RawMessage `json:"auth_v2"`
	LegacyV1   json.RawMessage `json:"legacy_v1"`
	AuditChain struct {
		About   string `json:"about"`
		Entries []struct {
			Row struct {
				Seq         uint64          `json:"seq"`
				Time        string          `json:"time"`
				Action      string          `json:"action"`
				ActorNodeID uint32          `json:"actor_node_id"`
				AuthVia     string          `json:"auth_via"`
				Attrs       json.RawMessage `json:"attrs"`
			} `json:"row"`
			Canonical string `json:"canonical"`
			PrevHash  string `json:"prev_hash"`
			Hash      string `json:"hash"`
		} `json:"entries"`
	} `json:"audit_chain"`
}

// TestAudit_Item65_ChainVectorThroughStoredForm stores the vector rows in
// the stored attrs form and verifies the chain with ChainVerifier, and
// ChainNext reproduces every hash.
func TestAudit_Item65_ChainVectorThroughStoredForm(t *testing.T) {
	var v chainVectors
	testvec.Load(t, "registry_auth.json", &v)
	var cv ChainVerifier
	prev := ""
	for _, e := range v.AuditChain.Entries {
		attrs, err := DecodeAttrs(string(e.Row.Attrs))
		if err != nil {
			t.Fatalf("seq %d: %v", e.Row.Seq, err)
		}
		stored, err := EncodeAttrs(attrs)
		if err != nil {
			t.Fatal(err)
		}
		row := identity.AuditRow{Seq: e.Row.Seq, Time: e.Row.Time, Action: e.Row.Action, ActorNodeID: e.Row.ActorNodeID,
			AuthVia: e.Row.AuthVia, Attrs: attrs}
		h, err := ChainNext(prev, row)
		if err != nil || h != e.Hash {
			t.Fatalf("seq %d: ChainNext = %s, %v; want %s", e.Row.Seq, h, err, e.Hash)
		}
		if e.PrevHash != strings.Repeat("0", 64) && e.PrevHash != prev {
			t.Fatalf("seq %d: prev_hash %s, chain has %s", e.Row.Seq, e.PrevHash, prev)
		}
		prev = h
		cv.Add(RawAuditRow{Seq: row.Seq, Time: row.Time, Action: row.Action, ActorNodeID: row.ActorNodeID,
			AuthVia: row.AuthVia, Attrs: stored, Hash: e.Hash})
	}
	n, head, cerr := cv.Result()
	if cerr != nil || n != len(v.AuditChain.Entries) || head != prev {
		t.Fatalf("ChainVerifier = %d %s %v", n, head, cerr)
	}
}

func TestEncodeAttrs_KeepsOrderAndJCSEscaping(t *testing.T) {
	attrs := []identity.AuditAttr{{Key: "z", Value: int64(-3)}, {Key: "a", Value: "Prod <eu> & ü\tteam\u2028"},
		{Key: "m", Value: []int{80, 443}}, {Key: "b", Value: true}, {Key: "e", Value: []string{}}, {Key: "u", Value: uint32(7)}}
	s, err := EncodeAttrs(attrs)
	want := `{"z":-3,"a":"Prod <eu> & ü\tteam` + "\u2028" + `","m":[80,443],"b":true,"e":[],"u":7}`
	if err != nil || s != want {
		t.Fatalf("EncodeAttrs = %s, %v\nwant %s", s, err, want)
	}
	back, err := DecodeAttrs(s)
	if err != nil {
		t.Fatal(err)
	}
	wantBack := []identity.AuditAttr{{Key: "z", Value: int64(-3)}, {Key: "a", Value: "Prod <eu> & ü\tteam\u2028"},
		{Key: "m", Value: []int64{80, 443}}, {Key: "b", Value: true}, {Key: "e", Value: []string{}}, {Key: "u", Value: int64(7)}}
	if !reflect.DeepEqual(back, wantBack) {
		t.Fatalf("DecodeAttrs = %#v", back)
	}
	for _, bad := range [][]identity.AuditAttr{{{Key: "", Value: 1}}, {{Key: "a", Value: 1}, {Key: "a", Value: 2}},
		{{Key: "f", Value: 1.5}}, {{Key: "m", Value: map[string]any{}}}} {
		if _, err := EncodeAttrs(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("EncodeAttrs(%v) = %v", bad, err)
		}
	}
	for _, bad := range []string{``, `[]`, `{"a":1.5}`, `{"a":{}}`, `{"a":[1,"x"]}`, `{"a":["x",1]}`, `{"a":null}`, `{"a":1} x`, `{"a":[true]}`} {
		if _, err := DecodeAttrs(bad); err == nil {
			t.Errorf("DecodeAttrs(%q) accepted", bad)
		}
	}
}

func TestChainError_Messages(t *testing.T) {
	m := &ChainError{Seq: 517, Kind: ChainMismatch, Stored: "aa", Computed: "bb"}
	if got := m.Error(); got != "audit chain broken at seq 517: hash mismatch (stored aa, computed bb)" {
		t.Errorf("mismatch = %q", got)
	}
	g := &ChainError{Seq: 517, Kind: ChainGap}
	if got := g.Error(); got != "audit chain broken at seq 517: gap after seq 516" {
		t.Errorf("gap = %q", got)
	}
}

func TestChainVerifier_Gaps(t *testing.T) {
	row := func(seq uint64, prev string) RawAuditRow {
		r := identity.AuditRow{Seq: seq, Time: "2026-03-27T10:15:03.412Z", Action: "x", AuthVia: "system"}
		h, err := ChainNext(prev, r)
		if err != nil {
			t.Fatal(err)
		}
		return RawAuditRow{Seq: seq, Time: r.Time, Action: "x", AuthVia: "system", Attrs: "{}", Hash: h}
	}
	r1 := row(1, "")
	var v ChainVerifier
	v.Add(row(2, r1.Hash)) // seq 1 missing
	if _, _, err := v.Result(); err == nil || err.Kind != ChainGap || err.Seq != 1 {
		t.Fatalf("missing first row: %v", err)
	}
	var w ChainVerifier
	w.Add(r1)
	w.Add(row(3, r1.Hash))
	if n, _, err := w.Result(); err == nil || err.Seq != 2 || n != 1 {
		t.Fatalf("gap: %d %v", n, err)
	}
}
