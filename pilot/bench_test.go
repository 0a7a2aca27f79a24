package pilot

import (
	"io"
	"testing"
)

// BenchmarkConnThroughput streams data between two SDK clients through the
// IPC server and the loopback backend (no network): it measures the IPC
// path (framing, tagged Send flow control, Recv round-robin).
func BenchmarkConnThroughput(b *testing.B) {
	d := startDaemon(b, nil)
	a, peer := d.pair(b)
	buf := make([]byte, 1<<20)
	b.SetBytes(int64(len(buf)))
	done := make(chan error, 1)
	go func() {
		_, err := io.CopyN(io.Discard, peer, int64(b.N)*int64(len(buf)))
		done <- err
	}()
	b.ResetTimer()
	for range b.N {
		if _, err := a.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}
