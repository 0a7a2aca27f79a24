package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/ipc"
	"github.com/pilot-go/pilot/internal/regclient"
	"github.com/pilot-go/pilot/internal/trust"
	"github.com/pilot-go/pilot/internal/webhook"
	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
	whmsg "github.com/pilot-go/pilot/internal/wire/svcmsg/webhook"
)

// control implements ipc.Control (ipc.md §5.9–§5.19, §10.4) on top of the
// daemon's control plane. Registry-backed commands are signed by the
// daemon's identity (auth v2) and answer with the registry's JSON object
// as received; errors carry the registry's code and the original's label
// ("network join: <registry message>").
type control struct{ d *Daemon }

var _ ipc.Control = control{}

// MaxTags is the registry's tag limit (ipc.md §5.15).
const MaxTags = 10

// Identity answers HelloOK's node fields.
func (c control) Identity() (addr.NodeID, addr.Addr) {
	n := c.d.registrar.NodeID()
	return n, addr.New(addr.Backbone, n)
}

// Info answers from local state only (ipc.md §5.9, §6).
func (c control) Info(context.Context) (ipcmsg.NodeInfo, error) {
	d := c.d
	self := d.registrar.NodeID()
	info := ipcmsg.NodeInfo{
		NodeID: self, Address: addr.New(addr.Backbone, self), Hostname: d.registrar.Hostname(),
		UptimeSecs: d.uptimeSecs(), Encrypt: d.cfg.Encrypt, Identity: true,
		PublicKey: d.registrar.Identity().PublicKeyBase64(), Email: d.cfg.Email,
		HandshakePendingCount: d.trust.HandshakePendingCount(), Version: Version,
		Networks: []ipcmsg.InfoNetwork{}, PeerList: []ipcmsg.InfoPeer{}, ConnList: []ipcmsg.InfoConn{},
	}
	for _, n := range d.Memberships().List() {
		info.Networks = append(info.Networks, ipcmsg.InfoNetwork{NetworkID: n, Address: addr.New(n, self)})
	}
	if d.dp != nil {
		st := d.dp.Stats()
		info.Connections, info.Ports = st.Connections, st.Ports
		if st.ConnList != nil {
			info.ConnList = st.ConnList
		}
	}
	if d.tun != nil {
		ctr := d.tun.Counters()
		info.BytesSent, info.BytesRecv, info.PktsSent, info.PktsRecv = ctr.BytesSent, ctr.BytesRecv, ctr.PktsSent, ctr.PktsRecv
		info.TunnelEncryptionSuccess, info.TunnelEncryptionFailure = ctr.EncryptionSuccess, ctr.EncryptionFailure
		for _, p := range d.tun.PeerStats() {
			info.Peers++
			if p.Encrypted {
				info.EncryptedPeers++
			}
			if p.Authenticated {
				info.AuthenticatedPeers++
			}
			ep := ""
			if p.Endpoint.IsValid() {
				ep = p.Endpoint.String()
			}
			info.PeerList = append(info.PeerList, ipcmsg.InfoPeer{NodeID: p.Node, Endpoint: ep,
				Encrypted: p.Encrypted, Authenticated: p.Authenticated, Relay: p.Relay})
		}
	}
	if err := capInfo(&info, maxReplyBytes); err != nil {
		return info, ipc.Errorf(ipcmsg.CodeInternal, "info: %v", err)
	}
	return info, nil
}

// maxReplyBytes bounds the JSON of replies built from local tables (Info,
// the peers op) as MaxListBytes bounds the lists: daemon → client
// messages never exceed 1 MiB (ipc.md §2).
const maxReplyBytes = MaxListBytes

