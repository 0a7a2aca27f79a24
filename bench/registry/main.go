// Command registry-bench measures the real pilot-registry binary over
// loopback, as registry.md §12 asks of load tests: the registry runs with
// -rate-limit off, the load generator pre-signs its requests (auth v2,
// §5.1) within the skew window, each with a fresh nonce.
//
//	registry-bench ──TCP loopback──► pilot-registry -rate-limit off -data-dir $TMP/…
//	  closed loop: C connections × (write frame, read reply), C ∈ {1, 8, 64},
//	               raw system calls on each socket (internal/rawsock), as
//	               the registry makes: both share the machine's cores
//	  bulk load:   64 pipelined connections (register N nodes, then VmRSS)
//
// It prints one table: register, heartbeat, lookup (anonymous) and resolve
// (signed, public targets) operations per second and p50/p99 round-trip
// latency for each client count (the median of -runs runs, with their
// range: identical runs differ a lot on a shared machine) on a population
// of -nodes nodes, with the CPU time per request of the registry ("reg
// µs", user + system) and of this load generator ("gen µs"), and the share
// of the machine's CPU left idle during the run: a rate below the goal
// with idle CPU left is bound by waiting (a serial path, wake-ups), one
// without by the work per request. Then the bulk registration rate, and the VmRSS
// (/proc/<pid>/status) of a fresh registry after 10,000, 50,000 and
// 100,000 registered nodes (flag -rss). With -cpuprofile it runs the registry
// through bench/registry/pprofreg and profiles it under a heartbeat load
// of 64 clients (-profile-op chooses another operation). run.sh wraps it.
package main

import (
	"cmp"
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pilot-go/pilot/addr"
	registrye2e "github.com/pilot-go/pilot/e2e/registry"
	"github.com/pilot-go/pilot/internal/identity"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
)

const adminToken = "bench-admin-token-0123456789abcdef"

type node struct {
	id  uint32
	key *identity.Identity
}

type bench struct {
	proc    *registrye2e.Proc
	nodes   []node // registered
	public  []node // registered and public (resolve targets)
	extra   int    // registered by the register benchmark, not tracked
	nextKey uint64 // seed counter of the next identity
}

