package regmsg

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
)

func TestReadFrame(t *testing.T) {
	var stream []byte
	bodies := [][]byte{[]byte(`{"type":"heartbeat"}`), {}, bytes.Repeat([]byte("x"), MaxFrame)}
	for _, b := range bodies {
		var err error
		if stream, err = AppendFrame(stream, b); err != nil {
			t.Fatal(err)
		}
	}
	r := bytes.NewReader(stream)
	buf := make([]byte, 0, 64)
	for i, want := range bodies {
		got, err := ReadFrame(r, buf)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("frame %d: %v len %d", i, err, len(got))
		}
	}
	if _, err := ReadFrame(r, nil); err != io.EOF {
		t.Fatalf("end: %v, want io.EOF", err)
	}
	if _, err := AppendFrame(nil, make([]byte, MaxFrame+1)); !errors.Is(err, ErrBodyTooLarge) {
		t.Fatalf("oversize append: %v", err)
	}
}

// TestFraming_R1_OversizeNotRead: a length over 65,536 is refused after the
// 4 header bytes, without reading the body.
func TestFraming_R1_OversizeNotRead(t *testing.T) {
	hdr := binary.BigEndian.AppendUint32(nil, MaxFrame+1)
	r := bytes.NewReader(append(hdr, "body"...))
	_, err := ReadFrame(r, nil)
	if !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("got %v", err)
	}
	if r.Len() != 4 {
		t.Fatalf("body was read: %d bytes left", r.Len())
	}
}

func TestReadFrameTruncated(t *testing.T) {
	for _, s := range [][]byte{{0, 0}, {0, 0, 0, 5, 'a'}} {
		_, err := ReadFrame(bytes.NewReader(s), nil)
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("%x: %v", s, err)
		}
	}
}

// chunkReader returns data in short reads whose sizes come from splits.
type chunkReader struct {
	data   []byte
	splits []byte
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := 1
	if len(c.splits) > 0 {
		n = int(c.splits[0])%7 + 1
		c.splits = c.splits[1:]
	}
	n = min(n, len(p), len(c.data))
	copy(p, c.data[:n])
	c.data = c.data[n:]
	return n, nil
}

type frameResult struct {
	body []byte
	err  string
}

func readAll(r io.Reader) []frameResult {
	var out []frameResult
	for {
		b, err := ReadFrame(r, nil)
		if err != nil {
			return append(out, frameResult{err: err.Error()})
		}
		out = append(out, frameResult{body: append([]byte(nil), b...)})
	}
}

// FuzzReadFrameChunked: the same byte stream delivered in arbitrary short
// reads decodes to the same frames and the same final error.
func FuzzReadFrameChunked(f *testing.F) {
	s, _ := AppendFrame(nil, []byte(`{"type":"heartbeat","node_id":5}`))
	s, _ = AppendFrame(s, []byte(`{}`))
	f.Add(s, []byte{3, 1, 4, 1, 5, 9, 2, 6})
	f.Add(append(s, 0, 1, 0, 1), []byte{0})
	f.Add([]byte{0, 0, 0}, []byte{1})
	f.Fuzz(func(t *testing.T, stream, splits []byte) {
		whole := readAll(bytes.NewReader(stream))
		chunked := readAll(&chunkReader{data: stream, splits: splits})
		if len(whole) != len(chunked) {
			t.Fatalf("%d frames vs %d", len(whole), len(chunked))
		}
		for i := range whole {
			if !bytes.Equal(whole[i].body, chunked[i].body) || whole[i].err != chunked[i].err {
				t.Fatalf("frame %d differs: %+v vs %+v", i, whole[i], chunked[i])
			}
		}
		// Re-framing the decoded bodies reproduces the consumed prefix.
		var re []byte
		for _, fr := range whole {
			if fr.err == "" {
				re, _ = AppendFrame(re, fr.body)
			}
		}
		if !bytes.HasPrefix(stream, re) {
			t.Fatalf("re-framed bodies are not a prefix of the stream")
		}
	})
}
