package cli

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/pilot-go/pilot/internal/wire/svcmsg/dataex"
	"github.com/pilot-go/pilot/internal/wire/svcmsg/events"
)

// serviceCommands: data exchange (port 1001) and event stream (port 1002)
// clients (cli.md §4.6, services.md §3–§4).
func (a *app) serviceCommands() []*cobra.Command {
	return []*cobra.Command{a.sendFileCmd(), a.sendMessageCmd(), a.subscribeCmd(), a.publishCmd()}
}

// readAck reads the peer's TEXT reply frame; an ERR reply is a failure
// with code internal and the peer's text (cli.md §4.6).
func readAck(conn io.Reader) (string, error) {
	f, err := dataex.ReadFrame(conn, 64<<10)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return "", errorf(codeConnFailed, "the peer closed the stream without a reply")
		}
		return "", err
	}
	text := string(f.Payload)
	if strings.HasPrefix(text, "ERR ") {
		return "", errorf(codeInternal, "%s", text)
	}
	return text, nil
}

type fileData struct {
	Target   string `json:"target"`
	Filename string `json:"filename"`
	Size     int64  `json:"size"`
	Ack      string `json:"ack"`
}

func (a *app) sendFileCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "send-file <target> <path> [--timeout 5m]",
		Short:   "Send a file to a node's data exchange service (port 1001)",
		Example: "  pilotctl send-file alpha ./report.pdf",
		Args:    cobra.ExactArgs(2),
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			f, err := os.Open(args[1])
			if err != nil {
				return errorf(codeInvalidArgument, "send-file: %v", err)
			}
			defer f.Close()
			st, err := f.Stat()
			if err != nil || !st.Mode().IsRegular() {
				return errorf(codeInvalidArgument, "send-file: %s is not a regular file", args[1])
			}
			name := filepath.Base(args[1])
			size := st.Size()
			if 2+int64(len(name))+size > dataex.MaxPayload {
				return errorf(codeInvalidArgument, "send-file: %s is %d bytes; the data exchange limit is %d bytes", args[1], size, dataex.MaxPayload-2-len(name))
			}
			ctx, cancel := a.ctx(cmd, 5*time.Minute)
			defer cancel()
			t, cl, conn, err := a.openStream(ctx, args[0], portData)
			if err != nil {
				return err
			}
			defer cl.Close()
			defer conn.Close()
			// Header and FILE name first, then the bytes in chunks (services.md
			// §3.1 allows header and payload in separate writes).
			hdr := binary.BigEndian.AppendUint32(nil, uint32(dataex.TypeFile))
			hdr = binary.BigEndian.AppendUint32(hdr, uint32(2+len(name))+uint32(size))
			hdr = binary.BigEndian.AppendUint16(hdr, uint16(len(name)))
			hdr = append(hdr, name...)
			if _, err := conn.Write(hdr); err != nil {
				return err
			}
			var prog *progress
			if a.showProgress() {
				prog = newProgress(a.env.Stderr, size, a.env.Now)
			}
			n, err := io.CopyBuffer(&progressWriter{w: conn, p: prog}, io.LimitReader(f, size), make([]byte, 256<<10))
			prog.finish()
			if err != nil {
				return err
			}
			if n != size {
				return errorf(codeInternal, "send-file: %s changed while it was sent", args[1])
			}
			ack, err := readAck(conn)
			if err != nil {
				return err
			}
			d := fileData{Target: t.Addr.String(), Filename: name, Size: size, Ack: ack}
			return a.emit(d, func(w io.Writer) {
				fmt.Fprintf(w, "sent %s (%d bytes) to %s: %s\n", name, size, t.label(), ack)
			})
		}),
	}
}

// progressWriter reports written bytes to a progress line.
type progressWriter struct {
	w    io.Writer
	p    *progress
	done int64
}

func (pw *progressWriter) Write(b []byte) (int, error) {
	n, err := pw.w.Write(b)
	pw.done += int64(n)
	pw.p.update(pw.done)
	return n, err
}

type messageData struct {
	Target string `json:"target"`
	Type   string `json:"type"`
	Size   int    `json:"size"`
	Ack    string `json:"ack"`
}

func (a *app) sendMessageCmd() *cobra.Command {
	var data, typ string
	cmd := &cobra.Command{
		Use:     "send-message <target> --data D [--type text|json|binary]",
		Short:   "Send a message to a node's data exchange service (port 1001)",
		Example: "  pilotctl send-message 686 --data '{\"task\":\"sync\"}' --type json\n  pilotctl send-message alpha --data hello",
		Args:    cobra.ExactArgs(1),
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("data") {
				return usageErr("missing --data: give the message to send")
			}
			fr := dataex.Frame{Payload: []byte(data)}
			switch typ {
			case "text":
				fr.Type = dataex.TypeText
			case "json":
				fr.Type = dataex.TypeJSON
				if !json.Valid(fr.Payload) {
					return usageErr("--data is not valid JSON (--type json)")
				}
			case "binary":
				fr.Type = dataex.TypeBinary
				b, err := base64.StdEncoding.DecodeString(data)
				if err != nil {
					return usageErr("--data is not valid base64 (--type binary): %v", err)
				}
				fr.Payload = b
			default:
				return usageErr("invalid --type %q: want text, json or binary", typ)
			}
			wire, err := fr.Marshal()
			if err != nil {
				return usageErr("%v", err)
			}
			ctx, cancel := a.ctx(cmd, defaultTimeout)
			defer cancel()
			t, cl, conn, err := a.openStream(ctx, args[0], portData)
			if err != nil {
				return err
			}
			defer cl.Close()
			defer conn.Close()
			if _, err := conn.Write(wire); err != nil {
				return err
			}
			ack, err := readAck(conn)
			if err != nil {
				return err
			}
			d := messageData{Target: t.Addr.String(), Type: typ, Size: len(fr.Payload), Ack: ack}
			return a.emit(d, func(w io.Writer) { fmt.Fprintf(w, "sent %d bytes to %s: %s\n", d.Size, t.label(), ack) })
		}),
	}
	cmd.Flags().StringVar(&data, "data", "", "message (base64 with --type binary)")
	cmd.Flags().StringVar(&typ, "type", "text", "text, json or binary")
	return cmd
}

