package cli

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
	"github.com/pilot-go/pilot/pilot"
)

// Well-known service ports (services.md).
const (
	portEcho   = 7
	portData   = 1001
	portEvents = 1002
	maxReply   = 65535 // connect/send/recv read at most this much per message
)

// streamCommands: ping, bench, connect, send, recv, and the original's
// disconnect and listen (cli.md §4.5, ipc.md §12 item 3).
func (a *app) streamCommands() []*cobra.Command {
	return []*cobra.Command{a.pingCmd(), a.benchCmd(), a.connectCmd(), a.sendCmd(), a.recvCmd(),
		a.disconnectCmd(), a.listenCmd()}
}

// openStream resolves who (a node ID, address or hostname) and opens a
// stream to its port; the caller closes the connection and the client.
func (a *app) openStream(ctx context.Context, who string, port addr.Port) (target, *pilot.Client, *pilot.Conn, error) {
	t, err := a.resolveTarget(ctx, nil, who)
	if err != nil {
		return t, nil, nil, err
	}
	cl, conn, err := a.dialTarget(ctx, t, port)
	return t, cl, conn, err
}

// dialTarget connects the SDK and opens a stream to t:port.
func (a *app) dialTarget(ctx context.Context, t target, port addr.Port) (*pilot.Client, *pilot.Conn, error) {
	cl, err := a.sdk(ctx)
	if err != nil {
		return nil, nil, err
	}
	sa := addr.SocketAddr{Addr: t.Addr, Port: port}
	conn, err := cl.Dial(ctx, pilot.Network, sa.String())
	if err != nil {
		cl.Close()
		return nil, nil, dialErr(mapErr(err, a.socket, "dial "+sa.String()), sa)
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	return cl, conn, nil
}

// dialErr names the destination in a refused or unreachable dial (the
// daemon's text is only "connection refused") and says what to check.
func dialErr(e *Error, sa addr.SocketAddr) *Error {
	if e.Code != codeConnFailed || strings.Contains(e.Message, sa.Addr.String()) {
		return e
	}
	out := *e
	out.Message = fmt.Sprintf("dial %s: %s", sa, e.Message)
	if out.Hint == "" {
		out.Hint = fmt.Sprintf("check that node %d serves port %d and accepts this node (a private node needs trust first: pilotctl handshake %d)",
			sa.Addr.Node, sa.Port, sa.Addr.Node)
	}
	return &out
}

// round rounds v to d decimals (JSON floats of ping and bench).
func round(v float64, d int) float64 {
	p := math.Pow(10, float64(d))
	return math.Round(v*p) / p
}

type pingResult struct {
	Seq   int     `json:"seq"`
	RTTMs float64 `json:"rtt_ms"`
	OK    bool    `json:"ok"`
	Error string  `json:"-"` // text mode only: data keys are those of cli.md §4.5
	Code  string  `json:"-"` // the failure's code (cli.md §4.3)
}

type pingData struct {
	Target   string       `json:"target"`
	Results  []pingResult `json:"results"`
	Sent     int          `json:"sent"`
	Received int          `json:"received"`
	MinMs    float64      `json:"min_ms"`
	AvgMs    float64      `json:"avg_ms"`
	MaxMs    float64      `json:"max_ms"`
}

func (a *app) pingCmd() *cobra.Command {
	var count int
	var interval time.Duration = time.Second
	cmd := &cobra.Command{
		Use:     "ping <target> [--count 4] [--interval 1s]",
		Short:   "Measure round trips to a node's echo service (port 7)",
		Example: "  pilotctl ping alpha --count 3\n  pilotctl --json ping 686",
		Args:    cobra.ExactArgs(1),
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			if count < 1 {
				return usageErr("--count must be at least 1")
			}
			ctx, cancel := a.ctx(cmd, defaultTimeout+time.Duration(count)*interval)
			defer cancel()
			t, err := a.resolveTarget(ctx, nil, args[0])
			if err != nil {
				return err
			}
			cl, err := a.sdk(ctx)
			if err != nil {
				return err
			}
			defer cl.Close()
			if !a.jsonMode {
				fmt.Fprintf(a.env.Stdout, "PING %s port %d\n", t.label(), portEcho)
			}
			d := pingData{Target: t.Addr.String(), Results: []pingResult{}}
			var sum float64
			for i := 1; i <= count; i++ {
				if i > 1 {
					select {
					case <-ctx.Done():
						return mapErr(ctx.Err(), a.socket, "ping")
					case <-time.After(interval):
					}
				}
				r := a.probe(ctx, cl, t, i)
				d.Sent++
				if r.OK {
					d.Received++
					sum += r.RTTMs
					if d.Received == 1 || r.RTTMs < d.MinMs {
						d.MinMs = r.RTTMs
					}
					d.MaxMs = max(d.MaxMs, r.RTTMs)
				}
				d.Results = append(d.Results, r)
				if !a.jsonMode {
					if r.OK {
						fmt.Fprintf(a.env.Stdout, "seq=%d rtt=%.1f ms\n", r.Seq, r.RTTMs)
					} else {
						fmt.Fprintf(a.env.Stdout, "seq=%d error: %s\n", r.Seq, r.Error)
					}
				}
			}
			if d.Received > 0 {
				d.AvgMs = round(sum/float64(d.Received), 3)
			}
			if d.Received == 0 {
				// The first probe's code: not_found for an unknown node,
				// timeout, connection_failed for a refused stream…
				return errorf(firstNonEmpty(d.Results[0].Code, codeConnFailed), "no echo from %s: %d sent, 0 received (%s)",
					t.label(), d.Sent, d.Results[0].Error)
			}
			return a.emit(d, func(w io.Writer) {
				fmt.Fprintf(w, "%d sent, %d received, min/avg/max %.1f/%.1f/%.1f ms\n", d.Sent, d.Received, d.MinMs, d.AvgMs, d.MaxMs)
			})
		}),
	}
	cmd.Flags().IntVar(&count, "count", 4, "number of probes")
	cmd.Flags().Var(durationValue{&interval}, "interval", "time between probes")
	return cmd
}

