package ipc_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/ipc"
	"github.com/pilot-go/pilot/internal/ipc/ipctest"
	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
)

func TestIPC_C2_Framing(t *testing.T) {
	ts := startServer(t, nil)
	t.Run("oversize", func(t *testing.T) {
		c := ts.dial(t)
		c.sendRaw(binary.BigEndian.AppendUint32(nil, ipcmsg.MaxMessage+1))
		c.expectError(ipcmsg.CodeInvalidArgument, "ipc message too large: 1048577 bytes (max 1048576)")
		c.expectEOF()
	})
	t.Run("max size accepted", func(t *testing.T) {
		c := ts.dial(t)
		msg := make([]byte, ipcmsg.MaxMessage)
		msg[0] = byte(ipcmsg.CmdInfo)
		c.sendMsg(msg)
		if r := c.recv(); r.Cmd() != ipcmsg.CmdInfoOK {
			t.Fatalf("got %v", r.Cmd())
		}
	})
	t.Run("zero length ignored", func(t *testing.T) {
		c := ts.dial(t)
		c.sendRaw([]byte{0, 0, 0, 0})
		c.info()
	})
	t.Run("unknown command", func(t *testing.T) {
		c := ts.dial(t)
		for _, cmd := range []byte{0x30, 0x4E, 0x4F, 0x02} {
			c.sendMsg([]byte{cmd, 1, 2})
			c.expectError(ipcmsg.CodeInvalidArgument, fmt.Sprintf("unknown command: 0x%02X", cmd))
		}
		c.info()
	})
}

func TestIPC_C4_AcceptAndRecvFromLayout(t *testing.T) {
	ts := startServer(t, nil)
	l, d := ts.dial(t), ts.dial(t)
	l.bind(80)
	d.send(ipcmsg.Dial{Addr: ourNode, Port: 80})
	accept := l.recvRaw()
	dialOK, ok := d.recv().(ipcmsg.DialOK)
	if !ok {
		t.Fatal("no DialOK")
	}
	if accept[0] != byte(ipcmsg.CmdAccept) || len(accept) != 15 || binary.BigEndian.Uint16(accept[1:]) != 80 {
		t.Fatalf("Accept % X: want 05 ‖ local port 80 first, 15 bytes", accept)
	}
	if id := binary.BigEndian.Uint32(accept[3:]); id == uint32(dialOK.Conn) || id == 0 {
		t.Errorf("acceptor conn %d", id)
	}
	if a, _ := addr.FromBinary(accept[7:13]); a != ourNode {
		t.Errorf("Accept remote %v", a)
	}

	l.bind(5000)
	s := ts.dial(t)
	s.hello(ipcmsg.FeatureTagged)
	s.send(ipcmsg.Tagged{Tag: 1, Inner: ipcmsg.SendTo{Addr: ourNode, Port: 5000, Data: []byte("hi")}})
	if r := s.recv().(ipcmsg.TaggedReply); r.Inner.Cmd() != ipcmsg.CmdOK {
		t.Fatalf("SendTo reply %+v", r)
	}
	src := ts.be.Sent()[0].SrcPort
	if src < ipc.EphemeralMin {
		t.Errorf("datagram port %d not ephemeral", src)
	}
	rf := l.recvRaw()
	want := append([]byte{byte(ipcmsg.CmdRecvFrom)}, ourNode.AppendBinary(nil)...)
	want = binary.BigEndian.AppendUint16(want, uint16(src))
	want = binary.BigEndian.AppendUint16(want, 5000)
	want = append(want, "hi"...)
	if !bytes.Equal(rf, want) {
		t.Fatalf("RecvFrom % X, want % X (src port then dst port)", rf, want)
	}
}

// connPair connects dialer d to listener l on port and returns both ends' IDs.
func connPair(t *testing.T, l, d *rawClient, port addr.Port) (lc, dc ipcmsg.ConnID) {
	t.Helper()
	d.send(ipcmsg.Dial{Addr: ourNode, Port: port})
	acc, ok := l.recv().(ipcmsg.Accept)
	if !ok {
		t.Fatal("no Accept")
	}
	ok2, ok := d.recv().(ipcmsg.DialOK)
	if !ok {
		t.Fatal("no DialOK")
	}
	return acc.Conn, ok2.Conn
}

