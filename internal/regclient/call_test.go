package regclient

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
)

// TestRegistry_2_PipelinedRepliesInOrder (§1): the fake reads eight
// frames before it answers any, which only a pipelining client survives,
// and each caller gets the reply to its own request.
func TestRegistry_2_PipelinedRepliesInOrder(t *testing.T) {
	const n = 8
	f := startFake(t, nil, n, func(_ int, req regmsg.Request) response {
		lk := req.(*regmsg.Lookup)
		return replyWith(t, &regmsg.LookupOK{NodeID: lk.NodeID, Address: nodeAddr(lk.NodeID)})
	})
	c, _ := newTestClient(t, f, nil)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			target := addr.NodeID(100 + i)
			rep, err := c.Lookup(ctxT(t), target)
			switch {
			case err != nil:
				errs <- err
			case rep.NodeID != target:
				errs <- errors.New("reply to another request")
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := f.connCount(); got != 1 {
		t.Fatalf("%d connections, want 1", got)
	}
}

// TestTransportRetryOnce (cli.md §3.3): a connection that drops is
// redialled after a 0.5 s backoff and the request resent once; a second
// drop is an ErrTransport error; the backoff doubles across consecutive
// failures and resets after a reply.
func TestTransportRetryOnce(t *testing.T) {
	var mode atomic.Int32 // 0: drop the first request only, 1: drop every request, 2: answer
	f := newFake(t, nil, func(n int, req regmsg.Request) response {
		switch {
		case mode.Load() == 0 && n == 0, mode.Load() == 1:
			return response{close: true}
		}
		return okReply(req.Type())
	})
	c, sl := newTestClient(t, f, nil)
	if _, err := c.Heartbeat(ctxT(t)); err != nil {
		t.Fatalf("retry after one drop: %v", err)
	}
	reqs := f.requests()
	if len(reqs) != 2 || f.connCount() != 2 || *reqs[0].req.AuthFields().Nonce == *reqs[1].req.AuthFields().Nonce {
		t.Fatalf("%d requests on %d connections (resend must be signed afresh)", len(reqs), f.connCount())
	}
	if d := sl.take(); !slices.Equal(d, []time.Duration{500 * time.Millisecond}) {
		t.Fatalf("backoffs %v", d)
	}

	mode.Store(1)
	_, err := c.Heartbeat(ctxT(t))
	if !errors.Is(err, ErrTransport) {
		t.Fatalf("err = %v, want ErrTransport", err)
	}
	if got := len(f.requests()) - len(reqs); got != 2 {
		t.Fatalf("failed call sent %d times, want 2", got)
	}
	_, err = c.Heartbeat(ctxT(t))
	if !errors.Is(err, ErrTransport) {
		t.Fatalf("err = %v", err)
	}
	if d := sl.take(); !slices.Equal(d, []time.Duration{500 * time.Millisecond, time.Second}) {
		t.Fatalf("backoffs %v, want 0.5s then 1s (reset after the reply, then doubling)", d)
	}
	mode.Store(2)
	if _, err := c.Heartbeat(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	mode.Store(1)
	c.Heartbeat(ctxT(t))
	if d := sl.take(); !slices.Equal(d, []time.Duration{500 * time.Millisecond}) {
		t.Fatalf("backoff after a reply %v, want 0.5s", d)
	}
}

// TestRateLimitedRetriedAfterRetryAfter: rate_limited is retried after
// retry_after_ms, with a fresh signature.
func TestRateLimitedRetriedAfterRetryAfter(t *testing.T) {
	f := newFake(t, nil, func(n int, req regmsg.Request) response {
		if n == 0 {
			return errReply(regmsg.CodeRateLimited, "rate limited: too many heartbeats", 1234)
		}
		return okReply(req.Type())
	})
	c, sl := newTestClient(t, f, nil)
	if _, err := c.Heartbeat(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if d := sl.take(); !slices.Equal(d, []time.Duration{1234 * time.Millisecond}) {
		t.Fatalf("waited %v, want 1.234s", d)
	}
	r := f.requests()
	if len(r) != 2 || *r[0].req.AuthFields().Nonce == *r[1].req.AuthFields().Nonce {
		t.Fatal("retry not sent with a fresh nonce")
	}
}

// TestRateLimitedBeyondDeadline: a retry_after_ms longer than the time left
// returns the rate_limited error at once.
func TestRateLimitedBeyondDeadline(t *testing.T) {
	f := newFake(t, nil, func(int, regmsg.Request) response {
		return errReply(regmsg.CodeRateLimited, "rate limited: slow down", 60_000)
	})
	c, sl := newTestClient(t, f, nil)
	_, err := c.Heartbeat(ctxT(t))
	var re *regmsg.Error
	if !errors.As(err, &re) || re.Code != regmsg.CodeRateLimited || re.RetryAfterMS != 60_000 {
		t.Fatalf("err = %#v", err)
	}
	if d := sl.take(); len(d) != 0 || len(f.requests()) != 1 {
		t.Fatalf("slept %v, sent %d", d, len(f.requests()))
	}
}

// TestUnavailableRetriedBounded: unavailable is retried with backoff a
// bounded number of times, then returned.
func TestUnavailableRetriedBounded(t *testing.T) {
	f := newFake(t, nil, func(int, regmsg.Request) response {
		return errReply(regmsg.CodeUnavailable, "the store is unreachable; retry later", 0)
	})
	c, sl := newTestClient(t, f, nil)
	_, err := c.Heartbeat(ctxT(t))
	if !errors.Is(err, &regmsg.Error{Code: regmsg.CodeUnavailable}) {
		t.Fatalf("err = %v", err)
	}
	want := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second}
	if d := sl.take(); !slices.Equal(d, want) || len(f.requests()) != 1+maxErrorRetries {
		t.Fatalf("backoffs %v, %d requests", d, len(f.requests()))
	}
}

// TestErrorRepliesNotRetried: other codes come back as *regmsg.Error
// after one request.
func TestErrorRepliesNotRetried(t *testing.T) {
	for _, code := range []regmsg.Code{regmsg.CodePermissionDenied, regmsg.CodeNotFound,
		regmsg.CodeUnauthenticated, regmsg.CodeInternal, regmsg.CodeInvalidArgument} {
		t.Run(string(code), func(t *testing.T) {
			f := newFake(t, nil, func(int, regmsg.Request) response {
				return errReply(code, "node 7 says no; ask an admin", 0)
			})
			c, _ := newTestClient(t, f, nil)
			_, err := c.JoinNetwork(ctxT(t), 3, "")
			var re *regmsg.Error
			if !errors.As(err, &re) || re.Code != code || re.Message != "node 7 says no; ask an admin" {
				t.Fatalf("err = %#v", err)
			}
			if len(f.requests()) != 1 {
				t.Fatalf("sent %d times", len(f.requests()))
			}
		})
	}
}

// TestDeadlineHonoured: a registry that never answers fails the call with
// the deadline; the dead connection is dropped and the next call dials a
// new one.
func TestDeadlineHonoured(t *testing.T) {
	var hang atomic.Bool
	hang.Store(true)
	f := newFake(t, nil, func(_ int, req regmsg.Request) response {
		if hang.Load() {
			return response{hang: true}
		}
		return okReply(req.Type())
	})
	c, _ := newTestClient(t, f, func(cfg *Config) { cfg.Timeout = 200 * time.Millisecond })
	_, err := c.Heartbeat(ctxT(t))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
	hang.Store(false)
	if _, err := c.Heartbeat(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if f.connCount() != 2 {
		t.Fatalf("%d connections, want a fresh one after the timeout", f.connCount())
	}
}

// TestCallerContextCancel: the caller's context ends the call too.
func TestCallerContextCancel(t *testing.T) {
	f := newFake(t, nil, func(int, regmsg.Request) response { return response{hang: true} })
	c, _ := newTestClient(t, f, nil)
	ctx, cancel := context.WithCancel(ctxT(t))
	done := make(chan error, 1)
	go func() { _, err := c.Heartbeat(ctx); done <- err }()
	waitFor(t, func() bool { return len(f.requests()) == 1 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}

// TestProtocolViolations: a reply of another type fails the call with
// ErrProtocol, is not retried, and the connection is replaced.
func TestProtocolViolations(t *testing.T) {
	bodies := [][]byte{
		[]byte(`{"type":"lookup_ok"}`),
		[]byte(`[1,2]`),
		[]byte(`{"type":5}`),
		{},
	}
	for _, b := range bodies {
		t.Run(string(b), func(t *testing.T) {
			f := newFake(t, nil, func(n int, req regmsg.Request) response {
				if n == 0 {
					return response{body: b}
				}
				return okReply(req.Type())
			})
			c, _ := newTestClient(t, f, nil)
			if _, err := c.Heartbeat(ctxT(t)); !errors.Is(err, ErrProtocol) {
				t.Fatalf("err = %v, want ErrProtocol", err)
			}
			if _, err := c.Heartbeat(ctxT(t)); err != nil {
				t.Fatal(err)
			}
			if f.connCount() != 2 || len(f.requests()) != 2 {
				t.Fatalf("%d connections, %d requests", f.connCount(), len(f.requests()))
			}
		})
	}
}

// TestCloseIdempotent: Close twice is fine, a call in flight fails with
// ErrClosed, later calls too, and no goroutine of the client is left.
func TestCloseIdempotent(t *testing.T) {
	f := newFake(t, nil, func(int, regmsg.Request) response { return response{hang: true} })
	before := runtime.NumGoroutine()
	c, _ := newTestClient(t, f, nil)
	done := make(chan error, 1)
	go func() { _, err := c.Heartbeat(ctxT(t)); done <- err }()
	waitFor(t, func() bool { return len(f.requests()) == 1 })
	c.Close()
	c.Close()
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("in-flight call: %v", err)
	}
	if _, err := c.Heartbeat(ctxT(t)); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
	waitFor(t, func() bool { return runtime.NumGoroutine() <= before })
}

// TestTokensNeverLogged: the debug log of calls that carry tokens through
// every retry path holds no token, nonce or signature.
func TestTokensNeverLogged(t *testing.T) {
	var buf syncBuffer
	f := newFake(t, nil, func(n int, req regmsg.Request) response {
		switch n % 4 {
		case 0:
			return response{close: true}
		case 1:
			return errReply(regmsg.CodeRateLimited, "rate limited: wait", 5)
		case 2:
			return errReply(regmsg.CodePermissionDenied, "admin token not accepted", 0)
		}
		return okReply(req.Type())
	})
	c, _ := newTestClient(t, f, func(cfg *Config) {
		cfg.Logger = slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	secrets := []string{"global-admin-secret", "join-secret-xyz", "beacon-secret-abc"}
	c.JoinNetworkLeastPrivilege(ctxT(t), 3, secrets[1], secrets[0])
	c.BeaconRegister(ctxT(t), 1, "beacon.example:9001", secrets[2], WithAdminToken(secrets[0]))
	c.SetHostname(ctxT(t), "alpha", WithAdminToken(secrets[0]))
	for _, r := range f.requests() {
		a := r.req.AuthFields()
		for _, p := range []*string{a.Nonce, a.Signature} {
			if p != nil {
				secrets = append(secrets, *p)
			}
		}
	}
	out := buf.String()
	if !strings.Contains(out, "registry") {
		t.Fatalf("nothing logged, the test would prove nothing:\n%s", out)
	}
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Fatalf("log contains secret %q:\n%s", s, out)
		}
	}
}

// TestJoinNetworkLeastPrivilege (cli.md §3.4 step 2): first without
// admin_token; after permission_denied once more with it, same join token,
// fresh nonce; other errors are not retried.
func TestJoinNetworkLeastPrivilege(t *testing.T) {
	f := newFake(t, nil, func(n int, req regmsg.Request) response {
		if n == 0 {
			return errReply(regmsg.CodePermissionDenied, "invalid join token for network 3", 0)
		}
		return replyWith(t, &regmsg.JoinNetworkOK{NetworkID: 3, Address: addr.New(3, 7), Role: "member"})
	})
	c, _ := newTestClient(t, f, nil)
	rep, err := c.JoinNetworkLeastPrivilege(ctxT(t), 3, "jt", "admin-tok")
	if err != nil || rep.Role != "member" {
		t.Fatalf("rep %+v err %v", rep, err)
	}
	r := f.requests()
	first, second := r[0].req.(*regmsg.JoinNetwork), r[1].req.(*regmsg.JoinNetwork)
	if len(r) != 2 || first.AdminToken != nil || second.AdminToken == nil || *second.AdminToken != "admin-tok" {
		t.Fatalf("admin_token: first %v, second %v", first.AdminToken, second.AdminToken)
	}
	if first.Token != "jt" || second.Token != "jt" || *first.Nonce == *second.Nonce {
		t.Fatal("retry must keep the join token and use a fresh nonce")
	}
	verifyV2(t, second, pubOf(c.Identity()))

	g := newFake(t, nil, func(int, regmsg.Request) response {
		return errReply(regmsg.CodeFailedPrecondition, "network 3 is invite-only", 0)
	})
	c2, _ := newTestClient(t, g, nil)
	if _, err := c2.JoinNetworkLeastPrivilege(ctxT(t), 3, "", "admin-tok"); !errors.Is(err, &regmsg.Error{Code: regmsg.CodeFailedPrecondition}) {
		t.Fatalf("err = %v", err)
	}
	if len(g.requests()) != 1 || g.last().AuthFields().AdminToken != nil {
		t.Fatal("admin token sent although the join was not refused for permission")
	}
}

// waitFor polls cond until it holds or 5 s pass.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 5s")
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
}

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Unreachable: transport failures, a closed client, cancellation and
// deadlines are; a protocol violation (the registry answered), a registry
// refusal and local errors are not.
func TestUnreachable(t *testing.T) {
	for err, want := range map[error]bool{
		fmt.Errorf("register: %w: dial tcp: connection refused", ErrTransport): true,
		ErrClosed:        true,
		context.Canceled: true,
		fmt.Errorf("x: %w", context.DeadlineExceeded):               true,
		fmt.Errorf("%w: bad frame (%w)", ErrProtocol, ErrTransport): false,
		&regmsg.Error{Code: regmsg.CodeNotFound, Message: "no"}:     false,
		ErrNoIdentity:           false,
		errors.New("disk full"): false,
	} {
		if got := Unreachable(err); got != want {
			t.Errorf("Unreachable(%v) = %v, want %v", err, got, want)
		}
	}
	if Unreachable(nil) {
		t.Error("Unreachable(nil)")
	}
}
