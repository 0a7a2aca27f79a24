package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/ipc"
	"github.com/pilot-go/pilot/internal/regclient"
	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
)

// RegistryOp runs one op of ipc.md §10.4 / cli.md §4.4 and returns its
// data object. Registry ops are signed by the daemon (auth v2) and use an
// admin token only under the least-privilege rule; the token is never
// logged. Registry refusals keep the registry's code and message.
func (c control) RegistryOp(ctx context.Context, m ipcmsg.RegistryOp) (json.RawMessage, error) {
	switch m.Op {
	case ipcmsg.OpWebhookSet, ipcmsg.OpWebhookClear, ipcmsg.OpWebhookStatus:
		return c.webhookOp(m)
	case ipcmsg.OpPeers:
		return c.peersOp(m)
	}
	self, err := c.self(m.Op)
	if err != nil {
		return nil, err
	}
	tok := m.AdminToken
	if tok == "" {
		tok = c.d.cfg.AdminToken
	}
	switch m.Op {
	case ipcmsg.OpLookup:
		n, err := nodeArg(m, "node_id", true)
		if err != nil {
			return nil, err
		}
		return c.plain(ctx, &regmsg.Lookup{NodeID: n, RequesterID: self})
	case ipcmsg.OpKeyInfo:
		n, err := nodeArg(m, "node_id", false)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			n = self
		}
		return c.plain(ctx, &regmsg.GetKeyInfo{NodeID: n})
	case ipcmsg.OpKeySetExpiry:
		exp, err := m.RequireString("expires_at")
		if err != nil {
			return nil, err
		}
		out, err := c.plain(ctx, &regmsg.SetKeyExpiry{NodeID: self, ExpiresAt: exp})
		if err == nil {
			// Health shows key_expires_at as soon as it is set (cli.md
			// §4.5), not only from the next heartbeat's warning window.
			var rep regmsg.SetKeyExpiryOK
			if json.Unmarshal(out, &rep) == nil {
				c.d.registrar.setKeyExpiry(rep.ExpiresAt)
				c.d.registrar.resetKeyWarning()
			}
		}
		return out, err
	case ipcmsg.OpKeyRotate:
		return c.keyRotate(ctx, m)
	case ipcmsg.OpKeyReclaim:
		return c.keyReclaim(ctx, m, self, tok)
	}
	return c.networkOp(ctx, m, self, tok)
}

// plain sends a signed request and returns the reply without "type".
func (c control) plain(ctx context.Context, req regmsg.Request, opts ...regclient.CallOption) (json.RawMessage, error) {
	body, err := c.d.client.Do(ctx, req, opts...)
	if err != nil {
		return nil, registryError("", err)
	}
	return withoutType(body, nil)
}

// lp is plain under the least-privilege token rule.
func (c control) lp(ctx context.Context, tok string, tokenFirst bool, build func() regmsg.Request, extra map[string]any) (json.RawMessage, error) {
	body, _, err := c.doLPRaw(ctx, tok, tokenFirst, build)
	if err != nil {
		return nil, registryError("", err)
	}
	return withoutType(body, extra)
}

// listOp is a paged list op: the reply without "type", extra keys added,
// each item rewritten by decorate when not nil (see pages).
func (c control) listOp(ctx context.Context, m ipcmsg.RegistryOp, key, tok string, tokenFirst bool,
	build func(regmsg.Page) regmsg.Request, decorate func(json.RawMessage) (json.RawMessage, error),
	extra map[string]any) (json.RawMessage, error) {
	cursor, _, err := m.String("cursor")
	if err != nil {
		return nil, err
	}
	body, err := c.pages(ctx, "", key, cursor, tok, tokenFirst, build, decorate)
	if err != nil {
		return nil, err
	}
	return withoutType(body, extra)
}

