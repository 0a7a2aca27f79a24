package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
)

// Daemon control timings (cli.md §4.9).
const (
	startPoll    = 200 * time.Millisecond
	startTimeout = 15 * time.Second
	stopTimeout  = 10 * time.Second
	stopPoll     = 100 * time.Millisecond
)

// configDefaults are the config.json keys `daemon start` turns into
// pilot-daemon flags when the command line does not give them.
var configDefaults = []string{"registry", "beacon", "listen", "identity", "hostname", "webhook",
	"webhook_secret", "networks", "public"}

func (a *app) daemonCommand() *cobra.Command {
	d := &cobra.Command{
		Use:     "daemon",
		Short:   "Start, stop or check the local pilot-daemon",
		Example: "  pilotctl daemon start --registry reg.example.com:9000 --beacon reg.example.com:9001\n  pilotctl daemon status --check\n  pilotctl daemon stop",
		Args:    cobra.NoArgs,
		RunE:    func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	start := &cobra.Command{
		Use:   "start [flags] [--foreground]",
		Short: "Start pilot-daemon in the background (flags as pilot-daemon's, --flag form)",
		Long: `Start pilot-daemon (found next to pilotctl, else in PATH) with the given flags,
which are pilot-daemon's (cli.md §3.1) written --flag or --flag=value;
--no-encrypt means -encrypt=false. Defaults come from ~/.pilot/config.json
(registry, beacon, listen, identity, hostname, webhook, webhook_secret,
networks, public). The log goes to ~/.pilot/pilot.log and the PID to
~/.pilot/pilot.pid; the command waits until the daemon answers Info (15 s).
--foreground runs the daemon attached to the terminal instead.`,
		Example:            "  pilotctl daemon start --registry reg.example.com:9000 --beacon reg.example.com:9001 --listen :4000 --networks 1,3\n  pilotctl daemon start --foreground --log-level debug",
		DisableFlagParsing: true,
		RunE:               a.run(a.runDaemonStart),
	}
	stop := &cobra.Command{
		Use: "stop", Short: "Stop the daemon started by `daemon start` (SIGTERM, then SIGKILL after 10 s)",
		Example: "  pilotctl daemon stop", Args: cobra.NoArgs,
		RunE: a.run(a.runDaemonStop),
	}
	var check bool
	status := &cobra.Command{
		Use: "status [--check]", Short: "Show whether the daemon runs (--check: exit 0 running, 3 not running)",
		Example: "  pilotctl daemon status\n  pilotctl daemon status --check", Args: cobra.NoArgs,
		RunE: a.run(func(cmd *cobra.Command, _ []string) error { return a.runDaemonStatus(cmd, check) }),
	}
	status.Flags().BoolVar(&check, "check", false, "print nothing; exit 0 when running, 3 when not")
	d.AddCommand(start, stop, status)
	return d
}

func (a *app) pidPath() (string, error) {
	dir := pilotDir(a.env.Getenv)
	if dir == "" {
		return "", errorf(codeFailedPrecondition, "HOME is not set: cannot locate ~/.pilot")
	}
	return filepath.Join(dir, "pilot.pid"), nil
}

// readPID returns the PID in the PID file and whether that process is
// alive; a stale file is removed.
func (a *app) readPID() (int, bool) {
	path, err := a.pidPath()
	if err != nil {
		return 0, false
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 || !alive(pid) {
		os.Remove(path)
		return 0, false
	}
	return pid, true
}

func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// startArgs converts pilotctl's command line into pilot-daemon arguments.
type startArgs struct {
	daemon     []string
	given      map[string]bool
	foreground bool
	help       bool
}

func (a *app) parseStartArgs(args []string) (startArgs, error) {
	s := startArgs{given: map[string]bool{}}
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if !strings.HasPrefix(arg, "-") || arg == "-" || arg == "--" {
			return s, usageErr("unexpected argument %q: daemon start takes only flags", arg)
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(arg, "-"), "=")
		takeVal := func() (string, error) {
			if hasVal {
				return val, nil
			}
			if i+1 >= len(args) {
				return "", usageErr("flag --%s needs a value", name)
			}
			i++
			return args[i], nil
		}
		switch name {
		case "h", "help":
			s.help = true
		case "json":
			a.jsonMode = !hasVal || val == "true" || val == "1"
		case "foreground":
			s.foreground = !hasVal || val == "true"
		case "no-encrypt":
			s.daemon = append(s.daemon, "-encrypt=false")
			s.given["encrypt"] = true
		case "timeout":
			v, err := takeVal()
			if err != nil {
				return s, err
			}
			if a.timeout, err = parseDuration(v); err != nil {
				return s, err
			}
			a.timeoutSet = true
		case "socket":
			v, err := takeVal()
			if err != nil {
				return s, err
			}
			a.socketFlag = v
		case "admin-token":
			v, err := takeVal()
			if err != nil {
				return s, err
			}
			a.tokenFlag = v
		default:
			s.given[name] = true
			s.daemon = append(s.daemon, "-"+strings.TrimLeft(arg, "-"))
			// No positional arguments exist, so a word after a flag is its value.
			if !hasVal && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
				i++
				s.daemon = append(s.daemon, args[i])
			}
		}
	}
	return s, nil
}

