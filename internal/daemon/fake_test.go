package daemon

import (
	"context"
	"errors"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/identity"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
	whmsg "github.com/pilot-go/pilot/internal/wire/svcmsg/webhook"
)

// fakeRegistry is an in-memory registry reached over net.Pipe (so tests run
// inside testing/synctest bubbles). It implements the messages the control
// plane sends with the rules of registry.md that matter here: key→ID
// binding and retirement, not_found for unknown nodes, auth v2 signature
// checks by the node's current key, join rules and policy_epoch.
type fakeRegistry struct {
	t *testing.T

	mu         sync.Mutex
	down       bool
	conns      []net.Conn
	idByKey    map[string]addr.NodeID // key → node binding (survives deregister)
	keyOf      map[addr.NodeID]string // existing records: node → current key
	retired    map[string]bool
	nextID     addr.NodeID
	rotations  map[addr.NodeID]int64
	epoch      uint64
	networks   map[addr.NetworkID]*fakeNetwork
	adminToken string
	warnExpiry string                 // heartbeat key_expiry_warning with this key_expires_at
	loseRotate bool                   // apply rotate_key, then drop the connection without a reply
	expired    map[string]bool        // keys refused at register as expired (registry.md §7.1.1 decision 2)
	regDelay   time.Duration          // a register reply takes this long
	joinFail   map[addr.NetworkID]int // answer internal to this many joins first
	reqs       []regmsg.Request
}

type fakeNetwork struct {
	rule    string // open, token, invite
	token   string
	members map[addr.NodeID]bool
}

func newFakeRegistry(t *testing.T) *fakeRegistry {
	return &fakeRegistry{
		t: t, idByKey: map[string]addr.NodeID{}, keyOf: map[addr.NodeID]string{}, retired: map[string]bool{},
		nextID: 4, rotations: map[addr.NodeID]int64{}, epoch: 1, networks: map[addr.NetworkID]*fakeNetwork{},
		joinFail: map[addr.NetworkID]int{},
	}
}

func (f *fakeRegistry) addNetwork(id addr.NetworkID, rule, token string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.networks[id] = &fakeNetwork{rule: rule, token: token, members: map[addr.NodeID]bool{}}
}

// dial is the regclient Dialer.
func (f *fakeRegistry) dial(ctx context.Context, network, address string) (net.Conn, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return nil, errors.New("connection refused (fake registry down)")
	}
	client, server := net.Pipe()
	f.conns = append(f.conns, server)
	go f.serve(server)
	return client, nil
}

// setDown stops (true) or restarts (false) the registry; state survives, as
// with a persistent store.
func (f *fakeRegistry) setDown(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = down
	if down {
		for _, c := range f.conns {
			c.Close()
		}
		f.conns = nil
	}
}

func (f *fakeRegistry) serve(nc net.Conn) {
	defer nc.Close()
	for {
		body, err := regmsg.ReadFrame(nc, nil)
		if err != nil {
			return
		}
		var reply []byte
		drop := false
		req, err := regmsg.DecodeRequest(body)
		var re *regmsg.Error
		switch {
		case errors.As(err, &re):
			reply = regmsg.MarshalError(re) // as a registry answers a bad field
		case err != nil:
			f.t.Errorf("fake registry: invalid request %s: %v", body, err)
			return
		default:
			reply, drop = f.handle(req)
		}
		if drop {
			return
		}
		frame, err := regmsg.AppendFrame(nil, reply)
		if err != nil {
			f.t.Errorf("fake registry: %v", err)
			return
		}
		if _, err := nc.Write(frame); err != nil {
			return
		}
	}
}

func (f *fakeRegistry) requests(typ string) []regmsg.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []regmsg.Request
	for _, r := range f.reqs {
		if typ == "" || r.Type() == typ {
			out = append(out, r)
		}
	}
	return out
}

func ok(t *testing.T, r regmsg.Reply) []byte {
	b, err := regmsg.MarshalReply(r)
	if err != nil {
		t.Errorf("fake registry: %v", err)
	}
	return b
}

func fail(code regmsg.Code, msg string) []byte {
	return regmsg.MarshalError(&regmsg.Error{Code: code, Message: msg})
}

// checkSig verifies the auth v2 signature of a node-signed request with the
// node's current key; "" when fine, else the error reply.
func (f *fakeRegistry) checkSigLocked(req regmsg.Request) []byte {
	signer := req.Signer()
	if signer == 0 {
		return nil
	}
	key, exists := f.keyOf[signer]
	if !exists {
		return fail(regmsg.CodeNotFound, "node is not registered")
	}
	a := req.AuthFields()
	if a.Signature == nil {
		return fail(regmsg.CodeUnauthenticated, "missing signature")
	}
	pub, _ := identity.ParsePublicKey(key)
	sig, err := identity.ParseSignature(*a.Signature)
	if err != nil || !identity.Verify(pub, regmsg.CanonicalV2(req), sig) {
		return fail(regmsg.CodeUnauthenticated, "signature does not verify")
	}
	return nil
}

