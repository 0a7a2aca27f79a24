package ipcmsg

import (
	"github.com/pilot-go/pilot/addr"
)

// HandshakeSub is the sub-command byte of Handshake (ipc.md §5.10).
type HandshakeSub uint8

// Handshake sub-commands.
const (
	HandshakeRequest HandshakeSub = 0x01 // u32 node ‖ justification
	HandshakeApprove HandshakeSub = 0x02 // u32 node
	HandshakeReject  HandshakeSub = 0x03 // u32 node ‖ reason
	HandshakePending HandshakeSub = 0x04 // —
	HandshakeTrusted HandshakeSub = 0x05 // —
	HandshakeRevoke  HandshakeSub = 0x06 // u32 node
)

// Text limits of Handshake (enforced by the daemon, services.md §5.4).
const (
	MaxJustification = 1024
	MaxRejectReason  = 256
)

var handshakeLabels = map[HandshakeSub]string{
	HandshakeRequest: "request", HandshakeApprove: "approve", HandshakeReject: "reject",
	HandshakePending: "pending", HandshakeTrusted: "trusted", HandshakeRevoke: "revoke",
}

// Label is the word used in Error texts ("handshake <label>: …").
func (s HandshakeSub) Label() string { return handshakeLabels[s] }

// Handshake (0x0F): u8 sub ‖ rest. Node is set for request, approve, reject
// and revoke; Text is the justification (request) or reason (reject).
type Handshake struct {
	Sub  HandshakeSub
	Node addr.NodeID
	Text string
}

func (Handshake) Cmd() Cmd { return CmdHandshake }

func (s HandshakeSub) hasNode() bool {
	return s == HandshakeRequest || s == HandshakeApprove || s == HandshakeReject || s == HandshakeRevoke
}

func (s HandshakeSub) hasText() bool { return s == HandshakeRequest || s == HandshakeReject }

// AppendTo appends 0F ‖ sub ‖ the sub-command's fields.
func (m Handshake) AppendTo(b []byte) []byte {
	b = append(b, byte(CmdHandshake), byte(m.Sub))
	if m.Sub.hasNode() {
		b = appendU32(b, uint32(m.Node))
	}
	if m.Sub.hasText() {
		b = append(b, m.Text...)
	}
	return b
}

// Decode parses the payload after the command byte.
func (m *Handshake) Decode(p []byte) error {
	*m = Handshake{}
	if len(p) == 0 {
		return shortErr("handshake: missing sub-command")
	}
	m.Sub, p = HandshakeSub(p[0]), p[1:]
	if _, ok := handshakeLabels[m.Sub]; !ok {
		return unknownSubErr("handshake: unknown sub-command 0x%02X", uint8(m.Sub))
	}
	if m.Sub.hasNode() {
		if len(p) < 4 {
			return shortErr("handshake " + m.Sub.Label() + ": missing node_id")
		}
		m.Node = addr.NodeID(be32(p))
	}
	if m.Sub.hasText() {
		m.Text = string(p[4:])
	}
	return nil
}

// NetworkSub is the sub-command byte of Network (ipc.md §5.18).
type NetworkSub uint8

// Network sub-commands.
const (
	NetworkList        NetworkSub = 0x01 // —
	NetworkJoin        NetworkSub = 0x02 // u16 network ‖ optional token
	NetworkLeave       NetworkSub = 0x03 // u16 network
	NetworkMembers     NetworkSub = 0x04 // u16 network
	NetworkInvite      NetworkSub = 0x05 // u16 network ‖ u32 target node
	NetworkPollInvites NetworkSub = 0x06 // —
	NetworkRespond     NetworkSub = 0x07 // u16 network ‖ u8 accept
)

var networkLabels = map[NetworkSub]string{
	NetworkList: "list", NetworkJoin: "join", NetworkLeave: "leave", NetworkMembers: "members",
	NetworkInvite: "invite", NetworkPollInvites: "poll-invites", NetworkRespond: "respond-invite",
}

// Label is the word used in Error texts ("network <label>: …").
func (s NetworkSub) Label() string { return networkLabels[s] }

// Network (0x1F): u8 sub ‖ rest. Network is set for join, leave, members,
// invite and respond; Token for join (empty = none); Node for invite;
// Accept for respond (byte 1 = accept, any other = reject).
type Network struct {
	Sub     NetworkSub
	Network addr.NetworkID
	Node    addr.NodeID
	Token   string
	Accept  bool
}

func (Network) Cmd() Cmd { return CmdNetwork }

// AppendTo appends 1F ‖ sub ‖ the sub-command's fields.
func (m Network) AppendTo(b []byte) []byte {
	b = append(b, byte(CmdNetwork), byte(m.Sub))
	switch m.Sub {
	case NetworkJoin:
		b = append(appendU16(b, uint16(m.Network)), m.Token...)
	case NetworkLeave, NetworkMembers:
		b = appendU16(b, uint16(m.Network))
	case NetworkInvite:
		b = appendU32(appendU16(b, uint16(m.Network)), uint32(m.Node))
	case NetworkRespond:
		b = append(appendU16(b, uint16(m.Network)), boolByte(m.Accept))
	}
	return b
}

