package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTick is the unit of /proc's CPU times (USER_HZ, 100 on Linux).
const clockTick = 10 * time.Millisecond

// cpuSample is the CPU time spent so far by the registry, by this load
// generator, and by the whole machine (busy and idle), so that a cell can
// say where its CPU went: a rate below the goal with idle CPU left is
// bound by a serial path, one without idle CPU by the work per request.
type cpuSample struct {
	registry, generator time.Duration
	busy, idle          time.Duration
}

func sampleCPU(pid int) cpuSample {
	var s cpuSample
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		// Fields after the parenthesised command name, which may hold spaces.
		if i := strings.LastIndexByte(string(b), ')'); i >= 0 {
			f := strings.Fields(string(b[i+1:]))
			if len(f) > 12 {
				s.registry = ticks(f[11]) + ticks(f[12]) // utime, stime
			}
		}
	}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		s.generator = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	if b, err := os.ReadFile("/proc/stat"); err == nil {
		line, _, _ := strings.Cut(string(b), "\n")
		f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
		for i := 1; i < len(f) && i <= 8; i++ {
			if i == 4 || i == 5 {
				s.idle += ticks(f[i])
			} else {
				s.busy += ticks(f[i])
			}
		}
	}
	return s
}

func ticks(field string) time.Duration {
	n, _ := strconv.ParseInt(field, 10, 64)
	return time.Duration(n) * clockTick
}

// sub is the CPU spent between two samples.
func (s cpuSample) sub(t cpuSample) cpuSample {
	return cpuSample{registry: s.registry - t.registry, generator: s.generator - t.generator,
		busy: s.busy - t.busy, idle: s.idle - t.idle}
}

// perOp formats d spread over n requests, in microseconds.
func perOp(d time.Duration, n int) string {
	if n == 0 {
		return "-"
	}
	return strconv.FormatFloat(float64(d.Microseconds())/float64(n), 'f', 0, 64)
}

// idlePct is the share of the machine's CPU time left idle (iowait counted
// as idle: the CPU could have run something).
func (s cpuSample) idlePct() string {
	if s.busy+s.idle <= 0 {
		return "-"
	}
	return strconv.FormatFloat(100*float64(s.idle)/float64(s.busy+s.idle), 'f', 0, 64)
}