func (f *fakeRegistry) handle(req regmsg.Request) (reply []byte, drop bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs = append(f.reqs, req)
	if _, isReg := req.(*regmsg.Register); !isReg {
		if e := f.checkSigLocked(req); e != nil {
			return e, false
		}
	}
	t := f.t
	switch r := req.(type) {
	case *regmsg.Register:
		if f.retired[r.PublicKey] {
			return fail(regmsg.CodeUnauthenticated, regmsg.KeyReplaced+" on 2026-05-01T00:00:00Z"), false
		}
		if f.regDelay > 0 {
			f.mu.Unlock()
			time.Sleep(f.regDelay)
			f.mu.Lock()
		}
		if f.expired[r.PublicKey] {
			return fail(regmsg.CodeUnauthenticated, "node 4: key expired at 2026-05-01T00:00:00Z; ask an admin to re-key the node"), false
		}
		id, known := f.idByKey[r.PublicKey]
		if !known {
			id = f.nextID
			f.nextID++
			f.idByKey[r.PublicKey] = id
		}
		f.keyOf[id] = r.PublicKey
		return ok(t, &regmsg.RegisterOK{NodeID: id, Address: addr.New(0, id), PublicKey: r.PublicKey,
			ObservedAddr: "203.0.113.7:4000", ProtocolVersion: 1, AuthVersions: []string{"v2"},
			RegistryVersion: "fake", HeartbeatIntervalS: 30, PolicyEpoch: f.epoch}), false
	case *regmsg.Heartbeat:
		hb := &regmsg.HeartbeatOK{Time: time.Now().Unix(), PolicyEpoch: f.epoch}
		if f.warnExpiry != "" {
			hb.KeyExpiryWarning, hb.KeyExpiresAt = true, f.warnExpiry
		}
		return ok(t, hb), false
	case *regmsg.Lookup:
		key, exists := f.keyOf[r.NodeID]
		if !exists {
			return fail(regmsg.CodeNotFound, "node not found"), false
		}
		nets := []addr.NetworkID{0}
		for id, n := range f.networks {
			if n.members[r.NodeID] {
				nets = append(nets, id)
			}
		}
		slices.Sort(nets)
		return ok(t, &regmsg.LookupOK{NodeID: r.NodeID, Address: addr.New(0, r.NodeID), PublicKey: key,
			Capabilities: Capabilities, Networks: nets}), false
	case *regmsg.GetKeyInfo:
		if _, exists := f.keyOf[r.NodeID]; !exists {
			return fail(regmsg.CodeNotFound, "node not found"), false
		}
		return ok(t, &regmsg.GetKeyInfoOK{NodeID: r.NodeID, CreatedAt: "2000-01-01T00:00:00Z",
			RotateCount: f.rotations[r.NodeID], ExpiresAt: f.warnExpiry}), false
	case *regmsg.SetVisibility:
		return ok(t, &regmsg.SetVisibilityOK{NodeID: r.NodeID, Visibility: "public"}), false
	case *regmsg.RotateKey:
		if _, bound := f.idByKey[r.NewPublicKey]; bound || f.retired[r.NewPublicKey] {
			return fail(regmsg.CodeAlreadyExists, "key in use"), false
		}
		old := f.keyOf[r.NodeID]
		f.retired[old] = true
		delete(f.idByKey, old)
		f.idByKey[r.NewPublicKey] = r.NodeID
		f.keyOf[r.NodeID] = r.NewPublicKey
		f.rotations[r.NodeID]++
		if f.loseRotate {
			return nil, true
		}
		return ok(t, &regmsg.RotateKeyOK{NodeID: r.NodeID, Address: addr.New(0, r.NodeID), PublicKey: r.NewPublicKey,
			RotateCount: f.rotations[r.NodeID], RotatedAt: "2000-01-01T00:00:00Z"}), false
	case *regmsg.JoinNetwork:
		n := f.networks[r.NetworkID]
		if f.joinFail[r.NetworkID] > 0 {
			f.joinFail[r.NetworkID]--
			return fail(regmsg.CodeInternal, "database is busy"), false
		}
		switch {
		case n == nil:
			return fail(regmsg.CodeNotFound, "network not found"), false
		case n.rule == "invite":
			return fail(regmsg.CodeFailedPrecondition, "network is invite-only"), false
		case n.rule == "token" && r.Token != n.token && !(r.HasAdminToken() && *r.AdminToken == f.adminToken):
			return fail(regmsg.CodePermissionDenied, "invalid join token"), false
		case n.members[r.NodeID]:
			return fail(regmsg.CodeAlreadyExists, "already a member"), false
		}
		n.members[r.NodeID] = true
		f.epoch++
		return ok(t, &regmsg.JoinNetworkOK{NetworkID: r.NetworkID, Address: addr.New(r.NetworkID, r.NodeID), Role: "member"}), false
	case *regmsg.PollHandshakes:
		return ok(t, &regmsg.PollHandshakesOK{}), false
	}
	return fail(regmsg.CodeInternal, "fake registry: "+req.Type()+" not implemented"), false
}

// forget drops a node's record (deregistration or a wiped store entry): the
// key stays bound to the ID, as with a tombstone.
func (f *fakeRegistry) forget(id addr.NodeID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.keyOf, id)
	for _, n := range f.networks {
		delete(n.members, id)
	}
}

// recorder is an Emitter that keeps every event.
type recorder struct {
	mu     sync.Mutex
	events []event
}

type event struct {
	name string
	data whmsg.Fields
}

func (r *recorder) Emit(name string, data whmsg.Fields) {
	r.mu.Lock()
	r.events = append(r.events, event{name, data})
	r.mu.Unlock()
}

func (r *recorder) named(name string) []event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []event
	for _, e := range r.events {
		if e.name == name {
			out = append(out, e)
		}
	}
	return out
}

func (e event) field(k string) any {
	for _, f := range e.data {
		if f.Key == k {
			return f.Value
		}
	}
	return nil
}
