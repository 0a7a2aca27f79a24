package stream

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/pilot-go/pilot/internal/wire/packet"
	"github.com/pilot-go/pilot/internal/wire/sack"
)

// modelByte is the peer's byte stream: the byte at offset off (from the
// peer's ISN + 1) of everything it could ever send.
func modelByte(off uint32) byte {
	off ^= off >> 13
	off *= 0x5bd1e995
	return byte(off ^ off>>15)
}

var zeros = make([]byte, 8192)

func modelPayload(off uint32, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = modelByte(off + uint32(i))
	}
	return b
}

// FuzzEstablished feeds arbitrary packets (random flags, numbers, windows,
// SACK lists, FINs, RSTs) mixed with genuine data from a model sender,
// application reads, writes, closes and timer ticks into an established
// engine. It must never panic, never advertise window 0, never emit an
// oversized segment, and the bytes it delivers must always be a prefix of
// the model stream.
func FuzzEstablished(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 100, 2, 0, 0, 0})
	f.Add([]byte{0, 0, 10, 0, 100, 0, 0, 0, 0, 50, 2, 0, 0, 0, 2, 0, 1})
	f.Add([]byte{1, 3, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 4, 0, 200, 5, 7, 4, 0, 0, 1})
	f.Add([]byte{3, 0, 255, 4, 0, 10, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0, 0, 0, 16, 0, 7, 4, 0, 0, 0, 0, 1, 0, 8, 0, 2, 0, 0, 100})
	f.Fuzz(fuzzOne)
}

func fuzzOne(t *testing.T, in []byte) {
	{
		const irs = 0xFFFFFF00 // near the wrap
		cfg := testConfig(1)
		cfg.RecvBuffer = 64 << 10
		cfg.SendBuffer = 64 << 10
		cfg.Keepalive = 5 * time.Second
		cfg.IdleTimeout = 15 * time.Second
		c, err := NewResponder(cfg, pk(packet.FlagSYN, irs, 0, 16, nil), at(0))
		if err != nil {
			t.Fatal(err)
		}
		now := at(0)
		var delivered []byte
		rd := make([]byte, 8192)
		u8 := func() byte {
			if len(in) == 0 {
				return 0
			}
			b := in[0]
			in = in[1:]
			return b
		}
		u16 := func() uint16 { return uint16(u8())<<8 | uint16(u8()) }
		u32 := func() uint32 { return uint32(u16())<<16 | uint32(u16()) }
		check := func() {
			for _, p := range c.Output(now, nil) {
				if p.Flags&packet.FlagRST == 0 && p.Flags != packet.FlagFIN && p.Window == 0 {
					t.Fatalf("window 0 on %v", p.Flags)
				}
				if len(p.Payload) > c.cfg.MSS && p.Flags == packet.FlagACK {
					t.Fatalf("segment of %d bytes", len(p.Payload))
				}
			}
		}
		check()
		for steps := 0; len(in) > 0 && steps < 200; steps++ {
			switch u8() % 8 {
			case 0: // genuine data
				off := uint32(u16()) * 16
				n := int(u16() % 5000)
				c.Handle(pk(packet.FlagACK, irs+1+off, c.ISN()+1+uint32(u8()), u16(), modelPayload(off, n)), now)
			case 1: // random header, payload consistent with the model
				flags := packet.Flags(u8() & 0x0F)
				seq := u32()
				n := int(u8())
				c.Handle(pk(flags, seq, u32(), u16(), modelPayload(seq-irs-1, n)), now)
			case 2:
				n, _ := c.Read(rd[:1+int(u16())%len(rd)])
				delivered = append(delivered, rd[:n]...)
			case 3:
				c.Write(zeros[:int(u16())%len(zeros)])
			case 4:
				if d := c.NextDeadline(); !d.IsZero() && u8()%2 == 0 {
					now = d
				} else {
					now = now.Add(time.Duration(u16()) * time.Millisecond)
				}
				c.Tick(now)
			case 5: // a SACK-bearing ACK with arbitrary blocks
				var blocks []sack.Block
				for range 1 + int(u8()%4) {
					l := c.ISN() + 1 + uint32(u16())
					blocks = append(blocks, sack.Block{Left: l, Right: l + uint32(u16())})
				}
				payload, _ := sack.Append(nil, blocks)
				c.Handle(pk(packet.FlagACK, irs+1, c.ISN()+1+uint32(u16()), u16(), payload), now)
			case 6: // FIN or FIN+ACK near rcv.nxt
				flags := packet.FlagFIN
				if u8()%2 == 0 {
					flags |= packet.FlagACK
				}
				c.Handle(pk(flags, c.rcv.nxt+uint32(u16()%8192)-100, binary.BigEndian.Uint32([]byte{0, 0, 0, u8()}), 0, nil), now)
			case 7:
				if u8() == 0 {
					c.Close(now)
				} else if u8() == 0 {
					c.Handle(pk(packet.FlagRST, 0, 0, 0, nil), now)
				}
			}
			check()
		}
		for {
			n, _ := c.Read(rd)
			if n == 0 {
				break
			}
			delivered = append(delivered, rd[:n]...)
		}
		for i, b := range delivered {
			if b != modelByte(uint32(i)) {
				t.Fatalf("delivered byte %d = %02x, model %02x: not a prefix of the peer's stream", i, b, modelByte(uint32(i)))
			}
		}
	}
}
