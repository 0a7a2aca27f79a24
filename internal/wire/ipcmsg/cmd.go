package ipcmsg

import "fmt"

// Cmd is the first byte of an IPC message (ipc.md §5.0, §10.1).
type Cmd uint8

// Command bytes. Each original "…OK" reply is its request byte + 1.
const (
	CmdBind              Cmd = 0x01
	CmdBindOK            Cmd = 0x02
	CmdDial              Cmd = 0x03
	CmdDialOK            Cmd = 0x04
	CmdAccept            Cmd = 0x05
	CmdSend              Cmd = 0x06
	CmdRecv              Cmd = 0x07
	CmdClose             Cmd = 0x08
	CmdCloseOK           Cmd = 0x09
	CmdError             Cmd = 0x0A
	CmdSendTo            Cmd = 0x0B
	CmdRecvFrom          Cmd = 0x0C
	CmdInfo              Cmd = 0x0D
	CmdInfoOK            Cmd = 0x0E
	CmdHandshake         Cmd = 0x0F
	CmdHandshakeOK       Cmd = 0x10
	CmdResolveHostname   Cmd = 0x11
	CmdResolveHostnameOK Cmd = 0x12
	CmdSetHostname       Cmd = 0x13
	CmdSetHostnameOK     Cmd = 0x14
	CmdSetVisibility     Cmd = 0x15
	CmdSetVisibilityOK   Cmd = 0x16
	CmdDeregister        Cmd = 0x17
	CmdDeregisterOK      Cmd = 0x18
	CmdSetTags           Cmd = 0x19
	CmdSetTagsOK         Cmd = 0x1A
	CmdSetWebhook        Cmd = 0x1B
	CmdSetWebhookOK      Cmd = 0x1C
	CmdSetTaskExec       Cmd = 0x1D
	CmdSetTaskExecOK     Cmd = 0x1E
	CmdNetwork           Cmd = 0x1F
	CmdNetworkOK         Cmd = 0x20
	CmdHealth            Cmd = 0x21
	CmdHealthOK          Cmd = 0x22
	CmdManaged           Cmd = 0x23
	CmdManagedOK         Cmd = 0x24

	CmdRegistryOp   Cmd = 0x40
	CmdRegistryOpOK Cmd = 0x41
	CmdHello        Cmd = 0x42
	CmdHelloOK      Cmd = 0x43
	CmdTagged       Cmd = 0x44
	CmdTaggedReply  Cmd = 0x45
	CmdOK           Cmd = 0x46
	CmdConnClosed   Cmd = 0x47
	CmdUnbind       Cmd = 0x48
	CmdUnbindOK     Cmd = 0x49
	CmdDialEx       Cmd = 0x4A
	CmdConnOpt      Cmd = 0x4B
	CmdConnOptOK    Cmd = 0x4C
	CmdSendToFrom   Cmd = 0x4D
)

var cmdNames = map[Cmd]string{
	CmdBind: "Bind", CmdBindOK: "BindOK", CmdDial: "Dial", CmdDialOK: "DialOK",
	CmdAccept: "Accept", CmdSend: "Send", CmdRecv: "Recv", CmdClose: "Close",
	CmdCloseOK: "CloseOK", CmdError: "Error", CmdSendTo: "SendTo", CmdRecvFrom: "RecvFrom",
	CmdInfo: "Info", CmdInfoOK: "InfoOK", CmdHandshake: "Handshake", CmdHandshakeOK: "HandshakeOK",
	CmdResolveHostname: "ResolveHostname", CmdResolveHostnameOK: "ResolveHostnameOK",
	CmdSetHostname: "SetHostname", CmdSetHostnameOK: "SetHostnameOK",
	CmdSetVisibility: "SetVisibility", CmdSetVisibilityOK: "SetVisibilityOK",
	CmdDeregister: "Deregister", CmdDeregisterOK: "DeregisterOK",
	CmdSetTags: "SetTags", CmdSetTagsOK: "SetTagsOK",
	CmdSetWebhook: "SetWebhook", CmdSetWebhookOK: "SetWebhookOK",
	CmdSetTaskExec: "SetTaskExec", CmdSetTaskExecOK: "SetTaskExecOK",
	CmdNetwork: "Network", CmdNetworkOK: "NetworkOK", CmdHealth: "Health", CmdHealthOK: "HealthOK",
	CmdManaged: "Managed", CmdManagedOK: "ManagedOK",
	CmdRegistryOp: "RegistryOp", CmdRegistryOpOK: "RegistryOpOK", CmdHello: "Hello", CmdHelloOK: "HelloOK",
	CmdTagged: "Tagged", CmdTaggedReply: "TaggedReply", CmdOK: "OK", CmdConnClosed: "ConnClosed",
	CmdUnbind: "Unbind", CmdUnbindOK: "UnbindOK", CmdDialEx: "DialEx", CmdConnOpt: "ConnOpt",
	CmdConnOptOK: "ConnOptOK", CmdSendToFrom: "SendToFrom",
}

// String returns the command's name, or 0xNN for an unassigned byte.
func (c Cmd) String() string {
	if n, ok := cmdNames[c]; ok {
		return n
	}
	return fmt.Sprintf("0x%02X", uint8(c))
}

// Message is any IPC message. AppendTo appends cmd ‖ payload.
type Message interface {
	Cmd() Cmd
	AppendTo(b []byte) []byte
}

// Request is a client → daemon message.
type Request interface {
	Message
	isRequest()
}

// Reply is a daemon → client message (replies and unsolicited messages).
type Reply interface {
	Message
	isReply()
}

// Marshal returns m's encoding (cmd ‖ payload) in a new slice.
func Marshal(m Message) []byte { return m.AppendTo(nil) }
