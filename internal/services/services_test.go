package services

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/pilot-go/pilot/internal/services/internal/svctest"
)

func TestCloseOnDone(t *testing.T) {
	svctest.CheckLeaks(t)
	// Cancelled: the connection is closed by the time stop returns.
	c1, s1 := net.Pipe()
	defer c1.Close()
	ctx, cancel := context.WithCancel(context.Background())
	stop := CloseOnDone(ctx, s1)
	cancel()
	stop()
	stop() // idempotent
	if _, err := s1.Write([]byte("x")); !errors.Is(err, net.ErrClosed) && !errors.Is(err, errClosedPipe()) {
		t.Fatalf("write after cancel = %v, want closed", err)
	}
	// Stopped first: the connection stays open after cancel.
	c2, s2 := net.Pipe()
	defer c2.Close()
	defer s2.Close()
	ctx2, cancel2 := context.WithCancel(context.Background())
	CloseOnDone(ctx2, s2)()
	cancel2()
	read := make(chan struct{})
	go func() {
		defer close(read)
		_, _ = c2.Read(make([]byte, 1))
	}()
	if _, err := s2.Write([]byte("x")); err != nil {
		t.Fatalf("write after stop = %v", err)
	}
	<-read
}

func errClosedPipe() error {
	c, s := net.Pipe()
	c.Close()
	s.Close()
	_, err := s.Write([]byte("x"))
	return err
}

func TestLimiter(t *testing.T) {
	var l Limiter
	t0 := time.Unix(1000, 0)
	if !l.Allow(t0, time.Second) || l.Allow(t0.Add(999*time.Millisecond), time.Second) || !l.Allow(t0.Add(time.Second), time.Second) {
		t.Fatal("limiter does not allow exactly one event per interval")
	}
}

func TestIdleReaderTimesOut(t *testing.T) {
	svctest.CheckLeaks(t)
	c, s := net.Pipe()
	defer c.Close()
	defer s.Close()
	_, err := IdleReader(s, 10*time.Millisecond).Read(make([]byte, 1))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read = %v, want a timeout", err)
	}
}
