package secure

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"github.com/pilot-go/pilot/internal/testvec"
)

func pair(t testing.TB, key [KeyLen]byte, dir Direction, mode Mode) (*Sealer, *Opener) {
	t.Helper()
	s, err := NewSealer(key, dir, mode)
	if err != nil {
		t.Fatal(err)
	}
	o, err := NewOpener(key, dir, mode)
	if err != nil {
		t.Fatal(err)
	}
	return s, o
}

func seal(t testing.TB, s *Sealer, pt string) []byte {
	t.Helper()
	rec, err := s.Seal(nil, []byte(pt))
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// TestServices_15_StrictCounters: a record with a repeated or skipped
// counter closes the channel, and nothing is accepted afterwards
// (services.md §9 item 15), in both modes.
func TestServices_15_StrictCounters(t *testing.T) {
	key := [KeyLen]byte{1, 2, 3}
	for _, mode := range []Mode{ModeV2, ModeOriginal} {
		t.Run(mode.String()+"/repeat", func(t *testing.T) {
			s, o := pair(t, key, ClientToServer, mode)
			r1, r2 := seal(t, s, "one"), seal(t, s, "two")
			if _, err := o.Open(nil, r1); err != nil {
				t.Fatal(err)
			}
			if _, err := o.Open(nil, r1); !errors.Is(err, ErrSequence) {
				t.Fatalf("repeated record: %v", err)
			}
			if _, err := o.Open(nil, r2); !errors.Is(err, ErrClosed) {
				t.Fatalf("record after a failure: %v", err)
			}
		})
		t.Run(mode.String()+"/skip", func(t *testing.T) {
			s, o := pair(t, key, ClientToServer, mode)
			seal(t, s, "one")
			r2 := seal(t, s, "two")
			if _, err := o.Open(nil, r2); !errors.Is(err, ErrSequence) {
				t.Fatalf("skipped counter: %v", err)
			}
		})
		t.Run(mode.String()+"/in order", func(t *testing.T) {
			s, o := pair(t, key, ServerToClient, mode)
			var stream []byte
			for _, m := range []string{"a", "", "ccc"} {
				stream = append(stream, seal(t, s, m)...)
			}
			var got []string
			for _, rec := range readAll(t, stream) {
				pt, err := o.Open(nil, rec)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, string(pt))
			}
			if len(got) != 3 || got[0] != "a" || got[1] != "" || got[2] != "ccc" {
				t.Fatalf("plaintexts %q", got)
			}
		})
	}
}

func TestRecordChecks(t *testing.T) {
	key := [KeyLen]byte{9}
	s, _ := pair(t, key, ClientToServer, ModeV2)
	rec := seal(t, s, "hello")
	for _, tc := range []struct {
		name string
		mut  func([]byte) []byte
		err  error
	}{
		{"wrong prefix", func(b []byte) []byte { b[7] = 1; return b }, ErrSequence},
		{"tampered ciphertext", func(b []byte) []byte { b[17] ^= 1; return b }, ErrDecrypt},
		{"tampered tag", func(b []byte) []byte { b[len(b)-1] ^= 1; return b }, ErrDecrypt},
		{"length mismatch", func(b []byte) []byte { return b[:len(b)-1] }, ErrRecordLen},
		{"length below 28", func(b []byte) []byte { binary.BigEndian.PutUint32(b, 27); return b[:31] }, ErrRecordLen},
		{"length above 16 MiB", func(b []byte) []byte { binary.BigEndian.PutUint32(b, MaxRecordLen+1); return b }, ErrRecordLen},
		{"no length", func(b []byte) []byte { return b[:3] }, ErrTruncated},
	} {
		_, o := pair(t, key, ClientToServer, ModeV2)
		if _, err := o.Open(nil, tc.mut(bytes.Clone(rec))); !errors.Is(err, tc.err) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.err)
		}
		if _, err := o.Open(nil, rec); !errors.Is(err, ErrClosed) {
			t.Errorf("%s: channel still open: %v", tc.name, err)
		}
	}
	// v2 authenticates the length field: a record sealed for another
	// direction's key or mode does not open.
	_, wrongDir := pair(t, key, ServerToClient, ModeV2)
	if _, err := wrongDir.Open(nil, rec); !errors.Is(err, ErrSequence) {
		t.Errorf("other direction: %v", err)
	}
	_, orig := pair(t, key, ClientToServer, ModeOriginal)
	if _, err := orig.Open(nil, rec); !errors.Is(err, ErrDecrypt) {
		t.Errorf("v2 record opened in original mode: %v", err)
	}
	if _, err := s.Seal(nil, make([]byte, MaxPlaintext+1)); !errors.Is(err, ErrRecordLen) {
		t.Errorf("oversize plaintext: %v", err)
	}
	if _, err := NewSealer(key, 3, ModeV2); err == nil {
		t.Error("direction 3 accepted")
	}
	if _, err := NewOpener(key, ClientToServer, 7); err == nil {
		t.Error("mode 7 accepted")
	}
}

func TestCounterExhausted(t *testing.T) {
	s, o := pair(t, [KeyLen]byte{}, ClientToServer, ModeV2)
	s.st.next = ^uint64(0)
	o.st.next = ^uint64(0)
	last := seal(t, s, "last")
	if _, err := s.Seal(nil, []byte("wrap")); !errors.Is(err, ErrExhausted) {
		t.Fatalf("sealer wrapped: %v", err)
	}
	if _, err := o.Open(nil, last); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Open(nil, last); !errors.Is(err, ErrExhausted) {
		t.Fatalf("opener wrapped: %v", err)
	}
}

