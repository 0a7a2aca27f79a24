package cli

import (
	"context"
	"encoding/json"
	"strconv"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
)

// target is a resolved <target> (cli.md §4.1).
type target struct {
	Addr addr.Addr
	Host string // the hostname it was resolved from, "" otherwise
}

// label is how text output names a target: "0:0000.0000.02AD (alpha)".
func (t target) label() string {
	if t.Host != "" {
		return t.Addr.String() + " (" + t.Host + ")"
	}
	return t.Addr.String()
}

// literalTarget parses a full address or a decimal node ID (network 0).
func literalTarget(s string) (addr.Addr, bool) {
	if a, err := addr.Parse(s); err == nil {
		return a, true
	}
	if n, err := strconv.ParseUint(s, 10, 32); err == nil {
		return addr.New(0, addr.NodeID(n)), true
	}
	return addr.Addr{}, false
}

// resolveTarget resolves s; a hostname goes through the daemon's signed
// resolve_hostname (ResolveHostname, ipc.md §5.11), on c when non-nil.
func (a *app) resolveTarget(ctx context.Context, c *ipcClient, s string) (target, error) {
	if s == "" {
		return target{}, usageErr("empty target: give an address, a node ID or a hostname")
	}
	if ad, ok := literalTarget(s); ok {
		if ad.Node == 0 || ad.IsBroadcast() {
			return target{}, usageErr("invalid target %q: node 0 and broadcast cannot be addressed", s)
		}
		return target{Addr: ad}, nil
	}
	if c == nil {
		var err error
		if c, err = a.daemon(ctx); err != nil {
			return target{}, err
		}
		defer c.Close()
	}
	body, err := c.callJSON(ctx, ipcmsg.ResolveHostname{Hostname: s}, ipcmsg.CmdResolveHostnameOK)
	if err != nil {
		return target{}, err
	}
	var r struct {
		NodeID  addr.NodeID `json:"node_id"`
		Address string      `json:"address"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return target{}, errorf(codeInternal, "unexpected resolve_hostname reply: %v", err)
	}
	ad, err := addr.Parse(r.Address)
	if err != nil {
		ad = addr.New(0, r.NodeID)
	}
	if ad.Node == 0 {
		return target{}, errorf(codeNotFound, "hostname %q did not resolve to a node", s)
	}
	return target{Addr: ad, Host: s}, nil
}

// resolveNode resolves s to a node ID.
func (a *app) resolveNode(ctx context.Context, c *ipcClient, s string) (addr.NodeID, error) {
	t, err := a.resolveTarget(ctx, c, s)
	return t.Addr.Node, err
}
