package dataplane

import (
	"context"
	"crypto/ed25519"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/identity"
	"github.com/pilot-go/pilot/internal/ipc"
	"github.com/pilot-go/pilot/internal/ipc/ipctest"
	"github.com/pilot-go/pilot/internal/services/echo"
	"github.com/pilot-go/pilot/internal/tunnel"
	"github.com/pilot-go/pilot/internal/wire/packet"
	"github.com/pilot-go/pilot/pilot"
)

// The benchmarks below measure the real data path of `pilotctl bench` and
// `pilotctl ping`: the SDK over the IPC socket, the data plane, the stream
// engine and two encrypted tunnel managers on loopback UDP, with the echo
// service of the peer on port 7.

// benchRegistry is an in-memory key and endpoint directory for the tunnel.
type benchRegistry struct {
	mu    sync.Mutex
	keys  map[addr.NodeID]ed25519.PublicKey
	addrs map[addr.NodeID]netip.AddrPort
}

func (r *benchRegistry) LookupKey(_ context.Context, id addr.NodeID) (ed25519.PublicKey, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if k, ok := r.keys[id]; ok {
		return k, nil
	}
	return nil, tunnel.ErrNotFound
}

func (r *benchRegistry) Resolve(_ context.Context, id addr.NodeID) (tunnel.Resolution, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ep, ok := r.addrs[id]
	if !ok {
		return tunnel.Resolution{}, tunnel.ErrNotFound
	}
	return tunnel.Resolution{RealAddr: ep, PublicKey: r.keys[id]}, nil
}

// tunnelTransport adapts a tunnel.Manager (as the daemon does).
type tunnelTransport struct{ t *tunnel.Manager }

func (a tunnelTransport) Send(peer addr.NodeID, p *packet.Packet) error { return a.t.Send(peer, p) }
func (a tunnelTransport) SendBatch(peer addr.NodeID, ps []packet.Packet) error {
	return a.t.SendBatch(peer, ps)
}
func (a tunnelTransport) SuspectPeerLoss(peer addr.NodeID, why LossReason) bool {
	r := tunnel.LossRTO
	if why == LossSYN {
		r = tunnel.LossSYN
	}
	return a.t.SuspectPeerLoss(peer, r)
}

// loopbackNode starts a tunnel manager on 127.0.0.1 and its data plane.
func loopbackNode(b testing.TB, id addr.NodeID, reg *benchRegistry) (*DataPlane, *tunnel.Manager) {
	b.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	ident, err := identity.Generate(nil)
	if err != nil {
		b.Fatal(err)
	}
	var dp *DataPlane
	tun, err := tunnel.New(tunnel.Config{Conn: conn, Identity: ident, Keys: reg, Resolver: reg,
		SocketBuffer: 4 << 20,
		Deliver: func(from addr.NodeID, viaRelay, auth bool, p *packet.Packet) {
			dp.Deliver(from, viaRelay, auth, p)
		}})
	if err != nil {
		b.Fatal(err)
	}
	dp, err = New(Config{Self: fixedSelf(id), Transport: tunnelTransport{tun}})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = tun.Run(ctx) }()
	b.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = dp.Shutdown(sctx)
		scancel()
		cancel()
		<-done
	})
	reg.mu.Lock()
	reg.keys[id] = ident.PublicKey()
	reg.addrs[id] = conn.LocalAddr().(*net.UDPAddr).AddrPort()
	reg.mu.Unlock()
	tun.SetNodeID(id)
	return dp, tun
}

