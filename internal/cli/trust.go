package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
)

// trustCommands: trust handshakes, names, visibility, tags and lookups
// (cli.md §4.7).
func (a *app) trustCommands() []*cobra.Command {
	hs := func(use, short, example string, sub ipcmsg.HandshakeSub, maxArgs int, text string) *cobra.Command {
		args := cobra.ExactArgs(1)
		if maxArgs < 0 {
			args = cobra.MinimumNArgs(1)
		}
		return &cobra.Command{
			Use: use, Short: short, Example: example, Args: args,
			RunE: a.run(func(cmd *cobra.Command, args []string) error {
				return a.handshake(cmd, sub, args[0], strings.Join(args[1:], " "), text)
			}),
		}
	}
	list := func(use, short string, sub ipcmsg.HandshakeSub, text func(io.Writer, json.RawMessage) error) *cobra.Command {
		return &cobra.Command{
			Use: use, Short: short, Example: "  pilotctl " + use, Args: cobra.NoArgs,
			RunE: a.run(func(cmd *cobra.Command, _ []string) error {
				return a.control(cmd, func(ctx context.Context, c *ipcClient) (json.RawMessage, error) {
					return c.callJSON(ctx, ipcmsg.Handshake{Sub: sub}, ipcmsg.CmdHandshakeOK)
				}, false, text)
			}),
		}
	}
	return []*cobra.Command{
		hs("handshake <target> [justification…]", "Ask a node to trust this node", `  pilotctl handshake research-node "summarise papers for the lab"`,
			ipcmsg.HandshakeRequest, -1, "handshake request sent to node %d"),
		hs("approve <node>", "Approve a pending trust request", "  pilotctl approve 686", ipcmsg.HandshakeApprove, 1, "approved node %d"),
		hs("reject <node> [reason…]", "Reject a pending trust request", `  pilotctl reject 686 "not expected"`,
			ipcmsg.HandshakeReject, -1, "rejected node %d"),
		hs("untrust <node>", "Revoke trust in a node", "  pilotctl untrust 686", ipcmsg.HandshakeRevoke, 1, "revoked trust in node %d"),
		list("pending", "List pending trust requests", ipcmsg.HandshakePending, textPending),
		list("trust", "List trusted nodes", ipcmsg.HandshakeTrusted, textTrusted),
		a.hostnameCmd(true), a.hostnameCmd(false),
		a.visibilityCmd(true), a.visibilityCmd(false),
		a.tagsCmd(true), a.tagsCmd(false),
		a.findCmd(), a.lookupCmd(),
	}
}

