package registrye2e

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/identity"
	"github.com/pilot-go/pilot/internal/regclient"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
)

// The property test of §14 item 33: random operation sequences (seeded,
// bounded) across graceful and SIGKILL restarts; after every restart and
// every few operations the registry's state is read back and checked
// against the invariants of §6.3 and against a model the test keeps.
// Every operation's outcome (success or error code) is also predicted by
// the model from the rules of §6.4 and §7, so a divergence is caught at
// the operation that causes it.

type pNode struct {
	id      addr.NodeID
	key     *identity.Identity
	live    bool
	retired []*identity.Identity
}

type pNet struct {
	id      addr.NetworkID
	name    string
	rule    string
	token   string
	max     uint32
	members map[addr.NodeID]string // role
	deleted bool
}

type invKey struct {
	target addr.NodeID
	net    addr.NetworkID
}

type model struct {
	nodes   map[addr.NodeID]*pNode
	nets    map[addr.NetworkID]*pNet
	invites map[invKey]bool
	maxNode addr.NodeID
	maxNet  addr.NetworkID
	names   int
}

func (m *model) nodeList(liveOnly bool) []*pNode {
	var out []*pNode
	for _, id := range slices.Sorted(maps.Keys(m.nodes)) {
		if n := m.nodes[id]; n.live || !liveOnly {
			out = append(out, n)
		}
	}
	return out
}

func (m *model) netList() []*pNet {
	var out []*pNet
	for _, id := range slices.Sorted(maps.Keys(m.nets)) {
		out = append(out, m.nets[id])
	}
	return out
}

func (m *model) owns(n addr.NodeID) bool {
	for _, nw := range m.nets {
		if !nw.deleted && nw.members[n] == "owner" {
			return true
		}
	}
	return false
}

func (nw *pNet) full() bool { return nw.max > 0 && uint32(len(nw.members)) >= nw.max }

// propRun is one seeded run against one registry.
type propRun struct {
	t     *testing.T
	ctx   context.Context
	rng   *rand.Rand
	r     *reg
	c     *regclient.Client
	m     *model
	trace []string
}

func (p *propRun) fail(format string, args ...any) {
	p.t.Helper()
	tail := p.trace[max(0, len(p.trace)-15):]
	p.t.Fatalf("%s\nlast operations:\n  %s", fmt.Sprintf(format, args...), strings.Join(tail, "\n  "))
}

// expect sends req and compares the outcome with want ("" = success).
func (p *propRun) expect(desc string, want regmsg.Code, req regmsg.Request, out regmsg.Reply, opts ...regclient.CallOption) bool {
	p.t.Helper()
	err := p.c.Call(p.ctx, req, out, opts...)
	got := CodeOf(err)
	p.trace = append(p.trace, fmt.Sprintf("%s -> %q", desc, got))
	if err != nil && got == "" {
		p.fail("%s: %v", desc, err)
	}
	if got != want {
		p.fail("%s: got %q (%v), model predicts %q", desc, got, err, want)
	}
	return err == nil
}

func pick[T any](rng *rand.Rand, s []T) (T, bool) {
	var zero T
	if len(s) == 0 {
		return zero, false
	}
	return s[rng.IntN(len(s))], true
}

