package dataplane

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/pilot-go/pilot/addr"
)

// BenchmarkStreamTransfer measures bulk goodput between two data planes
// over the in-memory transport (no loss; b.SetBytes reports MB/s).
func BenchmarkStreamTransfer(b *testing.B) {
	for _, loss := range []float64{0, 0.01} {
		name := "loss0"
		if loss > 0 {
			name = "loss1pct"
		}
		b.Run(name, func(b *testing.B) {
			n := newFakeNet(b, loss, 1)
			a := n.add(b, 10, nil)
			c := n.add(b, 20, nil)
			got := make(chan int64, 1)
			a.dp.ServeBuiltin(1001, func(_ context.Context, nc net.Conn, _ addr.Addr) {
				k, _ := io.Copy(io.Discard, nc)
				got <- k
			})
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			conn, err := c.dp.DialConn(ctx, addr.New(0, 10), 1001)
			if err != nil {
				b.Fatal(err)
			}
			chunk := randBytes(1<<20, 1)
			b.SetBytes(int64(len(chunk)))
			b.ResetTimer()
			for range b.N {
				if _, err := conn.Write(chunk); err != nil {
					b.Fatal(err)
				}
			}
			conn.Close()
			if k := <-got; k != int64(b.N)*int64(len(chunk)) {
				b.Fatalf("received %d bytes", k)
			}
			b.ReportMetric(float64(n.lost.Load())/float64(b.N), "lost/op")
		})
	}
}
