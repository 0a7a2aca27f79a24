package ipcmsg

import (
	"reflect"
	"testing"
)

// FuzzDecodeRequest: the client → daemon decoder never panics, and every
// message it accepts re-encodes to bytes that decode to the same value.
func FuzzDecodeRequest(f *testing.F) {
	for _, tc := range requestLayouts {
		f.Add(hx(f, tc.hex))
	}
	for _, s := range []string{"01", "0f 09", "23 05 02 0001", "44 00000001 42 7b7d", "19 5b5d", "40 7b7d", "4b 00000001 01"} {
		f.Add(hx(f, s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		m, err := DecodeRequest(msg)
		if err != nil {
			if err.Error() == "" {
				t.Fatalf("empty error text for %x", msg)
			}
			return
		}
		enc := m.AppendTo(nil)
		m2, err := DecodeRequest(enc)
		if err != nil {
			t.Fatalf("re-decode of %x (from %x): %v", enc, msg, err)
		}
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("round trip:\n %#v\n %#v", m, m2)
		}
	})
}

// FuzzDecodeReply: the same for daemon → client messages (what the SDK parses).
func FuzzDecodeReply(f *testing.F) {
	for _, tc := range replyLayouts {
		f.Add(hx(f, tc.hex))
	}
	f.Add(hx(f, "45 00000001 07 00000001 00"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		m, err := DecodeReply(msg)
		if err != nil {
			return
		}
		enc := m.AppendTo(nil)
		m2, err := DecodeReply(enc)
		if err != nil {
			t.Fatalf("re-decode of %x (from %x): %v", enc, msg, err)
		}
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("round trip:\n %#v\n %#v", m, m2)
		}
	})
}

func BenchmarkDecodeRequestSend(b *testing.B) {
	msg := Marshal(Send{Conn: 3, Data: make([]byte, 4096)})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeRequest(msg); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendFrameRecv(b *testing.B) {
	m := Recv{Conn: 3, Data: make([]byte, 4096)}
	buf := make([]byte, 0, 8192)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendFrame(buf[:0], m)
	}
}
