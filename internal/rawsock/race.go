//go:build race

package rawsock

import "sync/atomic"

// ioSync stands for the kernel between a write and the read that returns
// its bytes, as the syscall package's own ioSync does for the race
// detector: raw calls bypass syscall.Read and syscall.Write, so without it
// a test whose two ends share a process would see races that the socket
// orders.
var ioSync atomic.Uint64

func raceReleaseIO() { ioSync.Add(1) }
func raceAcquireIO() { ioSync.Load() }
