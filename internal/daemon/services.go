package daemon

import (
	"context"
	"net"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/regclient"
	"github.com/pilot-go/pilot/internal/services/dataexchange"
	"github.com/pilot-go/pilot/internal/services/echo"
	"github.com/pilot-go/pilot/internal/services/eventstream"
	"github.com/pilot-go/pilot/internal/services/tasksubmit"
	"github.com/pilot-go/pilot/internal/trust"
)

// Built-in service ports (services.md §1).
const (
	EchoPort         addr.Port = 7
	TrustPort        addr.Port = 444
	DataExchangePort addr.Port = dataexchange.Port
	EventStreamPort  addr.Port = 1002
	TaskSubmitPort   addr.Port = 1003
)

// startServices binds the enabled built-in services and the trust
// handshake listener on the data plane (services.md §1, §5). Their
// connections end when the data plane shuts down.
func (d *Daemon) startServices() error {
	type svc struct {
		port    addr.Port
		off     bool
		handler func(ctx context.Context, c net.Conn, remote addr.Addr)
	}
	dx := &dataexchange.Service{StateDir: d.cfg.StateDir, Emit: d.events.Emit, Logger: d.log,
		IdleTimeout: d.cfg.IdleTimeout}
	broker := &eventstream.Broker{Emit: d.events.Emit, Logger: d.log, IdleTimeout: d.cfg.IdleTimeout}
	tasks := &tasksubmit.Service{StateDir: d.cfg.StateDir, Registry: taskRegistry{d}, Logger: d.log,
		IdleTimeout: d.cfg.IdleTimeout}
	list := []svc{
		{TrustPort, false, d.serveTrust},
		{EchoPort, d.cfg.NoEcho, func(ctx context.Context, c net.Conn, _ addr.Addr) {
			_ = echo.Serve(ctx, c)
		}},
		{DataExchangePort, d.cfg.NoDataExchange, func(ctx context.Context, c net.Conn, remote addr.Addr) {
			_ = dx.Serve(ctx, c, remote.String())
		}},
		{EventStreamPort, d.cfg.NoEventStream, func(ctx context.Context, c net.Conn, remote addr.Addr) {
			_ = broker.Serve(ctx, c, remote.String())
		}},
		{TaskSubmitPort, d.cfg.NoTaskSubmit, func(ctx context.Context, c net.Conn, remote addr.Addr) {
			_ = tasks.Serve(ctx, c, remote)
		}},
	}
	for _, s := range list {
		if s.off {
			continue
		}
		if err := d.dp.ServeBuiltin(s.port, s.handler); err != nil {
			return err
		}
	}
	return nil
}

// serveTrust is the port-444 listener (services.md §5.1, §5.3): one
// message per stream, reassembled, then verified and applied with the
// stream's remote node as the sender.
func (d *Daemon) serveTrust(ctx context.Context, c net.Conn, remote addr.Addr) {
	raw, _, err := trust.ReadMessage(c)
	if err != nil {
		d.log.Debug("trust handshake message unreadable", "peer", remote.Node, "err", err)
		return
	}
	if err := d.trust.HandleMessage(ctx, remote.Node, raw); err == nil {
		d.admission.Invalidate()
	}
}

// taskRegistry adapts the registry client to tasksubmit.Registry (polo
// scores, registry.md §7.9). Score changes need the daemon's admin token.
type taskRegistry struct{ d *Daemon }

func (r taskRegistry) Available() bool { return r.d.registrar.Health().RegistryOK }

func (r taskRegistry) PoloScore(ctx context.Context, node addr.NodeID) (int, error) {
	rep, err := r.d.client.GetPoloScore(ctx, node)
	if err != nil {
		return 0, err
	}
	return int(rep.PoloScore), nil
}

func (r taskRegistry) UpdatePoloScore(ctx context.Context, node addr.NodeID, delta int) error {
	tok := r.d.cfg.AdminToken
	if tok == "" {
		return tasksubmit.ErrNoAdminToken
	}
	_, err := r.d.client.UpdatePoloScore(ctx, node, int64(delta), regclient.WithAdminToken(tok))
	return err
}