// Decode parses the payload after the command byte.
func (m *Network) Decode(p []byte) error {
	*m = Network{}
	if len(p) == 0 {
		return shortErr("network: missing sub-command")
	}
	m.Sub, p = NetworkSub(p[0]), p[1:]
	switch m.Sub {
	case NetworkList, NetworkPollInvites:
	case NetworkJoin, NetworkLeave, NetworkMembers:
		if len(p) < 2 {
			return shortErr("network " + m.Sub.Label() + ": missing network_id")
		}
		m.Network = addr.NetworkID(be16(p))
		if m.Sub == NetworkJoin {
			m.Token = string(p[2:])
		}
	case NetworkInvite:
		if len(p) < 6 {
			return shortErr("network invite: missing network_id or target_node_id")
		}
		m.Network, m.Node = addr.NetworkID(be16(p)), addr.NodeID(be32(p[2:]))
	case NetworkRespond:
		if len(p) < 3 {
			return shortErr("network respond-invite: missing network_id or accept flag")
		}
		m.Network, m.Accept = addr.NetworkID(be16(p)), p[2] == 1
	default:
		return unknownSubErr("network: unknown sub-command 0x%02X", uint8(m.Sub))
	}
	return nil
}

// ManagedSub is the sub-command byte of Managed (ipc.md §5.20).
type ManagedSub uint8

// Managed sub-commands (the original's layouts; our daemon has no engine).
const (
	ManagedScore      ManagedSub = 0x01 // u16 network ‖ u32 node ‖ i32 delta ‖ topic
	ManagedStatus     ManagedSub = 0x02 // [u16 network]
	ManagedRankings   ManagedSub = 0x03 // [u16 network]
	ManagedCycle      ManagedSub = 0x04 // [u16 network]
	ManagedPolicy     ManagedSub = 0x05 // u8 action ‖ u16 network ‖ policy JSON
	ManagedMemberTags ManagedSub = 0x06 // u8 action ‖ u16 network ‖ u32 node ‖ JSON tags
)

// ManagedAction is the action byte of the policy and member-tags sub-commands.
type ManagedAction uint8

// Managed actions.
const (
	ManagedGet ManagedAction = 0
	ManagedSet ManagedAction = 1
)

// Managed (0x23): u8 sub ‖ rest. Fields by sub-command: score uses Network,
// Node, Delta and Data (topic); status, rankings and cycle use Network when
// HasNetwork; policy uses Action, Network and Data (policy JSON);
// member-tags uses Action, Network, Node and Data (JSON tags).
type Managed struct {
	Sub        ManagedSub
	Action     ManagedAction
	Network    addr.NetworkID
	HasNetwork bool
	Node       addr.NodeID
	Delta      int32
	Data       string
}

func (Managed) Cmd() Cmd { return CmdManaged }

// AppendTo appends 23 ‖ sub ‖ the sub-command's fields.
func (m Managed) AppendTo(b []byte) []byte {
	b = append(b, byte(CmdManaged), byte(m.Sub))
	switch m.Sub {
	case ManagedScore:
		b = appendU32(appendU16(b, uint16(m.Network)), uint32(m.Node))
		b = append(appendU32(b, uint32(m.Delta)), m.Data...)
	case ManagedStatus, ManagedRankings, ManagedCycle:
		if m.HasNetwork {
			b = appendU16(b, uint16(m.Network))
		}
	case ManagedPolicy:
		b = append(appendU16(append(b, byte(m.Action)), uint16(m.Network)), m.Data...)
	case ManagedMemberTags:
		b = appendU16(append(b, byte(m.Action)), uint16(m.Network))
		b = append(appendU32(b, uint32(m.Node)), m.Data...)
	}
	return b
}

// Decode parses the payload after the command byte.
func (m *Managed) Decode(p []byte) error {
	*m = Managed{}
	if len(p) == 0 {
		return shortErr("managed: missing sub-command")
	}
	m.Sub, p = ManagedSub(p[0]), p[1:]
	switch m.Sub {
	case ManagedScore:
		if len(p) < 10 {
			return shortErr("managed score: missing fields (need netID + nodeID + delta)")
		}
		m.Network, m.Node = addr.NetworkID(be16(p)), addr.NodeID(be32(p[2:]))
		m.Delta, m.Data = int32(be32(p[6:])), string(p[10:])
	case ManagedStatus, ManagedRankings, ManagedCycle:
		if len(p) >= 2 {
			m.Network, m.HasNetwork = addr.NetworkID(be16(p)), true
		}
	case ManagedPolicy:
		if len(p) < 3 {
			return shortErr("managed policy: missing sub-sub-command and network_id")
		}
		m.Action, m.Network, m.Data = ManagedAction(p[0]), addr.NetworkID(be16(p[1:])), string(p[3:])
		if m.Action != ManagedGet && m.Action != ManagedSet {
			return unknownSubErr("managed policy: unknown action 0x%02X", uint8(m.Action))
		}
	case ManagedMemberTags:
		if len(p) < 7 {
			return shortErr("managed member-tags: missing action, network_id, or node_id")
		}
		m.Action, m.Network = ManagedAction(p[0]), addr.NetworkID(be16(p[1:]))
		m.Node, m.Data = addr.NodeID(be32(p[3:])), string(p[7:])
	default:
		return unknownSubErr("managed: unknown sub-command 0x%02X", uint8(m.Sub))
	}
	return nil
}
