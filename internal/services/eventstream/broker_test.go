package eventstream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/pilot-go/pilot/internal/services/internal/svctest"
	"github.com/pilot-go/pilot/internal/wire/svcmsg/events"
)

// peerConn is the client side of one broker connection.
type peerConn struct {
	t      *testing.T
	name   string
	conn   net.Conn
	served chan error
}

func connect(t *testing.T, ctx context.Context, b *Broker, name string) *peerConn {
	t.Helper()
	client, server := net.Pipe()
	p := &peerConn{t: t, name: name, conn: client, served: make(chan error, 1)}
	go func() { p.served <- b.Serve(ctx, server, name) }()
	t.Cleanup(func() {
		client.Close()
		p.result()
	})
	return p
}

// send writes one event with a single write.
func (p *peerConn) send(topic string, payload []byte) {
	p.t.Helper()
	b, err := events.Event{Topic: topic, Payload: payload}.Marshal()
	if err != nil {
		p.t.Fatal(err)
	}
	_ = p.conn.SetWriteDeadline(time.Now().Add(svctest.WaitLimit))
	if _, err := p.conn.Write(b); err != nil {
		p.t.Fatalf("%s send: %v", p.name, err)
	}
}

// recv reads one event.
func (p *peerConn) recv() events.Event {
	p.t.Helper()
	_ = p.conn.SetReadDeadline(time.Now().Add(svctest.WaitLimit))
	ev, err := events.ReadEvent(p.conn)
	if err != nil {
		p.t.Fatalf("%s recv: %v", p.name, err)
	}
	return ev
}

// result waits for Serve of this connection.
func (p *peerConn) result() error {
	select {
	case err := <-p.served:
		p.served <- err
		return err
	case <-time.After(svctest.WaitLimit):
		p.t.Fatalf("Serve of %s did not return", p.name)
		return nil
	}
}

func expect(t *testing.T, got events.Event, topic, payload string) {
	t.Helper()
	if got.Topic != topic || string(got.Payload) != payload {
		t.Fatalf("got %s/%q, want %s/%q", got.Topic, got.Payload, topic, payload)
	}
}

// subscribe connects and subscribes, waiting until the broker registered
// the subscription.
func subscribe(t *testing.T, ctx context.Context, b *Broker, evs *svctest.Events, name, topic string) *peerConn {
	t.Helper()
	n := len(evs.Named("pubsub.subscribed"))
	p := connect(t, ctx, b, name)
	p.send(topic, []byte("ignored"))
	svctest.WaitFor(t, name+" subscribed", func() bool { return len(evs.Named("pubsub.subscribed")) == n+1 })
	return p
}

// TestServices_5_FanOut: two subscribers on news and one on * receive a
// publication on news; the publisher does not.
func TestServices_5_FanOut(t *testing.T) {
	svctest.CheckLeaks(t)
	evs := &svctest.Events{}
	b := &Broker{Emit: evs.Emit}
	ctx := context.Background()
	a := subscribe(t, ctx, b, evs, "a", "news")
	bb := subscribe(t, ctx, b, evs, "b", "news")
	all := subscribe(t, ctx, b, evs, "all", "*")
	pub := subscribe(t, ctx, b, evs, "pub", "news") // as pilotctl publish does
	other := subscribe(t, ctx, b, evs, "other", "weather")

	pub.send("news", []byte("headline"))
	for _, p := range []*peerConn{a, bb, all} {
		expect(t, p.recv(), "news", "headline")
	}
	// A second publisher's marker is the first thing pub and other see:
	// pub never got its own event, other is on another topic.
	marker := subscribe(t, ctx, b, evs, "marker", "weather")
	marker.send("news", []byte("m1"))
	marker.send("weather", []byte("m2"))
	expect(t, pub.recv(), "news", "m1")
	expect(t, other.recv(), "weather", "m2")
	for _, p := range []*peerConn{a, bb} {
		expect(t, p.recv(), "news", "m1")
	}
	expect(t, all.recv(), "news", "m1")
	expect(t, all.recv(), "weather", "m2")

	// A publication on "*" reaches the "*" subscribers once.
	pub.send("*", nil)
	expect(t, all.recv(), "*", "")

	got := evs.Named("pubsub.published")
	if len(got) != 4 || got[0].Data[0].Value != "news" || got[0].Data[1].Value != 8 || got[0].Data[2].Value != "pub" {
		t.Fatalf("pubsub.published %+v", got)
	}
	a.conn.Close()
	if err := a.result(); err != nil {
		t.Fatalf("Serve after EOF: %v", err)
	}
	un := evs.Named("pubsub.unsubscribed")
	if len(un) != 1 || un[0].Data[0].Value != "news" || un[0].Data[1].Value != "a" {
		t.Fatalf("pubsub.unsubscribed %+v", un)
	}
}

