package ipcmsg

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
)

// readAllBuffered reads frames with read until an error; it returns the frames
// and the final error.
func readAllBuffered(b []byte, read func(*bufio.Reader) ([]byte, error)) ([][]byte, error) {
	br := bufio.NewReaderSize(bytes.NewReader(b), 64<<10)
	var out [][]byte
	for {
		m, err := read(br)
		if err != nil {
			return out, err
		}
		out = append(out, m)
	}
}

// FuzzReadFrameBuffered checks that ReadFrameBuffered (one exact allocation per frame)
// reads the same frames and fails with the same errors as
// ReadFrame on any byte stream (ipc.md §2 framing).
func FuzzReadFrameBuffered(f *testing.F) {
	f.Add(AppendFrame(nil, Send{Conn: 1, Data: bytes.Repeat([]byte("x"), 70000)}))
	f.Add(AppendFrame(AppendFrame(nil, Info{}), Close{Conn: 2}))
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 1, 9})
	f.Add([]byte{0, 0, 0, 5, 1})                            // truncated body
	f.Add([]byte{0, 0})                                     // truncated header
	f.Add(binary.BigEndian.AppendUint32(nil, MaxMessage+1)) // oversized
	f.Add(binary.BigEndian.AppendUint32(nil, exactFrame+1)) // grown by ReadFrame
	f.Fuzz(func(t *testing.T, b []byte) {
		want, werr := readAllBuffered(b, func(br *bufio.Reader) ([]byte, error) { return ReadFrame(br) })
		got, gerr := readAllBuffered(b, ReadFrameBuffered)
		if len(got) != len(want) {
			t.Fatalf("%d frames, ReadFrame read %d", len(got), len(want))
		}
		for i := range got {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("frame %d differs", i)
			}
		}
		var wtl, gtl *FrameTooLargeError
		switch {
		case errors.As(werr, &wtl):
			if !errors.As(gerr, &gtl) || gtl.N != wtl.N {
				t.Fatalf("error %v, ReadFrame %v", gerr, werr)
			}
		case !errors.Is(gerr, werr):
			t.Fatalf("error %v, ReadFrame %v", gerr, werr)
		}
		if werr != io.EOF && werr != io.ErrUnexpectedEOF && wtl == nil {
			t.Fatalf("unexpected ReadFrame error %v", werr)
		}
	})
}
