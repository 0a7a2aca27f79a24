package addr

import (
	"bytes"
	"errors"
	"testing"

	"github.com/pilot-go/pilot/internal/testvec"
)

type packetsFile struct {
	About     string `json:"about"`
	Addresses []struct {
		Text    string `json:"text"`
		Network uint16 `json:"network"`
		Node    uint32 `json:"node"`
		WireHex string `json:"wire_hex"`
	} `json:"addresses"`
	InvalidAddresses []string         `json:"invalid_addresses"`
	Packets          []map[string]any `json:"packets"`
}

// Conformance wire.md §14 item 1 (addresses half).
func TestVectors_Addresses(t *testing.T) {
	var f packetsFile
	testvec.Load(t, "packets.json", &f)
	if len(f.Addresses) == 0 {
		t.Fatal("no address vectors")
	}
	for _, v := range f.Addresses {
		want := New(NetworkID(v.Network), NodeID(v.Node))
		got, err := Parse(v.Text)
		if err != nil {
			t.Fatalf("Parse(%q): %v", v.Text, err)
		}
		if got != want {
			t.Errorf("Parse(%q) = %+v, want %+v", v.Text, got, want)
		}
		if s := want.String(); s != v.Text {
			t.Errorf("String(%+v) = %q, want %q", want, s, v.Text)
		}
		wire := testvec.Hex(t, v.WireHex)
		if b := want.AppendBinary(nil); !bytes.Equal(b, wire) {
			t.Errorf("AppendBinary(%q) = %x, want %x", v.Text, b, wire)
		}
		var put [Size]byte
		want.PutBinary(put[:])
		if !bytes.Equal(put[:], wire) {
			t.Errorf("PutBinary(%q) = %x, want %x", v.Text, put, wire)
		}
		back, err := FromBinary(wire)
		if err != nil || back != want {
			t.Errorf("FromBinary(%x) = %+v, %v; want %+v", wire, back, err, want)
		}
	}
}

func TestVectors_InvalidAddresses(t *testing.T) {
	var f packetsFile
	testvec.Load(t, "packets.json", &f)
	if len(f.InvalidAddresses) == 0 {
		t.Fatal("no invalid address vectors")
	}
	for _, s := range f.InvalidAddresses {
		a, err := Parse(s)
		if err == nil {
			t.Errorf("Parse(%q) = %v, want error", s, a)
			continue
		}
		if !errors.Is(err, ErrSyntax) {
			t.Errorf("Parse(%q) error %v does not wrap ErrSyntax", s, err)
		}
	}
}

func TestParse_Rejects(t *testing.T) {
	for _, s := range []string{
		"+1:0001.0000.0001", " 0:0000.0000.0001", "0:0000.0000.0001 ", "0: 0000.0000.0001",
		"0:0000.0000.0001\n", "0:0000..0001", "123456:0000.0000.0001", ":0000.0000.0001",
		"0:0000.0000.00011", "0:+000.0000.0001", "0:0x00.0000.0001",
	} {
		if a, err := Parse(s); err == nil {
			t.Errorf("Parse(%q) = %v, want error", s, a)
		}
	}
}

func TestParse_AcceptsLowercaseAndLeadingZeros(t *testing.T) {
	a, err := Parse("0001:0001.abcd.ef01")
	if err != nil {
		t.Fatal(err)
	}
	if a != New(1, 0xABCDEF01) {
		t.Fatalf("got %+v", a)
	}
	if a.String() != "1:0001.ABCD.EF01" {
		t.Fatalf("String = %q", a.String())
	}
}

func TestErrorNamesProblem(t *testing.T) {
	cases := map[string]string{
		"":                      "missing ':'",
		"1:0000.0000.0001":      "does not match",
		"0:0000.0000":           "3 dot-separated",
		"0:000.0000.0001":       "exactly 4",
		"0:0000.0000.000G":      "non-hex",
		"70000:1117.0000.0001":  "above 65535",
		"-1:FFFF.0000.0001":     "only decimal digits",
		"0:0000.0000.0001.0001": "found 4",
	}
	for in, frag := range cases {
		_, err := Parse(in)
		if err == nil || !bytes.Contains([]byte(err.Error()), []byte(frag)) {
			t.Errorf("Parse(%q) error = %v, want mention of %q", in, err, frag)
		}
	}
}

func TestSocketAddr(t *testing.T) {
	s, err := ParseSocket("0:0000.0000.02AE:1000")
	if err != nil {
		t.Fatal(err)
	}
	if s.Addr != New(0, 686) || s.Port != 1000 {
		t.Fatalf("got %+v", s)
	}
	if s.String() != "0:0000.0000.02AE:1000" {
		t.Fatalf("String = %q", s.String())
	}
	for _, bad := range []string{"0:0000.0000.02AE", "0:0000.0000.02AE:", "0:0000.0000.02AE:65536", "0:0000.0000.02AE:-1", "0:0000.0000.02AE:123456", "x:1"} {
		if v, err := ParseSocket(bad); err == nil {
			t.Errorf("ParseSocket(%q) = %v, want error", bad, v)
		}
	}
}

func TestTextMarshal(t *testing.T) {
	a := New(3, 686)
	b, _ := a.MarshalText()
	var c Addr
	if err := c.UnmarshalText(b); err != nil || c != a {
		t.Fatalf("round trip: %v %v", c, err)
	}
	if err := c.UnmarshalText([]byte("bad")); err == nil {
		t.Fatal("want error")
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"0:0000.0000.0001", "1:0001.F291.0004", "65535:FFFF.FFFF.FFFF", "", "0:0000.0000", "00001:0001.0000.0001"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := Parse(s)
		if err != nil {
			return
		}
		b, err := Parse(a.String())
		if err != nil || b != a {
			t.Fatalf("round trip of %q via %q: %v %v", s, a.String(), b, err)
		}
		c, err := FromBinary(a.AppendBinary(nil))
		if err != nil || c != a {
			t.Fatalf("binary round trip: %v %v", c, err)
		}
	})
}
