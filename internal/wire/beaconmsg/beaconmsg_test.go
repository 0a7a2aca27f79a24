package beaconmsg

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/testvec"
)

func hx(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

var zeros16 = strings.Repeat("00", 16)

// layouts are written by hand from beacon.md §2.
var layouts = []struct {
	name string
	msg  Message
	hex  string
}{
	{"Discover/plain", Discover{Node: 686}, "01 000002ae"},
	{"Discover/padded-node0", Discover{Node: 0, Form: DiscoverPadded}, "01 00000000" + zeros16},
	{"DiscoverReply/IPv4", DiscoverReply{Endpoint: netip.MustParseAddrPort("198.51.100.7:41000")}, "02 04 c6336407 a028"},
	{"DiscoverReply/IPv6", DiscoverReply{Endpoint: netip.MustParseAddrPort("[2001:db8::1]:4000")},
		"02 10 20010db8000000000000000000000001 0fa0"},
	{"PunchRequest/original", PunchRequest{Requester: 686, Target: 687}, "03 000002ae 000002af"},
	{"PunchRequest/padded", PunchRequest{Requester: 686, Target: 687, Padded: true}, "03 000002ae 000002af" + zeros16[:24]},
	{"PunchCommand/IPv4", PunchCommand{Endpoint: netip.MustParseAddrPort("203.0.113.7:4000")}, "04 04 cb007107 0fa0"},
	{"PunchCommand/IPv6", PunchCommand{Endpoint: netip.MustParseAddrPort("[fe80::2]:1")},
		"04 10 fe800000000000000000000000000002 0001"},
	{"Relay", Relay{Sender: 686, Dest: 687, Frame: []byte("PILS\x01\x02")}, "05 000002ae 000002af 50494c53 0102"},
	{"RelayDeliver", RelayDeliver{Sender: 686, Frame: []byte("PILS\x01\x02")}, "06 000002ae 50494c53 0102"},
	{"Sync", Sync{Beacon: 1, Nodes: []addr.NodeID{686, 687}}, "07 00000001 0002 000002ae 000002af"},
	{"Sync/empty", Sync{Beacon: 0xFFFFFFFF}, "07 ffffffff 0000"},
}

func TestBeacon_Layouts(t *testing.T) {
	for _, tc := range layouts {
		t.Run(tc.name, func(t *testing.T) {
			want := hx(t, tc.hex)
			got, err := Marshal(tc.msg)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("encode: %x, %v\nwant %x", got, err, want)
			}
			m, err := Parse(want)
			if err != nil || !reflect.DeepEqual(m, tc.msg) {
				t.Fatalf("decode: %#v, %v\nwant %#v", m, err, tc.msg)
			}
			if m.Type() != Type(want[0]) {
				t.Fatalf("Type() = %v", m.Type())
			}
		})
	}
}

// tunnelFile mirrors testdata/vectors/tunnel.json (only its frames are used here).
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

// TestBeacon_SignedDiscoverVector checks the vector of beacon.md §4: seed
// 0x40…0x5F (tunnel.json pila_a), node 686, timestamp 1774606503000.
func TestBeacon_SignedDiscoverVector(t *testing.T) {
	const (
		signedHex = "70696c6f742d626561636f6e2d6469736331000002ae0000019d2eca4c58"
		msgHex    = "01000002ae010000019d2eca4c5859104a3fae11ff0c984dd65e55ca2721cc3c8380e2a2f27f7a1875dc85" +
			"0f45087acc8c3580c25ef26da6cb074d1f12f44cb5fae91ce9a12e9d4b2ef9b0518806"
		ts = 1774606503000
	)
	seed := make([]byte, ed25519.SeedSize)
	for i := range seed {
		seed[i] = byte(0x40 + i)
	}
	var tv tunnelFile
	testvec.Load(t, "tunnel.json", &tv)
	var pubHex string
	for _, f := range tv.Frames {
		if f.Name == "pila_a" {
			if !bytes.Equal(testvec.Hex(t, f.Ed25519Seed), seed) {
				t.Fatalf("pila_a seed %s is not 0x40…0x5F", f.Ed25519Seed)
			}
			pubHex = f.Ed25519Public
		}
	}
	key := ed25519.NewKeyFromSeed(seed)
	pub := key.Public().(ed25519.PublicKey)
	if hex.EncodeToString(pub) != pubHex {
		t.Fatalf("public key %x, vector %s", pub, pubHex)
	}

	signed := SignedDiscoverMessage(686, ts)
	if hex.EncodeToString(signed) != signedHex || len(signed) != SignedDiscoverLen || SignedDiscoverLen != 30 {
		t.Fatalf("signed bytes %x (%d)", signed, len(signed))
	}
	d := NewSignedDiscover(686, ts, key)
	got, err := Marshal(d)
	if err != nil || hex.EncodeToString(got) != msgHex || len(got) != DiscoverSignedLen {
		t.Fatalf("message %x, %v", got, err)
	}
	m, err := Parse(hx(t, msgHex))
	if err != nil || !reflect.DeepEqual(m, d) {
		t.Fatalf("parse %#v, %v", m, err)
	}
	if !d.Verify(pub) || !d.Records() {
		t.Fatal("vector does not verify")
	}
	bad := d
	bad.Timestamp++
	if bad.Verify(pub) || d.Verify(pub[:31]) || (Discover{Node: 686}).Verify(pub) {
		t.Fatal("verify accepted a wrong message, key or form")
	}
}

