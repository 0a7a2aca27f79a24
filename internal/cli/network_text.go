package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Text renderings of the network commands, exactly as cli.md §4.10 shows
// them. Each decodes the reply object (the command's data) into a typed
// struct first.

type networkEntry struct {
	ID       uint16 `json:"id"`
	Name     string `json:"name"`
	JoinRule string `json:"join_rule"`
	Members  int    `json:"members"`
	Role     string `json:"role"`
}

// moreLine prints the continuation hint of a cut listing.
func moreLine(w io.Writer, base, cursor string) {
	if cursor != "" {
		fmt.Fprintf(w, "more: %s --cursor %s\n", base, cursor)
	}
}

func textList(more string) func(io.Writer, json.RawMessage) error {
	return func(w io.Writer, body json.RawMessage) error {
		var r struct {
			Networks   []networkEntry `json:"networks"`
			NextCursor string         `json:"next_cursor"`
		}
		if err := decodeData(body, &r); err != nil {
			return err
		}
		if len(r.Networks) == 0 {
			fmt.Fprintln(w, "no networks")
		} else {
			rows := make([][]string, 0, len(r.Networks))
			for _, n := range r.Networks {
				rows = append(rows, []string{itoa(uint64(n.ID)), n.Name, n.JoinRule, strconv.Itoa(n.Members), n.Role})
			}
			table(w, []string{"ID", "NAME", "RULE", "MEMBERS", "ROLE"}, rows)
		}
		moreLine(w, more, r.NextCursor)
		return nil
	}
}

// membership is the reply of join and accept.
type membership struct {
	NetworkID uint16 `json:"network_id"`
	Address   string `json:"address"`
	Role      string `json:"role"`
	Accepted  *bool  `json:"accepted"`
}

func textJoin(w io.Writer, body json.RawMessage) error {
	var r membership
	if err := decodeData(body, &r); err != nil {
		return err
	}
	fmt.Fprintf(w, "joined network %d as %s (role %s)\n", r.NetworkID, r.Address, r.Role)
	return nil
}

func textRespond(w io.Writer, body json.RawMessage) error {
	var r membership
	if err := decodeData(body, &r); err != nil {
		return err
	}
	if r.Accepted != nil && !*r.Accepted {
		fmt.Fprintf(w, "rejected invite to network %d\n", r.NetworkID)
		return nil
	}
	return textJoin(w, body)
}

type netOnly struct {
	NetworkID uint16 `json:"network_id"`
	Name      string `json:"name"`
}

func textLeave(w io.Writer, body json.RawMessage) error {
	var r netOnly
	if err := decodeData(body, &r); err != nil {
		return err
	}
	fmt.Fprintf(w, "left network %d\n", r.NetworkID)
	return nil
}

func textDelete(w io.Writer, body json.RawMessage) error {
	var r netOnly
	if err := decodeData(body, &r); err != nil {
		return err
	}
	fmt.Fprintf(w, "deleted network %d\n", r.NetworkID)
	return nil
}

func textRename(w io.Writer, body json.RawMessage) error {
	var r netOnly
	if err := decodeData(body, &r); err != nil {
		return err
	}
	fmt.Fprintf(w, "renamed network %d to %s\n", r.NetworkID, r.Name)
	return nil
}

func textMembers(more string) func(io.Writer, json.RawMessage) error {
	return func(w io.Writer, body json.RawMessage) error {
		var r struct {
			Nodes []struct {
				NodeID   uint32 `json:"node_id"`
				Address  string `json:"address"`
				Hostname string `json:"hostname"`
				Role     string `json:"role"`
				Online   bool   `json:"online"`
				LastSeen string `json:"last_seen"`
			} `json:"nodes"`
			NextCursor string `json:"next_cursor"`
		}
		if err := decodeData(body, &r); err != nil {
			return err
		}
		rows := make([][]string, 0, len(r.Nodes))
		for _, n := range r.Nodes {
			status := "offline"
			if n.Online {
				status = "online"
			}
			rows = append(rows, []string{itoa(uint64(n.NodeID)), n.Address, n.Hostname, n.Role, status, n.LastSeen})
		}
		if len(rows) == 0 {
			fmt.Fprintln(w, "no members")
		} else {
			table(w, []string{"NODE", "ADDRESS", "HOSTNAME", "ROLE", "STATUS", "LAST SEEN"}, rows)
		}
		moreLine(w, more, r.NextCursor)
		return nil
	}
}

// memberOp is the reply of invite, promote, demote, kick and role.
type memberOp struct {
	NetworkID    uint16 `json:"network_id"`
	TargetNodeID uint32 `json:"target_node_id"`
	Status       string `json:"status"`
	Role         string `json:"role"`
}

func textInvite(w io.Writer, body json.RawMessage) error {
	var r memberOp
	if err := decodeData(body, &r); err != nil {
		return err
	}
	if r.Status == "already_invited" {
		fmt.Fprintf(w, "node %d already has a pending invite to network %d\n", r.TargetNodeID, r.NetworkID)
		return nil
	}
	fmt.Fprintf(w, "invited node %d to network %d; the invite waits for their acceptance\n", r.TargetNodeID, r.NetworkID)
	return nil
}

