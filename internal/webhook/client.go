// Package webhook is the daemon's webhook sink (services.md §8): it assigns
// event IDs, queues events and POSTs them, one at a time and in order, to
// the configured URL, signing them when a secret is set.
//
// Emit never blocks the caller: it assigns the event ID, marshals the
// envelope (svcmsg/webhook) once and offers it to a bounded FIFO of 1,024
// events; a full queue drops the event, so dropped events leave gaps in
// the IDs. Event IDs are reserved in blocks of 1,000 in
// <state-dir>/webhook.json (fsync before an ID of a new block is used), so
// they increase strictly across restarts and URL changes.
//
// Run owns the single worker. Each event gets up to 4 attempts of at most
// 5 s (waits 1 s, 2 s, 4 s between them): 2xx is delivered; 5xx, transport
// errors and timeouts are retried; 3xx and 4xx are permanent failures.
// Redirects are not followed. On shutdown (ctx cancelled or Close) the
// worker keeps delivering for at most DrainTimeout in total and abandons
// the rest, counting it as failed. A URL change applies to the next emitted
// event; events queued for the old URL still go there, for at most
// DrainTimeout, without blocking SetURL.
//
// Lock order: Client.mu is a leaf; the worker never holds it while doing
// I/O. Counters are atomics.
package webhook

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pilot-go/pilot/addr"
	whmsg "github.com/pilot-go/pilot/internal/wire/svcmsg/webhook"
)

// Delivery parameters of services.md §8.4.
const (
	QueueLen              = 1024
	DefaultAttemptTimeout = 5 * time.Second
	DefaultDrainTimeout   = 5 * time.Second
	dropWarnInterval      = 10 * time.Second
)

// backoff holds the waits before the 2nd, 3rd and 4th attempt.
var backoff = [...]time.Duration{1 * time.Second, 2 * time.Second, 4 * time.Second}

// ErrClosed is returned by SetURL after Close.
var ErrClosed = errors.New("webhook: client closed")

// Config configures a Client. The zero value of every field but StateDir
// is usable.
type Config struct {
	// StateDir holds webhook.json. Empty disables persistence (IDs then
	// restart at 1; for tests and tools only).
	StateDir string
	// URL and Secret are the start-up values (the -webhook and
	// -webhook-secret flags). A non-empty value wins over the persisted
	// one in webhook.json; an empty one falls back to it.
	URL    string
	Secret string
	// Version is sent as User-Agent: pilot-daemon/<Version>.
	Version string
	// NodeID returns this daemon's node ID (0 before registration). Nil
	// means 0.
	NodeID func() uint32
	// HTTPClient is copied; its CheckRedirect is replaced so that
	// redirects are never followed. Nil means a private transport.
	HTTPClient *http.Client
	// Logger receives WARNs for drops and failures. Nil discards.
	Logger *slog.Logger
	// Now is the clock for envelope timestamps, webhook-timestamp and the
	// drop WARN rate limit. Nil means time.Now.
	Now func() time.Time
	// Sleep waits d or until ctx ends (returning ctx.Err()); used for the
	// retry backoff. Nil means a timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// AttemptTimeout bounds one HTTP attempt (default 5 s).
	AttemptTimeout time.Duration
	// DrainTimeout bounds delivery after shutdown starts, and to an old
	// URL after a change (default 5 s).
	DrainTimeout time.Duration
}

// target is one configured destination. Items keep the target they were
// emitted for.
type target struct {
	url    string
	secret string
	signer *whmsg.Signer // nil without a secret
	// ctx ends DrainTimeout after the target was replaced (SetURL):
	// queued events for it are then abandoned, an attempt in flight is
	// cut. timer is guarded by Client.mu.
	ctx    context.Context
	cancel context.CancelFunc
	timer  *time.Timer
}

// retireLocked arms the drain deadline of a replaced target.
func (t *target) retireLocked(d time.Duration) {
	if t.timer == nil {
		t.timer = time.AfterFunc(d, t.cancel)
	}
}

// item is one queued event.
type item struct {
	id     uint64
	event  string
	node   addr.NodeID
	body   []byte // identical on every attempt
	target *target
}

