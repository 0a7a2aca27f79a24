package packet

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"strings"
	"testing"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/testvec"
)

type packetVector struct {
	Name       string `json:"name"`
	Version    int    `json:"version"`
	Flags      uint8  `json:"flags"`
	Protocol   uint8  `json:"protocol"`
	Src        string `json:"src"`
	Dst        string `json:"dst"`
	SrcPort    uint16 `json:"src_port"`
	DstPort    uint16 `json:"dst_port"`
	Seq        uint32 `json:"seq"`
	Ack        uint32 `json:"ack"`
	Window     uint16 `json:"window"`
	PayloadHex string `json:"payload_hex"`
	WireHex    string `json:"wire_hex"`
}

type packetsFile struct {
	About            string           `json:"about"`
	Addresses        []map[string]any `json:"addresses"`
	InvalidAddresses []string         `json:"invalid_addresses"`
	Packets          []packetVector   `json:"packets"`
}

func loadPackets(t *testing.T) []packetVector {
	var f packetsFile
	testvec.Load(t, "packets.json", &f)
	if len(f.Packets) == 0 {
		t.Fatal("no packet vectors")
	}
	return f.Packets
}

func (v packetVector) packet(t *testing.T) Packet {
	return Packet{
		Flags:    Flags(v.Flags),
		Protocol: Protocol(v.Protocol),
		Src:      addr.MustParse(v.Src),
		Dst:      addr.MustParse(v.Dst),
		SrcPort:  addr.Port(v.SrcPort),
		DstPort:  addr.Port(v.DstPort),
		Seq:      v.Seq,
		Ack:      v.Ack,
		Window:   v.Window,
		Payload:  testvec.Hex(t, v.PayloadHex),
	}
}

// Conformance wire.md §14 item 1 (packets half).
func TestVectors_Packets(t *testing.T) {
	for _, v := range loadPackets(t) {
		t.Run(v.Name, func(t *testing.T) {
			if v.Version != Version {
				t.Fatalf("vector version %d", v.Version)
			}
			p := v.packet(t)
			wire := testvec.Hex(t, v.WireHex)
			got, err := p.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, wire) {
				t.Fatalf("encode:\n got %x\nwant %x", got, wire)
			}
			var q Packet
			if err := Decode(wire, &q); err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !equal(&p, &q) {
				t.Fatalf("decode = %+v, want %+v", q, p)
			}
		})
	}
}

func equal(a, b *Packet) bool {
	return a.Flags == b.Flags && a.Protocol == b.Protocol && a.Src == b.Src && a.Dst == b.Dst &&
		a.SrcPort == b.SrcPort && a.DstPort == b.DstPort && a.Seq == b.Seq && a.Ack == b.Ack &&
		a.Window == b.Window && bytes.Equal(a.Payload, b.Payload)
}

// Conformance wire.md §14 item 2: wrong checksum, version, protocol and
// truncation are rejected, in the order of §3.3.
func TestDecode_Rejects(t *testing.T) {
	wire := testvec.Hex(t, loadPackets(t)[1].WireHex) // ack_hello, 5-byte payload
	var p Packet

	for n := 0; n < len(wire); n++ {
		err := Decode(wire[:n], &p)
		if !errors.Is(err, ErrTruncated) {
			t.Fatalf("truncated to %d: err = %v, want ErrTruncated", n, err)
		}
	}

	bad := bytes.Clone(wire)
	bad[len(bad)-1] ^= 0x01
	if err := Decode(bad, &p); !errors.Is(err, ErrChecksum) {
		t.Fatalf("payload bit flip: %v", err)
	}
	bad = bytes.Clone(wire)
	bad[31] ^= 0x80
	if err := Decode(bad, &p); !errors.Is(err, ErrChecksum) {
		t.Fatalf("checksum bit flip: %v", err)
	}

	reseal := func(b []byte) []byte {
		h := bytes.Clone(b)
		binary.BigEndian.PutUint32(h[30:34], 0)
		crc := crc32.ChecksumIEEE(h)
		binary.BigEndian.PutUint32(h[30:34], crc)
		return h
	}
	bad = bytes.Clone(wire)
	bad[0] = 0x22
	err := Decode(reseal(bad), &p)
	if !errors.Is(err, ErrVersion) || !strings.Contains(err.Error(), "unsupported protocol version 2") {
		t.Fatalf("version 2: %v", err)
	}
	for _, proto := range []byte{0, 4, 0xFF} {
		bad = bytes.Clone(wire)
		bad[1] = proto
		if err := Decode(reseal(bad), &p); !errors.Is(err, ErrProtocol) {
			t.Fatalf("protocol %d: %v", proto, err)
		}
	}
	// Checksum is checked before version (§3.3 order).
	bad = bytes.Clone(wire)
	bad[0] = 0x22
	if err := Decode(bad, &p); !errors.Is(err, ErrChecksum) {
		t.Fatalf("bad version with stale checksum: %v, want checksum error first", err)
	}
}

