// Command pprofreg is pilot-registry with an on-demand CPU profiler, for
// bench/registry: it runs exactly what cmd/pilot-registry runs
// (registry.Main with the same arguments and signal handling), and when
// PILOT_CPUPROFILE names a file, SIGUSR1 starts a CPU profile into it and
// SIGUSR2 stops it, so a benchmark can profile one load phase only
// (`go tool pprof -top pprofreg FILE`). When PILOT_TRACE also names a file,
// the same signals start and stop an execution trace into it (`go tool
// trace -pprof=sync FILE` shows where goroutines waited).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"runtime/trace"
	"syscall"

	"github.com/pilot-go/pilot/internal/registry"
)

func main() {
	if path := os.Getenv("PILOT_CPUPROFILE"); path != "" {
		go profileOnSignal(path, os.Getenv("PILOT_TRACE"))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := registry.Main(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	pprof.StopCPUProfile()
	os.Exit(code)
}

func profileOnSignal(path, tracePath string) {
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGUSR1, syscall.SIGUSR2)
	var f, tf *os.File
	for s := range sig {
		switch {
		case s == syscall.SIGUSR1 && tf == nil && tracePath != "":
			var err error
			if tf, err = os.Create(tracePath); err == nil {
				err = trace.Start(tf)
			}
			if err != nil {
				fmt.Fprintln(os.Stderr, "error: trace:", err)
			}
		case s == syscall.SIGUSR2 && tf != nil:
			trace.Stop()
			tf.Close()
			tf = nil
		}
		switch {
		case s == syscall.SIGUSR1 && f == nil:
			var err error
			if f, err = os.Create(path); err != nil {
				fmt.Fprintln(os.Stderr, "error: cpu profile:", err)
				continue
			}
			if err := pprof.StartCPUProfile(f); err != nil {
				fmt.Fprintln(os.Stderr, "error: cpu profile:", err)
				f.Close()
				f = nil
			}
		case s == syscall.SIGUSR2 && f != nil:
			pprof.StopCPUProfile()
			f.Close()
			f = nil
		}
	}
}