func TestIPC_C5_CloseOK(t *testing.T) {
	ts := startServer(t, nil)
	l, d := ts.dial(t), ts.dial(t)
	l.hello(ipcmsg.FeatureCloseReason)
	l.bind(80)
	lc, dc := connPair(t, l, d, 80)

	// Recv data, then ConnClosed and one unsolicited CloseOK, after all data.
	payload := bytes.Repeat([]byte("0123456789abcdef"), 20000) // 320,000 bytes: several chunks
	for off := 0; off < len(payload); off += 100000 {
		d.send(ipcmsg.Send{Conn: dc, Data: payload[off:min(off+100000, len(payload))]})
	}
	d.send(ipcmsg.Close{Conn: dc})
	if r := d.recv(); r != (ipcmsg.CloseOK{Conn: dc}) {
		t.Fatalf("Close reply %+v", r)
	}
	var got []byte
	for {
		r := l.recv()
		if rv, ok := r.(ipcmsg.Recv); ok {
			if rv.Conn != lc || len(rv.Data) > ipcmsg.MaxRecvData {
				t.Fatalf("Recv conn %d, %d bytes", rv.Conn, len(rv.Data))
			}
			got = append(got, rv.Data...)
			continue
		}
		if r != (ipcmsg.ConnClosed{Conn: lc, Reason: ipcmsg.ReasonPeerClosed}) {
			t.Fatalf("after %d bytes: %v %+v, want ConnClosed", len(got), r.Cmd(), r)
		}
		break
	}
	if !bytes.Equal(got, payload) {
		t.Fatalf("received %d bytes, want the %d sent in order", len(got), len(payload))
	}
	if r := l.recv(); r != (ipcmsg.CloseOK{Conn: lc}) {
		t.Fatalf("got %+v, want unsolicited CloseOK", r)
	}
	// Exactly one CloseOK per Close: after the owner's Close, nothing else.
	l.send(ipcmsg.Close{Conn: lc})
	if r := l.recv(); r != (ipcmsg.CloseOK{Conn: lc}) {
		t.Fatalf("Close reply %+v", r)
	}
	l.info()
	d.info()
	// Close of an unknown ID is answered too.
	d.send(ipcmsg.Close{Conn: 999999})
	if r := d.recv(); r != (ipcmsg.CloseOK{Conn: 999999}) {
		t.Fatalf("Close reply %+v", r)
	}
}

func TestIPC_LegacyClientGetsNoConnClosed(t *testing.T) {
	ts := startServer(t, nil)
	l, d := ts.dial(t), ts.dial(t)
	l.bind(80)
	lc, _ := connPair(t, l, d, 80)
	ts.be.Conn(lc).Inject([]byte("last words"))
	ts.be.Conn(lc).End(ipcmsg.ReasonReset, "rst")
	if r := l.recv(); r.Cmd() != ipcmsg.CmdRecv {
		t.Fatalf("got %v, want Recv", r.Cmd())
	}
	if r := l.recv(); r != (ipcmsg.CloseOK{Conn: lc}) {
		t.Fatalf("got %v, want CloseOK without ConnClosed", r.Cmd())
	}
}

func TestIPC_C7_FailedSend(t *testing.T) {
	ts := startServer(t, nil)
	legacy := ts.dial(t)
	legacy.send(ipcmsg.Info{}, ipcmsg.Send{Conn: 4242, Data: []byte("x")}, ipcmsg.Send{Conn: 4242}, ipcmsg.Info{})
	if r := legacy.recv(); r.Cmd() != ipcmsg.CmdInfoOK {
		t.Fatalf("first reply %v", r.Cmd())
	}
	legacy.expectError(ipcmsg.CodeNotFound, "connection 4242 not found")
	legacy.expectError(ipcmsg.CodeNotFound, "connection 4242 not found")
	if r := legacy.recv(); r.Cmd() != ipcmsg.CmdInfoOK {
		t.Fatalf("last reply %v", r.Cmd())
	}

	tagged := ts.dial(t)
	tagged.hello(ipcmsg.FeatureTagged)
	tagged.send(ipcmsg.Tagged{Tag: 77, Inner: ipcmsg.Send{Conn: 4242, Data: []byte("x")}})
	want := ipcmsg.TaggedReply{Tag: 77, Inner: ipcmsg.Error{Code: ipcmsg.CodeNotFound, Text: "connection 4242 not found"}}
	if r := tagged.recv(); r != want {
		t.Fatalf("got %+v, want %+v", r, want)
	}
}

