package webhook

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	whmsg "github.com/pilot-go/pilot/internal/wire/svcmsg/webhook"
)

// maxDrainBody bounds how much of a response body is read so that the
// connection can be reused.
const maxDrainBody = 64 << 10

// Run delivers queued events until ctx is cancelled or Close is called,
// then drains for at most DrainTimeout and returns nil. It owns the only
// worker; call it once.
func (c *Client) Run(ctx context.Context) error {
	c.mu.Lock()
	if c.started {
		c.mu.Unlock()
		return errors.New("webhook: Run called twice")
	}
	c.started = true
	closed := c.closed
	c.mu.Unlock()
	defer close(c.done)
	if closed {
		c.abandonQueued()
		c.releaseTargets()
		return nil
	}

	// dctx ends DrainTimeout after shutdown starts; it bounds every
	// attempt and backoff wait.
	dctx, dcancel := context.WithCancel(context.WithoutCancel(ctx))
	defer dcancel()
	stopping := make(chan struct{})
	runDone := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.deadlineLoop(ctx, stopping, runDone, dcancel)
	}()
	defer wg.Wait()
	defer close(runDone)

	c.workLoop(dctx, stopping)
	c.releaseTargets()
	c.http.CloseIdleConnections()
	return nil
}

// deadlineLoop waits for shutdown, stops Emit, tells the worker to drain
// and cancels dctx DrainTimeout later.
func (c *Client) deadlineLoop(ctx context.Context, stopping, runDone chan struct{}, dcancel context.CancelFunc) {
	select {
	case <-ctx.Done():
	case <-c.closing:
	case <-runDone:
		return
	}
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	close(stopping)
	t := time.NewTimer(c.drainTimeout)
	defer t.Stop()
	select {
	case <-t.C:
		dcancel()
	case <-runDone:
	}
}

// workLoop is the single worker: it delivers events strictly in queue
// order and, once stopping is closed, drains the queue and returns.
func (c *Client) workLoop(dctx context.Context, stopping chan struct{}) {
	for {
		select {
		case it := <-c.queue:
			c.deliver(dctx, it)
		case <-stopping:
			var abandoned uint64
			for {
				select {
				case it := <-c.queue:
					if !c.deliver(dctx, it) {
						abandoned++
					}
				default:
					if abandoned > 0 {
						c.log.Warn("webhook events abandoned at shutdown", "failed", abandoned)
					}
					return
				}
			}
		}
	}
}

// outcome classifies one attempt.
type outcome int

const (
	outDelivered outcome = iota
	outRetry
	outPermanent
)

// bound returns ctx, also cancelled when the drain deadline of a replaced
// target passes.
func bound(ctx context.Context, t *target) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(t.ctx, cancel)
	return ctx, func() {
		stop()
		cancel()
	}
}

// releaseTargets stops the drain timers of replaced targets.
func (c *Client) releaseTargets() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, t := range c.retired {
		t.timer.Stop()
		t.cancel()
	}
	c.retired = nil
}

// deliver makes up to 4 attempts for it. It returns false when the event
// was abandoned because the drain deadline (shutdown or URL change)
// passed; such events are counted as failed without a WARN of their own.
func (c *Client) deliver(dctx context.Context, it *item) bool {
	status := "not attempted"
	for attempt := 0; ; attempt++ {
		bctx, cancel := bound(dctx, it.target)
		if attempt > 0 {
			if err := c.sleep(bctx, backoff[attempt-1]); err != nil || bctx.Err() != nil {
				cancel()
				c.failed.Add(1)
				return false
			}
		}
		if bctx.Err() != nil {
			cancel()
			c.failed.Add(1)
			return false
		}
		out, st := c.attempt(bctx, it)
		abandoned := bctx.Err() != nil
		cancel()
		status = st
		switch {
		case out == outDelivered:
			c.delivered.Add(1)
			return true
		case out == outRetry && abandoned:
			c.failed.Add(1)
			return false
		case out == outRetry && attempt < len(backoff):
			continue
		}
		c.failed.Add(1)
		c.log.Warn("webhook event failed", "event_id", it.id, "event", it.event, "status", status,
			"attempts", attempt+1, "url", it.target.url)
		return true
	}
}

// attempt makes one POST and classifies the result; status is the HTTP
// status code or the transport error, for the failure WARN.
func (c *Client) attempt(ctx context.Context, it *item) (outcome, string) {
	actx, cancel := context.WithTimeout(ctx, c.attemptTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, it.target.url, bytes.NewReader(it.body))
	if err != nil {
		return outPermanent, "error: " + err.Error()
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if s := it.target.signer; s != nil {
		h := s.Sign(whmsg.MessageID(it.node, it.id), c.now().Unix(), it.body)
		req.Header.Set(whmsg.HeaderID, h.ID)
		req.Header.Set(whmsg.HeaderTimestamp, h.Timestamp)
		req.Header.Set(whmsg.HeaderSignature, h.Signature)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return outRetry, "error: " + err.Error()
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrainBody))
	_ = resp.Body.Close()
	st := strconv.Itoa(resp.StatusCode)
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return outDelivered, st
	case resp.StatusCode >= 500:
		return outRetry, st
	}
	return outPermanent, st
}
