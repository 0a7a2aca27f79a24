// Package echo is the built-in echo service on port 7 (services.md §2):
// every byte received on a stream connection is written back, in order,
// until the peer closes; then the service closes its side. No framing, no
// size limit, no state. pilotctl ping and bench use it.
package echo

import (
	"context"
	"errors"
	"io"
	"net"
	"time"

	"github.com/pilot-go/pilot/internal/services"
)

// Port is the echo service port.
const Port = 7

// bufSize is the copy buffer; one read is written back before the next.
const bufSize = 32 << 10

// Service configures the echo service; the zero value is ready to use.
type Service struct {
	// IdleTimeout bounds every read and write (default
	// services.DefaultIdleTimeout).
	IdleTimeout time.Duration
}

// Serve echoes conn with the default configuration.
func Serve(ctx context.Context, conn net.Conn) error { return Service{}.Serve(ctx, conn) }

// Serve writes every byte read from conn back to it until EOF, then closes
// conn. It returns nil at EOF, ctx.Err() when ctx ended, else the read or
// write error.
func (s Service) Serve(ctx context.Context, conn net.Conn) error {
	defer conn.Close()
	stop := services.CloseOnDone(ctx, conn)
	defer stop()
	idle := s.IdleTimeout
	if idle <= 0 {
		idle = services.DefaultIdleTimeout
	}
	r := services.IdleReader(conn, idle)
	buf := make([]byte, bufSize)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if werr := services.WriteAll(conn, buf[:n], idle); werr != nil {
				return orCtx(ctx, werr)
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return orCtx(ctx, err)
		}
	}
}

// orCtx prefers ctx's error when ctx ended (the close was ours).
func orCtx(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}