func TestIPC_C10_DatagramRouting(t *testing.T) {
	ts := startServer(t, nil)
	binder, legacy, modern, sender := ts.dial(t), ts.dial(t), ts.dial(t), ts.dial(t)
	binder.hello(ipcmsg.FeatureDatagramBind)
	modern.hello(ipcmsg.FeatureDatagramBind)
	sender.hello(ipcmsg.FeatureTagged, ipcmsg.FeatureDatagramBind)
	binder.bind(6000)
	legacy.info() // admitted before the datagrams are sent
	sendTo := func(tag ipcmsg.Tag, port addr.Port) {
		sender.send(ipcmsg.Tagged{Tag: tag, Inner: ipcmsg.SendTo{Addr: ourNode, Port: port, Data: []byte{byte(port)}}})
		if r := sender.recv(); r != (ipcmsg.TaggedReply{Tag: tag, Inner: ipcmsg.OK{}}) {
			t.Fatalf("SendTo reply %+v", r)
		}
	}
	sendTo(1, 6000)
	sendTo(2, 6001)
	// Delivery is queued before the OK, so each client's next message tells.
	if r := binder.recv().(ipcmsg.RecvFrom); r.DstPort != 6000 {
		t.Fatalf("binder got datagram for %d", r.DstPort)
	}
	if r := legacy.recv().(ipcmsg.RecvFrom); r.DstPort != 6001 {
		t.Fatalf("legacy client got datagram for %d", r.DstPort)
	}
	binder.info()
	legacy.info()
	modern.info()
	// The sender's own datagram port reaches only the sender.
	src := ts.be.Sent()[0].SrcPort
	binder.send(ipcmsg.SendToFrom{Addr: ourNode, DstPort: src, SrcPort: 6000, Data: []byte("reply")})
	if r := sender.recv().(ipcmsg.RecvFrom); r.SrcPort != 6000 || string(r.Data) != "reply" {
		t.Fatalf("reply datagram %+v", r)
	}
	legacy.info()
	if ts.srv.DroppedDatagrams() != 0 {
		t.Errorf("dropped %d", ts.srv.DroppedDatagrams())
	}
	// No recipient at all: counted as dropped.
	legacy.nc.Close()
	for ts.srv.DeliverDatagram(ipcmsg.RecvFrom{Src: ourNode, SrcPort: 1, DstPort: 6002, Data: []byte("x")}) != 0 {
	}
	if ts.srv.DroppedDatagrams() == 0 {
		t.Error("datagram without recipient not counted")
	}
}

func TestIPC_C11_BindUnbind(t *testing.T) {
	ts := startServer(t, func(_ *ipc.Config, be *ipctest.Backend) { be.BuiltinPorts = []addr.Port{7} })
	a, b := ts.dial(t), ts.dial(t)
	a.hello()
	a.bind(7000)
	b.send(ipcmsg.Bind{Port: 7000})
	b.expectError(ipcmsg.CodeAlreadyExists, "port 7000 already bound")
	b.send(ipcmsg.Unbind{Port: 7000})
	b.expectError(ipcmsg.CodeNotFound, "port 7000 not bound by this client")
	a.send(ipcmsg.Unbind{Port: 7000})
	if r := a.recv(); r != (ipcmsg.UnbindOK{Port: 7000}) {
		t.Fatalf("Unbind reply %+v", r)
	}
	if ts.be.Listening(7000) {
		t.Error("backend listener not removed")
	}
	b.bind(7000)
	b.send(ipcmsg.Bind{Port: 7})
	b.expectError(ipcmsg.CodeAlreadyExists, "port 7 already bound")
	seen := map[addr.Port]bool{}
	for range 20 {
		p := a.bind(0)
		if p < 49152 || seen[p] {
			t.Fatalf("Bind 0 returned %d", p)
		}
		seen[p] = true
	}
}

func TestIPC_ClientDisconnectCleansUp(t *testing.T) {
	ts := startServer(t, nil)
	owner, peer := ts.dial(t), ts.dial(t)
	peer.bind(80)
	owner.bind(9000)
	lc, dc := connPair(t, peer, owner, 80)
	owner.nc.Close()
	waitFor(t, ts.be, "cleanup", func() bool {
		closed := ts.be.ClosedConns()
		return !ts.be.Listening(9000) && len(closed) == 1 && closed[0] == dc
	})
	// The peer sees the end of stream.
	if r := peer.recv(); r != (ipcmsg.CloseOK{Conn: lc}) {
		t.Fatalf("peer got %+v", r)
	}
}

