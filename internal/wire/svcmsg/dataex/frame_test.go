package dataex

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/pilot-go/pilot/internal/testvec"
)

// streamVectors mirrors testdata/vectors/streams.json; the SACK entries
// belong to internal/wire/sack.
type streamVectors struct {
	About        string `json:"about"`
	DataExchange []struct {
		Name       string `json:"name"`
		Type       uint32 `json:"type"`
		Filename   string `json:"filename"`
		PayloadHex string `json:"payload_hex"`
		WireHex    string `json:"wire_hex"`
	} `json:"data_exchange"`
	EventStream json.RawMessage `json:"event_stream"`
	NotSACKHex  json.RawMessage `json:"not_sack_hex"`
	SACK        json.RawMessage `json:"sack"`
}

func loadVectors(t testing.TB) streamVectors {
	var v streamVectors
	testvec.Load(t, "streams.json", &v)
	if len(v.DataExchange) == 0 {
		t.Fatal("no data_exchange vectors")
	}
	return v
}

// TestVectors_DataExchange encodes every vector to its wire bytes and
// decodes the wire bytes back, through both Decode and ReadFrame.
func TestVectors_DataExchange(t *testing.T) {
	for _, v := range loadVectors(t).DataExchange {
		t.Run(v.Name, func(t *testing.T) {
			typ := Type(v.Type)
			if typ.String() != v.Name {
				t.Errorf("name %q, want %q", typ.String(), v.Name)
			}
			data := testvec.Hex(t, v.PayloadHex)
			wire := testvec.Hex(t, v.WireHex)
			f := Frame{Type: typ, Payload: data}
			if typ == TypeFile {
				var err error
				if f, err = (File{Name: v.Filename, Data: data}).Frame(); err != nil {
					t.Fatal(err)
				}
			}
			got, err := f.Marshal()
			if err != nil || !bytes.Equal(got, wire) {
				t.Fatalf("encode: %x (%v), want %x", got, err, wire)
			}

			dec, n, err := Decode(append(wire, 0xAA, 0xBB))
			if err != nil || n != len(wire) || dec.Type != typ || !bytes.Equal(dec.Payload, f.Payload) {
				t.Fatalf("decode: %+v n=%d err=%v", dec, n, err)
			}
			rd, err := ReadFrame(iotest.OneByteReader(bytes.NewReader(wire)), 0)
			if err != nil || rd.Type != typ || !bytes.Equal(rd.Payload, f.Payload) {
				t.Fatalf("ReadFrame: %+v err=%v", rd, err)
			}
			if typ == TypeFile {
				file, err := DecodeFile(dec.Payload)
				if err != nil || file.Name != v.Filename || !bytes.Equal(file.Data, data) {
					t.Fatalf("DecodeFile: %+v err=%v", file, err)
				}
			}
		})
	}
}

func TestTypeNames(t *testing.T) {
	for _, tc := range []struct {
		t    Type
		name string
	}{{1, "TEXT"}, {2, "BINARY"}, {3, "JSON"}, {4, "FILE"}, {0, "UNKNOWN(0)"}, {9, "UNKNOWN(9)"}, {4294967295, "UNKNOWN(4294967295)"}} {
		if got := tc.t.String(); got != tc.name {
			t.Errorf("%d: %q, want %q", uint32(tc.t), got, tc.name)
		}
		back, err := ParseType(tc.name)
		if err != nil || back != tc.t {
			t.Errorf("ParseType(%q) = %d, %v", tc.name, back, err)
		}
	}
	for _, bad := range []string{"", "text", "UNKNOWN()", "UNKNOWN(1)", "UNKNOWN(09)", "UNKNOWN(-1)", "UNKNOWN(4294967296)", "UNKNOWN(9"} {
		if _, err := ParseType(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseType(%q) err = %v, want ErrMalformed", bad, err)
		}
	}
}

// TestServices_3_TooLarge: a frame longer than 16 MiB is reported with its
// type so that the service answers "ERR <TYPE> too large" (services.md §9
// item 3); exactly 16 MiB is allowed.
func TestServices_3_TooLarge(t *testing.T) {
	hdr := binary.BigEndian.AppendUint32(nil, uint32(TypeJSON))
	hdr = binary.BigEndian.AppendUint32(hdr, MaxPayload+1)
	f, _, err := Decode(hdr)
	if !errors.Is(err, ErrTooLarge) || f.Type != TypeJSON {
		t.Fatalf("Decode: %+v %v", f, err)
	}
	f, err = ReadFrame(bytes.NewReader(hdr), 0)
	if !errors.Is(err, ErrTooLarge) || f.Type != TypeJSON {
		t.Fatalf("ReadFrame: %+v %v", f, err)
	}
	if got := Err(f.Type, ReasonTooLarge).String(); got != "ERR JSON too large" {
		t.Errorf("reply %q", got)
	}

	ok := binary.BigEndian.AppendUint32(nil, uint32(TypeBinary))
	ok = binary.BigEndian.AppendUint32(ok, MaxPayload)
	if _, err := ParseHeader(ok); err != nil {
		t.Errorf("16 MiB header refused: %v", err)
	}
	// A reader limit below MaxPayload applies too.
	small := Frame{Type: TypeText, Payload: []byte("12345")}
	wire, _ := small.Marshal()
	if _, err := ReadFrame(bytes.NewReader(wire), 4); !errors.Is(err, ErrTooLarge) {
		t.Errorf("limit 4: %v", err)
	}
	if _, err := (Frame{Type: TypeBinary, Payload: make([]byte, MaxPayload+1)}).Marshal(); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Marshal oversize: %v", err)
	}
}

