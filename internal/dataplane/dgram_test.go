package dataplane

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/ipc"
	"github.com/pilot-go/pilot/internal/testvec"
	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
	"github.com/pilot-go/pilot/internal/wire/packet"
)

// §14 item 26: a ping to port 0 is answered with the identical payload,
// ack = seq + 1, source = the request's destination, destination port =
// the request's source port; control packets with ACK set, to other ports
// or with payloads over 1,024 bytes are never answered; ≤ 10 answers/s per
// peer; pings bypass admission.
func TestWire_Item26_ControlPing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		deny := admitFunc(func(addr.NodeID, addr.Port, packet.Protocol) Verdict { return Verdict{} })
		dp, tr := newCaptureDP(t, func(c *Config) { c.Admission = deny })
		req := &packet.Packet{Protocol: packet.ProtoControl, Src: addr.New(0, 5), Dst: addr.New(3, selfNode),
			SrcPort: 51000, DstPort: 0, Seq: 0xFFFFFFFF, Payload: []byte("0123456789abcdef")}
		dp.HandlePacket(5, req)
		ps := tr.all()
		if len(ps) != 1 {
			t.Fatalf("%d replies", len(ps))
		}
		r := ps[0].p
		if r.Flags != packet.FlagACK || r.Protocol != packet.ProtoControl || r.Src != req.Dst || r.Dst != req.Src ||
			r.SrcPort != 0 || r.DstPort != 51000 || r.Seq != req.Seq || r.Ack != req.Seq+1 || r.Window != 0 ||
			!bytes.Equal(r.Payload, req.Payload) {
			t.Fatalf("reply %+v", r)
		}
		ack := *req
		ack.Flags = packet.FlagACK
		other := *req
		other.DstPort = 7
		big := *req
		big.Payload = make([]byte, 1025)
		relayProbe := &packet.Packet{Flags: packet.FlagACK, Protocol: packet.ProtoControl, Src: addr.New(0, 5),
			Dst: addr.New(0, selfNode)}
		for _, p := range []*packet.Packet{&ack, &other, &big, relayProbe} {
			dp.HandlePacket(5, p)
		}
		if n := len(tr.all()); n != 1 {
			t.Fatalf("%d replies after ACK-flagged / wrong-port / oversized packets, want 1", n)
		}
		for range 12 {
			dp.HandlePacket(5, req)
		}
		if n := len(tr.all()); n != 10 {
			t.Fatalf("%d answers within one second, want 10", n)
		}
		dp.Shutdown(context.Background())
	})
}

// The control_ping vector of packets.json is a valid request and is
// answered.
func TestWire_Item26_ControlPingVector(t *testing.T) {
	var v struct {
		About            string           `json:"about"`
		Addresses        json.RawMessage  `json:"addresses"`
		InvalidAddresses json.RawMessage  `json:"invalid_addresses"`
		Packets          []map[string]any `json:"packets"`
	}
	loadPackets(t, &v)
	for _, e := range v.Packets {
		if e["name"] != "control_ping" {
			continue
		}
		var p packet.Packet
		if err := packet.Decode(testvec.Hex(t, e["wire_hex"].(string)), &p); err != nil {
			t.Fatal(err)
		}
		tr := newCapture()
		dp, err := New(Config{Self: fixedSelf(p.Dst.Node), Transport: tr})
		if err != nil {
			t.Fatal(err)
		}
		dp.HandlePacket(p.Src.Node, &p)
		ps := tr.all()
		dp.Shutdown(context.Background())
		if len(ps) != 1 || ps[0].p.Ack != p.Seq+1 || !bytes.Equal(ps[0].p.Payload, p.Payload) || ps[0].p.Src != p.Dst {
			t.Fatalf("control_ping vector answered with %+v", ps)
		}
		return
	}
	t.Fatal("control_ping vector not found")
}

