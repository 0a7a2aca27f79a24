package ipcmsg

import (
	"errors"
)

// decodeAs decodes payload p into a T through its pointer's Decode.
func decodeAs[T any, P interface {
	*T
	Decode([]byte) error
}](p []byte) (T, error) {
	var v T
	err := P(&v).Decode(p)
	return v, err
}

func asRequest[T Request](v T, err error) (Request, error) {
	if err != nil {
		return nil, err
	}
	return v, nil
}

func asReply[T Reply](v T, err error) (Reply, error) {
	if err != nil {
		return nil, err
	}
	return v, nil
}

// decodeRequestCmd decodes the payload of client → daemon command c; ok is
// false when c is not such a command. Tagged is handled by DecodeRequest.
func decodeRequestCmd(c Cmd, p []byte) (m Request, ok bool, err error) {
	switch c {
	case CmdBind:
		m, err = asRequest(decodeAs[Bind](p))
	case CmdDial:
		m, err = asRequest(decodeAs[Dial](p))
	case CmdSend:
		m, err = asRequest(decodeAs[Send](p))
	case CmdClose:
		m, err = asRequest(decodeAs[Close](p))
	case CmdSendTo:
		m, err = asRequest(decodeAs[SendTo](p))
	case CmdInfo:
		m, err = asRequest(decodeAs[Info](p))
	case CmdHandshake:
		m, err = asRequest(decodeAs[Handshake](p))
	case CmdResolveHostname:
		m, err = asRequest(decodeAs[ResolveHostname](p))
	case CmdSetHostname:
		m, err = asRequest(decodeAs[SetHostname](p))
	case CmdSetVisibility:
		m, err = asRequest(decodeAs[SetVisibility](p))
	case CmdDeregister:
		m, err = asRequest(decodeAs[Deregister](p))
	case CmdSetTags:
		m, err = asRequest(decodeAs[SetTags](p))
	case CmdSetWebhook:
		m, err = asRequest(decodeAs[SetWebhook](p))
	case CmdSetTaskExec:
		m, err = asRequest(decodeAs[SetTaskExec](p))
	case CmdNetwork:
		m, err = asRequest(decodeAs[Network](p))
	case CmdHealth:
		m, err = asRequest(decodeAs[Health](p))
	case CmdManaged:
		m, err = asRequest(decodeAs[Managed](p))
	case CmdRegistryOp:
		m, err = asRequest(decodeAs[RegistryOp](p))
	case CmdHello:
		m, err = asRequest(decodeAs[Hello](p))
	case CmdUnbind:
		m, err = asRequest(decodeAs[Unbind](p))
	case CmdDialEx:
		m, err = asRequest(decodeAs[DialEx](p))
	case CmdConnOpt:
		m, err = asRequest(decodeAs[ConnOpt](p))
	case CmdSendToFrom:
		m, err = asRequest(decodeAs[SendToFrom](p))
	default:
		return nil, false, nil
	}
	return m, true, err
}

// decodeReplyCmd decodes the payload of daemon → client command c; ok is
// false when c is not such a command. TaggedReply is handled by DecodeReply.
func decodeReplyCmd(c Cmd, p []byte) (m Reply, ok bool, err error) {
	switch c {
	case CmdBindOK:
		m, err = asReply(decodeAs[BindOK](p))
	case CmdDialOK:
		m, err = asReply(decodeAs[DialOK](p))
	case CmdAccept:
		m, err = asReply(decodeAs[Accept](p))
	case CmdRecv:
		m, err = asReply(decodeAs[Recv](p))
	case CmdCloseOK:
		m, err = asReply(decodeAs[CloseOK](p))
	case CmdError:
		m, err = asReply(decodeAs[Error](p))
	case CmdRecvFrom:
		m, err = asReply(decodeAs[RecvFrom](p))
	case CmdInfoOK:
		m, err = asReply(decodeAs[InfoOK](p))
	case CmdHandshakeOK:
		m, err = asReply(decodeAs[HandshakeOK](p))
	case CmdResolveHostnameOK:
		m, err = asReply(decodeAs[ResolveHostnameOK](p))
	case CmdSetHostnameOK:
		m, err = asReply(decodeAs[SetHostnameOK](p))
	case CmdSetVisibilityOK:
		m, err = asReply(decodeAs[SetVisibilityOK](p))
	case CmdDeregisterOK:
		m, err = asReply(decodeAs[DeregisterOK](p))
	case CmdSetTagsOK:
		m, err = asReply(decodeAs[SetTagsOK](p))
	case CmdSetWebhookOK:
		m, err = asReply(decodeAs[SetWebhookOK](p))
	case CmdSetTaskExecOK:
		m, err = asReply(decodeAs[SetTaskExecOK](p))
	case CmdNetworkOK:
		m, err = asReply(decodeAs[NetworkOK](p))
	case CmdHealthOK:
		m, err = asReply(decodeAs[HealthOK](p))
	case CmdManagedOK:
		m, err = asReply(decodeAs[ManagedOK](p))
	case CmdRegistryOpOK:
		m, err = asReply(decodeAs[RegistryOpOK](p))
	case CmdHelloOK:
		m, err = asReply(decodeAs[HelloOK](p))
	case CmdOK:
		m, err = asReply(decodeAs[OK](p))
	case CmdConnClosed:
		m, err = asReply(decodeAs[ConnClosed](p))
	case CmdUnbindOK:
		m, err = asReply(decodeAs[UnbindOK](p))
	case CmdConnOptOK:
		m, err = asReply(decodeAs[ConnOptOK](p))
	default:
		return nil, false, nil
	}
	return m, true, err
}

