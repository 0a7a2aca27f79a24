package pilot

import (
	"context"
	"net"
	"time"

	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
)

// Dial opens a stream connection to address ("N:XXXX.XXXX.XXXX:port").
// ctx bounds the whole dial; its deadline is also passed to the daemon
// (DialEx) so the daemon gives up at the same time.
func (c *Client) Dial(ctx context.Context, network, address string) (*Conn, error) {
	if err := checkNetwork(network); err != nil {
		return nil, err
	}
	remote, err := ParseAddr(address)
	if err != nil {
		return nil, opError("dial", nil, nil, err)
	}
	var req ipcmsg.Request = ipcmsg.Dial{Addr: remote.Addr, Port: remote.Port}
	if dl, ok := ctx.Deadline(); ok && !c.legacy {
		ms := time.Until(dl).Milliseconds()
		ms = max(1, min(ms, ipcmsg.MaxDialTimeoutMillis))
		req = ipcmsg.DialEx{Addr: remote.Addr, Port: remote.Port, TimeoutMillis: uint32(ms)}
	}
	local := &Addr{Addr: c.local}
	var cn *Conn
	cl, err := c.start(req, ipcmsg.CmdDialOK, func(r ipcmsg.Reply, abandoned bool) {
		ok, isOK := r.(ipcmsg.DialOK)
		if !isOK {
			return
		}
		conn := c.newConn(ok.Conn, local, remote)
		if abandoned {
			conn.close(true)
			return
		}
		cn = conn
	})
	if err != nil {
		return nil, opError("dial", local, remote, err)
	}
	if _, err := c.wait(ctx, cl); err != nil {
		return nil, opError("dial", local, remote, err)
	}
	return cn, nil
}

// Dial connects to the daemon and opens a stream connection to address
// ("N:XXXX.XXXX.XXXX:port") over network "pilot". The connection has its
// own IPC client, closed with it.
func Dial(ctx context.Context, network, address string, opts ...Option) (net.Conn, error) {
	c, err := Connect(ctx, opts...)
	if err != nil {
		return nil, err
	}
	cn, err := c.Dial(ctx, network, address)
	if err != nil {
		c.Close()
		return nil, err
	}
	cn.ownsClient = true
	return cn, nil
}

// Listen connects to the daemon and listens on address (":port", port 0
// for an ephemeral port). The listener has its own IPC client, closed with
// it.
func Listen(ctx context.Context, network, address string, opts ...Option) (net.Listener, error) {
	c, err := Connect(ctx, opts...)
	if err != nil {
		return nil, err
	}
	l, err := c.Listen(ctx, network, address)
	if err != nil {
		c.Close()
		return nil, err
	}
	l.ownsClient = true
	return l, nil
}

// ListenPacket connects to the daemon and binds address (":port", port 0
// for an ephemeral port) for datagrams. The PacketConn has its own IPC
// client, closed with it.
func ListenPacket(ctx context.Context, network, address string, opts ...Option) (net.PacketConn, error) {
	c, err := Connect(ctx, opts...)
	if err != nil {
		return nil, err
	}
	pc, err := c.ListenPacket(ctx, network, address)
	if err != nil {
		c.Close()
		return nil, err
	}
	pc.ownsClient = true
	return pc, nil
}
