package trust

import (
	"context"
	"errors"
	"time"
	"unicode/utf8"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
	"github.com/pilot-go/pilot/internal/wire/svcmsg/handshake"
	whmsg "github.com/pilot-go/pilot/internal/wire/svcmsg/webhook"
)

// The event rows of services.md §5.4.

// Reasons of handshake.auto_approved.
const (
	ReasonMutual      = "mutual"
	ReasonSameNetwork = "same_network"
	ReasonAutoApprove = "auto_approve"
)

// ErrNotTrusted is wrapped by Revoke for a node that is not trusted
// (IPC code not_found).
var ErrNotTrusted = errors.New("trust: node is not trusted")

// Request is the operator's request (pilotctl handshake, IPC 0x0F 0x01).
func (m *Manager) Request(ctx context.Context, peer addr.NodeID, justification string) (StatusReply, error) {
	reply := StatusReply{Status: "sent", NodeID: peer}
	if err := checkOperand(peer, "request"); err != nil {
		return reply, err
	}
	if len(justification) > handshake.MaxJustification || !utf8.ValidString(justification) {
		return reply, opErrorf(regmsg.CodeInvalidArgument, nil,
			"handshake request: justification must be UTF-8 of at most %d bytes", handshake.MaxJustification)
	}
	if m.IsTrusted(peer) {
		return reply, nil
	}
	// Encode first: a message that cannot be sent is refused before any
	// side effect.
	msg, err := m.build(ctx, peer, handshake.Request, justification, "")
	if err != nil {
		return reply, err
	}
	m.mu.Lock()
	m.outgoing[peer] = true
	m.mu.Unlock()
	_, err = m.reg.ReportTrust(ctx, peer)
	m.registryErr("report_trust", peer, err)
	if err := m.sendRaw(ctx, peer, msg); err != nil {
		m.log.Info("direct handshake request failed; using the registry relay", "peer", peer, "err", err)
		if _, rerr := m.reg.RequestHandshake(ctx, peer, justification); rerr != nil {
			return reply, opErrorf(CodeOf(rerr), rerr, "handshake request: %s", messageOf(rerr))
		}
	}
	return reply, nil
}

// Approve is the operator's approval (IPC 0x0F 0x02).
func (m *Manager) Approve(ctx context.Context, peer addr.NodeID) (StatusReply, error) {
	reply := StatusReply{Status: "approved", NodeID: peer}
	if err := checkOperand(peer, "approve"); err != nil {
		return reply, err
	}
	m.mu.Lock()
	p, wasPending := m.pending[peer]
	pub := p.PublicKey
	m.trustLocked(peer, pub, wasPending, 0)
	m.mu.Unlock()
	if pub == "" {
		pub = m.keyOf(ctx, peer)
		m.setKey(peer, pub)
	}
	m.persist()
	rt, err := m.reg.ReportTrust(ctx, peer)
	m.registryErr("report_trust", peer, err)
	if !wasPending {
		// Nothing pending: our approval only.
		if err == nil && rt.Trusted {
			m.setMutual(peer)
		}
		return reply, nil
	}
	responded := false
	if p.Relayed {
		_, err := m.reg.RespondHandshake(ctx, peer, true)
		m.registryErr("respond_handshake", peer, err)
		responded = true
	}
	if err := m.send(ctx, peer, handshake.Accept, "", ""); err != nil && !responded {
		_, err := m.reg.RespondHandshake(ctx, peer, true)
		m.registryErr("respond_handshake", peer, err)
	}
	m.emit("handshake.approved", peer)
	return reply, nil
}

// Reject is the operator's rejection (IPC 0x0F 0x03).
func (m *Manager) Reject(ctx context.Context, peer addr.NodeID, reason string) (StatusReply, error) {
	reply := StatusReply{Status: "rejected", NodeID: peer}
	if err := checkOperand(peer, "reject"); err != nil {
		return reply, err
	}
	if len(reason) > handshake.MaxReason || !utf8.ValidString(reason) {
		return reply, opErrorf(regmsg.CodeInvalidArgument, nil,
			"handshake reject: reason must be UTF-8 of at most %d bytes", handshake.MaxReason)
	}
	m.mu.Lock()
	delete(m.pending, peer)
	m.mu.Unlock()
	m.persist()
	_, err := m.reg.RespondHandshake(ctx, peer, false)
	m.registryErr("respond_handshake", peer, err)
	if err := m.send(ctx, peer, handshake.Reject, "", reason); err != nil {
		m.log.Debug("direct handshake reject failed", "peer", peer, "err", err)
	}
	m.emit("handshake.rejected", peer, whmsg.Field{Key: "reason", Value: reason})
	return reply, nil
}

