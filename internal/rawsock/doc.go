// Package rawsock reads and writes the daemon's sockets with raw system
// calls issued from the sockets' syscall.RawConn callbacks, keeping Go's
// poller for waiting (EAGAIN parks the goroutine; deadlines and Close
// behave as on the net.Conn).
//
// Why: every system call made through the net package enters the Go
// scheduler's syscall state, which on a process that was idle wakes the
// runtime's monitor thread (sysmon) and lets it take the P away from a
// call that lasts more than ~20 µs. The daemon's hot path is a chain of
// short non-blocking calls (a datagram read, a sendmsg, a write to the IPC
// socket) on a machine where each thread wake-up costs more than the call:
// measured on the 2-vCPU VM, raw calls cut the daemons' CPU per
// request/response round trip by a third or more (context switches 8 → 4
// per round trip) and raise bulk throughput by ~15 %. Raw
// calls are safe here because every socket is non-blocking: a call never
// waits in the kernel.
//
// Only Linux has the raw paths; elsewhere the constructors fail and the
// callers keep the net package's methods.
package rawsock
