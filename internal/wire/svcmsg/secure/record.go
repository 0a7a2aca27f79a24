package secure

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Direction is the 4-byte nonce prefix naming who sent a record.
type Direction uint32

// Directions (§6.3).
const (
	ServerToClient Direction = 1
	ClientToServer Direction = 2
)

// String names the direction.
func (d Direction) String() string {
	switch d {
	case ServerToClient:
		return "server->client"
	case ClientToServer:
		return "client->server"
	}
	return fmt.Sprintf("direction(%d)", uint32(d))
}

// Mode selects the record AAD (§6.3, §6.4). The zero value is v2.
type Mode uint8

const (
	// ModeV2 authenticates the 4-byte length field.
	ModeV2 Mode = iota
	// ModeOriginal authenticates the sender's 4-byte direction prefix.
	ModeOriginal
)

// String names the mode.
func (m Mode) String() string {
	switch m {
	case ModeV2:
		return "v2"
	case ModeOriginal:
		return "original"
	}
	return fmt.Sprintf("mode(%d)", uint8(m))
}

// Record sizes.
const (
	LenFieldLen = 4
	NonceLen    = 12
	TagLen      = 16
	// MinRecordLen and MaxRecordLen bound the length field:
	// 12 + ciphertext + 16.
	MinRecordLen = NonceLen + TagLen
	MaxRecordLen = 16 << 20
	// MaxPlaintext is the largest plaintext of one record.
	MaxPlaintext = MaxRecordLen - MinRecordLen
	// WriteChunk is the plaintext size writers should not exceed per
	// record.
	WriteChunk = 64 << 10
)

var (
	// ErrTruncated means fewer bytes than the record needs.
	ErrTruncated = errors.New("secure: truncated record")
	// ErrRecordLen means a length field outside 28..16,777,216 or a
	// plaintext too large for one record.
	ErrRecordLen = errors.New("secure: bad record length")
	// ErrSequence means a wrong direction prefix or a counter other than
	// the next one (a repeated, skipped or reordered record).
	ErrSequence = errors.New("secure: record out of sequence")
	// ErrDecrypt means the GCM tag does not verify.
	ErrDecrypt = errors.New("secure: record authentication failed")
	// ErrExhausted means the counter would wrap.
	ErrExhausted = errors.New("secure: record counter exhausted")
	// ErrClosed means an earlier record failed: the channel is dead.
	ErrClosed = errors.New("secure: channel closed after a bad record")
)

// recordState is shared by Sealer and Opener.
type recordState struct {
	aead cipher.AEAD
	dir  Direction
	mode Mode
	next uint64 // counter of the next record; 0 once exhausted
}

func newState(key [KeyLen]byte, dir Direction, mode Mode) (recordState, error) {
	if dir != ServerToClient && dir != ClientToServer {
		return recordState{}, fmt.Errorf("secure: unknown %s", dir)
	}
	if mode != ModeV2 && mode != ModeOriginal {
		return recordState{}, fmt.Errorf("secure: unknown mode %d", mode)
	}
	block, err := aes.NewCipher(key[:])
	if err != nil {
		return recordState{}, fmt.Errorf("secure: AES: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return recordState{}, fmt.Errorf("secure: GCM: %w", err)
	}
	return recordState{aead: aead, dir: dir, mode: mode, next: 1}, nil
}

// aad returns the additional data of a record with the given length field.
func (s *recordState) aad(lenField []byte) []byte {
	if s.mode == ModeOriginal {
		return binary.BigEndian.AppendUint32(nil, uint32(s.dir))
	}
	return lenField
}

// Sealer encrypts the records of one direction. Not safe for concurrent
// use.
type Sealer struct{ st recordState }

// NewSealer returns a sealer for records sent in direction dir with key
// (k_c2s for ClientToServer, k_s2c for ServerToClient, or the original
// mode's single key). The first record has counter 1.
func NewSealer(key [KeyLen]byte, dir Direction, mode Mode) (*Sealer, error) {
	st, err := newState(key, dir, mode)
	return &Sealer{st: st}, err
}

// Seal appends one complete record (length field included) carrying
// plaintext to dst. The remaining capacity of dst must not overlap
// plaintext.
func (s *Sealer) Seal(dst, plaintext []byte) ([]byte, error) {
	if len(plaintext) > MaxPlaintext {
		return dst, fmt.Errorf("%w: plaintext of %d bytes (max %d)", ErrRecordLen, len(plaintext), MaxPlaintext)
	}
	if s.st.next == 0 {
		return dst, ErrExhausted
	}
	var hdr [LenFieldLen + NonceLen]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(MinRecordLen+len(plaintext)))
	binary.BigEndian.PutUint32(hdr[4:], uint32(s.st.dir))
	binary.BigEndian.PutUint64(hdr[8:], s.st.next)
	dst = append(dst, hdr[:]...)
	dst = s.st.aead.Seal(dst, hdr[LenFieldLen:], plaintext, s.st.aad(hdr[:LenFieldLen]))
	s.st.next++
	return dst, nil
}

