package trust

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/identity"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
	"github.com/pilot-go/pilot/internal/wire/svcmsg/handshake"
	whmsg "github.com/pilot-go/pilot/internal/wire/svcmsg/webhook"
)

// world is a registry plus a port-444 transport shared by several
// managers. Direct sends are delivered synchronously to the peer's
// HandleMessage with the sender as the stream's remote node.
type world struct {
	t   testing.TB
	now time.Time

	mu          sync.Mutex
	ids         map[addr.NodeID]*identity.Identity
	caps        map[addr.NodeID][]string
	approvals   map[[2]addr.NodeID]bool
	shared      map[[2]addr.NodeID][]addr.NetworkID
	inbox       map[addr.NodeID]*regmsg.PollHandshakesOK
	unreachable map[addr.NodeID]bool
	nodes       map[addr.NodeID]*node
	calls       []string // "<node> <op> <peer> [detail]"
	wire        []sent   // direct messages
}

type sent struct {
	from, to addr.NodeID
	raw      []byte
}

type node struct {
	id     addr.NodeID
	w      *world
	m      *Manager
	events *recorder
	down   []addr.NodeID // torn-down tunnels
}

func newWorld(t testing.TB) *world {
	return &world{
		t: t, now: time.Unix(1_774_606_503, 0),
		ids: map[addr.NodeID]*identity.Identity{}, caps: map[addr.NodeID][]string{},
		approvals: map[[2]addr.NodeID]bool{}, shared: map[[2]addr.NodeID][]addr.NetworkID{},
		inbox: map[addr.NodeID]*regmsg.PollHandshakesOK{}, unreachable: map[addr.NodeID]bool{},
		nodes: map[addr.NodeID]*node{},
	}
}

func (w *world) clock() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.now
}

// add creates node id with a manager; v2 sets the handshake-v2 capability.
func (w *world) add(id addr.NodeID, v2 bool, tweak func(*Config)) *node {
	w.t.Helper()
	ident, err := identity.Generate(nil)
	if err != nil {
		w.t.Fatal(err)
	}
	n := &node{id: id, w: w, events: &recorder{}}
	w.mu.Lock()
	w.ids[id] = ident
	if v2 {
		w.caps[id] = []string{"auth-v2", CapHandshakeV2, "secure-v2"}
	} else {
		w.caps[id] = []string{}
	}
	w.nodes[id] = n
	w.mu.Unlock()
	cfg := Config{
		Self:            func() addr.NodeID { return id },
		Identity:        func() *identity.Identity { return w.identity(id) },
		Registry:        &nodeRegistry{w: w, self: id},
		Sender:          &nodeSender{w: w, self: id},
		Tunnels:         n,
		Events:          n.events,
		Now:             w.clock,
		HandshakeCompat: true,
	}
	if tweak != nil {
		tweak(&cfg)
	}
	n.m, err = New(cfg)
	if err != nil {
		w.t.Fatal(err)
	}
	return n
}

func (w *world) identity(id addr.NodeID) *identity.Identity {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ids[id]
}

func (n *node) Teardown(peer addr.NodeID) {
	n.w.mu.Lock()
	n.down = append(n.down, peer)
	n.w.mu.Unlock()
}

func (w *world) record(format string, a ...any) {
	w.mu.Lock()
	w.calls = append(w.calls, fmt.Sprintf(format, a...))
	w.mu.Unlock()
}

func (w *world) called(call string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, c := range w.calls {
		if c == call {
			n++
		}
	}
	return n
}

func (w *world) pair(a, b addr.NodeID) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.approvals[[2]addr.NodeID{a, b}] && w.approvals[[2]addr.NodeID{b, a}]
}

func (w *world) share(a, b addr.NodeID, nets ...addr.NetworkID) {
	w.mu.Lock()
	w.shared[[2]addr.NodeID{a, b}] = nets
	w.shared[[2]addr.NodeID{b, a}] = nets
	w.mu.Unlock()
}

// messages returns the direct messages from → to, parsed.
func (w *world) messages(from, to addr.NodeID) []handshake.Message {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []handshake.Message
	for _, s := range w.wire {
		if s.from == from && s.to == to {
			m, err := handshake.Parse(s.raw)
			if err != nil {
				w.t.Errorf("sent an unparseable message: %v", err)
			}
			out = append(out, m)
		}
	}
	return out
}

type nodeSender struct {
	w    *world
	self addr.NodeID
}

func (s *nodeSender) SendHandshake(ctx context.Context, peer addr.NodeID, msg []byte) error {
	w := s.w
	w.mu.Lock()
	down := w.unreachable[peer]
	target := w.nodes[peer]
	if !down {
		w.wire = append(w.wire, sent{s.self, peer, slices.Clone(msg)})
	}
	w.mu.Unlock()
	if down || target == nil {
		return errors.New("dial timeout")
	}
	target.m.HandleMessage(ctx, s.self, msg)
	return nil
}

// nodeRegistry implements Registry for one node on the world's state.
type nodeRegistry struct {
	w    *world
	self addr.NodeID
}

func (r *nodeRegistry) ReportTrust(_ context.Context, peer addr.NodeID) (*regmsg.ReportTrustOK, error) {
	r.w.record("%d report_trust %d", r.self, peer)
	r.w.mu.Lock()
	r.w.approvals[[2]addr.NodeID{r.self, peer}] = true
	r.w.mu.Unlock()
	return &regmsg.ReportTrustOK{Trusted: r.w.pair(r.self, peer)}, nil
}

