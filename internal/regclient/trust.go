package regclient

import (
	"context"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
)

// Typed methods of the trust and handshake messages (registry.md §7.3),
// all signed by the client's node.

// ReportTrust sends report_trust: the client's node approves peer.
func (c *Client) ReportTrust(ctx context.Context, peer addr.NodeID, opts ...CallOption) (*regmsg.ReportTrustOK, error) {
	req := &regmsg.ReportTrust{TrustPair: regmsg.TrustPair{NodeID: c.NodeID(), PeerID: peer}}
	return doTyped[regmsg.ReportTrustOK](ctx, c, req, opts)
}

// RevokeTrust sends revoke_trust: both approvals between the client's node
// and peer are removed.
func (c *Client) RevokeTrust(ctx context.Context, peer addr.NodeID, opts ...CallOption) (*regmsg.RevokeTrustOK, error) {
	req := &regmsg.RevokeTrust{TrustPair: regmsg.TrustPair{NodeID: c.NodeID(), PeerID: peer}}
	return doTyped[regmsg.RevokeTrustOK](ctx, c, req, opts)
}

// CheckTrust sends check_trust for the client's node and peer.
func (c *Client) CheckTrust(ctx context.Context, peer addr.NodeID, opts ...CallOption) (*regmsg.CheckTrustOK, error) {
	req := &regmsg.CheckTrust{TrustPair: regmsg.TrustPair{NodeID: c.NodeID(), PeerID: peer}}
	return doTyped[regmsg.CheckTrustOK](ctx, c, req, opts)
}

// RequestHandshake sends request_handshake to node to with a free-text
// justification (≤ 1,024 bytes).
func (c *Client) RequestHandshake(ctx context.Context, to addr.NodeID, justification string, opts ...CallOption) (*regmsg.RequestHandshakeOK, error) {
	req := &regmsg.RequestHandshake{FromNodeID: c.NodeID(), ToNodeID: to, Justification: justification}
	return doTyped[regmsg.RequestHandshakeOK](ctx, c, req, opts)
}

// PollHandshakes sends poll_handshakes, which drains what it returns.
// page.Limit 0 = the registry's default.
func (c *Client) PollHandshakes(ctx context.Context, page regmsg.Page, opts ...CallOption) (*regmsg.PollHandshakesOK, error) {
	req := &regmsg.PollHandshakes{NodeID: c.NodeID(), Page: page}
	return doTyped[regmsg.PollHandshakesOK](ctx, c, req, opts)
}

// RespondHandshake sends respond_handshake to the requester peer.
func (c *Client) RespondHandshake(ctx context.Context, peer addr.NodeID, accept bool, opts ...CallOption) (*regmsg.RespondHandshakeOK, error) {
	req := &regmsg.RespondHandshake{NodeID: c.NodeID(), PeerID: peer, Accept: accept}
	return doTyped[regmsg.RespondHandshakeOK](ctx, c, req, opts)
}
