package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/pilot-go/pilot/internal/buildinfo"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/pilot-go/pilot/pilot"
)

// Version is pilotctl's version (set at link time with -X).
var Version = buildinfo.Version

// defaultTimeout is the overall deadline of a command that states none
// (cli.md §4.1).
const defaultTimeout = 30 * time.Second

// Env is what pilotctl takes from its process. Zero fields get the real
// process's values, so tests substitute only what they need.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
	// IsTerminal reports whether a writer is a terminal (progress output).
	IsTerminal func(io.Writer) bool
	Now        func() time.Time
	// Executable returns the running program's path; `daemon start` looks
	// for pilot-daemon next to it.
	Executable func() (string, error)
}

func (e *Env) fill() {
	if e.Stdin == nil {
		e.Stdin = os.Stdin
	}
	if e.Stdout == nil {
		e.Stdout = os.Stdout
	}
	if e.Stderr == nil {
		e.Stderr = os.Stderr
	}
	if e.Getenv == nil {
		e.Getenv = os.Getenv
	}
	if e.IsTerminal == nil {
		e.IsTerminal = isTerminal
	}
	if e.Now == nil {
		e.Now = time.Now
	}
	if e.Executable == nil {
		e.Executable = os.Executable
	}
}

// app is the state shared by the commands of one invocation.
type app struct {
	env        Env
	jsonMode   bool
	socketFlag string
	socket     string // resolved in PersistentPreRunE
	timeout    time.Duration
	timeoutSet bool
	tokenFlag  string
	adminToken string // resolved: flag > PILOT_ADMIN_TOKEN > config
	cfg        fileConfig
	exit       int // exit status of a successful run (daemon status --check)
}

// exitStatus ends a run with a status and no output.
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// Main runs pilotctl with args (without the program name) and returns the
// exit status.
func Main(ctx context.Context, args []string, env Env) int {
	env.fill()
	a := &app{env: env, jsonMode: scanJSON(args)}
	root := a.newRoot()
	root.SetArgs(args)
	root.SetIn(env.Stdin)
	root.SetOut(env.Stdout)
	root.SetErr(env.Stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return a.exit
	}
	var es exitStatus
	if errors.As(err, &es) {
		return int(es)
	}
	var e *Error
	if !errors.As(err, &e) {
		e = usageErr("%s", err.Error())
	}
	usage := ""
	if cmd != nil {
		usage = cmd.UseLine()
		if e.Usage && e.Hint == "" {
			e.Hint = usageHint(cmd)
		}
	}
	writeError(env.Stderr, e, a.jsonMode, usage)
	return ExitCode(e.Code)
}

// scanJSON finds --json anywhere before "--", so errors raised before flag
// parsing (unknown command, bad flag) are printed in the right mode.
func scanJSON(args []string) bool {
	on := false
	for _, a := range args {
		switch a {
		case "--":
			return on
		case "--json", "--json=true", "--json=1":
			on = true
		case "--json=false", "--json=0":
			on = false
		}
	}
	return on
}

func (a *app) newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "pilotctl",
		Short: "Control the local Pilot daemon and talk to other agents",
		Long: `pilotctl controls the local pilot-daemon over its IPC socket: status, streams to
other nodes, trust, names, keys, webhooks and networks. Every command accepts
--json (anywhere on the command line) for machine-readable output.

Targets (<target>, --node): a full address (0:0000.0000.02AE), a decimal node
ID (network 0) or a hostname, resolved through the daemon.

Exit status: 0 ok, 1 other failure, 2 invalid argument, 3 daemon not running,
4 permission denied / unauthenticated / admin token required, 5 not found,
6 timeout.`,
		Example:           "  pilotctl info\n  pilotctl --json network list\n  pilotctl ping alpha --count 3",
		Version:           Version,
		SilenceErrors:     true,
		SilenceUsage:      true,
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error { return a.setup() },
	}
	root.SetVersionTemplate("pilotctl {{.Version}}\n")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageErr("%s", err.Error()) })
	pf := root.PersistentFlags()
	scanned := a.jsonMode // --json seen by scanJSON; help shows the real default
	pf.BoolVar(&a.jsonMode, "json", false, "machine output: one JSON line {\"status\":\"ok\",\"data\":…}")
	a.jsonMode = scanned
	pf.StringVar(&a.socketFlag, "socket", "", "daemon IPC socket (env PILOT_SOCKET, default /tmp/pilot.sock)")
	pf.Var(durationValue{&a.timeout}, "timeout", "overall deadline, e.g. 10s, 5m, 1d (default per command, 30s unless stated)")
	pf.StringVar(&a.tokenFlag, "admin-token", "", "admin token for network and key commands that need one (env PILOT_ADMIN_TOKEN)")
	root.SetHelpCommand(a.helpCommand())
	groups := [][]*cobra.Command{
		a.statusCommands(), a.streamCommands(), a.serviceCommands(), a.trustCommands(),
		{a.keyCommand()}, a.webhookCommands(), {a.daemonCommand()}, a.networkCommands(),
		{a.versionCommand(), a.completionCommand()},
	}
	for _, g := range groups {
		root.AddCommand(g...)
	}
	a.installHelp(root)
	friendlyArgs(root)
	return root
}