// Stats are the counters of ipc.md §10.4 webhook.status (Health's webhook
// object is the same without url and signed).
type Stats struct {
	Configured  bool   `json:"configured"`
	URL         string `json:"url"`
	Signed      bool   `json:"signed"`
	Queued      int    `json:"queued"`
	Delivered   uint64 `json:"delivered"`
	Failed      uint64 `json:"failed"`
	Dropped     uint64 `json:"dropped"`
	LastEventID uint64 `json:"last_event_id"`
}

// Client is the webhook sink. Its methods are safe for concurrent use.
type Client struct {
	// set once in New
	dir            string
	userAgent      string
	nodeID         func() uint32
	http           *http.Client
	log            *slog.Logger
	now            func() time.Time
	sleep          func(context.Context, time.Duration) error
	attemptTimeout time.Duration
	drainTimeout   time.Duration
	queue          chan *item
	closing        chan struct{} // closed by Close
	done           chan struct{} // closed when Run returns
	closeOnce      sync.Once

	mu           sync.Mutex // guards the fields below
	cur          *target    // nil when no URL is set
	secret       string     // current secret, kept when the URL is cleared
	fileURL      string     // url and secret as persisted in webhook.json
	fileSecret   string
	nextID       uint64 // next event ID to assign
	reserved     uint64 // persisted next_event_id: IDs >= it need a new reservation
	lastID       uint64
	closed       bool // no more events accepted
	started      bool // Run was called
	lastDropWarn time.Time
	retired      []*target // replaced targets, released when Run ends

	delivered atomic.Uint64
	failed    atomic.Uint64
	dropped   atomic.Uint64
}

