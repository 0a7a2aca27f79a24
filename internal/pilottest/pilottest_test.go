package pilottest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
	"github.com/pilot-go/pilot/pilot"
)

// echoServer accepts on port and echoes every connection until the
// listener closes; it returns a stop function that waits for it.
func echoServer(t *testing.T, n *Node, port addr.Port) func() {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), WaitTimeout)
	defer cancel()
	ln, err := n.Client().Listen(ctx, "pilot", fmt.Sprintf(":%d", port))
	if err != nil {
		t.Fatalf("%s listen :%d: %v", n.Name, port, err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			})
		}
	})
	stop := func() { ln.Close(); wg.Wait() }
	t.Cleanup(stop)
	return stop
}

// roundTrip dials to (from a's SDK client), writes payload, half-reads the
// echo and compares.
func roundTrip(ctx context.Context, a *Node, to string, payload []byte) error {
	c, err := a.Client().Dial(ctx, "pilot", to)
	if err != nil {
		return err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	werr := make(chan error, 1)
	go func() { _, err := c.Write(payload); werr <- err }()
	got := make([]byte, len(payload))
	if _, err := io.ReadFull(c, got); err != nil {
		return fmt.Errorf("read echo from %s: %w", to, err)
	}
	if err := <-werr; err != nil {
		return fmt.Errorf("write to %s: %w", to, err)
	}
	if !bytes.Equal(got, payload) {
		return fmt.Errorf("echo from %s differs", to)
	}
	return nil
}

func payload(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i) ^ seed
	}
	return b
}

