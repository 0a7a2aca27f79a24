package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
	"github.com/pilot-go/pilot/pilot"
)

// trusted reports whether n's trust store holds peer.
func trusted(n *node, peer addr.NodeID) bool { return n.d.Trust().IsTrusted(peer) }

// Two daemons with a registry and a beacon on loopback: they establish
// trust with a handshake and an approval over IPC, then exchange a stream
// (echo service on port 7) and datagrams through the Go SDK.
func TestE2E_TwoDaemonsTrustEchoDatagram(t *testing.T) {
	reg := startRegistry(t)
	bcn := startBeacon(t)
	hook := newHookSink(t)
	a := startNode(t, reg, bcn)
	b := startNode(t, reg, bcn, "-webhook", hook.url)
	aID, bID := a.d.NodeID(), b.d.NodeID()
	ca, cb := dialIPC(t, a.sock), dialIPC(t, b.sock)

	// A asks B for trust; B sees the request (direct or through the
	// registry relay) and approves it; A learns of the approval.
	sent := object(t, ca.body(ipcmsg.Handshake{Sub: ipcmsg.HandshakeRequest, Node: bID, Text: "e2e test"}))
	if sent["status"] != "sent" {
		t.Fatalf("handshake request reply %v", sent)
	}
	eventually(t, "B to hold A's pending request", func() bool {
		return len(b.d.Trust().Pending().Pending) == 1
	})
	if p := b.d.Trust().Pending().Pending[0]; p.NodeID != aID || p.Justification != "e2e test" {
		t.Fatalf("pending request %+v", p)
	}
	approved := object(t, cb.body(ipcmsg.Handshake{Sub: ipcmsg.HandshakeApprove, Node: aID}))
	if approved["status"] != "approved" {
		t.Fatalf("approve reply %v", approved)
	}
	eventually(t, "mutual trust", func() bool { return trusted(a, bID) && trusted(b, aID) })

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// Stream: A dials B's echo service.
	conn, err := pilot.Dial(ctx, "pilot", fmt.Sprintf("%s:7", addr.New(0, bID)), pilot.WithSocket(a.sock))
	if err != nil {
		t.Fatalf("dial B:7: %v", err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	msg := bytes.Repeat([]byte("pilot echo "), 1000) // several segments
	go func() {
		if _, err := conn.Write(msg); err != nil {
			t.Errorf("write: %v", err)
		}
	}()
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(conn, got); err != nil {
		t.Fatalf("echo read: %v", err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatal("echo returned different bytes")
	}
	conns, _ := object(t, ca.body(ipcmsg.Info{}))["conn_list"].([]any)
	var echoConn map[string]any
	for _, c := range conns {
		if m := c.(map[string]any); m["remote_port"].(interface{ String() string }).String() == "7" {
			echoConn = m
		}
	}
	if echoConn == nil {
		t.Fatalf("A's conn_list lacks the echo connection: %v", conns)
	}
	checkKeys(t, "conn_list entry", echoConn, map[string]string{
		"id": "int", "local_port": "int", "remote_port": "int", "remote_addr": "str", "state": "str",
		"cong_win": "int", "ssthresh": "int", "in_flight": "int", "srtt_ms": "int", "rttvar_ms": "int",
		"unacked": "int", "ooo_buf": "int", "peer_recv_win": "int", "recv_win": "int", "in_recovery": "bool",
		"bytes_sent": "int", "bytes_recv": "int", "segs_sent": "int", "segs_recv": "int", "retransmits": "int",
		"fast_retx": "int", "sack_recv": "int", "sack_sent": "int", "dup_acks": "int",
	})
	if echoConn["state"] != "ESTABLISHED" || echoConn["remote_addr"] != addr.New(0, bID).String() {
		t.Errorf("conn_list entry %v", echoConn)
	}

	// Datagrams: B listens on port 5000, A sends, B answers.
	pb, err := pilot.ListenPacket(ctx, "pilot", ":5000", pilot.WithSocket(b.sock))
	if err != nil {
		t.Fatal(err)
	}
	defer pb.Close()
	pa, err := pilot.ListenPacket(ctx, "pilot", ":0", pilot.WithSocket(a.sock))
	if err != nil {
		t.Fatal(err)
	}
	defer pa.Close()
	dst, err := pilot.ParseAddr(fmt.Sprintf("%s:5000", addr.New(0, bID)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pa.WriteTo([]byte("ping"), dst); err != nil {
		t.Fatalf("datagram to B: %v", err)
	}
	pb.SetReadDeadline(time.Now().Add(20 * time.Second))
	buf := make([]byte, 64)
	n, from, err := pb.ReadFrom(buf)
	if err != nil {
		t.Fatalf("B datagram read: %v", err)
	}
	if string(buf[:n]) != "ping" {
		t.Fatalf("B got %q", buf[:n])
	}
	if _, err := pb.WriteTo([]byte("pong"), from); err != nil {
		t.Fatalf("datagram to A: %v", err)
	}
	pa.SetReadDeadline(time.Now().Add(20 * time.Second))
	n, _, err = pa.ReadFrom(buf)
	if err != nil {
		t.Fatalf("A datagram read: %v", err)
	}
	if string(buf[:n]) != "pong" {
		t.Fatalf("A got %q", buf[:n])
	}

	// Info now reports the peer and the tunnel traffic.
	info := object(t, ca.body(ipcmsg.Info{}))
	peers, _ := info["peer_list"].([]any)
	if len(peers) == 0 || info["authenticated_peers"].(interface{ String() string }).String() == "0" {
		t.Errorf("info after traffic: peers %v authenticated %v", info["peer_list"], info["authenticated_peers"])
	}

	// cli.md §4.8: after B rotates its key, A reaches B again (the tunnel
	// re-authenticates with the new identity).
	rot := object(t, replyBody(t, cb.op(`{"op":"key.rotate"}`)))
	if rot["public_key"] != b.d.Identity().PublicKeyBase64() || rot["rotate_count"].(interface{ String() string }).String() != "1" {
		t.Fatalf("key.rotate data %v", rot)
	}
	echoOnce(t, ctx, a.sock, bID, []byte("after rotation"))

	// services.md §8.3: events raised where they happen reach B's webhook.
	for _, ev := range []string{"node.registered", "handshake.received", "tunnel.established",
		"conn.syn_received", "conn.established", "data.datagram"} {
		eventually(t, "webhook event "+ev, func() bool { return hook.seen(ev) })
	}
}

// echoOnce dials peer's echo service through the daemon at sock and checks
// one round trip.
func echoOnce(t *testing.T, ctx context.Context, sock string, peer addr.NodeID, msg []byte) {
	t.Helper()
	conn, err := pilot.Dial(ctx, "pilot", fmt.Sprintf("%s:7", addr.New(0, peer)), pilot.WithSocket(sock))
	if err != nil {
		t.Fatalf("dial %d:7: %v", peer, err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := conn.Write(msg); err != nil {
		t.Fatalf("write: %v", err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(conn, got); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("echo: %q, %v", got, err)
	}
}

// hookSink is a webhook receiver on loopback recording event names.
type hookSink struct {
	url    string
	mu     sync.Mutex
	events map[string]int
}

func newHookSink(t *testing.T) *hookSink {
	h := &hookSink{events: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var env struct {
			Event string `json:"event"`
		}
		if err := json.NewDecoder(r.Body).Decode(&env); err == nil {
			h.mu.Lock()
			h.events[env.Event]++
			h.mu.Unlock()
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	h.url = srv.URL + "/hook"
	return h
}

func (h *hookSink) seen(event string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.events[event] > 0
}
