package daemon

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
)

// bigConn is a conn_list entry with wide counters (~400 bytes encoded).
func bigConn(i int, state string) ipcmsg.InfoConn {
	const big = 1 << 40
	return ipcmsg.InfoConn{ID: ipcmsg.ConnID(100000 + i), LocalPort: 49152, RemoteAddr: addr.New(1, addr.NodeID(0x10000000+i)),
		RemotePort: 1000, State: state, CongWin: big, SSThresh: big, InFlight: big, SRTTMillis: 12345, RTTVarMillis: 6789,
		Unacked: 99999, OOOBuf: 999, PeerRecvWin: 4194304, RecvWin: 4194304, InRecovery: true, BytesSent: big,
		BytesRecv: big, SegsSent: big, SegsRecv: big, Retransmits: big, FastRetx: big, SackRecv: big, SackSent: big,
		DupAcks: big}
}

func bigPeer(i int) ipcmsg.InfoPeer {
	return ipcmsg.InfoPeer{NodeID: addr.NodeID(0x10000000 + i), Endpoint: fmt.Sprintf("[2001:db8:ffff:ffff:ffff:ffff:%x:1]:65535", i),
		Encrypted: true, Authenticated: true}
}

func infoWith(peers, conns int, state func(i int) string) ipcmsg.NodeInfo {
	info := ipcmsg.NodeInfo{NodeID: 686, Address: addr.New(0, 686), Hostname: "alpha", PublicKey: "k", Version: Version,
		Networks: []ipcmsg.InfoNetwork{{NetworkID: 1, Address: addr.New(1, 686)}}, PeerList: []ipcmsg.InfoPeer{},
		ConnList: []ipcmsg.InfoConn{}}
	for i := range peers {
		info.PeerList = append(info.PeerList, bigPeer(i))
	}
	for i := range conns {
		info.ConnList = append(info.ConnList, bigConn(i, state(i)))
		switch info.ConnList[i].State {
		case ipcmsg.StateSynSent, ipcmsg.StateSynRecv, ipcmsg.StateEstablished:
			info.Connections++
		}
	}
	info.Peers = peers
	return info
}