func (c control) networkOp(ctx context.Context, m ipcmsg.RegistryOp, self addr.NodeID, tok string) (json.RawMessage, error) {
	net := func(required bool) (addr.NetworkID, bool, error) {
		v, ok, err := m.Uint("network_id", math.MaxUint16)
		if err == nil && required && !ok {
			err = missingArg("network_id")
		}
		return addr.NetworkID(v), ok, err
	}
	netNode := func() (addr.NetworkID, addr.NodeID, error) {
		n, _, err := net(true)
		if err != nil {
			return 0, 0, err
		}
		node, err := nodeArg(m, "node_id", true)
		return n, node, err
	}
	switch m.Op {
	case ipcmsg.OpNetworkList:
		all, _, err := m.Bool("all")
		if err != nil {
			return nil, err
		}
		if all && tok == "" {
			return nil, needsToken("listing every network (--all)", "pilotctl network list")
		}
		return c.listOp(ctx, m, "networks", tok, all, func(p regmsg.Page) regmsg.Request {
			return &regmsg.ListNetworks{NodeID: self, All: all, Page: p}
		}, nil, nil)
	case ipcmsg.OpNetworkJoin:
		n, _, err := net(true)
		if err != nil {
			return nil, err
		}
		join, _, err := m.String("token")
		if err != nil {
			return nil, err
		}
		out, err := c.lp(ctx, tok, false, func() regmsg.Request {
			return &regmsg.JoinNetwork{NodeID: self, NetworkID: n, Token: join}
		}, nil)
		if err == nil {
			c.d.membershipChanged(n, true)
		}
		return out, err
	case ipcmsg.OpNetworkLeave:
		n, _, err := net(true)
		if err != nil {
			return nil, err
		}
		out, err := c.lp(ctx, tok, false, func() regmsg.Request {
			return &regmsg.LeaveNetwork{NetworkRef: regmsg.NetworkRef{NodeID: self, NetworkID: n}}
		}, nil)
		if err == nil {
			c.d.membershipChanged(n, false)
		}
		return out, err
	case ipcmsg.OpNetworkMembers:
		n, _, err := net(true)
		if err != nil {
			return nil, err
		}
		if n == addr.Backbone && tok == "" {
			return nil, needsToken("listing the members of network 0 (every node)", "pilotctl network members <net>")
		}
		// The entries are decorated page by page so that the size limit
		// counts them as sent (ipc.md §2).
		return c.listOp(ctx, m, "nodes", tok, n == addr.Backbone, func(p regmsg.Page) regmsg.Request {
			return &regmsg.ListNodes{NodeID: self, NetworkID: n, Page: p}
		}, decorateMember, map[string]any{"network_id": n})
	case ipcmsg.OpNetworkInvite:
		n, node, err := netNode()
		if err != nil {
			return nil, err
		}
		return c.lp(ctx, tok, false, func() regmsg.Request {
			return &regmsg.InviteToNetwork{InviterID: self, NetworkID: n, TargetNodeID: node}
		}, nil)
	case ipcmsg.OpNetworkInvites:
		return c.listOp(ctx, m, "invites", tok, false, func(p regmsg.Page) regmsg.Request {
			return &regmsg.PollInvites{NodeID: self, Page: p}
		}, nil, nil)
	case ipcmsg.OpNetworkRespond:
		n, _, err := net(true)
		if err != nil {
			return nil, err
		}
		accept, ok, err := m.Bool("accept")
		if err == nil && !ok {
			err = missingArg("accept")
		}
		if err != nil {
			return nil, err
		}
		out, err := c.lp(ctx, tok, false, func() regmsg.Request {
			return &regmsg.RespondInvite{NodeID: self, NetworkID: n, Accept: accept}
		}, nil)
		if err == nil && accept {
			c.d.membershipChanged(n, true)
		}
		return out, err
	case ipcmsg.OpNetworkPromote, ipcmsg.OpNetworkDemote, ipcmsg.OpNetworkKick, ipcmsg.OpNetworkRole:
		n, node, err := netNode()
		if err != nil {
			return nil, err
		}
		mt := regmsg.MemberTarget{NodeID: self, NetworkID: n, TargetNodeID: node}
		return c.lp(ctx, tok, false, func() regmsg.Request {
			switch m.Op {
			case ipcmsg.OpNetworkPromote:
				return &regmsg.PromoteMember{MemberTarget: mt}
			case ipcmsg.OpNetworkDemote:
				return &regmsg.DemoteMember{MemberTarget: mt}
			case ipcmsg.OpNetworkKick:
				return &regmsg.KickMember{MemberTarget: mt}
			}
			return &regmsg.GetMemberRole{MemberTarget: mt}
		}, nil)
	case ipcmsg.OpNetworkSetPolicy:
		return c.setPolicy(ctx, m, self, tok)
	case ipcmsg.OpNetworkPolicy:
		n, _, err := net(true)
		if err != nil {
			return nil, err
		}
		return c.lp(ctx, tok, false, func() regmsg.Request {
			return &regmsg.GetNetworkPolicy{NetworkRef: regmsg.NetworkRef{NodeID: self, NetworkID: n}}
		}, nil)
	case ipcmsg.OpNetworkCreate:
		return c.createNetwork(ctx, m, self, tok)
	case ipcmsg.OpNetworkDelete:
		n, _, err := net(true)
		if err != nil {
			return nil, err
		}
		out, err := c.lp(ctx, tok, false, func() regmsg.Request {
			return &regmsg.DeleteNetwork{NetworkRef: regmsg.NetworkRef{NodeID: self, NetworkID: n}}
		}, nil)
		if err == nil {
			c.d.membershipChanged(n, false)
		}
		return out, err
	case ipcmsg.OpNetworkRename:
		n, _, err := net(true)
		if err != nil {
			return nil, err
		}
		name, err := m.RequireString("name")
		if err != nil {
			return nil, err
		}
		return c.lp(ctx, tok, false, func() regmsg.Request {
			return &regmsg.RenameNetwork{NodeID: self, NetworkID: n, Name: name}
		}, nil)
	case ipcmsg.OpNetworkTransfer:
		n, node, err := netNode()
		if err != nil {
			return nil, err
		}
		return c.lp(ctx, tok, false, func() regmsg.Request {
			return &regmsg.TransferOwnership{NodeID: self, NetworkID: n, NewOwnerID: node}
		}, nil)
	case ipcmsg.OpNetworkAudit:
		return c.audit(ctx, m, self, tok)
	}
	return nil, ipc.Errorf(ipcmsg.CodeInvalidArgument, "unknown op %q", m.Op)
}

