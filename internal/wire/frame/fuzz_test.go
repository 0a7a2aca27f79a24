package frame

import (
	"reflect"
	"testing"

	"github.com/pilot-go/pilot/internal/testvec"
)

// FuzzParse: Parse never panics, and every accepted frame re-encodes to bytes
// that decode to an equal frame of the same kind and canonical size.
func FuzzParse(f *testing.F) {
	v := loadTunnel(f)
	for _, fr := range v.Frames {
		f.Add(testvec.Hex(f, fr.FrameHex))
	}
	for _, fr := range v.MustReject {
		f.Add(testvec.Hex(f, fr.FrameHex))
	}
	f.Add([]byte{})
	f.Add([]byte{0x05, 0, 0, 0, 1})
	f.Add([]byte("PILPxyz"))
	f.Fuzz(func(t *testing.T, b []byte) {
		k := Classify(b)
		fr, err := Parse(b)
		if err != nil {
			if k >= KindPILT && len(b) >= 136 && len(b) <= MaxDatagram {
				t.Fatalf("%v of %d bytes rejected: %v", k, len(b), err)
			}
			return
		}
		if fr.Kind() != k {
			t.Fatalf("Parse kind %v, Classify %v", fr.Kind(), k)
		}
		out, err := fr.AppendTo(nil)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		if len(out) != fr.Size() || len(out) > len(b) {
			t.Fatalf("re-encoded %d bytes, Size %d, input %d", len(out), fr.Size(), len(b))
		}
		fr2, err := Parse(out)
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if !reflect.DeepEqual(fr, fr2) {
			t.Fatalf("round trip:\n%+v\n%+v", fr, fr2)
		}
	})
}
