package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/pilot-go/pilot/pilot"
)

// Where a ping's time goes. A pilotctl ping probe is four round trips
// between three processes: DialEx over IPC (pilotctl ↔ a), the SYN and
// SYN-ACK over the tunnel (a ↔ b), then the write and its echo (pilotctl ↔
// a over IPC, a ↔ b over the tunnel). On a VM whose idle vCPUs halt, every
// hop to a process that was asleep pays the wake-up of its vCPU, so the
// table also prints the floor: a bare UDP echo between two processes with
// the same spacing as the probes.

// udpEchoEnv makes this binary a UDP echo server on 127.0.0.1 (the child
// of udpFloor): it prints its port and echoes until stdin closes.
const udpEchoEnv = "PILOT_BENCH_UDP_ECHO"

func serveUDPEcho() {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(c.LocalAddr().(*net.UDPAddr).Port)
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	buf := make([]byte, 2048)
	for {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			os.Exit(1)
		}
		_, _ = c.WriteToUDPAddrPort(buf[:n], from)
	}
}

// udpFloor measures n bare UDP round trips to a child process, spaced by
// gap, and returns them in milliseconds.
func udpFloor(ctx context.Context, n int, gap time.Duration) ([]float64, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, self)
	cmd.Env = append(os.Environ(), udpEchoEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	defer func() { stdin.Close(); _ = cmd.Wait() }()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		return nil, fmt.Errorf("udp echo child: %w", err)
	}
	to, err := netip.ParseAddrPort("127.0.0.1:" + strings.TrimSpace(line))
	if err != nil {
		return nil, err
	}
	c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(to))
	if err != nil {
		return nil, err
	}
	defer c.Close()
	buf := make([]byte, 64)
	var rtts []float64
	for i := 0; i < n; i++ {
		if err := sleepCtx(ctx, gap); err != nil {
			return nil, err
		}
		start := time.Now()
		c.SetDeadline(start.Add(2 * time.Second))
		if _, err := c.Write([]byte("ping")); err != nil {
			return nil, err
		}
		if _, err := c.Read(buf); err != nil {
			continue // lost on loopback: not a sample
		}
		rtts = append(rtts, float64(time.Since(start).Microseconds())/1000)
	}
	return rtts, nil
}

// pingSplit repeats pilotctl's probe through the SDK and times its two
// halves: the dial (IPC DialEx and the stream handshake) and the echo of
// the message (IPC Send, tunnel, echo service, IPC Recv).
func pingSplit(ctx context.Context, sock, target string, n int, gap time.Duration) (dial, echo []float64, err error) {
	cl, err := pilot.Connect(ctx, pilot.WithSocket(sock))
	if err != nil {
		return nil, nil, err
	}
	defer cl.Close()
	msg, buf := []byte("ping-0"), make([]byte, 6)
	for i := 0; i < n; i++ {
		if err := sleepCtx(ctx, gap); err != nil {
			return nil, nil, err
		}
		t0 := time.Now()
		c, err := cl.Dial(ctx, pilot.Network, target)
		if err != nil {
			return nil, nil, err
		}
		t1 := time.Now()
		c.SetDeadline(t1.Add(10 * time.Second))
		_, err = c.Write(msg)
		if err == nil {
			_, err = io.ReadFull(c, buf)
		}
		t2 := time.Now()
		c.Close()
		if err != nil {
			return nil, nil, err
		}
		dial = append(dial, float64(t1.Sub(t0).Microseconds())/1000)
		echo = append(echo, float64(t2.Sub(t1).Microseconds())/1000)
	}
	return dial, echo, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