// probe is one ping: a new stream to port 7 carrying "ping-<i>", the echo
// read back, then close (services.md §2).
func (a *app) probe(ctx context.Context, cl *pilot.Client, t target, i int) pingResult {
	r := pingResult{Seq: i}
	start := time.Now()
	fail := func(err error) pingResult {
		e := mapErr(err, a.socket, "ping")
		r.Error, r.Code = e.Message, e.Code
		return r
	}
	sa := addr.SocketAddr{Addr: t.Addr, Port: portEcho}
	conn, err := cl.Dial(ctx, pilot.Network, sa.String())
	if err != nil {
		return fail(err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	msg := []byte("ping-" + strconv.Itoa(i))
	if _, err := conn.Write(msg); err != nil {
		return fail(err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(conn, buf); err != nil {
		return fail(err)
	}
	if string(buf) != string(msg) {
		r.Error, r.Code = fmt.Sprintf("echo mismatch: sent %q, got %q", msg, buf), codeInternal
		return r
	}
	r.RTTMs = round(float64(time.Since(start).Microseconds())/1000, 3)
	r.OK = true
	return r
}

type benchData struct {
	Target  string  `json:"target"`
	Bytes   int64   `json:"bytes"`
	Seconds float64 `json:"seconds"`
	MiBPerS float64 `json:"mib_per_s"`
}

func (a *app) benchCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "bench <target> [SIZE_MB=1] [--timeout 120s]",
		Short:   "Measure throughput through a node's echo service (port 7)",
		Example: "  pilotctl bench 686 8\n  pilotctl --json bench alpha 64 --timeout 5m",
		Args:    cobra.RangeArgs(1, 2),
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			size := int64(1)
			if len(args) == 2 {
				n, err := strconv.ParseInt(args[1], 10, 64)
				if err != nil || n < 1 || n > 1<<20 {
					return usageErr("invalid size %q: want a number of MiB (at least 1)", args[1])
				}
				size = n
			}
			ctx, cancel := a.ctx(cmd, 120*time.Second)
			defer cancel()
			t, cl, conn, err := a.openStream(ctx, args[0], portEcho)
			if err != nil {
				return err
			}
			defer cl.Close()
			defer conn.Close()
			total := size << 20
			var prog *progress
			if a.showProgress() {
				prog = newProgress(a.env.Stderr, total, a.env.Now)
			}
			start := time.Now()
			if err := echoBulk(conn, total, prog); err != nil {
				prog.finish()
				return mapErr(err, a.socket, "bench")
			}
			prog.finish()
			secs := time.Since(start).Seconds()
			d := benchData{Target: t.Addr.String(), Bytes: total, Seconds: round(secs, 2),
				MiBPerS: round(float64(size)/math.Max(secs, 1e-9), 2)}
			return a.emit(d, func(w io.Writer) {
				fmt.Fprintf(w, "%d MiB echoed by %s in %.2f s: %.2f MiB/s\n", size, t.label(), d.Seconds, d.MiBPerS)
			})
		}),
	}
}

