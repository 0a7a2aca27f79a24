package regclient

import (
	"context"
	"errors"
	"slices"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/identity"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
)

// Typed methods of the node messages (registry.md §7.1, §7.2). Unless
// stated otherwise, the signer field is the client's NodeID and the
// request is signed by the client's identity; with NodeID 0 it goes out
// without a node signer (anonymous or token-only).

// doTyped runs Call with a new reply struct of type R.
func doTyped[R any, P interface {
	*R
	regmsg.Reply
}](ctx context.Context, c *Client, req regmsg.Request, opts []CallOption) (*R, error) {
	out := P(new(R))
	if err := c.Call(ctx, req, out, opts...); err != nil {
		return nil, err
	}
	return (*R)(out), nil
}

// Register sends register (§7.1.1) with the v2 proof of possession. An
// empty req.PublicKey is filled with the signing identity's key (the
// client's, or the SignWith one). On success, when the registered key is
// the client's identity, the client adopts the returned node ID; in auto
// mode it also selects v2 or v1 from auth_versions.
func (c *Client) Register(ctx context.Context, req *regmsg.Register, opts ...CallOption) (*regmsg.RegisterOK, error) {
	if req == nil {
		req = new(regmsg.Register)
	}
	rep, err := doTyped[regmsg.RegisterOK](ctx, c, req, opts)
	if err != nil {
		return nil, err
	}
	if c.mode == AuthAuto {
		if slices.Contains(rep.AuthVersions, "v2") {
			c.resolved.Store(uint32(AuthV2))
		} else {
			c.resolved.Store(uint32(AuthV1))
		}
	}
	if rep.NodeID != 0 {
		c.authMu.Lock()
		if st := c.auth.Load(); st.id != nil && st.id.PublicKeyBase64() == req.PublicKey {
			c.auth.Store(&authState{id: st.id, node: rep.NodeID})
		}
		c.authMu.Unlock()
	}
	return rep, nil
}

// Heartbeat sends heartbeat (§7.1.2).
func (c *Client) Heartbeat(ctx context.Context, opts ...CallOption) (*regmsg.HeartbeatOK, error) {
	return doTyped[regmsg.HeartbeatOK](ctx, c, &regmsg.Heartbeat{NodeID: c.NodeID()}, opts)
}

// Deregister sends deregister (§7.1.3) for the client's node.
func (c *Client) Deregister(ctx context.Context, opts ...CallOption) error {
	_, err := doTyped[regmsg.DeregisterOK](ctx, c, &regmsg.Deregister{NodeID: c.NodeID()}, opts)
	return err
}

// Lookup sends lookup (§7.1.4) for node, signed as requester when the
// client has a node ID (more visibility), else anonymous.
func (c *Client) Lookup(ctx context.Context, node addr.NodeID, opts ...CallOption) (*regmsg.LookupOK, error) {
	return doTyped[regmsg.LookupOK](ctx, c, &regmsg.Lookup{NodeID: node, RequesterID: c.NodeID()}, opts)
}

// Resolve sends resolve (§7.1.5) for node.
func (c *Client) Resolve(ctx context.Context, node addr.NodeID, opts ...CallOption) (*regmsg.ResolveOK, error) {
	return doTyped[regmsg.ResolveOK](ctx, c, &regmsg.Resolve{NodeID: node, RequesterID: c.NodeID()}, opts)
}

// Punch sends punch (§7.1.6); the client's node must be a or b.
func (c *Client) Punch(ctx context.Context, a, b addr.NodeID, opts ...CallOption) (*regmsg.PunchOK, error) {
	return doTyped[regmsg.PunchOK](ctx, c, &regmsg.Punch{RequesterID: c.NodeID(), NodeA: a, NodeB: b}, opts)
}

