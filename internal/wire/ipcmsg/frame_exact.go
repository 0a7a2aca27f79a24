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

// ReadFrameReusing is ReadFrameBuffered, except that a Send, plain or
// inside Tagged, that fits in cap(buf) is read into buf instead of a new
// allocation. reused reports that msg aliases buf: it is valid only until
// buf is read into again, so the caller must copy whatever it keeps. The
// daemon's IPC reader uses it for bulk Sends, whose data the stream engine
// copies into its own buffer at once: without it, every byte an
// application sends was also a byte of garbage.
func ReadFrameReusing(br *bufio.Reader, buf []byte) (msg []byte, reused bool, err error) {
	if n, ok := sendFrameLen(br, cap(buf)); ok {
		if _, err := br.Discard(FrameHeaderLen); err != nil {
			return nil, false, err
		}
		msg = buf[:n]
		if _, err := io.ReadFull(br, msg); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, false, err
		}
		return msg, true, nil
	}
	msg, err = ReadFrameBuffered(br)
	return msg, false, err
}

// sendPeek is the longest prefix isSendFrame looks at: u32 length ‖ 44 ‖
// u32 tag ‖ 06.
const sendPeek = FrameHeaderLen + 1 + 4 + 1

// sendFrameLen returns the length of the next frame when it is a Send or a
// Tagged Send of at most limit bytes. It peeks only at bytes the frame's
// length says are coming, so it never waits for bytes a short frame will
// not send.
func sendFrameLen(br *bufio.Reader, limit int) (int, bool) {
	hdr, err := br.Peek(FrameHeaderLen)
	if err != nil {
		return 0, false
	}
	n := binary.BigEndian.Uint32(hdr)
	if n < sendPeek-FrameHeaderLen || uint64(n) > uint64(limit) {
		return 0, false
	}
	p, err := br.Peek(sendPeek)
	if err != nil {
		return 0, false
	}
	switch Cmd(p[FrameHeaderLen]) {
	case CmdSend:
	case CmdTagged:
		if Cmd(p[sendPeek-1]) != CmdSend {
			return 0, false
		}
	default:
		return 0, false
	}
	return int(n), true
}
