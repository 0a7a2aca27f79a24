package regmsg

import "github.com/pilot-go/pilot/addr"

// Node attribute messages (registry.md §7.2).

// Message types of §7.2.
const (
	TypeSetVisibility   = "set_visibility"
	TypeSetHostname     = "set_hostname"
	TypeSetTags         = "set_tags"
	TypeSetTaskExec     = "set_task_exec"
	TypeResolveHostname = "resolve_hostname"
)

// SetVisibility is `set_visibility`; public is required.
type SetVisibility struct {
	Auth
	NodeID addr.NodeID
	Public bool
}

func (*SetVisibility) Type() string             { return TypeSetVisibility }
func (r *SetVisibility) Signer() addr.NodeID    { return r.NodeID }
func (r *SetVisibility) SignedParams() []string { return []string{pBool(r.Public)} }
func (r *SetVisibility) decode(d *decoder) {
	r.NodeID = d.signer("node_id")
	r.Public, _ = d.boolean("public", true)
}
func (r *SetVisibility) encode(e *encoder) {
	e.optNode("node_id", r.NodeID)
	e.bool("public", r.Public)
}

// SetHostname is `set_hostname`; Hostname "" clears. Interpretation: the
// field is required (an absent hostname is not read as "clear"), and an
// invalid or reserved value is invalid_argument.
type SetHostname struct {
	Auth
	NodeID   addr.NodeID
	Hostname string
}

func (*SetHostname) Type() string             { return TypeSetHostname }
func (r *SetHostname) Signer() addr.NodeID    { return r.NodeID }
func (r *SetHostname) SignedParams() []string { return []string{r.Hostname} }
func (r *SetHostname) decode(d *decoder) {
	r.NodeID = d.signer("node_id")
	r.Hostname, _ = d.str("hostname", true, strRule{})
	if d.err == nil && r.Hostname != "" {
		d.fail(ValidateHostname("hostname", r.Hostname))
	}
}
func (r *SetHostname) encode(e *encoder) {
	e.optNode("node_id", r.NodeID)
	e.str("hostname", r.Hostname)
}

// SetTags is `set_tags`. Tags holds the tags as sent (nil when absent, empty
// for [] and null); each passed ValidateTag and at most MaxTags remain after
// NormalizeTags, which gives the set to store.
type SetTags struct {
	Auth
	NodeID addr.NodeID
	Tags   []string
}

func (*SetTags) Type() string             { return TypeSetTags }
func (r *SetTags) Signer() addr.NodeID    { return r.NodeID }
func (r *SetTags) SignedParams() []string { return []string{pList(r.Tags)} }
func (r *SetTags) decode(d *decoder) {
	r.NodeID = d.signer("node_id")
	// The element count is bounded after dedup; cap the raw list generously
	// so a body of 64 KiB cannot make the check quadratic.
	r.Tags = d.strList("tags", 4096, true, ValidateTag)
	if d.err == nil {
		if n := len(NormalizeTags(r.Tags)); n > MaxTags {
			d.fail(invalidf("tags must hold at most %d distinct tags, got %d", MaxTags, n))
		}
	}
}
func (r *SetTags) encode(e *encoder) {
	e.optNode("node_id", r.NodeID)
	e.strs("tags", r.Tags)
}

// SetTaskExec is `set_task_exec`; enabled is required.
type SetTaskExec struct {
	Auth
	NodeID  addr.NodeID
	Enabled bool
}

func (*SetTaskExec) Type() string             { return TypeSetTaskExec }
func (r *SetTaskExec) Signer() addr.NodeID    { return r.NodeID }
func (r *SetTaskExec) SignedParams() []string { return []string{pBool(r.Enabled)} }
func (r *SetTaskExec) decode(d *decoder) {
	r.NodeID = d.signer("node_id")
	r.Enabled, _ = d.boolean("enabled", true)
}
func (r *SetTaskExec) encode(e *encoder) {
	e.optNode("node_id", r.NodeID)
	e.bool("enabled", r.Enabled)
}

// ResolveHostname is `resolve_hostname`; RequesterID is the optional signer.
// Interpretation: a hostname that breaks the §8.1 regex is invalid_argument
// (a reserved one passes and simply resolves to nothing).
type ResolveHostname struct {
	Auth
	Hostname    string
	RequesterID addr.NodeID
}

func (*ResolveHostname) Type() string             { return TypeResolveHostname }
func (r *ResolveHostname) Signer() addr.NodeID    { return r.RequesterID }
func (r *ResolveHostname) SignedParams() []string { return []string{r.Hostname} }
func (r *ResolveHostname) decode(d *decoder) {
	r.Hostname, _ = d.str("hostname", true, strRule{})
	if d.err == nil && !labelOK(r.Hostname, MaxHostnameLen) {
		d.fail(ValidateHostname("hostname", r.Hostname))
	}
	r.RequesterID = d.signer("requester_id")
}
func (r *ResolveHostname) encode(e *encoder) {
	e.str("hostname", r.Hostname)
	e.optNode("requester_id", r.RequesterID)
}
