// Command daemon-bench measures two real pilot-daemon processes on loopback
// and prints one table (`make bench`, bench/run.sh):
//
//	registry + beacon + daemons a, b (trusted)     ┐ processes built by run.sh
//	fresh daemons c1..cN (members of one network)  ┘ started by this program
//
//	bulk      pilotctl --json bench b SIZE          MiB/s, CPU s/GiB (both daemons, /proc/<pid>/stat)
//	tcp       loopback TCP echo of the same size    MiB/s (the reference: io.Copy, spliced by the kernel)
//	          bulk and tcp alternate three times; the table gives medians and ranges
//	ping      pilotctl --json ping b --count N      p50/p99 RTT (each probe dials a stream; tunnel up),
//	          then the same probe through the SDK split into dial and echo, and the
//	          machine's floor: a bare UDP round trip between two processes (floor.go)
//	fresh     SDK dial → first echoed byte, from a daemon that has no tunnel to b yet
//	idle      RSS of a and b, and their CPU time and wake-ups (schedstat) in the
//	          5 s after every connection closed and in the 10 s after that
//
// Figures depend on the machine's load; the table prints the load average
// at start and end.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pilot-go/pilot/pilot"
)

const adminToken = "daemon-bench-admin-token-0123456789"

// bulkRuns is how many pilotctl bench and TCP echo runs the table's
// medians come from.
const bulkRuns = 3

type options struct {
	bin     string
	mb      int
	pings   int
	fresh   int
	idle    time.Duration
	steady  time.Duration
	timeout time.Duration
}

func main() {
	if os.Getenv(udpEchoEnv) != "" {
		serveUDPEcho()
		return
	}
	var o options
	flag.StringVar(&o.bin, "bin", "bin", "directory holding pilot-registry, pilot-beacon, pilot-daemon and pilotctl")
	flag.IntVar(&o.mb, "mb", 128, "bulk transfer size in MiB")
	flag.IntVar(&o.pings, "pings", 40, "ping probes (120 ms apart)")
	flag.IntVar(&o.fresh, "fresh", 3, "fresh-tunnel samples (one extra daemon each)")
	flag.DurationVar(&o.idle, "idle", 5*time.Second, "idle window right after every connection closed")
	flag.DurationVar(&o.steady, "steady", 10*time.Second, "idle window after that one")
	flag.DurationVar(&o.timeout, "timeout", 4*time.Minute, "overall deadline")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	err := run(ctx, o)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "daemon-bench:", err)
		os.Exit(1)
	}
}

// proc is a started program.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

type bench struct {
	o     options
	dir   string
	procs []*proc
}

