package beaconmsg

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/testvec"
)

func TestBeacon_EndpointEncoding(t *testing.T) {
	cases := []struct {
		ep   string
		want string
	}{
		{"198.51.100.7:41000", "04 c6336407 a028"},
		{"[::ffff:198.51.100.7]:41000", "04 c6336407 a028"}, // IPv4-mapped travels as 4 bytes
		{"[2001:db8::1]:4000", "10 20010db8000000000000000000000001 0fa0"},
		{"[::]:0", "10 00000000000000000000000000000000 0000"},
		{"0.0.0.0:65535", "04 00000000 ffff"},
	}
	for _, tc := range cases {
		ep := netip.MustParseAddrPort(tc.ep)
		got, err := AppendEndpoint(nil, ep)
		if err != nil || !bytes.Equal(got, hx(t, tc.want)) || len(got) != EndpointLen(ep) {
			t.Errorf("%s: %x, %v", tc.ep, got, err)
		}
		back, n, err := ParseEndpoint(got)
		if err != nil || n != len(got) || back != netip.AddrPortFrom(ep.Addr().Unmap(), ep.Port()) {
			t.Errorf("%s: parsed %v, %d, %v", tc.ep, back, n, err)
		}
	}
	// A 16-byte IPv4-mapped address from a lax sender is read as IPv4.
	ep, _, err := ParseEndpoint(hx(t, "10 00000000000000000000ffffc6336407 a028"))
	if err != nil || ep != netip.MustParseAddrPort("198.51.100.7:41000") {
		t.Errorf("mapped: %v %v", ep, err)
	}
	if _, err := AppendEndpoint(nil, netip.AddrPort{}); !errors.Is(err, ErrBadEndpoint) {
		t.Errorf("invalid address: %v", err)
	}
	if _, err := Marshal(DiscoverReply{}); !errors.Is(err, ErrBadEndpoint) {
		t.Errorf("DiscoverReply with invalid endpoint: %v", err)
	}
}

// TestBeacon_EndpointRejects: a length byte other than 4 or 16, or a
// truncated endpoint, is dropped (beacon.md §2).
func TestBeacon_EndpointRejects(t *testing.T) {
	cases := []struct {
		hex  string
		want error
	}{
		{"02 05 c6336407 a02800", ErrBadEndpoint},
		{"02 00 c6336407 a028", ErrBadEndpoint},
		{"04 06 c6336407 a02800 00", ErrBadEndpoint},
		{"04 ff c6336407 a028", ErrBadEndpoint},
		{"02 10 20010db8000000000000", ErrTruncated},
		{"04 10 20010db8000000000000000000000001 0f", ErrTruncated},
		{"02 04 c6336407 a0", ErrTruncated},
	}
	for _, tc := range cases {
		if _, err := Parse(hx(t, tc.hex)); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.hex, err, tc.want)
		}
	}
	if _, _, err := ParseEndpoint(nil); !errors.Is(err, ErrTruncated) {
		t.Errorf("empty endpoint: %v", err)
	}
}

// TestBeacon_R1_PaddingCoversReplies: our padded Discover and PunchRequest
// (21 bytes) are never smaller than the largest reply (20 bytes), beacon.md §10 rule 1.
func TestBeacon_R1_PaddingCoversReplies(t *testing.T) {
	d, _ := Marshal(Discover{Form: DiscoverPadded})
	p, _ := Marshal(PunchRequest{Requester: 1, Target: 2, Padded: true})
	v6 := netip.MustParseAddrPort("[2001:db8::1]:65535")
	r, _ := Marshal(DiscoverReply{Endpoint: v6})
	c, _ := Marshal(PunchCommand{Endpoint: v6})
	if len(d) != 21 || len(p) != 21 || len(r) != 20 || len(c) != 20 {
		t.Fatalf("sizes %d %d %d %d", len(d), len(p), len(r), len(c))
	}
	if !bytes.Equal(d[5:], make([]byte, 16)) || !bytes.Equal(p[9:], make([]byte, 12)) {
		t.Fatalf("padding is not zero: %x %x", d, p)
	}
}

func TestBeacon_RelayableMagic(t *testing.T) {
	cases := map[string]bool{
		"PILA": true, "PILK": true, "PILS\x00": true, "PILT..": true,
		"PILP": false, "PIL": false, "": false, "pila": false, "XILS": false, "PILX": false, "\x05PIL": false,
	}
	for f, want := range cases {
		if Relayable([]byte(f)) != want {
			t.Errorf("%q: %v", f, !want)
		}
		err := CheckRelayFrame([]byte(f))
		if (err == nil) != want || (!want && !errors.Is(err, ErrNotRelayable)) {
			t.Errorf("CheckRelayFrame(%q): %v", f, err)
		}
	}
	big := append([]byte("PILS"), make([]byte, MaxRelayFrame-3)...)
	if err := CheckRelayFrame(big); !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("65,536-byte frame: %v", err)
	}
	if err := CheckRelayFrame(big[:MaxRelayFrame]); err != nil {
		t.Errorf("65,535-byte frame: %v", err)
	}
}

