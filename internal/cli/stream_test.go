package cli

import (
	"bytes"
	"encoding/base64"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/wire/svcmsg/dataex"
	"github.com/pilot-go/pilot/internal/wire/svcmsg/events"
	"github.com/pilot-go/pilot/pilot"
)

// dataService answers data-exchange frames like the daemon's service
// (services.md §3.2): ACK, or ERR for invalid JSON; it records frames.
type dataService struct {
	mu     sync.Mutex
	frames []dataex.Frame
}

func (s *dataService) handle(c net.Conn) {
	for {
		f, err := dataex.ReadFrame(c, 0)
		if err != nil {
			return
		}
		s.mu.Lock()
		s.frames = append(s.frames, f)
		s.mu.Unlock()
		n := uint32(len(f.Payload))
		if f.Type == dataex.TypeFile {
			file, _ := dataex.DecodeFile(f.Payload)
			n = uint32(len(file.Data))
		}
		reply := dataex.Ack(f.Type, n)
		if f.Type == dataex.TypeJSON && strings.Contains(string(f.Payload), "reject") {
			reply = dataex.Err(f.Type, dataex.ReasonInvalidJSON)
		}
		b, _ := reply.Frame().Marshal()
		if _, err := c.Write(b); err != nil {
			return
		}
	}
}

func (s *dataService) last() dataex.Frame {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.frames[len(s.frames)-1]
}

func TestCLI_Ping(t *testing.T) {
	h := newHarness(t)
	d := h.daemon(owner)
	h.serve(d, portEcho, echo)
	d.be.setHost("alpha", addr.New(0, 0x2AD))
	out := h.run(owner, "ping", "alpha", "--count", "3", "--interval", "1ms").ok(t)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 5 || lines[0] != "PING 0:0000.0000.02AD (alpha) port 7" ||
		!strings.HasPrefix(lines[1], "seq=1 rtt=") || !strings.HasSuffix(lines[3], " ms") ||
		!strings.HasPrefix(lines[4], "3 sent, 3 received, min/avg/max ") {
		t.Errorf("ping text:\n%s", out)
	}
	data := h.run(owner, "--json", "ping", "686", "--count", "2", "--interval", "1ms").okJSON(t)
	res := data["results"].([]any)
	if data["target"] != "0:0000.0000.02AE" || data["sent"] != 2.0 || data["received"] != 2.0 || len(res) != 2 {
		t.Errorf("ping data %v", data)
	}
	for i, r := range res {
		m := r.(map[string]any)
		if m["seq"] != float64(i+1) || m["ok"] != true {
			t.Errorf("result %v", m)
		}
		if _, ok := m["rtt_ms"].(float64); !ok {
			t.Errorf("rtt_ms %v", m["rtt_ms"])
		}
	}
	for _, k := range []string{"min_ms", "avg_ms", "max_ms"} {
		if _, ok := data[k].(float64); !ok {
			t.Errorf("%s missing in %v", k, data)
		}
	}
}

// Each probe is its own connection carrying "ping-<i>" (services.md §2).
func TestCLI_PingProbesArePerConnection(t *testing.T) {
	h := newHarness(t)
	d := h.daemon(owner)
	var mu sync.Mutex
	var got []string
	h.serve(d, portEcho, func(c net.Conn) {
		b, _ := io.ReadAll(io.LimitReader(c, 6))
		mu.Lock()
		got = append(got, string(b))
		mu.Unlock()
		c.Write(b)
	})
	h.run(owner, "ping", "686", "--count", "2", "--interval", "1ms").ok(t)
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(got, ",") != "ping-1,ping-2" {
		t.Errorf("probes %q", got)
	}
}

func TestCLI_PingNoEcho(t *testing.T) {
	h := newHarness(t)
	e := h.run(owner, "--json", "ping", "686", "--count", "1").failJSON(t, "connection_failed", 1)
	if !strings.Contains(e.Message, "connection refused") {
		t.Errorf("message %q", e.Message)
	}
}

func TestCLI_Bench(t *testing.T) {
	h := newHarness(t)
	h.serve(h.daemon(owner), portEcho, echo)
	data := h.run(owner, "--json", "bench", "686", "2").okJSON(t)
	if data["target"] != "0:0000.0000.02AE" || data["bytes"] != float64(2<<20) {
		t.Errorf("bench data %v", data)
	}
	for _, k := range []string{"seconds", "mib_per_s"} {
		if _, ok := data[k].(float64); !ok {
			t.Errorf("%s: %v", k, data[k])
		}
	}
	out := h.run(owner, "bench", "686").ok(t)
	if !strings.HasPrefix(out, "1 MiB echoed by 0:0000.0000.02AE in ") || !strings.HasSuffix(out, " MiB/s\n") {
		t.Errorf("bench text %q", out)
	}
	h.run(owner, "--json", "bench", "686", "0").failJSON(t, "invalid_argument", 2)
}

