package handlers

import (
	"fmt"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/registry/ratelimit"
	"github.com/pilot-go/pilot/internal/registry/store"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
)

// Authorization (registry.md §6.1 chain, §6.2 role matrix). Every helper
// here is step 6 of §6.4: it is evaluated as if no state rule existed, and
// a request that no step grants is refused with permission_denied when it
// carries a credential (a verified signature or a matching admin token)
// and unauthenticated otherwise.

// requireSigner refuses a Signed-class request without a verified node
// signature (§5.3). An admin_token other than the global token is no
// credential: the refusal counts it as bad_token and says so (§6.1
// "Credentials and refusals"); the global token is a credential, but not
// one these messages accept, so the signature is what is missing.
func (c *call) requireSigner() error {
	if c.signer != 0 {
		return nil
	}
	reason, suffix := reasonMissing, ""
	if c.tokenPresent && !c.globalTok {
		reason, suffix = reasonBadToken, "; admin token not accepted"
	}
	return authErr(reason, 0, regmsg.CodeUnauthenticated,
		"%s must be signed by its %s node with auth v2 (ts, nonce, signature)%s", c.typ, signerName(c.typ), suffix)
}

// legacyUnsigned reports an unsigned request in -legacy-v1-auth mode.
func (c *call) legacyUnsigned() bool {
	return c.h.cfg.LegacyV1 && c.kind == regmsg.AuthUnsigned
}

// token returns the admin_token ("" when absent).
func (c *call) token() string {
	if t := c.req.AuthFields().AdminToken; t != nil {
		return *t
	}
	return ""
}

// networkToken reports whether admin_token is the admin token of nw.
func (c *call) networkToken(nw store.Network) bool {
	return c.tokenPresent && nw.ID != 0 && matchDigest(c.token(), nw.AdminTokenDigest)
}

// refuse answers a request that no step of §6.1 grants. tokenMatched
// tells whether admin_token matched a token (a credential whose scope does
// not cover the operation). need is the sentence naming the required role.
func (c *call) refuse(tokenMatched bool, need string) error {
	suffix := ""
	if c.tokenPresent && !tokenMatched {
		if err := c.badToken(); err != nil {
			return err
		}
		suffix = "; admin token not accepted"
	}
	if c.verified || tokenMatched {
		return denied("%s%s", need, suffix)
	}
	if !c.tokenPresent {
		c.h.m.AuthFailure(reasonMissing)
		if d := c.h.lim.AuthFailed(ratelimit.IPKey(c.ip)); !d.Allowed {
			return c.h.rateLimited(d, c.ipSubject())
		}
	}
	who := ""
	if f := signerName(c.typ); c.req.Signer() != 0 {
		who = fmt.Sprintf(" (%s %d is not proven by a signature)", f, c.req.Signer())
	}
	return unauth("%s needs an auth v2 signature (ts, nonce, signature) or an admin token%s%s", c.typ, who, suffix)
}

// authzSubject authorizes the node's own messages (§6.1 "subject and
// caller fields"): the node's signature (self) or the global admin token
// on its behalf. netTok tells whether a matching network token was sent
// (a credential that does not cover these messages).
func (c *call) authzSubject(netTok bool) (grant, error) {
	if c.signer != 0 {
		return grant{viaSelf, c.signer}, nil
	}
	if c.tokenPresent {
		if err := c.tokenGate(); err != nil {
			return grant{}, err
		}
		if c.globalTok {
			return grant{viaGlobalToken, 0}, nil
		}
	}
	return grant{}, c.refuse(netTok, fmt.Sprintf("%s needs the node's own signature or the global admin token", c.typ))
}

// roleSet is a set of roles allowed by a cell of table 6.2.
type roleSet func(store.Role) bool

var (
	ownerOnly    roleSet = func(r store.Role) bool { return r == store.RoleOwner }
	ownerOrAdmin roleSet = func(r store.Role) bool { return r == store.RoleOwner || r == store.RoleAdmin }
	anyMember    roleSet = func(r store.Role) bool { return r != store.RoleNone }
)

// roleName describes a node's role for refusal messages.
func roleName(r store.Role) string {
	if r == store.RoleNone {
		return "not a member"
	}
	return r.String()
}

// authzNetwork evaluates steps 4 (role), 3 (network token) and 2 (global
// token) of §6.1 for an operation on nw; need names the required role
// ("only the owner of network 3 can delete it"). It returns the grant and
// the signer's role.
func (c *call) authzNetwork(tx store.ReadTx, nw store.Network, allowed roleSet, netTokOK, globalOK bool, need string) (grant, store.Role, error) {
	var role store.Role
	if err := c.unprovenCaller(); err != nil {
		return grant{}, role, err
	}
	if c.signer != 0 {
		var err error
		if role, err = tx.Role(nw.ID, c.signer); err != nil {
			return grant{}, role, err
		}
		if allowed(role) {
			return grant{viaRole, c.signer}, role, nil
		}
	}
	netMatch := c.networkToken(nw)
	if c.tokenPresent {
		if err := c.tokenGate(); err != nil {
			return grant{}, role, err
		}
		if netMatch && netTokOK {
			return grant{viaNetworkToken, c.signer}, role, nil
		}
		if c.globalTok && globalOK {
			return grant{viaGlobalToken, c.signer}, role, nil
		}
	}
	if c.signer != 0 {
		need = fmt.Sprintf("%s; node %d is %s", need, c.signer, roleName(role))
	}
	return grant{}, role, c.refuse(netMatch || c.globalTok, need)
}

// unprovenCaller is §6.1 "Subject and caller fields": in network
// management messages a non-zero caller field without a valid signature is
// unauthenticated, even when an admin token would authorize the request
// (§14 item 27).
func (c *call) unprovenCaller() error {
	if c.signer != 0 || c.req.Signer() == 0 {
		return nil
	}
	return c.authFailed(authErr(reasonMissing, 0, regmsg.CodeUnauthenticated,
		"%s names %s %d but is not signed by it; sign it with auth v2 (ts, nonce, signature), or leave %s out when an admin token authorizes it",
		c.typ, signerName(c.typ), c.req.Signer(), signerName(c.typ)))
}

// network is step 5 of §6.4: the named network exists; refuseBackbone
// refuses network 0 with failed_precondition ("cannot be <verb>").
func (c *call) network(tx store.ReadTx, id addr.NetworkID, refuseBackbone bool, verb string) (store.Network, error) {
	if id == store.BackboneID && refuseBackbone {
		return store.Network{}, precondition("network 0 is the backbone: it cannot be %s", verb)
	}
	nw, err := tx.Network(id)
	if isNotFound(err) {
		return nw, networkNotFound(id)
	}
	return nw, err
}

// subjectNode loads the node a request names (§6.4 step 7: a token-only
// request whose node field is absent names no registered node).
func (c *call) subjectNode(tx store.ReadTx, id addr.NodeID) (store.Node, error) {
	if id == 0 {
		return store.Node{}, notFound("%s names no node: set %s to a registered node ID", c.typ, signerName(c.typ))
	}
	n, err := tx.Node(id)
	if isNotFound(err) {
		return n, nodeNotRegistered(id)
	}
	return n, err
}