// TestBeacon_RelayTunnelVectors wraps every tunnel frame vector in a Relay:
// all but PILP are relayable, and the RelayDeliver is 4 bytes shorter with
// a byte-identical frame (beacon.md §6.1, checklist 6).
func TestBeacon_RelayTunnelVectors(t *testing.T) {
	var tv tunnelFile
	testvec.Load(t, "tunnel.json", &tv)
	for _, f := range tv.Frames {
		frame := testvec.Hex(t, f.FrameHex)
		relay := Relay{Sender: 686, Dest: 687, Frame: frame}
		b, err := Marshal(relay)
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		m, err := Parse(b)
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		r := m.(Relay)
		if want := f.Name != "pilp"; Relayable(r.Frame) != want {
			t.Errorf("%s: relayable %v", f.Name, !want)
		}
		d, _ := Marshal(r.Deliver())
		if len(d) != len(b)-4 || !bytes.Equal(d[5:], frame) || d[0] != byte(TypeRelayDeliver) {
			t.Errorf("%s: deliver %x", f.Name, d)
		}
	}
}

func TestBeacon_RelayFrameSize(t *testing.T) {
	frame := append([]byte("PILS"), make([]byte, MaxRelayFrame-4)...)
	b, err := Marshal(Relay{Sender: 1, Dest: 2, Frame: frame})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Parse(b); err != nil {
		t.Errorf("65,535-byte frame: %v", err)
	}
	if _, err := Parse(append(b, 0)); !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("65,536-byte frame: %v", err)
	}
	frame = append(frame, 0)
	if _, err := Marshal(Relay{Sender: 1, Dest: 2, Frame: frame}); !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("encode Relay: %v", err)
	}
	if _, err := Marshal(RelayDeliver{Sender: 1, Frame: frame}); !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("encode RelayDeliver: %v", err)
	}
}

func TestBeacon_SyncLength(t *testing.T) {
	if _, err := Parse(hx(t, "07 00000001 0002 000002ae 0000")); !errors.Is(err, ErrTruncated) {
		t.Errorf("short list: %v", err)
	}
	m, err := Parse(hx(t, "07 00000001 0001 000002ae ffff"))
	if err != nil || len(m.(Sync).Nodes) != 1 || m.(Sync).Nodes[0] != 686 {
		t.Errorf("trailing bytes: %#v %v", m, err)
	}
	// Invalid IDs are kept for the receiver to skip.
	m, err = Parse(hx(t, "07 00000001 0002 00000000 ffffffff"))
	if err != nil || len(m.(Sync).Nodes) != 2 {
		t.Errorf("invalid IDs: %#v %v", m, err)
	}
}

// TestBeacon_SyncSplit: up to 16,000 IDs (64,007 bytes) per message; larger
// tables are split (beacon.md §7.1).
func TestBeacon_SyncSplit(t *testing.T) {
	ids := make([]addr.NodeID, 2*MaxSyncIDs+1)
	for i := range ids {
		ids[i] = addr.NodeID(i + 1)
	}
	parts := SplitSync(9, ids)
	if len(parts) != 3 || len(parts[0].Nodes) != MaxSyncIDs || len(parts[2].Nodes) != 1 {
		t.Fatalf("parts %d", len(parts))
	}
	var all []addr.NodeID
	for i, p := range parts {
		b, err := Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 && len(b) != 64007 {
			t.Errorf("full Sync is %d bytes", len(b))
		}
		m, err := Parse(b)
		if err != nil || m.(Sync).Beacon != 9 {
			t.Fatalf("part %d: %v", i, err)
		}
		all = append(all, m.(Sync).Nodes...)
	}
	if len(all) != len(ids) || all[0] != 1 || all[len(all)-1] != addr.NodeID(len(ids)) {
		t.Fatalf("reassembled %d IDs", len(all))
	}
	if p := SplitSync(9, nil); len(p) != 1 || p[0].Nodes != nil {
		t.Errorf("empty table: %#v", p)
	}
	if p := SplitSync(9, ids[:MaxSyncIDs]); len(p) != 1 {
		t.Errorf("exactly 16,000: %d parts", len(p))
	}
	if _, err := Marshal(Sync{Nodes: ids[:MaxSyncIDs+1]}); !errors.Is(err, ErrTooManyIDs) {
		t.Errorf("16,001 IDs: %v", err)
	}
}

func TestBeacon_TypeNames(t *testing.T) {
	if TypeSync.String() != "Sync" || Type(0x08).String() != "type(0x08)" || Type(0).String() != "type(0x00)" {
		t.Error(TypeSync.String(), Type(8).String())
	}
}
