package regclient

import (
	"context"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
)

// Typed methods of the reputation (registry.md §7.9) and beacon directory
// (§7.10) messages. None has a node signer.

// GetPoloScore sends get_polo_score; no auth.
func (c *Client) GetPoloScore(ctx context.Context, node addr.NodeID, opts ...CallOption) (*regmsg.PoloScoreOK, error) {
	return c.polo(ctx, &regmsg.GetPoloScore{NodeID: node}, opts)
}

// UpdatePoloScore sends update_polo_score (global token: WithAdminToken).
func (c *Client) UpdatePoloScore(ctx context.Context, node addr.NodeID, delta int64, opts ...CallOption) (*regmsg.PoloScoreOK, error) {
	return c.polo(ctx, &regmsg.UpdatePoloScore{NodeID: node, Delta: delta}, opts)
}

// SetPoloScore sends set_polo_score (global token: WithAdminToken).
func (c *Client) SetPoloScore(ctx context.Context, node addr.NodeID, score int64, opts ...CallOption) (*regmsg.PoloScoreOK, error) {
	return c.polo(ctx, &regmsg.SetPoloScore{NodeID: node, PoloScore: score}, opts)
}

func (c *Client) polo(ctx context.Context, req regmsg.Request, opts []CallOption) (*regmsg.PoloScoreOK, error) {
	out := &regmsg.PoloScoreOK{Op: req.Type()}
	if err := c.Call(ctx, req, out, opts...); err != nil {
		return nil, err
	}
	return out, nil
}

// BeaconRegister sends beacon_register: beacon id serves at hostPort
// (host:port). token is the registry's -beacon-token ("" = none; a secret,
// never logged).
func (c *Client) BeaconRegister(ctx context.Context, id regmsg.BeaconID, hostPort, token string, opts ...CallOption) (*regmsg.BeaconRegisterOK, error) {
	req := &regmsg.BeaconRegister{BeaconID: id, Addr: hostPort, Token: token}
	return doTyped[regmsg.BeaconRegisterOK](ctx, c, req, opts)
}

// BeaconList sends beacon_list for one page; no auth. See BeaconListAll.
func (c *Client) BeaconList(ctx context.Context, page regmsg.Page, opts ...CallOption) (*regmsg.BeaconListOK, error) {
	return doTyped[regmsg.BeaconListOK](ctx, c, &regmsg.BeaconList{Page: page}, opts)
}