// control runs one control exchange and prints its JSON reply; strip
// removes a verbatim registry reply's "type" key.
func (a *app) control(cmd *cobra.Command, f func(context.Context, *ipcClient) (json.RawMessage, error),
	strip bool, text func(io.Writer, json.RawMessage) error) error {
	ctx, cancel := a.ctx(cmd, defaultTimeout)
	defer cancel()
	c, err := a.daemon(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	body, err := f(ctx, c)
	if err != nil {
		return err
	}
	if strip {
		if body, err = stripType(body); err != nil {
			return err
		}
	}
	return a.print(body, text)
}

func (a *app) handshake(cmd *cobra.Command, sub ipcmsg.HandshakeSub, who, text, format string) error {
	return a.control(cmd, func(ctx context.Context, c *ipcClient) (json.RawMessage, error) {
		node, err := a.resolveNode(ctx, c, who)
		if err != nil {
			return nil, err
		}
		return c.callJSON(ctx, ipcmsg.Handshake{Sub: sub, Node: node, Text: text}, ipcmsg.CmdHandshakeOK)
	}, false, func(w io.Writer, body json.RawMessage) error {
		var r ipcmsg.HandshakeStatus
		if err := decodeData(body, &r); err != nil {
			return err
		}
		fmt.Fprintf(w, format+"\n", r.NodeID)
		return nil
	})
}

func textPending(w io.Writer, body json.RawMessage) error {
	var r ipcmsg.HandshakePendingList
	if err := decodeData(body, &r); err != nil {
		return err
	}
	if len(r.Pending) == 0 {
		fmt.Fprintln(w, "no pending trust requests")
		return nil
	}
	rows := make([][]string, 0, len(r.Pending))
	for _, p := range r.Pending {
		rows = append(rows, []string{itoa(uint64(p.NodeID)), unixTime(p.ReceivedAt), oneLine(p.Justification)})
	}
	table(w, []string{"NODE", "RECEIVED", "JUSTIFICATION"}, rows)
	return nil
}

func textTrusted(w io.Writer, body json.RawMessage) error {
	var r ipcmsg.HandshakeTrustedList
	if err := decodeData(body, &r); err != nil {
		return err
	}
	if len(r.Trusted) == 0 {
		fmt.Fprintln(w, "no trusted nodes")
		return nil
	}
	rows := make([][]string, 0, len(r.Trusted))
	for _, p := range r.Trusted {
		net := ""
		if p.Network != 0 {
			net = itoa(uint64(p.Network))
		}
		rows = append(rows, []string{itoa(uint64(p.NodeID)), yesNo(p.Mutual), net, unixTime(p.ApprovedAt), p.PublicKey})
	}
	table(w, []string{"NODE", "MUTUAL", "NETWORK", "APPROVED", "PUBLIC KEY"}, rows)
	return nil
}

// nodeReply is the shape of the node attribute replies.
type nodeReply struct {
	NodeID     uint32   `json:"node_id"`
	Hostname   string   `json:"hostname"`
	Visibility string   `json:"visibility"`
	Public     *bool    `json:"public"`
	Tags       []string `json:"tags"`
	Address    string   `json:"address"`
}

func (a *app) hostnameCmd(set bool) *cobra.Command {
	use, short, ex, nargs := "set-hostname <name>", "Set this node's hostname", "  pilotctl set-hostname alpha", cobra.ExactArgs(1)
	if !set {
		use, short, ex, nargs = "clear-hostname", "Remove this node's hostname", "  pilotctl clear-hostname", cobra.NoArgs
	}
	return &cobra.Command{
		Use: use, Short: short, Example: ex, Args: nargs,
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			name := ""
			if set {
				name = args[0]
				if name == "" {
					return usageErr("empty hostname: use `pilotctl clear-hostname` to remove it")
				}
			}
			return a.control(cmd, func(ctx context.Context, c *ipcClient) (json.RawMessage, error) {
				body, err := c.callJSON(ctx, ipcmsg.SetHostname{Hostname: name}, ipcmsg.CmdSetHostnameOK)
				if err != nil {
					return nil, err
				}
				return withDefaults(body, map[string]any{"hostname": name})
			}, true, func(w io.Writer, body json.RawMessage) error {
				var r nodeReply
				if err := decodeData(body, &r); err != nil {
					return err
				}
				if r.Hostname == "" {
					fmt.Fprintf(w, "hostname of node %d cleared\n", r.NodeID)
				} else {
					fmt.Fprintf(w, "hostname of node %d set to %s\n", r.NodeID, r.Hostname)
				}
				return nil
			})
		}),
	}
}

func (a *app) visibilityCmd(public bool) *cobra.Command {
	use, short := "set-public", "Make this node public (anyone may resolve and reach it)"
	if !public {
		use, short = "set-private", "Make this node private (only trusted nodes and network peers)"
	}
	return &cobra.Command{
		Use: use, Short: short, Example: "  pilotctl " + use, Args: cobra.NoArgs,
		RunE: a.run(func(cmd *cobra.Command, _ []string) error {
			return a.control(cmd, func(ctx context.Context, c *ipcClient) (json.RawMessage, error) {
				body, err := c.callJSON(ctx, ipcmsg.SetVisibility{Public: public}, ipcmsg.CmdSetVisibilityOK)
				if err != nil {
					return nil, err
				}
				vis := "private"
				if public {
					vis = "public"
				}
				return withDefaults(body, map[string]any{"visibility": vis})
			}, true, func(w io.Writer, body json.RawMessage) error {
				var r nodeReply
				if err := decodeData(body, &r); err != nil {
					return err
				}
				vis := r.Visibility
				if vis == "" {
					vis = "private"
					if (r.Public != nil && *r.Public) || (r.Public == nil && public) {
						vis = "public"
					}
				}
				fmt.Fprintf(w, "node %d is now %s\n", r.NodeID, vis)
				return nil
			})
		}),
	}
}

