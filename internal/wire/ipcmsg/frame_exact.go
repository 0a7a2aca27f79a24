package ipcmsg

import (
	"bufio"
	"encoding/binary"
	"io"
)

// exactFrame is the largest frame ReadFrameBuffered allocates at its full
// length at once: every Send (≤ 256 KiB of data, ipc.md §11) and Recv fits.
const exactFrame = 512 << 10

// ReadFrameBuffered is ReadFrame with a single allocation of exactly the
// frame's length for frames up to exactFrame bytes. ReadFrame grows its
// buffer in 64 KiB steps (so a lying length costs little), which for a
// 256 KiB Send or Recv means four allocations and three copies; larger
// frames and every error case still go through ReadFrame. Both sides of the
// IPC socket (the daemon and the SDK) read with it.
func ReadFrameBuffered(br *bufio.Reader) ([]byte, error) {
	hdr, err := br.Peek(FrameHeaderLen)
	if err != nil {
		return ReadFrame(br)
	}
	n := binary.BigEndian.Uint32(hdr)
	if n > exactFrame {
		return ReadFrame(br)
	}
	if _, err := br.Discard(FrameHeaderLen); err != nil {
		return nil, err
	}
	msg := make([]byte, n)
	if _, err := io.ReadFull(br, msg); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return msg, nil
}
