package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
)

// registryOpPrint runs op on c and prints the reply object as data. The
// admin token travels only with ops that may need one (withToken); the
// daemon applies the least-privilege rule of cli.md §4.4 to it.
func (a *app) registryOpPrint(ctx context.Context, c *ipcClient, op string, args map[string]any, withToken bool,
	text func(io.Writer, json.RawMessage) error) error {
	tok := ""
	if withToken {
		tok = a.adminToken
	}
	body, err := c.registryOp(ctx, op, args, tok)
	if err != nil {
		return err
	}
	return a.print(body, text)
}

// print writes body as data, or renders it with text (buffered, so a
// rendering error prints nothing).
func (a *app) print(body json.RawMessage, text func(io.Writer, json.RawMessage) error) error {
	if a.jsonMode {
		return writeOK(a.env.Stdout, body)
	}
	var buf bytes.Buffer
	if err := text(&buf, body); err != nil {
		return err
	}
	_, err := a.env.Stdout.Write(buf.Bytes())
	return err
}

// parseNet parses a decimal network ID.
func parseNet(s string) (uint16, error) {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0, usageErr("invalid network %q: want a decimal network ID in 0..65535", s)
	}
	return uint16(n), nil
}

// netOp is a network sub-command that sends network_id and, optionally,
// the node of --node (or of the positional second argument).
type netOp struct {
	a      *app
	op     string
	node   string
	withID bool // needs a node
}

// nodeArg returns the node given as --node or as args[1] (compatibility
// form), never both.
func nodeArg(flagVal string, args []string) (string, error) {
	switch {
	case len(args) > 1 && flagVal != "":
		return "", usageErr("give the node either with --node or as the second argument, not both")
	case len(args) > 1:
		return args[1], nil
	case flagVal == "":
		return "", usageErr("missing --node: give the target node (address, node ID or hostname)")
	}
	return flagVal, nil
}