// configFlag renders a config.json value as a flag value.
func configFlag(raw json.RawMessage) (string, bool) {
	var v any
	if json.Unmarshal(raw, &v) != nil || v == nil {
		return "", false
	}
	switch x := v.(type) {
	case string:
		return x, true
	case bool:
		return strconv.FormatBool(x), true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case []any:
		parts := make([]string, 0, len(x))
		for _, e := range x {
			parts = append(parts, fmt.Sprint(e))
		}
		return strings.Join(parts, ","), true
	}
	return "", false
}

// findDaemon locates pilot-daemon next to pilotctl, else in PATH.
func (a *app) findDaemon() (string, error) {
	if exe, err := a.env.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), "pilot-daemon")
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	p, err := exec.LookPath("pilot-daemon")
	if err != nil {
		return "", &Error{Code: codeNotFound, Message: "pilot-daemon not found next to pilotctl or in PATH",
			Hint: "install pilot-daemon next to pilotctl or add its directory to PATH"}
	}
	return p, nil
}

func (a *app) runDaemonStart(cmd *cobra.Command, args []string) error {
	s, err := a.parseStartArgs(args)
	if err != nil {
		return err
	}
	if s.help {
		return cmd.Help()
	}
	if err := a.setup(); err != nil {
		return err
	}
	for _, k := range configDefaults {
		flag := strings.ReplaceAll(k, "_", "-")
		if s.given[flag] || s.given[k] {
			continue
		}
		if v, ok := configFlag(a.cfg.raw[k]); ok {
			s.daemon = append(s.daemon, "-"+flag+"="+v)
		}
	}
	s.daemon = append(s.daemon, "-socket="+a.socket)
	bin, err := a.findDaemon()
	if err != nil {
		return err
	}
	env := os.Environ()
	if a.tokenFlag != "" {
		// pilot-daemon's -admin-token, passed in its environment variable
		// rather than on the command line, where ps shows it.
		env = append(env, "PILOT_ADMIN_TOKEN="+a.tokenFlag)
	}
	if s.foreground {
		return a.foreground(cmd.Context(), bin, s.daemon, env)
	}
	probe, cancel := context.WithTimeout(cmd.Context(), time.Second)
	_, err = a.info(probe)
	cancel()
	if err == nil {
		pid, _ := a.readPID()
		return &Error{Code: "already_exists", Message: fmt.Sprintf("a daemon is already running on %s (pid %d)", a.socket, pid),
			Hint: "pilotctl daemon stop, or --socket PATH for a second daemon"}
	}
	return a.background(cmd, bin, s.daemon, env)
}

func (a *app) foreground(ctx context.Context, bin string, args, env []string) error {
	c := exec.CommandContext(ctx, bin, args...)
	c.Env, c.Stdin, c.Stdout, c.Stderr = env, a.env.Stdin, a.env.Stdout, a.env.Stderr
	c.Cancel = func() error { return c.Process.Signal(syscall.SIGTERM) }
	c.WaitDelay = stopTimeout
	err := c.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return exitStatus(max(ee.ExitCode(), 1))
	}
	if err != nil {
		return errorf(codeInternal, "run %s: %v", bin, err)
	}
	return nil
}

