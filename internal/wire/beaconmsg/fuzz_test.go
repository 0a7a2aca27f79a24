package beaconmsg

import (
	"reflect"
	"testing"
)

// FuzzParse: Parse never panics, and every accepted datagram re-encodes to
// bytes that parse to the same message.
func FuzzParse(f *testing.F) {
	for _, tc := range layouts {
		f.Add(hx(f, tc.hex))
	}
	f.Add(hx(f, "01000002ae010000019d2eca4c5859104a3fae11ff0c984dd65e55ca2721cc3c8380e2a2f27f7a1875dc85"+
		"0f45087acc8c3580c25ef26da6cb074d1f12f44cb5fae91ce9a12e9d4b2ef9b0518806"))
	f.Add(hx(f, "02 10 00000000000000000000ffffc6336407 a028"))
	f.Add(hx(f, "07 00000001 0002 000002ae"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b)
		if err != nil {
			return
		}
		enc, err := m.AppendTo(nil)
		if err != nil {
			t.Fatalf("encode %#v: %v", m, err)
		}
		m2, err := Parse(enc)
		if err != nil {
			t.Fatalf("re-parse of %x (from %x): %v", enc, b, err)
		}
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("round trip:\n %#v\n %#v", m, m2)
		}
	})
}

func BenchmarkParseRelay(b *testing.B) {
	msg, _ := Marshal(Relay{Sender: 686, Dest: 687, Frame: append([]byte("PILS"), make([]byte, 1200)...)})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(msg); err != nil {
			b.Fatal(err)
		}
	}
}
