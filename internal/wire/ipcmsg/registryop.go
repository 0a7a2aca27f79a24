package ipcmsg

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Op names of RegistryOp (ipc.md §10.4, cli.md §4.4).
const (
	OpLookup           = "lookup"
	OpKeyInfo          = "key.info"
	OpKeySetExpiry     = "key.set_expiry"
	OpKeyRotate        = "key.rotate"
	OpKeyReclaim       = "key.reclaim"
	OpWebhookSet       = "webhook.set"
	OpWebhookClear     = "webhook.clear"
	OpWebhookStatus    = "webhook.status"
	OpPeers            = "peers"
	OpNetworkList      = "network.list"
	OpNetworkJoin      = "network.join"
	OpNetworkLeave     = "network.leave"
	OpNetworkMembers   = "network.members"
	OpNetworkInvite    = "network.invite"
	OpNetworkInvites   = "network.invites"
	OpNetworkRespond   = "network.respond"
	OpNetworkPromote   = "network.promote"
	OpNetworkDemote    = "network.demote"
	OpNetworkKick      = "network.kick"
	OpNetworkRole      = "network.role"
	OpNetworkSetPolicy = "network.set_policy"
	OpNetworkPolicy    = "network.policy"
	OpNetworkCreate    = "network.create"
	OpNetworkDelete    = "network.delete"
	OpNetworkRename    = "network.rename"
	OpNetworkTransfer  = "network.transfer"
	OpNetworkAudit     = "network.audit"
)

var knownOps = []string{
	OpLookup, OpKeyInfo, OpKeySetExpiry, OpKeyRotate, OpKeyReclaim, OpWebhookSet, OpWebhookClear,
	OpWebhookStatus, OpPeers, OpNetworkList, OpNetworkJoin, OpNetworkLeave, OpNetworkMembers,
	OpNetworkInvite, OpNetworkInvites, OpNetworkRespond, OpNetworkPromote, OpNetworkDemote,
	OpNetworkKick, OpNetworkRole, OpNetworkSetPolicy, OpNetworkPolicy, OpNetworkCreate,
	OpNetworkDelete, OpNetworkRename, OpNetworkTransfer, OpNetworkAudit,
}

// KnownOp reports whether op is one of the ops of ipc.md §10.4.
func KnownOp(op string) bool { return slices.Contains(knownOps, op) }

// RegistryOp (0x40): one JSON object {"op":"<op>", …arguments,
// "admin_token"?:"<str>"}. Args holds the arguments other than op and
// admin_token, each compacted; their meaning depends on the op, so they are
// read with the typed accessors below. AdminToken must never be logged.
type RegistryOp struct {
	Op         string
	AdminToken string
	Args       map[string]json.RawMessage
}

func (RegistryOp) Cmd() Cmd { return CmdRegistryOp }

// AppendTo appends 40 ‖ JSON object with keys in sorted order. Args values
// are written as given (Decode leaves them compacted and valid).
func (m RegistryOp) AppendTo(b []byte) []byte {
	b = append(b, byte(CmdRegistryOp), '{')
	b = appendJSON(append(b, `"op":`...), m.Op)
	if m.AdminToken != "" {
		b = appendJSON(append(b, `,"admin_token":`...), m.AdminToken)
	}
	keys := make([]string, 0, len(m.Args))
	for k := range m.Args {
		if k != "op" && k != "admin_token" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		b = appendJSON(append(b, ','), k)
		b = append(append(b, ':'), m.Args[k]...)
	}
	return append(b, '}')
}

// Decode parses the payload after the command byte. It checks the envelope
// only: a JSON object, a known string op, a string admin_token.
func (m *RegistryOp) Decode(p []byte) error {
	*m = RegistryOp{}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(p, &obj); err != nil || obj == nil {
		if err == nil {
			err = errNotObject
		}
		return invalidErr("registry op: invalid JSON: %v", err)
	}
	op, ok := obj["op"]
	if !ok {
		return invalidErr(`missing argument "op"`)
	}
	if err := json.Unmarshal(op, &m.Op); err != nil {
		return invalidErr(`argument "op" must be a string`)
	}
	if !KnownOp(m.Op) {
		return invalidErr("unknown op %q", m.Op)
	}
	if tok, ok := obj["admin_token"]; ok {
		if err := json.Unmarshal(tok, &m.AdminToken); err != nil {
			return invalidErr(`argument "admin_token" must be a string`)
		}
	}
	delete(obj, "op")
	delete(obj, "admin_token")
	for k, v := range obj {
		var buf bytes.Buffer
		if err := json.Compact(&buf, v); err != nil {
			return invalidErr("registry op: invalid JSON: %v", err)
		}
		if m.Args == nil {
			m.Args = make(map[string]json.RawMessage, len(obj))
		}
		m.Args[k] = buf.Bytes()
	}
	return nil
}

type jsonError string

func (e jsonError) Error() string { return string(e) }

const errNotObject = jsonError("not a JSON object")

func missingArg(name string) error { return invalidErr("missing argument %q", name) }

// arg returns the raw value of name; null counts as absent.
func (m RegistryOp) arg(name string) (json.RawMessage, bool) {
	v, ok := m.Args[name]
	if !ok || string(v) == "null" {
		return nil, false
	}
	return v, true
}

// String returns string argument name. A missing argument returns ok false;
// a present one of another type returns an invalid_argument error.
func (m RegistryOp) String(name string) (v string, ok bool, err error) {
	raw, ok := m.arg(name)
	if !ok {
		return "", false, nil
	}
	if json.Unmarshal(raw, &v) != nil {
		return "", true, invalidErr("argument %q must be a string", name)
	}
	return v, true, nil
}

// Bool returns boolean argument name, like String.
func (m RegistryOp) Bool(name string) (v bool, ok bool, err error) {
	raw, ok := m.arg(name)
	if !ok {
		return false, false, nil
	}
	if json.Unmarshal(raw, &v) != nil {
		return false, true, invalidErr("argument %q must be true or false", name)
	}
	return v, true, nil
}

// Uint returns integer argument name in 0..maxValue, like String. The JSON
// number must be written without fraction, exponent or sign.
func (m RegistryOp) Uint(name string, maxValue uint64) (v uint64, ok bool, err error) {
	raw, ok := m.arg(name)
	if !ok {
		return 0, false, nil
	}
	s := string(raw)
	if strings.ContainsAny(s, ".eE+-\"") {
		return 0, true, invalidErr("argument %q must be an integer in 0..%d", name, maxValue)
	}
	v, perr := strconv.ParseUint(s, 10, 64)
	if perr != nil || v > maxValue {
		return 0, true, invalidErr("argument %q must be an integer in 0..%d", name, maxValue)
	}
	return v, true, nil
}

// RequireString is String for a mandatory argument (`missing argument "<name>"`).
func (m RegistryOp) RequireString(name string) (string, error) {
	v, ok, err := m.String(name)
	if err == nil && !ok {
		err = missingArg(name)
	}
	return v, err
}

// RequireUint is Uint for a mandatory argument.
func (m RegistryOp) RequireUint(name string, maxValue uint64) (uint64, error) {
	v, ok, err := m.Uint(name, maxValue)
	if err == nil && !ok {
		err = missingArg(name)
	}
	return v, err
}

// MaxNodeID is the largest node ID an argument may name (registry.md §4.3).
const MaxNodeID = math.MaxUint32 - 1