func (p *propRun) step() {
	m, rng := p.m, p.rng
	live := m.nodeList(true)
	all := m.nodeList(false)
	var nets []*pNet
	for _, nw := range m.netList() {
		if !nw.deleted || rng.IntN(8) == 0 {
			nets = append(nets, nw)
		}
	}
	n, haveNode := pick(rng, live)
	target, _ := pick(rng, all)
	nw, haveNet := pick(rng, nets)
	op := rng.IntN(100)
	switch {
	case op < 10 || len(live) < 3:
		p.register(nil)
	case op < 13 && haveNode:
		p.register(n) // re-register a live node: same ID
	case op < 16:
		if dead := slices.DeleteFunc(slices.Clone(all), func(x *pNode) bool { return x.live }); len(dead) > 0 {
			p.register(dead[rng.IntN(len(dead))]) // reclaimed identity
		}
	case op < 20 && haveNode:
		want := regmsg.Code("")
		if m.owns(n.id) {
			want = regmsg.CodeFailedPrecondition
		}
		if p.expect(fmt.Sprintf("deregister %d", n.id), want, &regmsg.Deregister{NodeID: n.id}, &regmsg.DeregisterOK{}, regclient.SignWith(n.key)) {
			n.live = false
			for _, x := range m.nets {
				delete(x.members, n.id)
			}
			for k := range m.invites {
				if k.target == n.id {
					delete(m.invites, k)
				}
			}
		}
	case op < 24 && haveNode:
		newKey, _ := identity.Generate(nil)
		var rep regmsg.RotateKeyOK
		req := &regmsg.RotateKey{NodeID: n.id, NewPublicKey: newKey.PublicKeyBase64()}
		if p.expect(fmt.Sprintf("rotate_key %d", n.id), "", req, &rep, regclient.SignWith(n.key), regclient.NewKey(newKey)) {
			n.retired = append(n.retired, n.key)
			n.key = newKey
		}
	case op < 32 && haveNode:
		if p.liveNets() < 6 {
			p.createNetwork(n)
		}
	case op < 45 && haveNode && haveNet:
		if rng.IntN(4) != 0 {
			nw = p.pickNet(nw, func(x *pNet) bool { return !x.deleted && x.rule != "invite" && x.members[n.id] == "" })
		}
		p.join(n, nw)
	case op < 52 && haveNode && haveNet:
		if rng.IntN(4) != 0 {
			nw = p.pickNet(nw, func(x *pNet) bool { return x.members[n.id] != "" })
		}
		want := regmsg.Code("")
		switch {
		case nw.deleted:
			want = regmsg.CodeNotFound
		case nw.members[n.id] == "owner":
			want = regmsg.CodeFailedPrecondition
		case nw.members[n.id] == "":
			want = regmsg.CodeNotFound
		}
		req := &regmsg.LeaveNetwork{NetworkRef: regmsg.NetworkRef{NodeID: n.id, NetworkID: nw.id}}
		if p.expect(fmt.Sprintf("leave %d %d", n.id, nw.id), want, req, &regmsg.LeaveNetworkOK{}, regclient.SignWith(n.key)) {
			delete(nw.members, n.id)
		}
	case op < 70 && haveNet:
		if rng.IntN(4) != 0 && !nw.deleted && len(nw.members) > 0 {
			ids := slices.Sorted(maps.Keys(nw.members))
			target = m.nodes[ids[rng.IntN(len(ids))]]
		}
		p.manage(nw, target)
	case op < 80 && haveNet:
		if rng.IntN(5) != 0 {
			nw = p.pickNet(nw, func(x *pNet) bool { return !x.deleted && x.rule == "invite" })
		}
		p.invite(nw, target)
	case op < 90 && haveNode:
		p.respondInvite(n)
	case op < 95 && haveNet:
		p.policy(nw)
	case op < 97:
		if rng.IntN(2) == 0 {
			p.trace = append(p.trace, "SIGKILL + restart")
			p.r.kill()
		} else {
			p.trace = append(p.trace, "graceful restart")
			p.r.restartGraceful()
		}
		p.check()
	}
}

func (p *propRun) liveNets() int {
	k := 0
	for _, nw := range p.m.nets {
		if !nw.deleted {
			k++
		}
	}
	return k
}

// pickNet returns a random network satisfying ok, or def when none does.
func (p *propRun) pickNet(def *pNet, ok func(*pNet) bool) *pNet {
	nets := slices.DeleteFunc(p.m.netList(), func(x *pNet) bool { return !ok(x) })
	if x, found := pick(p.rng, nets); found {
		return x
	}
	return def
}

func (p *propRun) register(n *pNode) {
	m := p.m
	if n == nil {
		id, _ := identity.Generate(nil)
		n = &pNode{key: id}
	}
	var rep regmsg.RegisterOK
	req := &regmsg.Register{PublicKey: n.key.PublicKeyBase64()}
	p.expect(fmt.Sprintf("register %d", n.id), "", req, &rep, regclient.SignWith(n.key))
	switch {
	case n.id == 0:
		if rep.NodeID <= m.maxNode || rep.NodeID < 4 {
			p.fail("register issued node ID %d; the largest issued so far is %d (IDs are never reused, ≥ 4)", rep.NodeID, m.maxNode)
		}
		n.id, n.live = rep.NodeID, true
		m.nodes[n.id], m.maxNode = n, n.id
	case rep.NodeID != n.id:
		p.fail("register of node %d's key returned node %d", n.id, rep.NodeID)
	default:
		n.live = true
	}
}