// New loads webhook.json and returns a client; call Run to deliver.
func New(cfg Config) (*Client, error) {
	st, _, err := loadState(cfg.StateDir)
	if cfg.StateDir == "" {
		st, err = fileState{}, nil
	}
	if err != nil {
		return nil, err
	}
	url, secret := st.URL, st.Secret
	if cfg.URL != "" {
		url = cfg.URL
	}
	if cfg.Secret != "" {
		secret = cfg.Secret
	}
	if err := ValidateURL(url); err != nil {
		return nil, err
	}
	c := &Client{
		dir:            cfg.StateDir,
		userAgent:      "pilot-daemon/" + cfg.Version,
		nodeID:         cfg.NodeID,
		log:            cfg.Logger,
		now:            cfg.Now,
		sleep:          cfg.Sleep,
		attemptTimeout: cfg.AttemptTimeout,
		drainTimeout:   cfg.DrainTimeout,
		queue:          make(chan *item, QueueLen),
		closing:        make(chan struct{}),
		done:           make(chan struct{}),
		secret:         secret,
		fileURL:        st.URL,
		fileSecret:     st.Secret,
		nextID:         max(st.NextEventID, 1),
	}
	c.reserved = c.nextID
	if c.dir == "" {
		c.reserved = ^uint64(0)
	}
	if c.nodeID == nil {
		c.nodeID = func() uint32 { return 0 }
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.sleep == nil {
		c.sleep = sleepCtx
	}
	if c.attemptTimeout <= 0 {
		c.attemptTimeout = DefaultAttemptTimeout
	}
	if c.drainTimeout <= 0 {
		c.drainTimeout = DefaultDrainTimeout
	}
	if cfg.HTTPClient != nil {
		hc := *cfg.HTTPClient
		c.http = &hc
	} else {
		c.http = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	c.http.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if url != "" {
		t, err := newTarget(url, secret)
		if err != nil {
			return nil, err
		}
		c.cur = t
	}
	return c, nil
}

func newTarget(url, secret string) (*target, error) {
	t := &target{url: url, secret: secret}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	if secret != "" {
		s, err := whmsg.NewSigner(secret)
		if err != nil {
			return nil, err
		}
		t.signer = s
	}
	return t, nil
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Emit queues one event. It never blocks on the network: the ID is
// assigned first, so an event dropped on a full queue leaves a gap. Events
// are ignored when no URL is configured or after shutdown started.
func (c *Client) Emit(event string, data whmsg.Fields) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.cur == nil {
		return
	}
	id := c.nextID
	if id >= c.reserved {
		if err := c.persistLocked(id + idBlock); err != nil {
			c.failed.Add(1)
			c.log.Error("webhook event discarded: cannot reserve event IDs", "event", event, "err", err)
			return
		}
	}
	c.nextID++
	c.lastID = id
	env := whmsg.Envelope{EventID: id, Event: event, NodeID: addr.NodeID(c.nodeID()), Timestamp: c.now(), Data: data}
	body, err := env.Marshal()
	if err != nil {
		c.failed.Add(1)
		c.log.Error("webhook event discarded", "event_id", id, "event", event, "err", err)
		return
	}
	select {
	case c.queue <- &item{id: id, event: event, node: env.NodeID, body: body, target: c.cur}:
	default:
		n := c.dropped.Add(1)
		if now := c.now(); c.lastDropWarn.IsZero() || now.Sub(c.lastDropWarn) >= dropWarnInterval {
			c.lastDropWarn = now
			c.log.Warn("webhook queue full, events dropped", "dropped", n, "queue", QueueLen)
		}
	}
}

// persistLocked writes webhook.json with next_event_id = next.
func (c *Client) persistLocked(next uint64) error {
	if c.dir == "" {
		return nil
	}
	if err := saveState(c.dir, fileState{URL: c.fileURL, Secret: c.fileSecret, NextEventID: next}); err != nil {
		return err
	}
	c.reserved = next
	return nil
}

// SetURL switches the destination at run time (IPC SetWebhook, RegistryOp
// webhook.set / webhook.clear) and persists url and secret in
// webhook.json. An empty url disables webhooks; an empty secret disables
// signing. Events emitted afterwards go to the new URL; events already
// queued are still delivered to the old one for at most DrainTimeout. It
// does not wait for the network.
func (c *Client) SetURL(url, secret string) error {
	if err := ValidateURL(url); err != nil {
		return err
	}
	var next *target
	if url != "" {
		t, err := newTarget(url, secret)
		if err != nil {
			return err
		}
		next = t
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	oldURL, oldSecret := c.fileURL, c.fileSecret
	c.fileURL, c.fileSecret = url, secret
	reserve := c.reserved
	if c.dir != "" {
		if err := saveState(c.dir, fileState{URL: url, Secret: secret, NextEventID: reserve}); err != nil {
			c.fileURL, c.fileSecret = oldURL, oldSecret
			return err
		}
	}
	c.secret = secret
	if old := c.cur; old != nil && (next == nil || old.url != url || old.secret != secret) {
		old.retireLocked(c.drainTimeout)
		// Forget targets whose drain deadline already passed.
		c.retired = slices.DeleteFunc(c.retired, func(t *target) bool { return t.ctx.Err() != nil })
		c.retired = append(c.retired, old)
	} else if old != nil {
		return nil // unchanged: keep the current target and its queue order
	}
	c.cur = next
	return nil
}

// SetURLKeepSecret is SetURL with the current secret (IPC SetWebhook keeps
// the secret).
func (c *Client) SetURLKeepSecret(url string) error {
	c.mu.Lock()
	secret := c.secret
	c.mu.Unlock()
	return c.SetURL(url, secret)
}

// Stats returns the current counters.
func (c *Client) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := Stats{
		Queued:      len(c.queue),
		Delivered:   c.delivered.Load(),
		Failed:      c.failed.Load(),
		Dropped:     c.dropped.Load(),
		LastEventID: c.lastID,
	}
	if c.cur != nil {
		s.Configured, s.URL, s.Signed = true, c.cur.url, c.cur.signer != nil
	}
	return s
}

// Dropped returns the number of events discarded because the queue was
// full.
func (c *Client) Dropped() uint64 { return c.dropped.Load() }

// Close stops accepting events and waits until Run has delivered what it
// can within DrainTimeout; whatever is left is counted as failed. It is
// idempotent and returns nil.
func (c *Client) Close() error {
	c.closeOnce.Do(func() { close(c.closing) })
	c.mu.Lock()
	c.closed = true
	started := c.started
	c.mu.Unlock()
	if started {
		<-c.done
		return nil
	}
	if n := c.abandonQueued(); n > 0 {
		c.log.Warn("webhook events abandoned at shutdown", "failed", n)
	}
	c.releaseTargets()
	return nil
}

// abandonQueued empties the queue, counting every event as failed.
func (c *Client) abandonQueued() uint64 {
	var n uint64
	for {
		select {
		case <-c.queue:
			n++
			c.failed.Add(1)
		default:
			return n
		}
	}
}