// errEmptyMessage is returned for a zero-length message, which framing
// already filters out (ReadFrame reports it so it can be ignored).
var errEmptyMessage = &DecodeError{Code: CodeInvalidArgument, Text: "empty message", Err: ErrShortPayload}

// DecodeRequest decodes a client → daemon message (cmd ‖ payload). The
// returned Request is a value type (Bind, Dial, …, Tagged). Errors are
// *DecodeError carrying the exact Error text for the client, or, for a
// Tagged request whose inner message is bad, a *TaggedError.
func DecodeRequest(msg []byte) (Request, error) {
	if len(msg) == 0 {
		return nil, errEmptyMessage
	}
	c := Cmd(msg[0])
	if c == CmdTagged {
		var t Tagged
		if err := t.Decode(msg[1:]); err != nil {
			return nil, err
		}
		return t, nil
	}
	m, ok, err := decodeRequestCmd(c, msg[1:])
	if !ok {
		return nil, unknownCmdErr(c)
	}
	return m, err
}

// DecodeReply decodes a daemon → client message (cmd ‖ payload).
func DecodeReply(msg []byte) (Reply, error) {
	if len(msg) == 0 {
		return nil, errEmptyMessage
	}
	c := Cmd(msg[0])
	if c == CmdTaggedReply {
		var t TaggedReply
		if err := t.Decode(msg[1:]); err != nil {
			return nil, err
		}
		return t, nil
	}
	m, ok, err := decodeReplyCmd(c, msg[1:])
	if !ok {
		return nil, unknownCmdErr(c)
	}
	return m, err
}

// Tag correlates a Tagged request with its TaggedReply (ipc.md §10.3).
type Tag uint32

// TaggedError reports a Tagged request whose tag was read but whose inner
// message failed to decode: the daemon answers TaggedReply{Tag, Err's
// Error}. Error() is the inner error's text.
type TaggedError struct {
	Tag Tag
	Err error
}

func (e *TaggedError) Error() string { return e.Err.Error() }
func (e *TaggedError) Unwrap() error { return e.Err }

// Reply returns the TaggedReply carrying the inner error.
func (e *TaggedError) Reply() TaggedReply {
	var de *DecodeError
	if errors.As(e.Err, &de) {
		return TaggedReply{Tag: e.Tag, Inner: de.Reply()}
	}
	return TaggedReply{Tag: e.Tag, Inner: Error{Code: CodeInvalidArgument, Text: e.Err.Error()}}
}

// Tagged (0x44): u32 tag ‖ inner request, any request except Hello and
// Tagged. Tag uniqueness and tag 0 are the daemon's to refuse.
type Tagged struct {
	Tag   Tag
	Inner Request
}

func (Tagged) Cmd() Cmd   { return CmdTagged }
func (Tagged) isRequest() {}

// AppendTo appends 44 ‖ tag ‖ inner message.
func (m Tagged) AppendTo(b []byte) []byte {
	b = appendU32(append(b, byte(CmdTagged)), uint32(m.Tag))
	if m.Inner != nil {
		b = m.Inner.AppendTo(b)
	}
	return b
}

// Decode parses the payload after the command byte.
func (m *Tagged) Decode(p []byte) error {
	*m = Tagged{}
	if len(p) < 5 {
		return shortErr("tagged: missing tag or inner command")
	}
	m.Tag = Tag(be32(p))
	c := Cmd(p[4])
	if c == CmdHello || c == CmdTagged {
		return &TaggedError{Tag: m.Tag, Err: invalidErr("tagged: %s cannot be tagged", c)}
	}
	inner, ok, err := decodeRequestCmd(c, p[5:])
	if !ok {
		err = unknownCmdErr(c)
	}
	if err != nil {
		return &TaggedError{Tag: m.Tag, Err: err}
	}
	m.Inner = inner
	return nil
}

// TaggedReply (0x45): u32 tag ‖ inner reply (a normal reply, Error or OK).
type TaggedReply struct {
	Tag   Tag
	Inner Reply
}

func (TaggedReply) Cmd() Cmd { return CmdTaggedReply }
func (TaggedReply) isReply() {}

// AppendTo appends 45 ‖ tag ‖ inner message.
func (m TaggedReply) AppendTo(b []byte) []byte {
	b = appendU32(append(b, byte(CmdTaggedReply)), uint32(m.Tag))
	if m.Inner != nil {
		b = m.Inner.AppendTo(b)
	}
	return b
}

// Decode parses the payload after the command byte.
func (m *TaggedReply) Decode(p []byte) error {
	*m = TaggedReply{}
	if len(p) < 5 {
		return shortErr("taggedreply: missing tag or inner command")
	}
	m.Tag = Tag(be32(p))
	c := Cmd(p[4])
	if isUnsolicited(c) {
		return &TaggedError{Tag: m.Tag, Err: unknownCmdErr(c)}
	}
	inner, ok, err := decodeReplyCmd(c, p[5:])
	if !ok {
		err = unknownCmdErr(c)
	}
	if err != nil {
		return &TaggedError{Tag: m.Tag, Err: err}
	}
	m.Inner = inner
	return nil
}

// isUnsolicited reports the daemon → client messages that are never tagged
// (ipc.md §3.2). CloseOK is also a reply, so it is not listed.
func isUnsolicited(c Cmd) bool {
	return c == CmdAccept || c == CmdRecv || c == CmdRecvFrom || c == CmdConnClosed
}
