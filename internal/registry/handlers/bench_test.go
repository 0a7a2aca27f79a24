package handlers

import (
	"context"
	"fmt"
	"net/netip"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/pilot-go/pilot/internal/registry/server"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
)

// BenchmarkHandle measures the dispatcher in process (rate limits off,
// real SQLite store): register, heartbeat, lookup and resolve with 1, 8
// and 64 concurrent clients. The loopback variant over TCP is
// bench/registry.
func BenchmarkHandle(b *testing.B) {
	for _, op := range []string{"register", "heartbeat", "lookup", "resolve"} {
		for _, clients := range []int{1, 8, 64} {
			b.Run(fmt.Sprintf("%s/clients=%d", op, clients), func(b *testing.B) {
				e := newEnv(b)
				nodes := make([]*node, clients)
				for i := range nodes {
					nodes[i] = e.register(func(r *regmsg.Register) { r.ListenAddr = "0.0.0.0:1" })
					e.ok(e.signed(&regmsg.SetVisibility{NodeID: nodes[i].ID, Public: true}, nodes[i].id), "set_visibility")
				}
				var next atomic.Int64
				b.SetParallelism(max(1, clients/runtime.GOMAXPROCS(0)))
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					n := nodes[int(next.Add(1)-1)%clients]
					for pb.Next() {
						var req regmsg.Request
						switch op {
						case "register":
							req = e.sign(&regmsg.Register{PublicKey: n.id.PublicKeyBase64()}, n.id)
						case "heartbeat":
							req = e.sign(&regmsg.Heartbeat{NodeID: n.ID}, n.id)
						case "lookup":
							req = &regmsg.Lookup{NodeID: n.ID}
						case "resolve":
							req = e.sign(&regmsg.Resolve{RequesterID: n.ID, NodeID: nodes[0].ID}, n.id)
						}
						resp := e.h.Handle(context.Background(), &server.Request{Body: regmsg.AppendRequest(nil, req),
							RemoteIP: e.ip, Remote: netip.AddrPortFrom(e.ip, 1)})
						if resp.Code != "" {
							b.Errorf("%s: %s", op, resp.Body)
							return
						}
					}
				})
			})
		}
	}
}