func (c control) setPolicy(ctx context.Context, m ipcmsg.RegistryOp, self addr.NodeID, tok string) (json.RawMessage, error) {
	v, err := m.RequireUint("network_id", math.MaxUint16)
	if err != nil {
		return nil, err
	}
	n := addr.NetworkID(v)
	req := regmsg.SetNetworkPolicy{NodeID: self, NetworkID: n}
	if mm, ok, err := m.Uint("max_members", math.MaxUint32); err != nil {
		return nil, err
	} else if ok {
		mm32 := uint32(mm)
		req.MaxMembers = &mm32
	}
	if raw, ok := m.Args["allowed_ports"]; ok && string(raw) != "null" {
		var ports []addr.Port
		if err := json.Unmarshal(raw, &ports); err != nil {
			return nil, ipc.Errorf(ipcmsg.CodeInvalidArgument, `argument "allowed_ports" must be an array of ports`)
		}
		if ports == nil {
			ports = []addr.Port{}
		}
		req.AllowedPorts = ports
	}
	if desc, ok, err := m.String("description"); err != nil {
		return nil, err
	} else if ok {
		req.Description = &desc
	}
	out, err := c.lp(ctx, tok, false, func() regmsg.Request { r := req; return &r }, nil)
	if err == nil {
		c.d.admission.Invalidate()
	}
	return out, err
}

// needsToken is auth_required for an op that only the global admin token
// may run (registry.md §7.4.6, §7.4.7; cli.md §4.3), refused before any
// registry request when no token is available.
func needsToken(what, instead string) error {
	hint := "pass --admin-token or set PILOT_ADMIN_TOKEN"
	if instead != "" {
		hint += ", or use " + instead
	}
	return ipc.Errorf(ipcmsg.CodeAuthRequired, "%s needs an admin token\nhint: %s", what, hint)
}

func (c control) createNetwork(ctx context.Context, m ipcmsg.RegistryOp, self addr.NodeID, tok string) (json.RawMessage, error) {
	name, err := m.RequireString("name")
	if err != nil {
		return nil, err
	}
	rule, err := m.RequireString("join_rule")
	if err != nil {
		return nil, err
	}
	join, _, err := m.String("token")
	if err != nil {
		return nil, err
	}
	netTok, _, err := m.String("network_admin_token")
	if err != nil {
		return nil, err
	}
	if tok == "" {
		return nil, needsToken("network create", "")
	}
	out, err := c.lp(ctx, tok, true, func() regmsg.Request {
		return &regmsg.CreateNetwork{NodeID: self, Name: name, JoinRule: rule, Token: join, NetworkAdminToken: netTok}
	}, nil)
	if err != nil {
		return nil, err
	}
	// The creator is the network's owner and first member.
	var rep struct {
		NetworkID addr.NetworkID `json:"network_id"`
	}
	if json.Unmarshal(out, &rep) == nil && rep.NetworkID != 0 {
		c.d.membershipChanged(rep.NetworkID, true)
	}
	return out, nil
}

