package registrye2e

import (
	"bufio"
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
	"sync"
	"syscall"
	"time"
)

// StartTimeout bounds how long Start waits for the "registry listening"
// log line (the machine may be loaded; the registry itself needs
// milliseconds).
const StartTimeout = 60 * time.Second

// logTailLines is how many stderr lines a Proc keeps for diagnostics.
const logTailLines = 200

// BuildBinary builds cmd/pilot-registry (or pkg, when non-empty) into dir
// and returns the path of the binary.
func BuildBinary(dir, pkg string) (string, error) {
	if pkg == "" {
		pkg = "github.com/pilot-go/pilot/cmd/pilot-registry"
	}
	out := filepath.Join(dir, filepath.Base(pkg))
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = "/usr/local/go/bin/go"
	}
	cmd := exec.Command(goBin, "build", "-o", out, pkg)
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
	}
	return out, nil
}

// Options say how to start the registry.
type Options struct {
	// Bin is the pilot-registry binary.
	Bin string
	// DataDir is passed as -data-dir.
	DataDir string
	// AdminToken is passed as -admin-token ("" = none).
	AdminToken string
	// Listen is passed as -listen; "" means 127.0.0.1:0 (a free port).
	Listen string
	// Extra flags, e.g. "-rate-limit", "off".
	Extra []string
	// LogFile, when set, receives a copy of everything the process writes
	// to stderr (operational log and audit records).
	LogFile string
}

// Proc is one running registry process.
type Proc struct {
	opts Options
	cmd  *exec.Cmd
	addr string
	done chan struct{} // closed when the process has exited
	werr error         // Wait's result, valid after done

	mu   sync.Mutex
	tail []string // last stderr lines
}

// Start runs the registry as `pilot-registry -data-dir … -admin-token …
// -log-format json -listen …` and waits for its "registry listening" line,
// whose addr becomes Addr.
func Start(opts Options) (*Proc, error) {
	if opts.Listen == "" {
		opts.Listen = "127.0.0.1:0"
	}
	args := []string{"-data-dir", opts.DataDir, "-log-format", "json", "-listen", opts.Listen}
	if opts.AdminToken != "" {
		args = append(args, "-admin-token", opts.AdminToken)
	}
	args = append(args, opts.Extra...)
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(opts.Bin, args...)
	cmd.Stderr = pw
	cmd.Env = append(os.Environ(), "PILOT_REGISTRY_ADMIN_TOKEN=")
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		return nil, fmt.Errorf("start %s: %w", opts.Bin, err)
	}
	pw.Close()
	p := &Proc{opts: opts, cmd: cmd, done: make(chan struct{})}
	var logw io.WriteCloser
	if opts.LogFile != "" {
		f, err := os.OpenFile(opts.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err == nil {
			logw = f
		}
	}
	ready := make(chan string, 1)
	go p.readLog(pr, logw, ready)
	go func() {
		p.werr = cmd.Wait()
		close(p.done)
	}()
	timer := time.NewTimer(StartTimeout)
	defer timer.Stop()
	select {
	case a := <-ready:
		p.addr = a
		return p, nil
	case <-p.done:
		return nil, fmt.Errorf("registry exited before listening (%v); log:\n%s", p.werr, p.LogTail())
	case <-timer.C:
		p.Kill()
		return nil, fmt.Errorf("registry did not log \"registry listening\" within %v; log:\n%s", StartTimeout, p.LogTail())
	}
}

// readLog consumes the process's stderr: it keeps the tail, copies to logw
// and reports the address of the "registry listening" record.
func (p *Proc) readLog(r io.ReadCloser, logw io.WriteCloser, ready chan<- string) {
	defer r.Close()
	if logw != nil {
		defer logw.Close()
	}
	br := bufio.NewReaderSize(r, 64<<10)
	found := false
	for {
		line, err := br.ReadString('\n')
		if len(line) > 0 {
			if logw != nil {
				io.WriteString(logw, line)
			}
			p.mu.Lock()
			p.tail = append(p.tail, strings.TrimRight(line, "\n"))
			if len(p.tail) > logTailLines {
				p.tail = p.tail[len(p.tail)-logTailLines:]
			}
			p.mu.Unlock()
			if !found && strings.Contains(line, `"registry listening"`) {
				var rec struct {
					Msg  string `json:"msg"`
					Addr string `json:"addr"`
				}
				if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "registry listening" && rec.Addr != "" {
					found = true
					ready <- rec.Addr
				}
			}
		}
		if err != nil {
			return
		}
	}
}

// Addr is the registry's host:port.
func (p *Proc) Addr() string { return p.addr }

// Pid is the process ID.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Options returns the options the process was started with, Listen set to
// its actual address (so Restart reuses the port).
func (p *Proc) Options() Options {
	o := p.opts
	o.Listen = p.addr
	return o
}

// LogTail returns the last lines the process wrote to stderr.
func (p *Proc) LogTail() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.tail, "\n")
}

// Exited reports whether the process has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Kill sends SIGKILL and waits for the process to be gone.
func (p *Proc) Kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// Signal sends sig to the process (e.g. SIGUSR1 to the profiling build).
func (p *Proc) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Stop sends SIGTERM and waits (at most timeout) for a clean exit 0.
func (p *Proc) Stop(timeout time.Duration) error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
		p.Kill()
		return fmt.Errorf("registry did not stop within %v after SIGTERM; killed", timeout)
	}
	if p.werr != nil {
		return fmt.Errorf("registry exit after SIGTERM: %v; log:\n%s", p.werr, p.LogTail())
	}
	return nil
}

// Restart starts a new process with the same options on the same address.
// The old process must have exited.
func (p *Proc) Restart() (*Proc, error) {
	if !p.Exited() {
		return nil, errors.New("restart: the registry is still running")
	}
	return Start(p.Options())
}

// RSSKiB returns the process's resident set size (VmRSS, KiB).
func (p *Proc) RSSKiB() (int64, error) { return VmRSS(p.Pid()) }

// VmRSS reads VmRSS (KiB) of pid from /proc/<pid>/status.
func VmRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				return strconv.ParseInt(f[0], 10, 64)
			}
		}
	}
	return 0, errors.New("VmRSS not found")
}

// RunSubcommand runs `pilot-registry args…` to completion and returns its
// exit status and combined output (e.g. "audit verify").
func RunSubcommand(ctx context.Context, bin string, args ...string) (int, string, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), string(out), nil
	}
	if err != nil {
		return -1, string(out), err
	}
	return 0, string(out), nil
}
