package server

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"testing"
)

// noRead fails the test on any read past the data it was primed with.
type noRead struct {
	t    *testing.T
	data []byte
}

func (r *noRead) Read(b []byte) (int, error) {
	if len(r.data) == 0 {
		r.t.Fatal("frameBuffered read from the connection")
	}
	n := copy(b, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestFrameBuffered(t *testing.T) {
	whole := frame(`{"type":"heartbeat"}`)
	huge := binary.BigEndian.AppendUint32(nil, MaxFrame+1)
	for _, tc := range []struct {
		name string
		in   []byte
		want bool
	}{
		{"one byte", []byte{0}, false},
		{"three bytes", []byte{0, 0, 0}, false},
		{"header only", whole[:4], false},
		{"partial body", whole[:len(whole)-1], false},
		{"whole", whole, true},
		{"whole and more", append(bytes.Clone(whole), 0, 0), true},
		{"empty body", frame(``), true},
		{"oversize header", append(huge, 'x'), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &noRead{t: t, data: tc.in}
			br := bufio.NewReaderSize(r, 4096)
			if _, err := br.ReadByte(); err != nil { // as serveFrames does
				t.Fatal(err)
			}
			if err := br.UnreadByte(); err != nil {
				t.Fatal(err)
			}
			if got := frameBuffered(br); got != tc.want {
				t.Fatalf("frameBuffered = %v, want %v", got, tc.want)
			}
		})
	}
}