func (a *app) tagsCmd(set bool) *cobra.Command {
	use, short, ex, nargs := "set-tags <tag>…", "Set this node's tags (at most 10)", "  pilotctl set-tags gpu eu-west", cobra.MinimumNArgs(1)
	if !set {
		use, short, ex, nargs = "clear-tags", "Remove this node's tags", "  pilotctl clear-tags", cobra.NoArgs
	}
	return &cobra.Command{
		Use: use, Short: short, Example: ex, Args: nargs,
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			if len(args) > ipcmsg.MaxTags {
				return usageErr("at most %d tags; got %d", ipcmsg.MaxTags, len(args))
			}
			tags := append([]string{}, args...)
			return a.control(cmd, func(ctx context.Context, c *ipcClient) (json.RawMessage, error) {
				body, err := c.callJSON(ctx, ipcmsg.SetTags{Tags: tags}, ipcmsg.CmdSetTagsOK)
				if err != nil {
					return nil, err
				}
				return withDefaults(body, map[string]any{"tags": []string{}})
			}, true, func(w io.Writer, body json.RawMessage) error {
				var r nodeReply
				if err := decodeData(body, &r); err != nil {
					return err
				}
				if len(r.Tags) == 0 {
					fmt.Fprintf(w, "tags of node %d cleared\n", r.NodeID)
				} else {
					fmt.Fprintf(w, "tags of node %d: %s\n", r.NodeID, strings.Join(r.Tags, ", "))
				}
				return nil
			})
		}),
	}
}

// withDefaults adds the keys of defaults that body lacks (or has as
// null), so that data always carries the keys of cli.md §4.7 even when the
// registry's reply omits them (an original registry answers set_visibility
// with "public" only).
func withDefaults(body json.RawMessage, defaults map[string]any) (json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := decodeData(body, &m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errorf(codeInternal, "unexpected daemon reply: not a JSON object")
	}
	changed := false
	for k, v := range defaults {
		if raw, ok := m[k]; ok && string(raw) != "null" {
			continue
		}
		b, err := encodeJSON(v)
		if err != nil {
			return nil, errorf(codeInternal, "encode %s: %v", k, err)
		}
		m[k], changed = b, true
	}
	if !changed {
		return body, nil
	}
	return encodeJSON(m)
}

func (a *app) findCmd() *cobra.Command {
	return &cobra.Command{
		Use: "find <hostname>", Short: "Resolve a hostname to a node and address",
		Example: "  pilotctl find alpha", Args: cobra.ExactArgs(1),
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			return a.control(cmd, func(ctx context.Context, c *ipcClient) (json.RawMessage, error) {
				return c.callJSON(ctx, ipcmsg.ResolveHostname{Hostname: args[0]}, ipcmsg.CmdResolveHostnameOK)
			}, true, func(w io.Writer, body json.RawMessage) error {
				var r nodeReply
				if err := decodeData(body, &r); err != nil {
					return err
				}
				vis := "private"
				if r.Public != nil && *r.Public {
					vis = "public"
				}
				fmt.Fprintf(w, "%s is node %d at %s (%s)\n", firstNonEmpty(r.Hostname, args[0]), r.NodeID, r.Address, vis)
				return nil
			})
		}),
	}
}

func (a *app) lookupCmd() *cobra.Command {
	return &cobra.Command{
		Use: "lookup <target>", Short: "Show what the registry tells this node about another node",
		Example: "  pilotctl lookup 686", Args: cobra.ExactArgs(1),
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			return a.control(cmd, func(ctx context.Context, c *ipcClient) (json.RawMessage, error) {
				node, err := a.resolveNode(ctx, c, args[0])
				if err != nil {
					return nil, err
				}
				return c.registryOp(ctx, ipcmsg.OpLookup, map[string]any{"node_id": node}, "")
			}, true, textLookup)
		}),
	}
}

func textLookup(w io.Writer, body json.RawMessage) error {
	var r struct {
		NodeID       uint32   `json:"node_id"`
		Address      string   `json:"address"`
		Hostname     string   `json:"hostname"`
		PublicKey    string   `json:"public_key"`
		Public       bool     `json:"public"`
		Version      string   `json:"version"`
		Networks     []uint16 `json:"networks"`
		Tags         []string `json:"tags"`
		Capabilities []string `json:"capabilities"`
		PoloScore    int64    `json:"polo_score"`
		RealAddr     string   `json:"real_addr"`
	}
	if err := decodeData(body, &r); err != nil {
		return err
	}
	nets := make([]string, len(r.Networks))
	for i, n := range r.Networks {
		nets[i] = itoa(uint64(n))
	}
	fmt.Fprintf(w, "node %d\n", r.NodeID)
	fields(w, []field{
		{"address", r.Address}, {"hostname", r.Hostname}, {"public", yesNo(r.Public)},
		{"public key", r.PublicKey}, {"version", r.Version}, {"networks", strings.Join(nets, ", ")},
		{"tags", strings.Join(r.Tags, ", ")}, {"capabilities", strings.Join(r.Capabilities, ", ")},
		{"polo score", fmt.Sprint(r.PoloScore)}, {"endpoint", r.RealAddr},
	})
	return nil
}