func (r *nodeRegistry) RevokeTrust(_ context.Context, peer addr.NodeID) (*regmsg.RevokeTrustOK, error) {
	r.w.record("%d revoke_trust %d", r.self, peer)
	r.w.mu.Lock()
	delete(r.w.approvals, [2]addr.NodeID{r.self, peer})
	delete(r.w.approvals, [2]addr.NodeID{peer, r.self})
	r.w.mu.Unlock()
	return &regmsg.RevokeTrustOK{Revoked: true}, nil
}

func (r *nodeRegistry) CheckTrust(_ context.Context, peer addr.NodeID) (*regmsg.CheckTrustOK, error) {
	r.w.record("%d check_trust %d", r.self, peer)
	pair := r.w.pair(r.self, peer)
	r.w.mu.Lock()
	nets := slices.Clone(r.w.shared[[2]addr.NodeID{r.self, peer}])
	r.w.mu.Unlock()
	return &regmsg.CheckTrustOK{Trusted: pair || len(nets) > 0, TrustPair: pair, SharedNetworks: nets}, nil
}

func (r *nodeRegistry) RequestHandshake(_ context.Context, to addr.NodeID, j string) (*regmsg.RequestHandshakeOK, error) {
	r.w.record("%d request_handshake %d", r.self, to)
	r.w.mu.Lock()
	defer r.w.mu.Unlock()
	if r.w.ids[to] == nil {
		return nil, &regmsg.Error{Code: regmsg.CodeNotFound, Message: fmt.Sprintf("node %d is not registered", to)}
	}
	r.w.approvals[[2]addr.NodeID{r.self, to}] = true
	in := r.w.inboxLocked(to)
	in.Requests = append(in.Requests, regmsg.HandshakeRequest{FromNodeID: r.self, Justification: j, Timestamp: r.w.now.Unix()})
	return &regmsg.RequestHandshakeOK{Status: regmsg.HandshakeDelivered}, nil
}

func (r *nodeRegistry) RespondHandshake(_ context.Context, peer addr.NodeID, accept bool) (*regmsg.RespondHandshakeOK, error) {
	r.w.record("%d respond_handshake %d %v", r.self, peer, accept)
	r.w.mu.Lock()
	defer r.w.mu.Unlock()
	if accept {
		r.w.approvals[[2]addr.NodeID{r.self, peer}] = true
	}
	in := r.w.inboxLocked(peer)
	in.Responses = append(in.Responses, regmsg.HandshakeResponse{FromNodeID: r.self, Accept: accept, Timestamp: r.w.now.Unix()})
	return &regmsg.RespondHandshakeOK{Accept: accept, PeerID: peer}, nil
}

func (w *world) inboxLocked(n addr.NodeID) *regmsg.PollHandshakesOK {
	if w.inbox[n] == nil {
		w.inbox[n] = &regmsg.PollHandshakesOK{}
	}
	return w.inbox[n]
}

func (r *nodeRegistry) PollHandshakes(context.Context, regmsg.Page) (*regmsg.PollHandshakesOK, error) {
	r.w.mu.Lock()
	defer r.w.mu.Unlock()
	in := r.w.inboxLocked(r.self)
	out := *in
	*in = regmsg.PollHandshakesOK{}
	return &out, nil
}

func (r *nodeRegistry) Lookup(_ context.Context, n addr.NodeID) (*regmsg.LookupOK, error) {
	r.w.mu.Lock()
	defer r.w.mu.Unlock()
	id, ok := r.w.ids[n]
	if !ok {
		return nil, &regmsg.Error{Code: regmsg.CodeNotFound, Message: "node not found"}
	}
	return &regmsg.LookupOK{NodeID: n, Address: addr.New(0, n), PublicKey: id.PublicKeyBase64(),
		Capabilities: slices.Clone(r.w.caps[n]), Networks: []addr.NetworkID{0}}, nil
}

// recorder keeps emitted events.
type recorder struct {
	mu     sync.Mutex
	events []recorded
}

type recorded struct {
	name string
	data whmsg.Fields
}

func (r *recorder) Emit(name string, data whmsg.Fields) {
	r.mu.Lock()
	r.events = append(r.events, recorded{name, data})
	r.mu.Unlock()
}

// names lists the events in order, with the reason when there is one.
func (r *recorder) names() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		s := e.name
		for _, f := range e.data {
			if f.Key == "reason" {
				s += ":" + fmt.Sprint(f.Value)
			}
		}
		out = append(out, s)
	}
	return out
}

func (r *recorder) reset() {
	r.mu.Lock()
	r.events = nil
	r.mu.Unlock()
}

func expectEvents(t *testing.T, n *node, want ...string) {
	t.Helper()
	got := n.events.names()
	if !slices.Equal(got, want) {
		t.Errorf("node %d events %q, want %q", n.id, got, want)
	}
	n.events.reset()
}

// craft builds a message from sender to receiver signed by key (v2 unless
// v1only; v1 signature added when withV1).
func craft(w *world, typ handshake.Type, sender, receiver addr.NodeID, key *identity.Identity, mutate func(*handshake.Message), v1only, withV1 bool) []byte {
	m := handshake.Message{Type: typ, NodeID: sender, PublicKey: key.PublicKeyBase64(),
		Timestamp: w.clock().Unix(), Nonce: identity.NewNonce(nil)}
	if typ == handshake.Request {
		m.Justification = "please"
	}
	if mutate != nil {
		mutate(&m)
	}
	if v1only || withV1 {
		m.Signature = key.SignBase64(handshake.V1String(m.NodeID, receiver))
	}
	if !v1only {
		m.SigV2 = key.SignBase64(handshake.V2String(&m, receiver))
	}
	b, err := m.Marshal()
	if err != nil {
		w.t.Fatal(err)
	}
	return b
}

func nodeID(v uint32) addr.NodeID { return addr.NodeID(v) }