func (b *bench) start(name string, args ...string) (*proc, error) {
	p := &proc{name: name, log: filepath.Join(b.dir, name+".log"), done: make(chan struct{})}
	f, err := os.Create(p.log)
	if err != nil {
		return nil, err
	}
	p.cmd = exec.Command(filepath.Join(b.o.bin, strings.SplitN(name, "#", 2)[0]), args...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	if err := p.cmd.Start(); err != nil {
		f.Close()
		return nil, err
	}
	go func() { _ = p.cmd.Wait(); f.Close(); close(p.done) }()
	b.procs = append(b.procs, p)
	return p, nil
}

// stopAll stops the processes in reverse start order (bounded).
func (b *bench) stopAll() {
	for i := len(b.procs) - 1; i >= 0; i-- {
		p := b.procs[i]
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(15 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
}

// poll runs cond every 50 ms until it returns true or ctx/limit ends.
func poll(ctx context.Context, what string, limit time.Duration, cond func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, err := cond()
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}

func (b *bench) listenAddr(ctx context.Context, p *proc, what string) (string, error) {
	re := regexp.MustCompile(what + ` listening.* addr=([0-9.]+:[0-9]+)`)
	var addr string
	err := poll(ctx, p.name+" to listen", 60*time.Second, func() (bool, error) {
		data, _ := os.ReadFile(p.log)
		if m := re.FindSubmatch(data); m != nil {
			addr = string(m[1])
			return true, nil
		}
		select {
		case <-p.done:
			return false, fmt.Errorf("%s exited:\n%s", p.name, data)
		default:
		}
		return false, nil
	})
	return addr, err
}

// node is a daemon under test.
type node struct {
	p    *proc
	sock string
	id   int
}

// ctl runs pilotctl --json on n and decodes data.
func (b *bench) ctl(ctx context.Context, n *node, args ...string) (map[string]any, error) {
	full := append([]string{"--json", "--socket", n.sock}, args...)
	cmd := exec.CommandContext(ctx, filepath.Join(b.o.bin, "pilotctl"), full...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("pilotctl %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	var env struct {
		Data map[string]any `json:"data"`
	}
	if err := json.Unmarshal(out.Bytes(), &env); err != nil {
		return nil, fmt.Errorf("pilotctl %s: %v", strings.Join(args, " "), err)
	}
	return env.Data, nil
}

func num(v any) float64 { f, _ := v.(float64); return f }

func (b *bench) daemon(ctx context.Context, name, reg, bcn string) (*node, error) {
	dir := filepath.Join(b.dir, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	n := &node{sock: filepath.Join(dir, "pilot.sock")}
	var err error
	n.p, err = b.start("pilot-daemon#"+name, "-registry", reg, "-beacon", bcn, "-listen", "127.0.0.1:0",
		"-state-dir", dir, "-socket", n.sock)
	if err != nil {
		return nil, err
	}
	err = poll(ctx, name+" to register", 60*time.Second, func() (bool, error) {
		info, err := b.ctl(ctx, n, "info")
		if err != nil {
			return false, nil
		}
		n.id = int(num(info["node_id"]))
		return n.id != 0, nil
	})
	return n, err
}

func run(ctx context.Context, o options) error {
	dir, err := os.MkdirTemp("", "pilot-daemon-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	b := &bench{o: o, dir: dir}
	defer b.stopAll()
	load0 := loadavg()

	reg, err := b.start("pilot-registry", "-listen", "127.0.0.1:0", "-data-dir", filepath.Join(dir, "registry"),
		"-admin-token", adminToken, "-rate-limit", "off")
	if err != nil {
		return err
	}
	regAddr, err := b.listenAddr(ctx, reg, "registry")
	if err != nil {
		return err
	}
	bcn, err := b.start("pilot-beacon", "-listen", "127.0.0.1:0")
	if err != nil {
		return err
	}
	bcnAddr, err := b.listenAddr(ctx, bcn, "beacon")
	if err != nil {
		return err
	}
	na, err := b.daemon(ctx, "a", regAddr, bcnAddr)
	if err != nil {
		return err
	}
	nb, err := b.daemon(ctx, "b", regAddr, bcnAddr)
	if err != nil {
		return err
	}
	if err := b.trust(ctx, na, nb); err != nil {
		return err
	}
	bID := strconv.Itoa(nb.id)

	// Bulk: pilotctl bench with the CPU of both daemons.
	if _, err := b.ctl(ctx, na, "bench", bID, "1"); err != nil { // warm-up
		return err
	}
	// Bulk and TCP alternate, bulkRuns times each: the machine's speed
	// drifts within a minute, so the table gives medians and ranges.
	var bulk, tcp []float64
	var cpu, gib float64
	for range bulkRuns {
		cpu0 := cpuSecs(na.p) + cpuSecs(nb.p)
		res, err := b.ctl(ctx, na, "bench", bID, strconv.Itoa(o.mb), "--timeout", "200s")
		if err != nil {
			return err
		}
		cpu += cpuSecs(na.p) + cpuSecs(nb.p) - cpu0
		bulk = append(bulk, num(res["mib_per_s"]))
		gib += num(res["bytes"]) / (1 << 30)
		t, err := tcpEcho(int64(o.mb) << 20)
		if err != nil {
			return err
		}
		tcp = append(tcp, t)
	}
	slices.Sort(bulk)
	slices.Sort(tcp)

	// Ping RTT over an established tunnel.
	// The interval keeps the probes' SYNs under the receiver's per-source
	// limit (wire.md §9.15 table: 10/s, burst 10; excess SYNs are dropped
	// and retransmitted after the 1 s initial RTO).
	pr, err := b.ctl(ctx, na, "ping", bID, "--count", strconv.Itoa(o.pings), "--interval", "120ms", "--timeout", "120s")
	if err != nil {
		return err
	}
	var rtts []float64
	for _, r := range pr["results"].([]any) {
		m := r.(map[string]any)
		if m["ok"] == true {
			rtts = append(rtts, num(m["rtt_ms"]))
		}
	}
	splitDial, splitEcho, err := pingSplit(ctx, na.sock, fmt.Sprintf("0:0000.%04X.%04X:7", nb.id>>16, nb.id&0xFFFF), o.pings, 120*time.Millisecond)
	if err != nil {
		return fmt.Errorf("ping split: %w", err)
	}
	floor, err := udpFloor(ctx, o.pings, 120*time.Millisecond)
	if err != nil {
		return fmt.Errorf("udp floor: %w", err)
	}
	slices.Sort(rtts)

	// Fresh tunnels: daemons that share an open network with b but never
	// exchanged a frame with it dial b's echo port through the SDK.
	created, err := b.ctl(ctx, na, "network", "create", "--name", "bench", "--join-rule", "open", "--admin-token", adminToken)
	if err != nil {
		return err
	}
	netID := int(num(created["network_id"]))
	if _, err := b.ctl(ctx, nb, "network", "join", strconv.Itoa(netID)); err != nil {
		return err
	}
	var fresh, warm []float64
	for i := range o.fresh {
		c, err := b.daemon(ctx, fmt.Sprintf("c%d", i+1), regAddr, bcnAddr)
		if err != nil {
			return err
		}
		if _, err := b.ctl(ctx, c, "network", "join", strconv.Itoa(netID)); err != nil {
			return err
		}
		target := fmt.Sprintf("%d:%04X.%04X.%04X:7", netID, netID, nb.id>>16, nb.id&0xFFFF)
		for j, dst := range []*[]float64{&fresh, &warm} {
			d, err := firstByte(ctx, c.sock, target)
			if err != nil {
				return fmt.Errorf("c%d dial %d: %w", i+1, j+1, err)
			}
			*dst = append(*dst, d.Seconds()*1000)
		}
	}

	// Idle: wait until a and b report no connection, then sample.
	for _, n := range []*node{na, nb} {
		if err := poll(ctx, "connections to close", 60*time.Second, func() (bool, error) {
			info, err := b.ctl(ctx, n, "info")
			return err == nil && num(info["connections"]) == 0, err
		}); err != nil {
			return err
		}
	}
	// Two windows: right after the last close (TIME_WAIT timers, the
	// runtime returning the transfer's memory) and then steady idle.
	idle0 := []schedTotals{schedOf(na.p), schedOf(nb.p)}
	if err := sleepCtx(ctx, o.idle); err != nil {
		return err
	}
	idle1 := []schedTotals{schedOf(na.p), schedOf(nb.p)}
	if err := sleepCtx(ctx, o.steady); err != nil {
		return err
	}
	idle2 := []schedTotals{schedOf(na.p), schedOf(nb.p)}
	steadyCPU := []schedTotals{idle2[0].sub(idle1[0]), idle2[1].sub(idle1[1])}
	idleCPU := []schedTotals{idle1[0].sub(idle0[0]), idle1[1].sub(idle0[1])}
	rss := []float64{rssMiB(na.p), rssMiB(nb.p)}

	fmt.Printf("== pilot daemons on loopback (%d CPUs, load average %s at start, %s at end)\n",
		runtime.NumCPU(), load0, loadavg())
	fmt.Printf("%-46s %s\n", "measurement", "value")
	row := func(k, v string, a ...any) { fmt.Printf("%-46s %s\n", k, fmt.Sprintf(v, a...)) }
	row(fmt.Sprintf("bulk echo, encrypted, %d MiB (pilotctl bench)", o.mb), "median %.1f MiB/s of %d runs (%.1f–%.1f)",
		pct(bulk, 50), len(bulk), bulk[0], bulk[len(bulk)-1])
	row("  CPU, both daemons, per GiB echoed", "%.2f s/GiB (%.2f s total)", cpu/gib, cpu)
	row(fmt.Sprintf("loopback TCP echo, %d MiB (between them)", o.mb), "median %.1f MiB/s (%.1f–%.1f); bulk/TCP %.0f %%",
		pct(tcp, 50), tcp[0], tcp[len(tcp)-1], 100*pct(bulk, 50)/pct(tcp, 50))
	row(fmt.Sprintf("ping RTT, %d probes, stream dial included", len(rtts)), "p50 %.2f ms, p99 %.2f ms", pct(rtts, 50), pct(rtts, 99))
	row("  of which dial (SDK, same spacing)", "p50 %.2f ms; then write → echo p50 %.2f ms", pct(splitDial, 50), pct(splitEcho, 50))
	row("  floor: bare UDP echo, 2 processes", "p50 %.2f ms, p99 %.2f ms per round trip, same spacing (a probe makes 4)", pct(floor, 50), pct(floor, 99))
	row(fmt.Sprintf("dial → first echoed byte, fresh tunnel (n=%d)", len(fresh)), "median %.1f ms (max %.1f)", pct(fresh, 50), pct(fresh, 100))
	row("dial → first echoed byte, tunnel up", "median %.1f ms", pct(warm, 50))
	row("idle RSS (a, b)", "%.1f MiB, %.1f MiB", rss[0], rss[1])
	row(fmt.Sprintf("idle CPU, first %v after close (a, b)", o.idle), "%s, %s", idleCPU[0].format(o.idle), idleCPU[1].format(o.idle))
	row(fmt.Sprintf("idle CPU, the %v after that (a, b)", o.steady), "%s, %s", steadyCPU[0].format(o.steady), steadyCPU[1].format(o.steady))
	return nil
}

// trust runs handshake on a, approve on b, and waits for mutual trust.
func (b *bench) trust(ctx context.Context, na, nb *node) error {
	if _, err := b.ctl(ctx, na, "handshake", strconv.Itoa(nb.id), "bench"); err != nil {
		return err
	}
	has := func(n *node, cmd, key string, id int) (bool, error) {
		d, err := b.ctl(ctx, n, cmd)
		if err != nil {
			return false, err
		}
		for _, e := range d[key].([]any) {
			if int(num(e.(map[string]any)["node_id"])) == id {
				return true, nil
			}
		}
		return false, nil
	}
	if err := poll(ctx, "the trust request", 60*time.Second, func() (bool, error) { return has(nb, "pending", "pending", na.id) }); err != nil {
		return err
	}
	if _, err := b.ctl(ctx, nb, "approve", strconv.Itoa(na.id)); err != nil {
		return err
	}
	return poll(ctx, "mutual trust", 60*time.Second, func() (bool, error) { return has(na, "trust", "trusted", nb.id) })
}

// firstByte measures SDK Dial → write one byte → first echoed byte.
func firstByte(ctx context.Context, sock, target string) (time.Duration, error) {
	cl, err := pilot.Connect(ctx, pilot.WithSocket(sock))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	start := time.Now()
	c, err := cl.Dial(dctx, "pilot", target)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.Write([]byte{'x'}); err != nil {
		return 0, err
	}
	var one [1]byte
	if _, err := io.ReadFull(c, one[:]); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// tcpEcho measures a loopback TCP echo of size bytes (writer and reader
// concurrent, as pilotctl bench does).
func tcpEcho(size int64) (float64, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = io.Copy(c, c)
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return 0, err
	}
	defer c.Close()
	buf := make([]byte, 64<<10)
	for i := range buf {
		buf[i] = byte(i)
	}
	start := time.Now()
	werr := make(chan error, 1)
	go func() {
		var err error
		for sent := int64(0); sent < size && err == nil; sent += int64(len(buf)) {
			_, err = c.Write(buf[:min(int64(len(buf)), size-sent)])
		}
		werr <- err
	}()
	if n, err := io.CopyN(io.Discard, c, size); err != nil {
		return 0, fmt.Errorf("tcp echo: %d bytes: %w", n, err)
	}
	if err := <-werr; err != nil {
		return 0, err
	}
	return float64(size) / (1 << 20) / time.Since(start).Seconds(), nil
}

// pct is the p-th percentile (nearest rank) of sorted values.
func pct(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	s := slices.Clone(sorted)
	slices.Sort(s)
	i := int(float64(len(s))*p/100+0.5) - 1
	return s[max(0, min(i, len(s)-1))]
}

// cpuSecs is utime+stime of p from /proc/<pid>/stat (Linux; clock ticks
// of 100 Hz, USER_HZ on every Linux architecture Go supports).
// schedTotals is what the scheduler accounted to a process's threads
// (/proc/PID/task/*/schedstat): nanoseconds on a CPU and times scheduled
// in. Unlike utime/stime (10 ms ticks) it resolves an idle daemon's few
// wake-ups.
type schedTotals struct{ cpu, runs int64 }

func (t schedTotals) sub(u schedTotals) schedTotals {
	return schedTotals{t.cpu - u.cpu, t.runs - u.runs}
}

func (t schedTotals) format(window time.Duration) string {
	return fmt.Sprintf("%.2f ms (%.3f %% of a core, %.1f wake-ups/s)", float64(t.cpu)/1e6,
		100*float64(t.cpu)/float64(window.Nanoseconds()), float64(t.runs)/window.Seconds())
}

func schedOf(p *proc) schedTotals {
	var t schedTotals
	dirs, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", p.cmd.Process.Pid))
	for _, f := range dirs {
		data, err := os.ReadFile(f)
		if err != nil {
			continue // the thread exited
		}
		var cpu, wait, runs int64
		if _, err := fmt.Sscan(string(data), &cpu, &wait, &runs); err == nil {
			t.cpu += cpu
			t.runs += runs
		}
	}
	return t
}

func cpuSecs(p *proc) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// Fields after the ")" that ends the command name: state is field 3,
	// utime 14 and stime 15 (1-based).
	i := bytes.LastIndexByte(data, ')')
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	s, _ := strconv.ParseFloat(f[12], 64)
	return (u + s) / 100
}

// rssMiB is VmRSS of p.
func rssMiB(p *proc) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

func loadavg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
