package eventstream

import (
	"bytes"
	"context"
	"net"
	"testing"
	"time"

	"github.com/pilot-go/pilot/internal/services/internal/svctest"
	"github.com/pilot-go/pilot/internal/wire/svcmsg/events"
)

// FuzzBroker feeds arbitrary bytes to one connection while a "*"
// subscriber listens: the broker never panics, forwards only well-formed
// events and every Serve returns.
func FuzzBroker(f *testing.F) {
	seed := func(evs ...events.Event) []byte {
		var b []byte
		for _, e := range evs {
			b, _ = e.AppendTo(b)
		}
		return b
	}
	f.Add(seed(events.Event{Topic: "news"}, events.Event{Topic: "news", Payload: []byte("hi")}))
	f.Add(seed(events.Event{Topic: "*"}, events.Event{Topic: "*", Payload: []byte{0}}))
	f.Add([]byte{0, 0})
	f.Add([]byte{0, 1, 't', 0xFF, 0xFF, 0xFF, 0xFF})
	f.Add([]byte{0, 1, 0x01, 0, 0, 0, 0})
	sentinel := events.Event{Topic: "sentinel/7f3a", Payload: []byte("end of fuzz input 0c1e")}
	f.Fuzz(func(t *testing.T, in []byte) {
		evs := &svctest.Events{}
		b := &Broker{Emit: evs.Emit, IdleTimeout: time.Second, QueueEvents: 1 << 20}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		lc, ls := net.Pipe()
		defer lc.Close()
		listened := make(chan error, 1)
		go func() { listened <- b.Serve(ctx, ls, "listener") }()
		sub, _ := events.Event{Topic: "*"}.Marshal()
		if _, err := lc.Write(sub); err != nil {
			t.Fatal(err)
		}
		svctest.WaitFor(t, "listener subscription", func() bool { return len(evs.Named("pubsub.subscribed")) == 1 })
		// The listener reads every forwarded event until the sentinel,
		// which is published after the fuzz connection ended.
		forwarded := make(chan error, 1)
		go func() {
			for {
				_ = lc.SetReadDeadline(time.Now().Add(svctest.WaitLimit))
				ev, err := events.ReadEvent(lc)
				if err != nil {
					forwarded <- err
					return
				}
				if ev.Topic == sentinel.Topic && bytes.Equal(ev.Payload, sentinel.Payload) {
					forwarded <- nil
					return
				}
			}
		}()
		run := func(name string, in []byte) {
			c, s := net.Pipe()
			defer c.Close()
			served := make(chan error, 1)
			go func() { served <- b.Serve(ctx, s, name) }()
			_ = c.SetWriteDeadline(time.Now().Add(svctest.WaitLimit))
			_, _ = c.Write(in)
			_ = c.Close()
			select {
			case <-served:
			case <-time.After(svctest.WaitLimit):
				t.Fatalf("Serve of %s did not return", name)
			}
		}
		run("fuzz", in)
		end, _ := events.Event{Topic: "x"}.AppendTo(nil)
		end, _ = sentinel.AppendTo(end)
		run("sentinel", end)
		if err := <-forwarded; err != nil {
			t.Fatalf("listener: %v", err)
		}
		cancel() // ends the listener's Serve
		<-listened
	})
}