// capInfo keeps the Info JSON within budget bytes by listing fewer entries
// in peer_list and conn_list; every other key, the counts (connections,
// peers, …) included, stays exact. §6 defines a closed key set, so nothing
// marks the cut: a client sees it from connections > the active entries
// of conn_list, or peers > len(peer_list). When both lists do not fit,
// each gets at least half of the room; conn_list lists connections in
// SYN_SENT, SYN_RECV and ESTABLISHED before the others. The kept entries
// stay in their original order.
func capInfo(info *ipcmsg.NodeInfo, budget int) error {
	full, err := ipcmsg.EncodeJSON(*info)
	if err != nil || len(full) <= budget {
		return err
	}
	peers, conns := info.PeerList, info.ConnList
	info.PeerList, info.ConnList = []ipcmsg.InfoPeer{}, []ipcmsg.InfoConn{}
	base, err := ipcmsg.EncodeJSON(*info)
	if err != nil {
		return err
	}
	room := max(budget-len(base), 0)
	pSizes, pTotal, err := entrySizes(peers)
	if err != nil {
		return err
	}
	cSizes, cTotal, err := entrySizes(conns)
	if err != nil {
		return err
	}
	pRoom, cRoom := room/2, room-room/2
	switch {
	case pTotal <= pRoom:
		pRoom, cRoom = pTotal, room-pTotal
	case cTotal <= cRoom:
		pRoom, cRoom = room-cTotal, cTotal
	}
	info.PeerList = keepEntries(peers, pSizes, pRoom, nil)
	info.ConnList = keepEntries(conns, cSizes, cRoom, func(c ipcmsg.InfoConn) bool {
		switch c.State {
		case ipcmsg.StateSynSent, ipcmsg.StateSynRecv, ipcmsg.StateEstablished:
			return true
		}
		return false
	})
	return nil
}

// entrySizes returns what each entry adds to a JSON array (its encoding and
// one separator) and their sum.
func entrySizes[T any](entries []T) ([]int, int, error) {
	sizes := make([]int, len(entries))
	total := 0
	for i, e := range entries {
		b, err := ipcmsg.EncodeJSON(e)
		if err != nil {
			return nil, 0, err
		}
		sizes[i] = len(b) + 1
		total += sizes[i]
	}
	return sizes, total, nil
}

// keepEntries returns the entries that fit in room bytes (sizes from
// entrySizes), in their original order: those for which first is true are
// taken before the others (first nil = in order); it stops at the first
// entry that does not fit.
func keepEntries[T any](entries []T, sizes []int, room int, first func(T) bool) []T {
	keep := make([]bool, len(entries))
	used, full := 0, false
	take := func(pass bool) {
		for i, e := range entries {
			if full {
				return
			}
			if first != nil && first(e) != pass {
				continue
			}
			if used+sizes[i] > room {
				full = true
				return
			}
			keep[i] = true
			used += sizes[i]
		}
	}
	take(true)
	if first != nil {
		take(false)
	}
	out := make([]T, 0, len(entries))
	for i, e := range entries {
		if keep[i] {
			out = append(out, e)
		}
	}
	return out
}

// Health answers from local state only (ipc.md §5.19, §7).
func (c control) Health(context.Context) (ipcmsg.HealthReport, error) {
	d := c.d
	h := d.registrar.Health()
	rep := ipcmsg.HealthReport{
		Status: h.Status(d.now()), UptimeSeconds: d.uptimeSecs(), Registry: h.RegistryState(),
	}
	if !h.KeyExpiresAt.IsZero() {
		rep.KeyExpiresAt = h.KeyExpiresAt.UTC().Format("2006-01-02T15:04:05Z07:00")
	}
	if d.dp != nil {
		rep.Connections = d.dp.Stats().Connections
	}
	if d.tun != nil {
		ctr := d.tun.Counters()
		rep.BytesSent, rep.BytesRecv = ctr.BytesSent, ctr.BytesRecv
		rep.Peers = len(d.tun.PeerStats())
	}
	ws := d.webhook.Stats()
	rep.Webhook = ipcmsg.WebhookCounters{Configured: ws.Configured, Queued: uint64(max(ws.Queued, 0)),
		Delivered: ws.Delivered, Failed: ws.Failed, Dropped: ws.Dropped, LastEventID: ws.LastEventID}
	return rep, nil
}

