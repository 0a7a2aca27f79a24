package regmsg

import (
	"strconv"

	"github.com/pilot-go/pilot/addr"
)

// fastReply is implemented by the replies of the hot paths (register,
// heartbeat, lookup, resolve): MarshalReply appends their fields directly
// instead of going through encoding/json's reflection, which cost a
// seventh of the registry's CPU per lookup. The output is the same JSON
// object, field for field and in the same order (TestFastRepliesMatch);
// strings are escaped like requests (encode.go).
type fastReply interface {
	Reply
	appendFields(e *encoder)
}

func (e *encoder) uint(k string, v uint64) {
	e.key(k)
	e.buf = strconv.AppendUint(e.buf, v, 10)
}

func (e *encoder) addr(k string, a addr.Addr) {
	e.key(k)
	e.buf = append(e.buf, '"')
	e.buf = a.AppendText(e.buf)
	e.buf = append(e.buf, '"')
}

// array writes an always-present string list ([] when nil).
func (e *encoder) array(k string, v []string) {
	if v == nil {
		v = []string{}
	}
	e.strs(k, v)
}

func (e *encoder) networks(k string, v []addr.NetworkID) {
	e.key(k)
	e.buf = appendUints(e.buf, v)
}

func (r RegisterOK) appendFields(e *encoder) {
	e.node("node_id", r.NodeID)
	e.uint("network_id", uint64(r.NetworkID))
	e.addr("address", r.Address)
	e.str("public_key", r.PublicKey)
	e.str("observed_addr", r.ObservedAddr)
	e.int("protocol_version", int64(r.ProtocolVersion))
	e.optStr("hostname", r.Hostname)
	e.optStr("hostname_error", r.HostnameError)
	e.array("auth_versions", r.AuthVersions)
	e.str("registry_version", r.RegistryVersion)
	e.int("heartbeat_interval_s", int64(r.HeartbeatIntervalS))
	e.uint("policy_epoch", r.PolicyEpoch)
}

func (r HeartbeatOK) appendFields(e *encoder) {
	e.int("time", r.Time)
	if r.KeyExpiryWarning {
		e.bool("key_expiry_warning", true)
	}
	e.optStr("key_expires_at", r.KeyExpiresAt)
	e.uint("policy_epoch", r.PolicyEpoch)
}

func (r LookupOK) appendFields(e *encoder) {
	e.node("node_id", r.NodeID)
	e.addr("address", r.Address)
	e.str("public_key", r.PublicKey)
	e.bool("public", r.Public)
	e.int("polo_score", r.PoloScore)
	e.array("capabilities", r.Capabilities)
	e.optStr("version", r.Version)
	e.networks("networks", r.Networks)
	e.optStr("hostname", r.Hostname)
	if len(r.Tags) > 0 {
		e.strs("tags", r.Tags)
	}
	if r.TaskExec {
		e.bool("task_exec", true)
	}
	e.optStr("real_addr", r.RealAddr)
}

func (r ResolveOK) appendFields(e *encoder) {
	e.node("node_id", r.NodeID)
	e.str("real_addr", r.RealAddr)
	if len(r.LANAddrs) > 0 {
		e.strs("lan_addrs", r.LANAddrs)
	}
	e.int("key_age_days", r.KeyAgeDays)
	e.str("public_key", r.PublicKey)
	e.array("capabilities", r.Capabilities)
}
