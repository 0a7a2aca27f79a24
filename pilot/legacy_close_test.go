package pilot

import (
	"testing"
	"time"

	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
)

// TestLegacyDoubleCloseOK: against an original daemon, which answers our
// Close with the CloseOK reply and one more unsolicited CloseOK (ipc.md
// §5.6), the second CloseOK is absorbed: it is not buffered as the early
// end of stream of a connection to come, so a later connection that gets
// the same ID (the fake daemon hands out 7 every time) reads its data and
// is not at end of stream.
func TestLegacyDoubleCloseOK(t *testing.T) {
	d := startOriginalWith(t, true)
	c, err := Connect(testCtx(t), WithSocket(d.path))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !c.Legacy() {
		t.Fatal("did not fall back to legacy mode")
	}
	d.next(t) // Hello
	for round := range 3 {
		conn, err := c.Dial(testCtx(t), "pilot", "0:0000.0000.02AF:7")
		if err != nil {
			t.Fatal(err)
		}
		d.next(t) // Dial
		conn.mu.Lock()
		eof := conn.eof
		conn.mu.Unlock()
		if eof {
			t.Fatalf("round %d: connection %d starts at end of stream (a stale CloseOK was kept)", round, conn.id)
		}
		conn.SetReadDeadline(time.Now().Add(testTimeout))
		buf := make([]byte, 10)
		if n, err := conn.Read(buf); err != nil || string(buf[:n]) != "hi" {
			t.Fatalf("round %d: Read %q %v", round, buf[:n], err)
		}
		conn.Close()
		if r := d.next(t); r != (ipcmsg.Close{Conn: 7}) {
			t.Fatalf("daemon got %+v, want Close 7", r)
		}
		// The daemon writes its replies in order: once the BindOK of a
		// later request is in, both CloseOKs have been read.
		ln, err := c.Listen(testCtx(t), "pilot", ":80")
		if err != nil {
			t.Fatal(err)
		}
		d.next(t) // Bind
		ln.Close()
		c.mu.Lock()
		early, nEarly := c.early[7], len(c.early)
		c.mu.Unlock()
		if early != nil || nEarly != 0 {
			t.Fatalf("round %d: early entries %d (conn 7: %+v), want none", round, nEarly, early)
		}
	}
}