// TestServices_5_SlowSubscriberDisconnected: a subscriber that stops
// reading overflows its 256-event queue and is disconnected while the
// publisher and a fast subscriber carry on.
func TestServices_5_SlowSubscriberDisconnected(t *testing.T) {
	svctest.CheckLeaks(t)
	evs := &svctest.Events{}
	b := &Broker{Emit: evs.Emit}
	ctx := context.Background()
	slow := subscribe(t, ctx, b, evs, "slow", "news")
	fast := subscribe(t, ctx, b, evs, "fast", "news")
	pub := subscribe(t, ctx, b, evs, "pub", "other")
	const n = DefaultQueueEvents + 50
	received := make(chan error, 1)
	read := make(chan struct{}, n) // one token per event the fast subscriber has read
	go func() {
		for i := range n {
			_ = fast.conn.SetReadDeadline(time.Now().Add(svctest.WaitLimit))
			ev, err := events.ReadEvent(fast.conn)
			if err == nil && string(ev.Payload) != fmt.Sprint(i) {
				err = fmt.Errorf("event %d carries %q", i, ev.Payload)
			}
			if err != nil {
				received <- err
				return
			}
			read <- struct{}{}
		}
		received <- nil
	}()
	// The fast subscriber keeps up: the publisher never runs more than half
	// a queue ahead of it (a reader goroutine that starts late must not be
	// mistaken for a slow subscriber), while the slow one never reads.
	ahead := 0
	for i := range n {
		for ahead >= DefaultQueueEvents/2 {
			select {
			case <-read:
				ahead--
			case err := <-received:
				t.Fatalf("fast subscriber stopped early: %v", err)
			case <-time.After(svctest.WaitLimit):
				t.Fatal("fast subscriber does not keep up")
			}
		}
		pub.send("news", []byte(fmt.Sprint(i)))
		ahead++
	}
	if err := <-received; err != nil {
		t.Fatalf("fast subscriber: %v", err)
	}
	if err := slow.result(); !errors.Is(err, ErrOverflow) {
		t.Fatalf("slow subscriber Serve = %v, want overflow", err)
	}
	_ = slow.conn.SetReadDeadline(time.Now().Add(svctest.WaitLimit))
	if _, err := io.Copy(io.Discard, slow.conn); err != nil {
		t.Fatalf("slow subscriber not closed cleanly: %v", err)
	}
	un := evs.Named("pubsub.unsubscribed")
	if len(un) != 1 || un[0].Data[1].Value != "slow" {
		t.Fatalf("pubsub.unsubscribed %+v", un)
	}
}

// TestQueueByteBound: the 16 MiB bound (here lowered) also disconnects.
func TestQueueByteBound(t *testing.T) {
	svctest.CheckLeaks(t)
	evs := &svctest.Events{}
	b := &Broker{Emit: evs.Emit, QueueBytes: 100}
	ctx := context.Background()
	slow := subscribe(t, ctx, b, evs, "slow", "t")
	pub := subscribe(t, ctx, b, evs, "pub", "x")
	for range 3 {
		pub.send("t", bytes.Repeat([]byte{'p'}, 60))
	}
	if err := slow.result(); !errors.Is(err, ErrOverflow) {
		t.Fatalf("Serve = %v, want overflow", err)
	}
}