// Opener decrypts the records of one direction, requiring the right
// prefix and exactly the next counter. After any failure it refuses every
// later record (ErrClosed): the caller closes the stream. Not safe for
// concurrent use.
type Opener struct {
	st     recordState
	failed bool
}

// NewOpener returns an opener for records received from direction dir.
func NewOpener(key [KeyLen]byte, dir Direction, mode Mode) (*Opener, error) {
	st, err := newState(key, dir, mode)
	return &Opener{st: st}, err
}

// RecordLen returns the total size (length field included) of the record
// whose length field starts hdr, validating the bounds.
func RecordLen(hdr []byte) (int, error) {
	if len(hdr) < LenFieldLen {
		return 0, fmt.Errorf("%w: length field needs %d bytes, have %d", ErrTruncated, LenFieldLen, len(hdr))
	}
	n := binary.BigEndian.Uint32(hdr)
	if n < MinRecordLen || n > MaxRecordLen {
		return 0, fmt.Errorf("%w: %d (want %d..%d)", ErrRecordLen, n, MinRecordLen, MaxRecordLen)
	}
	return LenFieldLen + int(n), nil
}

// Open checks and decrypts one complete record and appends its plaintext
// to dst. The remaining capacity of dst must not overlap record.
func (o *Opener) Open(dst, record []byte) ([]byte, error) {
	if o.failed {
		return dst, ErrClosed
	}
	pt, err := o.open(dst, record)
	if err != nil {
		o.failed = true
	}
	return pt, err
}

func (o *Opener) open(dst, record []byte) ([]byte, error) {
	n, err := RecordLen(record)
	if err != nil {
		return dst, err
	}
	if len(record) != n {
		return dst, fmt.Errorf("%w: %d bytes for a record of %d", ErrRecordLen, len(record), n)
	}
	if o.st.next == 0 {
		return dst, ErrExhausted
	}
	if d := Direction(binary.BigEndian.Uint32(record[4:])); d != o.st.dir {
		return dst, fmt.Errorf("%w: prefix %s, want %s", ErrSequence, d, o.st.dir)
	}
	if c := binary.BigEndian.Uint64(record[8:]); c != o.st.next {
		return dst, fmt.Errorf("%w: counter %d, want %d", ErrSequence, c, o.st.next)
	}
	out, err := o.st.aead.Open(dst, record[LenFieldLen:LenFieldLen+NonceLen], record[LenFieldLen+NonceLen:], o.st.aad(record[:LenFieldLen]))
	if err != nil {
		return dst, fmt.Errorf("%w: counter %d", ErrDecrypt, o.st.next)
	}
	o.st.next++
	return out, nil
}

// readChunk bounds the memory committed ahead of the bytes received.
const readChunk = 64 << 10

// ReadRecord reads one complete record from r and returns it, ready for
// Open. buf is reused when its capacity suffices; otherwise the record is
// read in chunks, so that a length field alone never makes it allocate
// 16 MiB. io.EOF means r ended cleanly before a record.
func ReadRecord(r io.Reader, buf []byte) ([]byte, error) {
	var hdr [LenFieldLen]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n, err := RecordLen(hdr[:])
	if err != nil {
		return nil, err
	}
	if cap(buf) < min(n, readChunk) {
		buf = make([]byte, 0, min(n, readChunk))
	}
	buf = append(buf[:0], hdr[:]...)
	for len(buf) < n {
		want := min(n-len(buf), readChunk)
		if cap(buf)-len(buf) < want {
			buf = append(buf, make([]byte, want)...)[:len(buf)]
		}
		got, err := io.ReadFull(r, buf[len(buf):len(buf)+want])
		buf = buf[:len(buf)+got]
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	return buf, nil
}
