package session

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"errors"
	"testing"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/testvec"
	"github.com/pilot-go/pilot/internal/wire/frame"
	"github.com/pilot-go/pilot/internal/wire/packet"
)

// tunnelFile mirrors testdata/vectors/tunnel.json.
type tunnelFile struct {
	About      string        `json:"about"`
	Frames     []frameVector `json:"frames"`
	MustReject []struct {
		Name     string `json:"name"`
		FrameHex string `json:"frame_hex"`
		Why      string `json:"why"`
	} `json:"must_reject"`
	X25519 struct {
		APrivate     string `json:"a_private"`
		APublic      string `json:"a_public"`
		BPrivate     string `json:"b_private"`
		BPublic      string `json:"b_public"`
		SharedSecret string `json:"shared_secret"`
		TunnelKey    string `json:"tunnel_key"`
	} `json:"x25519"`
}

type frameVector struct {
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
}

// packetsFile mirrors the part of packets.json these tests use.
type packetsFile struct {
	About            string           `json:"about"`
	Addresses        []map[string]any `json:"addresses"`
	InvalidAddresses []string         `json:"invalid_addresses"`
	Packets          []map[string]any `json:"packets"`
}

// Node IDs of the vectors: A is 686 (0x2AE), B is 687.
const nodeA, nodeB addr.NodeID = 686, 687

type fixture struct {
	v          tunnelFile
	aPriv      *ecdh.PrivateKey
	bPriv      *ecdh.PrivateKey
	aPub, bPub [32]byte
}

func loadFixture(t testing.TB) *fixture {
	t.Helper()
	fx := &fixture{}
	testvec.Load(t, "tunnel.json", &fx.v)
	var err error
	if fx.aPriv, err = ecdh.X25519().NewPrivateKey(testvec.Hex(t, fx.v.X25519.APrivate)); err != nil {
		t.Fatal(err)
	}
	if fx.bPriv, err = ecdh.X25519().NewPrivateKey(testvec.Hex(t, fx.v.X25519.BPrivate)); err != nil {
		t.Fatal(err)
	}
	fx.aPub = [32]byte(testvec.Hex(t, fx.v.X25519.APublic))
	fx.bPub = [32]byte(testvec.Hex(t, fx.v.X25519.BPublic))
	return fx
}