// RotateKey sends rotate_key (§7.1.7) signed by the current identity, with
// new_key_signature by newID (v2). expiresAt is the new key's expiry
// (RFC 3339; "" = none). On success the client signs with newID from then
// on (unless SignWith chose another current key).
//
// The request is not resent after a transport failure once it may have
// reached the registry: a resend would be signed by a key the first
// attempt may have retired. An error wrapping ErrTransport therefore means
// the outcome is unknown; compare Lookup's public_key with both keys
// (cli.md §4.8 step 5).
func (c *Client) RotateKey(ctx context.Context, newID *identity.Identity, expiresAt string, opts ...CallOption) (*regmsg.RotateKeyOK, error) {
	if newID == nil {
		return nil, errors.New("regclient: rotate_key needs the new identity")
	}
	req := &regmsg.RotateKey{NodeID: c.NodeID(), NewPublicKey: newID.PublicKeyBase64()}
	if expiresAt != "" {
		req.ExpiresAt = &expiresAt
	}
	o := collectOptions(opts)
	rep, err := doTyped[regmsg.RotateKeyOK](ctx, c, req, append(slices.Clip(opts), NewKey(newID), noResend()))
	if err != nil {
		return nil, err
	}
	if o.signWith == nil {
		c.SetIdentity(newID)
	}
	return rep, nil
}

// SetKeyExpiry sends set_key_expiry (§7.1.8): expiresAt is RFC 3339, or ""
// or "never" to clear.
func (c *Client) SetKeyExpiry(ctx context.Context, expiresAt string, opts ...CallOption) (*regmsg.SetKeyExpiryOK, error) {
	return doTyped[regmsg.SetKeyExpiryOK](ctx, c, &regmsg.SetKeyExpiry{NodeID: c.NodeID(), ExpiresAt: expiresAt}, opts)
}

// GetKeyInfo sends get_key_info (§7.1.9); no auth.
func (c *Client) GetKeyInfo(ctx context.Context, node addr.NodeID, opts ...CallOption) (*regmsg.GetKeyInfoOK, error) {
	return doTyped[regmsg.GetKeyInfoOK](ctx, c, &regmsg.GetKeyInfo{NodeID: node}, opts)
}

// ReassignKey sends reassign_key (§7.1.10): bind the signing identity's key
// (the client's, or the SignWith one) to node. It needs the global admin
// token (WithAdminToken). The client's node ID is not changed; register
// again to adopt node.
func (c *Client) ReassignKey(ctx context.Context, node addr.NodeID, opts ...CallOption) (*regmsg.ReassignKeyOK, error) {
	return doTyped[regmsg.ReassignKeyOK](ctx, c, &regmsg.ReassignKey{NodeID: node}, opts)
}

// SetVisibility sends set_visibility (§7.2).
func (c *Client) SetVisibility(ctx context.Context, public bool, opts ...CallOption) (*regmsg.SetVisibilityOK, error) {
	return doTyped[regmsg.SetVisibilityOK](ctx, c, &regmsg.SetVisibility{NodeID: c.NodeID(), Public: public}, opts)
}

// SetHostname sends set_hostname (§7.2); "" clears.
func (c *Client) SetHostname(ctx context.Context, hostname string, opts ...CallOption) (*regmsg.SetHostnameOK, error) {
	return doTyped[regmsg.SetHostnameOK](ctx, c, &regmsg.SetHostname{NodeID: c.NodeID(), Hostname: hostname}, opts)
}

// SetTags sends set_tags (§7.2); nil or empty clears.
func (c *Client) SetTags(ctx context.Context, tags []string, opts ...CallOption) (*regmsg.SetTagsOK, error) {
	if tags == nil {
		tags = []string{}
	}
	return doTyped[regmsg.SetTagsOK](ctx, c, &regmsg.SetTags{NodeID: c.NodeID(), Tags: tags}, opts)
}

// SetTaskExec sends set_task_exec (§7.2).
func (c *Client) SetTaskExec(ctx context.Context, enabled bool, opts ...CallOption) (*regmsg.SetTaskExecOK, error) {
	return doTyped[regmsg.SetTaskExecOK](ctx, c, &regmsg.SetTaskExec{NodeID: c.NodeID(), Enabled: enabled}, opts)
}

// ResolveHostname sends resolve_hostname (§7.2), signed as requester when
// the client has a node ID.
func (c *Client) ResolveHostname(ctx context.Context, hostname string, opts ...CallOption) (*regmsg.ResolveHostnameOK, error) {
	return doTyped[regmsg.ResolveHostnameOK](ctx, c, &regmsg.ResolveHostname{Hostname: hostname, RequesterID: c.NodeID()}, opts)
}
