package sack

import (
	"bytes"
	"errors"
	"testing"

	"github.com/pilot-go/pilot/internal/testvec"
)

type streamsFile struct {
	About string `json:"about"`
	Sack  []struct {
		Name       string      `json:"name"`
		Blocks     [][2]uint32 `json:"blocks"`
		PayloadHex string      `json:"payload_hex"`
	} `json:"sack"`
	NotSackHex   []string         `json:"not_sack_hex"`
	DataExchange []map[string]any `json:"data_exchange"`
	EventStream  []map[string]any `json:"event_stream"`
}

func TestVectors_SACK(t *testing.T) {
	var f streamsFile
	testvec.Load(t, "streams.json", &f)
	if len(f.Sack) == 0 {
		t.Fatal("no sack vectors")
	}
	for _, v := range f.Sack {
		t.Run(v.Name, func(t *testing.T) {
			var blocks []Block
			for _, b := range v.Blocks {
				blocks = append(blocks, Block{b[0], b[1]})
			}
			want := testvec.Hex(t, v.PayloadHex)
			got, err := Append(nil, blocks)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("encode:\n got %x\nwant %x", got, want)
			}
			back, err := Parse(want)
			if err != nil {
				t.Fatal(err)
			}
			if len(back) != len(blocks) {
				t.Fatalf("decode %d blocks, want %d", len(back), len(blocks))
			}
			for i := range back {
				if back[i] != blocks[i] {
					t.Fatalf("block %d = %+v, want %+v", i, back[i], blocks[i])
				}
			}
		})
	}
}

func TestVectors_NotSACK(t *testing.T) {
	var f streamsFile
	testvec.Load(t, "streams.json", &f)
	if len(f.NotSackHex) == 0 {
		t.Fatal("no not_sack vectors")
	}
	for _, h := range f.NotSackHex {
		p := testvec.Hex(t, h)
		if blocks, err := Parse(p); !errors.Is(err, ErrNotSACK) {
			t.Errorf("Parse(%s) = %v, %v; want ErrNotSACK", h, blocks, err)
		}
		if IsSACK(p) {
			t.Errorf("IsSACK(%s) = true", h)
		}
	}
}

func TestAppendRejectsBlockCounts(t *testing.T) {
	if _, err := Append(nil, nil); !errors.Is(err, ErrTooManyBlocks) {
		t.Fatal(err)
	}
	if _, err := Append(nil, make([]Block, 5)); !errors.Is(err, ErrTooManyBlocks) {
		t.Fatal(err)
	}
}

// Conformance wire.md §14 item 17: no data segment starts with a parseable
// SACK list as the original reads it (prefix, n in 1..4, length ≥ 5 + 8·n).
func TestSafeDataLen(t *testing.T) {
	for n := 0; n <= 6; n++ {
		data := append([]byte("SACK"), byte(n))
		data = append(data, make([]byte, 100)...)
		got := SafeDataLen(data, 4096)
		if n >= 1 && n <= 4 {
			if got != 4+8*n {
				t.Errorf("n=%d: SafeDataLen = %d, want %d", n, got, 4+8*n)
			}
			if originalParsesAsSACK(data[:got]) {
				t.Errorf("n=%d: cut segment still parses as SACK for the original", n)
			}
		} else if got != len(data) {
			t.Errorf("n=%d: SafeDataLen = %d, want %d", n, got, len(data))
		}
	}
	if got := SafeDataLen([]byte("hello"), 3); got != 3 {
		t.Fatalf("max: %d", got)
	}
	if got := SafeDataLen([]byte("SACK"), 4096); got != 4 {
		t.Fatalf("short: %d", got)
	}
}

// originalParsesAsSACK models the original receiver's lenient parse.
func originalParsesAsSACK(p []byte) bool {
	if len(p) < 5 || string(p[:4]) != Magic {
		return false
	}
	n := int(p[4])
	return n >= 1 && n <= 4 && len(p) >= 5+8*n
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("SACK\x01\x00\x00\x10\x01\x00\x00\x20\x01"))
	f.Add([]byte("SACK"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, p []byte) {
		blocks, err := Parse(p)
		if err != nil {
			if SafeDataLen(p, len(p)) == 0 && len(p) > 0 {
				t.Fatal("SafeDataLen returned 0 for non-empty data")
			}
			return
		}
		out, err := Append(nil, blocks)
		if err != nil || !bytes.Equal(out, p) {
			t.Fatalf("round trip: %x -> %x (%v)", p, out, err)
		}
	})
}
