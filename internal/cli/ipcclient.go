package cli

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
)

// ipcClient sends control commands to the daemon one at a time in the
// legacy reply order of ipc.md §3.1: with a single outstanding request the
// next reply or Error is the answer. Unsolicited messages (Accept, Recv,
// RecvFrom, ConnClosed) are skipped. It is not safe for concurrent use.
type ipcClient struct {
	nc     net.Conn
	socket string
	wbuf   []byte
}

// dialDaemon connects to the IPC socket; failure is not_running (exit 3).
func dialDaemon(ctx context.Context, socket string) (*ipcClient, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", socket)
	if err != nil {
		if ctx.Err() != nil {
			return nil, mapErr(ctx.Err(), socket, "connect to the daemon")
		}
		return nil, notRunning(socket)
	}
	return &ipcClient{nc: nc, socket: socket}, nil
}

func (c *ipcClient) Close() error { return c.nc.Close() }

// call sends req and returns the daemon's reply, which must be expect.
// ctx bounds the whole exchange.
func (c *ipcClient) call(ctx context.Context, req ipcmsg.Request, expect ipcmsg.Cmd) (ipcmsg.Reply, error) {
	if dl, ok := ctx.Deadline(); ok {
		c.nc.SetDeadline(dl)
	} else {
		c.nc.SetDeadline(time.Time{})
	}
	stop := context.AfterFunc(ctx, func() { c.nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	c.wbuf = ipcmsg.AppendFrame(c.wbuf[:0], req)
	if _, err := c.nc.Write(c.wbuf); err != nil {
		return nil, c.ioErr(ctx, req, err)
	}
	for {
		msg, err := ipcmsg.ReadFrame(c.nc)
		if err != nil {
			return nil, c.ioErr(ctx, req, err)
		}
		if len(msg) == 0 {
			continue
		}
		r, err := ipcmsg.DecodeReply(msg)
		if err != nil {
			return nil, errorf(codeInternal, "bad reply from the daemon to %s: %v", req.Cmd(), err)
		}
		switch m := r.(type) {
		case ipcmsg.Error:
			return nil, fromIPC(m)
		case ipcmsg.Accept, ipcmsg.Recv, ipcmsg.RecvFrom, ipcmsg.ConnClosed:
			continue
		}
		if r.Cmd() == expect {
			return r, nil
		}
		if r.Cmd() == ipcmsg.CmdCloseOK {
			continue // unsolicited end of stream of a connection we do not use
		}
		return nil, errorf(codeInternal, "unexpected reply %s from the daemon to %s", r.Cmd(), req.Cmd())
	}
}

func (c *ipcClient) ioErr(ctx context.Context, req ipcmsg.Request, err error) error {
	switch {
	case ctx.Err() != nil:
		return mapErr(ctx.Err(), c.socket, "waiting for the daemon's reply to "+req.Cmd().String())
	case errors.Is(err, os.ErrDeadlineExceeded): // the deadline fired before ctx noticed
		return mapErr(context.DeadlineExceeded, c.socket, "waiting for the daemon's reply to "+req.Cmd().String())
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return errorf(codeUnavailable, "the daemon closed the connection before answering %s", req.Cmd())
	}
	return errorf(codeUnavailable, "daemon connection: %v", err)
}

// callJSON sends req and returns the JSON body of its reply.
func (c *ipcClient) callJSON(ctx context.Context, req ipcmsg.Request, expect ipcmsg.Cmd) (json.RawMessage, error) {
	r, err := c.call(ctx, req, expect)
	if err != nil {
		return nil, err
	}
	var body json.RawMessage
	switch m := r.(type) {
	case ipcmsg.InfoOK:
		body = m.Body
	case ipcmsg.HandshakeOK:
		body = m.Body
	case ipcmsg.ResolveHostnameOK:
		body = m.Body
	case ipcmsg.SetHostnameOK:
		body = m.Body
	case ipcmsg.SetVisibilityOK:
		body = m.Body
	case ipcmsg.SetTagsOK:
		body = m.Body
	case ipcmsg.SetWebhookOK:
		body = m.Body
	case ipcmsg.NetworkOK:
		body = m.Body
	case ipcmsg.HealthOK:
		body = m.Body
	case ipcmsg.RegistryOpOK:
		body = m.Body
	default:
		return nil, errorf(codeInternal, "unexpected reply %s from the daemon", r.Cmd())
	}
	if !json.Valid(body) {
		return nil, errorf(codeInternal, "daemon reply to %s is not valid JSON", req.Cmd())
	}
	return body, nil
}

// registryOp runs one RegistryOp (ipc.md §10.4). args values are JSON
// encoded; token is sent as admin_token when non-empty.
func (c *ipcClient) registryOp(ctx context.Context, op string, args map[string]any, token string) (json.RawMessage, error) {
	m := ipcmsg.RegistryOp{Op: op, AdminToken: token, Args: make(map[string]json.RawMessage, len(args))}
	for k, v := range args {
		b, err := encodeJSON(v)
		if err != nil {
			return nil, errorf(codeInternal, "encode argument %q: %v", k, err)
		}
		m.Args[k] = b
	}
	body, err := c.callJSON(ctx, m, ipcmsg.CmdRegistryOpOK)
	if e, ok := err.(*Error); ok && strings.HasPrefix(e.Message, "unknown command: 0x40") && e.Hint == "" {
		e.Hint = "this daemon predates RegistryOp (an original pilot-daemon); upgrade pilot-daemon to use this command"
	}
	return body, err
}