// eventData is one subscribe line's data (cli.md §4.6).
type eventData struct {
	Topic    string `json:"topic"`
	Payload  string `json:"payload"`
	Size     int    `json:"size"`
	Encoding string `json:"encoding,omitempty"`
}

func (a *app) subscribeCmd() *cobra.Command {
	var count int
	cmd := &cobra.Command{
		Use:     "subscribe <target> <topic> [--count N] [--timeout D]",
		Short:   "Print events of a topic from a node's event stream (port 1002); * = all topics",
		Example: "  pilotctl subscribe alpha jobs --count 10\n  pilotctl subscribe alpha '*'",
		Args:    cobra.ExactArgs(2),
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			if count < 0 {
				return usageErr("--count must not be negative")
			}
			sub, err := events.Event{Topic: args[1]}.Marshal()
			if err != nil {
				return usageErr("invalid topic: %v", err)
			}
			ctx, cancel := a.ctx(cmd, 0)
			defer cancel()
			_, cl, conn, err := a.openStream(ctx, args[0], portEvents)
			if err != nil {
				return err
			}
			defer cl.Close()
			defer conn.Close()
			stop := context.AfterFunc(ctx, func() { conn.SetReadDeadline(time.Unix(1, 0)) })
			defer stop()
			ended := func(err error) bool { return ctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded) }
			if _, err := conn.Write(sub); err != nil {
				if ended(err) {
					return nil
				}
				return err
			}
			for n := 0; count == 0 || n < count; n++ {
				ev, err := events.ReadEvent(conn)
				if err != nil {
					if ended(err) {
						return nil // the timeout or an interrupt ends a subscription normally
					}
					if errors.Is(err, io.EOF) {
						return nil
					}
					return mapErr(err, a.socket, "subscribe")
				}
				if err := a.printEvent(ev); err != nil {
					return err
				}
			}
			return nil
		}),
	}
	cmd.Flags().IntVar(&count, "count", 0, "stop after N events (0 = until interrupted or --timeout)")
	return cmd
}

func (a *app) printEvent(ev events.Event) error {
	if !a.jsonMode {
		_, err := fmt.Fprintf(a.env.Stdout, "[%s] %s\n", ev.Topic, ev.Payload)
		return err
	}
	d := eventData{Topic: ev.Topic, Payload: string(ev.Payload), Size: len(ev.Payload)}
	if !utf8.Valid(ev.Payload) {
		d.Payload, d.Encoding = base64.StdEncoding.EncodeToString(ev.Payload), "base64"
	}
	return writeOK(a.env.Stdout, d)
}

func (a *app) publishCmd() *cobra.Command {
	var data string
	cmd := &cobra.Command{
		Use:     "publish <target> <topic> --data D",
		Short:   "Publish one event to a topic of a node's event stream (port 1002)",
		Example: `  pilotctl publish alpha jobs --data "batch 7 finished"`,
		Args:    cobra.ExactArgs(2),
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("data") {
				return usageErr("missing --data: give the event payload")
			}
			// The broker takes the first event as the subscription, so the
			// publication is the second one (services.md §4.2).
			sub, err := events.Event{Topic: args[1]}.Marshal()
			if err != nil {
				return usageErr("invalid topic: %v", err)
			}
			pub, err := events.Event{Topic: args[1], Payload: []byte(data)}.Marshal()
			if err != nil {
				return usageErr("%v", err)
			}
			ctx, cancel := a.ctx(cmd, defaultTimeout)
			defer cancel()
			t, cl, conn, err := a.openStream(ctx, args[0], portEvents)
			if err != nil {
				return err
			}
			defer cl.Close()
			if _, err := conn.Write(append(sub, pub...)); err != nil {
				conn.Close()
				return err
			}
			if err := conn.Close(); err != nil {
				return err
			}
			d := struct {
				Target string `json:"target"`
				Topic  string `json:"topic"`
				Size   int    `json:"size"`
			}{t.Addr.String(), args[1], len(data)}
			return a.emit(d, func(w io.Writer) {
				fmt.Fprintf(w, "published %d bytes to %s on %s\n", d.Size, d.Topic, t.label())
			})
		}),
	}
	cmd.Flags().StringVar(&data, "data", "", "event payload")
	return cmd
}