// Ping between two data planes returns an RTT (path validation, §7.6).
func TestDataPlane_Ping(t *testing.T) {
	n := newFakeNet(t, 0, 5)
	a := n.add(t, 10, nil)
	n.add(t, 20, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := a.dp.Ping(ctx, addr.New(0, 20)); err != nil {
		t.Fatal(err)
	}
	if _, err := a.dp.Ping(ctx, addr.New(0, 10)); err != nil {
		t.Fatalf("ping self: %v", err)
	}
}

// recorder is the IPC server's datagram routing hook.
type recorder struct {
	mu  sync.Mutex
	got []ipcmsg.RecvFrom
	sig chan struct{}
}

func newRecorder() *recorder { return &recorder{sig: make(chan struct{}, 64)} }

func (r *recorder) deliver(m ipcmsg.RecvFrom) int {
	r.mu.Lock()
	r.got = append(r.got, m)
	r.mu.Unlock()
	r.sig <- struct{}{}
	return 1
}

func (r *recorder) list() []ipcmsg.RecvFrom {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// §10, §14 item 27 (data plane half): datagrams reach the IPC routing hook
// once with the sender's address and ports; empty or oversized sends are
// refused; inadmissible ones and those to daemon-served ports are dropped.
func TestWire_Item27_Datagrams(t *testing.T) {
	n := newFakeNet(t, 0, 6)
	rec := newRecorder()
	ev := &events{}
	a := n.add(t, 10, func(c *Config) {
		c.DeliverDatagram, c.Events = rec.deliver, ev
		c.Admission = admitFunc(func(peer addr.NodeID, _ addr.Port, _ packet.Protocol) Verdict {
			return Verdict{Admit: peer != 30}
		})
	})
	b := n.add(t, 20, nil)
	c := n.add(t, 30, nil)
	a.dp.ServeBuiltin(1002, func(context.Context, net.Conn, addr.Addr) {})
	ctx := context.Background()
	send := func(from *fakeNode, port addr.Port, data string) error {
		return from.dp.SendDatagram(ctx, ipc.Datagram{Dst: addr.New(2, 10), DstPort: port, SrcPort: 49999, Data: []byte(data)})
	}
	for _, tc := range []struct {
		data string
		want string
	}{{"", "sendto: empty payload"}, {string(make([]byte, 65429)), "sendto: payload too large (max 65428 bytes)"}} {
		var ie *ipc.Error
		if err := send(b, 5000, tc.data); !errors.As(err, &ie) || ie.Text != tc.want || ie.Code != ipcmsg.CodeInvalidArgument {
			t.Fatalf("send %d bytes: %v, want %q", len(tc.data), err, tc.want)
		}
	}
	if err := send(c, 5000, "rejected"); err != nil {
		t.Fatal(err)
	}
	if err := send(b, 1002, "built-in"); err != nil {
		t.Fatal(err)
	}
	if err := send(b, 5000, "hello"); err != nil {
		t.Fatal(err)
	}
	if err := a.dp.SendDatagram(ctx, ipc.Datagram{Dst: addr.New(0, 10), DstPort: 5001, SrcPort: 1, Data: []byte("self")}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		select {
		case <-rec.sig:
		case <-time.After(10 * time.Second):
			t.Fatal("datagram not delivered")
		}
	}
	got := rec.list()
	slices.SortFunc(got, func(x, y ipcmsg.RecvFrom) int { return int(x.DstPort) - int(y.DstPort) })
	want := []ipcmsg.RecvFrom{
		{Src: addr.New(2, 20), SrcPort: 49999, DstPort: 5000, Data: []byte("hello")},
		{Src: addr.New(0, 10), SrcPort: 1, DstPort: 5001, Data: []byte("self")},
	}
	if len(got) != 2 {
		t.Fatalf("delivered %+v", got)
	}
	for i := range want {
		if got[i].Src != want[i].Src || got[i].SrcPort != want[i].SrcPort || got[i].DstPort != want[i].DstPort || !bytes.Equal(got[i].Data, want[i].Data) {
			t.Fatalf("delivered %+v, want %+v", got[i], want[i])
		}
	}
	// Packets are handled in order per link: "hello" arriving proves the
	// rejected and built-in ones were processed (and dropped) before.
	if ev.count("datagram.rejected") != 1 || ev.count("data.datagram") != 3 {
		t.Fatalf("webhooks %v", ev.evs)
	}
}

// members is a fake MemberLister.
type members map[addr.NetworkID][]Member

func (m members) ListMembers(_ context.Context, n addr.NetworkID) ([]Member, error) { return m[n], nil }

// §14 item 28: a broadcast in network N reaches every other online member
// once, from N:<own node>; network 0 and non-members are refused.
func TestWire_Item28_Broadcast(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ms := members{7: {{Node: 10, Online: true}, {Node: 1, Online: true}, {Node: 2, Online: true},
			{Node: 3, Online: false}, {Node: 2, Online: true}}, 8: {{Node: 1, Online: true}}}
		dp, tr := newCaptureDP(t, func(c *Config) { c.Members = ms })
		ctx := context.Background()
		bc := func(n addr.NetworkID) error {
			return dp.SendDatagram(ctx, ipc.Datagram{Dst: addr.New(n, addr.BroadcastNode), DstPort: 1000, SrcPort: 49300, Data: []byte("all")})
		}
		for _, tc := range []struct {
			n    addr.NetworkID
			code ipcmsg.Code
			text string
		}{{0, ipcmsg.CodeInvalidArgument, "sendto: broadcast in network 0 is not allowed"},
			{8, ipcmsg.CodePermissionDenied, "sendto: not a member of network 8"}} {
			var ie *ipc.Error
			if err := bc(tc.n); !errors.As(err, &ie) || ie.Text != tc.text || ie.Code != tc.code {
				t.Fatalf("broadcast in %d: %v", tc.n, err)
			}
		}
		if err := bc(7); err != nil {
			t.Fatal(err)
		}
		tr.wait(t, 2)
		synctest.Wait()  // the paced sender is done or blocked on its pacer
		waitVirtual(100) // time for more (duplicate) unicasts, if any
		dp.Shutdown(ctx)
		ps := tr.all()
		var to []addr.NodeID
		for _, p := range ps {
			if p.p.Src != addr.New(7, selfNode) || p.p.Dst != addr.New(7, p.to) || p.p.SrcPort != 49300 ||
				p.p.Protocol != packet.ProtoDatagram || string(p.p.Payload) != "all" {
				t.Fatalf("unicast %+v", p)
			}
			to = append(to, p.to)
		}
		slices.Sort(to)
		if !slices.Equal(to, []addr.NodeID{1, 2}) {
			t.Fatalf("broadcast reached %v, want [1 2]", to)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		ms := members{7: {{Node: 10, Online: true}, {Node: 1, Online: true}}}
		dp, _ := newCaptureDP(t, func(c *Config) { c.Members = ms })
		var err error
		for range 11 {
			err = dp.SendDatagram(context.Background(), ipc.Datagram{Dst: addr.New(7, addr.BroadcastNode), DstPort: 1, SrcPort: 49301, Data: []byte("x")})
		}
		var ie *ipc.Error
		if !errors.As(err, &ie) || ie.Code != ipcmsg.CodeRateLimited {
			t.Fatalf("11th broadcast in one second: %v", err)
		}
		dp.Shutdown(context.Background())
	})
}

func loadPackets(t *testing.T, v any) {
	t.Helper()
	testvec.Load(t, "packets.json", v)
}
