package registrye2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/identity"
	"github.com/pilot-go/pilot/internal/regclient"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
)

// ackKind is a kind of acknowledged mutation the crash test records. Every
// kind is monotonic in this test (nothing undoes it), so a fact verified
// once must stay true for the rest of the run.
type ackKind int

const (
	ackRegister ackKind = iota // node registered with key
	ackHostname                // node has hostname
	ackTags                    // node has tags
	ackPublic                  // node is public
	ackNetwork                 // network exists with name, rule, owner = creator
	ackJoin                    // node is a member of network
	ackTrust                   // node approved peer (report_trust)
	ackInvite                  // a pending invite of network for node
)

func (k ackKind) String() string {
	return [...]string{"register", "set_hostname", "set_tags", "set_visibility", "create_network",
		"join_network", "report_trust", "invite_to_network"}[k]
}

type ack struct {
	kind ackKind
	node Node // the subject (register, attributes, join, trust, invite target)
	peer Node // report_trust's peer
	net  addr.NetworkID
	name string   // hostname or network name
	rule string   // join rule
	tags []string // tags
}

func (a ack) String() string {
	return fmt.Sprintf("%s(node %d peer %d net %d %q %q %v)", a.kind, a.node.ID, a.peer.ID, a.net, a.name, a.rule, a.tags)
}

// crashWorld is the state shared by the crash test's workers: every
// acknowledged mutation, and what the workers can pick from.
type crashWorld struct {
	mu       sync.Mutex
	acks     []ack
	nodes    []Node
	openNets []addr.NetworkID
	invites  map[addr.NodeID]int // pending invites per target
}

func (w *crashWorld) record(a ack) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.acks = append(w.acks, a)
	switch a.kind {
	case ackRegister:
		w.nodes = append(w.nodes, a.node)
	case ackNetwork:
		if a.rule == "open" {
			w.openNets = append(w.openNets, a.net)
		}
	case ackInvite:
		w.invites[a.node.ID]++
	}
}

func (w *crashWorld) pickNode(rng *rand.Rand, not addr.NodeID) (Node, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for range 4 {
		if len(w.nodes) == 0 {
			return Node{}, false
		}
		n := w.nodes[rng.IntN(len(w.nodes))]
		if n.ID != not && w.invites[n.ID] < 50 {
			return n, true
		}
	}
	return Node{}, false
}

func (w *crashWorld) pickOpenNet(rng *rand.Rand) (addr.NetworkID, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.openNets) == 0 {
		return 0, false
	}
	return w.openNets[rng.IntN(len(w.openNets))], true
}

// crashNode is a worker's own node and the set-once mutations done on it.
type crashNode struct {
	Node
	hostname, tags, public bool
	joined                 map[addr.NetworkID]bool
	inviteNets             []addr.NetworkID // invite-only networks it created
	invited                map[[2]uint32]bool
}

// crashWorker performs acknowledged mutations of every kind, one at a
// time, and records each success. A transport failure leaves the outcome
// unknown: nothing is recorded and a set-once mutation is tried again
// later (they are idempotent, or answer already_exists when done).
type crashWorker struct {
	t       *testing.T
	w       int
	rng     *rand.Rand
	keys    *rand.ChaCha8
	c       *regclient.Client
	world   *crashWorld
	nodes   []*crashNode
	pending *identity.Identity // a register whose outcome is unknown
	netSeq  int
}

func (cw *crashWorker) run(ctx context.Context) {
	for ctx.Err() == nil {
		cw.step(ctx)
	}
}

