package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// -metrics (cli.md §3.1, ours): Prometheus text at /metrics, with the
// webhook counters of services.md §8.4 and the figures of IPC Health,
// read at scrape time from the components that own them (no copy of the
// state to keep in step). The listener is opened by New, so a bad or busy
// address stops the start; it serves until Run's context ends.

// daemonCollector turns the daemon's counters into metrics at each scrape.
type daemonCollector struct{ d *Daemon }

var (
	mWebhookEvents = prometheus.NewDesc("pilot_webhook_events_total",
		"Webhook events by outcome (services.md §8.4).", []string{"result"}, nil)
	mWebhookQueue = prometheus.NewDesc("pilot_webhook_queue_length",
		"Webhook events waiting for delivery.", nil, nil)
	mUptime = prometheus.NewDesc("pilot_daemon_uptime_seconds",
		"Seconds since the daemon started.", nil, nil)
	mRegistryUp = prometheus.NewDesc("pilot_daemon_registry_up",
		"1 when the last registry heartbeat succeeded, else 0.", nil, nil)
	mKeyExpiry = prometheus.NewDesc("pilot_daemon_key_expiry_timestamp_seconds",
		"When the node's identity key expires (present only when an expiry is set).", nil, nil)
	mConns = prometheus.NewDesc("pilot_daemon_connections",
		"Open stream connections.", nil, nil)
	mPeers = prometheus.NewDesc("pilot_tunnel_peers",
		"Peers with tunnel state.", nil, nil)
	mBytes = prometheus.NewDesc("pilot_tunnel_bytes_total",
		"Tunnel bytes on the UDP socket by direction.", []string{"direction"}, nil)
	mPackets = prometheus.NewDesc("pilot_tunnel_packets_total",
		"Tunnel datagrams by direction.", []string{"direction"}, nil)
	mDrops = prometheus.NewDesc("pilot_tunnel_dropped_total",
		"Inbound tunnel frames dropped, by reason.", []string{"reason"}, nil)
	mRekeys = prometheus.NewDesc("pilot_tunnel_rekeys_total",
		"Tunnel key exchanges completed after the first.", nil, nil)
)

func (c daemonCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{mWebhookEvents, mWebhookQueue, mUptime, mRegistryUp, mKeyExpiry,
		mConns, mPeers, mBytes, mPackets, mDrops, mRekeys} {
		ch <- d
	}
}

func (c daemonCollector) Collect(ch chan<- prometheus.Metric) {
	d := c.d
	counter := func(desc *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(desc *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, labels...)
	}
	ws := d.webhook.Stats()
	counter(mWebhookEvents, ws.Delivered, "delivered")
	counter(mWebhookEvents, ws.Failed, "failed")
	counter(mWebhookEvents, ws.Dropped, "dropped")
	gauge(mWebhookQueue, float64(max(ws.Queued, 0)))
	gauge(mUptime, d.now().Sub(d.started).Seconds())
	h := d.registrar.Health()
	up := 0.0
	if h.RegistryOK {
		up = 1
	}
	gauge(mRegistryUp, up)
	if !h.KeyExpiresAt.IsZero() {
		gauge(mKeyExpiry, float64(h.KeyExpiresAt.Unix()))
	}
	if d.dp != nil {
		gauge(mConns, float64(d.dp.Stats().Connections))
	}
	if d.tun != nil {
		t := d.tun.Counters()
		gauge(mPeers, float64(len(d.tun.PeerStats())))
		counter(mBytes, t.BytesSent, "sent")
		counter(mBytes, t.BytesRecv, "received")
		counter(mPackets, t.PktsSent, "sent")
		counter(mPackets, t.PktsRecv, "received")
		counter(mDrops, t.Replays, "replay")
		counter(mDrops, t.EncryptionFailure, "undecryptable")
		counter(mDrops, t.Dropped, "malformed")
		counter(mDrops, t.InnerDrops, "inner")
		counter(mDrops, t.PILTDropped, "plaintext_refused")
		counter(mDrops, t.RateLimited, "rate_limited")
		counter(mRekeys, t.Rekeys)
	}
}

// metricsHandler is the /metrics handler: the daemon's collector plus the
// Go runtime and process collectors.
func (d *Daemon) metricsHandler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(daemonCollector{d}, collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return mux
}

// listenMetrics opens the -metrics listener; a non-loopback address is
// allowed with a warning (the figures are not secret, but the spec asks
// for loopback unless a proxy protects it).
func (d *Daemon) listenMetrics() error {
	if d.cfg.Metrics == "" {
		return nil
	}
	ln, err := net.Listen("tcp", d.cfg.Metrics)
	if err != nil {
		return fmt.Errorf("-metrics %s: %w", d.cfg.Metrics, err)
	}
	if ap, ok := ln.Addr().(*net.TCPAddr); ok && !ap.IP.IsLoopback() {
		d.log.Warn("metrics served beyond loopback; protect it with a firewall or a proxy", "addr", ln.Addr().String())
	}
	d.metricsLn = ln
	return nil
}

// MetricsAddr is the address /metrics is served on ("" without -metrics).
func (d *Daemon) MetricsAddr() string {
	if d.metricsLn == nil {
		return ""
	}
	return d.metricsLn.Addr().String()
}

// serveMetrics serves /metrics until ctx ends.
func (d *Daemon) serveMetrics(ctx context.Context) error {
	if d.metricsLn == nil {
		return nil
	}
	srv := &http.Server{Handler: d.metricsHandler(), ReadHeaderTimeout: 10 * time.Second}
	stop := context.AfterFunc(ctx, func() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	})
	defer stop()
	if err := srv.Serve(d.metricsLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
