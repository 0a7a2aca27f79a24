package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/pilot-go/pilot/internal/testvec"
)

// streamVectors mirrors testdata/vectors/streams.json; only event_stream
// belongs to this package.
type streamVectors struct {
	About        string          `json:"about"`
	DataExchange json.RawMessage `json:"data_exchange"`
	EventStream  []struct {
		Topic      string `json:"topic"`
		PayloadHex string `json:"payload_hex"`
		WireHex    string `json:"wire_hex"`
	} `json:"event_stream"`
	NotSACKHex json.RawMessage `json:"not_sack_hex"`
	SACK       json.RawMessage `json:"sack"`
}

func loadVectors(t testing.TB) streamVectors {
	var v streamVectors
	testvec.Load(t, "streams.json", &v)
	if len(v.EventStream) == 0 {
		t.Fatal("no event_stream vectors")
	}
	return v
}

func TestVectors_EventStream(t *testing.T) {
	for _, v := range loadVectors(t).EventStream {
		t.Run(v.Topic, func(t *testing.T) {
			e := Event{Topic: v.Topic, Payload: testvec.Hex(t, v.PayloadHex)}
			wire := testvec.Hex(t, v.WireHex)
			got, err := e.Marshal()
			if err != nil || !bytes.Equal(got, wire) {
				t.Fatalf("encode: %x (%v), want %x", got, err, wire)
			}
			dec, n, err := Decode(append(wire, 0xEE))
			if err != nil || n != len(wire) || dec.Topic != e.Topic || !bytes.Equal(dec.Payload, e.Payload) {
				t.Fatalf("decode: %+v n=%d %v", dec, n, err)
			}
			rd, err := ReadEvent(iotest.OneByteReader(bytes.NewReader(wire)))
			if err != nil || rd.Topic != e.Topic || !bytes.Equal(rd.Payload, e.Payload) {
				t.Fatalf("ReadEvent: %+v %v", rd, err)
			}
		})
	}
}

func TestTopicBounds(t *testing.T) {
	for _, tc := range []struct {
		topic string
		err   error
	}{
		{"*", nil},
		{strings.Repeat("t", MaxTopic), nil},
		{"météo", nil},
		{"", ErrBadTopic},
		{strings.Repeat("t", MaxTopic+1), ErrTooLarge},
		{"a\nb", ErrBadTopic},
		{"a\x7fb", ErrBadTopic},
		{"a\u0085b", ErrBadTopic},
		{"a\xffb", ErrBadTopic},
	} {
		_, err := Event{Topic: tc.topic}.Marshal()
		if !errors.Is(err, tc.err) && !(tc.err == nil && err == nil) {
			t.Errorf("Marshal(%q) err = %v, want %v", tc.topic, err, tc.err)
		}
		// The decoder applies the same bounds to hand-made wire bytes.
		wire := []byte{byte(len(tc.topic) >> 8), byte(len(tc.topic))}
		wire = append(wire, tc.topic...)
		wire = append(wire, 0, 0, 0, 0)
		_, _, derr := Decode(wire)
		_, rerr := ReadEvent(bytes.NewReader(wire))
		for _, got := range []error{derr, rerr} {
			if len(tc.topic) <= 0xFFFF && (!errors.Is(got, tc.err) && !(tc.err == nil && got == nil)) {
				t.Errorf("decode %q err = %v, want %v", tc.topic, got, tc.err)
			}
		}
	}
}

func TestPayloadBounds(t *testing.T) {
	if _, err := (Event{Topic: "t", Payload: make([]byte, MaxPayload+1)}).Marshal(); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Marshal oversize: %v", err)
	}
	wire := []byte{0, 1, 't', 0x01, 0, 0, 1}
	if _, _, err := Decode(wire); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Decode oversize: %v", err)
	}
	if _, err := ReadEvent(bytes.NewReader(wire)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("ReadEvent oversize: %v", err)
	}
	big := Event{Topic: "bulk", Payload: bytes.Repeat([]byte{7}, 3*readChunk+5)}
	w, err := big.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ReadEvent(bytes.NewReader(w))
	if err != nil || !bytes.Equal(got.Payload, big.Payload) {
		t.Fatalf("ReadEvent big: %d bytes, %v", len(got.Payload), err)
	}
}

func TestTruncated(t *testing.T) {
	wire, _ := Event{Topic: "alerts", Payload: []byte("disk full")}.Marshal()
	for i := range len(wire) {
		if _, _, err := Decode(wire[:i]); !errors.Is(err, ErrTruncated) {
			t.Errorf("Decode(%d bytes) err = %v", i, err)
		}
		_, err := ReadEvent(bytes.NewReader(wire[:i]))
		want := io.ErrUnexpectedEOF
		if i == 0 {
			want = io.EOF
		}
		if err != want {
			t.Errorf("ReadEvent(%d bytes) err = %v, want %v", i, err, want)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, v := range loadVectors(f).EventStream {
		f.Add(testvec.Hex(f, v.WireHex))
	}
	f.Add([]byte{0, 1, '\n', 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, n, err := Decode(b)
		_, rerr := ReadEvent(bytes.NewReader(b))
		if err != nil {
			if rerr == nil {
				t.Fatalf("ReadEvent accepted what Decode refused (%v)", err)
			}
			return
		}
		if rerr != nil {
			t.Fatalf("ReadEvent refused what Decode accepted: %v", rerr)
		}
		out, err := e.Marshal()
		if err != nil || !bytes.Equal(out, b[:n]) {
			t.Fatalf("round trip: %x -> %x (%v)", b[:n], out, err)
		}
	})
}