func (cw *crashWorker) step(ctx context.Context) {
	if len(cw.nodes) < 2 || cw.pending != nil || cw.rng.IntN(100) < 20 {
		cw.register(ctx)
		return
	}
	n := cw.nodes[cw.rng.IntN(len(cw.nodes))]
	switch p := cw.rng.IntN(100); {
	case p < 15 && !n.hostname:
		name := fmt.Sprintf("h-%d", n.ID)
		var rep regmsg.SetHostnameOK
		if cw.ok(ctx, &regmsg.SetHostname{NodeID: n.ID, Hostname: name}, &rep, n.Key, "") {
			n.hostname = true
			cw.world.record(ack{kind: ackHostname, node: n.Node, name: name})
		}
	case p < 25 && !n.tags:
		tags := []string{"crash", fmt.Sprintf("w%d", cw.w)}
		var rep regmsg.SetTagsOK
		if cw.ok(ctx, &regmsg.SetTags{NodeID: n.ID, Tags: tags}, &rep, n.Key, "") {
			n.tags = true
			cw.world.record(ack{kind: ackTags, node: n.Node, tags: tags})
		}
	case p < 35 && !n.public:
		var rep regmsg.SetVisibilityOK
		if cw.ok(ctx, &regmsg.SetVisibility{NodeID: n.ID, Public: true}, &rep, n.Key, "") {
			n.public = true
			cw.world.record(ack{kind: ackPublic, node: n.Node})
		}
	case p < 45:
		cw.netSeq++
		rule := "open"
		if cw.rng.IntN(2) == 0 {
			rule = "invite"
		}
		name := fmt.Sprintf("c-w%d-%d", cw.w, cw.netSeq)
		var rep regmsg.CreateNetworkOK
		req := &regmsg.CreateNetwork{NodeID: n.ID, Name: name, JoinRule: rule}
		if cw.ok(ctx, req, &rep, n.Key, adminToken) {
			if rep.OwnerNodeID != n.ID || rep.Name != name || rep.JoinRule != rule {
				cw.t.Errorf("create_network_ok %+v for %s by node %d", rep, name, n.ID)
			}
			n.joined[rep.NetworkID] = true
			if rule == "invite" {
				n.inviteNets = append(n.inviteNets, rep.NetworkID)
			}
			cw.world.record(ack{kind: ackNetwork, node: n.Node, net: rep.NetworkID, name: name, rule: rule})
		}
	case p < 65:
		net, ok := cw.world.pickOpenNet(cw.rng)
		if !ok || n.joined[net] {
			return
		}
		var rep regmsg.JoinNetworkOK
		req := &regmsg.JoinNetwork{NodeID: n.ID, NetworkID: net}
		if cw.ok(ctx, req, &rep, n.Key, "", regmsg.CodeAlreadyExists) {
			n.joined[net] = true
			cw.world.record(ack{kind: ackJoin, node: n.Node, net: net})
		}
	case p < 80:
		peer, ok := cw.world.pickNode(cw.rng, n.ID)
		if !ok {
			return
		}
		var rep regmsg.ReportTrustOK
		req := &regmsg.ReportTrust{TrustPair: regmsg.TrustPair{NodeID: n.ID, PeerID: peer.ID}}
		if cw.ok(ctx, req, &rep, n.Key, "") {
			cw.world.record(ack{kind: ackTrust, node: n.Node, peer: peer})
		}
	default:
		// The inviter is one of this worker's owners of an invite-only
		// network.
		for i := range cw.nodes {
			if m := cw.nodes[(i+int(n.ID))%len(cw.nodes)]; len(m.inviteNets) > 0 {
				n = m
				break
			}
		}
		if len(n.inviteNets) == 0 {
			return
		}
		net := n.inviteNets[cw.rng.IntN(len(n.inviteNets))]
		target, ok := cw.world.pickNode(cw.rng, n.ID)
		if !ok || n.invited[[2]uint32{uint32(net), uint32(target.ID)}] {
			return
		}
		var rep regmsg.InviteToNetworkOK
		req := &regmsg.InviteToNetwork{InviterID: n.ID, NetworkID: net, TargetNodeID: target.ID}
		if cw.ok(ctx, req, &rep, n.Key, "") {
			n.invited[[2]uint32{uint32(net), uint32(target.ID)}] = true
			cw.world.record(ack{kind: ackInvite, node: target, net: net})
		}
	}
}

func (cw *crashWorker) register(ctx context.Context) {
	id := cw.pending
	if id == nil {
		var err error
		if id, err = identity.Generate(cw.keys); err != nil {
			cw.t.Error(err)
			return
		}
	}
	var rep regmsg.RegisterOK
	req := &regmsg.Register{PublicKey: id.PublicKeyBase64()}
	if !cw.ok(ctx, req, &rep, id, "") {
		cw.pending = id
		return
	}
	cw.pending = nil
	n := &crashNode{Node: Node{ID: rep.NodeID, Key: id}, joined: map[addr.NetworkID]bool{},
		invited: map[[2]uint32]bool{}}
	cw.nodes = append(cw.nodes, n)
	cw.world.record(ack{kind: ackRegister, node: n.Node})
}