func (p *propRun) createNetwork(n *pNode) {
	m := p.m
	m.names++
	rule := []string{"open", "token", "invite"}[p.rng.IntN(3)]
	nw := &pNet{name: fmt.Sprintf("p-%d", m.names), rule: rule, members: map[addr.NodeID]string{n.id: "owner"}}
	req := &regmsg.CreateNetwork{NodeID: n.id, Name: nw.name, JoinRule: rule}
	if rule == "token" {
		nw.token = "join-" + nw.name
		req.Token = nw.token
	}
	var rep regmsg.CreateNetworkOK
	opts := []regclient.CallOption{tok(), regclient.SignWith(n.key)}
	if p.rng.IntN(2) == 0 {
		opts = []regclient.CallOption{tok(), regclient.Unsigned()} // operator override
	}
	p.expect(fmt.Sprintf("create_network %s %s by %d", nw.name, rule, n.id), "", req, &rep, opts...)
	if rep.NetworkID <= m.maxNet {
		p.fail("create_network issued network ID %d; the largest issued so far is %d (never reused)", rep.NetworkID, m.maxNet)
	}
	nw.id, m.maxNet = rep.NetworkID, rep.NetworkID
	m.nets[nw.id] = nw
}

func (p *propRun) join(n *pNode, nw *pNet) {
	token := nw.token
	if p.rng.IntN(4) == 0 {
		token = "wrong"
	}
	want := regmsg.Code("")
	switch {
	case nw.deleted:
		want = regmsg.CodeNotFound
	case nw.rule == "invite":
		want = regmsg.CodeFailedPrecondition
	case nw.rule == "token" && token != nw.token:
		want = regmsg.CodePermissionDenied
	case nw.members[n.id] != "":
		want = regmsg.CodeAlreadyExists
	case nw.full():
		want = regmsg.CodeResourceExhausted
	}
	req := &regmsg.JoinNetwork{NodeID: n.id, NetworkID: nw.id}
	if nw.rule == "token" {
		req.Token = token
	}
	var rep regmsg.JoinNetworkOK
	if p.expect(fmt.Sprintf("join %d %d (%s)", n.id, nw.id, nw.rule), want, req, &rep, regclient.SignWith(n.key)) {
		nw.members[n.id] = "member"
	}
}

// manage runs a token-authorized role operation on nw for target.
func (p *propRun) manage(nw *pNet, target *pNode) {
	if target == nil {
		return
	}
	role := nw.members[target.id]
	mt := regmsg.MemberTarget{NetworkID: nw.id, TargetNodeID: target.id}
	want := regmsg.Code("")
	notMember := func() bool {
		switch {
		case nw.deleted, role == "":
			want = regmsg.CodeNotFound
		case role == "owner":
			want = regmsg.CodeFailedPrecondition
		default:
			return false
		}
		return true
	}
	desc := func(op string) string { return fmt.Sprintf("%s %d in %d (role %q)", op, target.id, nw.id, role) }
	opts := []regclient.CallOption{regclient.Unsigned(), tok()}
	switch p.rng.IntN(6) {
	case 0, 1:
		notMember()
		if p.expect(desc("kick"), want, &regmsg.KickMember{MemberTarget: mt}, &regmsg.MemberOK{Op: regmsg.TypeKickMember}, opts...) {
			delete(nw.members, target.id)
		}
	case 2:
		if !notMember() && role == "admin" {
			want = regmsg.CodeAlreadyExists
		}
		if p.expect(desc("promote"), want, &regmsg.PromoteMember{MemberTarget: mt}, &regmsg.MemberOK{Op: regmsg.TypePromoteMember}, opts...) {
			nw.members[target.id] = "admin"
		}
	case 3:
		if !notMember() && role == "member" {
			want = regmsg.CodeAlreadyExists
		}
		if p.expect(desc("demote"), want, &regmsg.DemoteMember{MemberTarget: mt}, &regmsg.MemberOK{Op: regmsg.TypeDemoteMember}, opts...) {
			nw.members[target.id] = "member"
		}
	case 4:
		notMember()
		req := &regmsg.TransferOwnership{NetworkID: nw.id, NewOwnerID: target.id}
		if p.expect(desc("transfer_ownership to"), want, req, &regmsg.TransferOwnershipOK{}, opts...) {
			for id, r := range nw.members {
				if r == "owner" {
					nw.members[id] = "admin"
				}
			}
			nw.members[target.id] = "owner"
		}
	case 5:
		if nw.deleted {
			want = regmsg.CodeNotFound
		}
		req := &regmsg.DeleteNetwork{NetworkRef: regmsg.NetworkRef{NetworkID: nw.id}}
		if p.expect(fmt.Sprintf("delete %d", nw.id), want, req, &regmsg.DeleteNetworkOK{}, opts...) {
			nw.deleted = true
			nw.members = map[addr.NodeID]string{}
			for k := range p.m.invites {
				if k.net == nw.id {
					delete(p.m.invites, k)
				}
			}
		}
	}
}

