// Package dataexchange is the built-in data exchange service on port 1001
// (services.md §3). It reads typed frames (svcmsg/dataex) from a stream
// connection and answers each with one TEXT frame:
//
//	length > 16 MiB      ERR <TYPE> too large, then close
//	FILE                 <state-dir>/received/<base>-<YYYYMMDD-HHMMSS.mmm><ext>
//	TEXT, BINARY, JSON   <state-dir>/inbox/<TYPE>-<YYYYMMDD-HHMMSS.mmm>.json
//	                     {"type","from","data","bytes","received_at"}
//	other types          ACK UNKNOWN(<n>) <n> bytes, payload discarded
//
// Files are written to a temporary file, fsynced and renamed; a name that
// exists gets -1, -2, … before the extension. A save that would leave less
// than MinFreeBytes free is refused with "disk full". Stored frames emit the
// webhooks file.received and message.received.
//
// Each connection is served on the caller's goroutine until EOF; every
// read is bounded by IdleTimeout; malformed input closes that connection
// only.
package dataexchange

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/pilot-go/pilot/internal/services"
	"github.com/pilot-go/pilot/internal/wire/svcmsg/dataex"
	whmsg "github.com/pilot-go/pilot/internal/wire/svcmsg/webhook"
)

// Port is the data exchange service port.
const Port = 1001

// DefaultMinFreeBytes is the free space a save must leave (§3.2 step 5).
const DefaultMinFreeBytes = 64 << 20

// Directories under the state directory.
const (
	ReceivedDir = "received"
	InboxDir    = "inbox"
)

// ErrMalformed is returned by Serve for a frame that cannot be understood
// (a FILE payload shorter than its name length); the connection is closed.
var ErrMalformed = errors.New("dataexchange: malformed frame")

// Service is the data exchange service. Fields are set before the first
// Serve and not changed afterwards; zero values are usable except
// StateDir. A Service must not be copied after first use.
type Service struct {
	// StateDir is the daemon state directory; received/ and inbox/ are
	// created inside it (0700).
	StateDir string
	// Emit sends a webhook event; nil emits nothing.
	Emit func(event string, data whmsg.Fields)
	// Now is the clock for stored names and received_at; nil is time.Now.
	Now func() time.Time
	// MinFreeBytes is the free space a save must leave; 0 means
	// DefaultMinFreeBytes, negative disables the check.
	MinFreeBytes int64
	// FreeBytes returns the bytes available to the daemon on the file
	// system holding dir; nil uses statfs (where unsupported, the check is
	// skipped).
	FreeBytes func(dir string) (uint64, error)
	// IdleTimeout bounds every read and reply write (default
	// services.DefaultIdleTimeout).
	IdleTimeout time.Duration
	// Logger receives DEBUG lines for malformed input; nil discards.
	Logger *slog.Logger

	nameMu  sync.Mutex // serialises choosing a free name and renaming to it
	limiter services.Limiter
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) idle() time.Duration {
	if s.IdleTimeout > 0 {
		return s.IdleTimeout
	}
	return services.DefaultIdleTimeout
}

func (s *Service) emit(event string, data whmsg.Fields) {
	if s.Emit != nil {
		s.Emit(event, data)
	}
}

// debug logs malformed input at DEBUG, at most once per second.
func (s *Service) debug(msg string, from string, err error) {
	if s.Logger != nil && s.limiter.Allow(time.Now(), time.Second) {
		s.Logger.Debug(msg, "peer", from, "err", err)
	}
}

// Serve handles the frames of one connection from the peer address from,
// in order, until EOF, then closes conn. It returns nil at a clean EOF,
// else the error that ended the connection (ctx.Err() when ctx ended).
func (s *Service) Serve(ctx context.Context, conn net.Conn, from string) error {
	defer conn.Close()
	stop := services.CloseOnDone(ctx, conn)
	defer stop()
	idle := s.idle()
	r := services.IdleReader(conn, idle)
	for {
		f, err := dataex.ReadFrame(r, 0)
		switch {
		case errors.Is(err, io.EOF):
			return nil
		case errors.Is(err, dataex.ErrTooLarge):
			s.debug("data exchange frame too large", from, err)
			_ = s.reply(conn, dataex.Err(f.Type, dataex.ReasonTooLarge), idle)
			return err
		case err != nil:
			if ctx.Err() != nil {
				return ctx.Err()
			}
			s.debug("data exchange read failed", from, err)
			return err
		}
		rep, err := s.handle(f, from)
		if err != nil {
			s.debug("data exchange frame refused", from, err)
			return err
		}
		if err := s.reply(conn, rep, idle); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
	}
}

// reply writes one reply frame.
func (s *Service) reply(conn net.Conn, r dataex.Reply, idle time.Duration) error {
	b, err := r.Frame().Marshal()
	if err != nil {
		return err
	}
	return services.WriteAll(conn, b, idle)
}

// handle stores one frame and returns its reply. An error means the frame
// is malformed and the connection must close.
func (s *Service) handle(f dataex.Frame, from string) (dataex.Reply, error) {
	switch f.Type {
	case dataex.TypeFile:
		file, err := dataex.DecodeFile(f.Payload)
		if err != nil {
			return dataex.Reply{}, fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		return s.saveFile(file), nil
	case dataex.TypeText, dataex.TypeBinary, dataex.TypeJSON:
		return s.saveMessage(f, from), nil
	}
	return dataex.Ack(f.Type, uint32(len(f.Payload))), nil
}
