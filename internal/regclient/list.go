package regclient

import (
	"context"
	"fmt"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
)

// Pagination helpers (registry.md §4.4): follow next_cursor until the last
// page or until max entries are collected.

// maxPageLimit is the largest page the list messages serve (§8.2).
const maxPageLimit = 500

// ListNetworksAll collects list_networks pages, at most max entries
// (max ≤ 0: no limit but ctx). Each page is one call with its own deadline.
func (c *Client) ListNetworksAll(ctx context.Context, all bool, max int, opts ...CallOption) ([]regmsg.NetworkEntry, error) {
	return collect(ctx, max, func(ctx context.Context, p regmsg.Page) ([]regmsg.NetworkEntry, string, error) {
		r, err := c.ListNetworks(ctx, all, p, opts...)
		if err != nil {
			return nil, "", err
		}
		return r.Networks, r.NextCursor, nil
	})
}

// ListNodesAll collects list_nodes pages of network, at most max entries
// (max ≤ 0: no limit but ctx).
func (c *Client) ListNodesAll(ctx context.Context, network addr.NetworkID, max int, opts ...CallOption) ([]regmsg.NodeEntry, error) {
	return collect(ctx, max, func(ctx context.Context, p regmsg.Page) ([]regmsg.NodeEntry, string, error) {
		r, err := c.ListNodes(ctx, network, p, opts...)
		if err != nil {
			return nil, "", err
		}
		return r.Nodes, r.NextCursor, nil
	})
}

// BeaconListAll collects beacon_list pages, at most max entries (max ≤ 0:
// no limit but ctx).
func (c *Client) BeaconListAll(ctx context.Context, max int, opts ...CallOption) ([]regmsg.BeaconEntry, error) {
	return collect(ctx, max, func(ctx context.Context, p regmsg.Page) ([]regmsg.BeaconEntry, string, error) {
		r, err := c.BeaconList(ctx, p, opts...)
		if err != nil {
			return nil, "", err
		}
		return r.Beacons, r.NextCursor, nil
	})
}

// collect runs fetch page after page. A registry that announces more items
// but returns an empty page, or repeats a cursor, would keep the loop
// going for ever: that is a protocol error.
func collect[T any](ctx context.Context, max int, fetch func(context.Context, regmsg.Page) ([]T, string, error)) ([]T, error) {
	var out []T
	seen := make(map[string]struct{})
	var p regmsg.Page
	for {
		if max > 0 {
			p.Limit = min(max-len(out), maxPageLimit)
		}
		items, next, err := fetch(ctx, p)
		if err != nil {
			return out, err
		}
		out = append(out, items...)
		if max > 0 && len(out) >= max {
			return out[:max], nil
		}
		if next == "" {
			return out, nil
		}
		if _, dup := seen[next]; dup || len(items) == 0 {
			return out, fmt.Errorf("%w: list pagination does not advance (cursor %.32q, %d items)", ErrProtocol, next, len(items))
		}
		seen[next] = struct{}{}
		p.Cursor = next
	}
}