func (p *propRun) invite(nw *pNet, target *pNode) {
	if target == nil {
		return
	}
	pending := 0
	for k := range p.m.invites {
		if k.target == target.id {
			pending++
		}
	}
	want, status := regmsg.Code(""), regmsg.InviteInvited
	switch {
	case nw.deleted:
		want = regmsg.CodeNotFound
	case nw.rule != "invite":
		want = regmsg.CodeFailedPrecondition
	case !target.live:
		want = regmsg.CodeNotFound
	case nw.members[target.id] != "":
		want = regmsg.CodeAlreadyExists
	case nw.full():
		want = regmsg.CodeResourceExhausted
	case p.m.invites[invKey{target.id, nw.id}]:
		status = regmsg.InviteAlreadyInvited
	case pending >= 100:
		want = regmsg.CodeResourceExhausted
	}
	var rep regmsg.InviteToNetworkOK
	req := &regmsg.InviteToNetwork{NetworkID: nw.id, TargetNodeID: target.id}
	if p.expect(fmt.Sprintf("invite %d to %d", target.id, nw.id), want, req, &rep, regclient.Unsigned(), tok()) {
		if rep.Status != status {
			p.fail("invite %d to %d: status %q, model predicts %q", target.id, nw.id, rep.Status, status)
		}
		p.m.invites[invKey{target.id, nw.id}] = true
	}
}

func (p *propRun) respondInvite(n *pNode) {
	var mine []addr.NetworkID
	for k := range p.m.invites {
		if k.target == n.id {
			mine = append(mine, k.net)
		}
	}
	slices.Sort(mine)
	net, ok := pick(p.rng, mine)
	if !ok || p.rng.IntN(5) == 0 {
		nw, ok := pick(p.rng, p.m.netList())
		if !ok {
			return
		}
		net = nw.id
	}
	accept := p.rng.IntN(4) != 0
	k := invKey{n.id, net}
	want := regmsg.Code("")
	switch {
	case !p.m.invites[k]:
		want = regmsg.CodeNotFound
	case accept && p.m.nets[net].full():
		want = regmsg.CodeResourceExhausted
	}
	var rep regmsg.RespondInviteOK
	req := &regmsg.RespondInvite{NodeID: n.id, NetworkID: net, Accept: accept}
	if p.expect(fmt.Sprintf("respond_invite %d %d accept=%v", n.id, net, accept), want, req, &rep, regclient.SignWith(n.key)) {
		delete(p.m.invites, k)
		if accept {
			p.m.nets[net].members[n.id] = "member"
		}
	}
}

func (p *propRun) policy(nw *pNet) {
	count := uint32(len(nw.members))
	v := []uint32{0, count, count + 1, max(count, 1) - 1, 2}[p.rng.IntN(5)]
	want := regmsg.Code("")
	switch {
	case nw.deleted:
		want = regmsg.CodeNotFound
	case v > 0 && v < count:
		want = regmsg.CodeFailedPrecondition
	}
	req := &regmsg.SetNetworkPolicy{NetworkID: nw.id, MaxMembers: &v}
	if p.expect(fmt.Sprintf("set_network_policy %d max_members=%d (members %d)", nw.id, v, count), want, req, &regmsg.SetNetworkPolicyOK{}, regclient.Unsigned(), tok()) {
		nw.max = v
	}
}