// Handshake runs one trust sub-command through the trust manager
// (ipc.md §5.10, services.md §5.4).
func (c control) Handshake(ctx context.Context, m ipcmsg.Handshake) (json.RawMessage, error) {
	t := c.d.trust
	var (
		v   any
		err error
	)
	switch m.Sub {
	case ipcmsg.HandshakeRequest:
		v, err = t.Request(ctx, m.Node, m.Text)
	case ipcmsg.HandshakeApprove:
		v, err = t.Approve(ctx, m.Node)
		c.d.admission.Invalidate()
	case ipcmsg.HandshakeReject:
		v, err = t.Reject(ctx, m.Node, m.Text)
	case ipcmsg.HandshakeRevoke:
		v, err = t.Revoke(ctx, m.Node)
		c.d.admission.Invalidate()
	case ipcmsg.HandshakePending:
		v = t.Pending()
	case ipcmsg.HandshakeTrusted:
		v = t.Trusted()
	default:
		return nil, ipc.Errorf(ipcmsg.CodeInvalidArgument, "handshake: unknown sub-command 0x%02X", uint8(m.Sub))
	}
	if err != nil {
		code, _ := ipcmsg.CodeFromRegistry(string(trust.CodeOf(err)))
		return nil, &ipc.Error{Code: code, Text: err.Error()}
	}
	return ipcmsg.EncodeJSON(v)
}

// ResolveHostname sends a signed resolve_hostname (ipc.md §5.11).
func (c control) ResolveHostname(ctx context.Context, hostname string) (json.RawMessage, error) {
	const label = "resolve_hostname"
	if hostname == "" {
		return nil, ipc.Errorf(ipcmsg.CodeInvalidArgument, "%s: missing hostname", label)
	}
	self, err := c.self(label)
	if err != nil {
		return nil, err
	}
	return c.do(ctx, label, &regmsg.ResolveHostname{Hostname: hostname, RequesterID: self})
}

// SetHostname sends set_hostname and remembers the name for
// re-registration and Info (ipc.md §5.12).
func (c control) SetHostname(ctx context.Context, hostname string) (json.RawMessage, error) {
	const label = "set_hostname"
	self, err := c.self(label)
	if err != nil {
		return nil, err
	}
	body, err := c.do(ctx, label, &regmsg.SetHostname{NodeID: self, Hostname: hostname})
	if err != nil {
		return nil, err
	}
	c.d.registrar.SetHostname(hostname)
	return body, nil
}

// SetVisibility sends set_visibility; admission follows the new value at
// once (ipc.md §5.13).
func (c control) SetVisibility(ctx context.Context, public bool) (json.RawMessage, error) {
	const label = "set_visibility"
	self, err := c.self(label)
	if err != nil {
		return nil, err
	}
	body, err := c.do(ctx, label, &regmsg.SetVisibility{NodeID: self, Public: public})
	if err != nil {
		return nil, err
	}
	c.d.registrar.SetPublic(public)
	return body, nil
}

// Deregister sends deregister; the daemon registers again at its next
// heartbeat (ipc.md §5.14).
func (c control) Deregister(ctx context.Context) (json.RawMessage, error) {
	const label = "deregister"
	self, err := c.self(label)
	if err != nil {
		return nil, err
	}
	body, err := c.do(ctx, label, &regmsg.Deregister{NodeID: self})
	if err != nil {
		return nil, err
	}
	c.d.registrar.MarkDeregistered()
	return body, nil
}

// SetTags sends set_tags (ipc.md §5.15; at most MaxTags).
func (c control) SetTags(ctx context.Context, tags []string) (json.RawMessage, error) {
	const label = "set_tags"
	if len(tags) > MaxTags {
		return nil, ipc.Errorf(ipcmsg.CodeInvalidArgument, "%s: maximum %d tags allowed", label, MaxTags)
	}
	if tags == nil {
		tags = []string{}
	}
	self, err := c.self(label)
	if err != nil {
		return nil, err
	}
	return c.do(ctx, label, &regmsg.SetTags{NodeID: self, Tags: tags})
}