// bulkChunk is the size of bench's writes and reads. A Write returns once
// the daemon accepted all of it (tagged Sends of 256 KiB, four in flight
// per Write here), so small writes would put an IPC round trip in the
// pipeline every few dozen packets.
const bulkChunk = 1 << 20

// bulkPattern holds bench's byte sequence (byte i = i mod 256) for one
// chunk at any offset: pattern[off%256:] starts with byte off.
var bulkPattern = func() []byte {
	p := make([]byte, bulkChunk+256)
	for i := range p {
		p[i] = byte(i)
	}
	return p
}()

// echoBulk writes total bytes (byte i = i mod 256) while reading the echo
// back and checking it. Chunks are slices of bulkPattern and checks are
// bytes.Equal against it: a byte loop here cost the pilotctl process a
// tenth of the machine during a bench.
func echoBulk(conn net.Conn, total int64, prog *progress) error {
	werr := make(chan error, 1)
	go func() {
		var off int64
		for off < total {
			n := min(int64(bulkChunk), total-off)
			start := off % 256
			if _, err := conn.Write(bulkPattern[start : start+n]); err != nil {
				werr <- err
				return
			}
			off += n
		}
		werr <- nil
	}()
	buf := make([]byte, bulkChunk)
	var got int64
	for got < total {
		n, err := conn.Read(buf[:min(int64(len(buf)), total-got)])
		if want := bulkPattern[got%256:][:n]; !bytes.Equal(buf[:n], want) {
			i := 0
			for buf[i] == want[i] {
				i++
			}
			conn.Close()
			<-werr
			return errorf(codeInternal, "echo mismatch at byte %d", got+int64(i))
		}
		got += int64(n)
		prog.update(got)
		if err != nil {
			conn.Close()
			<-werr
			if errors.Is(err, io.EOF) {
				return errorf(codeConnFailed, "the echo service closed the stream after %d of %d bytes", got, total)
			}
			return err
		}
	}
	return <-werr
}

type exchangeData struct {
	Target   string `json:"target"`
	Port     uint16 `json:"port"`
	Sent     int    `json:"sent"`
	Response string `json:"response"`
	Encoding string `json:"encoding,omitempty"` // "base64" when the reply is not UTF-8
}

// textOrBase64 returns b as a JSON-safe string: the text itself when it is
// valid UTF-8, else base64 with encoding "base64" (as subscribe does,
// cli.md §4.6), so binary replies are not silently mangled.
func textOrBase64(b []byte) (s, encoding string) {
	if utf8.Valid(b) {
		return string(b), ""
	}
	return base64.StdEncoding.EncodeToString(b), "base64"
}

// exchange writes msg on a new stream to t:port, reads one reply (at most
// 65,535 bytes) and closes (connect --message, send).
func (a *app) exchange(cmd *cobra.Command, who string, port addr.Port, msg string) error {
	ctx, cancel := a.ctx(cmd, defaultTimeout)
	defer cancel()
	t, cl, conn, err := a.openStream(ctx, who, port)
	if err != nil {
		return err
	}
	defer cl.Close()
	defer conn.Close()
	if _, err := conn.Write([]byte(msg)); err != nil {
		return err
	}
	buf := make([]byte, maxReply)
	n, err := conn.Read(buf)
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	d := exchangeData{Target: t.Addr.String(), Port: uint16(port), Sent: len(msg)}
	d.Response, d.Encoding = textOrBase64(buf[:n])
	return a.emit(d, func(w io.Writer) { fmt.Fprintf(w, "%s\n", buf[:n]) })
}