// TestIPC_C14_ErrorCodes checks the codes of framework errors (§4): code 1
// is never used for a client mistake.
func TestIPC_C14_ErrorCodes(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.dial(t)
	owner := ts.dial(t)
	owner.bind(3000)
	cases := []struct {
		msg  ipcmsg.Message
		raw  []byte
		code ipcmsg.Code
		text string
	}{
		{msg: ipcmsg.Tagged{Tag: 1, Inner: ipcmsg.Info{}}, code: 7, text: "tagged mode not negotiated"},
		{raw: []byte{byte(ipcmsg.CmdBind)}, code: 2, text: "bind: missing port"},
		{raw: []byte{byte(ipcmsg.CmdDial), 0}, code: 2, text: "dial: missing address/port"},
		{raw: []byte{byte(ipcmsg.CmdSend)}, code: 2, text: "send: missing conn_id"},
		{raw: []byte{byte(ipcmsg.CmdClose)}, code: 2, text: "close: missing conn_id"},
		{raw: []byte{byte(ipcmsg.CmdSendTo)}, code: 2, text: "sendto: missing address/port"},
		{msg: ipcmsg.Bind{Port: 3000}, code: 4, text: "port 3000 already bound"},
		{msg: ipcmsg.Unbind{Port: 3000}, code: 3, text: "port 3000 not bound by this client"},
		{msg: ipcmsg.Dial{Addr: addr.New(0, 0), Port: 1}, code: 2, text: "dial: invalid destination 0:0000.0000.0000"},
		{msg: ipcmsg.Dial{Addr: addr.New(1, addr.BroadcastNode), Port: 1}, code: 2, text: "dial: invalid destination 1:0001.FFFF.FFFF"},
		{msg: ipcmsg.Dial{Addr: ourNode, Port: 1}, code: 12, text: "connection refused"},
		{msg: ipcmsg.SendTo{Addr: ourNode, Port: 1}, code: 2, text: "sendto: empty payload"},
		{msg: ipcmsg.SendTo{Addr: ourNode, Port: 1, Data: make([]byte, ipcmsg.MaxDatagramPayload+1)}, code: 2, text: "sendto: payload too large (max 65428 bytes)"},
		{msg: ipcmsg.SendTo{Addr: addr.New(0, addr.BroadcastNode), Port: 1, Data: []byte("x")}, code: 2, text: "sendto: broadcast in network 0 is not allowed"},
		{msg: ipcmsg.SendToFrom{Addr: ourNode, DstPort: 1, SrcPort: 3000, Data: []byte("x")}, code: 5, text: "sendto: port 3000 is not owned by this client"},
		{msg: ipcmsg.ConnOpt{Conn: 5, Option: ipcmsg.OptNagle, Value: []byte{1}}, code: 3, text: "connection 5 not found"},
		{msg: ipcmsg.Managed{Sub: ipcmsg.ManagedScore, Network: 3}, code: 7, text: "managed: no engine for network 3"},
		{msg: ipcmsg.Managed{Sub: ipcmsg.ManagedStatus}, code: 7, text: "managed: no active managed networks"},
		{msg: ipcmsg.Managed{Sub: ipcmsg.ManagedPolicy, Action: ipcmsg.ManagedSet}, code: 7, text: "managed policy set: expression policies are not supported"},
		{msg: ipcmsg.Managed{Sub: ipcmsg.ManagedMemberTags, Action: ipcmsg.ManagedSet}, code: 7, text: "member-tags set: not supported"},
		{msg: ipcmsg.Network{Sub: ipcmsg.NetworkList}, code: 10, text: "network list: registry unreachable"},
		{msg: ipcmsg.Hello{Client: "x"}},
		{msg: ipcmsg.Hello{Client: "x"}, code: 7, text: "hello already received"},
	}
	for _, tc := range cases {
		if tc.msg != nil {
			c.send(tc.msg)
		} else {
			c.sendMsg(tc.raw)
		}
		if tc.code == 0 {
			c.recv()
			continue
		}
		c.expectError(tc.code, tc.text)
	}
	c.send(ipcmsg.Managed{Sub: ipcmsg.ManagedPolicy, Network: 4})
	r, ok := c.recv().(ipcmsg.ManagedOK)
	if !ok || string(r.Body) != `{"type":"managed_policy_ok","network_id":4,"engine":"none"}` {
		t.Fatalf("policy get: %+v", r)
	}
}

func TestIPC_HelloReply(t *testing.T) {
	ts := startServer(t, nil)
	h := ts.dial(t).hello(ipcmsg.FeatureTagged, "future-thing")
	want := ipcmsg.HelloReply{Daemon: "pilot-daemon", Version: "1.5.0", IPCVersion: 1, NodeID: ourNode.Node,
		Address: ourNode, MaxMessage: ipcmsg.MaxMessage, Features: ipcmsg.DaemonFeatures()}
	if fmt.Sprint(h) != fmt.Sprint(want) {
		t.Fatalf("HelloOK %+v, want %+v", h, want)
	}
}