func (c control) audit(ctx context.Context, m ipcmsg.RegistryOp, self addr.NodeID, tok string) (json.RawMessage, error) {
	v, hasNet, err := m.Uint("network_id", math.MaxUint16)
	if err != nil {
		return nil, err
	}
	action, _, err := m.String("action")
	if err != nil {
		return nil, err
	}
	limit, hasLimit, err := m.Uint("limit", MaxListItems)
	if err != nil {
		return nil, err
	}
	if !hasNet && tok == "" {
		// cli.md §4.10: audit without <net> needs an admin token.
		return nil, needsToken("the registry-wide audit log", "pilotctl network audit <net>")
	}
	cursor, _, err := m.String("cursor")
	if err != nil {
		return nil, err
	}
	// cli.md §4.10: audit returns one page, the registry's (limit or its
	// default), with its next_cursor; the daemon does not follow pages.
	return c.lp(ctx, tok, !hasNet, func() regmsg.Request {
		r := &regmsg.GetAuditLog{NodeID: self, Action: action, Page: regmsg.Page{Cursor: cursor}}
		if hasLimit {
			r.Page.Limit = int(limit)
		}
		if hasNet {
			n := addr.NetworkID(v)
			r.NetworkID = &n
		}
		return r
	}, nil)
}

func (c control) keyRotate(ctx context.Context, m ipcmsg.RegistryOp) (json.RawMessage, error) {
	exp, _, err := m.String("expires_at")
	if err != nil {
		return nil, err
	}
	rep, err := c.d.registrar.RotateKey(ctx, exp)
	if err != nil {
		if errors.Is(err, ErrOutcomeUnknown) {
			return nil, ipc.Errorf(ipcmsg.CodeUnavailable, "%v", err)
		}
		return nil, registryError("", err)
	}
	return ipcmsg.EncodeJSON(rep)
}

// keyReclaim is cli.md §4.8 `key reclaim`.
// The token is the request's, else the daemon's own -admin-token (cli.md
// §4.3: "auth_required" only when neither has one).
func (c control) keyReclaim(ctx context.Context, m ipcmsg.RegistryOp, self addr.NodeID, tok string) (json.RawMessage, error) {
	target, err := nodeArg(m, "node_id", true)
	if err != nil {
		return nil, err
	}
	if tok == "" {
		return nil, needsToken("key reclaim", "")
	}
	d := c.d
	if len(d.Memberships().List()) > 0 || d.registrar.Hostname() != "" || len(d.trust.Trusted().Trusted) > 0 {
		return nil, ipc.Errorf(ipcmsg.CodeFailedPrecondition,
			"key reclaim: node %d has network memberships, a hostname or trust relations; run it on a daemon started with a fresh identity", self)
	}
	prev, err := d.registrar.Reclaim(ctx, target, tok)
	if err != nil {
		return nil, registryError("", err)
	}
	now := d.registrar.NodeID()
	return ipcmsg.EncodeJSON(map[string]any{
		"node_id": now, "previous_node_id": prev, "address": addr.New(addr.Backbone, now).String(),
	})
}

func (c control) webhookOp(m ipcmsg.RegistryOp) (json.RawMessage, error) {
	wh := c.d.webhook
	switch m.Op {
	case ipcmsg.OpWebhookSet:
		url, err := m.RequireString("url")
		if err != nil {
			return nil, err
		}
		secret, hasSecret, err := m.String("secret")
		if err != nil {
			return nil, err
		}
		if hasSecret {
			err = wh.SetURL(url, secret)
		} else {
			err = wh.SetURLKeepSecret(url)
		}
		if err != nil {
			return nil, webhookError(err)
		}
		st := wh.Stats()
		return ipcmsg.EncodeJSON(map[string]any{"webhook": url, "signed": st.Signed && url != ""})
	case ipcmsg.OpWebhookClear:
		if err := wh.SetURLKeepSecret(""); err != nil {
			return nil, webhookError(err)
		}
		return ipcmsg.EncodeJSON(map[string]any{"webhook": ""})
	}
	return ipcmsg.EncodeJSON(wh.Stats())
}