// setup resolves the socket, the admin token and the config file.
func (a *app) setup() error {
	cfg, err := loadConfig(a.env.Getenv)
	if err != nil {
		return err
	}
	a.cfg = cfg
	a.socket = firstNonEmpty(a.socketFlag, a.env.Getenv("PILOT_SOCKET"), cfg.str("socket"), pilot.DefaultSocket)
	a.adminToken = firstNonEmpty(a.tokenFlag, a.env.Getenv("PILOT_ADMIN_TOKEN"), cfg.str("admin_token"))
	return nil
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// ctx returns the command's context bounded by --timeout, else by def
// (0 = no deadline).
func (a *app) ctx(cmd *cobra.Command, def time.Duration) (context.Context, context.CancelFunc) {
	a.timeoutSet = a.timeoutSet || cmd.Flags().Changed("timeout")
	d := def
	if a.timeoutSet {
		d = a.timeout
	}
	if d <= 0 {
		return context.WithCancel(cmd.Context())
	}
	return context.WithTimeout(cmd.Context(), d)
}

// run wraps a command body so that every error it returns is an *Error.
func (a *app) run(f func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		err := f(cmd, args)
		var es exitStatus
		if err == nil || errors.As(err, &es) {
			return err
		}
		return mapErr(err, a.socket, strings.TrimPrefix(cmd.CommandPath(), "pilotctl "))
	}
}

// emit prints a successful result: data as the JSON envelope, or text.
func (a *app) emit(data any, text func(w io.Writer)) error {
	if a.jsonMode {
		return writeOK(a.env.Stdout, data)
	}
	if text != nil {
		text(a.env.Stdout)
	}
	return nil
}

// daemon connects to the daemon's IPC socket.
func (a *app) daemon(ctx context.Context) (*ipcClient, error) {
	return dialDaemon(ctx, a.socket)
}

// sdk connects the pilot SDK to the daemon (stream commands).
func (a *app) sdk(ctx context.Context) (*pilot.Client, error) {
	c, err := pilot.Connect(ctx, pilot.WithSocket(a.socket), pilot.WithClientName("pilotctl/"+Version))
	if err != nil {
		return nil, sdkConnectErr(err, a.socket)
	}
	return c, nil
}

// showProgress reports whether bench and send-file print progress: only
// on a terminal and never with --json (cli.md §4.2).
func (a *app) showProgress() bool { return !a.jsonMode && a.env.IsTerminal(a.env.Stderr) }

func (a *app) versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print pilotctl's version",
		Example: "  pilotctl version\n  pilotctl --json version",
		Args:    cobra.NoArgs,
		// No daemon, socket or config needed.
		PersistentPreRunE: func(*cobra.Command, []string) error { return nil },
		RunE: a.run(func(*cobra.Command, []string) error {
			return a.emit(map[string]string{"version": Version}, func(w io.Writer) {
				fmt.Fprintf(w, "pilotctl %s\n", Version)
			})
		}),
	}
}

func (a *app) helpCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "help [command]",
		Short:   "Help about any command",
		Example: "  pilotctl help network promote",
		RunE: func(cmd *cobra.Command, args []string) error {
			target, _, err := cmd.Root().Find(args)
			if target == nil || err != nil {
				return usageErr("unknown help topic %q", strings.Join(args, " "))
			}
			return target.Help()
		},
	}
}

func (a *app) completionCommand() *cobra.Command {
	return &cobra.Command{
		Use:       "completion bash|zsh|fish|powershell",
		Short:     "Generate a shell completion script",
		Example:   "  source <(pilotctl completion bash)\n  pilotctl completion zsh > \"${fpath[1]}/_pilotctl\"\n  pilotctl completion fish | source",
		ValidArgs: []string{"bash", "zsh", "fish", "powershell"},
		// No daemon, socket or config needed.
		PersistentPreRunE: func(*cobra.Command, []string) error { return nil },
		Args:              cobra.MatchAll(cobra.ExactArgs(1), cobra.OnlyValidArgs),
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			var script bytes.Buffer
			if err := genCompletion(cmd.Root(), args[0], &script); err != nil {
				return errorf(codeInternal, "completion %s: %v", args[0], err)
			}
			// With --json the script is the data's "script" (cli.md §5 item 10).
			return a.emit(map[string]string{"shell": args[0], "script": script.String()}, func(w io.Writer) {
				w.Write(script.Bytes())
			})
		}),
	}
}

func genCompletion(root *cobra.Command, shell string, out io.Writer) error {
	switch shell {
	case "bash":
		return root.GenBashCompletionV2(out, true)
	case "zsh":
		return root.GenZshCompletion(out)
	case "fish":
		return root.GenFishCompletion(out, true)
	}
	return root.GenPowerShellCompletionWithDesc(out)
}

// nodeFlag adds --node to cmd.
func nodeFlag(cmd *cobra.Command, v *string) {
	cmd.Flags().StringVar(v, "node", "", "target node: address, node ID or hostname")
}

var _ pflag.Value = durationValue{}
