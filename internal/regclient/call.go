package regclient

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"time"

	"github.com/pilot-go/pilot/internal/wire/regmsg"
)

// maxErrorRetries bounds the retries of unavailable and rate_limited
// replies within one call (cli.md §3.3 asks for retries, the deadline and
// this bound keep them finite).
const maxErrorRetries = 3

// Do sends req and returns the body of its success reply. It fills the auth
// fields of req in place for each attempt (see the package doc), applies
// the call deadline, and retries as cli.md §3.3 says. An error reply is
// returned as a *regmsg.Error; other failures wrap ErrTransport,
// ErrProtocol, ErrClosed, ErrNoIdentity or the context's error.
func (c *Client) Do(ctx context.Context, req regmsg.Request, opts ...CallOption) ([]byte, error) {
	o := collectOptions(opts)
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	typ := req.Type()
	resent := false
	errRetries := 0
	replyBackoff := minBackoff
	for {
		if _, err := c.sign(req, &o); err != nil {
			return nil, err
		}
		body, err := regmsg.MarshalRequest(req)
		if err != nil {
			return nil, fmt.Errorf("regclient: encode %s: %w", typ, err)
		}
		frame, err := regmsg.AppendFrame(make([]byte, 0, regmsg.FrameHeaderLen+len(body)), body)
		if err != nil {
			return nil, fmt.Errorf("regclient: %s: %w", typ, err)
		}
		reply, cn, sent, err := c.exchange(ctx, frame)
		if err != nil {
			if !retryableTransport(err) || resent || (o.noResend && sent) {
				return nil, fmt.Errorf("registry %s: %w", typ, err)
			}
			resent = true
			d := c.nextBackoff()
			c.log.Warn("registry call failed; redialing", "type", typ, "err", err, "delay", d)
			if werr := c.wait(ctx, d); werr != nil {
				return nil, fmt.Errorf("registry %s: %w (no time left to retry: %w)", typ, err, werr)
			}
			continue
		}
		c.resetBackoff()
		rerr := checkReply(typ, reply)
		if rerr == nil {
			return reply, nil
		}
		var re *regmsg.Error
		if !errors.As(rerr, &re) {
			// The stream no longer matches our requests: start afresh.
			cn.fail(rerr)
			return nil, fmt.Errorf("registry %s: %w", typ, rerr)
		}
		d, retry := c.replyRetryDelay(re, &replyBackoff)
		if !retry || errRetries >= maxErrorRetries {
			return nil, re
		}
		errRetries++
		c.log.Debug("registry asked to retry", "type", typ, "code", string(re.Code), "delay", d)
		if c.wait(ctx, d) != nil {
			return nil, re
		}
	}
}

// Call is Do followed by decoding the success reply into out, whose
// ReplyType must be the reply type of req.
func (c *Client) Call(ctx context.Context, req regmsg.Request, out regmsg.Reply, opts ...CallOption) error {
	body, err := c.Do(ctx, req, opts...)
	if err != nil {
		return err
	}
	if err := regmsg.UnmarshalReply(body, out); err != nil {
		return fmt.Errorf("registry %s: %w: %w", req.Type(), ErrProtocol, err)
	}
	return nil
}

// exchange writes one frame and waits for its reply on a live connection.
// sent reports whether the frame may have reached the registry.
func (c *Client) exchange(ctx context.Context, frame []byte) (reply []byte, cn *conn, sent bool, err error) {
	cn, err = c.getConn(ctx)
	if err != nil {
		return nil, nil, false, err
	}
	dl, _ := ctx.Deadline()
	reply, sent, err = cn.roundTrip(ctx, &call{frame: frame, deadline: dl, res: make(chan result, 1)})
	return reply, cn, sent, err
}

// checkReply returns nil for the success reply of typ, the *regmsg.Error
// of an error reply, and an ErrProtocol error otherwise.
func checkReply(typ string, body []byte) error {
	got, _, err := regmsg.DecodeReply(body)
	if err != nil {
		var re *regmsg.Error
		if errors.As(err, &re) {
			return re
		}
		return fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	if got != typ+"_ok" {
		return fmt.Errorf("%w: got reply %.64q to a %s request", ErrProtocol, got, typ)
	}
	return nil
}

// retryableTransport reports whether err is a transport failure worth a
// second attempt: not a closed client, an expired context, a protocol
// violation or a certificate the registry will present again.
func retryableTransport(err error) bool {
	var cve *tls.CertificateVerificationError
	switch {
	case !errors.Is(err, ErrTransport):
		return false
	case errors.Is(err, ErrFingerprintMismatch), errors.As(err, &cve):
		return false
	}
	return true
}

// replyRetryDelay says whether an error reply is retried (§4.2, cli.md
// §3.3) and after how long: rate_limited after retry_after_ms,
// unavailable after a backoff doubling from 0.5 s.
func (c *Client) replyRetryDelay(re *regmsg.Error, backoff *time.Duration) (time.Duration, bool) {
	switch re.Code {
	case regmsg.CodeRateLimited:
		if re.RetryAfterMS > 0 {
			// Bounded only against overflow: wait gives up at once when
			// the delay exceeds what is left of the deadline.
			return time.Duration(min(re.RetryAfterMS, int64(time.Hour/time.Millisecond))) * time.Millisecond, true
		}
		fallthrough
	case regmsg.CodeUnavailable:
		d := *backoff
		*backoff = min(2**backoff, maxBackoff)
		return d, true
	}
	return 0, false
}

// wait sleeps d unless the context would end first, in which case it
// returns at once with the context's (future) error instead of sleeping in
// vain.
func (c *Client) wait(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		return context.DeadlineExceeded
	}
	return c.sleep(ctx, d)
}