func TestDecodeTruncated(t *testing.T) {
	wire, _ := Frame{Type: TypeText, Payload: []byte("hello")}.Marshal()
	for i := range len(wire) {
		if _, _, err := Decode(wire[:i]); !errors.Is(err, ErrTruncated) {
			t.Errorf("Decode(%d bytes) err = %v", i, err)
		}
	}
	if _, err := ReadFrame(bytes.NewReader(nil), 0); err != io.EOF {
		t.Errorf("empty reader: %v, want io.EOF", err)
	}
	for _, n := range []int{3, 8, 12} {
		if _, err := ReadFrame(bytes.NewReader(wire[:n]), 0); err != io.ErrUnexpectedEOF {
			t.Errorf("ReadFrame(%d bytes) err = %v, want io.ErrUnexpectedEOF", n, err)
		}
	}
}

// TestReadFrameLarge reads a payload bigger than one read chunk and
// several frames from one stream.
func TestReadFrameLarge(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 20000)
	var stream []byte
	stream, _ = Frame{Type: TypeBinary, Payload: big}.AppendTo(stream)
	stream, _ = Frame{Type: 9, Payload: nil}.AppendTo(stream)
	r := bytes.NewReader(stream)
	f, err := ReadFrame(r, 0)
	if err != nil || f.Type != TypeBinary || !bytes.Equal(f.Payload, big) {
		t.Fatalf("first frame: type %s, %d bytes, %v", f.Type, len(f.Payload), err)
	}
	f, err = ReadFrame(r, 0)
	if err != nil || f.Type != 9 || len(f.Payload) != 0 {
		t.Fatalf("second frame: %+v %v", f, err)
	}
	if _, err := ReadFrame(r, 0); err != io.EOF {
		t.Fatalf("after last frame: %v", err)
	}
}

func TestFilePayload(t *testing.T) {
	if _, err := DecodeFile([]byte{0}); !errors.Is(err, ErrTruncated) {
		t.Errorf("1 byte: %v", err)
	}
	if _, err := DecodeFile([]byte{0, 5, 'a', 'b'}); !errors.Is(err, ErrTruncated) {
		t.Errorf("short name: %v", err)
	}
	f, err := DecodeFile([]byte{0, 0})
	if err != nil || f.Name != "" || len(f.Data) != 0 {
		t.Errorf("empty: %+v %v", f, err)
	}
	if _, err := (File{Name: strings.Repeat("a", MaxNameLen+1)}).AppendTo(nil); !errors.Is(err, ErrTooLarge) {
		t.Errorf("long name: %v", err)
	}
	if _, err := (File{Name: "x", Data: make([]byte, MaxPayload-2)}).AppendTo(nil); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversize data: %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	for _, v := range loadVectors(f).DataExchange {
		f.Add(testvec.Hex(f, v.WireHex))
	}
	f.Add([]byte{0, 0, 0, 1, 1, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, n, err := Decode(b)
		if err != nil {
			if _, err2 := ReadFrame(bytes.NewReader(b), 0); err2 == nil {
				t.Fatalf("ReadFrame accepted what Decode refused (%v)", err)
			}
			return
		}
		out, err := fr.Marshal()
		if err != nil || !bytes.Equal(out, b[:n]) {
			t.Fatalf("round trip: %x -> %x (%v)", b[:n], out, err)
		}
		rd, err := ReadFrame(bytes.NewReader(b), 0)
		if err != nil || rd.Type != fr.Type || !bytes.Equal(rd.Payload, fr.Payload) {
			t.Fatalf("ReadFrame differs: %+v %v", rd, err)
		}
		if file, err := DecodeFile(fr.Payload); err == nil {
			p, err := file.AppendTo(nil)
			if err != nil || !bytes.Equal(p, fr.Payload) {
				t.Fatalf("FILE round trip: %x -> %x (%v)", fr.Payload, p, err)
			}
			if s := SanitizeFileName(file.Name); s == "" || len(s) > MaxStoredNameLen {
				t.Fatalf("SanitizeFileName(%q) = %q", file.Name, s)
			}
		}
	})
}
