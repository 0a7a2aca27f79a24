package ipc_test

import (
	"slices"
	"testing"

	"github.com/pilot-go/pilot/internal/ipc"
	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
)

// TestIPC_NoUnsolicitedCloseOKAfterOwnerClose: a Close queued behind a
// tagged Send that waits for buffer space (ipc.md §10.3) counts from its
// arrival: when the connection ends while the Close still waits, the owner
// gets no ConnClosed and no unsolicited CloseOK, only the Close's reply
// (§5.6: exactly one CloseOK per Close; after the owner has sent Close, no
// unsolicited CloseOK is sent for it).
func TestIPC_NoUnsolicitedCloseOKAfterOwnerClose(t *testing.T) {
	ts := startServer(t, nil)
	_, d, id := dialLoopback(t, ts, ipcmsg.FeatureTagged, ipcmsg.FeatureCloseReason)
	conn := ts.be.Conn(id)
	conn.Hold(2 * ipc.DefaultSendBuffer) // the Send's OK waits, and the Close behind it

	var seen []ipcmsg.Reply // everything d receives from here on
	until := func(tag ipcmsg.Tag) ipcmsg.TaggedReply {
		t.Helper()
		for {
			r := d.recv()
			seen = append(seen, r)
			if tr, ok := r.(ipcmsg.TaggedReply); ok && tr.Tag == tag {
				return tr
			}
		}
	}
	// The Info's reply proves that the reader has taken the Close.
	d.send(ipcmsg.Tagged{Tag: 2, Inner: ipcmsg.Send{Conn: id, Data: []byte("data")}},
		ipcmsg.Tagged{Tag: 3, Inner: ipcmsg.Close{Conn: id}},
		ipcmsg.Tagged{Tag: 4, Inner: ipcmsg.Info{}})
	until(4)

	conn.End(ipcmsg.ReasonReset, "") // the connection ends while the Close waits
	// Each round the writer writes the replies it has, then serves the
	// readable connections (writer.go): the ended connection is served at
	// the latest in the round that writes the reply to tag 5, so any
	// unsolicited CloseOK precedes the reply to tag 6.
	d.send(ipcmsg.Tagged{Tag: 5, Inner: ipcmsg.Info{}})
	until(5)
	d.send(ipcmsg.Tagged{Tag: 6, Inner: ipcmsg.Info{}})
	until(6)

	conn.Hold(0) // the Send's OK, then the Close runs
	if r := until(2); r.Inner.Cmd() != ipcmsg.CmdOK {
		t.Fatalf("Send reply %+v, want OK", r.Inner)
	}
	if r := until(3); r.Inner != (ipcmsg.CloseOK{Conn: id}) {
		t.Fatalf("Close reply %+v, want CloseOK", r.Inner)
	}
	// The Close still closed the backend's connection although its end of
	// stream came first.
	waitFor(t, ts.be, "the connection closed", func() bool { return slices.Contains(ts.be.ClosedConns(), id) })
	d.send(ipcmsg.Tagged{Tag: 7, Inner: ipcmsg.Info{}})
	until(7)
	for _, r := range seen {
		switch m := r.(type) {
		case ipcmsg.CloseOK:
			t.Errorf("unsolicited CloseOK for %d after the owner's Close", m.Conn)
		case ipcmsg.ConnClosed:
			t.Errorf("ConnClosed %+v after the owner's Close", m)
		}
	}
}