func main() {
	var (
		bin      = flag.String("bin", "", "pilot-registry binary (default: build it)")
		clientsF = flag.String("clients", "1,8,64", "client counts")
		opsF     = flag.String("ops", "register,heartbeat,lookup,resolve", "operations to measure")
		n        = flag.Int("n", 0, "requests per (operation, client count); 0 = 600 per client, at least 4000, so every run lasts long enough to be past its warm-up")
		pop      = flag.Int("nodes", 10000, "registered population for heartbeat, lookup and resolve")
		rssF     = flag.String("rss", "10000,50000", "node counts at which to report VmRSS")
		cpuprof  = flag.String("cpuprofile", "", "write a CPU profile of the registry under heartbeat load here")
		keepDir  = flag.Bool("keep", false, "keep the data directory")
		runs     = flag.Int("runs", 3, "runs per (operation, client count); the table shows the median run and the range")
		profN    = flag.Int("profile-n", 60000, "requests sent while profiling")
		profOp   = flag.String("profile-op", "heartbeat", "operation profiled with -cpuprofile (64 clients)")
	)
	flag.Parse()
	clients := ints(*clientsF)
	ops := strings.Split(*opsF, ",")
	for _, op := range ops {
		if !slices.Contains([]string{"register", "heartbeat", "lookup", "resolve"}, op) {
			fail("-ops: unknown operation %q (register, heartbeat, lookup, resolve)", op)
		}
	}
	rssAt := ints(*rssF)

	tmp, err := os.MkdirTemp("", "registry-bench-")
	check(err)
	if !*keepDir {
		defer os.RemoveAll(tmp)
	}
	pkg := ""
	if *cpuprof != "" {
		pkg = "github.com/pilot-go/pilot/bench/registry/pprofreg"
		*bin = ""
		abs, err := filepath.Abs(*cpuprof)
		check(err)
		os.Setenv("PILOT_CPUPROFILE", abs)
	}
	if *bin == "" {
		*bin, err = registrye2e.BuildBinary(tmp, pkg)
		check(err)
	}
	load0 := loadavg()
	start := func(name string) *registrye2e.Proc {
		p, err := registrye2e.Start(registrye2e.Options{Bin: *bin, DataDir: filepath.Join(tmp, name),
			AdminToken: adminToken, Extra: []string{"-rate-limit", "off"}, LogFile: filepath.Join(tmp, name+".log")})
		check(err)
		running = p
		return p
	}
	p := start("data")
	defer p.Kill()
	b := &bench{proc: p}
	fmt.Printf("pilot-registry benchmark: %s, pid %d, loopback, -rate-limit off; load average before: %s\n",
		p.Addr(), p.Pid(), load0)
	b.grow(*pop)
	b.makePublic(min(1000, len(b.nodes)))

	fmt.Printf("\n%-10s %7s %9s %10s %15s %10s %10s %7s %8s %8s %6s\n", "operation", "clients", "requests", "ops/s", "range",
		"p50", "p99", "errors", "reg µs", "gen µs", "idle%")
	for _, op := range ops {
		for _, c := range clients {
			reqs := *n
			if reqs <= 0 {
				reqs = max(4000, 600*c)
			}
			b.measure(op, c, reqs, max(1, *runs))
		}
	}
	if *cpuprof != "" {
		check(p.Signal(syscall.SIGUSR1))
		report(*profOp, 64, []result{b.run(*profOp, 64, *profN)})
		check(p.Signal(syscall.SIGUSR2))
		check(p.Stop(30 * time.Second))
		fmt.Printf("cpu profile (%s, 64 clients, %d requests): %s\n", *profOp, *profN, *cpuprof)
	}
	if len(rssAt) > 0 {
		// Memory per registered node, on a fresh registry that serves
		// nothing else: the table's load leaves caches behind (replay
		// records of recent requests, heap the runtime keeps) that
		// depend on the load, not on the nodes.
		p.Kill()
		m := &bench{proc: start("data-rss")}
		defer m.proc.Kill()
		fmt.Printf("\nmemory: a fresh registry (pid %d), nodes registered over 64 pipelined connections\n", m.proc.Pid())
		for _, r := range rssAt {
			m.grow(r)
			rss, err := m.proc.RSSKiB()
			check(err)
			fmt.Printf("VmRSS after %7d registered nodes: %7.1f MB\n", m.total(), float64(rss)/1024)
		}
	}
	fmt.Printf("load average after: %s\n", loadavg())
}

// grow registers nodes until there are target.
func (b *bench) grow(target int) {
	if b.total() < target {
		b.bulkRegister(target - b.total())
	}
}

// bulkRegister registers k new nodes over 64 pipelined connections, in
// chunks small enough to arrive within the ±60 s skew window of their
// pre-signed ts. The rate counts sending time only (not signing).
func (b *bench) bulkRegister(k int) {
	const chunk = 4000
	var total time.Duration
	for done := 0; done < k; done += chunk {
		ids, frames := b.registerFrames(min(chunk, k-done))
		replies, d, err := pipelined(b.proc.Addr(), 64, frames)
		check(err)
		total += d
		for i, body := range replies {
			var rep regmsg.RegisterOK
			if err := regmsg.UnmarshalReply(body, &rep); err != nil {
				fail("bulk register: %s", body)
			}
			b.nodes = append(b.nodes, node{id: uint32(rep.NodeID), key: ids[i]})
		}
	}
	fmt.Printf("bulk register: %d nodes in %v (%.0f/s, 64 pipelined connections), total %d\n",
		k, total.Round(time.Millisecond), float64(k)/total.Seconds(), b.total())
}

func (b *bench) newKey() *identity.Identity {
	var seed [32]byte
	binary.BigEndian.PutUint64(seed[:], b.nextKey)
	seed[31] = 0xb5
	b.nextKey++
	id, err := identity.FromSeed(seed[:])
	check(err)
	return id
}

func (b *bench) registerFrames(k int) ([]*identity.Identity, [][]byte) {
	ids := make([]*identity.Identity, k)
	frames := make([][]byte, k)
	now := time.Now()
	for i := range k {
		ids[i] = b.newKey()
		req := &regmsg.Register{PublicKey: ids[i].PublicKeyBase64(), ListenAddr: "127.0.0.1:4000", Version: "bench"}
		registrye2e.Sign(req, ids[i], now, nil)
		frames[i] = frameOf(req)
	}
	return ids, frames
}

