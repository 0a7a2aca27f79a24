package handlers

import (
	"encoding/base64"
	"errors"
	"net"
	"net/netip"
	"strconv"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/registry/store"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
)

// Node lifecycle (registry.md §7.1.1–§7.1.6).

func b64(k store.PublicKey) string { return base64.StdEncoding.EncodeToString(k[:]) }

func decodeKey(s string) store.PublicKey {
	var k store.PublicKey
	raw, _ := regmsg.DecodePublicKey(s)
	copy(k[:], raw)
	return k
}

// observedAddr is the endpoint stored by register: the TCP peer's IP with
// the port of listen_addr, or the TCP peer's ip:port (§7.1.1).
func (c *call) observedAddr(listen string) string {
	if _, port, err := net.SplitHostPort(listen); err == nil {
		if p, err := strconv.ParseUint(port, 10, 16); err == nil && p >= 1 {
			return netip.AddrPortFrom(c.ip, uint16(p)).String()
		}
	}
	return netip.AddrPortFrom(c.ip, c.remote.Port()).String()
}

func (c *call) register(r *regmsg.Register) (regmsg.Reply, error) {
	if c.kind != regmsg.AuthV2 && !c.legacyUnsigned() {
		return nil, authErr(reasonMissing, 0, regmsg.CodeUnauthenticated,
			"register must carry an auth v2 proof-of-possession signature (ts, nonce, signature) made with public_key")
	}
	key := decodeKey(r.PublicKey)
	want, hostErr0 := r.Hostname, ""
	if want != "" {
		if e := regmsg.ValidateHostname("hostname", want); e != nil {
			want, hostErr0 = "", e.Message
		}
	}
	real := c.observedAddr(r.ListenAddr)
	hostTaken := "hostname \"" + want + "\" is taken by another node; choose another one with set_hostname"
	var reply *regmsg.RegisterOK
	err := c.update(func(tx store.Tx) error {
		hostErr := hostErr0
		// takeHost applies the requested hostname unless another node holds it.
		takeHost := func(n *store.Node) error {
			if want == "" || want == n.Hostname {
				return nil
			}
			holder, err := tx.NodeByHostname(want)
			switch {
			case err == nil && holder.ID != n.ID:
				hostErr = hostTaken
				return nil
			case err != nil && !isNotFound(err):
				return err
			}
			n.Hostname = want
			return nil
		}
		fresh := store.Node{PublicKey: key, RealAddr: real, LANAddrs: r.LANAddrs, LastSeen: c.now,
			Version: r.Version, Capabilities: r.Capabilities, Owner: r.Owner, KeyCreatedAt: c.now}
		// A new key is the common case: CreateNode refuses a known key
		// without changing anything and hands back its binding, from
		// which the decision order of §7.1.1 goes on.
		n, created, err := c.createFresh(tx, fresh, want, hostTaken, &hostErr)
		var kb store.KeyBinding
		var kbe *store.KeyBindingError
		switch {
		case err == nil:
		case errors.As(err, &kbe):
			kb, hostErr = kbe.Binding, hostErr0
		case errors.Is(err, store.ErrIDSpaceExhausted):
			return exhausted("no node ID is left to issue; the registry's ID space is exhausted")
		default:
			return err
		}
		var oldHost string
		switch {
		case created:
			if err := c.audit(tx, grant{viaSelf, n.ID}, regmsg.ActionNodeRegistered, aInt("node_id", n.ID), aStr("mode", "new_node")); err != nil {
				return err
			}
		case kb.State == store.KeyRetired:
			return authErr(reasonBadSignature, 0, regmsg.CodeUnauthenticated,
				regmsg.KeyReplaced+" on %s; use the node's current key, or ask an admin to re-key the node with reassign_key", fmtTime(kb.Since))
		case kb.State == store.KeyLive:
			if n, err = tx.Node(kb.NodeID); err != nil {
				return err
			}
			if err := c.checkExpiry(n); err != nil {
				return err
			}
			oldHost = n.Hostname
			changed := n.RealAddr != real
			n.RealAddr, n.LANAddrs, n.LastSeen = real, r.LANAddrs, c.now
			n.Version, n.Capabilities = r.Version, r.Capabilities
			if r.Owner != "" {
				n.Owner = r.Owner
			}
			if err := takeHost(&n); err != nil {
				return err
			}
			if err := tx.UpdateNode(n); err != nil {
				return err
			}
			if err := c.audit(tx, grant{viaSelf, n.ID}, regmsg.ActionNodeReRegistered, aInt("node_id", n.ID),
				aStr("mode", "existing_identity"), aBool("endpoint_changed", changed)); err != nil {
				return err
			}
		default: // bound to a tombstone
			n = fresh
			if err := takeHost(&n); err != nil {
				return err
			}
			n.ID = kb.NodeID
			if err := tx.ReclaimNode(n); err != nil {
				return err
			}
			if err := c.audit(tx, grant{viaSelf, n.ID}, regmsg.ActionNodeRegistered, aInt("node_id", n.ID),
				aStr("mode", "reclaimed_identity")); err != nil {
				return err
			}
		}
		if n.Hostname != oldHost {
			if err := c.audit(tx, grant{viaSelf, n.ID}, regmsg.ActionHostnameChanged, aInt("node_id", n.ID),
				aStr("hostname", n.Hostname), aStr("old_hostname", oldHost), aStr("new_hostname", n.Hostname)); err != nil {
				return err
			}
		}
		epoch, err := tx.PolicyEpoch()
		if err != nil {
			return err
		}
		versions := []string{"v2"}
		if c.h.cfg.LegacyV1 {
			versions = append(versions, "v1")
		}
		reply = &regmsg.RegisterOK{NodeID: n.ID, Address: addr.New(0, n.ID), PublicKey: r.PublicKey,
			ObservedAddr: real, ProtocolVersion: 1, Hostname: n.Hostname, HostnameError: hostErr,
			AuthVersions: versions, RegistryVersion: c.h.cfg.Version, HeartbeatIntervalS: HeartbeatIntervalS,
			PolicyEpoch: epoch}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if r.ProtocolVersion > 1 {
		c.h.log.Warn("register with a newer protocol_version", "protocol_version", r.ProtocolVersion, "node_id", reply.NodeID)
	}
	c.h.m.Registration()
	return reply, nil
}

// createFresh creates the node of a key that is new to the registry, with
// the requested hostname want unless another node holds it (then hostErr
// is set and the node is created without one). created is false with a
// *store.KeyBindingError when the key is known.
func (c *call) createFresh(tx store.Tx, fresh store.Node, want, hostTaken string, hostErr *string) (store.Node, bool, error) {
	fresh.Hostname = want
	n, err := tx.CreateNode(fresh)
	if want != "" && errors.Is(err, store.ErrHostnameTaken) {
		*hostErr, fresh.Hostname = hostTaken, ""
		n, err = tx.CreateNode(fresh)
	}
	return n, err == nil, err
}

func (c *call) heartbeat(*regmsg.Heartbeat) (regmsg.Reply, error) {
	if err := c.requireSigner(); err != nil {
		return nil, err
	}
	// last_seen goes to the in-memory overlay, written in batches (seen.go,
	// §7.1.2); authentication read the signer's record and the policy
	// epoch in one read transaction (heartbeats are not mutations: their
	// nonce lives in the in-memory cache, §5.2 step 5).
	c.h.seen.touch(c.signer, c.now)
	reply := &regmsg.HeartbeatOK{Time: c.now.Unix(), PolicyEpoch: c.epoch}
	if exp := c.node.KeyExpiresAt; !exp.IsZero() && exp.Sub(c.now) < KeyExpiryWarning {
		reply.KeyExpiryWarning, reply.KeyExpiresAt = true, fmtTime(exp)
	}
	return reply, nil
}

func (c *call) deregister(r *regmsg.Deregister) (regmsg.Reply, error) {
	g, err := c.authzSubject(false)
	if err != nil {
		return nil, err
	}
	err = c.update(func(tx store.Tx) error {
		n, err := c.subjectNode(tx, r.NodeID)
		if err != nil {
			return err
		}
		owned, err := tx.OwnedNetworks(n.ID)
		if err != nil {
			return err
		}
		if len(owned) > 0 {
			return precondition("node %d owns %s; transfer ownership or delete the network first", n.ID, networkList(owned))
		}
		rem, err := tx.TombstoneNode(n.ID, c.now, "request")
		if err != nil {
			return err
		}
		return c.afterRemoval(tx, g, n.ID, rem, "request")
	})
	if err != nil {
		return nil, err
	}
	c.h.m.Deregistration()
	return &regmsg.DeregisterOK{}, nil
}

// afterRemoval writes the audit rows and the epoch bump of a deregister or
// purge (§7.1.3, §11).
func (c *call) afterRemoval(tx store.Tx, g grant, id addr.NodeID, rem store.NodeRemoval, reason string) error {
	if err := c.auditInviteRemoved(tx, g, id, rem.InvitesRemoved); err != nil {
		return err
	}
	if err := c.audit(tx, g, regmsg.ActionNodeDeregistered, aInt("node_id", id), aNets("networks", rem.Networks),
		aStr("reason", reason)); err != nil {
		return err
	}
	_, err := tx.BumpPolicyEpoch()
	return err
}

// networkList formats "network 3" or "networks 3, 5".
func networkList(ids []addr.NetworkID) string {
	if len(ids) == 1 {
		return "network " + strconv.Itoa(int(ids[0]))
	}
	s := "networks "
	for i, id := range ids {
		if i > 0 {
			s += ", "
		}
		s += strconv.Itoa(int(id))
	}
	return s
}

// related reports whether a and b share a trust pair or a non-backbone
// network, and returns the shared networks.
func related(tx store.ReadTx, a, b addr.NodeID) (bool, []addr.NetworkID, error) {
	shared, err := tx.SharedNetworks(a, b)
	if err != nil {
		return false, nil, err
	}
	pair, err := tx.TrustPair(a, b)
	if err != nil {
		return false, nil, err
	}
	return pair || len(shared) > 0, shared, nil
}

func (c *call) lookup(r *regmsg.Lookup) (regmsg.Reply, error) {
	var reply *regmsg.LookupOK
	err := c.view(func(tx store.ReadTx) error {
		n, err := tx.Node(r.NodeID)
		if isNotFound(err) {
			return nodeNotRegistered(r.NodeID)
		}
		if err != nil {
			return err
		}
		me := c.signer
		full := c.globalTok || (me != 0 && me == n.ID)
		legacyAnon := me == 0 && c.legacyUnsigned()
		nets := []addr.NetworkID{0}
		visible := n.Public || full || legacyAnon
		switch {
		case full || legacyAnon:
			all, err := tx.NetworkIDsOf(n.ID)
			if err != nil {
				return err
			}
			nets = append(nets, all...)
		case me != 0:
			rel, shared, err := related(tx, me, n.ID)
			if err != nil {
				return err
			}
			nets = append(nets, shared...)
			visible = visible || rel
		}
		reply = &regmsg.LookupOK{NodeID: n.ID, Address: addr.New(0, n.ID), PublicKey: b64(n.PublicKey),
			Public: n.Public, PoloScore: n.PoloScore, Capabilities: n.Capabilities, Version: n.Version,
			Networks: nets}
		if visible {
			reply.Hostname, reply.TaskExec = n.Hostname, n.TaskExec
			if len(n.Tags) > 0 {
				reply.Tags = n.Tags
			}
		}
		if n.Public {
			reply.RealAddr = n.RealAddr
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return reply, nil
}

// resolvable is the resolve rule of §7.1.5.
func resolvable(tx store.ReadTx, requester addr.NodeID, target store.Node) (bool, error) {
	if target.Public || requester == target.ID {
		return true, nil
	}
	rel, _, err := related(tx, requester, target.ID)
	return rel, err
}

func (c *call) resolveTarget(tx store.ReadTx, id addr.NodeID) (store.Node, error) {
	n, err := tx.Node(id)
	if isNotFound(err) {
		return n, nodeNotRegistered(id)
	}
	if err != nil {
		return n, err
	}
	ok, err := resolvable(tx, c.signer, n)
	if err != nil {
		return n, err
	}
	if !ok {
		return n, denied("node %d is private and shares no trust pair or network with node %d; send a handshake request", n.ID, c.signer)
	}
	if !c.online(n) {
		return n, precondition("node %d is offline, last seen %s", n.ID, fmtTime(c.h.lastSeen(n)))
	}
	return n, nil
}

// keyAgeDays is §10 key_age_days.
func (c *call) keyAgeDays(n store.Node) int64 {
	since := n.KeyCreatedAt
	if !n.KeyRotatedAt.IsZero() {
		since = n.KeyRotatedAt
	}
	if since.IsZero() || c.now.Before(since) {
		return 0
	}
	return int64(c.now.Sub(since).Hours() / 24)
}

func (c *call) resolve(r *regmsg.Resolve) (regmsg.Reply, error) {
	if err := c.requireSigner(); err != nil {
		return nil, err
	}
	var reply *regmsg.ResolveOK
	err := c.view(func(tx store.ReadTx) error {
		n, err := c.resolveTarget(tx, r.NodeID)
		if err != nil {
			return err
		}
		reply = &regmsg.ResolveOK{NodeID: n.ID, RealAddr: n.RealAddr, LANAddrs: n.LANAddrs,
			KeyAgeDays: c.keyAgeDays(n), PublicKey: b64(n.PublicKey), Capabilities: n.Capabilities}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return reply, nil
}

func (c *call) punch(r *regmsg.Punch) (regmsg.Reply, error) {
	if err := c.requireSigner(); err != nil {
		return nil, err
	}
	if c.signer != r.NodeA && c.signer != r.NodeB {
		return nil, denied("node %d can only punch between itself and a peer; it is neither node_a (%d) nor node_b (%d)", c.signer, r.NodeA, r.NodeB)
	}
	other := r.NodeB
	if c.signer == r.NodeB {
		other = r.NodeA
	}
	var reply *regmsg.PunchOK
	err := c.view(func(tx store.ReadTx) error {
		peer, err := c.resolveTarget(tx, other)
		if err != nil {
			return err
		}
		self, err := tx.Node(c.signer)
		if err != nil {
			return err
		}
		addrs := map[addr.NodeID]string{self.ID: self.RealAddr, peer.ID: peer.RealAddr}
		reply = &regmsg.PunchOK{NodeA: r.NodeA, NodeAAddr: addrs[r.NodeA], NodeB: r.NodeB, NodeBAddr: addrs[r.NodeB]}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return reply, nil
}
