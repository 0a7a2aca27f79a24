package frame

import (
	"bytes"
	"errors"
	"testing"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/testvec"
)

// tunnelFile mirrors testdata/vectors/tunnel.json.
type tunnelFile struct {
	About  string `json:"about"`
	Frames []struct {
		Name             string `json:"name"`
		FrameHex         string `json:"frame_hex"`
		SenderNode       uint32 `json:"sender_node"`
		Counter          uint64 `json:"counter"`
		NoncePrefix      string `json:"nonce_prefix"`
		PlaintextHex     string `json:"plaintext_hex"`
		PlaintextPacket  string `json:"plaintext_packet"`
		Ed25519Public    string `json:"ed25519_public"`
		Ed25519Seed      string `json:"ed25519_seed"`
		SignedMessageHex string `json:"signed_message_hex"`
		X25519Public     string `json:"x25519_public"`
	} `json:"frames"`
	MustReject []struct {
		Name     string `json:"name"`
		FrameHex string `json:"frame_hex"`
		Why      string `json:"why"`
	} `json:"must_reject"`
	X25519 map[string]string `json:"x25519"`
}

func loadTunnel(t testing.TB) tunnelFile {
	var f tunnelFile
	testvec.Load(t, "tunnel.json", &f)
	if len(f.Frames) == 0 {
		t.Fatal("no frame vectors")
	}
	return f
}

var wantKind = map[string]Kind{
	"pils_a_to_b":    KindPILS,
	"pils_b_to_a":    KindPILS,
	"pila_a":         KindPILA,
	"pilk_a":         KindPILK,
	"pilt_ack_hello": KindPILT,
	"pilp":           KindPILP,
}

// TestVectors_Frames decodes every frame of tunnel.json, checks its fields
// and re-encodes it byte for byte (wire.md §4.2).
func TestVectors_Frames(t *testing.T) {
	f := loadTunnel(t)
	seen := map[string]bool{}
	for _, v := range f.Frames {
		t.Run(v.Name, func(t *testing.T) {
			seen[v.Name] = true
			wire := testvec.Hex(t, v.FrameHex)
			k, ok := wantKind[v.Name]
			if !ok {
				t.Fatalf("unexpected vector %q", v.Name)
			}
			if got := Classify(wire); got != k {
				t.Fatalf("Classify = %v, want %v", got, k)
			}
			fr, err := Parse(wire)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if fr.Kind() != k || fr.Size() != len(wire) {
				t.Fatalf("kind %v size %d, want %v %d", fr.Kind(), fr.Size(), k, len(wire))
			}
			switch fr := fr.(type) {
			case *PILS:
				if fr.Sender != addr.NodeID(v.SenderNode) || fr.Counter() != v.Counter {
					t.Errorf("sender %d counter %d, want %d %d", fr.Sender, fr.Counter(), v.SenderNode, v.Counter)
				}
				if p := fr.Prefix(); !bytes.Equal(p[:], testvec.Hex(t, v.NoncePrefix)) {
					t.Errorf("prefix %x, want %s", p, v.NoncePrefix)
				}
				if len(fr.Sealed) != len(testvec.Hex(t, v.PlaintextHex))+TagSize {
					t.Errorf("sealed %d bytes for a %d-byte plaintext", len(fr.Sealed), len(v.PlaintextHex)/2)
				}
				// Encode direction from fields.
				var g PILS
				g.Sender = addr.NodeID(v.SenderNode)
				g.SetNonce([4]byte(testvec.Hex(t, v.NoncePrefix)), v.Counter)
				g.Sealed = fr.Sealed
				if out, err := g.AppendTo(nil); err != nil || !bytes.Equal(out, wire) {
					t.Errorf("encode from fields: %x %v", out, err)
				}
			case *PILA:
				if fr.Sender != addr.NodeID(v.SenderNode) ||
					!bytes.Equal(fr.X25519[:], testvec.Hex(t, v.X25519Public)) ||
					!bytes.Equal(fr.Ed25519[:], testvec.Hex(t, v.Ed25519Public)) {
					t.Errorf("fields %+v", fr)
				}
				m := fr.SignedMessage()
				if !bytes.Equal(m[:], testvec.Hex(t, v.SignedMessageHex)) {
					t.Errorf("signed message %x, want %s", m, v.SignedMessageHex)
				}
			case *PILK:
				if fr.Sender != addr.NodeID(v.SenderNode) {
					t.Errorf("sender %d", fr.Sender)
				}
				if !bytes.Equal(fr.X25519[:], testvec.Hex(t, f.X25519["a_public"])) {
					t.Errorf("x25519 %x", fr.X25519)
				}
			case *PILT:
				if !bytes.Equal(fr.Packet, wire[4:]) {
					t.Errorf("packet %x", fr.Packet)
				}
			}
			out, err := fr.AppendTo([]byte{0xEE})
			if err != nil {
				t.Fatalf("AppendTo: %v", err)
			}
			if out[0] != 0xEE || !bytes.Equal(out[1:], wire) {
				t.Fatalf("re-encode:\n got %x\nwant %x", out[1:], wire)
			}
		})
	}
	for name := range wantKind {
		if !seen[name] {
			t.Errorf("vector %s missing", name)
		}
	}
}

// The must_reject frames are well-formed frames whose cryptography fails;
// framing alone must still decode them (the session package rejects them),
// except the truncated tag, which stays ≥ 70 bytes and decodes too.
func TestVectors_MustRejectFramesDecode(t *testing.T) {
	for _, v := range loadTunnel(t).MustReject {
		if _, err := Parse(testvec.Hex(t, v.FrameHex)); err != nil {
			t.Errorf("%s: %v", v.Name, err)
		}
	}
}