// SetTaskExec sends set_task_exec (ipc.md §5.17).
func (c control) SetTaskExec(ctx context.Context, enable bool) (json.RawMessage, error) {
	const label = "set_task_exec"
	self, err := c.self(label)
	if err != nil {
		return nil, err
	}
	return c.do(ctx, label, &regmsg.SetTaskExec{NodeID: self, Enabled: enable})
}

// SetWebhook validates and stores url, keeping the secret (ipc.md §5.16).
func (c control) SetWebhook(_ context.Context, url string) error {
	if err := c.d.webhook.SetURLKeepSecret(url); err != nil {
		return webhookError(err)
	}
	return nil
}

// Network runs one Network sub-command (ipc.md §5.18).
func (c control) Network(ctx context.Context, m ipcmsg.Network) (json.RawMessage, error) {
	label := "network " + m.Sub.Label()
	if m.Sub.Label() == "" {
		return nil, ipc.Errorf(ipcmsg.CodeInvalidArgument, "network: unknown sub-command 0x%02X", uint8(m.Sub))
	}
	self, err := c.self(label)
	if err != nil {
		return nil, err
	}
	tok := c.d.cfg.AdminToken
	switch m.Sub {
	case ipcmsg.NetworkList:
		return c.pages(ctx, label, "networks", "", tok, false, func(p regmsg.Page) regmsg.Request {
			return &regmsg.ListNetworks{NodeID: self, Page: p}
		}, nil)
	case ipcmsg.NetworkJoin:
		body, err := c.doLP(ctx, label, tok, false, func() regmsg.Request {
			return &regmsg.JoinNetwork{NodeID: self, NetworkID: m.Network, Token: m.Token}
		})
		if err == nil {
			c.d.membershipChanged(m.Network, true)
		}
		return body, err
	case ipcmsg.NetworkLeave:
		body, err := c.doLP(ctx, label, tok, false, func() regmsg.Request {
			return &regmsg.LeaveNetwork{NetworkRef: regmsg.NetworkRef{NodeID: self, NetworkID: m.Network}}
		})
		if err == nil {
			c.d.membershipChanged(m.Network, false)
		}
		return body, err
	case ipcmsg.NetworkMembers:
		return c.pages(ctx, label, "nodes", "", tok, m.Network == addr.Backbone, func(p regmsg.Page) regmsg.Request {
			return &regmsg.ListNodes{NodeID: self, NetworkID: m.Network, Page: p}
		}, nil)
	case ipcmsg.NetworkInvite:
		return c.doLP(ctx, label, tok, false, func() regmsg.Request {
			return &regmsg.InviteToNetwork{InviterID: self, NetworkID: m.Network, TargetNodeID: m.Node}
		})
	case ipcmsg.NetworkPollInvites:
		return c.pages(ctx, label, "invites", "", tok, false, func(p regmsg.Page) regmsg.Request {
			return &regmsg.PollInvites{NodeID: self, Page: p}
		}, nil)
	case ipcmsg.NetworkRespond:
		body, err := c.doLP(ctx, label, tok, false, func() regmsg.Request {
			return &regmsg.RespondInvite{NodeID: self, NetworkID: m.Network, Accept: m.Accept}
		})
		if err == nil && m.Accept {
			c.d.membershipChanged(m.Network, true)
		}
		return body, err
	}
	return nil, ipc.Errorf(ipcmsg.CodeInvalidArgument, "network: unknown sub-command 0x%02X", uint8(m.Sub))
}

// self returns our node ID, or unavailable before the first registration
// (cli.md §3.1: "IPC commands that need the registry answer unavailable").
func (c control) self(label string) (addr.NodeID, error) {
	n := c.d.registrar.NodeID()
	if n == 0 {
		return 0, ipc.Errorf(ipcmsg.CodeUnavailable,
			"%s: not registered with the registry yet\nhint: check that the registry is reachable", label)
	}
	return n, nil
}

