package handlers

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/registry/store"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
)

const netToken = "network-admin-token-0123"

// matrixEnv: network N (invite-only, with a network admin token) with
// owner O, admins A and A2, members M and M2, and non-member X.
type matrixEnv struct {
	*env
	O, A, A2, M, M2, X, T *node
	N                     addr.NetworkID
}

func (e *env) invite(nw addr.NetworkID, n *node) {
	e.t.Helper()
	e.ok(e.send(tok(&regmsg.InviteToNetwork{NetworkID: nw, TargetNodeID: n.ID}, globalToken)), "invite_to_network")
	e.ok(e.signed(&regmsg.RespondInvite{NodeID: n.ID, NetworkID: nw, Accept: true}, n.id), "respond_invite")
}

// matrixTemplate builds the matrix state once and keeps its closed store
// directory; newMatrix copies it for every cell.
func matrixTemplate(t *testing.T) *matrixEnv {
	tmpl := buildMatrix(t)
	if err := tmpl.st.Close(); err != nil {
		t.Fatal(err)
	}
	return tmpl
}

// newMatrix returns a fresh copy of the template's state.
func newMatrix(t *testing.T, tm *matrixEnv) *matrixEnv {
	e := newEnv(t, func(e *env) { e.template = tm.dir; e.clk.t = tm.clk.Now() })
	m := *tm
	m.env = e
	return &m
}

func buildMatrix(t *testing.T) *matrixEnv {
	e := newEnv(t)
	m := &matrixEnv{env: e, O: e.register(), A: e.register(), A2: e.register(), M: e.register(), M2: e.register(), X: e.register(), T: e.register()}
	m.N = e.network(m.O, "matrix", "invite", func(r *regmsg.CreateNetwork) { r.NetworkAdminToken = netToken })
	for _, n := range []*node{m.A, m.A2, m.M, m.M2} {
		e.invite(m.N, n)
	}
	for _, n := range []*node{m.A, m.A2} {
		e.ok(e.signed(&regmsg.PromoteMember{MemberTarget: regmsg.MemberTarget{NodeID: m.O.ID, NetworkID: m.N, TargetNodeID: n.ID}}, m.O.id), "promote_member")
	}
	return m
}