func parsePort(s string) (addr.Port, error) {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || n == 0 {
		return 0, usageErr("invalid port %q: want 1-65535", s)
	}
	return addr.Port(n), nil
}

func (a *app) connectCmd() *cobra.Command {
	var message string
	cmd := &cobra.Command{
		Use:     "connect <target> [PORT=1000] [--message M]",
		Short:   "Open a stream: send one message and print the reply, or pipe stdin/stdout",
		Example: `  pilotctl connect alpha 1000 --message "status?"` + "\n  echo hello | pilotctl connect 686 1000",
		Args:    cobra.RangeArgs(1, 2),
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			port := addr.Port(1000)
			if len(args) == 2 {
				p, err := parsePort(args[1])
				if err != nil {
					return err
				}
				port = p
			}
			if cmd.Flags().Changed("message") {
				return a.exchange(cmd, args[0], port, message)
			}
			if a.jsonMode {
				return usageErr("--json needs --message: an interactive stream has no JSON result")
			}
			return a.pipe(cmd, args[0], port)
		}),
	}
	cmd.Flags().StringVar(&message, "message", "", "send this message, print one reply and close")
	return cmd
}

// pipe copies stdin to the stream and the stream to stdout until both
// sides have closed.
func (a *app) pipe(cmd *cobra.Command, who string, port addr.Port) error {
	ctx, cancel := a.ctx(cmd, 0)
	defer cancel()
	_, cl, conn, err := a.openStream(ctx, who, port)
	if err != nil {
		return err
	}
	defer cl.Close()
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() }) // an interrupt ends the pipe
	defer stop()
	// The IPC protocol has no half-close: after stdin ends the stream stays
	// open for reading until the peer closes it.
	go io.Copy(conn, a.env.Stdin)
	_, err = io.Copy(a.env.Stdout, conn)
	return err
}

func (a *app) sendCmd() *cobra.Command {
	var data string
	cmd := &cobra.Command{
		Use: "send <target> <port> --data D", Short: "Send one message on a new stream and print the reply",
		Example: "  pilotctl send 686 1000 --data hello", Args: cobra.ExactArgs(2),
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			port, err := parsePort(args[1])
			if err != nil {
				return err
			}
			if !cmd.Flags().Changed("data") {
				return usageErr("missing --data: give the message to send")
			}
			return a.exchange(cmd, args[0], port, data)
		}),
	}
	cmd.Flags().StringVar(&data, "data", "", "message to send")
	return cmd
}

type recvMessage struct {
	From     string `json:"from"`
	Data     string `json:"data"`
	Size     int    `json:"size"`
	Encoding string `json:"encoding,omitempty"` // "base64" when data is not UTF-8
	raw      []byte // text mode prints the bytes as received
}

// portMessages is the data of recv and listen.
type portMessages struct {
	Port     uint16        `json:"port"`
	Messages []recvMessage `json:"messages"`
}

func newRecvMessage(from string, b []byte) recvMessage {
	m := recvMessage{From: from, Size: len(b), raw: b}
	m.Data, m.Encoding = textOrBase64(b)
	return m
}

// openPort is the start recv and listen share: the port argument, a
// --count of at least 1, the command's deadline and an SDK client; done
// closes the client and ends the deadline.
func (a *app) openPort(cmd *cobra.Command, arg string, count int) (addr.Port, context.Context, *pilot.Client, func(), error) {
	port, err := parsePort(arg)
	if err != nil {
		return 0, nil, nil, nil, err
	}
	if count < 1 {
		return 0, nil, nil, nil, usageErr("--count must be at least 1")
	}
	ctx, cancel := a.ctx(cmd, defaultTimeout)
	cl, err := a.sdk(ctx)
	if err != nil {
		cancel()
		return 0, nil, nil, nil, err
	}
	return port, ctx, cl, func() { cl.Close(); cancel() }, nil
}

