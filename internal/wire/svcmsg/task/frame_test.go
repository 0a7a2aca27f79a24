package task

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestFrame_RoundTrip(t *testing.T) {
	tests := []struct {
		name string
		f    Frame
		hex  string
	}{
		{"submit", Frame{Type: TypeSubmit, Payload: []byte(`{}`)}, "00000001000000027b7d"},
		{"empty result", Frame{Type: TypeResult}, "0000000200000000"},
		{"unknown", Frame{Type: 0xDEADBEEF, Payload: []byte("x")}, "deadbeef0000000178"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := tc.f.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(b); got != tc.hex {
				t.Fatalf("encode = %s, want %s", got, tc.hex)
			}
			want, _ := hex.DecodeString(tc.hex)
			f, n, err := Decode(append(want, 0xFF)) // a trailing byte is not consumed
			if err != nil || n != len(want) || f.Type != tc.f.Type || !bytes.Equal(f.Payload, tc.f.Payload) {
				t.Fatalf("Decode = %+v, %d, %v", f, n, err)
			}
			r, err := ReadFrame(bytes.NewReader(want))
			if err != nil || r.Type != tc.f.Type || !bytes.Equal(r.Payload, tc.f.Payload) {
				t.Fatalf("ReadFrame = %+v, %v", r, err)
			}
		})
	}
}

// TestServices_7_FrameBound: a length above 16 MiB is refused before any
// payload is read; exactly 16 MiB is accepted.
func TestServices_7_FrameBound(t *testing.T) {
	over := []byte{0, 0, 0, 1, 0x01, 0, 0, 1} // 16 MiB + 1
	if _, _, err := Decode(over); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Decode over limit: %v", err)
	}
	f, err := ReadFrame(bytes.NewReader(over))
	if !errors.Is(err, ErrTooLarge) || f.Type != TypeSubmit {
		t.Fatalf("ReadFrame over limit = %+v, %v", f, err)
	}
	if _, err := (Frame{Type: TypeSubmit, Payload: make([]byte, MaxPayload+1)}).Marshal(); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Marshal over limit: %v", err)
	}
	b, err := Frame{Type: TypeSendResults, Payload: make([]byte, MaxPayload)}.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if f, err := ReadFrame(bytes.NewReader(b)); err != nil || len(f.Payload) != MaxPayload {
		t.Fatalf("ReadFrame at limit: %d bytes, %v", len(f.Payload), err)
	}
}

func TestFrame_Truncated(t *testing.T) {
	full, _ := Frame{Type: TypeStatusUpdate, Payload: []byte(`{"a":1}`)}.Marshal()
	for n := 0; n < len(full); n++ {
		if _, _, err := Decode(full[:n]); !errors.Is(err, ErrTruncated) {
			t.Fatalf("Decode(%d bytes): %v", n, err)
		}
		_, err := ReadFrame(bytes.NewReader(full[:n]))
		want := io.ErrUnexpectedEOF
		if n == 0 {
			want = io.EOF
		}
		if !errors.Is(err, want) {
			t.Fatalf("ReadFrame(%d bytes): %v, want %v", n, err, want)
		}
	}
}

// TestReadFrame_LazyAllocation: a peer declaring 16 MiB and sending a
// little does not make the reader allocate the full payload up front.
func TestReadFrame_LazyAllocation(t *testing.T) {
	in := append([]byte{0, 0, 0, 1, 0x01, 0, 0, 0}, strings.Repeat("x", 10)...)
	var grown int
	r := &countingReader{r: bytes.NewReader(in), cap: &grown}
	if _, err := ReadFrame(r); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("err = %v", err)
	}
	if grown > 64<<10 { // package tlv commits at most 64 KiB ahead of the data
		t.Fatalf("read buffer of %d bytes offered for 10 bytes of payload", grown)
	}
}

type countingReader struct {
	r   io.Reader
	cap *int
}

func (c *countingReader) Read(p []byte) (int, error) {
	*c.cap = max(*c.cap, len(p))
	return c.r.Read(p)
}

func TestType_String(t *testing.T) {
	for ty, want := range map[Type]string{1: "SUBMIT", 2: "RESULT", 3: "STATUS_UPDATE", 4: "SEND_RESULTS", 9: "UNKNOWN(9)"} {
		if got := ty.String(); got != want {
			t.Errorf("Type(%d) = %q, want %q", uint32(ty), got, want)
		}
	}
}