// digest summarizes the state a refused request must not change.
func (e *env) digest() string {
	e.t.Helper()
	var out string
	err := e.st.View(context.Background(), func(tx store.ReadTx) error {
		seq, hash, err := tx.AuditHead()
		if err != nil {
			return err
		}
		ep, err := tx.PolicyEpoch()
		if err != nil {
			return err
		}
		out = fmt.Sprintf("audit=%d/%s epoch=%d", seq, hash, ep)
		nets, err := tx.ListNetworks(0, 0)
		if err != nil {
			return err
		}
		for _, nr := range nets {
			nw := nr.Network
			out += fmt.Sprintf(" [%d %s %d %d %v %q", nw.ID, nw.Name, nr.Members, nw.MaxMembers, nw.AllowedPorts, nw.Description)
			if nw.ID != 0 {
				ms, err := tx.ListMembers(nw.ID, 0, 0)
				if err != nil {
					return err
				}
				for _, m := range ms {
					out += fmt.Sprintf(" %d:%s", m.Node.ID, m.Role)
				}
			}
			out += "]"
		}
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

type cred int

const (
	credOwner cred = iota
	credAdmin
	credMember
	credNonMember
	credGlobal
	credNetwork
	credUnsignedClaim
	credBadSignature
	credReplay
	credStale
	credExpired
	numCreds
)

var credNames = [...]string{"owner", "admin", "member", "non-member", "global-token", "network-token",
	"unsigned-claim", "bad-signature", "replayed-nonce", "stale-ts", "expired-key"}

// caller sets the caller field of a request.
type opCase struct {
	name string
	// build returns the request for a caller node ID (0 = none).
	build func(m *matrixEnv, caller addr.NodeID) regmsg.Request
	// allowed lists the credentials that succeed.
	allowed map[cred]bool
}

func roles(cs ...cred) map[cred]bool {
	out := map[cred]bool{}
	for _, c := range cs {
		out[c] = true
	}
	return out
}

func mt(m *matrixEnv, caller addr.NodeID, target *node) regmsg.MemberTarget {
	return regmsg.MemberTarget{NodeID: caller, NetworkID: m.N, TargetNodeID: target.ID}
}

var matrixOps = []opCase{
	{"delete_network", func(m *matrixEnv, c addr.NodeID) regmsg.Request {
		return &regmsg.DeleteNetwork{NetworkRef: regmsg.NetworkRef{NodeID: c, NetworkID: m.N}}
	}, roles(credOwner, credGlobal, credNetwork)},
	{"rename_network", func(m *matrixEnv, c addr.NodeID) regmsg.Request {
		return &regmsg.RenameNetwork{NodeID: c, NetworkID: m.N, Name: "renamed"}
	}, roles(credOwner, credAdmin, credGlobal, credNetwork)},
	{"set_network_policy", func(m *matrixEnv, c addr.NodeID) regmsg.Request {
		mm := uint32(50)
		return &regmsg.SetNetworkPolicy{NodeID: c, NetworkID: m.N, MaxMembers: &mm}
	}, roles(credOwner, credAdmin, credGlobal, credNetwork)},
	{"invite_to_network", func(m *matrixEnv, c addr.NodeID) regmsg.Request {
		return &regmsg.InviteToNetwork{InviterID: c, NetworkID: m.N, TargetNodeID: m.T.ID}
	}, roles(credOwner, credAdmin, credGlobal, credNetwork)},
	{"kick_member", func(m *matrixEnv, c addr.NodeID) regmsg.Request {
		return &regmsg.KickMember{MemberTarget: mt(m, c, m.M2)}
	}, roles(credOwner, credAdmin, credGlobal, credNetwork)},
	{"kick_admin", func(m *matrixEnv, c addr.NodeID) regmsg.Request {
		return &regmsg.KickMember{MemberTarget: mt(m, c, m.A2)}
	}, roles(credOwner, credGlobal, credNetwork)},
	{"promote_member", func(m *matrixEnv, c addr.NodeID) regmsg.Request {
		return &regmsg.PromoteMember{MemberTarget: mt(m, c, m.M2)}
	}, roles(credOwner, credGlobal, credNetwork)},
	{"demote_member", func(m *matrixEnv, c addr.NodeID) regmsg.Request {
		return &regmsg.DemoteMember{MemberTarget: mt(m, c, m.A2)}
	}, roles(credOwner, credGlobal, credNetwork)},
	{"transfer_ownership", func(m *matrixEnv, c addr.NodeID) regmsg.Request {
		return &regmsg.TransferOwnership{NodeID: c, NetworkID: m.N, NewOwnerID: m.M2.ID}
	}, roles(credOwner, credGlobal, credNetwork)},
	{"get_member_role", func(m *matrixEnv, c addr.NodeID) regmsg.Request {
		return &regmsg.GetMemberRole{MemberTarget: mt(m, c, m.M2)}
	}, roles(credOwner, credAdmin, credMember, credGlobal, credNetwork)},
	{"list_nodes", func(m *matrixEnv, c addr.NodeID) regmsg.Request {
		return &regmsg.ListNodes{NodeID: c, NetworkID: m.N}
	}, roles(credOwner, credAdmin, credMember, credGlobal, credNetwork)},
	{"get_network_policy", func(m *matrixEnv, c addr.NodeID) regmsg.Request {
		return &regmsg.GetNetworkPolicy{NetworkRef: regmsg.NetworkRef{NodeID: c, NetworkID: m.N}}
	}, roles(credOwner, credAdmin, credMember, credGlobal, credNetwork)},
	{"get_audit_log", func(m *matrixEnv, c addr.NodeID) regmsg.Request {
		nid := m.N
		return &regmsg.GetAuditLog{NodeID: c, NetworkID: &nid}
	}, roles(credOwner, credAdmin, credGlobal, credNetwork)},
}

// TestRegistry_AuthorizationMatrix checks every role-gated operation
// against every kind of caller (§6.2, §6.4): exactly the allowed cells
// succeed, signed callers without the role get permission_denied, callers
// without a credential unauthenticated, and refused cells change nothing.
func TestRegistry_AuthorizationMatrix(t *testing.T) {
	tm := matrixTemplate(t)
	for _, op := range matrixOps {
		for c := cred(0); c < numCreds; c++ {
			t.Run(op.name+"/"+credNames[c], func(t *testing.T) {
				m := newMatrix(t, tm)
				e := m.env
				signedBy := func(n *node) result {
					return e.signed(op.build(m, n.ID), n.id)
				}
				var r result
				before := e.digest()
				switch c {
				case credOwner:
					r = signedBy(m.O)
				case credAdmin:
					r = signedBy(m.A)
				case credMember:
					r = signedBy(m.M)
				case credNonMember:
					r = signedBy(m.X)
				case credGlobal:
					r = e.send(tok(op.build(m, 0), globalToken))
				case credNetwork:
					r = e.send(tok(op.build(m, 0), netToken))
				case credUnsignedClaim:
					r = e.send(op.build(m, m.O.ID))
				case credBadSignature:
					r = e.signed(op.build(m, m.O.ID), m.X.id)
				case credReplay:
					req := e.sign(op.build(m, m.O.ID), m.O.id)
					e.send(req)
					before = e.digest()
					r = e.send(req)
				case credStale:
					e.clk.Add(-61 * time.Second)
					req := e.sign(op.build(m, m.O.ID), m.O.id)
					e.clk.Add(61 * time.Second)
					r = e.send(req)
				case credExpired:
					exp := e.clk.Now().Add(time.Minute).Format(time.RFC3339)
					e.ok(e.send(tok(&regmsg.SetKeyExpiry{NodeID: m.O.ID, ExpiresAt: exp}, globalToken)), "set_key_expiry")
					e.clk.Add(2 * time.Minute)
					before = e.digest()
					r = signedBy(m.O)
				}
				want := regmsg.Code("")
				switch {
				case op.allowed[c]:
				case c <= credNonMember:
					want = regmsg.CodePermissionDenied
				default:
					want = regmsg.CodeUnauthenticated
				}
				if r.code() != want {
					t.Fatalf("want %q, got %s", want, r.body)
				}
				if want != "" && e.digest() != before {
					t.Fatalf("refused request changed state:\n%s\n%s", before, e.digest())
				}
			})
		}
	}
}