func TestDecode_IgnoresTrailingBytes(t *testing.T) {
	wire := testvec.Hex(t, loadPackets(t)[1].WireHex)
	var p Packet
	if err := Decode(append(bytes.Clone(wire), 1, 2, 3), &p); err != nil {
		t.Fatal(err)
	}
	if string(p.Payload) != "hello" {
		t.Fatalf("payload %q", p.Payload)
	}
	if cap(p.Payload) != len(p.Payload) {
		t.Fatal("payload capacity leaks trailing bytes")
	}
}

func TestEncode_RefusesOversizedPayload(t *testing.T) {
	p := Packet{Protocol: ProtoDatagram, Payload: make([]byte, MaxPayload+1)}
	if _, err := p.Marshal(); !errors.Is(err, ErrPayloadTooLarge) {
		t.Fatalf("err = %v", err)
	}
	p.Payload = p.Payload[:MaxPayload]
	b, err := p.Marshal()
	if err != nil || len(b) != HeaderSize+MaxPayload {
		t.Fatalf("max payload: %d %v", len(b), err)
	}
	var q Packet
	if err := Decode(b, &q); err != nil || len(q.Payload) != MaxPayload {
		t.Fatalf("decode max: %v", err)
	}
}

func TestFlagsString(t *testing.T) {
	if s := (FlagSYN | FlagACK).String(); s != "SYN+ACK" {
		t.Fatal(s)
	}
	if s := Flags(0).String(); s != "0" {
		t.Fatal(s)
	}
	if !(FlagFIN | FlagACK).Has(FlagFIN) || FlagFIN.Has(FlagACK) {
		t.Fatal("Has")
	}
	if ProtoControl.String() != "control" || Protocol(9).String() != "protocol(9)" {
		t.Fatal("protocol string")
	}
}

func FuzzDecode(f *testing.F) {
	var vs packetsFile
	testvec.Load(f, "packets.json", &vs)
	for _, v := range vs.Packets {
		f.Add(testvec.Hex(f, v.WireHex))
	}
	f.Add([]byte{})
	f.Add(make([]byte, HeaderSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		var p Packet
		if err := Decode(b, &p); err != nil {
			return
		}
		out, err := p.Marshal()
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		n := HeaderSize + len(p.Payload)
		if !bytes.Equal(out, b[:n]) {
			t.Fatalf("re-encode differs:\n in %x\nout %x", b[:n], out)
		}
		var q Packet
		if err := Decode(out, &q); err != nil || !equal(&p, &q) {
			t.Fatalf("second decode: %v", err)
		}
	})
}

func BenchmarkMarshal(b *testing.B) {
	p := Packet{Flags: FlagACK, Protocol: ProtoStream, Src: addr.New(0, 686), Dst: addr.New(0, 687),
		SrcPort: 49152, DstPort: 7, Seq: 1, Ack: 1, Window: 1024, Payload: make([]byte, 4096)}
	buf := make([]byte, 0, p.Size())
	b.SetBytes(int64(p.Size()))
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = p.AppendTo(buf[:0])
	}
}

func BenchmarkUnmarshal(b *testing.B) {
	p := Packet{Flags: FlagACK, Protocol: ProtoStream, Src: addr.New(0, 686), Dst: addr.New(0, 687),
		SrcPort: 49152, DstPort: 7, Seq: 1, Ack: 1, Window: 1024, Payload: make([]byte, 4096)}
	wire, _ := p.Marshal()
	var q Packet
	b.SetBytes(int64(len(wire)))
	b.ReportAllocs()
	for b.Loop() {
		if err := Decode(wire, &q); err != nil {
			b.Fatal(err)
		}
	}
}