// textRole renders promote/demote ("is now") and role ("has role").
func textRole(verb string) func(io.Writer, json.RawMessage) error {
	return func(w io.Writer, body json.RawMessage) error {
		var r memberOp
		if err := decodeData(body, &r); err != nil {
			return err
		}
		if verb == "is now" {
			fmt.Fprintf(w, "node %d is now %s of network %d\n", r.TargetNodeID, r.Role, r.NetworkID)
		} else {
			fmt.Fprintf(w, "node %d has role %s in network %d\n", r.TargetNodeID, r.Role, r.NetworkID)
		}
		return nil
	}
}

func textKick(w io.Writer, body json.RawMessage) error {
	var r memberOp
	if err := decodeData(body, &r); err != nil {
		return err
	}
	fmt.Fprintf(w, "kicked node %d from network %d\n", r.TargetNodeID, r.NetworkID)
	return nil
}

func textTransfer(w io.Writer, body json.RawMessage) error {
	var r struct {
		NetworkID uint16 `json:"network_id"`
		OldOwner  uint32 `json:"old_owner"`
		NewOwner  uint32 `json:"new_owner"`
	}
	if err := decodeData(body, &r); err != nil {
		return err
	}
	fmt.Fprintf(w, "node %d now owns network %d; node %d is now admin\n", r.NewOwner, r.NetworkID, r.OldOwner)
	return nil
}

func textInvites(w io.Writer, body json.RawMessage) error {
	var r struct {
		Invites []struct {
			NetworkID   uint16 `json:"network_id"`
			NetworkName string `json:"network_name"`
			InviterID   uint32 `json:"inviter_id"`
			Timestamp   int64  `json:"timestamp"`
			ExpiresAt   int64  `json:"expires_at"`
		} `json:"invites"`
		NextCursor string `json:"next_cursor"`
	}
	if err := decodeData(body, &r); err != nil {
		return err
	}
	if len(r.Invites) == 0 {
		fmt.Fprintln(w, "no pending invites")
	} else {
		rows := make([][]string, 0, len(r.Invites))
		for _, i := range r.Invites {
			rows = append(rows, []string{itoa(uint64(i.NetworkID)), i.NetworkName, itoa(uint64(i.InviterID)),
				unixTime(i.Timestamp), unixTime(i.ExpiresAt)})
		}
		table(w, []string{"NETWORK", "NAME", "INVITER", "RECEIVED", "EXPIRES"}, rows)
	}
	moreLine(w, "pilotctl network invites", r.NextCursor)
	return nil
}

func textPolicy(w io.Writer, body json.RawMessage) error {
	var r struct {
		NetworkID    uint16   `json:"network_id"`
		MaxMembers   int64    `json:"max_members"`
		AllowedPorts []uint16 `json:"allowed_ports"`
		Description  string   `json:"description"`
	}
	if err := decodeData(body, &r); err != nil {
		return err
	}
	maxm := "unlimited"
	if r.MaxMembers != 0 {
		maxm = strconv.FormatInt(r.MaxMembers, 10)
	}
	ports := "all"
	if len(r.AllowedPorts) > 0 {
		sorted := slices.Clone(r.AllowedPorts)
		slices.Sort(sorted)
		parts := make([]string, len(sorted))
		for i, p := range sorted {
			parts[i] = itoa(uint64(p))
		}
		ports = strings.Join(parts, ", ")
	}
	fmt.Fprintf(w, "network %d policy\n", r.NetworkID)
	fields(w, []field{{"max members", maxm}, {"allowed ports", ports}, {"description", r.Description}})
	return nil
}

func textCreate(w io.Writer, body json.RawMessage) error {
	var r struct {
		NetworkID uint16 `json:"network_id"`
		Name      string `json:"name"`
		JoinRule  string `json:"join_rule"`
	}
	if err := decodeData(body, &r); err != nil {
		return err
	}
	fmt.Fprintf(w, "created network %d %q (join rule %s); you are its owner\n", r.NetworkID, r.Name, r.JoinRule)
	return nil
}

func textAudit(more string) func(io.Writer, json.RawMessage) error {
	return func(w io.Writer, body json.RawMessage) error {
		var r struct {
			Entries []struct {
				Seq       uint64 `json:"seq"`
				Timestamp string `json:"timestamp"`
				Action    string `json:"action"`
				Actor     uint32 `json:"actor_node_id"`
				AuthVia   string `json:"auth_via"`
				Details   string `json:"details"`
			} `json:"entries"`
			NextCursor string `json:"next_cursor"`
		}
		if err := decodeData(body, &r); err != nil {
			return err
		}
		if len(r.Entries) == 0 {
			fmt.Fprintln(w, "no audit entries")
		} else {
			rows := make([][]string, 0, len(r.Entries))
			for _, e := range r.Entries {
				rows = append(rows, []string{itoa(e.Seq), e.Timestamp, e.Action, itoa(uint64(e.Actor)), e.AuthVia, e.Details})
			}
			table(w, []string{"SEQ", "TIME", "ACTION", "ACTOR", "VIA", "DETAILS"}, rows)
		}
		moreLine(w, more, r.NextCursor)
		return nil
	}
}

func itoa(v uint64) string { return strconv.FormatUint(v, 10) }

// unixTime formats Unix seconds as RFC 3339 UTC ("" for 0).
func unixTime(s int64) string {
	if s == 0 {
		return ""
	}
	return time.Unix(s, 0).UTC().Format(time.RFC3339)
}
