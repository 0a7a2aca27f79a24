package ipc

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
)

// execute runs one decoded request and returns its reply (nil: none in
// legacy mode, OK when tagged) and an optional hook run once the reply is
// in the socket buffer.
func (c *client) execute(req ipcmsg.Request, tagged bool) (ipcmsg.Reply, func()) {
	ctx := c.ctx
	b := c.s.backend
	switch r := req.(type) {
	case ipcmsg.Bind:
		p, err := c.s.bind(c, r.Port)
		return orError(ipcmsg.BindOK{Port: p}, err), nil
	case ipcmsg.Unbind:
		return orError(ipcmsg.UnbindOK(r), c.s.unbind(c, r.Port)), nil
	case ipcmsg.Dial:
		return c.dial(DialRequest{Addr: r.Addr, Port: r.Port})
	case ipcmsg.DialEx:
		return c.dial(DialRequest{Addr: r.Addr, Port: r.Port,
			Timeout: time.Duration(r.TimeoutMillis) * time.Millisecond, Nagle: r.Flags&ipcmsg.DialNagle != 0})
	case ipcmsg.Send:
		return orNil(c.send(r, tagged)), nil
	case ipcmsg.Close:
		c.closeConn(r.Conn)
		return ipcmsg.CloseOK(r), nil
	case ipcmsg.ConnOpt:
		return c.connOpt(r), nil
	case ipcmsg.SendTo:
		return orNil(c.sendDatagram(r.Addr, r.Port, 0, false, r.Data)), nil
	case ipcmsg.SendToFrom:
		return orNil(c.sendDatagram(r.Addr, r.DstPort, r.SrcPort, true, r.Data)), nil
	case ipcmsg.Info:
		info, err := b.Info(ctx)
		return jsonReply(info, err, func(body json.RawMessage) ipcmsg.Reply { return ipcmsg.InfoOK{Body: body} }), nil
	case ipcmsg.Health:
		h, err := b.Health(ctx)
		return jsonReply(h, err, func(body json.RawMessage) ipcmsg.Reply { return ipcmsg.HealthOK{Body: body} }), nil
	case ipcmsg.Handshake:
		body, err := b.Handshake(ctx, r)
		return orError(ipcmsg.HandshakeOK{Body: body}, err), nil
	case ipcmsg.ResolveHostname:
		body, err := b.ResolveHostname(ctx, r.Hostname)
		return orError(ipcmsg.ResolveHostnameOK{Body: body}, err), nil
	case ipcmsg.SetHostname:
		body, err := b.SetHostname(ctx, r.Hostname)
		return orError(ipcmsg.SetHostnameOK{Body: body}, err), nil
	case ipcmsg.SetVisibility:
		body, err := b.SetVisibility(ctx, r.Public)
		return orError(ipcmsg.SetVisibilityOK{Body: body}, err), nil
	case ipcmsg.Deregister:
		body, err := b.Deregister(ctx)
		return orError(ipcmsg.DeregisterOK{Body: body}, err), nil
	case ipcmsg.SetTags:
		body, err := b.SetTags(ctx, r.Tags)
		return orError(ipcmsg.SetTagsOK{Body: body}, err), nil
	case ipcmsg.SetTaskExec:
		body, err := b.SetTaskExec(ctx, r.Enable)
		return orError(ipcmsg.SetTaskExecOK{Body: body}, err), nil
	case ipcmsg.SetWebhook:
		err := b.SetWebhook(ctx, r.URL)
		return jsonReply(ipcmsg.WebhookReply{Webhook: r.URL}, err,
			func(body json.RawMessage) ipcmsg.Reply { return ipcmsg.SetWebhookOK{Body: body} }), nil
	case ipcmsg.Network:
		body, err := b.Network(ctx, r)
		return orError(ipcmsg.NetworkOK{Body: body}, err), nil
	case ipcmsg.Managed:
		return managedReply(r), nil
	case ipcmsg.RegistryOp:
		body, err := b.RegistryOp(ctx, r)
		return orError(ipcmsg.RegistryOpOK{Body: body}, err), nil
	}
	return ipcmsg.Error{Code: ipcmsg.CodeInternal, Text: "unsupported command " + req.Cmd().String()}, nil
}

func orError(ok ipcmsg.Reply, err error) ipcmsg.Reply {
	if err != nil {
		return errorReply(err)
	}
	return ok
}

func orNil(err error) ipcmsg.Reply {
	if err != nil {
		return errorReply(err)
	}
	return nil
}

