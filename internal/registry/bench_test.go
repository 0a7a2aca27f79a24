package registry

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/identity"
	"github.com/pilot-go/pilot/internal/regclient"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
)

// serveBench runs `pilot-registry serve -rate-limit off` in process on a
// loopback port with its store in a temporary directory (a real disk, so
// register pays its fsync) and returns the address.
func serveBench(b *testing.B) string {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncBuf{}
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"-listen", "127.0.0.1:0", "-data-dir", b.TempDir(), "-rate-limit", "off"},
			io.Discard, logs, noEnv)
	}()
	b.Cleanup(func() { cancel(); <-done })
	deadline := time.Now().Add(20 * time.Second)
	for {
		if m := addrRE.FindStringSubmatch(logs.String()); m != nil {
			return m[1]
		}
		select {
		case code := <-done:
			b.Fatalf("serve exited %d:\n%s", code, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			b.Fatalf("no start-up log:\n%s", logs.String())
		}
		time.Sleep(5 * time.Millisecond) // polling a log, bounded by deadline
	}
}

func benchClient(b *testing.B, addr string, id *identity.Identity) *regclient.Client {
	b.Helper()
	c, err := regclient.New(regclient.Config{Addr: addr, Identity: id, AuthMode: regclient.AuthV2})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

func benchIdentity(b *testing.B) *identity.Identity {
	id, err := identity.Generate(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	return id
}

// BenchmarkLoopback measures register, heartbeat, lookup (anonymous) and
// resolve (signed, public target) over loopback TCP with real signed
// requests from internal/regclient: 1, 8 and 64 concurrent clients, each
// on its own connection, rate limits off. ns/op is wall time per request
// across all clients (1e9 / ns/op = requests per second).
func BenchmarkLoopback(b *testing.B) {
	for _, op := range []string{"register", "heartbeat", "lookup", "resolve"} {
		for _, clients := range []int{1, 8, 64} {
			b.Run(fmt.Sprintf("%s/clients=%d", op, clients), func(b *testing.B) {
				srv := serveBench(b)
				ctx := context.Background()
				cs := make([]*regclient.Client, clients)
				ids := make([]addr.NodeID, clients)
				for i := range cs {
					cs[i] = benchClient(b, srv, benchIdentity(b))
					rep, err := cs[i].Register(ctx, &regmsg.Register{PublicKey: cs[i].Identity().PublicKeyBase64(),
						ListenAddr: "127.0.0.1:4000"})
					if err != nil {
						b.Fatal(err)
					}
					ids[i] = rep.NodeID
					if _, err := cs[i].SetVisibility(ctx, true); err != nil {
						b.Fatal(err)
					}
				}
				// register sends fresh keys: pre-generate them.
				var keys []*identity.Identity
				if op == "register" {
					keys = make([]*identity.Identity, b.N)
					for i := range keys {
						keys[i] = benchIdentity(b)
					}
				}
				var wg sync.WaitGroup
				var firstErr error
				var errMu sync.Mutex
				b.ResetTimer()
				for w := range clients {
					wg.Add(1)
					go func() {
						defer wg.Done()
						c := cs[w]
						for i := w; i < b.N; i += clients {
							var err error
							switch op {
							case "register":
								c.SetIdentity(keys[i])
								_, err = c.Register(ctx, &regmsg.Register{PublicKey: keys[i].PublicKeyBase64(),
									ListenAddr: "127.0.0.1:4000"})
							case "heartbeat":
								_, err = c.Heartbeat(ctx)
							case "lookup":
								_, err = c.Lookup(ctx, ids[(i*7)%clients], regclient.Unsigned())
							case "resolve":
								_, err = c.Resolve(ctx, ids[(i*7)%clients])
							}
							if err != nil {
								errMu.Lock()
								if firstErr == nil {
									firstErr = err
								}
								errMu.Unlock()
								return
							}
						}
					}()
				}
				wg.Wait()
				b.StopTimer()
				if firstErr != nil {
					b.Fatalf("%s: %v", op, firstErr)
				}
			})
		}
	}
}
