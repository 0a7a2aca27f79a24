package handlers

import (
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/identity"
	"github.com/pilot-go/pilot/internal/registry/ratelimit"
	"github.com/pilot-go/pilot/internal/registry/store"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
)

// Authentication (registry.md §5.2 auth v2, §5.5 legacy v1).

// Reasons of pilot_auth_failures_total (§3.1).
const (
	reasonBadSignature = "bad_signature"
	reasonSkew         = "skew"
	reasonReplay       = "replay"
	reasonMissing      = "missing"
	reasonExpiredKey   = "expired_key"
	reasonUnknownNode  = "unknown_node"
	reasonBadToken     = "bad_token"
)

// authError is a failed authentication: the reply error, the metrics
// reason and whether a node signature had verified (the auth_failure
// bucket is then the node's, §12).
type authError struct {
	err    *regmsg.Error
	reason string
	node   addr.NodeID // verified signer, 0 = charge the source IP
}

func (e *authError) Error() string { return e.err.Error() }
func (e *authError) Unwrap() error { return e.err }

func authErr(reason string, node addr.NodeID, code regmsg.Code, format string, a ...any) *authError {
	return &authError{err: regmsg.Errorf(code, format, a...), reason: reason, node: node}
}

// authFailed counts a failed authentication and charges the auth_failure
// bucket; an exhausted bucket turns the refusal into rate_limited (§12).
func (c *call) authFailed(err error) error {
	var ae *authError
	if !errors.As(err, &ae) {
		return err
	}
	c.h.m.AuthFailure(ae.reason)
	key, subject := ratelimit.IPKey(c.ip), "IP "+c.ip.String()
	if ae.node != 0 {
		key, subject = ratelimit.NodeKey(uint32(ae.node)), fmt.Sprintf("node %d", ae.node)
	}
	if d := c.h.lim.AuthFailed(key); !d.Allowed {
		return c.h.rateLimited(d, subject)
	}
	return ae.err
}

// matchGlobal compares token with the global admin token (constant time on
// SHA-256 digests, §6.1 step 2).
func (h *Handler) matchGlobal(token string) bool {
	if h.cfg.AdminToken == "" || token == "" {
		return false
	}
	sum := sha256.Sum256([]byte(token))
	return subtle.ConstantTimeCompare(sum[:], h.adminSum[:]) == 1
}

// matchDigest compares a secret with a stored digest in constant time.
func matchDigest(secret string, d store.Digest) bool {
	if secret == "" || d.IsZero() {
		return false
	}
	sum := store.DigestOf(secret)
	return subtle.ConstantTimeCompare(sum[:], d[:]) == 1
}

// authenticate runs §5.2 (or §5.5 for v1). It also compares the admin
// token with the global token (§6.4 step 3).
func (c *call) authenticate() error {
	a := c.req.AuthFields()
	c.tokenPresent = a.HasAdminToken()
	if c.tokenPresent {
		c.globalTok = c.h.matchGlobal(*a.AdminToken)
	}
	switch c.kind {
	case regmsg.AuthV1:
		return c.authV1()
	case regmsg.AuthV2:
		return c.authV2()
	}
	return nil
}

