package ipcmsg

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"time"
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

// sameReads fails t unless got and gerr (one reader's frames and final
// error) equal want and werr (the reference reader's).
func sameReads(t *testing.T, ref string, got, want [][]byte, gerr, werr error) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d frames, %s read %d", len(got), ref, len(want))
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
			t.Fatalf("error %v, %s %v", gerr, ref, werr)
		}
	case !errors.Is(gerr, werr):
		t.Fatalf("error %v, %s %v", gerr, ref, werr)
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
		sameReads(t, "ReadFrame", got, want, gerr, werr)
		var wtl *FrameTooLargeError
		if werr != io.EOF && werr != io.ErrUnexpectedEOF && !errors.As(werr, &wtl) {
			t.Fatalf("unexpected ReadFrame error %v", werr)
		}
	})
}

// readAllReusing reads frames with ReadFrameReusing into one small buffer,
// copying each (the result may alias the buffer), and counts the reuses.
func readAllReusing(b []byte, limit int) (frames [][]byte, reused int, err error) {
	br := bufio.NewReaderSize(bytes.NewReader(b), 64<<10)
	buf := make([]byte, 0, limit)
	for {
		m, r, err := ReadFrameReusing(br, buf)
		if err != nil {
			return frames, reused, err
		}
		if r {
			reused++
			if len(m) > 0 && &m[0] != &buf[:1][0] {
				panic("reused frame does not alias the buffer")
			}
		}
		frames = append(frames, bytes.Clone(m))
	}
}

// FuzzReadFrameReusing checks that ReadFrameReusing reads the same frames
// with the same errors as ReadFrameBuffered on any byte stream.
func FuzzReadFrameReusing(f *testing.F) {
	tagged := AppendFrame(nil, Tagged{Tag: 7, Inner: Send{Conn: 1, Data: []byte("data")}})
	f.Add(AppendFrame(AppendFrame(tagged, Send{Conn: 1, Data: []byte("xy")}), Info{}))
	f.Add(AppendFrame(nil, Send{Conn: 1, Data: bytes.Repeat([]byte("x"), 3000)}))
	f.Add([]byte{0, 0, 0, 6, 6, 0, 0, 0, 1})                // truncated Send
	f.Add([]byte{0, 0, 0, 10, 0x44, 0, 0, 0, 1, 6, 0, 0})   // truncated Tagged Send
	f.Add(binary.BigEndian.AppendUint32(nil, MaxMessage+1)) // oversized
	f.Fuzz(func(t *testing.T, b []byte) {
		want, werr := readAllBuffered(b, ReadFrameBuffered)
		got, _, gerr := readAllReusing(b, 1024)
		sameReads(t, "ReadFrameBuffered", got, want, gerr, werr)
	})
}

// Only Sends (plain or tagged) that fit are read into the buffer.
func TestReadFrameReusingPicksSends(t *testing.T) {
	var b []byte
	b = AppendFrame(b, Send{Conn: 1, Data: []byte("a")})                        // reused
	b = AppendFrame(b, Tagged{Tag: 9, Inner: Send{Conn: 1, Data: []byte("b")}}) // reused
	b = AppendFrame(b, Tagged{Tag: 9, Inner: Close{Conn: 1}})                   // not a Send
	b = AppendFrame(b, Info{})                                                  // not a Send
	b = AppendFrame(b, Send{Conn: 1, Data: bytes.Repeat([]byte("c"), 200)})     // too large
	frames, reused, err := readAllReusing(b, 64)
	if err != io.EOF || len(frames) != 5 || reused != 2 {
		t.Fatalf("%d frames, %d reused, %v; want 5, 2, EOF", len(frames), reused, err)
	}
}

// blockAfter returns b, then blocks until the test ends (a client that sent
// a short frame and waits for the reply).
type blockAfter struct {
	b    []byte
	done chan struct{}
}

func (r *blockAfter) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		<-r.done
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

// A frame shorter than the Send prefix is returned without waiting for
// bytes that are not part of it.
func TestReadFrameReusingShortFrameDoesNotWait(t *testing.T) {
	done := make(chan struct{})
	defer close(done)
	br := bufio.NewReader(&blockAfter{b: AppendFrame(nil, Info{}), done: done})
	got := make(chan []byte, 1)
	go func() {
		m, _, _ := ReadFrameReusing(br, make([]byte, 0, 64))
		got <- m
	}()
	select {
	case m := <-got:
		if !bytes.Equal(m, []byte{byte(CmdInfo)}) {
			t.Fatalf("frame %x", m)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ReadFrameReusing waited for bytes beyond a 1-byte frame")
	}
}
