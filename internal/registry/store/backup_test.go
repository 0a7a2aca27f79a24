package store

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

func sampleBackup(t testing.TB) []byte {
	var buf bytes.Buffer
	w, err := NewBackupWriter(&buf, BackupHeader{SchemaVersion: 1, CreatedAt: "2026-03-27T10:15:03Z", RegistryVersion: "1.0.0", Store: "sqlite"})
	if err != nil {
		t.Fatal(err)
	}
	rows := []BackupRow{
		{"networks", []Column{{"id", int64(0)}, {"name", "backbone"}, {"token_digest", nil}}},
		{"audit", []Column{{"seq", int64(1)}, {"attrs", `{"name":"a\"b <&> ü"}`}}},
	}
	for _, r := range rows {
		if err := w.Row(r.Table, r.Cols); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestBackupFormat_RoundTrip(t *testing.T) {
	data := sampleBackup(t)
	want := `{"format":"pilot-registry-backup","format_version":1,"schema_version":1,"created_at":"2026-03-27T10:15:03Z","registry_version":"1.0.0","store":"sqlite"}` + "\n" +
		`{"table":"networks","row":{"id":0,"name":"backbone","token_digest":null}}` + "\n"
	if !bytes.HasPrefix(data, []byte(want)) {
		t.Fatalf("backup starts\n%s\nwant\n%s", data, want)
	}
	h, rows, err := ParseBackup(data)
	if err != nil || h.SchemaVersion != 1 || h.Store != "sqlite" || len(rows) != 2 {
		t.Fatalf("ParseBackup = %+v %v %v", h, rows, err)
	}
	if !reflect.DeepEqual(rows[1].Cols, []Column{{"seq", int64(1)}, {"attrs", `{"name":"a\"b <&> ü"}`}}) {
		t.Errorf("row = %#v", rows[1])
	}
}

func TestParseBackup_Item73_RejectsEveryFlippedByte(t *testing.T) {
	data := sampleBackup(t)
	for i := range data {
		bad := bytes.Clone(data)
		bad[i] ^= 0x01
		if _, _, err := ParseBackup(bad); !errors.Is(err, ErrBackupCorrupt) {
			t.Fatalf("byte %d flipped: %v", i, err)
		}
	}
	for _, cut := range []int{0, 10, len(data) - 1} {
		if _, _, err := ParseBackup(data[:cut]); !errors.Is(err, ErrBackupCorrupt) {
			t.Fatalf("truncated at %d: %v", cut, err)
		}
	}
}

// FuzzParseBackup: never panics; whatever parses re-encodes to a file that
// parses to the same header and rows.
func FuzzParseBackup(f *testing.F) {
	f.Add(sampleBackup(f))
	f.Add([]byte("{}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, rows, err := ParseBackup(data)
		if err != nil {
			return
		}
		var buf bytes.Buffer
		w, err := NewBackupWriter(&buf, h)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			if err := w.Row(r.Table, r.Cols); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := w.Close(); err != nil {
			t.Fatal(err)
		}
		h2, rows2, err := ParseBackup(buf.Bytes())
		if err != nil || h2 != h || !reflect.DeepEqual(rows2, rows) {
			t.Fatalf("round trip: %+v %v %v", h2, rows2, err)
		}
	})
}

// FuzzDecodeAttrs: never panics; decode → encode → decode is stable.
func FuzzDecodeAttrs(f *testing.F) {
	for _, s := range []string{`{}`, `{"network_id":3,"name":"prod-fleet","join_rule":"token","creator_node_id":685}`,
		`{"tags":["gpu","eu-west"],"ports":[80,443],"mutual":true,"description":"Prod <eu> & ü\tteam"}`, `{"e":[]}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		attrs, err := DecodeAttrs(s)
		if err != nil {
			return
		}
		enc, err := EncodeAttrs(attrs)
		if err != nil {
			return // e.g. duplicate keys are decodable but not storable
		}
		back, err := DecodeAttrs(enc)
		if err != nil || !reflect.DeepEqual(back, attrs) {
			t.Fatalf("round trip of %q: %#v, %v", s, back, err)
		}
	})
}