// Revoke is the operator's untrust (IPC 0x0F 0x06). A node that is not
// trusted is an error wrapping ErrNotTrusted.
func (m *Manager) Revoke(ctx context.Context, peer addr.NodeID) (StatusReply, error) {
	reply := StatusReply{Status: "revoked", NodeID: peer}
	if err := checkOperand(peer, "revoke"); err != nil {
		return reply, err
	}
	m.mu.Lock()
	_, ok := m.trusted[peer]
	if ok {
		m.forgetLocked(peer)
	}
	m.mu.Unlock()
	if !ok {
		return reply, opErrorf(regmsg.CodeNotFound, ErrNotTrusted, "handshake revoke: node %d was not trusted", peer)
	}
	m.persist()
	m.teardown(peer)
	_, err := m.reg.RevokeTrust(ctx, peer)
	m.registryErr("revoke_trust", peer, err)
	if err := m.send(ctx, peer, handshake.Revoke, "", ""); err != nil {
		m.log.Debug("direct handshake revoke failed", "peer", peer, "err", err)
	}
	m.emit("trust.revoked", peer)
	return reply, nil
}

func (m *Manager) forgetLocked(peer addr.NodeID) {
	delete(m.trusted, peer)
	delete(m.pending, peer)
	delete(m.outgoing, peer)
}

func (m *Manager) teardown(peer addr.NodeID) {
	if m.cfg.Tunnels != nil {
		m.cfg.Tunnels.Teardown(peer)
	}
}

func (m *Manager) setKey(peer addr.NodeID, pub string) {
	m.mu.Lock()
	if e, ok := m.trusted[peer]; ok && e.PublicKey == "" {
		e.PublicKey = pub
		m.trusted[peer] = e
	}
	m.mu.Unlock()
}

func (m *Manager) setMutual(peer addr.NodeID) {
	m.mu.Lock()
	e, ok := m.trusted[peer]
	if ok {
		e.Mutual = true
		m.trusted[peer] = e
	}
	m.mu.Unlock()
	if ok {
		m.persist()
	}
}

func checkOperand(peer addr.NodeID, op string) error {
	if peer == 0 {
		return opErrorf(regmsg.CodeInvalidArgument, nil, "handshake %s: missing node_id", op)
	}
	return nil
}

// HandleMessage verifies a message that arrived on port 444 from remote
// (services.md §5.3) and applies it (§5.4). A message that fails
// verification is dropped (DEBUG log); the error says why.
func (m *Manager) HandleMessage(ctx context.Context, remote addr.NodeID, raw []byte) error {
	msg, err := m.Verify(ctx, remote, raw)
	if err != nil {
		if m.dropLogAllowed() {
			m.log.Debug("trust handshake message dropped", "peer", remote, "err", err)
		}
		return err
	}
	switch msg.Type {
	case handshake.Request:
		m.onRequest(ctx, msg.NodeID, msg.PublicKey, msg.Justification, false)
	case handshake.Accept:
		m.onAccept(ctx, msg.NodeID)
	case handshake.Reject:
		m.onReject(msg.NodeID, msg.Reason)
	case handshake.Revoke:
		m.onRevoke(ctx, msg.NodeID)
	}
	return nil
}

// Poll drains poll_handshakes (after every successful heartbeat) and
// handles the relayed requests and responses.
func (m *Manager) Poll(ctx context.Context) error {
	page := regmsg.Page{}
	for range 16 {
		rep, err := m.reg.PollHandshakes(ctx, page)
		if err != nil {
			return err
		}
		for _, r := range rep.Requests {
			if r.FromNodeID == 0 || r.FromNodeID == m.self() {
				continue
			}
			m.onRequest(ctx, r.FromNodeID, "", r.Justification, true)
		}
		for _, r := range rep.Responses {
			if r.Accept {
				m.onAccept(ctx, r.FromNodeID)
			} else {
				m.onReject(r.FromNodeID, "")
			}
		}
		if rep.NextCursor == "" {
			return nil
		}
		page.Cursor = rep.NextCursor
	}
	return nil
}

