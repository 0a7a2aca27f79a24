// Package eventstream is the built-in event stream broker on port 1002
// (services.md §4). Events are svcmsg/events frames
// (u16 topic length ‖ topic ‖ u32 payload length ‖ payload).
//
// The first event on a connection subscribes it to its topic ("*" = every
// topic); every later event is a publication to its own topic, forwarded
// unchanged to every other subscriber of that topic and, unless the topic
// is "*", to every "*" subscriber. The publisher never receives its own
// event.
//
// Each subscriber has a bounded outgoing queue (256 events or 16 MiB)
// drained by its own writer goroutine, owned by the Serve call of that
// connection. Publishing only appends to queues, so a slow subscriber never
// blocks publishers or other subscribers: one whose queue overflows is
// disconnected, and so is one whose write fails.
//
// Lock order: Broker.mu before subscriber.mu; no I/O under either.
package eventstream

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/pilot-go/pilot/internal/services"
	"github.com/pilot-go/pilot/internal/wire/svcmsg/events"
	whmsg "github.com/pilot-go/pilot/internal/wire/svcmsg/webhook"
)

// Port is the event stream service port.
const Port = 1002

// Queue bounds of one subscriber (services.md §4.2).
const (
	DefaultQueueEvents = 256
	DefaultQueueBytes  = 16 << 20
)

// ErrOverflow is the reason a subscriber whose queue overflowed was
// disconnected.
var ErrOverflow = errors.New("eventstream: subscriber queue overflow")

// Broker is the event stream broker. Fields are set before the first
// Serve; zero values are usable. A Broker must not be copied after first
// use.
type Broker struct {
	// Emit sends a webhook event; nil emits nothing.
	Emit func(event string, data whmsg.Fields)
	// IdleTimeout bounds the reads of the subscription event and of every
	// event once its first byte arrived, and every write to a subscriber
	// (default services.DefaultIdleTimeout). Waiting for the next event is
	// bounded by the stream's own dead-peer timeout.
	IdleTimeout time.Duration
	// QueueEvents and QueueBytes bound a subscriber's queue (defaults 256
	// and 16 MiB).
	QueueEvents int
	QueueBytes  int
	// Logger receives DEBUG lines for malformed input and disconnections;
	// nil discards.
	Logger *slog.Logger

	mu      sync.Mutex                          // guards topics
	topics  map[string]map[*subscriber]struct{} // topic -> subscribers
	limiter services.Limiter
}

func (b *Broker) idle() time.Duration {
	if b.IdleTimeout > 0 {
		return b.IdleTimeout
	}
	return services.DefaultIdleTimeout
}

func (b *Broker) emit(event string, data whmsg.Fields) {
	if b.Emit != nil {
		b.Emit(event, data)
	}
}

func (b *Broker) debug(msg, remote string, err error) {
	if b.Logger != nil && b.limiter.Allow(time.Now(), time.Second) {
		b.Logger.Debug(msg, "peer", remote, "err", err)
	}
}

// Serve runs one connection from the peer address remote until EOF, error
// or ctx end, then closes conn. It returns nil at a clean EOF.
func (b *Broker) Serve(ctx context.Context, conn net.Conn, remote string) error {
	defer conn.Close()
	stop := services.CloseOnDone(ctx, conn)
	defer stop()
	dr := &deadlineReader{conn: conn, idle: b.idle(), armed: true}
	br := bufio.NewReader(dr)

	first, err := events.ReadEvent(br)
	if err != nil {
		return b.endErr(ctx, remote, "event stream subscription refused", err)
	}
	sub := newSubscriber(conn, first.Topic, remote, b.queueEvents(), b.queueBytes(), b.idle())
	b.add(sub)
	b.emit("pubsub.subscribed", whmsg.Fields{{Key: "topic", Value: sub.topic}, {Key: "remote", Value: remote}})

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sub.writeLoop()
	}()
	defer func() {
		b.remove(sub)
		sub.kill(nil)
		wg.Wait()
		if reason := sub.reason(); reason != nil {
			b.debug("event stream subscriber disconnected", remote, reason)
		}
		b.emit("pubsub.unsubscribed", whmsg.Fields{{Key: "topic", Value: sub.topic}, {Key: "remote", Value: remote}})
	}()

	for {
		// Wait for the next event without a deadline (a subscriber may
		// stay silent), then bound the rest of it.
		dr.armed = false
		_, err := br.Peek(1)
		var ev events.Event
		if err == nil {
			dr.armed = true
			ev, err = events.ReadEvent(br)
		}
		if err != nil {
			if why := sub.reason(); why != nil {
				return why // disconnected by the broker: overflow or failed write
			}
			return b.endErr(ctx, remote, "event stream read failed", err)
		}
		b.publish(sub, ev)
	}
}

// endErr maps the error that ended a connection.
func (b *Broker) endErr(ctx context.Context, remote, msg string, err error) error {
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case isEOF(err):
		return nil
	}
	b.debug(msg, remote, err)
	return err
}

func (b *Broker) queueEvents() int {
	if b.QueueEvents > 0 {
		return b.QueueEvents
	}
	return DefaultQueueEvents
}

func (b *Broker) queueBytes() int {
	if b.QueueBytes > 0 {
		return b.QueueBytes
	}
	return DefaultQueueBytes
}

func (b *Broker) add(s *subscriber) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.topics == nil {
		b.topics = make(map[string]map[*subscriber]struct{})
	}
	set := b.topics[s.topic]
	if set == nil {
		set = make(map[*subscriber]struct{})
		b.topics[s.topic] = set
	}
	set[s] = struct{}{}
}

func (b *Broker) remove(s *subscriber) {
	b.mu.Lock()
	defer b.mu.Unlock()
	set := b.topics[s.topic]
	delete(set, s)
	if len(set) == 0 {
		delete(b.topics, s.topic)
	}
}

// publish forwards ev from the subscriber from to the other subscribers of
// its topic and, unless the topic is "*", to the "*" subscribers.
func (b *Broker) publish(from *subscriber, ev events.Event) {
	enc, err := ev.Marshal() // the same bytes as received: the encoding is canonical
	if err != nil {
		return // ReadEvent already validated the event
	}
	b.mu.Lock()
	var targets []*subscriber
	for s := range b.topics[ev.Topic] {
		if s != from {
			targets = append(targets, s)
		}
	}
	if ev.Topic != events.TopicAll {
		for s := range b.topics[events.TopicAll] {
			if s != from {
				targets = append(targets, s)
			}
		}
	}
	b.mu.Unlock()
	for _, s := range targets {
		if !s.enqueue(enc) {
			s.kill(fmt.Errorf("%w (%d events or %d bytes)", ErrOverflow, s.maxEvents, s.maxBytes))
		}
	}
	b.emit("pubsub.published", whmsg.Fields{
		{Key: "topic", Value: ev.Topic},
		{Key: "size", Value: len(ev.Payload)},
		{Key: "from", Value: from.remote},
	})
}

// deadlineReader sets the read deadline before every read: now+idle when
// armed, none otherwise. Only the Serve goroutine uses it.
type deadlineReader struct {
	conn  net.Conn
	idle  time.Duration
	armed bool
}

func (r *deadlineReader) Read(p []byte) (int, error) {
	if r.armed {
		_ = r.conn.SetReadDeadline(time.Now().Add(r.idle))
	} else {
		_ = r.conn.SetReadDeadline(time.Time{})
	}
	return r.conn.Read(p)
}
