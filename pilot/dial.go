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
	cn, err := withOwnClient(ctx, opts, func(c *Client) (*Conn, *bool, error) {
		cn, err := c.Dial(ctx, network, address)
		if err != nil {
			return nil, nil, err
		}
		return cn, &cn.ownsClient, nil
	})
	if err != nil {
		return nil, err // not a typed nil in the interface
	}
	return cn, nil
}

// withOwnClient connects a client for one connection, listener or packet
// conn that open creates; the object closes the client with itself (open
// returns its ownsClient flag), and a failed open closes it at once.
func withOwnClient[T any](ctx context.Context, opts []Option, open func(*Client) (T, *bool, error)) (T, error) {
	c, err := Connect(ctx, opts...)
	if err != nil {
		var zero T
		return zero, err
	}
	v, owns, err := open(c)
	if err != nil {
		c.Close()
		return v, err
	}
	*owns = true
	return v, nil
}

// Listen connects to the daemon and listens on address (":port", port 0
// for an ephemeral port). The listener has its own IPC client, closed with
// it.
func Listen(ctx context.Context, network, address string, opts ...Option) (net.Listener, error) {
	l, err := withOwnClient(ctx, opts, func(c *Client) (*Listener, *bool, error) {
		l, err := c.Listen(ctx, network, address)
		if err != nil {
			return nil, nil, err
		}
		return l, &l.ownsClient, nil
	})
	if err != nil {
		return nil, err // not a typed nil in the interface
	}
	return l, nil
}

// ListenPacket connects to the daemon and binds address (":port", port 0
// for an ephemeral port) for datagrams. The PacketConn has its own IPC
// client, closed with it.
func ListenPacket(ctx context.Context, network, address string, opts ...Option) (net.PacketConn, error) {
	pc, err := withOwnClient(ctx, opts, func(c *Client) (*PacketConn, *bool, error) {
		pc, err := c.ListenPacket(ctx, network, address)
		if err != nil {
			return nil, nil, err
		}
		return pc, &pc.ownsClient, nil
	})
	if err != nil {
		return nil, err // not a typed nil in the interface
	}
	return pc, nil
}
