package pilot

import (
	"net"
	"sync"
	"time"
)

// deadline is a settable point in time that wakes waiters when it passes
// or changes. The zero value means "no deadline".
type deadline struct {
	mu      sync.Mutex
	at      time.Time
	changed chan struct{} // closed and replaced on every set
}

func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	d.at = t
	if d.changed != nil {
		close(d.changed)
	}
	d.changed = make(chan struct{})
	d.mu.Unlock()
}

func (d *deadline) get() time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.at
}

// arm returns a channel that fires when the deadline passes (nil when
// there is none), a channel closed when the deadline is changed, and a
// stop function. expired is true when the deadline has already passed.
func (d *deadline) arm() (fire <-chan time.Time, changed <-chan struct{}, stop func(), expired bool) {
	d.mu.Lock()
	if d.changed == nil {
		d.changed = make(chan struct{})
	}
	at, changed := d.at, d.changed
	d.mu.Unlock()
	if at.IsZero() {
		return nil, changed, func() {}, false
	}
	dur := time.Until(at)
	if dur <= 0 {
		return nil, changed, func() {}, true
	}
	t := time.NewTimer(dur)
	return t.C, changed, func() { t.Stop() }, false
}

// wait blocks until ready is signalled, the deadline passes (errTimeout),
// the deadline changes, closed is closed (net.ErrClosed) or the client
// stops (errDone). Callers re-check their state after a nil return.
func (d *deadline) wait(ready, closed, done <-chan struct{}, errDone error) error {
	fire, changed, stop, expired := d.arm()
	defer stop()
	if expired {
		return errTimeout
	}
	select {
	case <-ready:
	case <-changed:
	case <-fire:
		return errTimeout
	case <-closed:
		return net.ErrClosed
	case <-done:
		return errDone
	}
	return nil
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