// peerEntry is one entry of the peers op (ipc.md §10.4).
type peerEntry struct {
	NodeID          addr.NodeID `json:"node_id"`
	Endpoint        string      `json:"endpoint"`
	Path            string      `json:"path"`
	Relay           bool        `json:"relay"`
	Encrypted       bool        `json:"encrypted"`
	Authenticated   bool        `json:"authenticated"`
	Auth            string      `json:"auth"`
	KeyAgeS         int64       `json:"key_age_s"`
	Rekeys          uint64      `json:"rekeys"`
	LastRxMs        int64       `json:"last_rx_ms"`
	LastTxMs        int64       `json:"last_tx_ms"`
	FramesSent      uint64      `json:"frames_sent"`
	FramesRecv      uint64      `json:"frames_recv"`
	DecryptFailures uint64      `json:"decrypt_failures"`
	Replays         uint64      `json:"replays"`
	Queued          int         `json:"queued"`
}

func (c control) peersOp(m ipcmsg.RegistryOp) (json.RawMessage, error) {
	search, _, err := m.String("search")
	if err != nil {
		return nil, err
	}
	peers := []peerEntry{}
	if c.d.tun == nil {
		return capPeers(peers, maxReplyBytes)
	}
	now := c.d.now()
	ago := func(t interface{ IsZero() bool }, ms int64) int64 {
		if t.IsZero() {
			return -1
		}
		return ms
	}
	for _, p := range c.d.tun.PeerStats() {
		ep := ""
		if p.Endpoint.IsValid() {
			ep = p.Endpoint.String()
		}
		if search != "" && !strings.Contains(fmt.Sprint(uint32(p.Node)), search) && !strings.Contains(ep, search) {
			continue
		}
		peers = append(peers, peerEntry{
			NodeID: p.Node, Endpoint: ep, Path: p.Path(), Relay: p.Relay, Encrypted: p.Encrypted,
			Authenticated: p.Authenticated, Auth: p.Auth, KeyAgeS: int64(p.KeyAge.Seconds()), Rekeys: p.Rekeys,
			LastRxMs: ago(p.LastRx, now.Sub(p.LastRx).Milliseconds()), LastTxMs: ago(p.LastTx, now.Sub(p.LastTx).Milliseconds()),
			FramesSent: p.FramesSent, FramesRecv: p.FramesRecv, DecryptFailures: p.DecryptFailures,
			Replays: p.Replays, Queued: p.Queued,
		})
	}
	return capPeers(peers, maxReplyBytes)
}

// capPeers encodes the peers op's reply within budget bytes (ipc.md §2):
// total stays the number of matching peers and peers lists as many of them
// as fit, so total > len(peers) marks a cut list.
func capPeers(peers []peerEntry, budget int) (json.RawMessage, error) {
	type reply struct {
		Peers []peerEntry `json:"peers"`
		Total int         `json:"total"`
	}
	total := len(peers)
	body, err := ipcmsg.EncodeJSON(reply{Peers: peers, Total: total})
	if err != nil || len(body) <= budget {
		return body, err
	}
	base, err := ipcmsg.EncodeJSON(reply{Peers: []peerEntry{}, Total: total})
	if err != nil {
		return nil, err
	}
	sizes, _, err := entrySizes(peers)
	if err != nil {
		return nil, err
	}
	return ipcmsg.EncodeJSON(reply{Peers: keepEntries(peers, sizes, budget-len(base), nil), Total: total})
}

// nodeArg reads a node ID argument (u32).
func nodeArg(m ipcmsg.RegistryOp, name string, required bool) (addr.NodeID, error) {
	v, ok, err := m.Uint(name, math.MaxUint32)
	if err != nil {
		return 0, err
	}
	if required && !ok {
		return 0, missingArg(name)
	}
	return addr.NodeID(v), nil
}

func missingArg(name string) error {
	return ipc.Errorf(ipcmsg.CodeInvalidArgument, "missing argument %q", name)
}
