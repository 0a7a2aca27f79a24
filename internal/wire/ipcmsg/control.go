package ipcmsg

import (
	"encoding/json"
)

// Info (0x0D), Health (0x21) and Deregister (0x17) carry no payload; extra
// bytes are ignored.
type (
	Info       struct{}
	Health     struct{}
	Deregister struct{}
)

func (Info) Cmd() Cmd       { return CmdInfo }
func (Health) Cmd() Cmd     { return CmdHealth }
func (Deregister) Cmd() Cmd { return CmdDeregister }

func (Info) AppendTo(b []byte) []byte       { return append(b, byte(CmdInfo)) }
func (Health) AppendTo(b []byte) []byte     { return append(b, byte(CmdHealth)) }
func (Deregister) AppendTo(b []byte) []byte { return append(b, byte(CmdDeregister)) }

// Decode accepts any payload.
func (*Info) Decode([]byte) error { return nil }

// Decode accepts any payload.
func (*Health) Decode([]byte) error { return nil }

// Decode accepts any payload.
func (*Deregister) Decode([]byte) error { return nil }

// ResolveHostname (0x11): the hostname; empty is refused (ipc.md §5.11).
type ResolveHostname struct{ Hostname string }

// SetHostname (0x13): the hostname; empty clears it (ipc.md §5.12).
type SetHostname struct{ Hostname string }

// SetWebhook (0x1B): the URL; empty disables the webhook (ipc.md §5.16).
// URL validation belongs to the daemon.
type SetWebhook struct{ URL string }

func (ResolveHostname) Cmd() Cmd { return CmdResolveHostname }
func (SetHostname) Cmd() Cmd     { return CmdSetHostname }
func (SetWebhook) Cmd() Cmd      { return CmdSetWebhook }

func (m ResolveHostname) AppendTo(b []byte) []byte {
	return append(append(b, byte(CmdResolveHostname)), m.Hostname...)
}
func (m SetHostname) AppendTo(b []byte) []byte {
	return append(append(b, byte(CmdSetHostname)), m.Hostname...)
}
func (m SetWebhook) AppendTo(b []byte) []byte {
	return append(append(b, byte(CmdSetWebhook)), m.URL...)
}

// Decode parses the payload after the command byte.
func (m *ResolveHostname) Decode(p []byte) error {
	if len(p) == 0 {
		return shortErr("resolve_hostname: missing hostname")
	}
	m.Hostname = string(p)
	return nil
}

// Decode parses the payload after the command byte.
func (m *SetHostname) Decode(p []byte) error { m.Hostname = string(p); return nil }

// Decode parses the payload after the command byte.
func (m *SetWebhook) Decode(p []byte) error { m.URL = string(p); return nil }

// SetVisibility (0x15): u8, 1 = public, any other value = private.
type SetVisibility struct{ Public bool }

// SetTaskExec (0x1D): u8, 1 = enable, any other value = disable.
type SetTaskExec struct{ Enable bool }

func (SetVisibility) Cmd() Cmd { return CmdSetVisibility }
func (SetTaskExec) Cmd() Cmd   { return CmdSetTaskExec }

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

func (m SetVisibility) AppendTo(b []byte) []byte {
	return append(b, byte(CmdSetVisibility), boolByte(m.Public))
}
func (m SetTaskExec) AppendTo(b []byte) []byte {
	return append(b, byte(CmdSetTaskExec), boolByte(m.Enable))
}

// Decode parses the payload after the command byte.
func (m *SetVisibility) Decode(p []byte) error {
	if len(p) == 0 {
		return shortErr("set_visibility: missing value")
	}
	m.Public = p[0] == 1
	return nil
}

// Decode parses the payload after the command byte.
func (m *SetTaskExec) Decode(p []byte) error {
	if len(p) == 0 {
		return shortErr("set_task_exec: missing value")
	}
	m.Enable = p[0] == 1
	return nil
}