func (o *netOp) run(cmd *cobra.Command, args []string, extra map[string]any,
	text func(io.Writer, json.RawMessage) error) error {
	a := o.a
	net, err := parseNet(args[0])
	if err != nil {
		return err
	}
	var who string
	if o.withID {
		if who, err = nodeArg(o.node, args); err != nil {
			return err
		}
	}
	ctx, cancel := a.ctx(cmd, defaultTimeout)
	defer cancel()
	c, err := a.daemon(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	opArgs := map[string]any{"network_id": net}
	if o.withID {
		id, err := a.resolveNode(ctx, c, who)
		if err != nil {
			return err
		}
		opArgs["node_id"] = id
	}
	for k, v := range extra {
		opArgs[k] = v
	}
	return a.registryOpPrint(ctx, c, o.op, opArgs, true, text)
}

func (a *app) networkCommands() []*cobra.Command {
	nw := &cobra.Command{
		Use:     "network",
		Short:   "Manage network memberships, invites, roles and policies",
		Example: "  pilotctl network list\n  pilotctl network join 1 --token my-secret\n  pilotctl network promote 1 --node 686",
		Args:    cobra.NoArgs,
		RunE:    func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	nw.AddCommand(a.netList(), a.netJoin(), a.netSimple("leave <net>", "Leave a network", ipcmsg.OpNetworkLeave,
		"  pilotctl network leave 1", textLeave), a.netMembers(), a.netInvite(), a.netInvites(),
		a.netRespond(true), a.netRespond(false),
		a.netNodeOp("promote", "Make a member an admin (owner only)", ipcmsg.OpNetworkPromote, "  pilotctl network promote 1 --node 686", textRole("is now")),
		a.netNodeOp("demote", "Make an admin a plain member (owner only)", ipcmsg.OpNetworkDemote, "  pilotctl network demote 1 --node 686", textRole("is now")),
		a.netNodeOp("kick", "Remove a member from a network", ipcmsg.OpNetworkKick, "  pilotctl network kick 1 --node 687", textKick),
		a.netNodeOp("role", "Show a member's role", ipcmsg.OpNetworkRole, "  pilotctl network role 1 --node 686", textRole("has role")),
		a.netNodeOp("transfer", "Transfer ownership of a network", ipcmsg.OpNetworkTransfer, "  pilotctl network transfer 1 --node 686", textTransfer),
		a.netPolicy(true), a.netPolicy(false), a.netCreate(),
		a.netSimple("delete <net>", "Delete a network (owner)", ipcmsg.OpNetworkDelete, "  pilotctl network delete 3", textDelete),
		a.netRename(), a.netAudit(false))
	return []*cobra.Command{nw, a.netAudit(true)}
}

func (a *app) netSimple(use, short, op, example string, text func(io.Writer, json.RawMessage) error) *cobra.Command {
	o := &netOp{a: a, op: op}
	return &cobra.Command{
		Use: use, Short: short, Example: example, Args: cobra.ExactArgs(1),
		RunE: a.run(func(cmd *cobra.Command, args []string) error { return o.run(cmd, args, nil, text) }),
	}
}

func (a *app) netNodeOp(name, short, op, example string, text func(io.Writer, json.RawMessage) error) *cobra.Command {
	o := &netOp{a: a, op: op, withID: true}
	cmd := &cobra.Command{
		Use: name + " <net> --node <target>", Short: short, Example: example, Args: cobra.RangeArgs(1, 2),
		RunE: a.run(func(cmd *cobra.Command, args []string) error { return o.run(cmd, args, nil, text) }),
	}
	nodeFlag(cmd, &o.node)
	return cmd
}

func (a *app) netList() *cobra.Command {
	var all bool
	var cursor string
	cmd := &cobra.Command{
		Use: "list [--all] [--cursor C]", Short: "List the networks this node belongs to (--all: every network)",
		Example: "  pilotctl network list\n  pilotctl network list --all", Args: cobra.NoArgs,
		RunE: a.run(func(cmd *cobra.Command, _ []string) error {
			args := map[string]any{}
			if all {
				args["all"] = true
			}
			if cursor != "" {
				args["cursor"] = cursor
			}
			more := "pilotctl network list"
			if all {
				more += " --all"
			}
			return a.registryCmd(cmd, ipcmsg.OpNetworkList, args, true, textList(more))
		}),
	}
	cmd.Flags().BoolVar(&all, "all", false, "list every network, also those this node is not in")
	cmd.Flags().StringVar(&cursor, "cursor", "", "continue a listing cut by next_cursor")
	return cmd
}

func (a *app) netJoin() *cobra.Command {
	var token string
	o := &netOp{a: a, op: ipcmsg.OpNetworkJoin}
	cmd := &cobra.Command{
		Use: "join <net> [--token T]", Short: "Join a network",
		Example: "  pilotctl network join 1 --token my-secret", Args: cobra.ExactArgs(1),
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			extra := map[string]any{}
			if token != "" {
				extra["token"] = token
			}
			return o.run(cmd, args, extra, textJoin)
		}),
	}
	cmd.Flags().StringVar(&token, "token", "", "join token of a token network")
	return cmd
}

func (a *app) netMembers() *cobra.Command {
	var cursor string
	o := &netOp{a: a, op: ipcmsg.OpNetworkMembers}
	cmd := &cobra.Command{
		Use: "members <net> [--cursor C]", Short: "List the members of a network",
		Example: "  pilotctl network members 1\n  pilotctl --json network members 1", Args: cobra.ExactArgs(1),
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			extra := map[string]any{}
			if cursor != "" {
				extra["cursor"] = cursor
			}
			return o.run(cmd, args, extra, textMembers("pilotctl network members "+args[0]))
		}),
	}
	cmd.Flags().StringVar(&cursor, "cursor", "", "continue a listing cut by next_cursor")
	return cmd
}

func (a *app) netInvite() *cobra.Command {
	o := &netOp{a: a, op: ipcmsg.OpNetworkInvite, withID: true}
	cmd := &cobra.Command{
		Use: "invite <net> --node <target>", Short: "Invite a node to a network",
		Example: "  pilotctl network invite 1 --node 686", Args: cobra.RangeArgs(1, 2),
		RunE: a.run(func(cmd *cobra.Command, args []string) error { return o.run(cmd, args, nil, textInvite) }),
	}
	nodeFlag(cmd, &o.node)
	return cmd
}