// loopbackPair returns an SDK client on node 1, the address of node 2's
// echo service and node 1's tunnel manager.
func loopbackPair(b testing.TB) (*pilot.Client, string, *tunnel.Manager) {
	b.Helper()
	reg := &benchRegistry{keys: map[addr.NodeID]ed25519.PublicKey{}, addrs: map[addr.NodeID]netip.AddrPort{}}
	a, tun := loopbackNode(b, 1, reg)
	peer, _ := loopbackNode(b, 2, reg)
	if err := peer.ServeBuiltin(7, func(ctx context.Context, c net.Conn, _ addr.Addr) {
		_ = echo.Serve(ctx, c)
	}); err != nil {
		b.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "dpb")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "s")
	srv, err := ipc.New(ipc.Config{SocketPath: path,
		Backend: daemonBackend{Control: &ipctest.Backend{Node: addr.New(0, 1)}, DataPlane: a}})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Run(ctx); close(done) }()
	b.Cleanup(func() { cancel(); <-done })
	cl, err := pilot.Connect(context.Background(), pilot.WithSocket(path))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cl.Close() })
	return cl, "0:0000.0000.0002:7", tun
}

// echoRoundTrip writes total bytes on c while reading the echo back.
func echoRoundTrip(c net.Conn, total int) error {
	werr := make(chan error, 1)
	go func() {
		buf := make([]byte, 64<<10)
		for off := 0; off < total; {
			n := min(len(buf), total-off)
			if _, err := c.Write(buf[:n]); err != nil {
				werr <- err
				return
			}
			off += n
		}
		werr <- nil
	}()
	buf := make([]byte, 64<<10)
	for got := 0; got < total; {
		n, err := c.Read(buf[:min(len(buf), total-got)])
		got += n
		if err != nil {
			c.Close()
			<-werr
			if errors.Is(err, io.EOF) {
				return io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return <-werr
}

// BenchmarkLoopbackEcho8M is `pilotctl bench <peer> 8`: 8 MiB through the
// peer's echo service and back over one stream, per iteration.
func BenchmarkLoopbackEcho8M(b *testing.B) {
	cl, to, tun := loopbackPair(b)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	const total = 8 << 20
	b.SetBytes(total)
	b.ReportAllocs()
	cpu0, pk0 := cpuTime(b), tun.Counters()
	for b.Loop() {
		c, err := cl.Dial(ctx, pilot.Network, to)
		if err != nil {
			b.Fatal(err)
		}
		if err := echoRoundTrip(c, total); err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
	// On a shared machine wall time depends on the neighbours; the
	// process's CPU time per operation does much less.
	b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/op")
	pk := tun.Counters()
	b.ReportMetric(float64(pk.PktsSent-pk0.PktsSent)/float64(b.N), "udp-sent/op")
	b.ReportMetric(float64(pk.PktsRecv-pk0.PktsRecv)/float64(b.N), "udp-recv/op")
	b.ReportMetric(float64(pk.SegmentedWrites-pk0.SegmentedWrites)/float64(b.N), "gso-writes/op")
	b.ReportMetric(float64(pk.CoalescedReads-pk0.CoalescedReads)/float64(b.N), "gro-reads/op")
}

// cpuTime is the user plus system CPU time of the process so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkLoopbackPing is `pilotctl ping <peer>`: a fresh stream to port
// 7 per probe, one small message echoed. The peer admits at most
// perSourceSYNRate SYNs per second from one node (wire.md §11), so the
// probes are paced outside the timed region, like pilotctl's 1 s interval.
func BenchmarkLoopbackPing(b *testing.B) {
	cl, to, _ := loopbackPair(b)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	msg := []byte("ping-1")
	buf := make([]byte, len(msg))
	var dial, echoRTT, closing time.Duration
	b.ReportAllocs()
	for b.Loop() {
		t0 := time.Now()
		c, err := cl.Dial(ctx, pilot.Network, to)
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if _, err := c.Write(msg); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		c.Close()
		t3 := time.Now()
		dial += t1.Sub(t0)
		echoRTT += t2.Sub(t1)
		closing += t3.Sub(t2)
		b.StopTimer()
		time.Sleep(time.Second / perSourceSYNRate)
		b.StartTimer()
	}
	n := float64(b.N)
	b.ReportMetric(float64(dial.Microseconds())/n, "dial-µs")
	b.ReportMetric(float64(echoRTT.Microseconds())/n, "echo-µs")
	b.ReportMetric(float64(closing.Microseconds())/n, "close-µs")
}