// MaxTags is the most tags SetTags accepts (ipc.md §5.15, the registry's limit).
const MaxTags = 10

// SetTags (0x19): a JSON array of strings, at most MaxTags.
type SetTags struct{ Tags []string }

func (SetTags) Cmd() Cmd { return CmdSetTags }

// AppendTo appends 19 ‖ JSON array (a nil slice is written as []).
func (m SetTags) AppendTo(b []byte) []byte {
	tags := m.Tags
	if tags == nil {
		tags = []string{}
	}
	return appendJSON(append(b, byte(CmdSetTags)), tags)
}

// Decode parses the payload after the command byte.
func (m *SetTags) Decode(p []byte) error {
	var tags []string
	if err := json.Unmarshal(p, &tags); err != nil {
		return invalidErr("set_tags: invalid JSON: %v", err)
	}
	if len(tags) > MaxTags {
		return invalidErr("set_tags: maximum %d tags allowed", MaxTags)
	}
	if tags == nil {
		tags = []string{}
	}
	m.Tags = tags
	return nil
}

// JSON replies. Each carries one JSON object; registry-backed replies are
// the registry's object verbatim (ipc.md §5), the others are built from the
// typed structs of json.go with MarshalJSON. Body is never re-encoded.
type (
	InfoOK            struct{ Body json.RawMessage } // 0x0E, Info JSON (§6)
	HandshakeOK       struct{ Body json.RawMessage } // 0x10 (§5.10)
	ResolveHostnameOK struct{ Body json.RawMessage } // 0x12, verbatim
	SetHostnameOK     struct{ Body json.RawMessage } // 0x14, verbatim
	SetVisibilityOK   struct{ Body json.RawMessage } // 0x16, verbatim
	DeregisterOK      struct{ Body json.RawMessage } // 0x18, verbatim
	SetTagsOK         struct{ Body json.RawMessage } // 0x1A, verbatim
	SetWebhookOK      struct{ Body json.RawMessage } // 0x1C, {"webhook":"<url>"}
	SetTaskExecOK     struct{ Body json.RawMessage } // 0x1E, verbatim
	NetworkOK         struct{ Body json.RawMessage } // 0x20, verbatim (§5.18)
	HealthOK          struct{ Body json.RawMessage } // 0x22, Health JSON (§7)
	ManagedOK         struct{ Body json.RawMessage } // 0x24 (§5.20)
	RegistryOpOK      struct{ Body json.RawMessage } // 0x41, the op's data (§10.4)
	HelloOK           struct{ Body json.RawMessage } // 0x43, HelloReply JSON (§10.2)
)

func (InfoOK) Cmd() Cmd            { return CmdInfoOK }
func (HandshakeOK) Cmd() Cmd       { return CmdHandshakeOK }
func (ResolveHostnameOK) Cmd() Cmd { return CmdResolveHostnameOK }
func (SetHostnameOK) Cmd() Cmd     { return CmdSetHostnameOK }
func (SetVisibilityOK) Cmd() Cmd   { return CmdSetVisibilityOK }
func (DeregisterOK) Cmd() Cmd      { return CmdDeregisterOK }
func (SetTagsOK) Cmd() Cmd         { return CmdSetTagsOK }
func (SetWebhookOK) Cmd() Cmd      { return CmdSetWebhookOK }
func (SetTaskExecOK) Cmd() Cmd     { return CmdSetTaskExecOK }
func (NetworkOK) Cmd() Cmd         { return CmdNetworkOK }
func (HealthOK) Cmd() Cmd          { return CmdHealthOK }
func (ManagedOK) Cmd() Cmd         { return CmdManagedOK }
func (RegistryOpOK) Cmd() Cmd      { return CmdRegistryOpOK }
func (HelloOK) Cmd() Cmd           { return CmdHelloOK }

func appendBody(b []byte, c Cmd, body []byte) []byte { return append(append(b, byte(c)), body...) }

