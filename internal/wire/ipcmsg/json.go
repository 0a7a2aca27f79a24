package ipcmsg

import (
	"bytes"
	"encoding/json"

	"github.com/pilot-go/pilot/addr"
)

// EncodeJSON marshals v as one JSON object without HTML escaping and
// without a trailing newline (ipc.md conventions).
func EncodeJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// appendJSON appends the encoding of a value whose marshalling cannot fail
// (strings, string slices, the structs of this file).
func appendJSON(b []byte, v any) []byte {
	out, err := EncodeJSON(v)
	if err != nil {
		return b
	}
	return append(b, out...)
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// NodeInfo is the InfoOK JSON (ipc.md §6). Every key is always written;
// nil slices are written as [] (never null).
type NodeInfo struct {
	NodeID                  addr.NodeID   `json:"node_id"`
	Address                 addr.Addr     `json:"address"`
	Hostname                string        `json:"hostname"`
	UptimeSecs              uint64        `json:"uptime_secs"`
	Connections             int           `json:"connections"`
	Ports                   int           `json:"ports"`
	Peers                   int           `json:"peers"`
	EncryptedPeers          int           `json:"encrypted_peers"`
	AuthenticatedPeers      int           `json:"authenticated_peers"`
	Encrypt                 bool          `json:"encrypt"`
	Identity                bool          `json:"identity"`
	PublicKey               string        `json:"public_key"`
	Email                   string        `json:"email"`
	BytesSent               uint64        `json:"bytes_sent"`
	BytesRecv               uint64        `json:"bytes_recv"`
	PktsSent                uint64        `json:"pkts_sent"`
	PktsRecv                uint64        `json:"pkts_recv"`
	TunnelEncryptionSuccess uint64        `json:"tunnel_encryption_success"`
	TunnelEncryptionFailure uint64        `json:"tunnel_encryption_failure"`
	HandshakePendingCount   int           `json:"handshake_pending_count"`
	Version                 string        `json:"version"`
	Networks                []InfoNetwork `json:"networks"`
	PeerList                []InfoPeer    `json:"peer_list"`
	ConnList                []InfoConn    `json:"conn_list"`
}

// InfoNetwork is one non-backbone membership in NodeInfo.Networks.
type InfoNetwork struct {
	NetworkID addr.NetworkID `json:"network_id"`
	Address   addr.Addr      `json:"address"`
}

// InfoPeer is one entry of NodeInfo.PeerList.
type InfoPeer struct {
	NodeID        addr.NodeID `json:"node_id"`
	Endpoint      string      `json:"endpoint"` // ip:port
	Encrypted     bool        `json:"encrypted"`
	Authenticated bool        `json:"authenticated"`
	Relay         bool        `json:"relay"`
}

// Connection states of InfoConn.State.
const (
	StateClosed      = "CLOSED"
	StateListen      = "LISTEN"
	StateSynSent     = "SYN_SENT"
	StateSynRecv     = "SYN_RECV"
	StateEstablished = "ESTABLISHED"
	StateFinWait     = "FIN_WAIT"
	StateCloseWait   = "CLOSE_WAIT"
	StateTimeWait    = "TIME_WAIT"
)

// InfoConn is one entry of NodeInfo.ConnList.
type InfoConn struct {
	ID           ConnID    `json:"id"`
	LocalPort    addr.Port `json:"local_port"`
	RemoteAddr   addr.Addr `json:"remote_addr"`
	RemotePort   addr.Port `json:"remote_port"`
	State        string    `json:"state"`
	CongWin      uint64    `json:"cong_win"`
	SSThresh     uint64    `json:"ssthresh"`
	InFlight     uint64    `json:"in_flight"`
	SRTTMillis   uint64    `json:"srtt_ms"`
	RTTVarMillis uint64    `json:"rttvar_ms"`
	Unacked      uint64    `json:"unacked"`
	OOOBuf       uint64    `json:"ooo_buf"`
	PeerRecvWin  uint64    `json:"peer_recv_win"`
	RecvWin      uint64    `json:"recv_win"`
	InRecovery   bool      `json:"in_recovery"`
	BytesSent    uint64    `json:"bytes_sent"`
	BytesRecv    uint64    `json:"bytes_recv"`
	SegsSent     uint64    `json:"segs_sent"`
	SegsRecv     uint64    `json:"segs_recv"`
	Retransmits  uint64    `json:"retransmits"`
	FastRetx     uint64    `json:"fast_retx"`
	SackRecv     uint64    `json:"sack_recv"`
	SackSent     uint64    `json:"sack_sent"`
	DupAcks      uint64    `json:"dup_acks"`
}

// MarshalJSON writes every key, with [] for empty lists.
func (n NodeInfo) MarshalJSON() ([]byte, error) {
	type plain NodeInfo
	p := plain(n)
	p.Networks, p.PeerList, p.ConnList = nonNil(p.Networks), nonNil(p.PeerList), nonNil(p.ConnList)
	return EncodeJSON(p)
}

// Status values of HealthReport (ipc.md §7).
const (
	HealthStatusOK       = "ok"
	HealthStatusDegraded = "degraded"
	RegistryStatusOK     = "ok"
	RegistryUnreachable  = "unreachable"
)

// Status values of HandshakeStatus (ipc.md §5.10).
const (
	HandshakeSent     = "sent"
	HandshakeApproved = "approved"
	HandshakeRejected = "rejected"
	HandshakeRevoked  = "revoked"
)

// Values of ManagedPolicyReply (ipc.md §5.20).
const (
	ManagedPolicyOKType = "managed_policy_ok"
	ManagedEngineNone   = "none"
)

// Hello features (ipc.md §10.2) and fixed HelloReply values.
const (
	FeatureTagged       = "tagged"
	FeatureDatagramBind = "datagram-bind"
	FeatureCloseReason  = "close-reason"
	FeatureRegistryOp   = "registry-op"
	FeatureUnbind       = "unbind"
	FeatureDialEx       = "dial-ex"
	FeatureConnOpt      = "conn-opt"
	FeatureSendToFrom   = "send-to-from"

	DaemonName = "pilot-daemon"
	IPCVersion = 1
)

// HealthReport is the HealthOK JSON (ipc.md §7). KeyExpiresAt (RFC 3339)
// is omitted when no expiry is set.
type HealthReport struct {
	Status        string          `json:"status"`
	UptimeSeconds uint64          `json:"uptime_seconds"`
	Connections   int             `json:"connections"`
	Peers         int             `json:"peers"`
	BytesSent     uint64          `json:"bytes_sent"`
	BytesRecv     uint64          `json:"bytes_recv"`
	Registry      string          `json:"registry"`
	KeyExpiresAt  string          `json:"key_expires_at,omitempty"`
	Webhook       WebhookCounters `json:"webhook"`
}

// WebhookCounters is Health's webhook object (services.md §8.4).
type WebhookCounters struct {
	Configured  bool   `json:"configured"`
	Queued      uint64 `json:"queued"`
	Delivered   uint64 `json:"delivered"`
	Failed      uint64 `json:"failed"`
	Dropped     uint64 `json:"dropped"`
	LastEventID uint64 `json:"last_event_id"`
}

// HandshakeStatus answers request, approve, reject and revoke (ipc.md §5.10).
type HandshakeStatus struct {
	Status string      `json:"status"`
	NodeID addr.NodeID `json:"node_id"`
}

// PendingRequest is one entry of HandshakePendingList. Times are Unix seconds.
type PendingRequest struct {
	NodeID        addr.NodeID `json:"node_id"`
	PublicKey     string      `json:"public_key"`
	Justification string      `json:"justification"`
	ReceivedAt    int64       `json:"received_at"`
}

// HandshakePendingList answers the pending sub-command.
type HandshakePendingList struct {
	Pending []PendingRequest `json:"pending"`
}

// MarshalJSON writes [] for an empty list.
func (l HandshakePendingList) MarshalJSON() ([]byte, error) {
	type plain HandshakePendingList
	return EncodeJSON(plain{Pending: nonNil(l.Pending)})
}

// TrustedPeer is one entry of HandshakeTrustedList. Network is 0 when the
// trust did not come from a shared network.
type TrustedPeer struct {
	NodeID     addr.NodeID    `json:"node_id"`
	PublicKey  string         `json:"public_key"`
	ApprovedAt int64          `json:"approved_at"`
	Mutual     bool           `json:"mutual"`
	Network    addr.NetworkID `json:"network"`
}

// HandshakeTrustedList answers the trusted sub-command.
type HandshakeTrustedList struct {
	Trusted []TrustedPeer `json:"trusted"`
}

// MarshalJSON writes [] for an empty list.
func (l HandshakeTrustedList) MarshalJSON() ([]byte, error) {
	type plain HandshakeTrustedList
	return EncodeJSON(plain{Trusted: nonNil(l.Trusted)})
}

// ManagedPolicyReply answers Managed policy get (ipc.md §5.20):
// {"type":"managed_policy_ok","network_id":N,"engine":"none"}.
type ManagedPolicyReply struct {
	Type      string         `json:"type"`
	NetworkID addr.NetworkID `json:"network_id"`
	Engine    string         `json:"engine"`
}

// WebhookReply is the SetWebhookOK JSON {"webhook":"<url>"}.
type WebhookReply struct {
	Webhook string `json:"webhook"`
}

// HelloReply is the HelloOK JSON (ipc.md §10.2).
type HelloReply struct {
	Daemon     string      `json:"daemon"`
	Version    string      `json:"version"`
	IPCVersion int         `json:"ipc_version"`
	NodeID     addr.NodeID `json:"node_id"`
	Address    addr.Addr   `json:"address"`
	MaxMessage int         `json:"max_message"`
	Features   []string    `json:"features"`
}

// MarshalJSON writes [] for an empty feature list.
func (h HelloReply) MarshalJSON() ([]byte, error) {
	type plain HelloReply
	p := plain(h)
	p.Features = nonNil(p.Features)
	return EncodeJSON(p)
}

// DaemonFeatures lists, in the spec's order, every feature our daemon supports.
func DaemonFeatures() []string {
	return []string{FeatureTagged, FeatureDatagramBind, FeatureCloseReason, FeatureRegistryOp,
		FeatureUnbind, FeatureDialEx, FeatureConnOpt, FeatureSendToFrom}
}

// Hello (0x42): {"client":"<name>/<version>","features":[…]} (ipc.md §10.2).
type Hello struct {
	Client   string   `json:"client"`
	Features []string `json:"features"`
}

func (Hello) Cmd() Cmd { return CmdHello }

// AppendTo appends 42 ‖ JSON.
func (m Hello) AppendTo(b []byte) []byte {
	m.Features = nonNil(m.Features)
	type plain Hello
	return appendJSON(append(b, byte(CmdHello)), plain(m))
}

// Decode parses the payload after the command byte. Unknown keys are ignored.
func (m *Hello) Decode(p []byte) error {
	type plain Hello
	var h plain
	if err := json.Unmarshal(p, &h); err != nil {
		return invalidErr("hello: invalid JSON: %v", err)
	}
	h.Features = nonNil(h.Features)
	*m = Hello(h)
	return nil
}

// Has reports whether the client requested feature f.
func (m Hello) Has(f string) bool {
	for _, x := range m.Features {
		if x == f {
			return true
		}
	}
	return false
}
