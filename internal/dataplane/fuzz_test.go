package dataplane

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/testvec"
	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
	"github.com/pilot-go/pilot/internal/wire/packet"
)

// FuzzHandlePacket feeds sequences of untrusted packets (decoded with the
// real codec and redirected to our node, so every path is reachable) into
// a data plane with a listener and a bound datagram route. It must never
// panic, never answer anything but a control request, and release every
// byte of the memory budget at shutdown.
func FuzzHandlePacket(f *testing.F) {
	var v struct {
		About            string           `json:"about"`
		Addresses        json.RawMessage  `json:"addresses"`
		InvalidAddresses json.RawMessage  `json:"invalid_addresses"`
		Packets          []map[string]any `json:"packets"`
	}
	testvec.Load(f, "packets.json", &v)
	for _, e := range v.Packets {
		b := testvec.Hex(f, e["wire_hex"].(string))
		f.Add(append([]byte{byte(len(b))}, b...))
	}
	syn := packet.Packet{Flags: packet.FlagSYN, Protocol: packet.ProtoStream, Src: addr.New(0, 5),
		Dst: addr.New(0, selfNode), SrcPort: 50000, DstPort: 1000, Seq: 1}
	synB, _ := syn.Marshal()
	data := syn
	data.Flags, data.Seq, data.Ack, data.Payload = packet.FlagACK, 2, 0, []byte("data")
	dataB, _ := data.Marshal()
	f.Add(append(append([]byte{byte(len(synB))}, synB...), append([]byte{byte(len(dataB))}, dataB...)...))
	f.Fuzz(fuzzHandlePacket)
}

func fuzzHandlePacket(t *testing.T, in []byte) {
	tr := newCapture()
	dp, err := New(Config{Self: fixedSelf(selfNode), Transport: tr, DrainTimeout: time.Millisecond,
		FinWait: time.Millisecond, DeliverDatagram: func(m ipcmsg.RecvFrom) int { return 1 }})
	if err != nil {
		t.Fatal(err)
	}
	dp.Listen(1000, newFakeSink())
	requests := 0
	for len(in) > 1 {
		n := min(int(in[0]), len(in)-1)
		chunk := in[1 : 1+n]
		in = in[1+n:]
		var p packet.Packet
		if packet.Decode(chunk, &p) != nil {
			continue
		}
		if p.Src.Node == 0 || p.Src.Node == selfNode {
			p.Src.Node = 5
		}
		p.Dst.Node = selfNode
		if p.Protocol == packet.ProtoControl && p.Flags == 0 && p.DstPort == 0 {
			requests++
		}
		dp.HandlePacket(p.Src.Node, &p)
	}
	dp.Shutdown(context.Background())
	replies := 0
	for _, c := range tr.all() {
		if c.p.Protocol == packet.ProtoControl {
			replies++
		}
	}
	if replies > requests {
		t.Fatalf("%d control replies to %d requests", replies, requests)
	}
	if u := dp.Budget().Used(); u != 0 {
		t.Fatalf("%d bytes still charged after shutdown", u)
	}
}
