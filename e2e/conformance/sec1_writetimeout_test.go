package conformance

import (
	"io"
	"strconv"
	"strings"
	"testing"
	"time"
)

// §1 "Write timeout: A response that cannot be written within 30 s closes
// the connection." There is no flag to shorten it, so this test takes about
// 30 s: it fills the socket buffers with replies it does not read, then
// polls /metrics until pilot_connections_open falls back to what it was
// before the connection (bounded at 90 s), and only then reads: fewer
// replies than requests arrive.
func TestConf_1_WriteTimeout(t *testing.T) {
	r := start(t, "-rate-limit", "off", "-idle-timeout", "10m", "-frame-timeout", "10m")
	before := openConns(t, r)
	c := r.dial()
	nodes := c.registerMany(500)
	for _, n := range nodes[:200] {
		c.ok(n.sign(obj{"type": "set_tags", "node_id": n.id, "tags": []string{strings.Repeat("a", 31) + "1", strings.Repeat("b", 31) + "2"}}))
	}
	// Requests whose replies are ~64 KiB each, never read: the socket buffers
	// fill and the registry's write blocks.
	req := frame(body(t, obj{"type": "list_nodes", "network_id": 0, "admin_token": adminTok, "limit": 500}))
	const n = 400
	var buf []byte
	for i := 0; i < n; i++ {
		buf = append(buf, req...)
	}
	c.c.SetWriteDeadline(time.Now().Add(20 * time.Second))
	c.c.Write(buf) // may block partly: the registry stops reading while its write is blocked
	if open := openConns(t, r); open <= before {
		t.Fatalf("pilot_connections_open %d with the connection open, %d before it", open, before)
	}
	deadline := time.Now().Add(90 * time.Second)
	for openConns(t, r) > before {
		if time.Now().After(deadline) {
			t.Fatal("the registry kept the connection open 90 s with its reply write blocked")
		}
		time.Sleep(100 * time.Millisecond) // polling, not synchronisation by sleep
	}
	c.c.SetReadDeadline(time.Now().Add(20 * time.Second))
	got := 0
	for got < n {
		if _, err := c.readFrame(); err != nil {
			if err == io.EOF || isReset(err) {
				break
			}
			t.Fatalf("after %d replies: %v", got, err)
		}
		got++
	}
	if got == n {
		t.Errorf("all %d replies were delivered: the blocked write did not close the connection", n)
	}
	t.Logf("%d of %d replies before the close", got, n)
}

// openConns is the registry's pilot_connections_open.
func openConns(t *testing.T, r *reg) int {
	t.Helper()
	for _, line := range strings.Split(metricsText(t, r), "\n") {
		if v, ok := strings.CutPrefix(line, "pilot_connections_open "); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				t.Fatalf("pilot_connections_open %q", v)
			}
			return n
		}
	}
	t.Fatal("no pilot_connections_open in /metrics")
	return 0
}