func (m InfoOK) AppendTo(b []byte) []byte        { return appendBody(b, CmdInfoOK, m.Body) }
func (m HandshakeOK) AppendTo(b []byte) []byte   { return appendBody(b, CmdHandshakeOK, m.Body) }
func (m SetHostnameOK) AppendTo(b []byte) []byte { return appendBody(b, CmdSetHostnameOK, m.Body) }
func (m DeregisterOK) AppendTo(b []byte) []byte  { return appendBody(b, CmdDeregisterOK, m.Body) }
func (m SetTagsOK) AppendTo(b []byte) []byte     { return appendBody(b, CmdSetTagsOK, m.Body) }
func (m SetWebhookOK) AppendTo(b []byte) []byte  { return appendBody(b, CmdSetWebhookOK, m.Body) }
func (m SetTaskExecOK) AppendTo(b []byte) []byte { return appendBody(b, CmdSetTaskExecOK, m.Body) }
func (m NetworkOK) AppendTo(b []byte) []byte     { return appendBody(b, CmdNetworkOK, m.Body) }
func (m HealthOK) AppendTo(b []byte) []byte      { return appendBody(b, CmdHealthOK, m.Body) }
func (m ManagedOK) AppendTo(b []byte) []byte     { return appendBody(b, CmdManagedOK, m.Body) }
func (m RegistryOpOK) AppendTo(b []byte) []byte  { return appendBody(b, CmdRegistryOpOK, m.Body) }
func (m HelloOK) AppendTo(b []byte) []byte       { return appendBody(b, CmdHelloOK, m.Body) }
func (m ResolveHostnameOK) AppendTo(b []byte) []byte {
	return appendBody(b, CmdResolveHostnameOK, m.Body)
}
func (m SetVisibilityOK) AppendTo(b []byte) []byte {
	return appendBody(b, CmdSetVisibilityOK, m.Body)
}

// body returns the payload as a JSON body (nil when empty). Replies are not
// validated here: the client unmarshals Body into the type it expects.
func body(p []byte) json.RawMessage {
	if len(p) == 0 {
		return nil
	}
	return json.RawMessage(p)
}

// Decode stores the payload as Body.
func (m *InfoOK) Decode(p []byte) error { m.Body = body(p); return nil }

// Decode stores the payload as Body.
func (m *HandshakeOK) Decode(p []byte) error { m.Body = body(p); return nil }

// Decode stores the payload as Body.
func (m *ResolveHostnameOK) Decode(p []byte) error { m.Body = body(p); return nil }

// Decode stores the payload as Body.
func (m *SetHostnameOK) Decode(p []byte) error { m.Body = body(p); return nil }

// Decode stores the payload as Body.
func (m *SetVisibilityOK) Decode(p []byte) error { m.Body = body(p); return nil }

// Decode stores the payload as Body.
func (m *DeregisterOK) Decode(p []byte) error { m.Body = body(p); return nil }

// Decode stores the payload as Body.
func (m *SetTagsOK) Decode(p []byte) error { m.Body = body(p); return nil }

// Decode stores the payload as Body.
func (m *SetWebhookOK) Decode(p []byte) error { m.Body = body(p); return nil }

// Decode stores the payload as Body.
func (m *SetTaskExecOK) Decode(p []byte) error { m.Body = body(p); return nil }

// Decode stores the payload as Body.
func (m *NetworkOK) Decode(p []byte) error { m.Body = body(p); return nil }

// Decode stores the payload as Body.
func (m *HealthOK) Decode(p []byte) error { m.Body = body(p); return nil }

// Decode stores the payload as Body.
func (m *ManagedOK) Decode(p []byte) error { m.Body = body(p); return nil }

// Decode stores the payload as Body.
func (m *RegistryOpOK) Decode(p []byte) error { m.Body = body(p); return nil }

// Decode stores the payload as Body.
func (m *HelloOK) Decode(p []byte) error { m.Body = body(p); return nil }
