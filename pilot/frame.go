package pilot

import (
	"bufio"
	"encoding/binary"
	"io"

	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
)

// exactFrame is the largest frame readFrame allocates at its full length
// at once: every Recv and reply fits.
const exactFrame = 512 << 10

// readFrame is ipcmsg.ReadFrame with a single allocation of exactly the
// frame's length for frames up to exactFrame bytes, instead of ReadFrame's
// growth in 64 KiB steps (several allocations and copies per large Recv);
// larger frames and every error case still go through it.
func readFrame(br *bufio.Reader) ([]byte, error) {
	hdr, err := br.Peek(ipcmsg.FrameHeaderLen)
	if err != nil {
		return ipcmsg.ReadFrame(br)
	}
	n := binary.BigEndian.Uint32(hdr)
	if n > exactFrame {
		return ipcmsg.ReadFrame(br)
	}
	if _, err := br.Discard(ipcmsg.FrameHeaderLen); err != nil {
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