// onRequest is "Request received (direct, or relayed via poll_handshakes)".
func (m *Manager) onRequest(ctx context.Context, peer addr.NodeID, pub, justification string, relayed bool) {
	m.emit("handshake.received", peer, whmsg.Field{Key: "justification", Value: justification})
	m.mu.RLock()
	_, trusted := m.trusted[peer]
	asked := m.outgoing[peer]
	m.mu.RUnlock()
	if trusted {
		m.sendAccept(ctx, peer, relayed)
		return
	}
	reason, network := "", addr.NetworkID(0)
	switch {
	case asked:
		reason = ReasonMutual
	default:
		ct, err := m.reg.CheckTrust(ctx, peer)
		m.registryErr("check_trust", peer, err)
		switch {
		case err == nil && len(ct.SharedNetworks) > 0:
			reason, network = ReasonSameNetwork, ct.SharedNetworks[0]
		case m.cfg.AutoApprove:
			reason = ReasonAutoApprove
		}
	}
	if pub == "" {
		pub = m.keyOf(ctx, peer)
	}
	if reason != "" {
		m.mu.Lock()
		m.trustLocked(peer, pub, true, network)
		m.mu.Unlock()
		m.persist()
		m.sendAccept(ctx, peer, relayed)
		_, err := m.reg.ReportTrust(ctx, peer)
		m.registryErr("report_trust", peer, err)
		m.emit("handshake.auto_approved", peer, whmsg.Field{Key: "reason", Value: reason})
		return
	}
	m.mu.Lock()
	old, exists := m.pending[peer]
	full := !exists && len(m.pending) >= MaxPending
	if !full {
		m.pending[peer] = PendingEntry{NodeID: peer, PublicKey: pub, Justification: justification,
			ReceivedAt: m.now().UTC().Truncate(1e9), Relayed: relayed || old.Relayed}
	}
	m.mu.Unlock()
	if full {
		m.log.Warn("trust: pending requests full; request dropped", "peer", peer, "max", MaxPending)
		return
	}
	m.persist()
	m.emit("handshake.pending", peer, whmsg.Field{Key: "justification", Value: justification})
}

// sendAccept is "send accept": a direct handshake_accept, and
// respond_handshake(accept: true) when the request was relayed or the
// direct send fails.
func (m *Manager) sendAccept(ctx context.Context, peer addr.NodeID, relayed bool) {
	err := m.send(ctx, peer, handshake.Accept, "", "")
	if err != nil || relayed {
		_, rerr := m.reg.RespondHandshake(ctx, peer, true)
		m.registryErr("respond_handshake", peer, rerr)
	}
}

// onAccept trusts the sender only when we asked it (no unsolicited trust).
func (m *Manager) onAccept(ctx context.Context, peer addr.NodeID) {
	m.mu.Lock()
	asked := m.outgoing[peer]
	if asked {
		m.trustLocked(peer, m.cachedKey(peer), true, 0)
	}
	m.mu.Unlock()
	if !asked {
		m.log.Debug("trust: unsolicited handshake accept ignored", "peer", peer)
		return
	}
	m.setKey(peer, m.keyOf(ctx, peer))
	m.persist()
	_, err := m.reg.ReportTrust(ctx, peer)
	m.registryErr("report_trust", peer, err)
	m.emit("handshake.approved", peer)
}

// onReject forgets our request; only a request we made is reported.
func (m *Manager) onReject(peer addr.NodeID, reason string) {
	m.mu.Lock()
	asked := m.outgoing[peer]
	delete(m.outgoing, peer)
	m.mu.Unlock()
	if !asked {
		m.log.Debug("trust: reject for a request we did not make ignored", "peer", peer)
		return
	}
	m.emit("handshake.rejected", peer, whmsg.Field{Key: "reason", Value: reason})
}

// onRevoke is "Revoke received".
func (m *Manager) onRevoke(ctx context.Context, peer addr.NodeID) {
	m.mu.Lock()
	m.forgetLocked(peer)
	m.mu.Unlock()
	m.persist()
	m.teardown(peer)
	_, err := m.reg.RevokeTrust(ctx, peer)
	m.registryErr("revoke_trust", peer, err)
	m.emit("trust.revoked_by_peer", peer)
}

// dropLogAllowed rate-limits the DEBUG lines of dropped messages to one
// per second.
func (m *Manager) dropLogAllowed() bool {
	now := m.now()
	m.dropMu.Lock()
	defer m.dropMu.Unlock()
	if !m.dropLogAt.IsZero() && now.Sub(m.dropLogAt) < time.Second {
		return false
	}
	m.dropLogAt = now
	return true
}
