package pilot

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/pilot-go/pilot/internal/ipc"
	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
)

// blockedWrite starts a one-byte Write on dialed while the daemon withholds
// the Send's OK (the connection's untransmitted data is held above the
// send buffer, ipc.md §10.3), and returns once the daemon has executed the
// Send (the byte reached the accepted end): from then on the Write can only
// be waiting for the OK. The Write's result arrives on the returned channel.
func blockedWrite(t *testing.T, d *daemon, dialed, accepted *Conn) <-chan error {
	t.Helper()
	d.be.Conn(dialed.id).Hold(2 * ipc.DefaultSendBuffer)
	done := make(chan error, 1)
	go func() {
		_, err := dialed.Write([]byte("x"))
		done <- err
	}()
	accepted.SetReadDeadline(time.Now().Add(testTimeout))
	buf := make([]byte, 1)
	if _, err := io.ReadFull(accepted, buf); err != nil {
		t.Fatalf("the Send did not reach the daemon: %v", err)
	}
	select {
	case err := <-done:
		t.Fatalf("Write returned before its OK: %v", err)
	default:
	}
	return done
}

func awaitWrite(t *testing.T, done <-chan error, what string) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(testTimeout):
		t.Fatalf("Write still blocked %v after %s", testTimeout, what)
		return nil
	}
}

// TestConn_CloseUnblocksWrite: Close unblocks a Write waiting for the
// daemon's OK (net.Conn contract; ipc.md §11 rule 4), with net.ErrClosed.
func TestConn_CloseUnblocksWrite(t *testing.T) {
	d := startDaemon(t, nil)
	dialed, accepted := d.pair(t)
	done := blockedWrite(t, d, dialed, accepted)
	if err := dialed.Close(); err != nil {
		t.Fatal(err)
	}
	if err := awaitWrite(t, done, "Close"); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Write after Close: %v, want net.ErrClosed", err)
	}
}

// TestConn_WriteEndsWhenStreamLost: a Write waiting for its OK ends when the
// connection ends with its untransmitted data lost (here a reset, reason 2),
// with the *ClosedError that Read reports too.
func TestConn_WriteEndsWhenStreamLost(t *testing.T) {
	d := startDaemon(t, nil)
	dialed, accepted := d.pair(t)
	done := blockedWrite(t, d, dialed, accepted)
	d.be.Conn(dialed.id).End(ipcmsg.ReasonReset, "")
	err := awaitWrite(t, done, "the reset")
	var ce *ClosedError
	if !errors.As(err, &ce) || ce.Reason != uint8(ipcmsg.ReasonReset) {
		t.Fatalf("Write after the reset: %v, want a ClosedError with reason 2", err)
	}
}

// TestConn_WriteWaitsAfterCleanEOF: after the peer's clean close the daemon
// still transmits the queued data and answers the Send, so a Write waiting
// for its OK keeps waiting and succeeds when the OK comes.
func TestConn_WriteWaitsAfterCleanEOF(t *testing.T) {
	d := startDaemon(t, nil)
	dialed, accepted := d.pair(t)
	done := blockedWrite(t, d, dialed, accepted)
	accepted.Close() // the dialed end reads a clean end of stream
	dialed.SetReadDeadline(time.Now().Add(testTimeout))
	if _, err := io.ReadAll(dialed); err != nil {
		t.Fatalf("read to EOF: %v", err)
	}
	select {
	case err := <-done:
		t.Fatalf("Write ended at a clean EOF before its OK: %v", err)
	default:
	}
	d.be.Conn(dialed.id).Hold(0) // the data drains: the OK is sent
	if err := awaitWrite(t, done, "the OK"); err != nil {
		t.Fatalf("Write: %v", err)
	}
}