// ok sends req signed by key (and with token when non-empty) and reports
// whether it was acknowledged. Codes in also count as acknowledged (the
// fact holds). Transport failures are unknown outcomes; any other error
// fails the test.
func (cw *crashWorker) ok(ctx context.Context, req regmsg.Request, out regmsg.Reply, key *identity.Identity, token string, also ...regmsg.Code) bool {
	opts := []regclient.CallOption{regclient.SignWith(key)}
	if token != "" {
		opts = append(opts, regclient.WithAdminToken(token))
	}
	err := cw.c.Call(ctx, req, out, opts...)
	switch {
	case err == nil:
		return true
	case slices.Contains(also, CodeOf(err)):
		return true
	case IsTransport(err) || ctx.Err() != nil:
		return false
	case req.Type() == regmsg.TypeCreateNetwork && CodeOf(err) == regmsg.CodeAlreadyExists:
		// regclient resent the request after a lost reply and the first
		// attempt had created the network: the outcome is known to the
		// registry only, as for a transport failure.
		return false
	}
	cw.t.Errorf("worker %d: %s: %v", cw.w, req.Type(), err)
	return false
}

// verifyAcks checks that every fact in acks holds in the running registry.
// The registry serves the frames of one connection one at a time, so the
// checks are spread over several clients (connections).
func verifyAcks(t *testing.T, cs []*regclient.Client, acks []ack) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := cs[0]
	nets := map[addr.NetworkID]regmsg.NetworkEntry{}
	if slices.ContainsFunc(acks, func(a ack) bool { return a.kind == ackNetwork }) {
		all, err := c.ListNetworksAll(ctx, true, 1<<20, regclient.Unsigned(), tok())
		if err != nil {
			t.Fatalf("list_networks all: %v", err)
		}
		for _, e := range all {
			nets[e.ID] = e
		}
	}
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for i, a := range acks {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := checkAck(ctx, cs[i%len(cs)], a, nets); err != nil {
				t.Errorf("acknowledged %v lost: %v", a, err)
			}
		}()
	}
	wg.Wait()
}

func checkAck(ctx context.Context, c *regclient.Client, a ack, nets map[addr.NetworkID]regmsg.NetworkEntry) error {
	lookup := func() (*regmsg.LookupOK, error) {
		var rep regmsg.LookupOK
		err := c.Call(ctx, &regmsg.Lookup{NodeID: a.node.ID}, &rep, regclient.Unsigned(), tok())
		return &rep, err
	}
	role := func(net addr.NetworkID, node addr.NodeID) (string, error) {
		rep := regmsg.MemberOK{Op: regmsg.TypeGetMemberRole}
		req := &regmsg.GetMemberRole{MemberTarget: regmsg.MemberTarget{NetworkID: net, TargetNodeID: node}}
		err := c.Call(ctx, req, &rep, regclient.Unsigned(), tok())
		return rep.Role, err
	}
	switch a.kind {
	case ackRegister, ackHostname, ackTags, ackPublic:
		rep, err := lookup()
		switch {
		case err != nil:
			return err
		case rep.PublicKey != a.node.Key.PublicKeyBase64():
			return fmt.Errorf("public_key %s", rep.PublicKey)
		case a.kind == ackHostname && rep.Hostname != a.name:
			return fmt.Errorf("hostname %q", rep.Hostname)
		case a.kind == ackTags && !slices.Equal(rep.Tags, a.tags):
			return fmt.Errorf("tags %q", rep.Tags)
		case a.kind == ackPublic && !rep.Public:
			return fmt.Errorf("not public")
		}
	case ackNetwork:
		e, ok := nets[a.net]
		if !ok || e.Name != a.name || e.JoinRule != a.rule {
			return fmt.Errorf("list_networks entry %+v (present %v)", e, ok)
		}
		r, err := role(a.net, a.node.ID)
		if err != nil || r != "owner" {
			return fmt.Errorf("creator role %q, %v", r, err)
		}
	case ackJoin:
		r, err := role(a.net, a.node.ID)
		if err != nil || r != "member" {
			return fmt.Errorf("role %q, %v", r, err)
		}
	case ackTrust:
		// The reverse approval completes the pair exactly when the
		// acknowledged approval node→peer is stored.
		var rep regmsg.ReportTrustOK
		req := &regmsg.ReportTrust{TrustPair: regmsg.TrustPair{NodeID: a.peer.ID, PeerID: a.node.ID}}
		if err := c.Call(ctx, req, &rep, regclient.SignWith(a.peer.Key)); err != nil {
			return err
		}
		if !rep.Trusted {
			return fmt.Errorf("reverse report_trust says no pair: approval %d→%d missing", a.node.ID, a.peer.ID)
		}
	case ackInvite:
		var rep regmsg.PollInvitesOK
		req := &regmsg.PollInvites{NodeID: a.node.ID, Page: regmsg.Page{Limit: 100}}
		if err := c.Call(ctx, req, &rep, regclient.SignWith(a.node.Key)); err != nil {
			return err
		}
		if !slices.ContainsFunc(rep.Invites, func(e regmsg.InviteEntry) bool { return e.NetworkID == a.net }) {
			return fmt.Errorf("poll_invites %+v", rep.Invites)
		}
	}
	return nil
}

