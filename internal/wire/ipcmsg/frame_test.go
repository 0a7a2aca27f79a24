package ipcmsg

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

func TestIPC_AppendFrame(t *testing.T) {
	got := AppendFrame(hx(t, "ff"), Bind{Port: 80})
	if want := hx(t, "ff 00000003 01 0050"); !bytes.Equal(got, want) {
		t.Fatalf("got %x want %x", got, want)
	}
}

func TestIPC_ReadFrameSequence(t *testing.T) {
	var stream []byte
	stream = AppendFrame(stream, Info{})
	stream = append(stream, 0, 0, 0, 0) // zero-length frame
	stream = AppendFrame(stream, Send{Conn: 1, Data: bytes.Repeat([]byte{7}, 200000)})
	r := bytes.NewReader(stream)
	m1, err := ReadFrame(r)
	if err != nil || !bytes.Equal(m1, []byte{byte(CmdInfo)}) {
		t.Fatalf("frame 1: %x %v", m1, err)
	}
	m2, err := ReadFrame(r)
	if err != nil || m2 == nil || len(m2) != 0 {
		t.Fatalf("zero-length frame: %x (nil %v) %v", m2, m2 == nil, err)
	}
	m3, err := ReadFrame(r)
	if err != nil || len(m3) != 1+4+200000 {
		t.Fatalf("frame 3: len %d %v", len(m3), err)
	}
	if _, err := ReadFrame(r); err != io.EOF {
		t.Fatalf("end: %v", err)
	}
}

// TestIPC_C2_OversizedFrame: a frame longer than 1,048,576 bytes gets Error
// code 2 with the text of ipc.md §2, and nothing more is read.
func TestIPC_C2_OversizedFrame(t *testing.T) {
	r := bytes.NewReader(hx(t, "00100001 0d"))
	_, err := ReadFrame(r)
	var fe *FrameTooLargeError
	if !errors.Is(err, ErrFrameTooLarge) || !errors.As(err, &fe) || fe.N != MaxMessage+1 {
		t.Fatalf("got %v", err)
	}
	want := Error{Code: CodeInvalidArgument, Text: "ipc message too large: 1048577 bytes (max 1048576)"}
	if fe.Reply() != want {
		t.Fatalf("reply %#v", fe.Reply())
	}
	if r.Len() != 1 {
		t.Fatalf("read past the header: %d left", r.Len())
	}
	full := append(hx(t, "00100000"), make([]byte, MaxMessage)...)
	if m, err := ReadFrame(bytes.NewReader(full)); err != nil || len(m) != MaxMessage {
		t.Fatalf("max frame: %d %v", len(m), err)
	}
}

func TestIPC_ReadFrameTruncated(t *testing.T) {
	for _, s := range []string{"00", "000000", "00000005 01", "00000002 01"} {
		if _, err := ReadFrame(bytes.NewReader(hx(t, s))); err != io.ErrUnexpectedEOF {
			t.Errorf("%s: %v", s, err)
		}
	}
}

// chunkReader returns the stream in pieces whose sizes come from splits.
type chunkReader struct {
	data   []byte
	splits []byte
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := len(c.data)
	if len(c.splits) > 0 {
		n = int(c.splits[0]) + 1
		c.splits = c.splits[1:]
	}
	n = min(n, len(p), len(c.data))
	copy(p, c.data[:n])
	c.data = c.data[n:]
	return n, nil
}

type frameResult struct {
	msg []byte
	err error
}

func readAll(r io.Reader) []frameResult {
	var out []frameResult
	for {
		m, err := ReadFrame(r)
		if err == io.EOF {
			return out
		}
		out = append(out, frameResult{m, err})
		if err != nil {
			return out
		}
	}
}

// FuzzReadFrameChunked: however the stream is split into reads, the frames
// (and the error that ends them) are the same.
func FuzzReadFrameChunked(f *testing.F) {
	var stream []byte
	for _, tc := range requestLayouts {
		stream = AppendFrame(stream, tc.msg)
	}
	f.Add(stream, []byte{0, 1, 2, 3, 4, 5})
	f.Add(append([]byte{0, 0, 0, 0}, stream...), []byte{3})
	f.Add(hx(f, "00100001 0d"), []byte{0})
	f.Add(hx(f, "00000005 01"), []byte{1, 1})
	f.Fuzz(func(t *testing.T, stream, splits []byte) {
		whole := readAll(bytes.NewReader(stream))
		chunked := readAll(&chunkReader{data: stream, splits: splits})
		if len(whole) != len(chunked) {
			t.Fatalf("%d frames whole, %d chunked", len(whole), len(chunked))
		}
		for i := range whole {
			if !bytes.Equal(whole[i].msg, chunked[i].msg) || (whole[i].err == nil) != (chunked[i].err == nil) {
				t.Fatalf("frame %d: %x/%v vs %x/%v", i, whole[i].msg, whole[i].err, chunked[i].msg, chunked[i].err)
			}
			if whole[i].err == nil {
				// Decoding never panics on any frame.
				_, _ = DecodeRequest(whole[i].msg)
			}
		}
	})
}