// An echo that differs in one byte fails bench with that byte's offset
// (the chunked comparison must still name the exact byte).
func TestCLI_BenchReportsFirstMismatch(t *testing.T) {
	const bad = 3<<16 + 1234 // inside the fourth 64 KiB chunk
	h := newHarness(t)
	h.serve(h.daemon(owner), portEcho, func(c net.Conn) {
		defer c.Close()
		buf := make([]byte, 32<<10)
		var off int
		for {
			n, err := c.Read(buf)
			if i := bad - off; i >= 0 && i < n {
				buf[i] ^= 0xFF
			}
			off += n
			if _, werr := c.Write(buf[:n]); werr != nil || err != nil {
				return
			}
		}
	})
	e := h.run(owner, "--json", "bench", "686", "1").failJSON(t, "internal", 1)
	if want := "echo mismatch at byte 197842"; e.Message != want {
		t.Errorf("bench on a corrupting echo: %q, want %q", e.Message, want)
	}
}

// cli.md §5 item 16: progress only on a terminal and without --json.
func TestCLI_C16_ProgressOnlyOnTerminal(t *testing.T) {
	h := newHarness(t)
	d := h.daemon(owner)
	h.serve(d, portEcho, echo)
	var ds dataService
	h.serve(d, portData, ds.handle)
	file := filepath.Join(h.dir, "report.bin")
	if err := os.WriteFile(file, bytes.Repeat([]byte("x"), 3<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"bench", "686", "2"}, {"send-file", "686", file}} {
		for _, c := range []struct {
			terminal, json, want bool
		}{{false, false, false}, {false, true, false}, {true, true, false}, {true, false, true}} {
			h.terminal = c.terminal
			a := args
			if c.json {
				a = append([]string{"--json"}, args...)
			}
			r := h.run(owner, a...)
			if r.code != 0 {
				t.Fatalf("%v: exit %d %q", a, r.code, r.err)
			}
			if has := strings.Contains(r.err, "\r"); has != c.want || (!c.want && r.err != "") {
				t.Errorf("%v terminal=%v: stderr %q", a, c.terminal, r.err)
			}
			if c.want && !strings.Contains(r.err, " bytes (100.0%)") {
				t.Errorf("%v: final progress missing in %q", a, r.err)
			}
		}
	}
}

func TestCLI_ConnectSendRecv(t *testing.T) {
	h := newHarness(t)
	d := h.daemon(owner)
	h.serve(d, 1000, func(c net.Conn) {
		b := make([]byte, 100)
		n, _ := c.Read(b)
		c.Write([]byte("re: " + string(b[:n])))
	})
	if got := h.run(owner, "connect", "686", "--message", "status?").ok(t); got != "re: status?\n" {
		t.Errorf("connect: %q", got)
	}
	data := h.run(owner, "send", "686", "1000", "--data", "hello", "--json").okJSON(t)
	if data["target"] != "0:0000.0000.02AE" || data["port"] != 1000.0 || data["sent"] != 5.0 || data["response"] != "re: hello" {
		t.Errorf("send data %v", data)
	}
	h.run(owner, "--json", "connect", "686").failJSON(t, "invalid_argument", 2)
	h.run(owner, "--json", "send", "686", "1000").failJSON(t, "invalid_argument", 2)
	h.run(owner, "--json", "send", "686", "0", "--data", "x").failJSON(t, "invalid_argument", 2)
	h.run(owner, "--json", "send", "686", "999", "--data", "x").failJSON(t, "connection_failed", 1)
}

func TestCLI_ConnectPipe(t *testing.T) {
	h := newHarness(t)
	h.serve(h.daemon(owner), 1000, func(c net.Conn) {
		b := make([]byte, 100)
		n, _ := c.Read(b)
		c.Write(bytes.ToUpper(b[:n]))
		// returning closes the stream, which ends the pipe
	})
	h.stdin = "piped"
	if got := h.run(owner, "connect", "686").ok(t); got != "PIPED" {
		t.Errorf("pipe: %q", got)
	}
}

