package secure

import (
	"io"
	"testing"
)

// BenchmarkConn_Transfer measures v2 record throughput over net.Pipe
// (sealing, framing, opening) in 1 MiB writes.
func BenchmarkConn_Transfer(b *testing.B) {
	cl, sv := pipe()
	cl.quiet, sv.quiet = true, true
	ccfg, scfg := setup()
	client, server := mustPair(b, cl, sv, ccfg, scfg)
	defer client.Close()
	defer server.Close()
	buf := payload(1<<20, 8)
	done := make(chan error, 1)
	go func() {
		_, err := io.CopyN(io.Discard, server, int64(len(buf))*int64(b.N))
		done <- err
	}()
	b.SetBytes(int64(len(buf)))
	b.ResetTimer()
	for range b.N {
		if _, err := client.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}
