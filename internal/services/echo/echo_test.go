package echo

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"github.com/pilot-go/pilot/internal/services/internal/svctest"
)

// loopback returns both ends of a loopback TCP connection.
func loopback(t *testing.T) (client, server *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := ln.Accept()
		ch <- res{c, err}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Cleanup(func() { c.Close(); r.c.Close() })
	return c.(*net.TCPConn), r.c.(*net.TCPConn)
}

// serve runs Serve on conn in a goroutine and returns its result channel.
func serve(ctx context.Context, s Service, conn net.Conn) <-chan error {
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, conn) }()
	return done
}

func wait(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(svctest.WaitLimit):
		t.Fatal("Serve did not return")
		return nil
	}
}

// TestServices_1_Echo8MiB: 8 MiB written and half-closed come back intact
// and in order, then the service closes its side.
func TestServices_1_Echo8MiB(t *testing.T) {
	svctest.CheckLeaks(t)
	client, server := loopback(t)
	done := serve(context.Background(), Service{}, server)
	data := make([]byte, 8<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	wrote := make(chan error, 1)
	go func() {
		_, err := client.Write(data)
		if err == nil {
			err = client.CloseWrite()
		}
		wrote <- err
	}()
	_ = client.SetReadDeadline(time.Now().Add(svctest.WaitLimit))
	got, err := io.ReadAll(client)
	if err != nil {
		t.Fatalf("read echo: %v", err)
	}
	if werr := <-wrote; werr != nil {
		t.Fatal(werr)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("echo differs: got %d bytes, want %d", len(got), len(data))
	}
	if err := wait(t, done); err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

// TestEchoPing: one small probe over net.Pipe, as pilotctl ping sends.
func TestEchoPing(t *testing.T) {
	svctest.CheckLeaks(t)
	client, server := net.Pipe()
	done := serve(context.Background(), Service{}, server)
	if _, err := client.Write([]byte("ping-1")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 6)
	if _, err := io.ReadFull(client, buf); err != nil || string(buf) != "ping-1" {
		t.Fatalf("got %q, %v", buf, err)
	}
	client.Close()
	if err := wait(t, done); err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

// TestEchoIdleTimeoutAndCancel: a silent peer is dropped at the idle
// deadline; cancelling ctx closes the connection.
func TestEchoIdleTimeoutAndCancel(t *testing.T) {
	svctest.CheckLeaks(t)
	c1, s1 := net.Pipe()
	defer c1.Close()
	err := wait(t, serve(context.Background(), Service{IdleTimeout: 20 * time.Millisecond}, s1))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("idle Serve = %v, want a timeout", err)
	}

	c2, s2 := net.Pipe()
	defer c2.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := serve(ctx, Service{}, s2)
	cancel()
	if err := wait(t, done); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Serve = %v", err)
	}
}