// TestOriginalMode checks §6.4: one HKDF key for both directions, AAD = the
// sender's prefix (and not the length field).
func TestOriginalMode(t *testing.T) {
	var shared [KeyLen]byte
	copy(shared[:], testvec.Hex(t, "d6fb939511b2381bc8599b4b8edc5968829450dfd7a87aebe78a703cd04cd54e"))
	key, err := OriginalKey(shared)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := pair(t, key, ServerToClient, ModeOriginal)
	rec := seal(t, s, "hi")
	// Rebuild the record by hand from the §6.4 rules.
	aead := s.st.aead
	want := append([]byte(nil), rec[:16]...)
	want = aead.Seal(want, rec[4:16], []byte("hi"), []byte{0, 0, 0, 1})
	if !bytes.Equal(rec, want) {
		t.Fatalf("original record %x, want %x", rec, want)
	}
	if bytes.Equal(key[:], shared[:]) {
		t.Fatal("key equals the shared secret")
	}
}

func TestAuthRecord(t *testing.T) {
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
	eph := [KeyLen]byte{0xAA}
	a := AuthRecord{NodeID: 685, Timestamp: 1774606503, Random: [AuthRandomLen]byte{1, 2, 3}}
	if err := a.Sign(priv, eph); err != nil {
		t.Fatal(err)
	}
	b := a.Marshal()
	if len(b) != AuthRecordLen || AuthRecordLen != 92 {
		t.Fatalf("auth record of %d bytes", len(b))
	}
	if !bytes.Equal(b[:12], []byte{0, 0, 2, 0xAD, 0, 0, 0, 0, 0x69, 0xC6, 0x58, 0xA7}) {
		t.Errorf("header %x", b[:12])
	}
	back, err := ParseAuthRecord(b)
	if err != nil || back != a {
		t.Fatalf("ParseAuthRecord: %+v %v", back, err)
	}
	signed := AuthSigned(a, eph)
	if string(signed[:18]) != "pilot-secure-auth:" || len(signed) != 18+4+32+8+16 {
		t.Errorf("signed bytes %x", signed)
	}
	pub := priv.Public().(ed25519.PublicKey)
	if err := back.Verify(pub, eph); err != nil {
		t.Errorf("Verify: %v", err)
	}
	if err := back.Verify(pub, [KeyLen]byte{0xAB}); !errors.Is(err, ErrAuth) {
		t.Errorf("verified with another ephemeral key: %v", err)
	}
}

func TestReadRecord(t *testing.T) {
	s, o := pair(t, [KeyLen]byte{5}, ClientToServer, ModeV2)
	big := bytes.Repeat([]byte("x"), 3*readChunk+1)
	rec, err := s.Seal(nil, big)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ReadRecord(bytes.NewReader(rec), make([]byte, 10))
	if err != nil || !bytes.Equal(got, rec) {
		t.Fatalf("ReadRecord: %d bytes, %v", len(got), err)
	}
	if pt, err := o.Open(nil, got); err != nil || !bytes.Equal(pt, big) {
		t.Fatalf("Open: %v", err)
	}
	if _, err := ReadRecord(bytes.NewReader(rec[:100]), nil); err != io.ErrUnexpectedEOF {
		t.Errorf("cut record: %v", err)
	}
	if _, err := ReadRecord(bytes.NewReader([]byte{0, 0, 0, 5}), nil); !errors.Is(err, ErrRecordLen) {
		t.Errorf("short length: %v", err)
	}
}

// FuzzOpen feeds arbitrary bytes to an opener holding the vector's k_c2s:
// it never panics, and a record it accepts re-seals to the same bytes.
func FuzzOpen(f *testing.F) {
	all, s := runVector(f)
	f.Add(testvec.Hex(f, all.SecureV2.FirstClientRecord.RecordHex))
	f.Add(testvec.Hex(f, all.SecureV2.FirstServerRecord.RecordHex))
	f.Add([]byte{0, 0, 0, 28, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		sealer, opener := pair(t, s.keys.C2S, ClientToServer, ModeV2)
		pt, err := opener.Open(nil, b)
		if err != nil {
			if _, err := opener.Open(nil, b); !errors.Is(err, ErrClosed) {
				t.Fatalf("opener not closed after %v", err)
			}
			// Round trip: the fuzz input as plaintext.
			if len(b) <= MaxPlaintext {
				_, fresh := pair(t, s.keys.C2S, ClientToServer, ModeV2)
				rec := seal(t, sealer, string(b))
				back, err := fresh.Open(nil, rec)
				if err != nil || !bytes.Equal(back, b) {
					t.Fatalf("plaintext round trip: %v", err)
				}
			}
			return
		}
		if again := seal(t, sealer, string(pt)); !bytes.Equal(again, b) {
			t.Fatalf("accepted record %x re-seals to %x", b, again)
		}
	})
}

// BenchmarkSealOpen measures one 64 KiB record sealed and opened (v2).
func BenchmarkSealOpen(b *testing.B) {
	s, o := pair(b, [KeyLen]byte{1}, ClientToServer, ModeV2)
	pt := make([]byte, WriteChunk)
	var rec, out []byte
	b.SetBytes(int64(len(pt)))
	for b.Loop() {
		var err error
		if rec, err = s.Seal(rec[:0], pt); err != nil {
			b.Fatal(err)
		}
		if out, err = o.Open(out[:0], rec); err != nil {
			b.Fatal(err)
		}
	}
}