func (a *app) background(cmd *cobra.Command, bin string, args, env []string) error {
	dir := pilotDir(a.env.Getenv)
	if dir == "" {
		return errorf(codeFailedPrecondition, "HOME is not set: cannot create ~/.pilot")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return errorf(codeInternal, "create %s: %v", dir, err)
	}
	logPath := filepath.Join(dir, "pilot.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return errorf(codeInternal, "open %s: %v", logPath, err)
	}
	defer logf.Close()
	c := exec.Command(bin, args...)
	c.Env, c.Stdout, c.Stderr = env, logf, logf
	c.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := c.Start(); err != nil {
		return errorf(codeInternal, "start %s: %v", bin, err)
	}
	pid := c.Process.Pid
	exited := make(chan error, 1)
	go func() { exited <- c.Wait() }()
	pidPath := filepath.Join(dir, "pilot.pid")
	if err := os.WriteFile(pidPath, []byte(strconv.Itoa(pid)+"\n"), 0o600); err != nil {
		c.Process.Kill()
		return errorf(codeInternal, "write %s: %v", pidPath, err)
	}
	ctx, cancel := a.ctx(cmd, startTimeout)
	defer cancel()
	tick := time.NewTicker(startPoll)
	defer tick.Stop()
	for {
		probe, pcancel := context.WithTimeout(ctx, startPoll*5)
		body, err := a.info(probe)
		pcancel()
		if err == nil {
			return a.print(body, func(w io.Writer, body json.RawMessage) error {
				var n ipcmsg.NodeInfo
				if err := decodeData(body, &n); err != nil {
					return err
				}
				fmt.Fprintf(w, "daemon started (pid %d): node %d %s; log %s\n", pid, n.NodeID, n.Address, logPath)
				return nil
			})
		}
		select {
		case err := <-exited:
			os.Remove(pidPath)
			return &Error{Code: codeInternal, Message: fmt.Sprintf("pilot-daemon exited during start-up (%v)", err),
				Hint: "see " + logPath}
		case <-ctx.Done():
			return &Error{Code: codeTimeout, Message: fmt.Sprintf("pilot-daemon (pid %d) did not answer on %s in time", pid, a.socket),
				Hint: "see " + logPath}
		case <-tick.C:
		}
	}
}

// info asks the daemon for its Info object.
func (a *app) info(ctx context.Context) (json.RawMessage, error) {
	c, err := a.daemon(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.callJSON(ctx, ipcmsg.Info{}, ipcmsg.CmdInfoOK)
}

func (a *app) runDaemonStop(cmd *cobra.Command, _ []string) error {
	path, err := a.pidPath()
	if err != nil {
		return err
	}
	pid, ok := a.readPID()
	d := struct {
		Stopped bool `json:"stopped"`
		PID     int  `json:"pid"`
	}{PID: pid}
	if !ok {
		// No PID file: a daemon that answers was started some other way,
		// and "not running" would be wrong.
		probe, cancel := context.WithTimeout(cmd.Context(), time.Second)
		_, err := a.info(probe)
		cancel()
		if err == nil {
			return &Error{Code: codeFailedPrecondition,
				Message: fmt.Sprintf("a daemon answers on %s, but %s has no PID of it: it was not started by `pilotctl daemon start`", a.socket, path),
				Hint:    "stop it where it was started (SIGTERM to pilot-daemon)"}
		}
	}
	if ok {
		if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
			return errorf("permission_denied", "signal pid %d: %v", pid, err)
		}
		deadline := a.env.Now().Add(stopTimeout)
		for alive(pid) && a.env.Now().Before(deadline) {
			select {
			case <-cmd.Context().Done():
				return mapErr(cmd.Context().Err(), a.socket, "daemon stop")
			case <-time.After(stopPoll):
			}
		}
		if alive(pid) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		os.Remove(path)
		d.Stopped = true
	}
	return a.emit(d, func(w io.Writer) {
		if d.Stopped {
			fmt.Fprintf(w, "daemon stopped (pid %d)\n", pid)
		} else {
			fmt.Fprintln(w, "daemon is not running")
		}
	})
}

func (a *app) runDaemonStatus(cmd *cobra.Command, check bool) error {
	pid, _ := a.readPID()
	ctx, cancel := a.ctx(cmd, 5*time.Second)
	defer cancel()
	body, err := a.info(ctx)
	var n ipcmsg.NodeInfo
	running := err == nil && decodeData(body, &n) == nil
	if check {
		if !running {
			return exitStatus(ExitCode(codeNotRunning))
		}
		return nil
	}
	d := struct {
		Running    bool   `json:"running"`
		PID        int    `json:"pid"`
		NodeID     uint32 `json:"node_id"`
		Address    string `json:"address"`
		UptimeSecs uint64 `json:"uptime_secs"`
	}{Running: running, PID: pid}
	if running {
		d.NodeID, d.Address, d.UptimeSecs = uint32(n.NodeID), n.Address.String(), n.UptimeSecs
	}
	return a.emit(d, func(w io.Writer) {
		if !running {
			fmt.Fprintf(w, "daemon is not running (socket %s)\n", a.socket)
			return
		}
		p := "unknown"
		if pid != 0 {
			p = strconv.Itoa(pid)
		}
		fmt.Fprintf(w, "daemon running (pid %s): node %d %s, up %s\n", p, d.NodeID, d.Address,
			time.Duration(d.UptimeSecs)*time.Second)
	})
}