func (c *call) authV2() error {
	a := c.req.AuthFields()
	// Step 1: presence and format.
	switch {
	case a.TS == nil:
		return authErr(reasonMissing, 0, regmsg.CodeUnauthenticated, "auth v2 request lacks ts (Unix milliseconds when it was signed); sign it with ts, nonce and signature")
	case a.Nonce == nil:
		return authErr(reasonMissing, 0, regmsg.CodeUnauthenticated, "auth v2 request lacks nonce (base64 of 16 random bytes); sign it with ts, nonce and signature")
	}
	nonce, err := regmsg.DecodeNonce(*a.Nonce)
	if err != nil {
		return authErr(reasonMissing, 0, regmsg.CodeUnauthenticated, "malformed nonce: it must be the base64 of exactly 16 random bytes")
	}
	sig, err := regmsg.DecodeSignature(*a.Signature)
	if err != nil {
		return authErr(reasonBadSignature, 0, regmsg.CodeUnauthenticated, "malformed signature: it must be the base64 of a 64-byte Ed25519 signature")
	}
	// Step 2: clock skew. ts is any int64, so it is compared with the
	// window's bounds rather than subtracted (now − ts can overflow).
	now, skew := c.now.UnixMilli(), c.h.cfg.AuthSkew.Milliseconds()
	if ts := *a.TS; ts < now-skew || ts > now+skew {
		dir, diff := "behind", float64(now)-float64(ts)
		if ts > now {
			dir, diff = "ahead of", -diff
		}
		return authErr(reasonSkew, 0, regmsg.CodeUnauthenticated,
			"request timestamp is %.1f s %s the registry clock (allowed ±%d s); synchronise the clock with NTP and sign again",
			diff/1000, dir, int64(c.h.cfg.AuthSkew/time.Second))
	}
	// Step 3: the verifying key.
	var pub []byte
	signer := c.req.Signer()
	switch r := c.req.(type) {
	case *regmsg.Register:
		pub, _ = regmsg.DecodePublicKey(r.PublicKey)
	case *regmsg.ReassignKey:
		pub, _ = regmsg.DecodePublicKey(r.NewPublicKey)
	default:
		if signer == 0 {
			if regmsg.SignerField(c.typ) == "" { // a message no node signs (table 5.4)
				return authErr(reasonMissing, 0, regmsg.CodeUnauthenticated,
					"%s is not a signed message; send it without ts, nonce and signature", c.typ)
			}
			return authErr(reasonMissing, 0, regmsg.CodeUnauthenticated,
				"request carries a signature but names no signing node (%s); set it to the node's ID or leave the signature out", signerName(c.typ))
		}
		if _, err := c.lookupNode(signer); err != nil { // sets c.node
			return err
		}
		pub = c.node.PublicKey[:]
	}
	// Step 4: the signature (and the new-key proof of rotate_key), checked
	// together, in a batch shared with concurrent requests (sigBatcher).
	msg := regmsg.CanonicalV2(c.req)
	job := c.h.sigs.job()
	defer c.h.sigs.release(job)
	job.add(pub, msg, sig)
	newKeyProof := false // rotate_key's new_key_signature decoded and queued
	if r, ok := c.req.(*regmsg.RotateKey); ok && r.NewKeySignature != nil {
		if nsig, err := regmsg.DecodeSignature(*r.NewKeySignature); err == nil {
			newPub, _ := regmsg.DecodePublicKey(r.NewPublicKey)
			job.add(newPub, msg, nsig)
			newKeyProof = true
		}
	}
	c.h.sigs.verify(job)
	if !job.ok[0] {
		if signer != 0 {
			return authErr(reasonBadSignature, 0, regmsg.CodeUnauthenticated,
				"signature does not verify under the current key of node %d; sign the request with the node's identity key over the auth v2 canonical string", signer)
		}
		return authErr(reasonBadSignature, 0, regmsg.CodeUnauthenticated,
			"signature does not verify under the public key carried in the request; sign it with that key to prove possession")
	}
	if _, ok := c.req.(*regmsg.RotateKey); ok && (!newKeyProof || !job.ok[1]) {
		return authErr(reasonBadSignature, 0, regmsg.CodeUnauthenticated,
			"new_key_signature does not verify under new_public_key; sign the same canonical string with the new key to prove possession")
	}
	copy(c.key[:], pub)
	copy(c.nonce[:], nonce)
	// Step 5: replay. A mutation's nonce is recorded in its transaction
	// (and in memory once it is done); other requests record theirs now,
	// in the same step as the check.
	mutation := isMutation(c.req)
	var replayed bool
	if mutation {
		replayed = c.h.nonces.seen(c.key, c.nonce, c.now)
	} else {
		replayed = c.h.nonces.seenOrAdd(c.key, c.nonce, c.now)
	}
	if replayed {
		return authErr(reasonReplay, signer, regmsg.CodeUnauthenticated,
			"replayed request: this nonce was already accepted within the last %d s; sign every request with a fresh nonce", int64(c.h.window/time.Second))
	}
	c.hasNonce, c.inTx = mutation, mutation
	// Step 6: key expiry.
	if signer != 0 {
		if err := c.checkExpiry(c.node); err != nil {
			return err
		}
	}
	c.signer = signer
	c.verified = true
	return nil
}

// checkExpiry is §5.2 step 6.
func (c *call) checkExpiry(n store.Node) error {
	if !n.KeyExpiresAt.IsZero() && !n.KeyExpiresAt.After(c.now) {
		return authErr(reasonExpiredKey, n.ID, regmsg.CodeUnauthenticated,
			"node %d: key expired at %s; ask an admin to re-key the node", n.ID, fmtTime(n.KeyExpiresAt))
	}
	return nil
}

