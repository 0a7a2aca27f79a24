package dataplane

import (
	"context"
	"time"

	"github.com/pilot-go/pilot/internal/stream"
	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
)

// Shutdown closes the data plane (wire.md §9.12): listeners stop, every
// connection sends its queued data and a bare FIN, bounded by DrainTimeout
// (2 s; connections still holding unacknowledged data are then aborted with
// an RST), FIN exchanges get at most FinWait (1 s), and every goroutine is
// stopped. IPC readers see end of stream with reason 6. ctx cuts the waits
// short.
func (dp *DataPlane) Shutdown(ctx context.Context) error {
	dp.mu.Lock()
	if dp.closing {
		dp.mu.Unlock()
		dp.wg.Wait()
		return nil
	}
	dp.closing = true
	var bls []*Listener
	for p, l := range dp.listeners {
		if l.bl != nil {
			bls = append(bls, l.bl)
		}
		delete(dp.listeners, p)
	}
	dp.mu.Unlock()
	for _, l := range bls {
		l.shut()
	}
	cs := dp.allConns()
	for _, c := range cs {
		c.mu.Lock()
		if c.override == 0 {
			c.override = ipcmsg.ReasonShutdown
		}
		c.mu.Unlock()
		if stream.State(c.state.Load()) == stream.StateSynSent {
			c.abort(ipcmsg.ReasonShutdown)
			continue
		}
		c.Close()
	}
	// Rule 1 bounded to DrainTimeout: wait until every connection has sent
	// its FIN, then abort the rest.
	drained := dp.waitStates(ctx, cs, dp.cfg.DrainTimeout, func(s stream.State) bool {
		return s != stream.StateEstablished && s != stream.StateSynSent
	})
	if !drained {
		for _, c := range cs {
			if s := stream.State(c.state.Load()); s == stream.StateEstablished || s == stream.StateSynSent {
				c.abort(ipcmsg.ReasonShutdown)
			}
		}
	}
	dp.waitStates(ctx, cs, dp.cfg.FinWait, func(s stream.State) bool {
		return s == stream.StateTimeWait || s == stream.StateClosed
	})
	dp.cancel()
	dp.wg.Wait()
	return nil
}

// waitStates waits up to d for every connection of cs to satisfy ok,
// polling on each connection's wake-ups. It reports whether they all did.
func (dp *DataPlane) waitStates(ctx context.Context, cs []*conn, d time.Duration, ok func(stream.State) bool) bool {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for _, c := range cs {
		for {
			changed := c.stateChanged()
			if ok(stream.State(c.state.Load())) {
				break
			}
			select {
			case <-c.done:
			case <-changed:
			case <-deadline.C:
				return false
			case <-ctx.Done():
				return false
			}
			select {
			case <-c.done:
				c.state.Store(int32(stream.StateClosed))
			default:
			}
		}
	}
	return true
}