// do sends a signed request and returns the registry's reply verbatim.
func (c control) do(ctx context.Context, label string, req regmsg.Request, opts ...regclient.CallOption) (json.RawMessage, error) {
	body, err := c.d.client.Do(ctx, req, opts...)
	if err != nil {
		return nil, registryError(label, err)
	}
	return json.RawMessage(body), nil
}

// doLP applies the least-privilege token rule of cli.md §4.4: signed and
// without a token first; one retry with tok after permission_denied. With
// tokenFirst the token (when there is one) is sent at once.
func (c control) doLP(ctx context.Context, label, tok string, tokenFirst bool, build func() regmsg.Request) (json.RawMessage, error) {
	body, _, err := c.doLPRaw(ctx, tok, tokenFirst, build)
	if err != nil {
		return nil, registryError(label, err)
	}
	return json.RawMessage(body), nil
}

// doLPRaw is doLP without the error conversion; usedToken reports whether
// the accepted request carried the token (later pages reuse it).
func (c control) doLPRaw(ctx context.Context, tok string, tokenFirst bool, build func() regmsg.Request) (body []byte, usedToken bool, err error) {
	if tokenFirst && tok != "" {
		body, err = c.d.client.Do(ctx, build(), regclient.WithAdminToken(tok))
		return body, true, err
	}
	body, err = c.d.client.Do(ctx, build())
	var re *regmsg.Error
	if err == nil || tok == "" || !errors.As(err, &re) || re.Code != regmsg.CodePermissionDenied {
		return body, false, err
	}
	c.d.log.Debug("registry refused without the admin token; retrying with it", "type", build().Type())
	body, err = c.d.client.Do(ctx, build(), regclient.WithAdminToken(tok))
	return body, true, err
}

// registryError converts a registry client error into the IPC error of
// ipc.md §4: the registry's code and message after the label, or
// unavailable (10) when the registry could not be reached (a transport
// failure, a closed registry client, a cancelled or expired request).
// Anything else did not come from an unreachable registry and is internal
// (1) with its own text: a local failure (writing identity.json.next, a
// request that cannot be encoded or signed) or a reply that violates the
// registry protocol. An empty label leaves the registry's message alone
// (RegistryOp).
func registryError(label string, err error) error {
	prefix := ""
	if label != "" {
		prefix = label + ": "
	}
	var re *regmsg.Error
	if errors.As(err, &re) {
		code, _ := ipcmsg.CodeFromRegistry(string(re.Code))
		return &ipc.Error{Code: code, Text: prefix + re.Message}
	}
	var ie *ipc.Error
	if errors.As(err, &ie) {
		return ie
	}
	switch {
	case !regclient.Unreachable(err):
	case errors.Is(err, context.Canceled):
		return &ipc.Error{Code: ipcmsg.CodeUnavailable, Text: prefix + "cancelled"}
	default:
		return &ipc.Error{Code: ipcmsg.CodeUnavailable, Text: fmt.Sprintf("%sregistry unreachable: %v", prefix, err)}
	}
	return &ipc.Error{Code: ipcmsg.CodeInternal, Text: prefix + err.Error()}
}

// webhookError converts an error of the webhook client (SetWebhook,
// RegistryOp webhook.set / webhook.clear): a URL or secret that is not
// acceptable is invalid_argument (2) with the validation text of
// ipc.md §5.16; failing to persist webhook.json or a closed client is
// internal (1).
func webhookError(err error) error {
	code := ipcmsg.CodeInternal
	if errors.Is(err, webhook.ErrInvalidURL) || errors.Is(err, whmsg.ErrSecret) {
		code = ipcmsg.CodeInvalidArgument
	}
	return &ipc.Error{Code: code, Text: err.Error()}
}

// membershipChanged records a membership change made through IPC and
// refreshes the admission and broadcast caches before the reply
// (ipc.md §5.18).
func (d *Daemon) membershipChanged(n addr.NetworkID, member bool) {
	d.Memberships().Note(n, member)
	d.admission.Invalidate()
	if d.dp != nil {
		d.dp.InvalidateMembers()
	}
}
