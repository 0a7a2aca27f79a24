package ipcmsg

import (
	"encoding/binary"
	"fmt"
	"io"
)

// MaxMessage is the largest message (cmd ‖ payload) a frame may carry, in
// both directions (ipc.md §2).
const MaxMessage = 1 << 20

// FrameHeaderLen is the size of the u32 length prefix.
const FrameHeaderLen = 4

// FrameTooLargeError reports a frame whose length prefix exceeds MaxMessage.
// The daemon answers it with Reply() and closes the connection (ipc.md §2);
// the frame's bytes are not consumed, so the stream cannot be resynchronised.
type FrameTooLargeError struct {
	N uint32 // the announced length
}

func (e *FrameTooLargeError) Error() string {
	return fmt.Sprintf("ipc message too large: %d bytes (max %d)", e.N, MaxMessage)
}

// Is makes errors.Is(err, ErrFrameTooLarge) true.
func (e *FrameTooLargeError) Is(target error) bool { return target == ErrFrameTooLarge }

// Reply returns the Error message (code 2) sent before closing.
func (e *FrameTooLargeError) Reply() Error {
	return Error{Code: CodeInvalidArgument, Text: e.Error()}
}

// AppendFrame appends the frame u32 length ‖ cmd ‖ payload of m to b. The
// caller keeps messages within MaxMessage (Recv carries at most MaxRecvData
// bytes, JSON replies are cut with next_cursor).
func AppendFrame(b []byte, m Message) []byte {
	start := len(b)
	b = append(b, 0, 0, 0, 0)
	b = m.AppendTo(b)
	binary.BigEndian.PutUint32(b[start:], uint32(len(b)-start-FrameHeaderLen))
	return b
}

// readChunk bounds the memory committed to a frame before its bytes arrive:
// a peer announcing 1 MiB and sending nothing costs at most this much.
const readChunk = 64 << 10

// ReadFrame reads one frame from r and returns its message (cmd ‖ payload)
// in a newly allocated slice, which decoded messages may alias.
//
//   - A zero-length frame returns an empty, non-nil message and a nil error;
//     callers ignore it (no reply, ipc.md §2).
//   - A length above MaxMessage returns a *FrameTooLargeError (errors.Is
//     ErrFrameTooLarge) without reading further.
//   - End of stream before a header returns io.EOF; inside a frame,
//     io.ErrUnexpectedEOF.
func ReadFrame(r io.Reader) ([]byte, error) {
	var hdr [FrameHeaderLen]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > MaxMessage {
		return nil, &FrameTooLargeError{N: n}
	}
	msg := make([]byte, 0, min(int(n), readChunk))
	for len(msg) < int(n) {
		want := min(int(n)-len(msg), readChunk)
		if cap(msg)-len(msg) < want {
			grown := make([]byte, len(msg), min(int(n), 2*cap(msg)+want))
			copy(grown, msg)
			msg = grown
		}
		got, err := io.ReadFull(r, msg[len(msg):len(msg)+want])
		msg = msg[:len(msg)+got]
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	return msg, nil
}