func (a *app) netInvites() *cobra.Command {
	var cursor string
	cmd := &cobra.Command{
		Use: "invites [--cursor C]", Short: "List the invites waiting for this node",
		Example: "  pilotctl network invites", Args: cobra.NoArgs,
		RunE: a.run(func(cmd *cobra.Command, _ []string) error {
			args := map[string]any{}
			if cursor != "" {
				args["cursor"] = cursor
			}
			return a.registryCmd(cmd, ipcmsg.OpNetworkInvites, args, true, textInvites)
		}),
	}
	cmd.Flags().StringVar(&cursor, "cursor", "", "continue a listing cut by next_cursor")
	return cmd
}

func (a *app) netRespond(accept bool) *cobra.Command {
	o := &netOp{a: a, op: ipcmsg.OpNetworkRespond}
	use, short, ex := "accept <net>", "Accept an invite and join the network", "  pilotctl network accept 1"
	if !accept {
		use, short, ex = "reject <net>", "Reject an invite", "  pilotctl network reject 3"
	}
	return &cobra.Command{
		Use: use, Short: short, Example: ex, Args: cobra.ExactArgs(1),
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			return o.run(cmd, args, map[string]any{"accept": accept}, textRespond)
		}),
	}
}

// policyFlags are the flags of set-policy (and of policy, which behaves as
// set-policy when one of them is given).
type policyFlags struct {
	maxMembers   uint64
	allowedPorts string
	clearPorts   bool
	description  string
}

func (p *policyFlags) add(cmd *cobra.Command) {
	f := cmd.Flags()
	f.Uint64Var(&p.maxMembers, "max-members", 0, "member limit (0 = unlimited)")
	f.StringVar(&p.allowedPorts, "allowed-ports", "", "comma-separated ports 1-65535 members may use")
	f.BoolVar(&p.clearPorts, "clear-allowed-ports", false, "allow every port")
	f.StringVar(&p.description, "description", "", "network description")
}

// args returns the fields to send (only those given, merge-on-update) and
// whether any was given.
func (p *policyFlags) args(cmd *cobra.Command) (map[string]any, bool, error) {
	f := cmd.Flags()
	out := map[string]any{}
	if f.Changed("allowed-ports") && f.Changed("clear-allowed-ports") {
		return nil, false, usageErr("--allowed-ports and --clear-allowed-ports exclude each other")
	}
	if f.Changed("max-members") {
		if p.maxMembers > 1<<31-1 {
			return nil, false, usageErr("--max-members %d is too large", p.maxMembers)
		}
		out["max_members"] = p.maxMembers
	}
	if f.Changed("allowed-ports") {
		ports, err := parsePorts(p.allowedPorts)
		if err != nil {
			return nil, false, err
		}
		out["allowed_ports"] = ports
	}
	if f.Changed("clear-allowed-ports") && p.clearPorts {
		out["allowed_ports"] = []uint16{}
	}
	if f.Changed("description") {
		out["description"] = p.description
	}
	return out, len(out) > 0, nil
}

// parsePorts parses "80,443,7" (ports 1..65535).
func parsePorts(s string) ([]uint16, error) {
	var ports []uint16
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		n, err := strconv.ParseUint(part, 10, 16)
		if err != nil || n == 0 {
			return nil, usageErr("invalid port %q in --allowed-ports: want comma-separated ports 1-65535", part)
		}
		ports = append(ports, uint16(n))
	}
	return ports, nil
}

func (a *app) netPolicy(set bool) *cobra.Command {
	var p policyFlags
	o := &netOp{a: a}
	use := "set-policy <net> [--max-members N] [--allowed-ports LIST | --clear-allowed-ports] [--description D]"
	short, ex := "Change a network's policy (only the given fields)",
		"  pilotctl network set-policy 1 --max-members 50\n  pilotctl network set-policy 1 --allowed-ports 80,443,7"
	if !set {
		use, short, ex = "policy <net>", "Show a network's policy", "  pilotctl network policy 1"
	}
	cmd := &cobra.Command{
		Use: use, Short: short, Example: ex, Args: cobra.ExactArgs(1),
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			fields, any, err := p.args(cmd)
			if err != nil {
				return err
			}
			o.op = ipcmsg.OpNetworkPolicy
			if any {
				o.op = ipcmsg.OpNetworkSetPolicy
			} else if set {
				return usageErr("set-policy needs at least one of --max-members, --allowed-ports, --clear-allowed-ports, --description")
			}
			return o.run(cmd, args, fields, textPolicy)
		}),
	}
	p.add(cmd)
	return cmd
}