func encodedInfo(t *testing.T, info ipcmsg.NodeInfo) []byte {
	t.Helper()
	b, err := ipcmsg.EncodeJSON(info)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// isSubsequence reports whether sub is in full in order.
func isSubsequence[T any](sub, full []T) bool {
	j := 0
	for _, x := range full {
		if j < len(sub) && reflect.DeepEqual(sub[j], x) {
			j++
		}
	}
	return j == len(sub)
}

// ipc.md §2 and §6: Info stays under the 1 MiB IPC cap with the default
// -max-conns-total of 4,096 connections (~400 bytes each in conn_list),
// keeping every key and the exact counts; conn_list lists the active
// connections first and keeps their order.
func TestInfoConnListCapped(t *testing.T) {
	state := func(i int) string {
		if i%2 == 0 {
			return ipcmsg.StateTimeWait
		}
		return ipcmsg.StateEstablished
	}
	info := infoWith(3, 4096, state)
	orig := infoWith(3, 4096, state)
	if n := len(encodedInfo(t, info)); n <= ipcmsg.MaxMessage {
		t.Fatalf("test setup: uncapped Info is only %d bytes", n)
	}
	if err := capInfo(&info, maxReplyBytes); err != nil {
		t.Fatal(err)
	}
	body := encodedInfo(t, info)
	if n := len(ipcmsg.AppendFrame(nil, ipcmsg.InfoOK{Body: body})) - ipcmsg.FrameHeaderLen; n > ipcmsg.MaxMessage || len(body) > maxReplyBytes {
		t.Fatalf("capped Info: %d bytes (message %d), over the cap", len(body), n)
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(body, &keys); err != nil || len(keys) != 24 {
		t.Fatalf("capped Info has %d keys (%v), want the 24 of §6", len(keys), err)
	}
	if info.Connections != orig.Connections || info.Peers != 3 || !reflect.DeepEqual(info.PeerList, orig.PeerList) {
		t.Errorf("counts or peer_list changed: connections %d/%d, peers %d", info.Connections, orig.Connections, info.Peers)
	}
	if len(info.ConnList) == 0 || len(info.ConnList) >= len(orig.ConnList) || !isSubsequence(info.ConnList, orig.ConnList) {
		t.Fatalf("conn_list: %d of %d entries, want a non-empty subsequence", len(info.ConnList), len(orig.ConnList))
	}
	active := min(orig.Connections, len(info.ConnList))
	for i, c := range info.ConnList[:active] {
		if c.State != ipcmsg.StateEstablished {
			t.Fatalf("conn_list[%d] is %s before all active connections are listed", i, c.State)
		}
	}
	// A little room is left: the budget is used, not wasted.
	if len(body) < maxReplyBytes-2*len(encodedInfo(t, ipcmsg.NodeInfo{ConnList: orig.ConnList[:1]})) {
		t.Errorf("capped Info of %d bytes leaves more than two entries of room below %d", len(body), maxReplyBytes)
	}
}

// With both lists too large (65,536 peers is the tunnel's peer table
// limit), each keeps entries and the Info stays under the cap.
func TestInfoPeerAndConnListsCapped(t *testing.T) {
	info := infoWith(65536, 4096, func(int) string { return ipcmsg.StateEstablished })
	orig := infoWith(65536, 4096, func(int) string { return ipcmsg.StateEstablished })
	if err := capInfo(&info, maxReplyBytes); err != nil {
		t.Fatal(err)
	}
	body := encodedInfo(t, info)
	if len(body) > maxReplyBytes {
		t.Fatalf("capped Info: %d bytes", len(body))
	}
	if len(info.PeerList) == 0 || len(info.ConnList) == 0 || info.Peers != 65536 || info.Connections != 4096 {
		t.Errorf("peer_list %d, conn_list %d entries; peers %d, connections %d", len(info.PeerList), len(info.ConnList),
			info.Peers, info.Connections)
	}
	if !isSubsequence(info.PeerList, orig.PeerList[:len(info.PeerList)]) || !isSubsequence(info.ConnList, orig.ConnList[:len(info.ConnList)]) {
		t.Error("kept entries are not the first ones in order")
	}
}

// An Info under the cap is not touched.
func TestInfoSmallUnchanged(t *testing.T) {
	info := infoWith(10, 10, func(int) string { return ipcmsg.StateEstablished })
	orig := infoWith(10, 10, func(int) string { return ipcmsg.StateEstablished })
	if err := capInfo(&info, maxReplyBytes); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(info, orig) {
		t.Error("Info below the cap was changed")
	}
}

// ipc.md §2, §10.4 peers: the reply stays under the cap; total stays the
// number of matching peers, so total > len(peers) shows the cut.
func TestPeersOpCapped(t *testing.T) {
	peers := make([]peerEntry, 6000)
	for i := range peers {
		peers[i] = peerEntry{NodeID: addr.NodeID(0x10000000 + i), Endpoint: fmt.Sprintf("[2001:db8:ffff:ffff:ffff:ffff:%x:1]:65535", i),
			Path: "relay", Relay: true, Encrypted: true, Authenticated: true, Auth: "pila", KeyAgeS: 1 << 40,
			Rekeys: 1 << 40, LastRxMs: 1 << 40, LastTxMs: 1 << 40, FramesSent: 1 << 60, FramesRecv: 1 << 60,
			DecryptFailures: 1 << 60, Replays: 1 << 60, Queued: 1 << 20}
	}
	out, err := capPeers(peers, maxReplyBytes)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) > maxReplyBytes {
		t.Fatalf("peers reply of %d bytes, over %d", len(out), maxReplyBytes)
	}
	var got struct {
		Peers []peerEntry `json:"peers"`
		Total int         `json:"total"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if got.Total != len(peers) || len(got.Peers) == 0 || len(got.Peers) >= len(peers) ||
		!reflect.DeepEqual(got.Peers, peers[:len(got.Peers)]) {
		t.Fatalf("total %d, %d peers listed: want total %d and a non-empty prefix", got.Total, len(got.Peers), len(peers))
	}
	small, err := capPeers(peers[:3], maxReplyBytes)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(small, &got); err != nil || got.Total != 3 || !reflect.DeepEqual(got.Peers, peers[:3]) {
		t.Fatalf("small peers reply changed: %s", small)
	}
}
