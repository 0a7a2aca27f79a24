// Package sack encodes and decodes the selective-acknowledgement list that a
// stream receiver carries in the payload of a pure ACK (wire.md §9.7):
//
//	+---+---+---+---+---+-------------+--------------+-----
//	| 'S' 'A' 'C' 'K' | n | left[0] u32 | right[0] u32 | ...   n = 1..4
//	+---+---+---+---+---+-------------+--------------+-----
//
// A payload is SACK information only when it is exactly 5 + 8·n bytes long,
// starts with "SACK" and has n in 1..4 (Parse). Anything else is stream data.
// Senders must also never emit a data segment that the original
// implementation would take for a SACK list: it accepts any payload of at
// least 5 + 8·n bytes with that prefix. SafeDataLen tells a sender how much
// of a segment it may put in one packet so that this cannot happen.
//
// Pure package: no I/O, no clock, no goroutines.
package sack

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// MaxBlocks is the largest number of blocks a SACK payload carries.
const MaxBlocks = 4

// Magic is the 4-byte prefix of a SACK payload.
const Magic = "SACK"

// Block is a received range [Left, Right) of sequence numbers.
type Block struct {
	Left, Right uint32
}

// Size returns the payload size for n blocks.
func Size(n int) int { return 5 + 8*n }

var (
	// ErrNotSACK is returned by Parse for payloads that are stream data.
	ErrNotSACK = errors.New("payload is not a SACK list")
	// ErrTooManyBlocks is returned by Append for more than MaxBlocks blocks.
	ErrTooManyBlocks = errors.New("too many SACK blocks")
)

// Append appends the SACK payload for blocks (1..4 of them) to b.
func Append(b []byte, blocks []Block) ([]byte, error) {
	if len(blocks) == 0 || len(blocks) > MaxBlocks {
		return b, fmt.Errorf("%w: %d (want 1..%d)", ErrTooManyBlocks, len(blocks), MaxBlocks)
	}
	b = append(b, Magic...)
	b = append(b, byte(len(blocks)))
	for _, blk := range blocks {
		b = binary.BigEndian.AppendUint32(b, blk.Left)
		b = binary.BigEndian.AppendUint32(b, blk.Right)
	}
	return b, nil
}

// Parse returns the blocks of a SACK payload. It applies the strict rule of
// wire.md §9.7: exact length 5 + 8·n, prefix "SACK", n in 1..4. Whether the
// packet's flags allow SACK (ACK without SYN, FIN or RST) is the caller's
// check. The returned blocks are in payload order; their values are not
// validated against the connection's sequence space here.
func Parse(p []byte) ([]Block, error) {
	if len(p) < 5 || string(p[:4]) != Magic {
		return nil, ErrNotSACK
	}
	n := int(p[4])
	if n < 1 || n > MaxBlocks {
		return nil, fmt.Errorf("%w: block count %d", ErrNotSACK, n)
	}
	if len(p) != Size(n) {
		return nil, fmt.Errorf("%w: %d bytes for %d blocks (want %d)", ErrNotSACK, len(p), n, Size(n))
	}
	blocks := make([]Block, n)
	for i := range blocks {
		off := 5 + 8*i
		blocks[i] = Block{
			Left:  binary.BigEndian.Uint32(p[off:]),
			Right: binary.BigEndian.Uint32(p[off+4:]),
		}
	}
	return blocks, nil
}

// IsSACK reports whether p parses as a SACK list under the strict rule.
func IsSACK(p []byte) bool {
	_, err := Parse(p)
	return err == nil
}

// SafeDataLen returns how many bytes of data, at most max, may start a data
// segment without the original implementation mistaking the segment for a
// SACK list (wire.md §9.5 rule 3): when data begins with "SACK" followed by a
// byte n in 1..4, the segment is limited to 4 + 8·n bytes, which is always
// shorter than the 5 + 8·n bytes the original needs to parse it. The cut
// never returns 0 for non-empty data, so a sender always makes progress.
func SafeDataLen(data []byte, max int) int {
	n := min(len(data), max)
	if len(data) >= 5 && string(data[:4]) == Magic && data[4] >= 1 && data[4] <= MaxBlocks {
		n = min(n, 4+8*int(data[4]))
	}
	return n
}