// check reads the registry's state back and checks §6.3 and the model.
func (p *propRun) check() {
	p.t.Helper()
	m, ctx, c := p.m, p.ctx, p.c
	ts := []regclient.CallOption{regclient.Unsigned(), tok()}
	entries, err := c.ListNetworksAll(ctx, true, 0, ts...)
	if err != nil {
		p.fail("list_networks all: %v", err)
	}
	got := map[addr.NetworkID]regmsg.NetworkEntry{}
	for _, e := range entries {
		got[e.ID] = e
	}
	// Invariant 5: the backbone exists as specified, and nobody can
	// change it, not even with the global token.
	if b, ok := got[0]; !ok || b.Name != "backbone" || b.JoinRule != "open" || b.MaxMembers != 0 || len(b.AllowedPorts) != 0 {
		p.fail("network 0: %+v (present %v)", b, ok)
	}
	p.backboneUntouchable()
	for id, e := range got {
		if id == 0 {
			continue
		}
		nw, ok := m.nets[id]
		if !ok || nw.deleted {
			p.fail("list_networks has network %d (%+v), which the model says does not exist", id, e)
		}
	}
	for _, nw := range m.netList() {
		e, ok := got[nw.id]
		if nw.deleted {
			continue
		}
		if !ok || e.Name != nw.name || e.JoinRule != nw.rule || e.MaxMembers != nw.max || e.Members != int64(len(nw.members)) {
			p.fail("network %d: registry %+v, model %+v", nw.id, e, *nw)
		}
		nodes, err := c.ListNodesAll(ctx, nw.id, 0, ts...)
		if err != nil {
			p.fail("list_nodes %d: %v", nw.id, err)
		}
		roles := map[addr.NodeID]string{}
		owners := 0
		for _, x := range nodes {
			roles[x.NodeID] = x.Role
			if x.Role == "owner" {
				owners++
			}
		}
		// Invariants 1-3.
		if owners != 1 || !maps.Equal(roles, nw.members) {
			p.fail("network %d: roles %v (%d owners), model %v", nw.id, roles, owners, nw.members)
		}
		if nw.max > 0 && uint32(len(roles)) > nw.max {
			p.fail("network %d: %d members over max_members %d", nw.id, len(roles), nw.max)
		}
	}
	// Invariant 5 (every registered node is on the backbone) and the
	// live node set.
	backbone, err := c.ListNodesAll(ctx, 0, 0, ts...)
	if err != nil {
		p.fail("list_nodes 0: %v", err)
	}
	var liveIDs, gotIDs []addr.NodeID
	for _, n := range m.nodeList(true) {
		liveIDs = append(liveIDs, n.id)
	}
	for _, x := range backbone {
		gotIDs = append(gotIDs, x.NodeID)
	}
	if !slices.Equal(liveIDs, gotIDs) {
		p.fail("backbone members %v, model's live nodes %v", gotIDs, liveIDs)
	}
	keys := map[string]addr.NodeID{}
	for _, n := range m.nodeList(true) {
		p.checkNode(n, keys)
	}
	p.checkRetired()
}

// checkNode checks one live node: its key (invariant 6), its memberships
// and its pending invites (invariant 4).
func (p *propRun) checkNode(n *pNode, keys map[string]addr.NodeID) {
	m, ctx, c := p.m, p.ctx, p.c
	var lk regmsg.LookupOK
	if err := c.Call(ctx, &regmsg.Lookup{NodeID: n.id}, &lk, regclient.Unsigned(), tok()); err != nil {
		p.fail("lookup %d: %v", n.id, err)
	}
	if lk.PublicKey != n.key.PublicKeyBase64() {
		p.fail("node %d: key %s, model %s", n.id, lk.PublicKey, n.key.PublicKeyBase64())
	}
	if other, dup := keys[lk.PublicKey]; dup {
		p.fail("key %s bound to nodes %d and %d", lk.PublicKey, other, n.id)
	}
	keys[lk.PublicKey] = n.id
	want := []addr.NetworkID{0}
	for _, nw := range m.netList() {
		if nw.members[n.id] != "" {
			want = append(want, nw.id)
		}
	}
	if !slices.Equal([]addr.NetworkID(lk.Networks), want) {
		p.fail("node %d: networks %v, model %v", n.id, lk.Networks, want)
	}
	var inv regmsg.PollInvitesOK
	if err := c.Call(ctx, &regmsg.PollInvites{NodeID: n.id, Page: regmsg.Page{Limit: 100}}, &inv, regclient.SignWith(n.key)); err != nil {
		p.fail("poll_invites %d: %v", n.id, err)
	}
	var gotInv, wantInv []addr.NetworkID
	for _, e := range inv.Invites {
		gotInv = append(gotInv, e.NetworkID)
	}
	for k := range m.invites {
		if k.target == n.id {
			wantInv = append(wantInv, k.net)
		}
	}
	slices.Sort(gotInv)
	slices.Sort(wantInv)
	if !slices.Equal(gotInv, wantInv) || len(gotInv) > 100 || inv.NextCursor != "" {
		p.fail("node %d: pending invites %v (next %q), model %v", n.id, gotInv, inv.NextCursor, wantInv)
	}
}

