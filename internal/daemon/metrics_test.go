package daemon

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func scrape(t *testing.T, addr string) string {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d %v", resp.StatusCode, err)
	}
	return string(body)
}

// cli.md §3.1 -metrics and services.md §8.4: the daemon serves Prometheus
// text with the webhook counters and the figures of IPC Health.
func TestMetrics_ServedWithWebhookAndTunnelFigures(t *testing.T) {
	reg := startRegistry(t)
	n := startNode(t, reg, "", "-metrics", "127.0.0.1:0")
	addr := n.d.MetricsAddr()
	if addr == "" {
		t.Fatal("no metrics address with -metrics")
	}
	eventually(t, "registry_up 1", func() bool {
		return strings.Contains(scrape(t, addr), "\npilot_daemon_registry_up 1\n")
	})
	body := scrape(t, addr)
	for _, want := range []string{
		`pilot_webhook_events_total{result="delivered"} 0`,
		`pilot_webhook_events_total{result="failed"} 0`,
		`pilot_webhook_events_total{result="dropped"} 0`,
		"pilot_webhook_queue_length 0",
		"pilot_daemon_connections 0",
		"pilot_tunnel_peers 0",
		`pilot_tunnel_packets_total{direction="sent"}`,
		`pilot_tunnel_dropped_total{reason="replay"} 0`,
		"# TYPE pilot_tunnel_bytes_total counter",
		"# TYPE pilot_daemon_uptime_seconds gauge",
		"go_goroutines ",
		"process_resident_memory_bytes ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(body, "pilot_daemon_key_expiry_timestamp_seconds ") {
		t.Error("key expiry reported for a key without expiry")
	}
}

// A -metrics address that cannot be bound stops the start with a message
// naming the flag; without -metrics nothing listens.
func TestMetrics_BusyAddressFailsStart(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	dir := t.TempDir()
	cfg, err := Parse([]string{"-registry", "127.0.0.1:1", "-listen", "127.0.0.1:0", "-state-dir", dir,
		"-socket", dir + "/s.sock", "-metrics", busy.Addr().String()}, noEnv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	_, err = New(cfg, Options{})
	if err == nil || !strings.Contains(err.Error(), "-metrics "+busy.Addr().String()) {
		t.Fatalf("New with a busy -metrics address: %v", err)
	}
	cfg.Metrics = ""
	d, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.closeAll()
	if d.MetricsAddr() != "" {
		t.Fatalf("metrics address %q without -metrics", d.MetricsAddr())
	}
}