// TestStore_Item70_AcknowledgedMutationsSurviveSIGKILL is registry.md
// §13.2 guarantee 2 and §14 item 70: concurrent clients perform
// acknowledged mutations of eight kinds while the registry is SIGKILLed at
// seeded random moments (≥ 20 times) and restarted on the same data
// directory; after each restart every mutation acknowledged before the
// kill is present, IDs are never reused, and `audit verify` passes.
func TestStore_Item70_AcknowledgedMutationsSurviveSIGKILL(t *testing.T) {
	kills, workers := 20, 6
	if long() {
		kills, workers = 100, 8
	}
	seed := seed(t)
	t.Logf("seed %d (kills %d, workers %d); replay with PILOT_SEED=%d", seed, kills, workers, seed)
	rng := rand.New(rand.NewPCG(seed, 70))
	r := startReg(t, "-rate-limit", "off")
	world := &crashWorld{invites: map[addr.NodeID]int{}}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for w := range workers {
		cw := &crashWorker{t: t, w: w, rng: rand.New(rand.NewPCG(seed, uint64(w))),
			keys: rand.NewChaCha8([32]byte{byte(w), byte(seed), byte(seed >> 8), byte(seed >> 16)}),
			c:    r.client(), world: world}
		wg.Add(1)
		go func() { defer wg.Done(); cw.run(ctx) }()
	}
	var verifiers []*regclient.Client
	for range 4 {
		verifiers = append(verifiers, r.client())
	}

	verified := 0
	start := time.Now()
	for k := range kills {
		timer := time.NewTimer(time.Duration(100+rng.IntN(900)) * time.Millisecond)
		<-timer.C
		r.proc.Kill()
		world.mu.Lock()
		batch := slices.Clone(world.acks[verified:])
		world.mu.Unlock()
		r.restart()
		verifyAcks(t, verifiers, batch)
		verified += len(batch)
		if t.Failed() {
			t.Fatalf("after kill %d", k+1)
		}
	}
	cancel()
	wg.Wait()
	// One last crash, then every acknowledged fact of the whole run.
	r.kill()
	world.mu.Lock()
	all := slices.Clone(world.acks)
	world.mu.Unlock()
	verifyAcks(t, verifiers, all)

	counts := map[ackKind]int{}
	ids := map[addr.NodeID]string{}
	netIDs := map[addr.NetworkID]bool{}
	for _, a := range all {
		counts[a.kind]++
		switch a.kind {
		case ackRegister:
			if k, dup := ids[a.node.ID]; dup && k != a.node.Key.PublicKeyBase64() {
				t.Errorf("node ID %d issued to two keys", a.node.ID)
			}
			ids[a.node.ID] = a.node.Key.PublicKeyBase64()
		case ackNetwork:
			if netIDs[a.net] {
				t.Errorf("network ID %d issued twice", a.net)
			}
			netIDs[a.net] = true
		}
	}
	t.Logf("%d kills in %v; %d acknowledged mutations verified: %v", kills, time.Since(start).Round(time.Millisecond), len(all), counts)
	for k := ackRegister; k <= ackInvite; k++ {
		if counts[k] == 0 {
			t.Errorf("no acknowledged %s in the run: the test did not exercise it", k)
		}
	}
	r.stopAndVerifyAudit()
}