func (a *app) netCreate() *cobra.Command {
	var name, rule, token, netToken string
	var enterprise bool
	cmd := &cobra.Command{
		Use:     "create --name N [--join-rule open|token|invite] [--token T] [--network-admin-token T]",
		Short:   "Create a network (needs an admin token)",
		Example: "  pilotctl network create --name prod-fleet --join-rule token --token my-secret --admin-token $TOKEN",
		Args:    cobra.NoArgs,
		RunE: a.run(func(cmd *cobra.Command, _ []string) error {
			if name == "" {
				return usageErr("missing --name: give the new network's name")
			}
			switch rule {
			case "open", "token", "invite":
			default:
				return usageErr("invalid --join-rule %q: want open, token or invite", rule)
			}
			args := map[string]any{"name": name, "join_rule": rule}
			if token != "" {
				args["token"] = token
			}
			if netToken != "" {
				args["network_admin_token"] = netToken
			}
			return a.registryCmd(cmd, ipcmsg.OpNetworkCreate, args, true, textCreate)
		}),
	}
	f := cmd.Flags()
	f.StringVar(&name, "name", "", "network name")
	f.StringVar(&rule, "join-rule", "open", "open, token or invite")
	f.StringVar(&token, "token", "", "join token (join rule token)")
	f.StringVar(&netToken, "network-admin-token", "", "per-network admin token")
	f.BoolVar(&enterprise, "enterprise", false, "accepted for compatibility and ignored")
	f.MarkHidden("enterprise")
	return cmd
}

func (a *app) netRename() *cobra.Command {
	var name string
	o := &netOp{a: a, op: ipcmsg.OpNetworkRename}
	cmd := &cobra.Command{
		Use: "rename <net> --name N", Short: "Rename a network",
		Example: "  pilotctl network rename 3 --name staging", Args: cobra.RangeArgs(1, 2),
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			n := name
			switch {
			case len(args) > 1 && n != "":
				return usageErr("give the new name either with --name or as the second argument, not both")
			case len(args) > 1:
				n = args[1]
			case n == "":
				return usageErr("missing --name: give the new name")
			}
			return o.run(cmd, args[:1], map[string]any{"name": n}, textRename)
		}),
	}
	cmd.Flags().StringVar(&name, "name", "", "new name")
	return cmd
}

// netAudit is `network audit [<net>]`, or with alias set the top-level
// `audit [--network N]` (cli.md §4.10).
func (a *app) netAudit(alias bool) *cobra.Command {
	var action, cursor, network string
	var limit uint64
	use, ex := "audit [<net>] [--action A] [--limit 50] [--cursor C]",
		"  pilotctl network audit 1 --action member.promoted\n  pilotctl network audit --admin-token $TOKEN"
	short := "Show a network's audit trail (all networks with an admin token)"
	if alias {
		use, ex = "audit [--network N] [--action A] [--limit 50] [--cursor C]", "  pilotctl audit --network 1"
		short = "Alias of `network audit`"
	}
	cmd := &cobra.Command{
		Use: use, Short: short, Example: ex, Args: cobra.MaximumNArgs(1),
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				if network != "" {
					return usageErr("give the network either with --network or as an argument, not both")
				}
				network = args[0]
			}
			opArgs := map[string]any{}
			more := "pilotctl network audit"
			if network != "" {
				n, err := parseNet(network)
				if err != nil {
					return err
				}
				opArgs["network_id"] = n
				more += " " + network
			}
			if action != "" {
				opArgs["action"] = action
				more += " --action " + action
			}
			opArgs["limit"] = limit
			if cmd.Flags().Changed("limit") {
				more += " --limit " + strconv.FormatUint(limit, 10)
			}
			if cursor != "" {
				opArgs["cursor"] = cursor
			}
			return a.registryCmd(cmd, ipcmsg.OpNetworkAudit, opArgs, true, textAudit(more))
		}),
	}
	f := cmd.Flags()
	f.StringVar(&action, "action", "", "only this action, e.g. member.promoted")
	f.Uint64Var(&limit, "limit", 50, "entries per page (max 1000)")
	f.StringVar(&cursor, "cursor", "", "continue from a previous page")
	if alias {
		f.StringVar(&network, "network", "", "network ID")
	}
	return cmd
}
