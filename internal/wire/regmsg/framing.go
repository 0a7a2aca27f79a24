package regmsg

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// MaxFrame is the largest request and response body (registry.md §1): a
// length of 0..65,536 passes the size check, 65,536 exactly included.
const MaxFrame = 65536

// FrameHeaderLen is the size of the big-endian u32 length prefix.
const FrameHeaderLen = 4

// ErrFrameTooLarge is returned by ReadFrame when the length prefix exceeds
// MaxFrame. The body has not been read: the server replies
// message_too_large and closes the connection (§1).
var ErrFrameTooLarge = errors.New("regmsg: frame body exceeds 65536 bytes")

// ErrBodyTooLarge is returned by AppendFrame for a body over MaxFrame.
var ErrBodyTooLarge = errors.New("regmsg: body exceeds 65536 bytes")

// ReadFrame reads one frame from r and returns its body, stored in buf when
// buf has the capacity (the result aliases buf), else in a new slice.
//
// A clean end of stream before the first header byte returns io.EOF; a
// stream that ends inside a header or a body returns an error wrapping
// io.ErrUnexpectedEOF. A length over MaxFrame returns an error wrapping
// ErrFrameTooLarge after reading only the 4 header bytes.
func ReadFrame(r io.Reader, buf []byte) ([]byte, error) {
	var hdr [FrameHeaderLen]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		if err == io.ErrUnexpectedEOF {
			return nil, fmt.Errorf("regmsg: frame header: %w", err)
		}
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > MaxFrame {
		return nil, fmt.Errorf("%w (length %d)", ErrFrameTooLarge, n)
	}
	if uint32(cap(buf)) < n {
		buf = make([]byte, n)
	}
	body := buf[:n]
	if _, err := io.ReadFull(r, body); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("regmsg: frame body (%d bytes): %w", n, err)
	}
	return body, nil
}

// AppendFrame appends the length prefix and body to dst.
func AppendFrame(dst, body []byte) ([]byte, error) {
	if len(body) > MaxFrame {
		return dst, fmt.Errorf("%w (%d bytes)", ErrBodyTooLarge, len(body))
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(body)))
	return append(dst, body...), nil
}
