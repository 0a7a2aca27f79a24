package tunnel

import (
	"context"
	"net"
	"net/netip"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/wire/packet"
)

// loopbackManager starts a Manager on a real 127.0.0.1 UDP socket with
// 4 MiB buffers (set by New, §13).
func loopbackManager(b *testing.B, id addr.NodeID, reg *registry, deliver DeliverFunc) (*Manager, netip.AddrPort) {
	b.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	ident := newIdentity(b)
	m, err := New(Config{Conn: conn, Identity: ident, Keys: reg, Resolver: reg, Deliver: deliver})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = m.Run(ctx) }()
	b.Cleanup(func() { cancel(); <-done })
	ep := conn.LocalAddr().(*net.UDPAddr).AddrPort()
	reg.set(id, ident.PublicKey(), ep)
	m.SetNodeID(id)
	return m, ep
}

// BenchmarkTunnelLoopback4K sends 4 KiB datagram packets through one
// encrypted tunnel between two managers over real loopback UDP, keeping at
// most 256 packets in flight so the kernel does not drop; it reports
// delivered packets per second and MB/s of payload.
func BenchmarkTunnelLoopback4K(b *testing.B) {
	reg := newRegistry()
	var got atomic.Int64
	inflight := make(chan struct{}, 256) // flow control: one token per packet in flight
	a, _ := loopbackManager(b, 686, reg, func(addr.NodeID, bool, bool, *packet.Packet) {})
	_, _ = loopbackManager(b, 687, reg, func(_ addr.NodeID, _, _ bool, p *packet.Packet) {
		if len(p.Payload) == 4096 {
			got.Add(1)
			select {
			case <-inflight:
			default:
			}
		}
	})
	pk := datagram(686, 687, string(make([]byte, 4096)))
	// Warm up: key exchange.
	_ = a.Send(687, pk)
	deadline := time.Now().Add(5 * time.Second)
	for got.Load() == 0 {
		if time.Now().After(deadline) {
			b.Fatal("no key exchange")
		}
		_ = a.Send(687, pk)
		time.Sleep(time.Millisecond)
	}
	got.Store(0)
	b.SetBytes(int64(len(pk.Payload)))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	sent := int64(0)
	lost := time.NewTimer(time.Hour)
	for range b.N {
		select {
		case inflight <- struct{}{}:
		default:
			lost.Reset(100 * time.Millisecond)
			select {
			case inflight <- struct{}{}:
			case <-lost.C: // assume one datagram was lost
			}
		}
		if err := a.Send(687, pk); err != nil {
			b.Fatal(err)
		}
		sent++
	}
	// Wait for the tail (bounded: lost datagrams never come).
	tail := time.Now().Add(time.Second)
	for got.Load() < sent && time.Now().Before(tail) {
		runtime.Gosched()
	}
	el := time.Since(start).Seconds()
	b.StopTimer()
	d := got.Load()
	b.ReportMetric(float64(d)/el, "pkts/s")
	b.ReportMetric(float64(d)*4096/el/1e6, "goodput-MB/s")
	b.ReportMetric(float64(sent-d)/float64(sent)*100, "%lost")
}