// stateA is node 686's state toward 687; stateB is 687's toward 686. Both
// hold the vectors' tunnel key.
func (fx *fixture) stateA(t testing.TB, prefix [4]byte) *State {
	t.Helper()
	s, err := New(Config{LocalNode: nodeA, PeerNode: nodeB, Private: fx.aPriv, PeerPublic: fx.bPub,
		Authenticated: true, Created: time.Unix(1000, 0), Rand: bytes.NewReader(prefix[:])})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (fx *fixture) stateB(t testing.TB, prefix [4]byte) *State {
	t.Helper()
	s, err := New(Config{LocalNode: nodeB, PeerNode: nodeA, Private: fx.bPriv, PeerPublic: fx.aPub,
		Authenticated: true, Created: time.Unix(1000, 0), Rand: bytes.NewReader(prefix[:])})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (fx *fixture) frame(t testing.TB, name string) frameVector {
	for _, f := range fx.v.Frames {
		if f.Name == name {
			return f
		}
	}
	t.Fatalf("no frame vector %q", name)
	return frameVector{}
}

// Conformance wire.md §14 item 3: the HKDF key equals tunnel_key.
func TestWire_Item3_TunnelKey(t *testing.T) {
	fx := loadFixture(t)
	if got := fx.aPriv.PublicKey().Bytes(); !bytes.Equal(got, fx.aPub[:]) {
		t.Errorf("a_public %x", got)
	}
	if got := fx.bPriv.PublicKey().Bytes(); !bytes.Equal(got, fx.bPub[:]) {
		t.Errorf("b_public %x", got)
	}
	bpub, _ := ecdh.X25519().NewPublicKey(fx.bPub[:])
	shared, err := fx.aPriv.ECDH(bpub)
	if err != nil || !bytes.Equal(shared, testvec.Hex(t, fx.v.X25519.SharedSecret)) {
		t.Errorf("shared secret %x %v", shared, err)
	}
	want := testvec.Hex(t, fx.v.X25519.TunnelKey)
	for _, c := range []struct {
		priv *ecdh.PrivateKey
		pub  [32]byte
	}{{fx.aPriv, fx.bPub}, {fx.bPriv, fx.aPub}} {
		key, err := DeriveKey(c.priv, c.pub)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(key[:], want) {
			t.Errorf("tunnel key %x, want %x", key, want)
		}
	}
}

func TestDeriveKey_RejectsLowOrderAndBadKeys(t *testing.T) {
	fx := loadFixture(t)
	for _, pub := range [][32]byte{{}, {1}, {0xE0, 0xEB, 0x7A, 0x7C, 0x3B, 0x41, 0xB8, 0xAE, 0x16, 0x56, 0xE3, 0xFA, 0xF1,
		0x9F, 0xC4, 0x6A, 0xDA, 0x09, 0x8D, 0xEB, 0x9C, 0x32, 0xB1, 0xFD, 0x86, 0x62, 0x05, 0x16, 0x5F, 0x49, 0xB8, 0x00}} {
		if _, err := DeriveKey(fx.aPriv, pub); !errors.Is(err, ErrLowOrder) {
			t.Errorf("peer key %x: %v, want ErrLowOrder", pub, err)
		}
		_, err := New(Config{LocalNode: 1, PeerNode: 2, Private: fx.aPriv, PeerPublic: pub})
		if !errors.Is(err, ErrLowOrder) {
			t.Errorf("New with peer key %x: %v", pub, err)
		}
	}
	p256, _ := ecdh.P256().GenerateKey(nil)
	if _, err := DeriveKey(p256, fx.bPub); !errors.Is(err, ErrKey) {
		t.Errorf("P-256 key: %v", err)
	}
	if _, err := DeriveKey(nil, fx.bPub); !errors.Is(err, ErrKey) {
		t.Errorf("nil key: %v", err)
	}
	if _, err := New(Config{LocalNode: 5, PeerNode: 5, Private: fx.aPriv, PeerPublic: fx.bPub}); !errors.Is(err, ErrConfig) {
		t.Errorf("peer = self: %v", err)
	}
	if _, err := New(Config{LocalNode: 1, PeerNode: 2, Private: fx.aPriv, PeerPublic: fx.bPub,
		Rand: bytes.NewReader([]byte{1, 2})}); err == nil {
		t.Error("short random source accepted")
	}
}

// Conformance wire.md §14 item 3: both PILS frames open with AAD = sender and
// their plaintexts are the packets.json packets; sealing the same packet with
// the same prefix and counter reproduces the frames byte for byte.
func TestWire_Item3_PILSVectors(t *testing.T) {
	fx := loadFixture(t)
	var pf packetsFile
	testvec.Load(t, "packets.json", &pf)
	wireOf := map[string]string{}
	for _, p := range pf.Packets {
		wireOf[p["name"].(string)] = p["wire_hex"].(string)
	}
	for _, c := range []struct {
		name   string
		sender func(prefix [4]byte) *State
		recv   *State
	}{
		{"pils_a_to_b", func(p [4]byte) *State { return fx.stateA(t, p) }, fx.stateB(t, [4]byte{9, 9, 9, 9})},
		{"pils_b_to_a", func(p [4]byte) *State { return fx.stateB(t, p) }, fx.stateA(t, [4]byte{9, 9, 9, 9})},
	} {
		t.Run(c.name, func(t *testing.T) {
			v := fx.frame(t, c.name)
			wire := testvec.Hex(t, v.FrameHex)
			plain := testvec.Hex(t, v.PlaintextHex)
			if w, ok := wireOf[v.PlaintextPacket]; !ok || w != v.PlaintextHex {
				t.Fatalf("plaintext is not packets.json %q", v.PlaintextPacket)
			}
			// bytes → decode
			got, err := c.recv.Open(nil, wire)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if !bytes.Equal(got, plain) {
				t.Fatalf("plaintext %x, want %x", got, plain)
			}
			var p packet.Packet
			if err := packet.Decode(got, &p); err != nil {
				t.Fatalf("inner packet: %v", err)
			}
			if p.Src.Node == addr.NodeID(v.SenderNode) {
				t.Errorf("vector note says the inner source differs from the sender")
			}
			// encode → bytes
			s := c.sender([4]byte(testvec.Hex(t, v.NoncePrefix)))
			var out []byte
			for i := uint64(1); i <= v.Counter; i++ {
				if out, err = s.Seal(nil, plain); err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(out, wire) {
				t.Fatalf("Seal:\n got %x\nwant %x", out, wire)
			}
			if s.Sealed() != v.Counter || c.recv.Opened() != 1 {
				t.Errorf("sealed %d opened %d", s.Sealed(), c.recv.Opened())
			}
		})
	}
}

// Conformance wire.md §14 item 3: the must_reject frames fail.
func TestWire_Item3_MustReject(t *testing.T) {
	fx := loadFixture(t)
	seen := 0
	for _, v := range fx.v.MustReject {
		b := testvec.Hex(t, v.FrameHex)
		switch v.Name {
		case "pils_wrong_aad_sender", "pils_truncated_tag":
			var f frame.PILS
			if err := f.Decode(b); err != nil {
				t.Fatalf("%s: framing: %v", v.Name, err)
			}
			// Open under the state of the peer the sender field names, so the
			// frame reaches AES-GCM and fails there.
			recv := fx.stateB(t, [4]byte{9, 9, 9, 9})
			if f.Sender == nodeB {
				recv = fx.stateA(t, [4]byte{9, 9, 9, 9})
			}
			if _, err := recv.Open(nil, b); !errors.Is(err, ErrAuth) {
				t.Errorf("%s: %v, want ErrAuth", v.Name, err)
			}
			if len(recv.replay.windows) != 0 || recv.Opened() != 0 {
				t.Errorf("%s changed the window", v.Name)
			}
		case "pila_bad_signature":
			var f frame.PILA
			if err := f.Decode(b); err != nil {
				t.Fatalf("%s: framing: %v", v.Name, err)
			}
			if err := VerifyPILA(&f); !errors.Is(err, ErrSignature) {
				t.Errorf("%s: %v, want ErrSignature", v.Name, err)
			}
		default:
			t.Fatalf("unexpected must_reject entry %q", v.Name)
		}
		seen++
	}
	if seen != 3 {
		t.Fatalf("%d must_reject entries, want 3", seen)
	}
}

// Conformance wire.md §14 item 3: pila_a verifies and re-signing its message
// reproduces the signature and the frame.
func TestWire_Item3_PILA(t *testing.T) {
	fx := loadFixture(t)
	v := fx.frame(t, "pila_a")
	wire := testvec.Hex(t, v.FrameHex)
	var f frame.PILA
	if err := f.Decode(wire); err != nil {
		t.Fatal(err)
	}
	if err := VerifyPILA(&f); err != nil {
		t.Fatalf("VerifyPILA: %v", err)
	}
	id := ed25519.NewKeyFromSeed(testvec.Hex(t, v.Ed25519Seed))
	msg := f.SignedMessage()
	if !bytes.Equal(msg[:], testvec.Hex(t, v.SignedMessageHex)) {
		t.Fatalf("signed message %x", msg)
	}
	if sig := ed25519.Sign(id, msg[:]); !bytes.Equal(sig, f.Sig[:]) {
		t.Fatalf("re-signed %x, want %x", sig, f.Sig)
	}
	g, err := SignPILA(id, addr.NodeID(v.SenderNode), [32]byte(testvec.Hex(t, v.X25519Public)))
	if err != nil {
		t.Fatal(err)
	}
	out, _ := g.AppendTo(nil)
	if !bytes.Equal(out, wire) {
		t.Fatalf("SignPILA:\n got %x\nwant %x", out, wire)
	}
	if _, err := SignPILA(id[:10], 1, [32]byte{}); !errors.Is(err, ErrKey) {
		t.Errorf("short identity key: %v", err)
	}
	// Any change to a signed field breaks verification.
	for _, mutate := range []func(*frame.PILA){
		func(p *frame.PILA) { p.Sender++ },
		func(p *frame.PILA) { p.X25519[31] ^= 1 },
		func(p *frame.PILA) { p.Ed25519[0] ^= 1 },
	} {
		h := f
		mutate(&h)
		if err := VerifyPILA(&h); !errors.Is(err, ErrSignature) {
			t.Errorf("mutated PILA verified: %v", err)
		}
	}
}