// checkRetired: a retired key is never accepted again (invariant 6).
func (p *propRun) checkRetired() {
	for _, n := range p.m.nodeList(false) {
		for _, old := range n.retired {
			req := &regmsg.Register{PublicKey: old.PublicKeyBase64()}
			err := p.c.Call(p.ctx, req, &regmsg.RegisterOK{}, regclient.SignWith(old))
			if CodeOf(err) != regmsg.CodeUnauthenticated {
				p.fail("register with node %d's retired key: %v, want unauthenticated", n.id, err)
			}
		}
	}
}

// backboneUntouchable: invariant 5 against the global token.
func (p *propRun) backboneUntouchable() {
	n, ok := pick(p.rng, p.m.nodeList(true))
	if !ok {
		return
	}
	ts := []regclient.CallOption{regclient.Unsigned(), tok()}
	reqs := []struct {
		req regmsg.Request
		out regmsg.Reply
	}{
		{&regmsg.RenameNetwork{NetworkID: 0, Name: "renamed"}, &regmsg.RenameNetworkOK{}},
		{&regmsg.DeleteNetwork{NetworkRef: regmsg.NetworkRef{NetworkID: 0}}, &regmsg.DeleteNetworkOK{}},
		{&regmsg.JoinNetwork{NodeID: n.id, NetworkID: 0}, &regmsg.JoinNetworkOK{}},
		{&regmsg.LeaveNetwork{NetworkRef: regmsg.NetworkRef{NodeID: n.id, NetworkID: 0}}, &regmsg.LeaveNetworkOK{}},
		{&regmsg.KickMember{MemberTarget: regmsg.MemberTarget{NetworkID: 0, TargetNodeID: n.id}}, &regmsg.MemberOK{Op: regmsg.TypeKickMember}},
	}
	for _, r := range reqs {
		if err := p.c.Call(p.ctx, r.req, r.out, ts...); CodeOf(err) != regmsg.CodeFailedPrecondition {
			p.fail("%s on network 0 with the global token: %v, want failed_precondition", r.req.Type(), err)
		}
	}
}

// TestInvariants_Item33_RandomOperationsAcrossRestarts is §14 item 33.
func TestInvariants_Item33_RandomOperationsAcrossRestarts(t *testing.T) {
	runs, ops := 2, 250
	if long() {
		runs, ops = 12, 600
	}
	base := seed(t) // replay one run with PILOT_SEED=<its seed>
	for i := range runs {
		seed := base + uint64(i)
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			r := startReg(t, "-rate-limit", "off")
			p := &propRun{t: t, ctx: testCtx(t), rng: rand.New(rand.NewPCG(seed, 33)), r: r, c: r.client(),
				m: &model{nodes: map[addr.NodeID]*pNode{}, nets: map[addr.NetworkID]*pNet{}, invites: map[invKey]bool{}}}
			for k := range ops {
				p.step()
				if k%40 == 39 {
					p.check()
				}
			}
			p.check()
			r.stopAndVerifyAudit()
			tally := map[string]int{}
			for _, e := range p.trace {
				op, _, _ := strings.Cut(e, " ")
				_, code, _ := strings.Cut(e, "-> ")
				tally[op+" "+code]++
			}
			t.Logf("%d steps, %d nodes, %d networks; outcomes: %v", ops, len(p.m.nodes), len(p.m.nets), tally)
		})
	}
}