func (a *app) recvCmd() *cobra.Command {
	var count int
	cmd := &cobra.Command{
		Use: "recv <port> [--count 1]", Short: "Accept connections on a port and print one message from each",
		Example: "  pilotctl recv 1000 --count 2 --timeout 60s", Args: cobra.ExactArgs(1),
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			port, ctx, cl, done, err := a.openPort(cmd, args[0], count)
			if err != nil {
				return err
			}
			defer done()
			ln, err := cl.Listen(ctx, pilot.Network, fmt.Sprintf(":%d", port))
			if err != nil {
				return mapErr(err, a.socket, "recv")
			}
			defer ln.Close()
			stop := context.AfterFunc(ctx, func() { ln.Close() })
			defer stop()
			d := portMessages{Port: uint16(port), Messages: []recvMessage{}}
			for len(d.Messages) < count {
				conn, err := ln.Accept()
				if err != nil {
					if ctx.Err() != nil {
						return errorf(codeTimeout, "recv: timed out after %d of %d messages", len(d.Messages), count)
					}
					return err
				}
				m, err := readOne(ctx, conn)
				if err != nil {
					return err
				}
				d.Messages = append(d.Messages, m)
				if !a.jsonMode {
					fmt.Fprintf(a.env.Stdout, "from %s (%d bytes): %s\n", m.From, m.Size, m.raw)
				}
			}
			return a.emit(d, nil)
		}),
	}
	cmd.Flags().IntVar(&count, "count", 1, "number of connections to accept")
	return cmd
}

// readOne reads one message (up to EOF or 65,535 bytes) and closes conn.
func readOne(ctx context.Context, conn net.Conn) (recvMessage, error) {
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetReadDeadline(dl)
	}
	buf := make([]byte, maxReply)
	n, err := conn.Read(buf)
	if err != nil && !errors.Is(err, io.EOF) {
		return recvMessage{}, err
	}
	return newRecvMessage(conn.RemoteAddr().String(), buf[:n]), nil
}

func (a *app) disconnectCmd() *cobra.Command {
	return &cobra.Command{
		Use: "disconnect <conn_id>", Short: "Close a stream connection of any local client (IDs from info)",
		Example: "  pilotctl disconnect 3", Args: cobra.ExactArgs(1),
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseUint(args[0], 10, 32)
			if err != nil {
				return usageErr("invalid connection ID %q", args[0])
			}
			ctx, cancel := a.ctx(cmd, defaultTimeout)
			defer cancel()
			c, err := a.daemon(ctx)
			if err != nil {
				return err
			}
			defer c.Close()
			if _, err := c.call(ctx, ipcmsg.Close{Conn: ipcmsg.ConnID(id)}, ipcmsg.CmdCloseOK); err != nil {
				return err
			}
			d := map[string]any{"conn_id": id, "closed": true}
			return a.emit(d, func(w io.Writer) { fmt.Fprintf(w, "connection %d closed\n", id) })
		}),
	}
}

func (a *app) listenCmd() *cobra.Command {
	var count int
	cmd := &cobra.Command{
		Use: "listen <port> [--count N]", Short: "Receive datagrams on a port and print them",
		Example: "  pilotctl listen 5000 --count 3 --timeout 1m", Args: cobra.ExactArgs(1),
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			port, ctx, cl, done, err := a.openPort(cmd, args[0], count)
			if err != nil {
				return err
			}
			defer done()
			pc, err := cl.ListenPacket(ctx, pilot.Network, fmt.Sprintf(":%d", port))
			if err != nil {
				return mapErr(err, a.socket, "listen")
			}
			defer pc.Close()
			if dl, ok := ctx.Deadline(); ok {
				pc.SetReadDeadline(dl)
			}
			d := portMessages{Port: uint16(port), Messages: []recvMessage{}}
			buf := make([]byte, 65536)
			for len(d.Messages) < count {
				n, from, err := pc.ReadFrom(buf)
				if err != nil {
					if errors.Is(err, os.ErrDeadlineExceeded) || ctx.Err() != nil {
						return errorf(codeTimeout, "listen: timed out after %d of %d datagrams", len(d.Messages), count)
					}
					return err
				}
				m := newRecvMessage(from.String(), bytes.Clone(buf[:n]))
				d.Messages = append(d.Messages, m)
				if !a.jsonMode {
					fmt.Fprintf(a.env.Stdout, "from %s (%d bytes): %s\n", m.From, m.Size, m.raw)
				}
			}
			return a.emit(d, nil)
		}),
	}
	cmd.Flags().IntVar(&count, "count", 1, "number of datagrams to receive")
	return cmd
}