// lookupNode finds the signer for §5.2 step 3 and leaves it in c.node
// too (read into the call, which lives on the heap anyway, rather than
// into a local the closure would move there). For a heartbeat it also
// reads the policy epoch of the reply in the same read transaction.
func (c *call) lookupNode(id addr.NodeID) (store.Node, error) {
	_, hb := c.req.(*regmsg.Heartbeat)
	err := c.view(func(tx store.ReadTx) error {
		var err error
		if c.node, err = tx.Node(id); err != nil || !hb {
			return err
		}
		c.epoch, err = tx.PolicyEpoch()
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return c.node, authErr(reasonUnknownNode, 0, regmsg.CodeNotFound, "node %d is not registered; register again", id)
	}
	if err != nil {
		return c.node, c.internal(err)
	}
	return c.node, nil
}

func (c *call) authV1() error {
	if !c.h.cfg.LegacyV1 {
		return authErr(reasonMissing, 0, regmsg.CodeUnauthenticated,
			"request is not signed with auth v2 (ts, nonce, signature); upgrade the daemon or start the registry with -legacy-v1-auth")
	}
	if _, ok := c.req.(*regmsg.Register); ok {
		// register has no v1 challenge: the original sends it unsigned,
		// and legacy mode accepts it without proof (§5.5).
		c.kind = regmsg.AuthUnsigned
		return nil
	}
	challenge, ok := regmsg.V1Challenge(c.req)
	if !ok {
		return authErr(reasonBadSignature, 0, regmsg.CodeUnauthenticated,
			"%s has no legacy v1 challenge; sign it with auth v2 (ts, nonce, signature)", c.typ)
	}
	signer := c.req.Signer()
	if signer == 0 {
		return authErr(reasonMissing, 0, regmsg.CodeUnauthenticated,
			"request carries a signature but names no signing node (%s)", signerName(c.typ))
	}
	sig, err := regmsg.DecodeSignature(*c.req.AuthFields().Signature)
	if err != nil {
		return authErr(reasonBadSignature, 0, regmsg.CodeUnauthenticated, "malformed signature: it must be the base64 of a 64-byte Ed25519 signature")
	}
	n, err := c.lookupNode(signer)
	if err != nil {
		return err
	}
	if !identity.Verify(ed25519.PublicKey(n.PublicKey[:]), []byte(challenge), sig) {
		return authErr(reasonBadSignature, 0, regmsg.CodeUnauthenticated,
			"legacy v1 signature does not verify under the current key of node %d", signer)
	}
	if err := c.checkExpiry(n); err != nil {
		return err
	}
	c.node, c.signer, c.verified, c.key = n, signer, true, n.PublicKey
	c.h.m.LegacyAuth(c.typ)
	c.h.warnLegacy(c.typ, c.now)
	return nil
}

// warnLegacy logs one WARN per message type per minute (§5.5).
func (h *Handler) warnLegacy(typ string, now time.Time) {
	h.legacyMu.Lock()
	st := h.legacyWarn[typ]
	st.count++
	emit := st.last.IsZero() || now.Sub(st.last) >= time.Minute
	count := st.count
	if emit {
		st.last, st.count = now, 0
	}
	h.legacyWarn[typ] = st
	h.legacyMu.Unlock()
	if emit {
		h.log.Warn("legacy v1 auth accepted", "type", typ, "count", count)
	}
}

// rememberNonce records a mutation's nonce in memory once the request is
// done, whatever its outcome, so that a replay of a failed mutation is
// refused too (the store holds it only when the mutation committed).
func (c *call) rememberNonce() {
	if c.hasNonce {
		c.h.nonces.add(c.key, c.nonce, c.now)
	}
}

// signerName names the signer field of a message type.
func signerName(typ string) string {
	if f := regmsg.SignerField(typ); f != "" {
		return f
	}
	return "node_id"
}

// isMutation reports whether a request changes state, so that its nonce
// is recorded in its own store transaction (§5.2 step 5). Reads and
// heartbeats use the in-memory cache.
func isMutation(req regmsg.Request) bool {
	switch req.(type) {
	case *regmsg.Heartbeat, *regmsg.Lookup, *regmsg.Resolve, *regmsg.Punch,
		*regmsg.CheckTrust, *regmsg.ResolveHostname, *regmsg.ListNetworks,
		*regmsg.ListNodes, *regmsg.GetMemberRole, *regmsg.GetNetworkPolicy,
		*regmsg.PollInvites, *regmsg.GetAuditLog, *regmsg.GetKeyInfo,
		*regmsg.GetPoloScore, *regmsg.BeaconList:
		return false
	}
	return true
}