func jsonReply(v any, err error, wrap func(json.RawMessage) ipcmsg.Reply) ipcmsg.Reply {
	if err != nil {
		return errorReply(err)
	}
	body, err := ipcmsg.EncodeJSON(v)
	if err != nil {
		return errorReply(err)
	}
	return wrap(body)
}

func connNotFound(id ipcmsg.ConnID) error {
	return Errorf(ipcmsg.CodeNotFound, "connection %d not found", id)
}

// dial opens a connection owned by c (ipc.md §5.2, §10.6); the connection
// is announced when its DialOK reaches the socket buffer.
func (c *client) dial(req DialRequest) (ipcmsg.Reply, func()) {
	if req.Addr.Node == 0 || req.Addr.IsBroadcast() {
		return errorReply(Errorf(ipcmsg.CodeInvalidArgument, "dial: invalid destination %s", req.Addr)), nil
	}
	conn, err := c.s.backend.Dial(c.ctx, req, c)
	if err != nil {
		return errorReply(err), nil
	}
	e := c.register(conn)
	if e == nil {
		conn.Close()
		return errorReply(errClientGone), nil
	}
	return ipcmsg.DialOK{Conn: e.id}, func() { c.announceLocked(e) }
}

// send queues data (ipc.md §5.4). In tagged mode the OK waits until the
// connection's untransmitted data is below the send buffer (§10.3).
func (c *client) send(r ipcmsg.Send, tagged bool) error {
	e := c.ownConn(r.Conn)
	if e == nil {
		return connNotFound(r.Conn)
	}
	if len(r.Data) == 0 {
		return nil
	}
	if err := e.conn.Send(r.Data); err != nil {
		return err
	}
	for tagged {
		ch := c.writableChan()
		if e.conn.Unsent() < c.s.cfg.SendBuffer {
			break
		}
		select {
		case <-ch:
		case <-c.ctx.Done():
			return errClientGone
		}
	}
	return nil
}

// closeConn starts a graceful close of any client's connection (ipc.md
// §5.6). For the owner it also ends Recv and unsolicited CloseOK.
func (c *client) closeConn(id ipcmsg.ConnID) {
	e := c.s.lookupConn(id)
	if e == nil {
		return
	}
	if e.owner == c {
		c.mu.Lock()
		e.ownerClosed, e.closeRan = true, true
		forget := e.ended
		if forget {
			c.forgetLocked(e)
			c.wakeWritersLocked()
		}
		c.mu.Unlock()
		if forget {
			c.s.forgetConn(e)
		}
	}
	e.conn.Close()
}

// connOpt sets a connection option (ipc.md §10.8).
func (c *client) connOpt(r ipcmsg.ConnOpt) ipcmsg.Reply {
	e := c.ownConn(r.Conn)
	if e == nil {
		return errorReply(connNotFound(r.Conn))
	}
	if r.Option != ipcmsg.OptNagle {
		return ipcmsg.Error{Code: ipcmsg.CodeInvalidArgument, Text: "unknown option " + strconv.Itoa(int(r.Option))}
	}
	on, err := r.Nagle()
	if err != nil {
		return errorReply(err)
	}
	v := byte(0)
	if e.conn.SetNagle(on) {
		v = 1
	}
	return ipcmsg.ConnOptOK{Conn: r.Conn, Option: r.Option, Value: []byte{v}}
}

// sendDatagram validates and sends a SendTo or SendToFrom (ipc.md §5.7, §10.9).
func (c *client) sendDatagram(dst addr.Addr, dstPort, src addr.Port, explicit bool, data []byte) error {
	switch {
	case len(data) == 0:
		return Errorf(ipcmsg.CodeInvalidArgument, "sendto: empty payload")
	case len(data) > ipcmsg.MaxDatagramPayload:
		return Errorf(ipcmsg.CodeInvalidArgument, "sendto: payload too large (max %d bytes)", ipcmsg.MaxDatagramPayload)
	case dst.IsBroadcast() && dst.Network == addr.Backbone:
		return Errorf(ipcmsg.CodeInvalidArgument, "sendto: broadcast in network 0 is not allowed")
	}
	if explicit {
		if !c.s.ownsPort(c, src) {
			return Errorf(ipcmsg.CodePermissionDenied, "sendto: port %d is not owned by this client", src)
		}
	} else {
		p, err := c.s.datagramPort(c)
		if err != nil {
			return err
		}
		src = p
	}
	return c.s.backend.SendDatagram(c.ctx, Datagram{Dst: dst, DstPort: dstPort, SrcPort: src, Data: data})
}
