package pilottest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/pilot-go/pilot/internal/daemon"
	"github.com/pilot-go/pilot/internal/netsim"
)

// lossyNetwork starts n daemons whose tunnel frames are each dropped with
// probability loss on the way out (so every peer-to-peer direction sees
// that loss), and returns the wrappers by node name.
func lossyNetwork(t *testing.T, n int, loss float64) (*Network, map[string]*LossyConn) {
	var mu sync.Mutex
	conns := map[string]*LossyConn{}
	seed := uint64(0)
	nw := StartWith(t, n, Options{WrapConn: func(node string, c netsim.PacketConn) netsim.PacketConn {
		mu.Lock()
		defer mu.Unlock()
		seed++
		l := NewLossyConn(c, loss, seed)
		conns[node] = l
		return l
	}})
	return nw, conns
}

// The acceptance item: a 50 MiB transfer intact at 5% loss between
// two real daemons. A dials B's built-in echo service (port 7) through the
// SDK and streams 50 MiB of seeded pseudo-random bytes while reading the
// echo concurrently; every echoed chunk is compared with the regenerated
// stream. Each daemon drops 5% of its outgoing tunnel frames, so the data
// (A→B→A) and its ACKs cross a 5%-lossy link in both directions.
func TestDaemons_50MiBAt5PercentLoss(t *testing.T) {
	const (
		total = 50 << 20
		chunk = 64 << 10
		loss  = 0.05
		seed  = 50
	)
	nw, conns := lossyNetwork(t, 2, loss)
	a, b := nw.Nodes[0], nw.Nodes[1]
	nw.Trust(a, b)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	c, err := a.Client().Dial(ctx, "pilot", b.SockAddr(0, daemon.EchoPort))
	if err != nil {
		t.Fatalf("dial %s echo: %v", b.Name, err)
	}
	defer c.Close()
	dl, _ := ctx.Deadline()
	c.SetDeadline(dl)

	werr := make(chan error, 1)
	go func() {
		src := rand.NewChaCha8([32]byte{seed})
		buf := make([]byte, chunk)
		for sent := 0; sent < total; sent += chunk {
			_, _ = src.Read(buf)
			if _, err := c.Write(buf); err != nil {
				werr <- fmt.Errorf("write at offset %d: %w", sent, err)
				return
			}
		}
		werr <- nil
	}()

	want := rand.NewChaCha8([32]byte{seed})
	got, exp := make([]byte, chunk), make([]byte, chunk)
	for off := 0; off < total; off += chunk {
		if _, err := io.ReadFull(c, got); err != nil {
			c.Close() // unblocks the writer
			<-werr
			t.Fatalf("read echo at offset %d of %d: %v", off, total, err)
		}
		_, _ = want.Read(exp)
		if !bytes.Equal(got, exp) {
			i := 0
			for got[i] == exp[i] {
				i++
			}
			c.Close()
			<-werr
			t.Fatalf("echoed stream differs at byte %d", off+i)
		}
	}
	if err := <-werr; err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	for _, n := range nw.Nodes {
		frames, dropped := conns[n.Name].Stats()
		if frames == 0 {
			t.Fatalf("%s sent no tunnel frames through the lossy socket", n.Name)
		}
		rate := float64(dropped) / float64(frames)
		t.Logf("%s: %d tunnel frames, %d dropped (%.2f%%)", n.Name, frames, dropped, 100*rate)
		// The loss really was applied: with thousands of frames a 5% coin
		// lands far above 2% (the bound is about 10 standard deviations).
		if frames > 10000 && rate < 0.02 {
			t.Errorf("%s dropped only %.2f%% of its frames", n.Name, 100*rate)
		}
	}
	t.Logf("50 MiB echoed intact in %v (%.1f MiB/s each way)", elapsed.Round(time.Millisecond),
		float64(total)/(1<<20)/elapsed.Seconds())
}
