package trust

import (
	"context"
	"errors"
	"io"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/identity"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
	"github.com/pilot-go/pilot/internal/wire/svcmsg/handshake"
)

// Sending rules (services.md §5.2): every message carries a fresh nonce
// and sig_v2; the v1 signature only when the receiver's registry
// capabilities lack handshake-v2 (or cannot be learned); an encoding of
// 4,096 bytes or more is refused (invalid_argument) instead of being sent.

// errNoSender is the direct-send failure when no transport is wired.
var errNoSender = errors.New("trust: no direct transport")

// errOverMSS: the message would be split for a receiver that cannot
// reassemble it.
var errOverMSS = errors.New("trust: message longer than the MSS for an original receiver; using the relay")

// outgoingMsg is an encoded message and whether its receiver has the
// handshake-v2 capability (our reassembling receiver).
type outgoingMsg struct {
	raw      []byte
	receiver bool // receiver has handshake-v2
}

// build encodes and signs one message for peer.
func (m *Manager) build(ctx context.Context, peer addr.NodeID, typ handshake.Type, justification, reason string) (outgoingMsg, error) {
	id := m.cfg.Identity()
	self := m.self()
	if id == nil || self == 0 {
		return outgoingMsg{}, opErrorf(regmsg.CodeUnavailable, nil, "handshake %s: this node is not registered yet", verb(typ))
	}
	msg := handshake.Message{
		Type: typ, NodeID: self, PublicKey: id.PublicKeyBase64(), Justification: justification,
		Reason: reason, Timestamp: m.now().Unix(), Nonce: m.nonce(),
	}
	info, _, err := m.peer(ctx, peer, false)
	v2 := err == nil && info.hasV2()
	if !v2 {
		msg.Signature = id.SignBase64(handshake.V1String(self, peer))
	}
	msg.SigV2 = id.SignBase64(handshake.V2String(&msg, peer))
	b, err := msg.Marshal()
	if err != nil {
		// handshake.ErrTooLarge, or text that is not UTF-8.
		return outgoingMsg{}, opErrorf(regmsg.CodeInvalidArgument, err, "handshake %s: %v", verb(typ), err)
	}
	return outgoingMsg{raw: b, receiver: v2}, nil
}

func (m *Manager) nonce() string {
	var r io.Reader = m.cfg.Rand
	if r == nil {
		return identity.NewNonce(nil)
	}
	return identity.NewNonce(r)
}

// send builds and sends one message directly.
func (m *Manager) send(ctx context.Context, peer addr.NodeID, typ handshake.Type, justification, reason string) error {
	msg, err := m.build(ctx, peer, typ, justification, reason)
	if err != nil {
		return err
	}
	return m.sendRaw(ctx, peer, msg)
}

// sendRaw delivers an encoded message directly. Toward an original
// receiver (no handshake-v2), which parses only the first segment, a
// message longer than the MSS is not sent directly (§5.1): the caller
// falls back to the registry relay as for a failed send.
func (m *Manager) sendRaw(ctx context.Context, peer addr.NodeID, msg outgoingMsg) error {
	if m.cfg.Sender == nil {
		return errNoSender
	}
	if !msg.receiver && m.cfg.MSS > 0 && len(msg.raw) > m.cfg.MSS {
		return errOverMSS
	}
	return m.cfg.Sender.SendHandshake(ctx, peer, msg.raw)
}

func verb(t handshake.Type) string {
	switch t {
	case handshake.Request:
		return "request"
	case handshake.Accept:
		return "approve"
	case handshake.Reject:
		return "reject"
	}
	return "revoke"
}