func TestCLI_Recv(t *testing.T) {
	h := newHarness(t)
	d := h.daemon(owner)
	done := make(chan result, 1)
	go func() { done <- h.run(owner, "--json", "recv", "2000", "--count", "2") }()
	// Dial once the listener exists (the recv above binds it).
	send := func(msg string) {
		for {
			ch := d.be.Changed()
			if d.be.Listening(2000) {
				break
			}
			<-ch
		}
		c, err := pilot.Dial(t.Context(), pilot.Network, "0:0000.0000.02AD:2000", pilot.WithSocket(d.path))
		if err != nil {
			t.Error(err)
			return
		}
		c.Write([]byte(msg))
		c.Close()
	}
	send("one")
	send("two")
	r := <-done
	data := r.okJSON(t)
	msgs := data["messages"].([]any)
	if data["port"] != 2000.0 || len(msgs) != 2 {
		t.Fatalf("recv data %v", data)
	}
	m := msgs[0].(map[string]any)
	if m["data"] != "one" || m["size"] != 3.0 || !strings.HasPrefix(m["from"].(string), "0:0000.0000.02AD:") {
		t.Errorf("message %v", m)
	}
	r = h.run(owner, "--json", "--timeout", "50ms", "recv", "2001")
	r.failJSON(t, "timeout", 6)
}

func TestCLI_SendFile(t *testing.T) {
	h := newHarness(t)
	var ds dataService
	h.serve(h.daemon(owner), portData, ds.handle)
	file := filepath.Join(h.dir, "report.pdf")
	os.WriteFile(file, []byte("%PDF-1.7 hello"), 0o600)
	data := h.run(owner, "--json", "send-file", "686", file).okJSON(t)
	if data["filename"] != "report.pdf" || data["size"] != 14.0 || data["ack"] != "ACK FILE 14 bytes" || data["target"] != "0:0000.0000.02AE" {
		t.Errorf("send-file data %v", data)
	}
	f := ds.last()
	file2, err := dataex.DecodeFile(f.Payload)
	if f.Type != dataex.TypeFile || err != nil || file2.Name != "report.pdf" || string(file2.Data) != "%PDF-1.7 hello" {
		t.Errorf("frame %v %+v %v", f.Type, file2, err)
	}
	if got := h.run(owner, "send-file", "686", file).ok(t); got != "sent report.pdf (14 bytes) to 0:0000.0000.02AE: ACK FILE 14 bytes\n" {
		t.Errorf("send-file text %q", got)
	}
	h.run(owner, "--json", "send-file", "686", filepath.Join(h.dir, "missing")).failJSON(t, "invalid_argument", 2)
}

func TestCLI_SendMessage(t *testing.T) {
	h := newHarness(t)
	var ds dataService
	h.serve(h.daemon(owner), portData, ds.handle)
	cases := []struct {
		typ, data string
		wantType  dataex.Type
		payload   string
	}{
		{"text", "hello", dataex.TypeText, "hello"},
		{"json", `{"task":"sync"}`, dataex.TypeJSON, `{"task":"sync"}`},
		{"binary", base64.StdEncoding.EncodeToString([]byte{0, 1, 2}), dataex.TypeBinary, "\x00\x01\x02"},
	}
	for _, c := range cases {
		data := h.run(owner, "--json", "send-message", "686", "--data", c.data, "--type", c.typ).okJSON(t)
		if data["type"] != c.typ || data["size"] != float64(len(c.payload)) || !strings.HasPrefix(data["ack"].(string), "ACK ") {
			t.Errorf("%s: data %v", c.typ, data)
		}
		if f := ds.last(); f.Type != c.wantType || string(f.Payload) != c.payload {
			t.Errorf("%s: frame %v %q", c.typ, f.Type, f.Payload)
		}
	}
	if got := h.run(owner, "send-message", "686", "--data", "hi").ok(t); got != "sent 2 bytes to 0:0000.0000.02AE: ACK TEXT 2 bytes\n" {
		t.Errorf("text %q", got)
	}
	h.run(owner, "--json", "send-message", "686", "--data", "{", "--type", "json").failJSON(t, "invalid_argument", 2)
	h.run(owner, "--json", "send-message", "686", "--data", "!!", "--type", "binary").failJSON(t, "invalid_argument", 2)
	h.run(owner, "--json", "send-message", "686", "--data", "x", "--type", "xml").failJSON(t, "invalid_argument", 2)
	// An ERR reply is a failure with code internal and the peer's text.
	e := h.run(owner, "--json", "send-message", "686", "--data", `"reject"`, "--type", "json").failJSON(t, "internal", 1)
	if e.Message != "ERR JSON invalid json" {
		t.Errorf("ERR message %q", e.Message)
	}
}