// datagramExchange sends one datagram from a to b's port and back.
func datagramExchange(t *testing.T, a, b *Node, net addr.NetworkID, port addr.Port) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), WaitTimeout)
	defer cancel()
	pb, err := b.Client().ListenPacket(ctx, "pilot", fmt.Sprintf(":%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer pb.Close()
	pa, err := a.Client().ListenPacket(ctx, "pilot", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer pa.Close()
	dst, err := pilot.ParseAddr(b.SockAddr(net, port))
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("datagram from " + a.Name)
	// Datagrams are unreliable: resend until one arrives (bounded).
	got := make(chan []byte, 1)
	go func() {
		buf := make([]byte, 256)
		pb.SetReadDeadline(time.Now().Add(WaitTimeout))
		n, from, err := pb.ReadFrom(buf)
		if err != nil {
			close(got)
			return
		}
		_, _ = pb.WriteTo([]byte("reply to "+string(buf[:n])), from)
		got <- append([]byte(nil), buf[:n]...)
	}()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for received := false; !received; {
		if _, err := pa.WriteTo(msg, dst); err != nil {
			t.Fatalf("datagram %s → %s: %v", a.Name, b.Name, err)
		}
		select {
		case m, ok := <-got:
			if !ok || !bytes.Equal(m, msg) {
				t.Fatalf("%s received %q (ok %v)", b.Name, m, ok)
			}
			received = true
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("no datagram %s → %s", a.Name, b.Name)
		}
	}
	pa.SetReadDeadline(time.Now().Add(WaitTimeout))
	buf := make([]byte, 256)
	n, _, err := pa.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "reply to "+string(msg) {
		t.Fatalf("%s reply: %q %v", a.Name, buf[:n], err)
	}
}

// Two trusted daemons exchange streams both ways through the SDK (with an
// application listener, concurrent connections and a 4 MiB transfer) and
// datagrams.
func TestTwoDaemons_StreamsAndDatagrams(t *testing.T) {
	nw := Start(t, 2)
	a, b := nw.Nodes[0], nw.Nodes[1]
	nw.Trust(a, b)
	echoServer(t, a, 1000)
	echoServer(t, b, 1000)
	ctx, cancel := context.WithTimeout(context.Background(), 2*WaitTimeout)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 4 {
		wg.Go(func() { errs <- roundTrip(ctx, a, b.SockAddr(0, 1000), payload(64<<10, byte(i))) })
		wg.Go(func() { errs <- roundTrip(ctx, b, a.SockAddr(0, 1000), payload(64<<10, byte(i+9))) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := roundTrip(ctx, a, b.SockAddr(0, 1000), payload(4<<20, 7)); err != nil {
		t.Fatalf("bulk: %v", err)
	}
	datagramExchange(t, a, b, 0, 5000)
	datagramExchange(t, b, a, 0, 5001)
}

// Five daemons in one open network (membership admits them to each other
// without pairwise trust): every node streams to every other, and
// datagrams go round the ring.
func TestFiveDaemons_NetworkMesh(t *testing.T) {
	nw := Start(t, 5)
	owner := nw.Nodes[0]
	created := owner.MustOp(fmt.Sprintf(`{"op":"network.create","name":"mesh","join_rule":"open","admin_token":%q}`, AdminToken))
	netID := jsonInt(t, created["network_id"])
	for _, n := range nw.Nodes[1:] {
		n.MustOp(fmt.Sprintf(`{"op":"network.join","network_id":%d}`, netID))
	}
	for _, n := range nw.Nodes {
		echoServer(t, n, 1000)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*WaitTimeout)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i, from := range nw.Nodes {
		for j, to := range nw.Nodes {
			if i == j {
				continue
			}
			wg.Go(func() {
				errs <- roundTrip(ctx, from, to.SockAddr(addr.NetworkID(netID), 1000), payload(32<<10, byte(i*5+j)))
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	for i, n := range nw.Nodes {
		datagramExchange(t, n, nw.Nodes[(i+1)%len(nw.Nodes)], addr.NetworkID(netID), addr.Port(6000+i))
	}
}

// An untrusted peer cannot open a stream to a private node: the registry
// refuses to resolve it, and the node itself silently drops the SYN of a
// peer whose trust was revoked while the tunnel is up (wire.md §8 step
// 5); trust admits it.
func TestTrust_RefusalAndRevocation(t *testing.T) {
	nw := Start(t, 2)
	a, b := nw.Nodes[0], nw.Nodes[1]
	echoServer(t, b, 1000)
	short := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return roundTrip(ctx, a, b.SockAddr(0, 1000), []byte("hello"))
	}
	var perr *pilot.Error
	// The registry's refusal keeps its code (ipc.md §5.2 "resolve node N:
	// <reason>", registry code).
	if err := short(); !errors.As(err, &perr) || perr.Code != pilot.CodePermissionDenied {
		t.Fatalf("untrusted peer's stream: %v, want permission_denied", err)
	}
	nw.Trust(a, b)
	if err := short(); err != nil {
		t.Fatalf("trusted peer refused: %v", err)
	}
	if _, err := b.JSON(ipcmsg.Handshake{Sub: ipcmsg.HandshakeRevoke, Node: a.ID()}); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	Eventually(t, "a's new streams to be refused after revocation", func() bool { return short() != nil })
	// The tunnel is up, so a's SYN reaches b, which drops it and says so.
	Eventually(t, "b's syn.rejected event", func() bool {
		_ = short()
		return len(b.Events.Named("syn.rejected")) > 0
	})
	if b.Daemon().Trust().IsTrusted(a.ID()) {
		t.Fatal("b still trusts a")
	}
}

// allowed_ports of a shared network gate the members' streams and are
// re-read when the policy changes (wire.md §8 step 4).
func TestAllowedPorts_EnforcedAndUpdated(t *testing.T) {
	nw := Start(t, 2)
	a, b := nw.Nodes[0], nw.Nodes[1]
	created := a.MustOp(fmt.Sprintf(`{"op":"network.create","name":"ports","join_rule":"open","admin_token":%q}`, AdminToken))
	netID := jsonInt(t, created["network_id"])
	b.MustOp(fmt.Sprintf(`{"op":"network.join","network_id":%d}`, netID))
	a.MustOp(fmt.Sprintf(`{"op":"network.set_policy","network_id":%d,"allowed_ports":[1000]}`, netID))
	echoServer(t, b, 1000)
	echoServer(t, b, 2000)
	try := func(port addr.Port) error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return roundTrip(ctx, a, b.SockAddr(addr.NetworkID(netID), port), []byte("x"))
	}
	Eventually(t, "port 1000 allowed", func() bool { return try(1000) == nil })
	if err := try(2000); err == nil {
		t.Fatal("port 2000 reachable although not in allowed_ports")
	}
	if len(b.Events.Named("syn.port_rejected")) == 0 {
		t.Error("no syn.port_rejected event")
	}
	a.MustOp(fmt.Sprintf(`{"op":"network.set_policy","network_id":%d,"allowed_ports":[2000]}`, netID))
	Eventually(t, "the new policy (2000 allowed, 1000 refused)", func() bool { return try(2000) == nil && try(1000) != nil })
	a.MustOp(fmt.Sprintf(`{"op":"network.set_policy","network_id":%d,"allowed_ports":[]}`, netID))
	Eventually(t, "every port allowed once the list is cleared", func() bool { return try(1000) == nil && try(2000) == nil })
}

// Fleet auto-join (cli.md §3.4) is idempotent across restarts: one join,
// one network.auto_joined event, the membership and node ID kept.
func TestAutoJoin_IdempotentAcrossRestarts(t *testing.T) {
	nw := Start(t, 1)
	owner := nw.Nodes[0]
	open := jsonInt(t, owner.MustOp(fmt.Sprintf(`{"op":"network.create","name":"fleet","join_rule":"open","admin_token":%q}`, AdminToken))["network_id"])
	inv := jsonInt(t, owner.MustOp(fmt.Sprintf(`{"op":"network.create","name":"closed","join_rule":"invite","admin_token":%q}`, AdminToken))["network_id"])
	f := nw.AddNode("-networks", fmt.Sprintf("%d,%d", open, inv))
	// The invite-only entry, after the open one, marks the end of a pass.
	mark := fmt.Sprintf("network %d is invite-only; auto-join never joins", inv)
	Eventually(t, "the first auto-join pass", func() bool { return f.Logs.Count(mark) == 1 })
	if !f.Daemon().Memberships().Has(addr.NetworkID(open)) || f.Daemon().Memberships().Has(addr.NetworkID(inv)) {
		t.Fatalf("memberships %v", f.Daemon().Memberships().List())
	}
	id := f.ID()
	for round := 2; round <= 3; round++ {
		f.Restart()
		Eventually(t, fmt.Sprintf("auto-join pass %d", round), func() bool { return f.Logs.Count(mark) == round })
		if f.ID() != id {
			t.Fatalf("node ID changed across restart: %d → %d", id, f.ID())
		}
	}
	if n := len(f.Events.Named("network.auto_joined")); n != 1 {
		t.Fatalf("network.auto_joined emitted %d times over 3 starts", n)
	}
	audit := owner.MustOp(fmt.Sprintf(`{"op":"network.audit","network_id":%d,"action":"network.joined"}`, open))
	joins := 0
	for _, e := range audit["entries"].([]any) {
		if jsonInt(t, e.(map[string]any)["node_id"]) == int(id) {
			joins++
		}
	}
	if joins != 1 {
		t.Fatalf("%d network.joined audit entries for the fleet node", joins)
	}
	members := owner.MustOp(fmt.Sprintf(`{"op":"network.members","network_id":%d}`, open))
	if n := len(members["nodes"].([]any)); n != 2 {
		t.Fatalf("%d members after restarts", n)
	}
}

// Info over raw ipcmsg (the original's 0x0D/0x0E, ipc.md §6): every key
// present with the JSON type of the table.
func TestIPC_InfoRawSmoke(t *testing.T) {
	nw := Start(t, 1)
	n := nw.Nodes[0]
	info, err := n.JSON(ipcmsg.Info{})
	if err != nil {
		t.Fatal(err)
	}
	ints := []string{"node_id", "uptime_secs", "connections", "ports", "peers", "encrypted_peers",
		"authenticated_peers", "bytes_sent", "bytes_recv", "pkts_sent", "pkts_recv",
		"tunnel_encryption_success", "tunnel_encryption_failure", "handshake_pending_count"}
	for _, k := range ints {
		v, ok := info[k].(json.Number)
		if _, err := v.Int64(); !ok || err != nil {
			t.Errorf("%s = %#v, want an integer", k, info[k])
		}
	}
	for _, k := range []string{"address", "hostname", "public_key", "email", "version"} {
		if _, ok := info[k].(string); !ok {
			t.Errorf("%s = %#v, want a string", k, info[k])
		}
	}
	for _, k := range []string{"encrypt", "identity"} {
		if _, ok := info[k].(bool); !ok {
			t.Errorf("%s = %#v, want a bool", k, info[k])
		}
	}
	for _, k := range []string{"networks", "peer_list", "conn_list"} {
		if _, ok := info[k].([]any); !ok {
			t.Errorf("%s = %#v, want an array ([] when empty)", k, info[k])
		}
	}
	if info["address"] != n.Addr().String() || jsonInt(t, info["node_id"]) != int(n.ID()) {
		t.Errorf("info names %v/%v, want node %d", info["address"], info["node_id"], n.ID())
	}
	// An unknown command gets the original's error reply, and the
	// connection keeps working.
	c, err := net.Dial("unix", n.Socket)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(WaitTimeout))
	if _, err := c.Write([]byte{0, 0, 0, 1, 0x7F}); err != nil {
		t.Fatal(err)
	}
	body, err := ipcmsg.ReadFrame(c)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := ipcmsg.DecodeReply(body)
	if _, ok := rep.(ipcmsg.Error); err != nil || !ok {
		t.Fatalf("unknown command reply %x (%v)", body, err)
	}
	if _, err := c.Write(ipcmsg.AppendFrame(nil, ipcmsg.Info{})); err != nil {
		t.Fatal(err)
	}
	if body, err = ipcmsg.ReadFrame(c); err != nil {
		t.Fatal(err)
	}
	if rep, err := ipcmsg.DecodeReply(body); err != nil {
		t.Fatal(err)
	} else if _, ok := rep.(ipcmsg.InfoOK); !ok {
		t.Fatalf("Info after an unknown command: %T", rep)
	}
}

// jsonInt converts a json.Number (or float64) to int.
func jsonInt(t *testing.T, v any) int {
	t.Helper()
	switch x := v.(type) {
	case json.Number:
		i, err := strconv.Atoi(x.String())
		if err != nil {
			t.Fatalf("not an int: %v", x)
		}
		return i
	case float64:
		return int(x)
	}
	t.Fatalf("not a number: %#v", v)
	return 0
}