// TestMaximalEventPasses: one 16 MiB event fits an empty queue.
func TestMaximalEventPasses(t *testing.T) {
	svctest.CheckLeaks(t)
	evs := &svctest.Events{}
	b := &Broker{Emit: evs.Emit}
	ctx := context.Background()
	sub := subscribe(t, ctx, b, evs, "sub", "big")
	pub := subscribe(t, ctx, b, evs, "pub", "x")
	payload := bytes.Repeat([]byte{7}, events.MaxPayload)
	type result struct {
		ev  events.Event
		err error
	}
	got := make(chan result, 1)
	go func() {
		_ = sub.conn.SetReadDeadline(time.Now().Add(svctest.WaitLimit))
		ev, err := events.ReadEvent(sub.conn)
		got <- result{ev, err}
	}()
	pub.send("big", payload)
	r := <-got
	if r.err != nil {
		t.Fatalf("maximal event not delivered: %v", r.err)
	}
	if !bytes.Equal(r.ev.Payload, payload) {
		t.Fatal("payload changed")
	}
}

// TestMalformedEventClosesConnection: a malformed event closes that
// connection only.
func TestMalformedEventClosesConnection(t *testing.T) {
	svctest.CheckLeaks(t)
	evs := &svctest.Events{}
	b := &Broker{Emit: evs.Emit}
	ctx := context.Background()
	good := subscribe(t, ctx, b, evs, "good", "t")
	bad := connect(t, ctx, b, "bad")
	if _, err := bad.conn.Write([]byte{0, 0}); err != nil { // empty topic
		t.Fatal(err)
	}
	if err := bad.result(); !errors.Is(err, events.ErrBadTopic) {
		t.Fatalf("Serve = %v", err)
	}
	late := subscribe(t, ctx, b, evs, "late", "x")
	if _, err := late.conn.Write([]byte{0, 1, 't', 0xFF, 0xFF, 0xFF, 0xFF}); err != nil { // payload too large
		t.Fatal(err)
	}
	if err := late.result(); !errors.Is(err, events.ErrTooLarge) {
		t.Fatalf("Serve = %v", err)
	}
	pub := subscribe(t, ctx, b, evs, "pub", "y")
	pub.send("t", []byte("still fine"))
	expect(t, good.recv(), "t", "still fine")
	if n := len(evs.Named("pubsub.subscribed")); n != 3 {
		t.Fatalf("%d subscriptions, want 3 (bad never subscribed)", n)
	}
}

// TestDeadlines: the subscription event and a started event must arrive
// within IdleTimeout, but a subscriber may wait silently for longer.
func TestDeadlines(t *testing.T) {
	svctest.CheckLeaks(t)
	evs := &svctest.Events{}
	const idle = 20 * time.Millisecond
	b := &Broker{Emit: evs.Emit, IdleTimeout: idle}
	ctx := context.Background()
	silent := connect(t, ctx, b, "silent")
	var ne net.Error
	if err := silent.result(); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("silent connection Serve = %v, want a timeout", err)
	}

	sub := subscribe(t, ctx, b, evs, "sub", "t")
	<-time.After(10 * idle) // longer than the idle timeout: the subscriber must survive
	pub := subscribe(t, ctx, b, evs, "pub", "x")
	pub.send("t", []byte("late news"))
	expect(t, sub.recv(), "t", "late news")

	stalled := subscribe(t, ctx, b, evs, "stalled", "x")
	if _, err := stalled.conn.Write([]byte{0, 1}); err != nil { // half an event
		t.Fatal(err)
	}
	if err := stalled.result(); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("stalled event Serve = %v, want a timeout", err)
	}
}

// TestCancelClosesConnections: ending ctx ends every Serve.
func TestCancelClosesConnections(t *testing.T) {
	svctest.CheckLeaks(t)
	evs := &svctest.Events{}
	b := &Broker{Emit: evs.Emit}
	ctx, cancel := context.WithCancel(context.Background())
	p1 := subscribe(t, ctx, b, evs, "p1", "t")
	p2 := connect(t, ctx, b, "p2")
	cancel()
	for _, p := range []*peerConn{p1, p2} {
		if err := p.result(); !errors.Is(err, context.Canceled) {
			t.Fatalf("%s Serve = %v", p.name, err)
		}
	}
	if n := len(evs.Named("pubsub.unsubscribed")); n != 1 {
		t.Fatalf("%d unsubscriptions, want 1", n)
	}
}