func TestClassify(t *testing.T) {
	for _, c := range []struct {
		in   []byte
		want Kind
	}{
		{nil, KindInvalid},
		{[]byte{}, KindInvalid},
		{[]byte{0x00}, KindBeacon},
		{[]byte{0x01, 0, 0, 2, 0xAE}, KindBeacon},
		{[]byte{0x0F}, KindBeacon},
		{[]byte{0x10}, KindInvalid},
		{[]byte("PIL"), KindInvalid},
		{[]byte("PILX"), KindInvalid},
		{[]byte("QILT"), KindInvalid},
		{[]byte("PILT"), KindPILT},
		{[]byte("PILSxx"), KindPILS},
		{[]byte("PILK"), KindPILK},
		{[]byte("PILA"), KindPILA},
		{[]byte("PILP"), KindPILP},
		{[]byte("PILPextra"), KindPILP},
		{[]byte("pilt"), KindInvalid},
	} {
		if got := Classify(c.in); got != c.want {
			t.Errorf("Classify(%q) = %v, want %v", c.in, got, c.want)
		}
	}
}

func TestMinimumSizes(t *testing.T) {
	for _, c := range []struct {
		magic [4]byte
		min   int
		dec   func([]byte) error
	}{
		{MagicPILT, 38, func(b []byte) error { return new(PILT).Decode(b) }},
		{MagicPILS, 70, func(b []byte) error { return new(PILS).Decode(b) }},
		{MagicPILK, 40, func(b []byte) error { return new(PILK).Decode(b) }},
		{MagicPILA, 136, func(b []byte) error { return new(PILA).Decode(b) }},
		{MagicPILP, 4, func(b []byte) error { return new(PILP).Decode(b) }},
	} {
		b := append(c.magic[:], make([]byte, c.min+100)...)
		for n := 0; n < c.min; n++ {
			if err := c.dec(b[:n]); !errors.Is(err, ErrTruncated) {
				t.Errorf("%s of %d bytes: %v, want ErrTruncated", c.magic, n, err)
			}
		}
		for _, n := range []int{c.min, c.min + 1, c.min + 100} {
			if err := c.dec(b[:n]); err != nil {
				t.Errorf("%s of %d bytes: %v", c.magic, n, err)
			}
		}
		big := append(c.magic[:], make([]byte, MaxDatagram)...)
		if err := c.dec(big); !errors.Is(err, ErrOversized) {
			t.Errorf("%s oversized: %v", c.magic, err)
		}
		if err := c.dec(big[:MaxDatagram]); err != nil {
			t.Errorf("%s at MaxDatagram: %v", c.magic, err)
		}
		wrong := append([]byte("PILX"), make([]byte, c.min)...)
		if err := c.dec(wrong); !errors.Is(err, ErrMagic) {
			t.Errorf("%s wrong magic: %v", c.magic, err)
		}
	}
}

// Longer PILK/PILA are accepted with extra bytes ignored; PILP of any length
// is accepted and re-encoded as exactly 4 bytes.
func TestExtraBytesIgnored(t *testing.T) {
	f := loadTunnel(t)
	for _, v := range f.Frames {
		if v.Name != "pila_a" && v.Name != "pilk_a" && v.Name != "pilp" {
			continue
		}
		wire := testvec.Hex(t, v.FrameHex)
		long := append(append([]byte(nil), wire...), 1, 2, 3, 4, 5)
		fr, err := Parse(long)
		if err != nil {
			t.Fatalf("%s: %v", v.Name, err)
		}
		out, _ := fr.AppendTo(nil)
		if !bytes.Equal(out, wire) {
			t.Errorf("%s: re-encoded %x, want %x", v.Name, out, wire)
		}
	}
}

func TestEncodeRejects(t *testing.T) {
	if _, err := (&PILT{Packet: make([]byte, 33)}).AppendTo(nil); !errors.Is(err, ErrTruncated) {
		t.Errorf("short PILT: %v", err)
	}
	if _, err := (&PILT{Packet: make([]byte, MaxDatagram-3)}).AppendTo(nil); !errors.Is(err, ErrOversized) {
		t.Errorf("big PILT: %v", err)
	}
	if _, err := (&PILS{Sealed: make([]byte, 49)}).AppendTo(nil); !errors.Is(err, ErrTruncated) {
		t.Errorf("short PILS: %v", err)
	}
	if _, err := (&PILS{Sealed: make([]byte, MaxDatagram-19)}).AppendTo(nil); !errors.Is(err, ErrOversized) {
		t.Errorf("big PILS: %v", err)
	}
	if b, err := (&PILS{Sealed: make([]byte, MaxDatagram-20)}).AppendTo(nil); err != nil || len(b) != MaxDatagram {
		t.Errorf("largest PILS: %d %v", len(b), err)
	}
}

func TestParseRejects(t *testing.T) {
	for _, c := range []struct {
		in   []byte
		want error
	}{
		{nil, ErrTruncated},
		{[]byte("PI"), ErrTruncated},
		{[]byte{0x01, 2, 3, 4, 5}, ErrMagic},
		{[]byte("ABCD"), ErrMagic},
		{[]byte("PILS"), ErrTruncated},
	} {
		if _, err := Parse(c.in); !errors.Is(err, c.want) {
			t.Errorf("Parse(%x) = %v, want %v", c.in, err, c.want)
		}
	}
}

func TestSignedMessage(t *testing.T) {
	var k [32]byte
	for i := range k {
		k[i] = byte(i)
	}
	m := SignedMessage(0x01020304, k)
	want := append([]byte("auth\x01\x02\x03\x04"), k[:]...)
	if !bytes.Equal(m[:], want) {
		t.Fatalf("got %x want %x", m, want)
	}
}
