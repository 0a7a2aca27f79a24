package handshake

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/testvec"
)

// serviceVectors mirrors testdata/vectors/services.json; only handshake_v2
// belongs to this package.
type serviceVectors struct {
	About       string `json:"about"`
	HandshakeV2 struct {
		SigningSeedHex string          `json:"signing_seed_hex"`
		Sender         uint32          `json:"sender"`
		Receiver       uint32          `json:"receiver"`
		V2String       string          `json:"v2_string"`
		SigV2          string          `json:"sig_v2"`
		V1Challenge    string          `json:"v1_challenge"`
		V1Signature    string          `json:"v1_signature"`
		Message        json.RawMessage `json:"message"`
	} `json:"handshake_v2"`
	SecureV2         json.RawMessage `json:"secure_v2"`
	WebhookSignature json.RawMessage `json:"webhook_signature"`
}

func loadVector(t testing.TB) (v serviceVectors, compact []byte) {
	var all serviceVectors
	testvec.Load(t, "services.json", &all)
	var buf bytes.Buffer
	if err := json.Compact(&buf, all.HandshakeV2.Message); err != nil {
		t.Fatal(err)
	}
	return all, buf.Bytes()
}

// TestServices_13_HandshakeV2Vector reproduces every field of the
// handshake_v2 vector: decode, re-encode byte for byte, both signature
// strings and both signatures (services.md §9 item 13).
func TestServices_13_HandshakeV2Vector(t *testing.T) {
	all, wire := loadVector(t)
	v := all.HandshakeV2
	priv := ed25519.NewKeyFromSeed(testvec.Hex(t, v.SigningSeedHex))
	sender, receiver := addr.NodeID(v.Sender), addr.NodeID(v.Receiver)

	m, err := Parse(wire)
	if err != nil {
		t.Fatal(err)
	}
	if m.NodeID != sender || m.Type != Request {
		t.Fatalf("decoded %+v", m)
	}
	out, err := m.Marshal()
	if err != nil || !bytes.Equal(out, wire) {
		t.Fatalf("encode:\n%s (%v)\nwant\n%s", out, err, wire)
	}
	if got := string(V1String(sender, receiver)); got != v.V1Challenge {
		t.Errorf("V1String = %q, want %q", got, v.V1Challenge)
	}
	if got := string(V2String(&m, receiver)); got != v.V2String {
		t.Errorf("V2String = %q, want %q", got, v.V2String)
	}
	if got := EncodePublicKey(priv.Public().(ed25519.PublicKey)); got != m.PublicKey {
		t.Errorf("public key %q, want %q", got, m.PublicKey)
	}

	fresh := m
	fresh.Signature, fresh.SigV2 = "", ""
	if err := fresh.SignV1(priv, receiver); err != nil || fresh.Signature != v.V1Signature || m.Signature != v.V1Signature {
		t.Errorf("v1 signature %q (%v), want %q", fresh.Signature, err, v.V1Signature)
	}
	if err := fresh.SignV2(priv, receiver); err != nil || fresh.SigV2 != v.SigV2 || m.SigV2 != v.SigV2 {
		t.Errorf("sig_v2 %q (%v), want %q", fresh.SigV2, err, v.SigV2)
	}

	pub, err := DecodePublicKey(m.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.VerifyV1(pub, receiver); err != nil {
		t.Errorf("VerifyV1: %v", err)
	}
	if err := m.VerifyV2(pub, receiver); err != nil {
		t.Errorf("VerifyV2: %v", err)
	}
	// v2 binds the type and the receiver; v1 binds neither the type.
	other := m
	other.Type = Accept
	if err := other.VerifyV2(pub, receiver); !errors.Is(err, ErrSignature) {
		t.Errorf("v2 verified for another type: %v", err)
	}
	if err := other.VerifyV1(pub, receiver); err != nil {
		t.Errorf("v1 should not bind the type: %v", err)
	}
	if err := m.VerifyV2(pub, receiver+1); !errors.Is(err, ErrSignature) {
		t.Errorf("v2 verified for another receiver: %v", err)
	}
}

func TestV2StringEmptyJustificationAndReason(t *testing.T) {
	m := Message{Type: Reject, NodeID: 7, Timestamp: -1, Nonce: "n", Reason: "no"}
	want := "pilot-hs-v2\nhandshake_reject\n7\n9\n-1\nn\n\n" +
		"9390298f3fb0c5b160498935d79cb139aef28e1c47358b4bbba61862b9c26e59"
	if got := string(V2String(&m, 9)); got != want {
		t.Errorf("V2String = %q, want %q", got, want)
	}
}

func TestVerifyNeverPanics(t *testing.T) {
	m := Message{Type: Request, NodeID: 1, Signature: "", SigV2: "!!"}
	for _, pub := range []ed25519.PublicKey{nil, make([]byte, 31), make([]byte, 33), make([]byte, 32)} {
		if err := m.VerifyV1(pub, 2); !errors.Is(err, ErrSignature) {
			t.Errorf("VerifyV1 key %d bytes: %v", len(pub), err)
		}
		if err := m.VerifyV2(pub, 2); !errors.Is(err, ErrSignature) {
			t.Errorf("VerifyV2 key %d bytes: %v", len(pub), err)
		}
	}
	if err := m.SignV2(make([]byte, 10), 2); !errors.Is(err, ErrSignature) {
		t.Errorf("SignV2 with a short key: %v", err)
	}
	for _, s := range []string{"", "abc", "AAAA", strings.Repeat("A", 44)} {
		if _, err := DecodePublicKey(s); s != strings.Repeat("A", 44) && !errors.Is(err, ErrInvalid) {
			t.Errorf("DecodePublicKey(%q) = %v", s, err)
		}
	}
}

func TestMarshalNoHTMLEscape(t *testing.T) {
	m := Message{Type: Request, NodeID: 1, Justification: "<a & b>", Timestamp: 5}
	out, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"type":"handshake_request","node_id":1,"public_key":"","justification":"<a & b>","signature":"","reason":"","timestamp":5,"nonce":"","sig_v2":""}`
	if string(out) != want {
		t.Errorf("got  %s\nwant %s", out, want)
	}
}

// TestOversizeJustificationRefused: justification is capped at 1,024
// bytes on both sides, and an encoding reaching 4,096 bytes is refused by
// the sender (services.md §5.1, §5.2).
func TestOversizeJustificationRefused(t *testing.T) {
	m := Message{Type: Request, NodeID: 1, Timestamp: 5, Justification: strings.Repeat("j", MaxJustification)}
	out, err := m.Marshal()
	if err != nil {
		t.Fatalf("1,024-byte justification refused: %v", err)
	}
	if _, err := Parse(out); err != nil {
		t.Fatalf("1,024-byte justification not parsed: %v", err)
	}
	m.Justification += "j"
	if _, err := m.Marshal(); !errors.Is(err, ErrInvalid) {
		t.Errorf("1,025-byte justification encoded: %v", err)
	}
	raw := bytes.Replace(out, []byte(`"justification":"`), []byte(`"justification":"j`), 1)
	if _, err := Parse(raw); !errors.Is(err, ErrInvalid) {
		t.Errorf("1,025-byte justification parsed: %v", err)
	}

	m = Message{Type: Reject, NodeID: 1, Reason: strings.Repeat("r", MaxReason+1)}
	if _, err := m.Marshal(); !errors.Is(err, ErrInvalid) {
		t.Errorf("257-byte reason encoded: %v", err)
	}
	// Control characters are written as \u00XX: 1,024 of them make a
	// 6 KiB encoding, refused as too large.
	m = Message{Type: Request, NodeID: 1, Justification: strings.Repeat("\x01", MaxJustification)}
	if _, err := m.Marshal(); !errors.Is(err, ErrTooLarge) {
		t.Errorf("6 KiB encoding: %v, want ErrTooLarge", err)
	}
}

func TestParseShape(t *testing.T) {
	const ok = `"type":"handshake_accept","node_id":5,"timestamp":1`
	for _, tc := range []struct {
		in  string
		err error
	}{
		{`{` + ok + `}`, nil},
		{" \n{" + ok + `,"extra":[1,{}]}` + "\r\n", nil},
		{`{` + ok + `,"public_key":"k","justification":"","signature":"","reason":"","nonce":"","sig_v2":""}`, nil},
		{``, ErrIncomplete},
		{`{` + ok, ErrIncomplete},
		{`{"type":"handshake_acc`, ErrIncomplete},
		{`{` + ok + `}{}`, ErrInvalid},
		{`{` + ok + `} x`, ErrInvalid},
		{`null`, ErrInvalid},
		{`[]`, ErrInvalid},
		{`"str"`, ErrInvalid},
		{`{"node_id":5,"timestamp":1}`, ErrInvalid},
		{`{"type":"handshake_accept","timestamp":1}`, ErrInvalid},
		{`{"type":"handshake_accept","node_id":5}`, ErrInvalid},
		{`{"type":"handshake_hello","node_id":5,"timestamp":1}`, ErrInvalid},
		{`{"type":1,"node_id":5,"timestamp":1}`, ErrInvalid},
		{`{"type":"handshake_accept","node_id":"5","timestamp":1}`, ErrInvalid},
		{`{"type":"handshake_accept","node_id":-1,"timestamp":1}`, ErrInvalid},
		{`{"type":"handshake_accept","node_id":4294967296,"timestamp":1}`, ErrInvalid},
		{`{"type":"handshake_accept","node_id":5.0,"timestamp":1}`, ErrInvalid},
		{`{"type":"handshake_accept","node_id":5,"timestamp":1e9}`, ErrInvalid},
		{`{` + ok + `,"public_key":null}`, ErrInvalid},
		{`{` + ok + `,"sig_v2":7}`, ErrInvalid},
		{`{` + ok + `,"reason":"` + strings.Repeat("r", MaxReason+1) + `"}`, ErrInvalid},
		{`{"type":"handshake_accept","node_id":5,"timestamp":1,}`, ErrInvalid},
	} {
		_, err := Parse([]byte(tc.in))
		if tc.err == nil && err != nil || tc.err != nil && !errors.Is(err, tc.err) {
			t.Errorf("Parse(%q) err = %v, want %v", tc.in, err, tc.err)
		}
	}
}

func FuzzParse(f *testing.F) {
	_, wire := loadVector(f)
	f.Add(wire)
	f.Add([]byte(`{"type":"handshake_revoke","node_id":0,"timestamp":-5,"reason":"\u0001<>"}`))
	f.Add([]byte(`{"type":"handshake_accept","node_id":4294967295,"timestamp":9223372036854775807,"public_key":"\ud800"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b)
		if err != nil {
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrIncomplete) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		out, err := m.Marshal()
		if errors.Is(err, ErrTooLarge) {
			return // legal on receipt (up to 8 KiB), refused on sending
		}
		if err != nil {
			t.Fatalf("Marshal of a parsed message: %v", err)
		}
		back, err := Parse(out)
		if err != nil || back != m {
			t.Fatalf("round trip: %+v -> %s -> %+v (%v)", m, out, back, err)
		}
		_ = V2String(&m, 1)
		_ = m.VerifyV2(ed25519.PublicKey(make([]byte, ed25519.PublicKeySize)), 1)
	})
}