// broker is a one-subscriber event stream: it records the subscription
// and publications, and sends the subscriber the events in toSend.
type broker struct {
	mu     sync.Mutex
	got    []events.Event
	toSend []events.Event
}

func (b *broker) handle(c net.Conn) {
	sub, err := events.ReadEvent(c)
	if err != nil {
		return
	}
	b.mu.Lock()
	b.got = append(b.got, sub)
	send := b.toSend
	b.mu.Unlock()
	for _, ev := range send {
		w, _ := ev.Marshal()
		c.Write(w)
	}
	for {
		ev, err := events.ReadEvent(c)
		if err != nil {
			return
		}
		b.mu.Lock()
		b.got = append(b.got, ev)
		b.mu.Unlock()
	}
}

func TestCLI_SubscribePublish(t *testing.T) {
	h := newHarness(t)
	b := &broker{toSend: []events.Event{{Topic: "jobs", Payload: []byte("batch 7")}, {Topic: "jobs", Payload: []byte{0xff, 0}},
		{Topic: "jobs", Payload: []byte("never read")}}}
	h.serve(h.daemon(owner), portEvents, b.handle)
	out := h.run(owner, "--json", "subscribe", "686", "jobs", "--count", "2").ok(t)
	want := `{"status":"ok","data":{"topic":"jobs","payload":"batch 7","size":7}}` + "\n" +
		`{"status":"ok","data":{"topic":"jobs","payload":"/wA=","size":2,"encoding":"base64"}}` + "\n"
	if out != want {
		t.Errorf("subscribe --json:\n%s\nwant\n%s", out, want)
	}
	if got := h.run(owner, "subscribe", "686", "*", "--count", "1").ok(t); got != "[jobs] batch 7\n" {
		t.Errorf("subscribe text %q", got)
	}
	// The timeout ends a subscription normally.
	if got := h.run(owner, "subscribe", "686", "jobs", "--count", "10", "--timeout", "500ms"); got.code != 0 {
		t.Errorf("subscribe timeout: exit %d %q", got.code, got.err)
	}
	data := h.run(owner, "--json", "publish", "686", "jobs", "--data", "batch 7 finished").okJSON(t)
	if data["topic"] != "jobs" || data["size"] != 16.0 || data["target"] != "0:0000.0000.02AE" {
		t.Errorf("publish data %v", data)
	}
	// Wait for the broker to have read the publication (the stream closes after it).
	for i := 0; ; i++ {
		b.mu.Lock()
		n := len(b.got)
		last := b.got[n-1]
		b.mu.Unlock()
		if string(last.Payload) == "batch 7 finished" {
			break
		}
		if i > 1000 {
			t.Fatalf("publication not received: %+v", last)
		}
		h.run(owner, "version") // yield without sleeping
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	n := len(b.got)
	if b.got[n-2].Topic != "jobs" || len(b.got[n-2].Payload) != 0 {
		t.Errorf("publish must subscribe first: %+v", b.got[n-2:])
	}
}

func TestCLI_DisconnectListen(t *testing.T) {
	h := newHarness(t)
	d := h.daemon(owner)
	data := h.run(owner, "--json", "disconnect", "42").okJSON(t)
	if data["conn_id"] != 42.0 || data["closed"] != true {
		t.Errorf("disconnect data %v", data)
	}
	done := make(chan result, 1)
	go func() { done <- h.run(owner, "--json", "listen", "5000") }()
	pc, err := pilot.ListenPacket(t.Context(), pilot.Network, ":0", pilot.WithSocket(d.path))
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	to, _ := pilot.ParseAddr("0:0000.0000.02AD:5000")
	// Datagrams to an unbound port are dropped; resend until listen has bound
	// it. Each datagram is a recorded change, so every pass waits for its
	// own (the channel is taken before the send: the daemon may record it
	// before WriteTo returns).
	limit := time.After(2 * testTimeout)
	for {
		ch := d.be.Changed()
		pc.WriteTo([]byte("dgram"), to)
		select {
		case r := <-done:
			data := r.okJSON(t)
			m := data["messages"].([]any)[0].(map[string]any)
			if data["port"] != 5000.0 || m["data"] != "dgram" || m["size"] != 5.0 {
				t.Errorf("listen data %v", data)
			}
			return
		case <-ch:
		case <-limit:
			t.Fatal("listen did not receive a datagram")
		}
	}
}