// TestBeacon_DiscoverClassification: signed when at least 78 bytes and
// byte 5 is 0x01, otherwise plain (beacon.md §4).
func TestBeacon_DiscoverClassification(t *testing.T) {
	msg := func(n int, b5 byte) []byte {
		b := make([]byte, n)
		b[0], b[4] = 1, 7
		if n > 5 {
			b[5] = b5
		}
		return b
	}
	cases := []struct {
		b    []byte
		want DiscoverForm
	}{
		{msg(5, 0), DiscoverPlain},
		{msg(6, 1), DiscoverPadded},
		{msg(21, 0), DiscoverPadded},
		{msg(77, 1), DiscoverPadded},
		{msg(78, 0), DiscoverPadded},
		{msg(78, 2), DiscoverPadded},
		{msg(78, 1), DiscoverSigned},
		{msg(200, 1), DiscoverSigned},
	}
	for _, tc := range cases {
		m, err := Parse(tc.b)
		if err != nil {
			t.Fatalf("%d bytes: %v", len(tc.b), err)
		}
		if d := m.(Discover); d.Form != tc.want || d.Node != 7 {
			t.Errorf("%d bytes, byte5=%d: form %d, want %d", len(tc.b), tc.b[min(5, len(tc.b)-1)], d.Form, tc.want)
		}
	}
	for _, node := range []addr.NodeID{0, 0xFFFFFFFF} {
		b, _ := Marshal(Discover{Node: node})
		m, err := Parse(b)
		if err != nil || m.(Discover).Records() {
			t.Errorf("node %d: %v, records %v", node, err, err == nil && m.(Discover).Records())
		}
	}
}

// TestBeacon_MinimumLengths checks the minimum lengths of beacon.md §2.
func TestBeacon_MinimumLengths(t *testing.T) {
	valid := map[Type]string{
		TypeDiscover:      "01 000002ae",
		TypeDiscoverReply: "02 04 c6336407 a028",
		TypePunchRequest:  "03 000002ae 000002af",
		TypePunchCommand:  "04 04 c6336407 a028",
		TypeRelay:         "05 000002ae 000002af 50494c53",
		TypeRelayDeliver:  "06 000002ae 50494c53",
		TypeSync:          "07 00000001 0000",
	}
	mins := map[Type]int{TypeDiscover: 5, TypeDiscoverReply: 8, TypePunchRequest: 9, TypePunchCommand: 8,
		TypeRelay: 13, TypeRelayDeliver: 9, TypeSync: 7}
	for typ, s := range valid {
		b := hx(t, s)
		if len(b) != mins[typ] {
			t.Fatalf("%v: table has %d bytes, spec minimum %d", typ, len(b), mins[typ])
		}
		if _, err := Parse(b); err != nil {
			t.Errorf("%v at minimum length: %v", typ, err)
		}
		for n := 1; n < len(b); n++ {
			if _, err := Parse(b[:n]); !errors.Is(err, ErrTruncated) {
				t.Errorf("%v with %d bytes: %v", typ, n, err)
			}
		}
	}
}

func TestBeacon_UnknownTypesRejected(t *testing.T) {
	for _, typ := range []byte{0x00, 0x08, 0x09, 0x0A, 0x0F, 0x10, 0x50, 0xFF} {
		if _, err := Parse([]byte{typ, 0, 0, 2, 0xae, 0, 0, 0, 0, 0, 0, 0, 0, 0}); !errors.Is(err, ErrUnknownType) {
			t.Errorf("type 0x%02X: %v", typ, err)
		}
	}
	if _, err := Parse(nil); !errors.Is(err, ErrTruncated) {
		t.Errorf("empty: %v", err)
	}
}

// TestBeacon_InvalidNodeIDs: node IDs 0 and 0xFFFFFFFF are dropped where
// they name a node (beacon.md §2, §5.1 step 1).
func TestBeacon_InvalidNodeIDs(t *testing.T) {
	for _, s := range []string{
		"03 00000000 000002af", "03 000002ae ffffffff", "03 000002ae 000002ae",
		"05 00000000 000002af 50494c53", "05 000002ae ffffffff 50494c53",
		"06 00000000 50494c53", "06 ffffffff 50494c53",
	} {
		if _, err := Parse(hx(t, s)); !errors.Is(err, ErrInvalidNode) {
			t.Errorf("%s: %v", s, err)
		}
	}
	if ValidNode(0) || ValidNode(0xFFFFFFFF) || !ValidNode(1) || !ValidNode(0xFFFFFFFE) {
		t.Error("ValidNode")
	}
}
