package dataex

import (
	"encoding/binary"
	"fmt"
	"math"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// MaxNameLen is the largest FILE name the u16 length prefix can carry.
const MaxNameLen = math.MaxUint16

// MaxStoredNameLen is the longest sanitized name, in bytes (§3.2 step 2).
const MaxStoredNameLen = 200

// File is the content of a FILE frame payload.
type File struct {
	Name string // as sent: UTF-8, not yet sanitized
	Data []byte
}

// DecodeFile decodes a FILE payload. Data aliases p. The name is returned
// as sent; SanitizeFileName makes it safe to store.
func DecodeFile(p []byte) (File, error) {
	if len(p) < 2 {
		return File{}, fmt.Errorf("%w: FILE payload of %d bytes has no name length", ErrTruncated, len(p))
	}
	n := int(binary.BigEndian.Uint16(p))
	if len(p)-2 < n {
		return File{}, fmt.Errorf("%w: FILE name needs %d bytes, have %d", ErrTruncated, n, len(p)-2)
	}
	return File{Name: string(p[2 : 2+n]), Data: p[2+n : len(p) : len(p)]}, nil
}

// AppendTo appends the FILE payload to b.
func (f File) AppendTo(b []byte) ([]byte, error) {
	if len(f.Name) > MaxNameLen {
		return b, fmt.Errorf("%w: FILE name of %d bytes (max %d)", ErrTooLarge, len(f.Name), MaxNameLen)
	}
	if 2+len(f.Name)+len(f.Data) > MaxPayload {
		return b, fmt.Errorf("%w: FILE payload of %d bytes (max %d)", ErrTooLarge, 2+len(f.Name)+len(f.Data), MaxPayload)
	}
	b = binary.BigEndian.AppendUint16(b, uint16(len(f.Name)))
	b = append(b, f.Name...)
	return append(b, f.Data...), nil
}

// Frame returns the FILE frame carrying f.
func (f File) Frame() (Frame, error) {
	p, err := f.AppendTo(make([]byte, 0, 2+len(f.Name)+len(f.Data)))
	if err != nil {
		return Frame{}, err
	}
	return Frame{Type: TypeFile, Payload: p}, nil
}

// SanitizeFileName returns the name under which a received FILE is stored
// (§3.2 step 2): the final path element of name (split on both '/' and
// '\'), with control characters and invalid UTF-8 removed and leading dots
// stripped; "file" when nothing is left; cut to at most 200 bytes on a rune
// boundary.
func SanitizeFileName(name string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, strings.ToValidUTF8(name, ""))
	name = strings.TrimLeft(name, ".")
	if len(name) > MaxStoredNameLen {
		cut := MaxStoredNameLen
		for cut > 0 && !utf8.RuneStart(name[cut]) {
			cut--
		}
		name = name[:cut]
	}
	if name == "" {
		return "file"
	}
	return name
}

// stampLayout is the time stamp of stored names: YYYYMMDD-HHMMSS.mmm.
const stampLayout = "20060102-150405.000"

// withDup inserts "-<dup>" (dup > 0) before ext.
func withDup(base string, dup int, ext string) string {
	if dup > 0 {
		base += "-" + strconv.Itoa(dup)
	}
	return base + ext
}

// ReceivedFileName returns the file name, relative to <state-dir>/received,
// of a FILE received at the given time (§3.2 step 2):
// <base>-<YYYYMMDD-HHMMSS.mmm><ext> in UTC, where stored is the output of
// SanitizeFileName and <ext> its extension. dup > 0 inserts "-<dup>"
// before the extension, for a name that already exists.
func ReceivedFileName(stored string, at time.Time, dup int) string {
	ext := path.Ext(stored)
	base := strings.TrimSuffix(stored, ext)
	return withDup(base+"-"+at.UTC().Format(stampLayout), dup, ext)
}

// InboxFileName returns the file name, relative to <state-dir>/inbox, of a
// TEXT, BINARY or JSON frame received at the given time (§3.2 step 3):
// <TYPE>-<YYYYMMDD-HHMMSS.mmm>.json in UTC, with "-<dup>" before ".json"
// when dup > 0.
func InboxFileName(t Type, at time.Time, dup int) string {
	return withDup(t.String()+"-"+at.UTC().Format(stampLayout), dup, ".json")
}