// makePublic makes the first k nodes public: the resolve targets.
func (b *bench) makePublic(k int) {
	frames := make([][]byte, k)
	now := time.Now()
	for i, nd := range b.nodes[:k] {
		req := &regmsg.SetVisibility{NodeID: regNode(nd.id), Public: true}
		registrye2e.Sign(req, nd.key, now, nil)
		frames[i] = frameOf(req)
	}
	replies, _, err := pipelined(b.proc.Addr(), 16, frames)
	check(err)
	for _, r := range replies {
		if strings.Contains(string(r), `"error"`) {
			fail("set_visibility: %s", r)
		}
	}
	b.public = b.nodes[:k]
}

// measure runs one (operation, client count) cell runs times and prints
// the median run.
func (b *bench) measure(op string, clients, n, runs int) {
	rs := make([]result, runs)
	for i := range rs {
		rs[i] = b.run(op, clients, n)
	}
	report(op, clients, rs)
}

// report prints the run with the median rate, the range of the rates and
// the errors of all runs.
func report(op string, clients int, rs []result) {
	slices.SortFunc(rs, func(x, y result) int { return cmp.Compare(x.opsPerSec(), y.opsPerSec()) })
	med := rs[len(rs)/2]
	errs, first := 0, ""
	for _, r := range rs {
		errs += r.errors
		if first == "" {
			first = r.firstErr
		}
	}
	rng := "-"
	if len(rs) > 1 {
		rng = fmt.Sprintf("%.0f–%.0f", rs[0].opsPerSec(), rs[len(rs)-1].opsPerSec())
	}
	fmt.Printf("%-10s %7d %9d %10.0f %15s %10s %10s %7d %8s %8s %6s\n", op, clients, med.requests, med.opsPerSec(), rng,
		fmtDur(med.pct(0.50)), fmtDur(med.pct(0.99)), errs,
		perOp(med.cpu.registry, med.requests), perOp(med.cpu.generator, med.requests), med.cpu.idlePct())
	if first != "" {
		fmt.Printf("           first error: %.200s\n", first)
	}
}

// run measures one (operation, client count) cell with n pre-built frames.
func (b *bench) run(op string, clients, n int) result {
	frames := make([][]byte, n)
	now := time.Now()
	var newNodes []*identity.Identity
	switch op {
	case "register":
		newNodes, frames = b.registerFrames(n)
	case "heartbeat":
		for i := range frames {
			nd := b.nodes[(i*7919)%len(b.nodes)]
			req := &regmsg.Heartbeat{NodeID: regNode(nd.id)}
			registrye2e.Sign(req, nd.key, now, nil)
			frames[i] = frameOf(req)
		}
	case "lookup":
		for i := range frames {
			frames[i] = frameOf(&regmsg.Lookup{NodeID: regNode(b.nodes[(i*7919)%len(b.nodes)].id)})
		}
	case "resolve":
		for i := range frames {
			req := b.nodes[(i*7919)%len(b.nodes)]
			tgt := b.public[(i*104729)%len(b.public)]
			r := &regmsg.Resolve{NodeID: regNode(tgt.id), RequesterID: regNode(req.id)}
			registrye2e.Sign(r, req.key, now, nil)
			frames[i] = frameOf(r)
		}
	}
	before := sampleCPU(b.proc.Pid())
	res, err := closedLoop(b.proc.Addr(), clients, frames)
	check(err)
	res.cpu = sampleCPU(b.proc.Pid()).sub(before)
	// Nodes registered here count towards the population of the RSS
	// checkpoints; later phases do not need their IDs.
	b.extra += len(newNodes) - res.errors
	return res
}

func regNode(id uint32) addr.NodeID { return addr.NodeID(id) }

// total is the number of registered nodes.
func (b *bench) total() int { return len(b.nodes) + b.extra }

func fmtDur(d time.Duration) string {
	return fmt.Sprintf("%.3fms", float64(d.Microseconds())/1000)
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func ints(s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		v, err := strconv.Atoi(f)
		check(err)
		out = append(out, v)
	}
	return out
}

func check(err error) {
	if err != nil {
		fail("%v", err)
	}
}

// running is the registry under test, killed by fail.
var running *registrye2e.Proc

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "registry-bench: "+format+"\n", args...)
	if running != nil {
		running.Kill()
	}
	os.Exit(1)
}
